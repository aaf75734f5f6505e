/* dump_io.c: where regsync-dump reads from. */
#include "dump.h"
#include "rs_buf.h"
#include "rs_storage.h"
#include "rs_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dump_fail(const char *what, const rs_error *err)
{
    char *safe = rs_url_redact(what); /* never print a password given in a URL */
    fprintf(stderr, "regsync-dump: %s: %s\n", safe ? safe : "", err && err->msg[0] ? err->msg : "failed");
    free(safe);
    return DUMP_ERROR;
}

int dump_read_source(const char *src, uint8_t **data, size_t *len, rs_error *err)
{
    *data = NULL;
    *len = 0;
    if (!strstr(src, "://"))
        return rs_read_file(src, 0, data, len, err);
    if (strncmp(src, "postgresql://", 13) == 0 || strncmp(src, "postgres://", 11) == 0 ||
        strncmp(src, "mysql://", 8) == 0 || strncmp(src, "mariadb://", 10) == 0)
        return dump_read_feast_sql(src, data, len, err);
    char *store = NULL, *key = NULL;
    int rc = rs_storage_split_url(src, &store, &key, err);
    if (rc)
        return rc;
    rs_storage *s = NULL;
    rc = rs_storage_open(store, NULL, &s, err);
    if (!rc)
        rc = rs_storage_get(s, key, NULL, data, len, NULL, err);
    rs_storage_close(s);
    free(store);
    free(key);
    return rc;
}

int dump_load_registry(const char *src, rs_registry **out, rs_error *err)
{
    uint8_t *data;
    size_t len;
    *out = NULL;
    int rc = dump_read_source(src, &data, &len, err);
    if (rc)
        return rc;
    return rs_registry_decode_take(data, len, NULL, out, err);
}
