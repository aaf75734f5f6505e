/* rs_source.c: see rs_source.h. */
#include "rs_source.h"
#include "feast_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rs_source {
    rs_storage *store;       /* borrowed (key in the global store) or owned (own) */
    bool own_store;
    char *key;
    rs_feast_sql *sql;
    char *desc;
    char tag[RS_ETAG_MAX];
    char *stamp;             /* Feast SQL change stamp (can be longer than an ETag) */
};

int rs_source_open(const char *source, rs_storage *store, const rs_storage_opts *opts, rs_source **out, rs_error *err)
{
    *out = NULL;
    if (!source || !*source)
        return rs_error_set(err, RS_EINVALID, "source is empty");
    rs_source *s = calloc(1, sizeof *s);
    if (!s)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    int rc = RS_OK;
    if (strncmp(source, "postgresql://", 13) == 0 || strncmp(source, "postgres://", 11) == 0 ||
        strncmp(source, "mysql://", 8) == 0 || strncmp(source, "mariadb://", 10) == 0) {
        rc = rs_feast_sql_open(source, opts, &s->sql, err);
        if (!rc)
            s->desc = strdup(rs_feast_sql_url(s->sql));
    } else if (strstr(source, "://") || source[0] == '/') {
        char *store_url = NULL;
        rc = rs_storage_split_url(source, &store_url, &s->key, err);
        if (!rc)
            rc = rs_storage_open(store_url, opts, &s->store, err);
        if (!rc) {
            s->own_store = true;
            size_t n = strlen(rs_storage_url(s->store)) + strlen(s->key) + 2;
            s->desc = malloc(n);
            if (s->desc) {
                /* the store URL may carry a query string: put the key before it */
                const char *u = rs_storage_url(s->store), *q = strchr(u, '?');
                if (q)
                    snprintf(s->desc, n, "%.*s/%s%s", (int)(q - u), u, s->key, q);
                else
                    snprintf(s->desc, n, "%s/%s", u, s->key);
            }
        }
        free(store_url);
    } else {
        if (!store)
            rc = rs_error_set(err, RS_EINVALID, "source '%s' is a key in the global store, but there is no store", source);
        s->store = store;
        s->key = strdup(source);
        size_t n = strlen(source) + (store ? strlen(rs_storage_url(store)) : 0) + 8;
        s->desc = malloc(n);
        if (s->desc)
            snprintf(s->desc, n, "%s (key %s)", store ? rs_storage_url(store) : "", source);
    }
    if (!rc && !s->desc)
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
    if (rc) {
        rs_source_close(s);
        return rc;
    }
    *out = s;
    return RS_OK;
}

void rs_source_close(rs_source *s)
{
    if (!s)
        return;
    if (s->own_store)
        rs_storage_close(s->store);
    rs_feast_sql_close(s->sql);
    free(s->key);
    free(s->desc);
    free(s->stamp);
    free(s);
}

const char *rs_source_describe(const rs_source *s) { return s->desc; }

void rs_source_reset(rs_source *s)
{
    s->tag[0] = '\0';
    free(s->stamp);
    s->stamp = NULL;
}

int rs_source_read(rs_source *s, bool force, uint8_t **data, size_t *len, char tag[RS_ETAG_MAX], rs_error *err)
{
    *data = NULL;
    *len = 0;
    int rc;
    if (s->sql) {
        if (!force && s->stamp) {
            rc = rs_feast_sql_changed(s->sql, s->stamp, NULL, err);
            if (rc == RS_ENOTMODIFIED || rc < 0)
                return rc;
        }
        char *stamp = NULL;
        rc = rs_feast_sql_read(s->sql, data, len, &stamp, err);
        if (!rc) {
            free(s->stamp);
            s->stamp = stamp ? stamp : strdup("");
            /* the tag reported to the log is a short hash-like prefix of the stamp */
            if (tag)
                snprintf(tag, RS_ETAG_MAX, "sql:%.120s", s->stamp ? s->stamp : "");
        } else {
            free(stamp);
        }
        return rc;
    }
    char etag[RS_ETAG_MAX] = "";
    rc = rs_storage_get(s->store, s->key, (!force && s->tag[0]) ? s->tag : NULL, data, len, etag, err);
    if (rc)
        return rc;
    snprintf(s->tag, sizeof s->tag, "%s", etag);
    if (tag)
        snprintf(tag, RS_ETAG_MAX, "%s", etag);
    return RS_OK;
}
