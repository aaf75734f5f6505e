/* rs_storage_impl.h: the private vtable behind rs_storage.h. Only storage/ includes it. */
#ifndef RS_STORAGE_IMPL_H
#define RS_STORAGE_IMPL_H

#include "rs_storage.h"

typedef struct rs_storage_vtable {
    const char *scheme;
    unsigned caps;
    /* open: parse url (already matched to this scheme), allocate backend state into *impl */
    int (*open)(const char *url, const rs_storage_opts *opts, void **impl, rs_storage_stats *stats,
                rs_error *err);
    void (*close)(void *impl);
    int (*get)(void *impl, const char *key, const char *if_none_match, uint8_t **data, size_t *len,
               char etag_out[RS_ETAG_MAX], rs_error *err);
    int (*put)(void *impl, const char *key, const uint8_t *data, size_t len, rs_put_mode mode,
               const char *if_match, char etag_out[RS_ETAG_MAX], rs_error *err);
    int (*list)(void *impl, const char *prefix, rs_list_entry **entries, size_t *n, rs_error *err);
    int (*del)(void *impl, const char *key, rs_error *err);
    /* conditional delete (rs_storage_delete_if); NULL: emulated with a read, then a delete */
    int (*del_if)(void *impl, const char *key, const char *if_match, int64_t if_mtime_ms, rs_error *err);
    int (*watch)(void *impl, const char *prefix, int timeout_ms, char ***keys, size_t *n, rs_error *err);
} rs_storage_vtable;

extern const rs_storage_vtable rs_file_backend;
extern const rs_storage_vtable rs_s3_backend;
extern const rs_storage_vtable rs_pg_backend;
extern const rs_storage_vtable rs_mysql_backend;

/* Shared helpers for backends. */
int rs_storage_key_valid(const char *key, rs_error *err);   /* non-empty, no "..", no leading '/' */
int rs_storage_list_sort(rs_list_entry *entries, size_t n);

#endif
