/* sigv4.h: AWS Signature Version 4 (HMAC-SHA256), the pieces exposed so that tests can check each
 * step against AWS's published test suite.
 *
 *   canonical request  = METHOD \n canonical-uri \n canonical-query \n canonical-headers \n
 *                        signed-headers \n payload-hash
 *   string to sign     = "AWS4-HMAC-SHA256" \n amz-date \n scope \n hex(sha256(canonical request))
 *   scope              = yyyymmdd/region/service/aws4_request
 *   signing key        = HMAC chain over "AWS4"+secret, date, region, service, "aws4_request"
 *   signature          = hex(HMAC(signing key, string to sign))
 *
 * Paths and query parameters are given unencoded; this module encodes them the S3 way (RFC 3986
 * unreserved characters kept, everything else %XX in upper case, '/' kept in paths, no
 * double-encoding and no dot-segment normalisation, which is what S3 expects). The caller sends
 * the same encoded path and query (rs_sigv4_uri_encode / rs_sigv4_canonical_query) on the wire,
 * so what is signed is what is sent.
 *
 * Ownership: every rs_buf out-parameter is appended to and owned by the caller (rs_buf_free).
 * Inputs are borrowed. No state, thread-safe. Nothing here logs.
 */
#ifndef RS_SIGV4_H
#define RS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rs_buf.h"

#define RS_SHA256_HEX_LEN 64
#define RS_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define RS_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

typedef struct rs_sigv4_kv {
    const char *name;   /* header name (any case) or query parameter name (unencoded) */
    const char *value;  /* header value (trimmed and space-collapsed when signed) or query value */
} rs_sigv4_kv;

typedef struct rs_sigv4_request {
    const char *method;          /* "GET", "PUT", ... */
    const char *path;            /* unencoded absolute path, e.g. "/bucket/dir/a b.db"; NULL: "/" */
    const rs_sigv4_kv *query;    /* unencoded query parameters, any order; value NULL = "" */
    size_t nquery;
    const rs_sigv4_kv *headers;  /* the headers to sign (host and x-amz-date included by the
                                    caller); repeated names are joined with ',' in given order */
    size_t nheaders;
    const char *payload_hash;    /* lower-case hex sha256 of the body, or "UNSIGNED-PAYLOAD" */
} rs_sigv4_request;

typedef struct rs_sigv4_key {
    const char *access_key_id;
    const char *secret_access_key;
    const char *region;          /* "us-east-1" */
    const char *service;         /* "s3" */
} rs_sigv4_key;

/* hex(sha256(data)) into out (65 bytes incl. NUL). */
void rs_sigv4_sha256_hex(const void *data, size_t len, char out[RS_SHA256_HEX_LEN + 1]);

/* "20150830T123600Z" (out >= 17) and "20150830" (date8 may be NULL; >= 9) from a UTC time. */
void rs_sigv4_amz_date(time_t t, char out[17], char date8[9]);

/* Percent-encodes s the SigV4 way; keep_slash keeps '/' (paths). Appends to out (NUL-terminated).
 * Returns RS_OK or RS_ENOMEM. */
int rs_sigv4_uri_encode(const char *s, bool keep_slash, rs_buf *out);

/* Canonical query string: every name and value encoded, sorted by encoded name then value,
 * "a=1&b=" form. Appends to out (NUL-terminated, may be empty). */
int rs_sigv4_canonical_query(const rs_sigv4_kv *query, size_t n, rs_buf *out);

/* Canonical request; also the "signed headers" list (lower-case names joined by ';') into
 * signed_headers when non-NULL. Both NUL-terminated. RS_EINVALID on a missing method or a header
 * name that is not a token. */
int rs_sigv4_canonical_request(const rs_sigv4_request *r, rs_buf *creq, rs_buf *signed_headers);

/* "yyyymmdd/region/service/aws4_request" into out. */
int rs_sigv4_scope(const char *date8, const char *region, const char *service, rs_buf *out);

/* String to sign for a canonical request (NUL-terminated text). */
int rs_sigv4_string_to_sign(const char *amz_date, const char *scope, const char *creq, size_t creq_len,
                            rs_buf *out);

/* The derived signing key (32 bytes). */
void rs_sigv4_signing_key(const char *secret, const char *date8, const char *region, const char *service,
                          uint8_t key[32]);

/* hex(HMAC-SHA256(key, sts)) into out (65 bytes incl. NUL). */
void rs_sigv4_signature(const uint8_t key[32], const char *sts, size_t sts_len, char out[RS_SHA256_HEX_LEN + 1]);

/* Everything at once: the Authorization header value ("AWS4-HMAC-SHA256 Credential=...,
 * SignedHeaders=..., Signature=...") into authorization. creq_out and sts_out (may be NULL) receive
 * the intermediate texts, for debugging and tests. amz_date is "yyyymmddThhmmssZ" and must equal
 * the x-amz-date header the caller signs. */
int rs_sigv4_sign(const rs_sigv4_request *r, const rs_sigv4_key *k, const char *amz_date, rs_buf *authorization,
                  rs_buf *creq_out, rs_buf *sts_out);

#endif
