/* s3.h: what the S3 backend makes of an s3:// URL. The backend itself is reached only through
 * rs_storage.h (vtable rs_s3_backend); this header exists so that tools and tests can see how a URL
 * resolves (bucket, prefix, region and where it came from, endpoint, addressing) without opening it.
 *
 *   s3://bucket/prefix?region=R&endpoint=URL&path_style=true|false&sse=AES256|aws:kms&sse_kms_key_id=K
 *
 * Ownership: rs_s3_config strings are owned by the struct (rs_s3_config_free); the *_source fields
 * are static strings.
 */
#ifndef RS_S3_H
#define RS_S3_H

#include <stdbool.h>

#include "rs_error.h"
#include "rs_storage.h"

typedef struct rs_s3_config {
    char *bucket;
    char *prefix;               /* root prefix of the handle, "" or ending with '/' */
    char *region;
    const char *region_source;  /* "URL (region=)", "configuration (storage region)", "AWS_REGION", ... */
    char *origin;               /* scheme://host[:port] requests go to ("https://b.s3.R.amazonaws.com") */
    char *host;                 /* Host header, signed */
    char *base_path;            /* unencoded path before the key: "/bucket" (path style) or "" */
    const char *endpoint_source;/* "URL (endpoint=)", "FEAST_S3_ENDPOINT_URL", "AWS" */
    bool path_style;
    char *sse;                  /* NULL, "AES256" or "aws:kms" */
    char *sse_kms_key_id;       /* NULL unless sse is aws:kms and a key id was given */
} rs_s3_config;

/* Parses and resolves; RS_EINVALID naming the parameter (or every place looked for a region). */
int rs_s3_config_parse(const char *url, const rs_storage_opts *opts, rs_s3_config *out, rs_error *err);
void rs_s3_config_free(rs_s3_config *c);

#endif
