/* test_feast_sql_mysql.c: the Feast SQL registry source on MySQL (MariaDB from
 * scripts/mysql-server.sh: RS_TEST_MYSQL_URL, RS_TEST_MYSQL_ADMIN_URL; loud SKIP without them, a
 * failure with RS_REQUIRE_SERVERS=1).
 *
 * The tables are created the way Feast's SQLAlchemy metadata creates them on MySQL
 * (sdk/python/feast/infra/registry/sql.py): String(255) -> VARCHAR(255) in the database's default
 * character set and (case-insensitive) collation, BigInteger -> BIGINT, Integer -> INTEGER, Text ->
 * TEXT, and the serialized protos as LONGBLOB (Feast since 2026-07) or BLOB (LargeBinary's MySQL
 * type, what older Feast created), with the same primary keys and project_id indexes. The source
 * reads them with an account that has SELECT only.
 *
 * Checks: every fixture registry through the tables and back (objects byte for byte, content
 * digest equal, the same bytes whatever the insertion order); a generated registry whose feature
 * views are larger than 64 KB and one larger than 1 MB, also through a session whose
 * max_allowed_packet is 1 MB (the whole bytes, never a cut value); BLOB columns: a strict server
 * refuses the long proto, a non-strict one cuts it and the source refuses to pass it on (naming the
 * table, column and the ALTER TABLE that fixes it); the one-query change check (insert, same-second
 * update, delete, a dropped and re-created table); the older table set; no tables -> NOTFOUND;
 * SQLAlchemy URLs; version-history created_timestamp as BIGINT seconds and as DATETIME(6).
 */
#include <mysql.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feast_sql.h"
#include "mysql_impl.h"
#include "rs_buf.h"
#include "rs_generate.h"
#include "rs_registry.h"
#include "rs_test.h"

static MYSQL *side;          /* rs_admin */
static char db_main[64], db_old[64], db_none[64], db_blob[64], db_hist[64];
static char *src_url;        /* the SELECT-only account on db_main */
static char user_pw[128];
static char hostport[256];   /* "127.0.0.1:PORT" */

typedef struct otable {
    uint32_t kind;
    const char *table, *name_col, *proto_col, *extra;
} otable;

/* Feast's object tables (name and proto columns as sql.py names them). */
static const otable OT[] = {
    {1, "entities", "entity_name", "entity_proto", ""},
    {6, "feature_views", "feature_view_name", "feature_view_proto",
     ", materialized_intervals %1$s NULL, user_metadata %1$s NULL"},
    {7, "feature_services", "feature_service_name", "feature_service_proto", ""},
    {8, "on_demand_feature_views", "feature_view_name", "feature_view_proto", ", user_metadata %1$s NULL"},
    {11, "saved_datasets", "saved_dataset_name", "saved_dataset_proto", ""},
    {12, "data_sources", "data_source_name", "data_source_proto", ""},
    {13, "validation_references", "validation_reference_name", "validation_reference_proto", ""},
    {14, "stream_feature_views", "feature_view_name", "feature_view_proto", ", user_metadata %1$s NULL"},
    {16, "permissions", "permission_name", "permission_proto", ""},
    {19, "label_views", "feature_view_name", "feature_view_proto", ", user_metadata %1$s NULL"},
};
#define NOT (sizeof OT / sizeof OT[0])

static bool sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool sql(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *q = NULL;
    if (vasprintf(&q, fmt, ap) < 0)
        q = NULL;
    va_end(ap);
    if (!q)
        return false;
    bool ok = mysql_real_query(side, q, strlen(q)) == 0;
    if (!ok)
        fprintf(stderr, "sql failed: %.300s: %s\n", q, mysql_error(side));
    MYSQL_RES *r = mysql_store_result(side);
    mysql_free_result(r);
    free(q);
    return ok;
}

static bool is_new_table(const char *t)
{
    return strcmp(t, "permissions") == 0 || strcmp(t, "label_views") == 0;
}

/* Feast's tables in database db, as SQLAlchemy creates them on MySQL. blob: the proto columns'
 * type (LONGBLOB or BLOB); with_new: also projects, permissions, label_views and the version
 * history (newer Feast). */
static bool create_feast_tables(const char *db, const char *blob, bool with_new)
{
    bool ok = sql("CREATE DATABASE `%s`", db) && sql("USE `%s`", db);
    for (size_t i = 0; ok && i < NOT; i++) {
        if (!with_new && is_new_table(OT[i].table))
            continue;
        char extra[256];
        snprintf(extra, sizeof extra, OT[i].extra, blob);
        ok = sql("CREATE TABLE %s (%s VARCHAR(255) NOT NULL, project_id VARCHAR(255) NOT NULL, "
                 "last_updated_timestamp BIGINT NOT NULL, %s %s NOT NULL%s, PRIMARY KEY (%s, project_id))",
                 OT[i].table, OT[i].name_col, OT[i].proto_col, blob, extra, OT[i].name_col) &&
             sql("CREATE INDEX idx_%s_project_id ON %s (project_id)", OT[i].table, OT[i].table);
    }
    ok = ok && sql("CREATE TABLE managed_infra (infra_name VARCHAR(255) NOT NULL, project_id VARCHAR(255) NOT NULL, "
                   "last_updated_timestamp BIGINT NOT NULL, infra_proto %s NOT NULL, PRIMARY KEY (infra_name, "
                   "project_id))",
                   blob);
    ok = ok && sql("CREATE TABLE feast_metadata (project_id VARCHAR(255) NOT NULL, metadata_key VARCHAR(50) NOT NULL, "
                   "metadata_value TEXT NOT NULL, last_updated_timestamp BIGINT NOT NULL, PRIMARY KEY (project_id, "
                   "metadata_key))");
    if (with_new) {
        ok = ok && sql("CREATE TABLE projects (project_id VARCHAR(255) NOT NULL, project_name VARCHAR(255) NOT NULL, "
                       "last_updated_timestamp BIGINT NOT NULL, project_proto %s NOT NULL, PRIMARY KEY (project_id))",
                       blob);
        ok = ok && sql("CREATE TABLE feature_view_version_history (feature_view_name VARCHAR(255) NOT NULL, "
                       "project_id VARCHAR(255) NOT NULL, version_number INTEGER NOT NULL, feature_view_type "
                       "VARCHAR(50) NOT NULL, feature_view_proto %s NOT NULL, created_timestamp BIGINT NOT NULL, "
                       "description TEXT, version_id VARCHAR(36) NOT NULL, PRIMARY KEY (feature_view_name, "
                       "project_id, version_number))",
                       blob);
    }
    return ok && sql("GRANT SELECT ON `%s`.* TO 'regsync'@'%%'", db);
}

/* The source URL for database db, as the SELECT-only account. */
static char *url_for(const char *db, const char *scheme)
{
    return rs_test_fmt("%sregsync:%s@%s/%s?ssl-mode=DISABLED", scheme, user_pw, hostport, db);
}

static int setup(void)
{
    const char *u = getenv("RS_TEST_MYSQL_URL"), *admin = getenv("RS_TEST_MYSQL_ADMIN_URL");
    if (!u || !*u || !admin || !*admin)
        return 0;
    rs_my_target t;
    if (rs_my_parse_url(u, true, false, &t, NULL) != RS_OK)
        return 1;
    snprintf(user_pw, sizeof user_pw, "%s", t.password ? t.password : "");
    snprintf(hostport, sizeof hostport, "%s:%u", t.host ? t.host : "127.0.0.1", t.port);
    rs_my_target_free(&t);
    if (rs_my_parse_url(admin, true, false, &t, NULL) != RS_OK)
        return 1;
    side = mysql_init(NULL);
    unsigned proto = MYSQL_PROTOCOL_TCP;
    mysql_optionsv(side, MYSQL_OPT_PROTOCOL, &proto);
    if (!mysql_real_connect(side, t.host, t.user, t.password, t.db, t.port, NULL, 0)) {
        fprintf(stderr, "admin connection: %s\n", mysql_error(side));
        rs_my_target_free(&t);
        return 1;
    }
    rs_my_target_free(&t);
    long pid = (long)getpid();
    snprintf(db_main, sizeof db_main, "feast_t%ld", pid);
    snprintf(db_old, sizeof db_old, "feast_old%ld", pid);
    snprintf(db_none, sizeof db_none, "feast_none%ld", pid);
    snprintf(db_blob, sizeof db_blob, "feast_blob%ld", pid);
    snprintf(db_hist, sizeof db_hist, "feast_hist%ld", pid);
    if (!create_feast_tables(db_main, "LONGBLOB", true) || !create_feast_tables(db_old, "BLOB", false) ||
        !sql("CREATE DATABASE `%s`", db_none) || !sql("GRANT SELECT ON `%s`.* TO 'regsync'@'%%'", db_none))
        return 1;
    src_url = url_for(db_main, "mysql://");
    return 0;
}

static int teardown(void)
{
    if (side) {
        const char *dbs[] = {db_main, db_old, db_none, db_blob, db_hist};
        for (size_t i = 0; i < 5; i++)
            if (dbs[i][0]) {
                sql("DROP DATABASE IF EXISTS `%s`", dbs[i]);
                char q[160];
                snprintf(q, sizeof q, "REVOKE ALL PRIVILEGES ON `%s`.* FROM 'regsync'@'%%'", dbs[i]);
                mysql_query(side, q); /* fails for a database that was never made: fine */
            }
        mysql_close(side);
    }
    free(src_url);
    return 0;
}

static bool need_server(void)
{
    if (side)
        return true;
    if (!rs_test_env("RS_TEST_MYSQL_URL") || !rs_test_env("RS_TEST_MYSQL_ADMIN_URL")) {
        /* every call: the test that asks is recorded as skipped (the line prints once) */
        rs_test_skip("test_feast_sql_mysql (every test)",
                         "RS_TEST_MYSQL_URL not set (eval \"$(scripts/mysql-server.sh env)\")");
    }
    return false;
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

/* 'escaped string' */
static void put_str(rs_buf *b, const char *s, size_t n)
{
    char *e = malloc(2 * n + 1);
    unsigned long l = mysql_real_escape_string(side, e, s, (unsigned long)n);
    rs_buf_putc(b, '\'');
    rs_buf_append(b, e, l);
    rs_buf_putc(b, '\'');
    free(e);
}

/* X'hex' */
static void put_hex(rs_buf *b, const void *p, size_t n)
{
    char *e = malloc(2 * n + 1);
    unsigned long l = mysql_hex_string(e, p, (unsigned long)n);
    rs_buf_printf(b, "X'");
    rs_buf_append(b, e, l);
    rs_buf_putc(b, '\'');
    free(e);
}

typedef enum { INS_OK, INS_DUP, INS_TOO_LONG, INS_FAIL } ins_rc;

static ins_rc run_insert(rs_buf *b)
{
    rs_buf_cstr(b);
    if (mysql_real_query(side, (const char *)b->data, b->len) == 0)
        return INS_OK;
    if (mysql_errno(side) == 1062)
        return INS_DUP; /* names equal under the case-insensitive collation */
    if (mysql_errno(side) == 1406)
        return INS_TOO_LONG; /* e.g. a version_id longer than Feast's VARCHAR(36) */
    fprintf(stderr, "insert failed: %.200s: %s\n", (const char *)b->data, mysql_error(side));
    return INS_FAIL;
}

static const otable *table_of(uint32_t kind)
{
    for (size_t i = 0; i < NOT; i++)
        if (OT[i].kind == kind)
            return &OT[i];
    return NULL;
}

/* One FeatureViewVersionRecord -> one row of Feast's current layout (created_timestamp BIGINT
 * seconds, NOT NULL strings); false in *representable when the record holds what those columns
 * cannot (unknown fields, a fraction of a second). */
static ins_rc insert_version_record(const uint8_t *rec, size_t len, bool *representable)
{
    const uint8_t *strs[8] = {0};
    size_t lens[8] = {0};
    long long ver = 0, sec = 0;
    const uint8_t *p = rec, *end = rec + len;
    wfield f;
    bool bad = false;
    while (next_field(&p, end, &f, &bad)) {
        if (f.num >= 1 && f.num <= 8 && f.num != 3 && f.num != 6 && f.wt == 2) {
            strs[f.num - 1] = f.p;
            lens[f.num - 1] = f.n;
        } else if (f.num == 3 && f.wt == 0) {
            ver = (int32_t)f.v;
        } else if (f.num == 6 && f.wt == 2) {
            const uint8_t *q = f.p, *qe = f.p + f.n;
            wfield t;
            while (next_field(&q, qe, &t, &bad)) {
                if (t.num == 1 && t.wt == 0)
                    sec = (int64_t)t.v;
                else
                    *representable = false; /* nanos: BIGINT seconds cannot hold them */
            }
        } else {
            *representable = false;
        }
    }
    if (bad)
        return INS_FAIL;
    rs_buf b = {0};
    rs_buf_printf(&b, "INSERT INTO feature_view_version_history VALUES (");
    for (int c = 0; c < 8; c++) {
        if (c)
            rs_buf_printf(&b, ", ");
        if (c == 2)
            rs_buf_printf(&b, "%lld", ver);
        else if (c == 5)
            rs_buf_printf(&b, "%lld", sec);
        else if (c == 4)
            put_hex(&b, strs[4] ? (const void *)strs[4] : "", lens[4]);
        else if (c == 6 && !strs[6])
            rs_buf_printf(&b, "NULL");
        else
            put_str(&b, strs[c] ? (const char *)strs[c] : "", lens[c]);
    }
    rs_buf_printf(&b, ")");
    ins_rc rc = run_insert(&b);
    rs_buf_free(&b);
    return rc;
}

typedef struct fill_result {
    size_t rows;
    size_t skipped;        /* objects the SQL layout cannot hold (or not the way they are) */
    bool skipped_kind[64];
    size_t case_dups;      /* names equal under the collation */
} fill_result;

/* Empties db's tables and fills them from registry r; reverse: insert in reverse order. */
static bool fill(const char *db, const rs_registry *r, bool reverse, fill_result *fr)
{
    memset(fr, 0, sizeof *fr);
    bool ok = sql("USE `%s`", db);
    const char *others[] = {"managed_infra", "feast_metadata", "projects", "feature_view_version_history"};
    for (size_t i = 0; ok && i < NOT + 4; i++) {
        char q[128];
        snprintf(q, sizeof q, "DELETE FROM %s", i < NOT ? OT[i].table : others[i - NOT]);
        if (mysql_query(side, q) != 0 && mysql_errno(side) != 1146) /* an older layout lacks some */
            ok = false;
    }
    size_t np = 0;
    const char **projects = rs_registry_projects(r, &np);
    char infra_project[256];
    snprintf(infra_project, sizeof infra_project, "%s", np && projects ? projects[0] : "");
    free(projects);
    size_t n = rs_registry_count(r);
    for (size_t j = 0; ok && j < n; j++) {
        size_t idx = reverse ? n - 1 - j : j;
        const rs_object *o = rs_registry_at(r, idx);
        long long lut = 1700000000LL + (long long)idx;
        if (o->kind == RS_KIND_REGISTRY_SCHEMA_VERSION || o->kind == RS_KIND_VERSION_ID ||
            o->kind == RS_KIND_LAST_UPDATED)
            continue;
        const otable *ot = table_of(o->kind);
        bool representable = o->ordinal == 0;
        rs_buf b = {0};
        ins_rc rc = INS_OK;
        if (representable && ot) {
            rs_buf_printf(&b, "INSERT INTO %s (%s, project_id, last_updated_timestamp, %s) VALUES (", ot->table,
                          ot->name_col, ot->proto_col);
            put_str(&b, o->name, strlen(o->name));
            rs_buf_printf(&b, ", ");
            put_str(&b, o->project, strlen(o->project));
            rs_buf_printf(&b, ", %lld, ", lut);
            put_hex(&b, o->data, o->len);
            rs_buf_printf(&b, ")");
            rc = run_insert(&b);
        } else if (representable && o->kind == RS_KIND_PROJECTS) {
            rs_buf_printf(&b, "INSERT INTO projects VALUES (");
            put_str(&b, o->name, strlen(o->name));
            rs_buf_printf(&b, ", ");
            put_str(&b, o->name, strlen(o->name));
            rs_buf_printf(&b, ", %lld, ", lut);
            put_hex(&b, o->data, o->len);
            rs_buf_printf(&b, ")");
            rc = run_insert(&b);
        } else if (representable && o->kind == RS_KIND_INFRA) {
            rs_buf_printf(&b, "INSERT INTO managed_infra VALUES ('infra_obj', ");
            put_str(&b, infra_project, strlen(infra_project));
            rs_buf_printf(&b, ", %lld, ", lut);
            put_hex(&b, o->data, o->len);
            rs_buf_printf(&b, ")");
            rc = run_insert(&b);
        } else if (representable && o->kind == RS_KIND_PROJECT_METADATA) {
            /* ProjectMetadata {project 1, project_uuid 2}: Feast keeps the uuid in feast_metadata */
            const uint8_t *proj = NULL, *uuid = NULL;
            size_t pl = 0, ul = 0;
            const uint8_t *p = o->data, *end = o->data + o->len;
            wfield f;
            bool bad = false;
            while (next_field(&p, end, &f, &bad)) {
                if (f.num == 1 && f.wt == 2) {
                    proj = f.p;
                    pl = f.n;
                } else if (f.num == 2 && f.wt == 2) {
                    uuid = f.p;
                    ul = f.n;
                } else {
                    representable = false;
                }
            }
            if (representable && !bad) {
                rs_buf_printf(&b, "INSERT INTO feast_metadata VALUES (");
                put_str(&b, proj ? (const char *)proj : "", pl);
                rs_buf_printf(&b, ", 'project_uuid', ");
                put_str(&b, uuid ? (const char *)uuid : "", ul);
                rs_buf_printf(&b, ", %lld)", lut);
                rc = run_insert(&b);
            } else {
                representable = false;
            }
        } else if (representable && o->kind == RS_KIND_FEATURE_VIEW_VERSION_HISTORY) {
            const uint8_t *p = o->data, *end = o->data + o->len;
            wfield f;
            bool bad = false;
            bool too_long = false;
            while ((rc == INS_OK || rc == INS_TOO_LONG) && next_field(&p, end, &f, &bad)) {
                if (f.num == 1 && f.wt == 2) {
                    rc = insert_version_record(f.p, f.n, &representable);
                    too_long = too_long || rc == INS_TOO_LONG;
                    fr->rows++;
                } else {
                    representable = false;
                }
            }
            if (bad || too_long)
                representable = false;
        } else {
            representable = false;
        }
        rs_buf_free(&b);
        if (rc == INS_FAIL) {
            ok = false;
            break;
        }
        if (rc == INS_DUP) {
            fr->case_dups++;
            representable = false;
        }
        if (rc == INS_TOO_LONG)
            representable = false;
        if (representable) {
            fr->rows++;
            continue;
        }
        fr->skipped++;
        fr->skipped_kind[o->kind < 64 ? o->kind : 0] = true;
    }
    return ok;
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

/* Every stored object of fx is in got, byte for byte; nothing else but last_updated. */
static void compare(const char *base, const rs_registry *fx, const rs_registry *got, const fill_result *fr,
                    size_t *found_out, size_t *exact_out)
{
    size_t want = 0, found = 0, exact = 0;
    for (size_t j = 0; j < rs_registry_count(fx); j++) {
        const rs_object *o = rs_registry_at(fx, j);
        if (o->kind == RS_KIND_REGISTRY_SCHEMA_VERSION || o->kind == RS_KIND_VERSION_ID ||
            o->kind == RS_KIND_LAST_UPDATED || o->ordinal > 0 || (o->kind < 64 && fr->skipped_kind[o->kind]))
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
    size_t extra = 0;
    for (size_t j = 0; j < rs_registry_count(got); j++) {
        uint32_t k = rs_registry_at(got, j)->kind;
        if (k != RS_KIND_LAST_UPDATED && !(k < 64 && fr->skipped_kind[k]))
            extra++;
    }
    CU_ASSERT_EQUAL(extra, want);
    *found_out += found;
    *exact_out += exact;
}

static void t_fixtures(void)
{
    if (!need_server())
        return;
    const char *shared = rs_test_shared_dir();
    if (!shared) {
        rs_test_skip("test_feast_sql_mysql fixtures", "../shared/fixtures/registries not found");
        if (rs_test_servers_required())
            CU_FAIL("RS_REQUIRE_SERVERS=1 but the fixtures are missing");
        return;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/fixtures/registries", shared);
    size_t nf = 0;
    char **files = rs_test_list_dir(dir, ".db", &nf);
    CU_ASSERT_FATAL(nf > 0);
    size_t digest_equal = 0, compared = 0, partial = 0, exact = 0;
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
        CU_ASSERT_FATAL(fill(db_main, fx, false, &fr));
        uint8_t *data = NULL;
        size_t len = 0;
        CU_ASSERT_FATAL(read_source(src_url, &data, &len, NULL));
        rs_registry *got = NULL;
        int rc = rs_registry_decode(data, len, NULL, &got, &err);
        if (rc)
            fprintf(stderr, "%s: assembled registry does not decode: %s\n", base, err.msg);
        CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
        compare(base, fx, got, &fr, &compared, &exact);
        if (fr.skipped == 0) {
            uint8_t d1[RS_DIGEST_LEN], d2[RS_DIGEST_LEN];
            rs_registry_content_digest(fx, d1);
            rs_registry_content_digest(got, d2);
            CU_ASSERT(memcmp(d1, d2, RS_DIGEST_LEN) == 0);
            digest_equal += memcmp(d1, d2, RS_DIGEST_LEN) == 0;
        } else {
            partial++;
            fprintf(stderr, "  (%s: %zu objects the MySQL layout cannot hold (%zu names equal under the collation), "
                            "left out of the comparison)\n",
                    base, fr.skipped, fr.case_dups);
        }
        /* deterministic: the same rows inserted in reverse order give the same bytes */
        fill_result fr2;
        CU_ASSERT_FATAL(fill(db_main, fx, true, &fr2));
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
            nf, digest_equal, partial, compared, exact);
    CU_ASSERT(digest_equal + partial == nf);
    CU_ASSERT(digest_equal >= nf - 2);
    rs_test_free_list(files, nf);
}

/* A generated registry with feature views of ~features_per_view features (regsync-gen's
 * generator). */
static rs_registry *generated(unsigned features_per_view, unsigned views, uint8_t **bytes, size_t *len)
{
    rs_gen_params p;
    rs_gen_defaults(&p);
    p.seed = 15;
    p.projects = 1;
    p.feature_views = views;
    p.features_per_view = features_per_view;
    p.on_demand_views = 1;
    p.stream_views = 1;
    p.registry_fields = false;
    if (rs_generate(&p, bytes, len, NULL) != RS_OK)
        return NULL;
    rs_registry *r = NULL;
    if (rs_registry_decode(*bytes, *len, NULL, &r, NULL) != RS_OK)
        return NULL;
    return r;
}

static size_t largest(const rs_registry *r, uint32_t kind)
{
    size_t m = 0;
    for (size_t i = 0; i < rs_registry_count(r); i++) {
        const rs_object *o = rs_registry_at(r, i);
        if (o->kind == kind && o->len > m)
            m = o->len;
    }
    return m;
}

static void t_large_protos(void)
{
    if (!need_server())
        return;
    uint8_t *bytes = NULL;
    size_t blen = 0;
    rs_registry *fx = generated(30000, 3, &bytes, &blen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx);
    size_t big = largest(fx, RS_KIND_FEATURE_VIEWS);
    fprintf(stderr, "  (generated registry: %zu bytes, largest feature view %zu bytes)\n", blen, big);
    CU_ASSERT_FATAL(big > (1u << 20)); /* larger than BLOB's 64 KB and than the 1 MB packet below */
    fill_result fr;
    CU_ASSERT_FATAL(fill(db_main, fx, false, &fr));
    CU_ASSERT_EQUAL(fr.skipped, 0);
    uint8_t *data = NULL;
    size_t len = 0;
    CU_ASSERT_FATAL(read_source(src_url, &data, &len, NULL));
    rs_registry *got = NULL;
    CU_ASSERT_EQUAL_FATAL(rs_registry_decode(data, len, NULL, &got, NULL), RS_OK);
    size_t found = 0, exact = 0;
    compare("generated", fx, got, &fr, &found, &exact);
    CU_ASSERT_EQUAL(exact, found);
    uint8_t d1[RS_DIGEST_LEN], d2[RS_DIGEST_LEN];
    rs_registry_content_digest(fx, d1);
    rs_registry_content_digest(got, d2);
    CU_ASSERT(memcmp(d1, d2, RS_DIGEST_LEN) == 0);
    rs_registry_free(got);
    /* a session whose max_allowed_packet (1 MB) is smaller than one row: the server sends the
     * rows anyway (a receiver enforces its own limit; the source's is 1 GB), so the bytes are
     * the same, never cut */
    long long old = -1;
    if (mysql_query(side, "SELECT @@GLOBAL.max_allowed_packet") == 0) {
        MYSQL_RES *r = mysql_store_result(side);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        old = row ? atoll(row[0]) : -1;
        mysql_free_result(r);
    }
    CU_ASSERT_FATAL(old > 0);
    CU_ASSERT_FATAL(sql("SET GLOBAL max_allowed_packet = %d", 1 << 20));
    rs_feast_sql *h = NULL;
    rs_error err = {0};
    int rc = rs_feast_sql_open(src_url, NULL, &h, &err);
    sql("SET GLOBAL max_allowed_packet = %lld", old);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    uint8_t *data2 = NULL;
    size_t len2 = 0;
    rc = rs_feast_sql_read(h, &data2, &len2, NULL, &err);
    if (rc)
        fprintf(stderr, "read with a 1 MB packet: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    CU_ASSERT(len2 == len && data2 && memcmp(data, data2, len) == 0);
    rs_feast_sql_close(h);
    free(data2);
    free(data);
    free(bytes);
    rs_registry_free(fx);
}

/* Older Feast created the proto columns as BLOB (64 KB). */
static void t_blob_columns(void)
{
    if (!need_server())
        return;
    uint8_t *bytes = NULL;
    size_t blen = 0;
    rs_registry *fx = generated(2500, 2, &bytes, &blen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx);
    size_t big = largest(fx, RS_KIND_FEATURE_VIEWS);
    CU_ASSERT_FATAL(big > 65535);
    CU_ASSERT_FATAL(create_feast_tables(db_blob, "BLOB", true));
    /* strict mode (the server's default): the long proto is refused when written */
    fill_result fr;
    CU_ASSERT_FATAL(fill(db_blob, fx, false, &fr));
    CU_ASSERT(fr.skipped > 0 && fr.skipped_kind[RS_KIND_FEATURE_VIEWS]);
    fprintf(stderr, "  (strict server, BLOB column, a %zu-byte feature view: the insert above was refused)\n", big);
    /* without strict mode the server cuts it to 65535 bytes: the source refuses to pass it on */
    CU_ASSERT_FATAL(sql("SET SESSION sql_mode = ''"));
    CU_ASSERT_FATAL(fill(db_blob, fx, false, &fr));
    CU_ASSERT(sql("SET SESSION sql_mode = DEFAULT"));
    char *u = url_for(db_blob, "mysql://");
    rs_feast_sql *h = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_feast_sql_open(u, NULL, &h, &err), RS_OK);
    uint8_t *data = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(rs_feast_sql_read(h, &data, &len, NULL, &err), RS_ECORRUPT);
    CU_ASSERT_PTR_NULL(data);
    CU_ASSERT(strstr(err.msg, "feature_views.feature_view_proto") != NULL);
    CU_ASSERT(strstr(err.msg, "65535") != NULL);
    CU_ASSERT(strstr(err.msg, "LONGBLOB") != NULL);
    fprintf(stderr, "  (non-strict server, cut value: %s)\n", err.msg);
    rs_feast_sql_close(h);
    /* the documented fix: widen the columns, apply again */
    CU_ASSERT(sql("ALTER TABLE `%s`.feature_views MODIFY feature_view_proto LONGBLOB NOT NULL", db_blob));
    CU_ASSERT_FATAL(fill(db_blob, fx, false, &fr));
    CU_ASSERT_EQUAL_FATAL(rs_feast_sql_open(u, NULL, &h, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_feast_sql_read(h, &data, &len, NULL, &err), RS_OK);
    rs_registry *got = NULL;
    CU_ASSERT_EQUAL(rs_registry_decode(data, len, NULL, &got, NULL), RS_OK);
    size_t found = 0, exact = 0;
    compare("blob", fx, got, &fr, &found, &exact);
    rs_registry_free(got);
    free(data);
    rs_feast_sql_close(h);
    free(u);
    free(bytes);
    rs_registry_free(fx);
}

static rs_registry *load_fixture(const char *name)
{
    const char *shared = rs_test_shared_dir();
    if (!shared)
        return NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/fixtures/registries/%s", shared, name);
    rs_registry *r = NULL;
    if (rs_registry_load_file(path, NULL, &r, NULL) != RS_OK)
        return NULL;
    return r;
}

static void t_change_check(void)
{
    if (!need_server())
        return;
    rs_registry *fx = load_fixture("feast-dev__feast__ui_public_registry.db");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx);
    fill_result fr;
    CU_ASSERT_FATAL(fill(db_main, fx, false, &fr));
    rs_feast_sql *h = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_feast_sql_open(src_url, NULL, &h, &err), RS_OK);
    const char *const *names = NULL;
    CU_ASSERT_EQUAL(rs_feast_sql_tables(h, &names), 14);
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
    CU_ASSERT_EQUAL(rs_feast_sql_changed(h, NULL, &s1, &err), RS_OK);
    free(s1);
    s1 = NULL;
    /* insert */
    CU_ASSERT(sql("INSERT INTO `%s`.entities VALUES ('new_entity', 'p', 1800000000, X'0a0a0a086e65775f656e74')",
                  db_main));
    CU_ASSERT_EQUAL(rs_feast_sql_changed(h, s0, &s1, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_feast_sql_changed(h, s1, &s2, &err), RS_ENOTMODIFIED);
    free(s2);
    s2 = NULL;
    /* update within the same second: same count, same max(last_updated_timestamp) */
    CU_ASSERT(sql("UPDATE `%s`.entities SET entity_proto = X'0a0a0a086e65775f656e7432' WHERE entity_name = "
                  "'new_entity'",
                  db_main));
    CU_ASSERT_EQUAL(rs_feast_sql_changed(h, s1, &s2, &err), RS_OK);
    free(s1);
    s1 = s2;
    s2 = NULL;
    /* delete */
    CU_ASSERT(sql("DELETE FROM `%s`.entities WHERE entity_name = 'new_entity'", db_main));
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
    CU_ASSERT(sql("DROP TABLE `%s`.label_views", db_main));
    CU_ASSERT_EQUAL(rs_feast_sql_changed(h, s1, &s2, &err), RS_OK);
    free(s2);
    s2 = NULL;
    CU_ASSERT_EQUAL(rs_feast_sql_read(h, &data, &len, &s2, &err), RS_OK);
    free(data);
    CU_ASSERT_EQUAL(rs_feast_sql_tables(h, &names), 13);
    CU_ASSERT(sql("CREATE TABLE `%s`.label_views (feature_view_name VARCHAR(255) NOT NULL, project_id VARCHAR(255) "
                  "NOT NULL, last_updated_timestamp BIGINT NOT NULL, feature_view_proto LONGBLOB NOT NULL, "
                  "user_metadata LONGBLOB NULL, PRIMARY KEY (feature_view_name, project_id))",
                  db_main));
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
    rs_registry *fx = load_fixture("malcolmk181__feast-dqm-tutorial__data_registry.db");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx);
    fill_result fr;
    CU_ASSERT_FATAL(fill(db_old, fx, false, &fr));
    char *u = url_for(db_old, "mysql://");
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
    char *u = url_for(db_none, "mysql://");
    rs_feast_sql *h = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL(rs_feast_sql_open(u, NULL, &h, &err), RS_ENOTFOUND);
    CU_ASSERT(strstr(err.msg, "database") != NULL);
    CU_ASSERT_PTR_NULL(h);
    free(u);
}

static void t_urls(void)
{
    if (!need_server())
        return;
    /* the SQLAlchemy forms Feast's feature_store.yaml uses */
    const char *forms[] = {"mysql+pymysql://", "mysql+mysqldb://", "mariadb+mariadbconnector://", "mariadb://"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char *u0 = url_for(db_main, forms[i]);
        char *u = rs_test_fmt("%s&charset=utf8mb4", u0);
        rs_feast_sql *h = NULL;
        rs_error err = {0};
        int rc = rs_feast_sql_open(u, NULL, &h, &err);
        if (rc)
            fprintf(stderr, "%s: %s\n", forms[i], err.msg);
        CU_ASSERT_EQUAL(rc, RS_OK);
        if (h) {
            CU_ASSERT(strncmp(rs_feast_sql_url(h), "mysql://regsync@", 16) == 0);
            CU_ASSERT_PTR_NULL(strstr(rs_feast_sql_url(h), user_pw));
        }
        rs_feast_sql_close(h);
        free(u);
        free(u0);
    }
    rs_feast_sql *h = NULL;
    rs_error err = {0};
    /* table_prefix is the store's, not the source's */
    char *u = rs_test_fmt("%s&table_prefix=x_", src_url);
    CU_ASSERT_EQUAL(rs_feast_sql_open(u, NULL, &h, &err), RS_EINVALID);
    CU_ASSERT(strstr(err.msg, "table_prefix") != NULL);
    free(u);
    /* wrong password: AUTH, without the password in the message */
    u = rs_test_fmt("mysql://regsync:wrong-pw-%s@%s/%s", user_pw, hostport, db_main);
    CU_ASSERT_EQUAL(rs_feast_sql_open(u, NULL, &h, &err), RS_EAUTH);
    CU_ASSERT(strstr(err.msg, "Access denied") != NULL);
    CU_ASSERT_PTR_NULL(strstr(err.msg, "wrong-pw"));
    free(u);
}

/* created_timestamp as Feast writes it (BIGINT seconds) and as a DATETIME(6) with microseconds. */
static void t_version_history_times(void)
{
    if (!need_server())
        return;
    CU_ASSERT_FATAL(sql("CREATE DATABASE `%s`", db_hist));
    CU_ASSERT(sql("GRANT SELECT ON `%s`.* TO 'regsync'@'%%'", db_hist));
    CU_ASSERT(sql("CREATE TABLE `%s`.feature_view_version_history (feature_view_name VARCHAR(255), project_id "
                  "VARCHAR(255), version_number INTEGER, feature_view_type VARCHAR(50), feature_view_proto LONGBLOB, "
                  "created_timestamp BIGINT, description TEXT, version_id VARCHAR(36))",
                  db_hist));
    CU_ASSERT(sql("INSERT INTO `%s`.feature_view_version_history VALUES ('fv', 'p', 2, 'feature_view', X'0102', "
                  "1771289482, 'd', 'v2'), ('fv', 'p', -1, '', NULL, NULL, NULL, NULL)",
                  db_hist));
    char *u = url_for(db_hist, "mysql://");
    uint8_t *data = NULL;
    size_t len = 0;
    CU_ASSERT_FATAL(read_source(u, &data, &len, NULL));
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
    free(data);
    data = NULL;
    /* DATETIME(6): seconds and nanos from the microseconds */
    CU_ASSERT(sql("ALTER TABLE `%s`.feature_view_version_history DROP COLUMN created_timestamp, ADD COLUMN "
                  "created_timestamp DATETIME(6) NULL AFTER feature_view_proto",
                  db_hist));
    CU_ASSERT(sql("UPDATE `%s`.feature_view_version_history SET created_timestamp = '2026-02-17 00:51:22.035266' "
                  "WHERE version_number = 2",
                  db_hist));
    CU_ASSERT_FATAL(read_source(u, &data, &len, NULL));
    /* Timestamp {seconds 1771289482, nanos 35266000} */
    static const uint8_t ts[] = {0x32, 0x0b, 0x08, 0x8a, 0xf7, 0xce, 0xcc, 0x06, 0x10, 0xd0, 0xbb, 0xe8, 0x10};
    bool found = false;
    for (size_t i = 0; i + sizeof ts <= len && !found; i++)
        found = memcmp(data + i, ts, sizeof ts) == 0;
    CU_ASSERT(found);
    if (!found) {
        char hex[1024];
        rs_hex(data, len < 500 ? len : 500, hex);
        fprintf(stderr, "got %s\n", hex);
    }
    rs_buf_free(&want);
    free(data);
    free(u);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("feast sql registry source on MySQL", setup, teardown);
    CU_add_test(s, "every fixture through Feast's MySQL tables and back", t_fixtures);
    CU_add_test(s, "feature views over 64 KB and 1 MB; a 1 MB max_allowed_packet", t_large_protos);
    CU_add_test(s, "BLOB columns (older Feast): refused or cut, never passed on", t_blob_columns);
    CU_add_test(s, "change check", t_change_check);
    CU_add_test(s, "older schema without the newer tables", t_older_schema);
    CU_add_test(s, "no Feast tables -> NOTFOUND", t_no_tables);
    CU_add_test(s, "SQLAlchemy URLs and auth", t_urls);
    CU_add_test(s, "version history created_timestamp: BIGINT and DATETIME(6)", t_version_history_times);
    return rs_test_run();
}
