/* s3_xml_impl.h: reading S3's XML replies (internal to storage/: s3.c and the fuzz target use it).
 *
 * Every function takes untrusted bytes with their length (not NUL-terminated) and never reads
 * outside them. Ownership: entries appended by rs_s3_parse_list_page and *next_token are malloc'd
 * and owned by the caller (rs_storage_list_free / free), also when it fails part-way.
 */
#ifndef RS_S3_XML_IMPL_H
#define RS_S3_XML_IMPL_H

#include <stddef.h>

#include "rs_error.h"
#include "rs_storage.h"

/* An ETag header or element value into dst: surrounding blanks and one pair of quotes removed,
 * cut to RS_ETAG_MAX - 1 bytes. */
void rs_s3_set_etag(char dst[RS_ETAG_MAX], const char *v, size_t n);

/* The Code, Message and (when request_id is not NULL) RequestId of an S3 error body, decoded and
 * cut to fit; "" for a field that is absent or malformed. */
void rs_s3_xml_error_fields(const char *body, size_t len, char *code, size_t coden, char *message, size_t messagen,
                            char *request_id, size_t request_idn);

/* One ListObjectsV2 page (s3://bucket/prefix, for messages and to drop keys outside prefix):
 * appends the entries under prefix (keys relative to it) to *v (*n used, *cap allocated) and sets
 * *next_token when the page is truncated. RS_ECORRUPT for a reply that is not a ListBucketResult,
 * an entry without a readable Key, or a truncated page without a continuation token. */
int rs_s3_parse_list_page(const char *bucket, const char *prefix, const char *body, size_t blen, rs_list_entry **v,
                          size_t *n, size_t *cap, char **next_token, rs_error *err);

#endif
