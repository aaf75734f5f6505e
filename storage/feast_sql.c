/* feast_sql.c: Feast's SQL registry tables -> one serialized feast.core.Registry (read-only).
 *
 * Registry field per table (the row's <kind>_proto is the field's payload, byte for byte):
 *   entities 1, feature_views 6, feature_services 7, on_demand_feature_views 8,
 *   managed_infra -> infra 10 (rows of every project merged into the one singular field),
 *   saved_datasets 11, data_sources 12, validation_references 13, stream_feature_views 14,
 *   feast_metadata 'project_uuid' rows -> project_metadata 15 {project 1, project_uuid 2},
 *   permissions 16, projects 17, label_views 19,
 *   feature_view_version_history rows -> feature_view_version_history 18 {records 1: one
 *   FeatureViewVersionRecord per row, built from the columns}.
 * last_updated (5) is the largest last_updated_timestamp of any row, as a Timestamp in seconds.
 * The protobuf wire format is written here by hand (tags, varints, lengths): no generated code.
 * The SQL of each server is in its driver: feast_sql_pg.c (PostgreSQL), feast_sql_mysql.c (MySQL,
 * MariaDB); see feast_sql_impl.h.
 */
#include "feast_sql_impl.h"
#include "rs_checked.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rs_buf.h"
#include "rs_log.h"
#include "rs_time.h"

const fsql_tdesc FSQL_TABLES[FSQL_NTABLES] = {
    {"entities", 1, T_OBJECT},
    {"feature_views", 6, T_OBJECT},
    {"feature_services", 7, T_OBJECT},
    {"on_demand_feature_views", 8, T_OBJECT},
    {"managed_infra", 10, T_INFRA},
    {"saved_datasets", 11, T_OBJECT},
    {"data_sources", 12, T_OBJECT},
    {"validation_references", 13, T_OBJECT},
    {"stream_feature_views", 14, T_OBJECT},
    {"feast_metadata", 15, T_METADATA},
    {"permissions", 16, T_OBJECT},
    {"projects", 17, T_PROJECTS},
    {"feature_view_version_history", 18, T_HISTORY},
    {"label_views", 19, T_OBJECT},
};

const char *const FSQL_HCOLS[8] = {"feature_view_name", "project_id",         "version_number", "feature_view_type",
                                   "feature_view_proto", "created_timestamp", "description",    "version_id"};

void fsql_result_free(fsql_result *r)
{
    if (!r)
        return;
    if (r->release && r->owner)
        r->release(r->owner);
    free(r->cells);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- connection and queries */

static int ensure_conn(rs_feast_sql *h, rs_error *err)
{
    if (h->conn && h->drv->alive(h))
        return RS_OK;
    if (h->conn)
        h->drv->disconnect(h);
    h->stats.requests++;
    return h->drv->connect(h, err);
}

/* One statement on the current connection; *res on success (caller fsql_result_free()s). */
static int query(rs_feast_sql *h, const char *what, const char *sql, fsql_result *res, rs_error *err)
{
    memset(res, 0, sizeof *res);
    h->stats.requests++;
    int rc = h->drv->query(h, what, sql, res, err);
    if (rc) {
        h->stats.errors++;
        return rc;
    }
    for (size_t i = 0; i < res->rows * res->cols; i++)
        h->stats.bytes_in += res->cells[i].n;
    return RS_OK;
}

static int exec_simple(rs_feast_sql *h, const char *what, const char *sql, rs_error *err)
{
    fsql_result r;
    int rc = query(h, what, sql, &r, err);
    if (!rc)
        fsql_result_free(&r);
    return rc;
}

/* A cell as a NUL-terminated string in buf (cut to fit). */
static const char *cell_str(const fsql_cell *c, char *buf, size_t cap)
{
    size_t n = c->p ? (c->n < cap - 1 ? c->n : cap - 1) : 0;
    if (n)
        memcpy(buf, c->p, n);
    buf[n] = '\0';
    return buf;
}

/* ---------------------------------------------------------------- table discovery */

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static void free_sql(rs_feast_sql *h)
{
    free(h->stamp_sql);
    free(h->objects_sql);
    free(h->history_sql);
    h->stamp_sql = h->objects_sql = h->history_sql = NULL;
}

/* Finds which of Feast's tables exist and their columns, then has the driver build its queries. */
static int discover(rs_feast_sql *h, rs_error *err)
{
    fsql_result r;
    int rc = query(h, "find Feast's tables", h->drv->columns_sql, &r, err);
    if (rc)
        return rc;
    memset(h->t, 0, sizeof h->t);
    for (size_t i = 0; i < r.rows; i++) {
        char tb[128], col[128], type[128], maxl[32];
        cell_str(fsql_at(&r, i, 0), tb, sizeof tb);
        cell_str(fsql_at(&r, i, 1), col, sizeof col);
        cell_str(fsql_at(&r, i, 2), type, sizeof type);
        cell_str(fsql_at(&r, i, 3), maxl, sizeof maxl);
        fsql_ctype ct = h->drv->ctype(type);
        size_t k = 0;
        while (k < FSQL_NTABLES && strcmp(FSQL_TABLES[k].table, tb) != 0)
            k++;
        if (k == FSQL_NTABLES)
            continue;
        fsql_tinfo *ti = &h->t[k];
        if (strcmp(col, "project_id") == 0)
            ti->has_project = true;
        if (strcmp(col, "last_updated_timestamp") == 0)
            ti->has_lut = true;
        switch (FSQL_TABLES[k].kind) {
        case T_OBJECT:
        case T_INFRA:
        case T_PROJECTS:
            if (FSQL_TABLES[k].kind == T_PROJECTS) {
                if (strcmp(col, "project_id") == 0)
                    snprintf(ti->name_col, sizeof ti->name_col, "%s", col);
            } else if (!ti->name_col[0] && ends_with(col, "_name") && ct == C_TEXT) {
                snprintf(ti->name_col, sizeof ti->name_col, "%s", col);
            }
            if (!ti->proto_col[0] && ends_with(col, "_proto") && ct == C_BINARY) {
                snprintf(ti->proto_col, sizeof ti->proto_col, "%s", col);
                ti->proto_cap = strtoull(maxl, NULL, 10);
            }
            break;
        case T_METADATA:
            if (strcmp(col, "metadata_value") == 0)
                snprintf(ti->proto_col, sizeof ti->proto_col, "%s", col);
            if (strcmp(col, "metadata_key") == 0)
                snprintf(ti->name_col, sizeof ti->name_col, "%s", col);
            break;
        case T_HISTORY:
            for (int c = 0; c < 8; c++)
                if (strcmp(col, FSQL_HCOLS[c]) == 0) {
                    ti->hcol[c] = true;
                    if (c == 4 && ct == C_BINARY)
                        ti->proto_cap = strtoull(maxl, NULL, 10);
                    if (c == 5)
                        ti->created_kind = ct == C_TIMESTAMP ? 1 : ct == C_NUMBER ? 2 : 3;
                }
            break;
        }
    }
    fsql_result_free(&r);
    h->nnames = 0;
    h->nexisting = 0;
    for (size_t k = 0; k < FSQL_NTABLES; k++) {
        fsql_tinfo *ti = &h->t[k];
        bool any = ti->has_project || ti->has_lut || ti->name_col[0] || ti->proto_col[0];
        for (int c = 0; c < 8; c++)
            any = any || ti->hcol[c];
        if (!any)
            continue;
        h->nexisting++;
        switch (FSQL_TABLES[k].kind) {
        case T_HISTORY:
            ti->present = ti->hcol[0] && ti->hcol[4];
            break;
        default:
            ti->present = ti->name_col[0] && ti->proto_col[0];
            break;
        }
        if (!ti->present)
            RS_LOGW("feast_sql", "table_skipped table=%s reason=\"no usable name/proto columns\"", FSQL_TABLES[k].table);
        else
            h->names[h->nnames++] = FSQL_TABLES[k].table;
        if (ti->present && ti->proto_cap && ti->proto_cap < 16777215u) /* below MEDIUMBLOB */
            RS_LOGW("feast_sql",
                    "narrow_column table=%s column=%s max_bytes=%llu reason=\"a longer proto was cut or refused when "
                    "written; ALTER TABLE ... MODIFY ... LONGBLOB\"",
                    FSQL_TABLES[k].table, FSQL_TABLES[k].kind == T_HISTORY ? "feature_view_proto" : ti->proto_col,
                    (unsigned long long)ti->proto_cap);
    }
    if (h->nnames == 0)
        return rs_error_set(err, RS_ENOTFOUND,
                            "%s: none of Feast's SQL registry tables (projects, entities, feature_views, ...) is "
                            "visible; %s",
                            h->display, h->drv->where_hint);
    free_sql(h);
    return h->drv->build_sql(h, err);
}

/* ---------------------------------------------------------------- open / close */

static const char *const PG_FORMS[] = {"postgresql+psycopg2://", "postgresql+psycopg://", "postgresql+pg8000://",
                                       "postgresql+asyncpg://",  "postgresql://",         "postgres://"};
static const char *const MY_FORMS[] = {"mysql+pymysql://",        "mysql+mysqldb://",      "mysql+mysqlconnector://",
                                       "mysql+mariadbconnector://", "mysql+aiomysql://",   "mysql+asyncmy://",
                                       "mariadb+mariadbconnector://", "mariadb+pymysql://", "mariadb+mysqldb://",
                                       "mysql://",                "mariadb://"};

int rs_feast_sql_open(const char *url, const rs_storage_opts *opts, rs_feast_sql **out, rs_error *err)
{
    *out = NULL;
    const char *rest = NULL, *scheme = NULL;
    const fsql_driver *drv = NULL;
    for (size_t i = 0; i < sizeof PG_FORMS / sizeof PG_FORMS[0] && !rest; i++)
        if (strncmp(url, PG_FORMS[i], strlen(PG_FORMS[i])) == 0) {
            rest = url + strlen(PG_FORMS[i]);
            scheme = "postgresql://";
            drv = &rs_fsql_pg_driver;
        }
    for (size_t i = 0; i < sizeof MY_FORMS / sizeof MY_FORMS[0] && !rest; i++)
        if (strncmp(url, MY_FORMS[i], strlen(MY_FORMS[i])) == 0) {
            rest = url + strlen(MY_FORMS[i]);
            scheme = "mysql://";
            drv = &rs_fsql_mysql_driver;
        }
    if (!rest)
        return rs_error_set(err, RS_EINVALID,
                            "a Feast SQL registry URL starts with postgresql:// or mysql:// (got '%.16s...')", url);
    rs_feast_sql *h = calloc(1, sizeof *h);
    if (!h)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    h->drv = drv;
    if (opts)
        h->opts = *opts;
    h->stmt_ms = h->opts.statement_timeout_ms > 0 ? h->opts.statement_timeout_ms : 30000;
    h->max_retries = h->opts.max_retries == 0 ? 4 : (h->opts.max_retries < 0 ? 0 : h->opts.max_retries);
    size_t n = strlen(scheme) + strlen(rest) + 1;
    char *norm = malloc(n);
    int rc;
    if (!norm) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto fail;
    }
    snprintf(norm, n, "%s%s", scheme, rest);
    rc = drv->parse(h, norm, err);
    memset(norm, 0, strlen(norm)); /* may hold the password */
    free(norm);
    if (rc)
        goto fail;
    for (int attempt = 0;; attempt++) {
        rc = ensure_conn(h, err);
        if (!rc)
            rc = discover(h, err);
        if (rc == RS_OK || !(err && err->retryable) || attempt >= h->max_retries)
            break;
        h->stats.retries++;
        struct timespec ts = {0, (100L << attempt) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (rc)
        goto fail;
    *out = h;
    return RS_OK;
fail:
    rs_feast_sql_close(h);
    return rc;
}

void rs_feast_sql_close(rs_feast_sql *h)
{
    if (!h)
        return;
    if (h->conn)
        h->drv->disconnect(h);
    if (h->target)
        h->drv->free_target(h);
    free(h->display);
    free_sql(h);
    free(h);
}

size_t rs_feast_sql_tables(const rs_feast_sql *h, const char *const **names)
{
    *names = h->names;
    return h->nnames;
}

void rs_feast_sql_get_stats(const rs_feast_sql *h, rs_storage_stats *out) { *out = h->stats; }

const char *rs_feast_sql_url(const rs_feast_sql *h) { return h->display; }

/* ---------------------------------------------------------------- the stamp */

/* Runs the stamp query; *stamp = "fsql1:<32 hex>"; *tables_now = how many of Feast's tables exist;
 * *max_lut = the largest last_updated_timestamp seen (0 when none). */
static int stamp_query(rs_feast_sql *h, char **stamp, int *tables_now, int64_t *max_lut, rs_error *err)
{
    fsql_result r;
    int rc = query(h, "change check", h->stamp_sql, &r, err);
    if (rc)
        return rc;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) {
        fsql_result_free(&r);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    *tables_now = 0;
    *max_lut = 0;
    for (size_t i = 0; i < r.rows; i++) {
        char v[4][128];
        for (int j = 0; j < 4; j++) {
            cell_str(fsql_at(&r, i, (size_t)j), v[j], sizeof v[j]);
            EVP_DigestUpdate(ctx, v[j], strlen(v[j]) + 1);
        }
        if (strcmp(v[0], "#") == 0)
            *tables_now = atoi(v[1]);
        else if (v[2][0]) {
            int64_t l = strtoll(v[2], NULL, 10);
            if (l > *max_lut)
                *max_lut = l;
        }
    }
    fsql_result_free(&r);
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    char hex[33];
    rs_hex(md, 16, hex);
    size_t sl = strlen("fsql1:") + 32 + 1;
    *stamp = malloc(sl);
    if (!*stamp)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    snprintf(*stamp, sl, "fsql1:%s", hex);
    return RS_OK;
}

int rs_feast_sql_changed(rs_feast_sql *h, const char *prev_stamp, char **new_stamp_out, rs_error *err)
{
    if (new_stamp_out)
        *new_stamp_out = NULL;
    char *stamp = NULL;
    int tables_now = 0;
    int64_t lut = 0;
    int rc;
    for (int attempt = 0;; attempt++) {
        rc = ensure_conn(h, err);
        if (!rc)
            rc = stamp_query(h, &stamp, &tables_now, &lut, err);
        if (rc == RS_OK || !(err && err->retryable) || attempt >= h->max_retries)
            break;
        h->stats.retries++;
        struct timespec ts = {0, (100L << attempt) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (rc) {
        /* a table we knew was dropped: find the tables again, then the stamp changes */
        if (rc == RS_EINVALID && h->conn && h->drv->alive(h) && discover(h, NULL) == RS_OK)
            rc = stamp_query(h, &stamp, &tables_now, &lut, err);
        if (rc)
            return rc;
    }
    bool same = prev_stamp && strcmp(prev_stamp, stamp) == 0;
    if (new_stamp_out)
        *new_stamp_out = stamp;
    else
        free(stamp);
    return same ? RS_ENOTMODIFIED : RS_OK;
}

/* ---------------------------------------------------------------- assembly */

static int put_tag(rs_buf *b, uint32_t field, int wire) { return rs_buf_varint(b, ((uint64_t)field << 3) | (uint64_t)wire); }

static int put_bytes(rs_buf *b, uint32_t field, const void *p, size_t n)
{
    if (put_tag(b, field, 2) || rs_buf_varint(b, n))
        return RS_ENOMEM;
    return n ? rs_buf_append(b, p, n) : RS_OK;
}

/* proto3: a string/bytes field at its default (empty) is not written. */
static int put_str_opt(rs_buf *b, uint32_t field, const char *s, size_t n)
{
    return n ? put_bytes(b, field, s, n) : RS_OK;
}

static int put_varint_opt(rs_buf *b, uint32_t field, uint64_t v)
{
    if (!v)
        return RS_OK;
    if (put_tag(b, field, 0))
        return RS_ENOMEM;
    return rs_buf_varint(b, v);
}

/* google.protobuf.Timestamp {seconds 1, nanos 2}. */
static int put_timestamp(rs_buf *b, uint32_t field, int64_t sec, int32_t nanos)
{
    rs_buf t = {0};
    int rc = put_varint_opt(&t, 1, (uint64_t)sec);
    if (!rc)
        rc = put_varint_opt(&t, 2, (uint64_t)(int64_t)nanos);
    if (!rc)
        rc = put_bytes(b, field, t.data, t.len);
    rs_buf_free(&t);
    return rc;
}

/* "1779800708.035266" / "-12.5" / "17" -> seconds, nanos (nanos in [0, 1e9)). False for what is
 * not such a number or lies outside protobuf Timestamp's range (years 1 to 9999). */
static bool parse_epoch(const char *s, int64_t *sec, int32_t *nanos)
{
    bool neg = false;
    if (*s == '-') {
        neg = true;
        s++;
    }
    if (!isdigit((unsigned char)*s))
        return false;
    int64_t whole = 0;
    while (isdigit((unsigned char)*s)) {
        whole = whole * 10 + (*s++ - '0');
        if (whole > 253402300799LL) /* 9999-12-31T23:59:59Z; also keeps whole from overflowing */
            return false;
    }
    int64_t frac = 0;
    int digits = 0;
    if (*s == '.') {
        s++;
        while (isdigit((unsigned char)*s)) {
            if (digits < 9) {
                frac = frac * 10 + (*s - '0');
                digits++;
            }
            s++;
        }
    }
    if (*s)
        return false;
    while (digits < 9) {
        frac *= 10;
        digits++;
    }
    if (neg) {
        whole = -whole;
        if (frac) {
            whole -= 1;
            frac = 1000000000 - frac;
        }
        if (whole < -62135596800LL) /* before 0001-01-01T00:00:00Z */
            return false;
    }
    *sec = whole;
    *nanos = (int32_t)frac;
    return true;
}

/* ---- project stamping (as Feast's proto() does: obj.spec.project = project_id) ---- */

/* Where each kind keeps its project: inside spec (field 1) or at the top level. */
static const struct {
    uint32_t kind;
    uint32_t spec;    /* 1: inside spec(1); 0: top level */
    uint32_t field;   /* the project's field number */
} PROJECT_FIELD[] = {{1, 1, 9},  {6, 1, 2},  {7, 1, 2},  {8, 1, 2},  {11, 1, 2},
                     {12, 0, 21}, {13, 0, 3}, {14, 1, 2}, {16, 1, 2}, {19, 1, 2}};

typedef struct span {
    uint32_t num;
    const uint8_t *start; /* the whole field, tag included */
    size_t len;
    const uint8_t *val;   /* length-delimited payload (wire type 2), else NULL */
    size_t vlen;
} span;

static bool rd_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int sh = 0; sh < 64 && *p < end; sh += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* Splits a message into its top-level fields; false when it is not well-formed. */
static bool split_fields(const uint8_t *m, size_t n, span **out, size_t *count)
{
    const uint8_t *p = m, *end = m + n;
    span *v = NULL;
    size_t c = 0, cap = 0;
    while (p < end) {
        span sp = {0};
        sp.start = p;
        uint64_t key, len;
        if (!rd_varint(&p, end, &key) || key >> 3 == 0 || key >> 3 > 0x1fffffff)
            goto bad;
        sp.num = (uint32_t)(key >> 3);
        switch (key & 7) {
        case 0:
            if (!rd_varint(&p, end, &len))
                goto bad;
            break;
        case 1:
            if (end - p < 8)
                goto bad;
            p += 8;
            break;
        case 2:
            if (!rd_varint(&p, end, &len) || len > (uint64_t)(end - p))
                goto bad;
            sp.val = p;
            sp.vlen = (size_t)len;
            p += len;
            break;
        case 5:
            if (end - p < 4)
                goto bad;
            p += 4;
            break;
        default:
            goto bad;
        }
        sp.len = (size_t)(p - sp.start);
        if (c == cap) {
            cap = cap ? cap * 2 : 16;
            span *nv = realloc(v, cap * sizeof *nv);
            if (!nv)
                goto bad;
            v = nv;
        }
        v[c++] = sp;
    }
    *out = v;
    *count = c;
    return true;
bad:
    free(v);
    return false;
}

/* Copies message m with string field `field` set to value (other occurrences dropped, the new
 * one placed in field-number order). *changed false (and nothing written) when m already holds
 * exactly that value once. */
static int set_string_field(const uint8_t *m, size_t n, uint32_t field, const char *value, rs_buf *out,
                            bool *changed)
{
    *changed = false;
    span *f = NULL;
    size_t c = 0;
    if (!split_fields(m, n, &f, &c))
        return RS_ECORRUPT;
    size_t occurrences = 0;
    const span *last = NULL;
    for (size_t i = 0; i < c; i++)
        if (f[i].num == field) {
            occurrences++;
            last = &f[i];
        }
    size_t vl = strlen(value);
    if (occurrences == 1 && last->val && last->vlen == vl && memcmp(last->val, value, vl) == 0) {
        free(f);
        return RS_OK;
    }
    if (occurrences == 0 && vl == 0) {
        free(f);
        return RS_OK;
    }
    int rc = RS_OK;
    bool placed = false;
    for (size_t i = 0; i < c && !rc; i++) {
        if (!placed && f[i].num > field) {
            rc = put_str_opt(out, field, value, vl);
            placed = true;
        }
        if (!rc && f[i].num != field)
            rc = rs_buf_append(out, f[i].start, f[i].len);
    }
    if (!rc && !placed)
        rc = put_str_opt(out, field, value, vl);
    free(f);
    *changed = rc == RS_OK;
    return rc;
}

/* Emits object bytes b as field `field` of out, with its project set to project when it holds
 * another one (Feast's proto() stamps every object with the project it was listed under). */
static int put_object(rs_buf *out, uint32_t field, const char *project, const uint8_t *b, size_t bl)
{
    size_t k = 0;
    while (k < sizeof PROJECT_FIELD / sizeof PROJECT_FIELD[0] && PROJECT_FIELD[k].kind != field)
        k++;
    if (k == sizeof PROJECT_FIELD / sizeof PROJECT_FIELD[0] || !*project)
        return put_bytes(out, field, b, bl);
    rs_buf fixed = {0};
    bool changed = false;
    int rc = RS_OK;
    if (!PROJECT_FIELD[k].spec) {
        rc = set_string_field(b, bl, PROJECT_FIELD[k].field, project, &fixed, &changed);
    } else {
        span *f = NULL;
        size_t c = 0, specs = 0, at = 0;
        if (split_fields(b, bl, &f, &c)) {
            for (size_t i = 0; i < c; i++)
                if (f[i].num == 1 && f[i].val) {
                    specs++;
                    at = i;
                }
            if (specs == 1) { /* several spec occurrences would merge: leave those alone */
                rs_buf spec = {0};
                rc = set_string_field(f[at].val, f[at].vlen, PROJECT_FIELD[k].field, project, &spec, &changed);
                for (size_t i = 0; changed && !rc && i < c; i++)
                    rc = i == at ? put_bytes(&fixed, 1, spec.data, spec.len)
                                 : rs_buf_append(&fixed, f[i].start, f[i].len);
                rs_buf_free(&spec);
            }
            free(f);
        }
    }
    if (rc == RS_ECORRUPT) { /* not a message we can read: pass it on untouched */
        rc = RS_OK;
        changed = false;
    }
    if (!rc)
        rc = changed ? put_bytes(out, field, fixed.data, fixed.len) : put_bytes(out, field, b, bl);
    rs_buf_free(&fixed);
    return rc;
}

/* The table behind a Registry field number (objects query rows), or -1. */
static int table_of_field(uint32_t field)
{
    for (int k = 0; k < FSQL_NTABLES; k++)
        if (FSQL_TABLES[k].field == field)
            return k;
    return -1;
}

/* A value exactly as long as its column's type allows (MySQL's 64 KB BLOB, as older Feast
 * created its tables) was most likely cut when written (MySQL without strict mode): refuse it
 * rather than pass a truncated object on. */
static int check_cap(const rs_feast_sql *h, int k, const char *col, const char *proj, const char *name, size_t bl,
                     rs_error *err)
{
    if (k < 0 || !h->t[k].proto_cap || bl != h->t[k].proto_cap)
        return RS_OK;
    return rs_error_set(err, RS_ECORRUPT,
                        "%s: %s.%s of (%s, %s) is exactly %zu bytes, the column type's limit: the value was most "
                        "likely cut when it was written; widen the column (ALTER TABLE %s MODIFY %s LONGBLOB) and "
                        "apply the object again",
                        h->display, FSQL_TABLES[k].table, col, proj, name, bl, FSQL_TABLES[k].table, col);
}

static int build_history(const rs_feast_sql *h, const fsql_result *hr, rs_buf *field18, rs_error *err)
{
    const fsql_result r = *hr;
    int rc = RS_OK;
    int hk = table_of_field(18);
    rs_buf hist = {0}, rec = {0};
    for (size_t i = 0; i < r.rows && !rc; i++) {
        rs_buf_reset(&rec);
        for (int c = 0; c < 8 && !rc; c++) {
            const fsql_cell *cell = fsql_at(&r, i, (size_t)c);
            if (!cell->p)
                continue;
            const char *v = cell->p;
            size_t n = cell->n;
            uint32_t f = (uint32_t)c + 1;
            if (c == 2) { /* int32 version_number: negative values are sign-extended varints */
                char tmp[32];
                snprintf(tmp, sizeof tmp, "%.*s", (int)(n < 31 ? n : 31), v);
                long long vn = strtoll(tmp, NULL, 10);
                rc = put_varint_opt(&rec, f, (uint64_t)(int64_t)(int32_t)vn);
            } else if (c == 5) {
                char tmp[64];
                snprintf(tmp, sizeof tmp, "%.*s", (int)(n < 63 ? n : 63), v);
                int64_t sec;
                int32_t nanos;
                if (!parse_epoch(tmp, &sec, &nanos)) {
                    rc = rs_error_set(err, RS_ECORRUPT,
                                      "%s: feature_view_version_history row %zu: created_timestamp '%s' is not a time",
                                      h->display, i, tmp);
                    break;
                }
                rc = put_timestamp(&rec, f, sec, nanos) ? RS_ENOMEM : RS_OK;
            } else {
                if (c == 4) {
                    char nm[300], pj[300];
                    cell_str(fsql_at(&r, i, 0), nm, sizeof nm);
                    cell_str(fsql_at(&r, i, 1), pj, sizeof pj);
                    if ((rc = check_cap(h, hk, "feature_view_proto", pj, nm, n, err)))
                        break;
                }
                rc = put_str_opt(&rec, f, v, n) ? RS_ENOMEM : RS_OK;
            }
        }
        if (!rc && put_bytes(&hist, 1, rec.data, rec.len))
            rc = RS_ENOMEM;
    }
    if (!rc && r.rows > 0 && put_bytes(field18, 18, hist.data, hist.len))
        rc = RS_ENOMEM;
    if (rc == RS_ENOMEM)
        rs_error_set(err, RS_ENOMEM, "out of memory");
    rs_buf_free(&hist);
    rs_buf_free(&rec);
    return rc;
}

int fsql_assemble_rows(const rs_feast_sql *h, int64_t max_lut, const fsql_result *objects, const fsql_result *history,
                       rs_buf *out, rs_error *err)
{
    rs_buf f[20];
    memset(f, 0, sizeof f);
    rs_buf infra = {0};
    bool have_infra = false;
    int rc = RS_OK;
    if (max_lut > 0)
        rc = put_timestamp(&f[5], 5, max_lut, 0) ? rs_error_set(err, RS_ENOMEM, "out of memory") : RS_OK;
    if (!rc && objects) {
        const fsql_result r = *objects;
        for (size_t i = 0; !rc && i < r.rows; i++) {
            char fs[16], proj[1100];
            uint32_t field = (uint32_t)strtoul(cell_str(fsql_at(&r, i, 0), fs, sizeof fs), NULL, 10);
            cell_str(fsql_at(&r, i, 1), proj, sizeof proj);
            const fsql_cell *bc = fsql_at(&r, i, 3);
            const char *b = bc->p;
            size_t bl = bc->n;
            if (!b || field >= 20)
                continue;
            int k = table_of_field(field);
            if (field != 15 && k >= 0 && h->t[k].proto_cap) {
                char name[1100];
                cell_str(fsql_at(&r, i, 2), name, sizeof name);
                if ((rc = check_cap(h, k, h->t[k].proto_col, proj, name, bl, err)))
                    break;
            }
            if (field == 10) { /* Infra {repeated infra_objects 1}: concatenation merges */
                have_infra = true;
                if (rs_buf_append(&infra, b, bl))
                    rc = RS_ENOMEM;
            } else if (field == 15) { /* ProjectMetadata {project 1, project_uuid 2} */
                rs_buf pm = {0};
                if (put_str_opt(&pm, 1, proj, strlen(proj)) || put_str_opt(&pm, 2, b, bl) ||
                    put_bytes(&f[15], 15, pm.data, pm.len))
                    rc = RS_ENOMEM;
                rs_buf_free(&pm);
            } else if (put_object(&f[field], field, proj, (const uint8_t *)b, bl)) {
                rc = RS_ENOMEM;
            }
        }
        if (rc == RS_ENOMEM)
            rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    if (!rc && have_infra && put_bytes(&f[10], 10, infra.data, infra.len))
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
    if (!rc && history)
        rc = build_history(h, history, &f[18], err);
    for (int i = 0; i < 20 && !rc; i++)
        if (f[i].len && rs_buf_append(out, f[i].data, f[i].len))
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
    for (int i = 0; i < 20; i++)
        rs_buf_free(&f[i]);
    rs_buf_free(&infra);
    return rc;
}

/* Runs the objects and history queries and builds the Registry from their rows. */
static int assemble(rs_feast_sql *h, int64_t max_lut, rs_buf *out, rs_error *err)
{
    fsql_result objects = {0}, history = {0}; /* zeroed: freeing one that was not filled is a no-op */
    int rc = RS_OK;
    if (h->objects_sql)
        rc = query(h, "read registry tables", h->objects_sql, &objects, err);
    if (!rc && h->history_sql)
        rc = query(h, "read feature_view_version_history", h->history_sql, &history, err);
    if (!rc)
        rc = fsql_assemble_rows(h, max_lut, h->objects_sql ? &objects : NULL, h->history_sql ? &history : NULL, out,
                                err);
    fsql_result_free(&objects);
    fsql_result_free(&history);
    return rc;
}

/* One attempt: a read-only consistent snapshot (REPEATABLE READ) around the stamp and every
 * table read. */
static int read_once(rs_feast_sql *h, rs_buf *out, char **stamp, bool *rediscover, rs_error *err)
{
    *rediscover = false;
    int rc = exec_simple(h, "begin", h->drv->begin_sql, err);
    if (rc)
        return rc;
    int tables_now = 0;
    int64_t max_lut = 0;
    rc = stamp_query(h, stamp, &tables_now, &max_lut, err);
    if (!rc && tables_now != h->nexisting) {
        *rediscover = true;
        rc = RS_EINVALID;
    }
    if (!rc)
        rc = assemble(h, max_lut, out, err);
    if (rc) {
        if (h->drv->alive(h))
            exec_simple(h, "rollback", "ROLLBACK", NULL);
        if (rc == RS_EINVALID && !*rediscover)
            *rediscover = true; /* a table vanished or changed shape: look again once */
        free(*stamp);
        *stamp = NULL;
        return rc;
    }
    return exec_simple(h, "commit", "COMMIT", err);
}

int rs_feast_sql_read(rs_feast_sql *h, uint8_t **data, size_t *len, char **stamp_out, rs_error *err)
{
    *data = NULL;
    *len = 0;
    if (stamp_out)
        *stamp_out = NULL;
    rs_buf out = {0};
    char *stamp = NULL;
    int rc = RS_OK;
    bool rediscovered = false;
    for (int attempt = 0;; attempt++) {
        rs_buf_reset(&out);
        bool rediscover = false;
        rc = ensure_conn(h, err);
        if (!rc)
            rc = read_once(h, &out, &stamp, &rediscover, err);
        if (rc == RS_OK)
            break;
        if (rediscover && !rediscovered && h->drv->alive(h)) {
            rediscovered = true;
            rs_error sub;
            if (discover(h, &sub) == RS_OK) {
                attempt--;
                continue;
            }
        }
        if (!(err && err->retryable) || attempt >= h->max_retries)
            break;
        h->stats.retries++;
        struct timespec ts = {0, (100L << attempt) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (rc) {
        rs_buf_free(&out);
        free(stamp);
        return rc;
    }
    if (!out.data && rs_buf_reserve(&out, 1)) {
        free(stamp);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    *data = rs_buf_take(&out, len);
    if (stamp_out)
        *stamp_out = stamp;
    else
        free(stamp);
    return RS_OK;
}
