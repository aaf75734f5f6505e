/* rs_storage.h: one interface to the places a registry and regsync's log live.
 *
 * A handle is opened from a URL; the scheme picks the backend:
 *   file:///abs/dir
 *   s3://bucket/prefix?region=R&endpoint=URL&path_style=true&sse=AES256|aws:kms&sse_kms_key_id=K
 *   postgresql://user@host:port/db?sslmode=...&table_prefix=...   (also postgres://)
 *   mysql://user@host:port/db?ssl-mode=...&ssl-ca=...&table_prefix=...   (also mariadb://)
 * Keys are relative to the handle's root ("regsync/HEAD", "registry.db"); '/' separates levels.
 *
 * Ownership: the caller owns the handle (rs_storage_close), every buffer returned through an
 * out-parameter (free() it; lists with rs_storage_list_free). Inputs are borrowed for the call.
 * A handle is not thread-safe: use one handle per thread. Every function accepts a NULL err.
 * Errors name the backend, the location (bucket/key, table, path) and the reason; never a secret.
 */
#ifndef RS_STORAGE_H
#define RS_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_error.h"

#define RS_ETAG_MAX 130   /* longest ETag we keep, NUL included */

typedef struct rs_storage rs_storage;

typedef struct rs_storage_opts {
    const char *region;         /* S3: used when the URL has no region=; NULL: env, then profile */
    const char *ca_bundle;      /* TLS CA file; NULL: system default */
    long connect_timeout_ms;    /* 0: 5000 */
    long timeout_ms;            /* whole request; 0: 60000 */
    int max_retries;            /* transient faults; 0: 4 (negative: none) */
    long statement_timeout_ms;  /* Postgres, MySQL (server side); 0: 30000 */
} rs_storage_opts;

typedef enum rs_put_mode {
    RS_PUT_ALWAYS = 0,    /* unconditional replace */
    RS_PUT_IF_ABSENT = 1, /* create only; RS_ECONFLICT when the key exists */
    RS_PUT_IF_MATCH = 2,  /* replace only if the current ETag equals if_match; RS_ECONFLICT otherwise
                             (also when the key is missing) */
} rs_put_mode;

enum { RS_CAP_WATCH = 1u << 0 };

typedef struct rs_list_entry {
    char *key;                 /* relative to the handle's root */
    uint64_t size;
    char etag[RS_ETAG_MAX];
    int64_t mtime_ms;          /* wall clock; 0 when unknown */
} rs_list_entry;

typedef struct rs_storage_stats {
    uint64_t requests;         /* round trips to the backend (retries count) */
    uint64_t bytes_in;         /* payload bytes received */
    uint64_t bytes_out;        /* payload bytes sent */
    uint64_t retries;
    uint64_t errors;
    uint64_t not_modified;     /* conditional reads answered "unchanged" */
} rs_storage_stats;

int rs_storage_open(const char *url, const rs_storage_opts *opts, rs_storage **out, rs_error *err);
void rs_storage_close(rs_storage *s);

/* Scheme name ("file", "s3", "postgresql", "mysql") and the URL with any password removed. Borrowed. */
const char *rs_storage_scheme(const rs_storage *s);
const char *rs_storage_url(const rs_storage *s);
unsigned rs_storage_caps(const rs_storage *s);

/* Reads key. if_none_match (may be NULL): when the object's ETag equals it, returns
 * RS_ENOTMODIFIED and no data. On RS_OK *data (caller frees; non-NULL even when empty), *len and
 * etag_out (may be NULL) are set. RS_ENOTFOUND when the key does not exist. A body that arrives
 * short is an error, never a success. */
int rs_storage_get(rs_storage *s, const char *key, const char *if_none_match, uint8_t **data,
                   size_t *len, char etag_out[RS_ETAG_MAX], rs_error *err);

/* Writes key. mode as above; if_match used by RS_PUT_IF_MATCH. etag_out (may be NULL) receives the
 * new ETag. */
int rs_storage_put(rs_storage *s, const char *key, const uint8_t *data, size_t len, rs_put_mode mode,
                   const char *if_match, char etag_out[RS_ETAG_MAX], rs_error *err);

/* Every key under prefix (all pages), sorted by key. */
int rs_storage_list(rs_storage *s, const char *prefix, rs_list_entry **entries, size_t *n, rs_error *err);
void rs_storage_list_free(rs_list_entry *entries, size_t n);

/* Deletes key. Deleting a missing key is RS_OK. */
int rs_storage_delete(rs_storage *s, const char *key, rs_error *err);
/* Deletes key only while it is unchanged: its ETag is if_match and, when if_mtime_ms is not 0,
 * its modification time is still if_mtime_ms (as rs_storage_list gave it: a rewrite with the same
 * bytes keeps the ETag but not the time). RS_ECONFLICT when it changed, RS_OK when it is gone
 * already. Atomic on file:// (under the store's lock), PostgreSQL and MySQL (one statement). On S3 the
 * current ETag and Last-Modified (seconds) are checked, then DELETE is sent with If-Match: AWS
 * refuses it when the object changed in between; a server that ignores If-Match on DELETE (Ceph
 * RGW 16) leaves a window of one round trip. Used to prune reports that stopped changing
 * (docs/fleet.md). */
int rs_storage_delete_if(rs_storage *s, const char *key, const char *if_match, int64_t if_mtime_ms, rs_error *err);

/* Push notification of changed keys (backends with RS_CAP_WATCH). Waits up to timeout_ms for
 * changes under prefix; returns RS_OK with *keys and *n (caller frees with rs_storage_keys_free;
 * *n == 0 on timeout). RS_EUNSUPPORTED without the capability. Reconnects by itself. */
int rs_storage_watch(rs_storage *s, const char *prefix, int timeout_ms, char ***keys, size_t *n,
                     rs_error *err);
void rs_storage_keys_free(char **keys, size_t n);

void rs_storage_get_stats(const rs_storage *s, rs_storage_stats *out);

/* Splits an object URL into (store URL, key): "s3://b/feast/registry.db" ->
 * ("s3://b/feast", "registry.db"); "file:///x/registry.db" -> ("file:///x", "registry.db");
 * a plain path is taken as a file. Query strings stay on the store URL. Caller frees both. */
int rs_storage_split_url(const char *url, char **store_url, char **key, rs_error *err);

#endif
