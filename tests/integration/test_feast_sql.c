/* test_feast_sql.c: the Feast SQL registry source against real Postgres (RS_TEST_PG_URL).
 *
 * The test creates Feast's SQL registry tables itself (DDL as in ../shared/feast/FACTS.md) in a
 * fresh schema, fills them from every real fixture registry (split into objects with the
 * registry library: one row per object; project metadata, infra and feature-view version history
 * the way Feast stores them), reads the registry back through the source, and checks that the
 * assembled registry has the same objects (kind, project, name, bytes) and the same content
 * digest. Then: reads are deterministic and independent of insertion order; the change check sees
 * an insert, a same-second update, a delete and a new table, and reports "unchanged" for one small
 * query otherwise; older schemas (missing tables) work; a database without Feast's tables is
 * NOTFOUND; SQLAlchemy-style URLs are accepted.
 */
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feast_sql.h"
#include "rs_buf.h"
#include "rs_registry.h"
#include "rs_test.h"

static const char *PGURL;
static PGconn *db;
static char schema[64], schema_old[64], schema_empty[64];
static char *src_url;     /* PGURL with search_path = schema */

static const char *const OBJECT_TABLES[][3] = {
    /* kind, table, name column, proto column */
    {"1", "entities", "entity_name"},
    {"6", "feature_views", "feature_view_name"},
    {"7", "feature_services", "feature_service_name"},
    {"8", "on_demand_feature_views", "feature_view_name"},
    {"11", "saved_datasets", "saved_dataset_name"},
    {"12", "data_sources", "data_source_name"},
    {"13", "validation_references", "validation_reference_name"},
    {"14", "stream_feature_views", "feature_view_name"},
    {"16", "permissions", "permission_name"},
    {"19", "label_views", "label_view_name"},
};
#define NOBJ_TABLES (sizeof OBJECT_TABLES / sizeof OBJECT_TABLES[0])

static void quiet(void *a, const char *m)
{
    (void)a;
    (void)m;
}

static bool sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool sql(const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(db, buf);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "sql failed: %.300s: %s", buf, PQerrorMessage(db));
    PQclear(r);
    return ok;
}

/* Feast's tables, per FACTS.md. with_new: also the tables newer Feast added (projects,
 * permissions, label_views, feature_view_version_history). */
static bool create_feast_tables(const char *sch, bool with_new)
{
    bool ok = sql("CREATE SCHEMA %s", sch) && sql("SET search_path = %s", sch);
    const char *view_extra[] = {"", ", materialized_intervals BYTEA NULL, user_metadata BYTEA NULL"};
    for (size_t i = 0; ok && i < NOBJ_TABLES; i++) {
        const char *tb = OBJECT_TABLES[i][1], *nc = OBJECT_TABLES[i][2];
        if (!with_new && (strcmp(tb, "permissions") == 0 || strcmp(tb, "label_views") == 0))
            continue;
        bool view = strstr(tb, "feature_views") || strcmp(tb, "label_views") == 0;
        const char *extra = strcmp(tb, "feature_views") == 0 ? view_extra[1] : view ? ", user_metadata BYTEA NULL" : "";
        /* the proto column is <kind>_proto: entity_proto, feature_view_proto, ... */
        char proto[64];
        snprintf(proto, sizeof proto, "%.*s_proto", (int)(strlen(nc) - 5), nc);
        ok = sql("CREATE TABLE %s (%s VARCHAR(255) NOT NULL, project_id VARCHAR(255) NOT NULL, "
                 "last_updated_timestamp BIGINT NOT NULL, %s BYTEA NOT NULL%s, PRIMARY KEY (%s, project_id))",
                 tb, nc, proto, extra, nc);
    }
    ok = ok && sql("CREATE TABLE managed_infra (infra_name VARCHAR(255) NOT NULL, project_id VARCHAR(255) NOT NULL, "
                   "last_updated_timestamp BIGINT NOT NULL, infra_proto BYTEA NOT NULL, "
                   "PRIMARY KEY (infra_name, project_id))");
    ok = ok && sql("CREATE TABLE feast_metadata (project_id VARCHAR(255) NOT NULL, metadata_key VARCHAR(50) NOT NULL, "
                   "metadata_value TEXT NOT NULL, last_updated_timestamp BIGINT NOT NULL, "
                   "PRIMARY KEY (project_id, metadata_key))");
    if (with_new) {
        ok = ok && sql("CREATE TABLE projects (project_id VARCHAR(255) NOT NULL PRIMARY KEY, project_name VARCHAR(255) "
                       "NOT NULL, last_updated_timestamp BIGINT NOT NULL, project_proto BYTEA NOT NULL)");
        ok = ok && sql("CREATE TABLE feature_view_version_history (feature_view_name VARCHAR(255) NOT NULL, "
                       "project_id VARCHAR(255) NOT NULL, version_number INTEGER NOT NULL, feature_view_type "
                       "VARCHAR(255), feature_view_proto BYTEA, created_timestamp TIMESTAMP, description TEXT, "
                       "version_id VARCHAR(255), PRIMARY KEY (feature_view_name, project_id, version_number))");
    }
    return ok && sql("SET search_path = public");
}

static char *with_search_path(const char *u, const char *sch)
{
    size_t n = strlen(u) + strlen(sch) + 64;
    char *o = malloc(n);
    snprintf(o, n, "%s%coptions=-csearch_path%%3D%s", u, strchr(u, '?') ? '&' : '?', sch);
    return o;
}

static int setup(void)
{
    const char *u = getenv("RS_TEST_PG_URL");
    if (!u || !*u)
        return 0;
    PGURL = u;
    db = PQconnectdb(u);
    if (PQstatus(db) != CONNECTION_OK)
        return 1;
    PQsetNoticeProcessor(db, quiet, NULL);
    snprintf(schema, sizeof schema, "feast_t%ld", (long)getpid());
    snprintf(schema_old, sizeof schema_old, "feast_old%ld", (long)getpid());
    snprintf(schema_empty, sizeof schema_empty, "feast_none%ld", (long)getpid());
    if (!create_feast_tables(schema, true) || !create_feast_tables(schema_old, false) ||
        !sql("CREATE SCHEMA %s", schema_empty))
        return 1;
    src_url = with_search_path(u, schema);
    return 0;
}

static int teardown(void)
{
    if (db && PQstatus(db) == CONNECTION_OK) {
        sql("DROP SCHEMA IF EXISTS %s CASCADE", schema);
        sql("DROP SCHEMA IF EXISTS %s CASCADE", schema_old);
        sql("DROP SCHEMA IF EXISTS %s CASCADE", schema_empty);
    }
    PQfinish(db);
    free(src_url);
    return 0;
}

static bool need_server(void)
{
    if (PGURL && db)
        return true;
    if (!rs_test_env("RS_TEST_PG_URL")) {
        /* every call: the test that asks is recorded as skipped (the line prints once) */
        rs_test_skip("test_feast_sql (every test)", "RS_TEST_PG_URL not set (eval \"$(scripts/pg-server.sh env)\")");
        return false;
    }
    return db != NULL;
}

/* ---------------------------------------------------------------- a minimal wire reader */

typedef struct wfield {
    uint32_t num;
    int wt;
    uint64_t v;
    const uint8_t *p;
    size_t n;
} wfield;

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int s = 0; s < 64 && *p < end; s += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* Next field of [*p, end); false at the end or on bad input (then *bad is set). */
static bool next_field(const uint8_t **p, const uint8_t *end, wfield *f, bool *bad)
{
    *f = (wfield){0}; /* every member set, whatever the wire type (GCC -O3: maybe-uninitialized) */
    if (*p >= end)
        return false;
    uint64_t key;
    if (!varint(p, end, &key)) {
        *bad = true;
        return false;
    }
    f->num = (uint32_t)(key >> 3);
    f->wt = (int)(key & 7);
    f->p = NULL;
    f->n = 0;
    switch (f->wt) {
    case 0:
        if (!varint(p, end, &f->v))
            *bad = true;
        break;
    case 2:
        if (!varint(p, end, &f->v) || f->v > (uint64_t)(end - *p)) {
            *bad = true;
            return false;
        }
        f->p = *p;
        f->n = (size_t)f->v;
        *p += f->n;
        break;
    case 1:
        *p += 8;
        break;
    case 5:
        *p += 4;
        break;
    default:
        *bad = true;
    }
    return !*bad && *p <= end;
}

/* ---------------------------------------------------------------- filling the tables */

static const char *table_of(uint32_t kind, const char **name_col)
{
    char k[8];
    snprintf(k, sizeof k, "%u", kind);
    for (size_t i = 0; i < NOBJ_TABLES; i++)
        if (strcmp(OBJECT_TABLES[i][0], k) == 0) {
            *name_col = OBJECT_TABLES[i][2];
            return OBJECT_TABLES[i][1];
        }
    return NULL;
}

static bool insert_row(const char *stmt, int n, const char *const *vals, const int *lens, const int *fmts)
{
    PGresult *r = PQexecParams(db, stmt, n, NULL, vals, lens, fmts, 0);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "insert failed: %s: %s", stmt, PQerrorMessage(db));
    PQclear(r);
    return ok;
}

/* One FeatureViewVersionRecord -> one row; false when it holds what the table cannot (unknown
 * fields, sub-microsecond time). */
static bool insert_version_record(const char *sch, const uint8_t *rec, size_t len, bool *representable)
{
    const char *cols[8] = {0};
    int lens[8] = {0};
    char strs[8][512];
    char ver[32] = "0", sec[32] = "", micro[32] = "";
    bool has_ts = false;
    const uint8_t *p = rec, *end = rec + len;
    wfield f;
    bool bad = false;
    const uint8_t *proto = NULL;
    size_t proto_len = 0;
    while (next_field(&p, end, &f, &bad)) {
        if (f.num >= 1 && f.num <= 8 && f.num != 3 && f.num != 5 && f.num != 6 && f.wt == 2) {
            snprintf(strs[f.num - 1], sizeof strs[0], "%.*s", (int)f.n, (const char *)f.p);
            cols[f.num - 1] = strs[f.num - 1];
        } else if (f.num == 3 && f.wt == 0) {
            snprintf(ver, sizeof ver, "%d", (int32_t)f.v);
        } else if (f.num == 5 && f.wt == 2) {
            proto = f.p;
            proto_len = f.n;
        } else if (f.num == 6 && f.wt == 2) {
            const uint8_t *q = f.p, *qe = f.p + f.n;
            wfield t;
            int64_t s = 0, ns = 0;
            while (next_field(&q, qe, &t, &bad)) {
                if (t.num == 1 && t.wt == 0)
                    s = (int64_t)t.v;
                else if (t.num == 2 && t.wt == 0)
                    ns = (int64_t)(int32_t)t.v;
                else
                    *representable = false;
            }
            if (ns % 1000)
                *representable = false; /* TIMESTAMP keeps microseconds */
            snprintf(sec, sizeof sec, "%lld", (long long)s);
            snprintf(micro, sizeof micro, "%lld", (long long)(ns / 1000));
            has_ts = true;
        } else {
            *representable = false;
        }
    }
    if (bad)
        return false;
    char stmt[600];
    snprintf(stmt, sizeof stmt,
             "INSERT INTO %s.feature_view_version_history (feature_view_name, project_id, version_number, "
             "feature_view_type, feature_view_proto, created_timestamp, description, version_id) VALUES "
             "(coalesce($1, ''), coalesce($2, ''), $3::int, $4, $5, "
             "CASE WHEN $6::text IS NULL THEN NULL ELSE (to_timestamp($6::bigint) AT TIME ZONE 'UTC') + "
             "make_interval(secs => $7::bigint / 1000000.0) END, $8, $9)",
             sch);
    const char *vals[9] = {cols[0], cols[1], ver, cols[3], proto ? (const char *)proto : NULL, has_ts ? sec : NULL,
                           has_ts ? micro : NULL, cols[6], cols[7]};
    int ls[9] = {0, 0, 0, 0, (int)proto_len, 0, 0, 0, 0};
    int fm[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0};
    (void)lens;
    return insert_row(stmt, 9, vals, ls, fm);
}

typedef struct fill_result {
    size_t rows;
    size_t skipped;        /* objects the SQL layout cannot hold (or not the way they are) */
    bool skipped_kind[64];
} fill_result;

/* Truncates sch's tables and fills them from registry r; reverse: insert in reverse order. */
static bool fill(const char *sch, const rs_registry *r, bool reverse, fill_result *fr)
{
    memset(fr, 0, sizeof *fr);
    bool ok = sql("SET search_path = %s", sch);
    PGresult *tr = PQexec(db, "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables WHERE schemaname = "
                              "current_schema()");
    if (PQresultStatus(tr) == PGRES_TUPLES_OK && !PQgetisnull(tr, 0, 0))
        ok = ok && sql("TRUNCATE %s", PQgetvalue(tr, 0, 0));
    PQclear(tr);
    /* a project for infra rows: the first project named by any object */
    size_t np = 0;
    const char **projects = rs_registry_projects(r, &np);
    char infra_project[256];
    snprintf(infra_project, sizeof infra_project, "%s", np && projects ? projects[0] : "");
    free(projects);
    size_t n = rs_registry_count(r);
    for (size_t j = 0; ok && j < n; j++) {
        size_t idx = reverse ? n - 1 - j : j;
        const rs_object *o = rs_registry_at(r, idx);
        char lut[32]; /* per object, whatever the insertion order */
        snprintf(lut, sizeof lut, "%zu", (size_t)1700000000 + idx);
        if (o->kind == RS_KIND_REGISTRY_SCHEMA_VERSION || o->kind == RS_KIND_VERSION_ID ||
            o->kind == RS_KIND_LAST_UPDATED)
            continue; /* registry-level: not stored per object */
        const char *nc = NULL;
        const char *tb = table_of(o->kind, &nc);
        char stmt[512];
        if (o->ordinal > 0) {
            tb = NULL; /* a duplicate (kind, project, name): the primary key forbids it */
        } else if (tb) {
            char proto[64];
            snprintf(proto, sizeof proto, "%.*s_proto", (int)(strlen(nc) - 5), nc);
            snprintf(stmt, sizeof stmt,
                     "INSERT INTO %s (%s, project_id, last_updated_timestamp, %s) VALUES ($1, $2, $3, $4)", tb, nc,
                     proto);
            const char *vals[4] = {o->name, o->project, lut, o->len ? (const char *)o->data : ""};
            int ls[4] = {0, 0, 0, (int)o->len}, fm[4] = {0, 0, 0, 1};
            ok = insert_row(stmt, 4, vals, ls, fm);
            fr->rows++;
            continue;
        }
        bool representable = o->ordinal == 0;
        switch (representable ? o->kind : 0) {
        case RS_KIND_PROJECTS: {
            const char *vals[4] = {o->name, o->name, lut, o->len ? (const char *)o->data : ""};
            int ls[4] = {0, 0, 0, (int)o->len}, fm[4] = {0, 0, 0, 1};
            ok = insert_row("INSERT INTO projects (project_id, project_name, last_updated_timestamp, project_proto) "
                            "VALUES ($1, $2, $3, $4)",
                            4, vals, ls, fm);
            fr->rows++;
            continue;
        }
        case RS_KIND_INFRA: {
            const char *vals[3] = {infra_project, lut, o->len ? (const char *)o->data : ""};
            int ls[3] = {0, 0, (int)o->len}, fm[3] = {0, 0, 1};
            ok = insert_row("INSERT INTO managed_infra (infra_name, project_id, last_updated_timestamp, infra_proto) "
                            "VALUES ('infra_obj', $1, $2, $3)",
                            3, vals, ls, fm);
            fr->rows++;
            continue;
        }
        case RS_KIND_PROJECT_METADATA: {
            /* ProjectMetadata {project 1, project_uuid 2}: Feast keeps the uuid in feast_metadata */
            char proj[512] = "", uuid[512] = "";
            const uint8_t *p = o->data, *end = o->data + o->len;
            wfield f;
            bool bad = false;
            while (next_field(&p, end, &f, &bad)) {
                if (f.num == 1 && f.wt == 2)
                    snprintf(proj, sizeof proj, "%.*s", (int)f.n, (const char *)f.p);
                else if (f.num == 2 && f.wt == 2)
                    snprintf(uuid, sizeof uuid, "%.*s", (int)f.n, (const char *)f.p);
                else
                    representable = false;
            }
            if (!representable || bad)
                break;
            const char *vals[3] = {proj, uuid, lut};
            ok = insert_row("INSERT INTO feast_metadata (project_id, metadata_key, metadata_value, "
                            "last_updated_timestamp) VALUES ($1, 'project_uuid', $2, $3)",
                            3, vals, NULL, NULL);
            fr->rows++;
            continue;
        }
        case RS_KIND_FEATURE_VIEW_VERSION_HISTORY: {
            const uint8_t *p = o->data, *end = o->data + o->len;
            wfield f;
            bool bad = false;
            while (ok && next_field(&p, end, &f, &bad)) {
                if (f.num == 1 && f.wt == 2) {
                    ok = insert_version_record(sch, f.p, f.n, &representable);
                    fr->rows++;
                } else {
                    representable = false;
                }
            }
            if (representable && !bad)
                continue;
            break;
        }
        default:
            representable = false;
            break;
        }
        fr->skipped++;
        fr->skipped_kind[o->kind < 64 ? o->kind : 0] = true;
    }
    return ok && sql("SET search_path = public");
}

/* ---------------------------------------------------------------- tests */

static bool read_source(const char *u, uint8_t **data, size_t *len, char **stamp)
{
    rs_feast_sql *h = NULL;
    rs_error err = {0};
    int rc = rs_feast_sql_open(u, NULL, &h, &err);
    if (rc == RS_OK)
        rc = rs_feast_sql_read(h, data, len, stamp, &err);
    if (rc)
        fprintf(stderr, "feast sql source: %s\n", err.msg);
    rs_feast_sql_close(h);
    return rc == RS_OK;
}

static void t_fixtures(void)
{
    if (!need_server())
        return;
    const char *shared = rs_test_shared_dir();
    if (!shared) {
        rs_test_skip("test_feast_sql fixtures", "../shared/fixtures/registries not found");
        return;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/fixtures/registries", shared);
    size_t nf = 0;
    char **files = rs_test_list_dir(dir, ".db", &nf);
    CU_ASSERT_FATAL(nf > 0);
    size_t digest_equal = 0, compared_objects = 0, partial = 0, exact = 0;
    for (size_t i = 0; i < nf; i++) {
        const char *base = strrchr(files[i], '/') + 1;
        rs_registry *fx = NULL;
        rs_error err = {0};
        if (rs_registry_load_file(files[i], NULL, &fx, &err) != RS_OK) {
            fprintf(stderr, "%s: %s\n", base, err.msg);
            CU_FAIL("fixture does not decode");
            continue;
        }
        fill_result fr;
        CU_ASSERT_FATAL(fill(schema, fx, false, &fr));
        uint8_t *data = NULL;
        size_t len = 0;
        CU_ASSERT_FATAL(read_source(src_url, &data, &len, NULL));
        rs_registry *got = NULL;
        int rc = rs_registry_decode(data, len, NULL, &got, &err);
        if (rc)
            fprintf(stderr, "%s: assembled registry does not decode: %s\n", base, err.msg);
        CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
        /* every stored object is there, byte for byte */
        size_t want = 0, found = 0;
        for (size_t j = 0; j < rs_registry_count(fx); j++) {
            const rs_object *o = rs_registry_at(fx, j);
            if (o->kind == RS_KIND_REGISTRY_SCHEMA_VERSION || o->kind == RS_KIND_VERSION_ID ||
                o->kind == RS_KIND_LAST_UPDATED || o->ordinal > 0 || (o->kind < 64 && fr.skipped_kind[o->kind]))
                continue;
            want++;
            const rs_object *g = rs_registry_find(got, o->kind, o->project, o->name, 0);
            bool same = g && g->len == o->len && memcmp(g->data, o->data, o->len) == 0;
            bool same_hash = g && memcmp(g->hash, o->hash, RS_DIGEST_LEN) == 0;
            if (!same && !same_hash)
                fprintf(stderr, "%s: kind %u project '%s' name '%s': %s\n", base, o->kind, o->project, o->name,
                        g ? "differs" : "missing");
            found += same || same_hash;
            exact += same;
        }
        CU_ASSERT_EQUAL(found, want);
        compared_objects += found;
        /* nothing extra (besides last_updated, which the source derives) */
        size_t extra = 0;
        for (size_t j = 0; j < rs_registry_count(got); j++) {
            const rs_object *g = rs_registry_at(got, j);
            if (g->kind != RS_KIND_LAST_UPDATED)
                extra++;
        }
        CU_ASSERT_EQUAL(extra, want);
        if (fr.skipped == 0) {
            uint8_t d1[RS_DIGEST_LEN], d2[RS_DIGEST_LEN];
            rs_registry_content_digest(fx, d1);
            rs_registry_content_digest(got, d2);
            CU_ASSERT(memcmp(d1, d2, RS_DIGEST_LEN) == 0);
            digest_equal += memcmp(d1, d2, RS_DIGEST_LEN) == 0;
        } else {
            partial++;
            fprintf(stderr, "  (%s: %zu objects the SQL layout cannot hold, left out of the comparison)\n", base,
                    fr.skipped);
        }
        /* deterministic: the same rows inserted in reverse order give the same bytes */
        fill_result fr2;
        CU_ASSERT_FATAL(fill(schema, fx, true, &fr2));
        uint8_t *data2 = NULL;
        size_t len2 = 0;
        CU_ASSERT_FATAL(read_source(src_url, &data2, &len2, NULL));
        CU_ASSERT(len2 == len && memcmp(data, data2, len) == 0);
        free(data2);
        free(data);
        rs_registry_free(got);
        rs_registry_free(fx);
    }
    fprintf(stderr,
            "  (%zu fixtures: %zu with equal content digest, %zu compared partly; %zu objects matched, %zu of them "
            "byte for byte)\n",
            nf, digest_equal, partial, compared_objects, exact);
    CU_ASSERT(digest_equal + partial == nf);
    CU_ASSERT(digest_equal >= nf - 2);
    rs_test_free_list(files, nf);
}

/* Fills the schema from the largest fixture with objects of many kinds. */
static rs_registry *load_rich_fixture(void)
{
    const char *shared = rs_test_shared_dir();
    if (!shared)
        return NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/fixtures/registries/feast-dev__feast__ui_public_registry.db", shared);
    rs_registry *r = NULL;
    if (rs_registry_load_file(path, NULL, &r, NULL) != RS_OK)
        return NULL;
    return r;
}

static void t_change_check(void)
{
    if (!need_server())
        return;
    rs_registry *fx = load_rich_fixture();
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx);
    fill_result fr;
    CU_ASSERT_FATAL(fill(schema, fx, false, &fr));
    rs_feast_sql *h = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_feast_sql_open(src_url, NULL, &h, &err), RS_OK);
    const char *const *names = NULL;
    size_t nt = rs_feast_sql_tables(h, &names);
    CU_ASSERT_EQUAL(nt, 14);
    uint8_t *data = NULL;
    size_t len = 0;
    char *s0 = NULL, *s1 = NULL, *s2 = NULL;
    CU_ASSERT_EQUAL_FATAL(rs_feast_sql_read(h, &data, &len, &s0, &err), RS_OK);
    free(data);
    /* unchanged: one small query */
    rs_storage_stats a, b;
    rs_feast_sql_get_stats(h, &a);
    CU_ASSERT_EQUAL(rs_feast_sql_changed(h, s0, &s1, &err), RS_ENOTMODIFIED);
    rs_feast_sql_get_stats(h, &b);
    CU_ASSERT_STRING_EQUAL(s0, s1);
    CU_ASSERT_EQUAL(b.requests - a.requests, 1);
    CU_ASSERT(b.bytes_in - a.bytes_in < 2048);
    fprintf(stderr, "  (unchanged poll: %llu request, %llu bytes of results)\n",
            (unsigned long long)(b.requests - a.requests), (unsigned long long)(b.bytes_in - a.bytes_in));
    free(s1);
    s1 = NULL;
    CU_ASSERT_EQUAL(rs_feast_sql_changed(h, NULL, &s1, &err), RS_OK); /* no previous stamp: changed */
    free(s1);
    s1 = NULL;
    /* insert */
    CU_ASSERT(sql("INSERT INTO %s.entities VALUES ('new_entity', 'p', 1800000000, '\\x0a0a0a086e65775f656e74')",
                  schema));
    CU_ASSERT_EQUAL(rs_feast_sql_changed(h, s0, &s1, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_feast_sql_changed(h, s1, &s2, &err), RS_ENOTMODIFIED);
    free(s2);
    s2 = NULL;
    /* update within the same second: same count, same max(last_updated_timestamp) */
    CU_ASSERT(sql("UPDATE %s.entities SET entity_proto = '\\x0a0a0a086e65775f656e7432' WHERE entity_name = "
                  "'new_entity'",
                  schema));
    CU_ASSERT_EQUAL(rs_feast_sql_changed(h, s1, &s2, &err), RS_OK);
    free(s1);
    s1 = s2;
    s2 = NULL;
    /* delete */
    CU_ASSERT(sql("DELETE FROM %s.entities WHERE entity_name = 'new_entity'", schema));
    CU_ASSERT_EQUAL(rs_feast_sql_changed(h, s1, &s2, &err), RS_OK);
    free(s1);
    s1 = s2;
    s2 = NULL;
    /* the read of an unchanged registry gives the stamp changed() reports */
    CU_ASSERT_EQUAL(rs_feast_sql_read(h, &data, &len, &s2, &err), RS_OK);
    CU_ASSERT_STRING_EQUAL(s1, s2);
    free(data);
    free(s2);
    s2 = NULL;
    /* a table disappears and comes back (a Feast upgrade or migration) */
    CU_ASSERT(sql("DROP TABLE %s.label_views", schema));
    CU_ASSERT_EQUAL(rs_feast_sql_changed(h, s1, &s2, &err), RS_OK);
    free(s2);
    s2 = NULL;
    CU_ASSERT_EQUAL(rs_feast_sql_read(h, &data, &len, &s2, &err), RS_OK);
    free(data);
    CU_ASSERT_EQUAL(rs_feast_sql_tables(h, &names), 13);
    CU_ASSERT(sql("CREATE TABLE %s.label_views (label_view_name VARCHAR(255) NOT NULL, project_id VARCHAR(255) NOT "
                  "NULL, last_updated_timestamp BIGINT NOT NULL, label_view_proto BYTEA NOT NULL, user_metadata BYTEA, "
                  "PRIMARY KEY (label_view_name, project_id))",
                  schema));
    free(s1);
    CU_ASSERT_EQUAL(rs_feast_sql_changed(h, s2, &s1, &err), RS_OK);
    free(s1);
    s1 = NULL;
    CU_ASSERT_EQUAL(rs_feast_sql_read(h, &data, &len, &s1, &err), RS_OK);
    free(data);
    CU_ASSERT_EQUAL(rs_feast_sql_tables(h, &names), 14);
    free(s0);
    free(s1);
    free(s2);
    rs_feast_sql_close(h);
    rs_registry_free(fx);
}

static void t_older_schema(void)
{
    if (!need_server())
        return;
    /* only the tables an older Feast had (no projects, permissions, label_views, history) */
    const char *shared = rs_test_shared_dir();
    if (!shared)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/fixtures/registries/malcolmk181__feast-dqm-tutorial__data_registry.db", shared);
    rs_registry *fx = NULL;
    CU_ASSERT_EQUAL_FATAL(rs_registry_load_file(path, NULL, &fx, NULL), RS_OK);
    fill_result fr;
    CU_ASSERT_FATAL(fill(schema_old, fx, false, &fr));
    char *u = with_search_path(PGURL, schema_old);
    uint8_t *data = NULL;
    size_t len = 0;
    CU_ASSERT_FATAL(read_source(u, &data, &len, NULL));
    rs_registry *got = NULL;
    CU_ASSERT_EQUAL_FATAL(rs_registry_decode(data, len, NULL, &got, NULL), RS_OK);
    uint8_t d1[RS_DIGEST_LEN], d2[RS_DIGEST_LEN];
    rs_registry_content_digest(fx, d1);
    rs_registry_content_digest(got, d2);
    CU_ASSERT_EQUAL(fr.skipped, 0);
    CU_ASSERT(memcmp(d1, d2, RS_DIGEST_LEN) == 0);
    rs_feast_sql *h = NULL;
    CU_ASSERT_EQUAL(rs_feast_sql_open(u, NULL, &h, NULL), RS_OK);
    const char *const *names = NULL;
    CU_ASSERT_EQUAL(rs_feast_sql_tables(h, &names), 10);
    rs_feast_sql_close(h);
    free(data);
    free(u);
    rs_registry_free(got);
    rs_registry_free(fx);
}

static void t_no_tables(void)
{
    if (!need_server())
        return;
    char *u = with_search_path(PGURL, schema_empty);
    rs_feast_sql *h = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL(rs_feast_sql_open(u, NULL, &h, &err), RS_ENOTFOUND);
    CU_ASSERT(strstr(err.msg, "search_path") != NULL);
    CU_ASSERT_PTR_NULL(h);
    free(u);
}

static void t_urls(void)
{
    if (!need_server())
        return;
    /* the SQLAlchemy form from feature_store.yaml */
    const char *rest = strstr(src_url, "://");
    char u[2048];
    snprintf(u, sizeof u, "postgresql+psycopg2%s", rest);
    rs_feast_sql *h = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL(rs_feast_sql_open(u, NULL, &h, &err), RS_OK);
    CU_ASSERT(strstr(rs_feast_sql_url(h), "postgresql://") == rs_feast_sql_url(h));
    const char *a = strstr(PGURL, "://") + 3, *at = strchr(a, '@'), *c = strchr(a, ':');
    if (at && c && c < at) {
        char pw[128];
        snprintf(pw, sizeof pw, "%.*s", (int)(at - c - 1), c + 1);
        CU_ASSERT_PTR_NULL(strstr(rs_feast_sql_url(h), pw));
    }
    rs_feast_sql_close(h);
    h = NULL;
    CU_ASSERT_EQUAL(rs_feast_sql_open("sqlite:///x/registry.db", NULL, &h, &err), RS_EINVALID); /* not Feast SQL */
    /* wrong password: AUTH */
    const char *bad = getenv("RS_TEST_PG_BAD_URL");
    if (bad) {
        CU_ASSERT_EQUAL(rs_feast_sql_open(bad, NULL, &h, &err), RS_EAUTH);
        CU_ASSERT(strstr(err.msg, "password authentication failed") != NULL);
    }
}

static void t_version_history_numeric_time(void)
{
    if (!need_server())
        return;
    /* created_timestamp as BIGINT epoch seconds (the other timestamps' style) */
    char sch[80];
    snprintf(sch, sizeof sch, "%s_num", schema);
    CU_ASSERT_FATAL(sql("CREATE SCHEMA %s", sch));
    CU_ASSERT(sql("CREATE TABLE %s.feature_view_version_history (feature_view_name VARCHAR(255), project_id "
                  "VARCHAR(255), version_number INTEGER, feature_view_type VARCHAR(255), feature_view_proto BYTEA, "
                  "created_timestamp BIGINT, description TEXT, version_id VARCHAR(255))",
                  sch));
    CU_ASSERT(sql("INSERT INTO %s.feature_view_version_history VALUES ('fv', 'p', 2, 'feature_view', '\\x0102', "
                  "1771289482, 'd', 'v2'), ('fv', 'p', -1, '', NULL, NULL, NULL, NULL)",
                  sch));
    char *u = with_search_path(PGURL, sch);
    uint8_t *data = NULL;
    size_t len = 0;
    CU_ASSERT_FATAL(read_source(u, &data, &len, NULL));
    /* field 18 { records 1 {...version -1...}, records 1 {...} } ordered by version_number */
    static const uint8_t rec_neg[] = {0x0a, 0x02, 'f', 'v', 0x12, 0x01, 'p', 0x18, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff, 0x01};
    static const uint8_t rec_2[] = {0x0a, 0x02, 'f', 'v', 0x12, 0x01, 'p', 0x18, 0x02, 0x22, 0x0c, 'f', 'e', 'a',
                                    't', 'u', 'r', 'e', '_', 'v', 'i', 'e', 'w', 0x2a, 0x02, 0x01, 0x02, 0x32, 0x06,
                                    0x08, 0x8a, 0xf7, 0xce, 0xcc, 0x06, 0x3a, 0x01, 'd', 0x42, 0x02, 'v', '2'};
    rs_buf want = {0};
    rs_buf_varint(&want, (18 << 3) | 2);
    rs_buf_varint(&want, 2 + sizeof rec_neg + 2 + sizeof rec_2);
    rs_buf_putc(&want, 0x0a);
    rs_buf_varint(&want, sizeof rec_neg);
    rs_buf_append(&want, rec_neg, sizeof rec_neg);
    rs_buf_putc(&want, 0x0a);
    rs_buf_varint(&want, sizeof rec_2);
    rs_buf_append(&want, rec_2, sizeof rec_2);
    CU_ASSERT(len == want.len && memcmp(data, want.data, len) == 0);
    if (len != want.len || memcmp(data, want.data, len) != 0) {
        char hex[1024];
        rs_hex(data, len < 500 ? len : 500, hex);
        fprintf(stderr, "got  %s\n", hex);
        rs_hex(want.data, want.len, hex);
        fprintf(stderr, "want %s\n", hex);
    }
    rs_buf_free(&want);
    free(data);
    free(u);
    sql("DROP SCHEMA %s CASCADE", sch);
}


/* Objects stored without their project (or with another one) get the row's project_id, as
 * Feast's own proto() stamps them; the field lands in field-number order. */
static void t_project_stamping(void)
{
    if (!need_server())
        return;
    char sch[80];
    snprintf(sch, sizeof sch, "%s_stamp", schema);
    CU_ASSERT_FATAL(create_feast_tables(sch, false));
    /* entity spec {name "abc"}; data source {name "ds1"}; data source {name "ds2", project "q", meta {}} */
    CU_ASSERT(sql("INSERT INTO %s.entities VALUES ('abc', 'p', 1, '\\x0a050a03616263')", sch));
    CU_ASSERT(sql("INSERT INTO %s.data_sources VALUES ('ds1', 'p', 1, '\\xa20103647331'), "
                  "('ds2', 'p', 1, '\\xa20103647332aa010171920300')",
                  sch));
    char *u = with_search_path(PGURL, sch);
    uint8_t *data = NULL;
    size_t len = 0;
    CU_ASSERT_FATAL(read_source(u, &data, &len, NULL));
    rs_registry *got = NULL;
    rs_error err = {0};
    int rc = rs_registry_decode(data, len, NULL, &got, &err);
    if (rc)
        fprintf(stderr, "decode: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    static const uint8_t ent[] = {0x0a, 0x08, 0x0a, 0x03, 'a', 'b', 'c', 0x4a, 0x01, 'p'};
    static const uint8_t ds1[] = {0xa2, 0x01, 0x03, 'd', 's', '1', 0xaa, 0x01, 0x01, 'p'};
    static const uint8_t ds2[] = {0xa2, 0x01, 0x03, 'd', 's', '2', 0xaa, 0x01, 0x01, 'p', 0x92, 0x03, 0x00};
    const rs_object *o = rs_registry_find(got, RS_KIND_ENTITIES, "p", "abc", 0);
    CU_ASSERT(o && o->len == sizeof ent && memcmp(o->data, ent, sizeof ent) == 0);
    o = rs_registry_find(got, RS_KIND_DATA_SOURCES, "p", "ds1", 0);
    CU_ASSERT(o && o->len == sizeof ds1 && memcmp(o->data, ds1, sizeof ds1) == 0);
    o = rs_registry_find(got, RS_KIND_DATA_SOURCES, "p", "ds2", 0);
    CU_ASSERT(o && o->len == sizeof ds2 && memcmp(o->data, ds2, sizeof ds2) == 0);
    rs_registry_free(got);
    free(data);
    free(u);
    sql("DROP SCHEMA %s CASCADE", sch);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("feast sql registry source", setup, teardown);
    CU_add_test(s, "every fixture through Feast's tables and back", t_fixtures);
    CU_add_test(s, "change check", t_change_check);
    CU_add_test(s, "older schema without the newer tables", t_older_schema);
    CU_add_test(s, "no Feast tables -> NOTFOUND", t_no_tables);
    CU_add_test(s, "URLs and auth", t_urls);
    CU_add_test(s, "version history with a numeric created_timestamp", t_version_history_numeric_time);
    CU_add_test(s, "objects stamped with their row's project", t_project_stamping);
    return rs_test_run();
}
