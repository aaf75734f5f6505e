/* rs_storage.c: URL dispatch to the backends, stats, and helpers shared by them. */
#include "rs_storage_impl.h"
#include "rs_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rs_storage {
    const rs_storage_vtable *vt;
    void *impl;
    char *url;       /* redacted */
    rs_storage_stats stats;
};

static const rs_storage_vtable *pick(const char *url)
{
    if (strncmp(url, "file://", 7) == 0)
        return &rs_file_backend;
    if (strncmp(url, "s3://", 5) == 0)
        return &rs_s3_backend;
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
        return &rs_pg_backend;
    if (strncmp(url, "mysql://", 8) == 0 || strncmp(url, "mariadb://", 10) == 0)
        return &rs_mysql_backend;
    return NULL;
}

int rs_storage_open(const char *url, const rs_storage_opts *opts, rs_storage **out, rs_error *err)
{
    *out = NULL;
    if (!url || !*url)
        return rs_error_set(err, RS_EINVALID, "storage URL is empty");
    const rs_storage_vtable *vt = pick(url);
    if (!vt) {
        const char *c = strstr(url, "://");
        return rs_error_set(err, RS_EINVALID,
                            "storage URL scheme '%.*s' is not supported (use file://, s3://, postgresql:// or mysql://)",
                            c ? (int)(c - url) : 0, url);
    }
    rs_storage *s = calloc(1, sizeof *s);
    if (!s)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    s->vt = vt;
    s->url = rs_url_redact(url);
    rs_storage_opts dflt = {0};
    int rc = vt->open(url, opts ? opts : &dflt, &s->impl, &s->stats, err);
    if (rc) {
        free(s->url);
        free(s);
        return rc;
    }
    *out = s;
    return RS_OK;
}

void rs_storage_close(rs_storage *s)
{
    if (!s)
        return;
    s->vt->close(s->impl);
    free(s->url);
    free(s);
}

const char *rs_storage_scheme(const rs_storage *s) { return s->vt->scheme; }
const char *rs_storage_url(const rs_storage *s) { return s->url ? s->url : ""; }
unsigned rs_storage_caps(const rs_storage *s) { return s->vt->caps; }

int rs_storage_get(rs_storage *s, const char *key, const char *if_none_match, uint8_t **data, size_t *len,
                   char etag_out[RS_ETAG_MAX], rs_error *err)
{
    *data = NULL;
    *len = 0;
    if (etag_out)
        etag_out[0] = '\0';
    int rc = rs_storage_key_valid(key, err);
    if (rc)
        return rc;
    rc = s->vt->get(s->impl, key, if_none_match, data, len, etag_out, err);
    if (rc == RS_ENOTMODIFIED)
        s->stats.not_modified++;
    else if (rc && rc != RS_ENOTFOUND)
        s->stats.errors++;
    return rc;
}

int rs_storage_put(rs_storage *s, const char *key, const uint8_t *data, size_t len, rs_put_mode mode,
                   const char *if_match, char etag_out[RS_ETAG_MAX], rs_error *err)
{
    /* if_match may be the same buffer as etag_out: keep a copy before clearing it */
    char match[RS_ETAG_MAX] = "";
    if (if_match)
        snprintf(match, sizeof match, "%s", if_match);
    if (etag_out)
        etag_out[0] = '\0';
    int rc = rs_storage_key_valid(key, err);
    if (rc)
        return rc;
    if (mode == RS_PUT_IF_MATCH && !match[0])
        return rs_error_set(err, RS_EINVALID, "put %s: if-match mode needs an ETag", key);
    rc = s->vt->put(s->impl, key, data, len, mode, if_match ? match : NULL, etag_out, err);
    if (rc && rc != RS_ECONFLICT)
        s->stats.errors++;
    return rc;
}

int rs_storage_list(rs_storage *s, const char *prefix, rs_list_entry **entries, size_t *n, rs_error *err)
{
    *entries = NULL;
    *n = 0;
    int rc = s->vt->list(s->impl, prefix ? prefix : "", entries, n, err);
    if (rc) {
        s->stats.errors++;
        return rc;
    }
    return rs_storage_list_sort(*entries, *n);
}

void rs_storage_list_free(rs_list_entry *entries, size_t n)
{
    if (!entries)
        return;
    for (size_t i = 0; i < n; i++)
        free(entries[i].key);
    free(entries);
}

int rs_storage_delete(rs_storage *s, const char *key, rs_error *err)
{
    int rc = rs_storage_key_valid(key, err);
    if (rc)
        return rc;
    rc = s->vt->del(s->impl, key, err);
    if (rc)
        s->stats.errors++;
    return rc;
}

int rs_storage_delete_if(rs_storage *s, const char *key, const char *if_match, int64_t if_mtime_ms, rs_error *err)
{
    int rc = rs_storage_key_valid(key, err);
    if (rc)
        return rc;
    if (!if_match || !*if_match)
        return rs_error_set(err, RS_EINVALID, "delete %s: no ETag to match", key);
    if (s->vt->del_if) {
        rc = s->vt->del_if(s->impl, key, if_match, if_mtime_ms, err);
    } else {
        /* a backend without a conditional delete: list the key, compare, then delete (not atomic) */
        rs_list_entry *e = NULL;
        size_t n = 0;
        rc = s->vt->list(s->impl, key, &e, &n, err);
        if (rc)
            return rc;
        size_t k = n;
        for (size_t i = 0; i < n; i++)
            if (strcmp(e[i].key, key) == 0)
                k = i;
        bool same = k < n && strcmp(e[k].etag, if_match) == 0 && (!if_mtime_ms || e[k].mtime_ms == if_mtime_ms);
        bool gone = k == n;
        rs_storage_list_free(e, n);
        if (gone)
            return RS_OK;
        if (!same)
            return rs_error_set(err, RS_ECONFLICT, "%s changed since it was listed: not deleted", key);
        if (!rc)
            rc = s->vt->del(s->impl, key, err);
    }
    if (rc && rc != RS_ECONFLICT)
        s->stats.errors++;
    return rc;
}

int rs_storage_watch(rs_storage *s, const char *prefix, int timeout_ms, char ***keys, size_t *n, rs_error *err)
{
    *keys = NULL;
    *n = 0;
    if (!(s->vt->caps & RS_CAP_WATCH) || !s->vt->watch)
        return rs_error_set(err, RS_EUNSUPPORTED, "%s storage has no push notifications; poll instead",
                            s->vt->scheme);
    return s->vt->watch(s->impl, prefix ? prefix : "", timeout_ms, keys, n, err);
}

void rs_storage_keys_free(char **keys, size_t n)
{
    if (!keys)
        return;
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

void rs_storage_get_stats(const rs_storage *s, rs_storage_stats *out) { *out = s->stats; }

int rs_storage_key_valid(const char *key, rs_error *err)
{
    if (!key || !*key)
        return rs_error_set(err, RS_EINVALID, "storage key is empty");
    if (key[0] == '/')
        return rs_error_set(err, RS_EINVALID, "storage key '%s' must not start with '/'", key);
    for (const char *p = key; *p; p++) {
        if ((p == key || p[-1] == '/') && p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
            return rs_error_set(err, RS_EINVALID, "storage key '%s' must not contain '..'", key);
        if ((unsigned char)*p < 0x20)
            return rs_error_set(err, RS_EINVALID, "storage key contains a control character");
    }
    if (strlen(key) > 1024)
        return rs_error_set(err, RS_EINVALID, "storage key longer than 1024 bytes");
    return RS_OK;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const rs_list_entry *)a)->key, ((const rs_list_entry *)b)->key);
}

int rs_storage_list_sort(rs_list_entry *entries, size_t n)
{
    if (n > 1)
        qsort(entries, n, sizeof *entries, cmp_entry);
    return RS_OK;
}

int rs_storage_split_url(const char *url, char **store_url, char **key, rs_error *err)
{
    *store_url = *key = NULL;
    const char *q = strchr(url, '?');
    size_t base_len = q ? (size_t)(q - url) : strlen(url);
    char *base;
    if (!strstr(url, "://")) {
        /* a plain path: file */
        char *abs = realpath(url, NULL);
        const char *p = abs ? abs : url;
        if (p[0] != '/') {
            free(abs);
            return rs_error_set(err, RS_EINVALID, "%s: not a URL and not a path that exists", url);
        }
        base = malloc(strlen(p) + 8);
        if (!base) {
            free(abs);
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        }
        strcpy(base, "file://");
        strcat(base, p);
        free(abs);
        base_len = strlen(base);
        q = NULL;
    } else {
        base = strndup(url, base_len);
        if (!base)
            return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    const char *auth = strstr(base, "://") + 3;
    char *slash = strrchr(auth, '/');
    size_t min_slash = strncmp(base, "s3://", 5) == 0 ? 1 : 0; /* s3://bucket/key: key after the bucket */
    if (!slash || slash == auth || slash[1] == '\0' || (min_slash && !strchr(auth, '/'))) {
        free(base);
        return rs_error_set(err, RS_EINVALID, "%s: names no object (expected .../registry.db)", url);
    }
    *key = strdup(slash + 1);
    *slash = '\0';
    size_t qlen = q ? strlen(q) : 0;
    *store_url = malloc(strlen(base) + qlen + 1);
    if (!*key || !*store_url) {
        free(*key);
        free(*store_url);
        free(base);
        *key = *store_url = NULL;
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    strcpy(*store_url, base);
    if (q)
        strcat(*store_url, q);
    free(base);
    return RS_OK;
}
