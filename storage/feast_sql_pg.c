/* feast_sql_pg.c: the PostgreSQL driver of the Feast SQL registry source (libpq). Tables are
 * found through the connection's search_path. The change stamp sums each row's xmin (renewed by
 * every insert and update, so a same-second rewrite shows). See feast_sql_impl.h. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feast_sql_impl.h"
#include "pg_impl.h"
#include "rs_buf.h"

typedef struct pg_target {
    char *conninfo; /* holds the password: never printed */
} pg_target;

static PGconn *conn_of(rs_feast_sql *h) { return h->conn; }

static int pg_parse(rs_feast_sql *h, const char *url, rs_error *err)
{
    pg_target *t = calloc(1, sizeof *t);
    if (!t || !(t->conninfo = strdup(url)) || !(h->display = rs_pg_url_display(url))) {
        if (t)
            free(t->conninfo);
        free(t);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    h->target = t;
    return RS_OK;
}

static void pg_free_target(rs_feast_sql *h)
{
    pg_target *t = h->target;
    if (!t)
        return;
    if (t->conninfo) {
        memset(t->conninfo, 0, strlen(t->conninfo));
        free(t->conninfo);
    }
    free(t);
    h->target = NULL;
}

static bool pg_alive(rs_feast_sql *h) { return h->conn && PQstatus(conn_of(h)) == CONNECTION_OK; }

static void pg_disconnect(rs_feast_sql *h)
{
    if (h->conn)
        PQfinish(conn_of(h));
    h->conn = NULL;
}

static int pg_connect(rs_feast_sql *h, rs_error *err)
{
    pg_target *t = h->target;
    PGconn *c = NULL;
    int rc = rs_pg_connect(t->conninfo, h->display, "regsync-feast-sql", &h->opts, h->stmt_ms, &c, err);
    h->conn = c;
    return rc;
}

static void release_pgresult(void *owner) { PQclear(owner); }

/* Every result in binary format: the queries return only text and bytea columns, whose binary
 * form is their raw bytes. */
static int pg_query(rs_feast_sql *h, const char *what, const char *sql, fsql_result *res, rs_error *err)
{
    /* every result in binary format: the queries return only text and bytea columns, whose
     * binary form is their raw bytes */
    memset(res, 0, sizeof *res);
    PGresult *r = PQexecParams(conn_of(h), sql, 0, NULL, NULL, NULL, NULL, 1);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = rs_pg_query_error(conn_of(h), r, h->display, what, err);
        PQclear(r);
        return rc;
    }
    size_t rows = (size_t)PQntuples(r), cols = (size_t)PQnfields(r);
    res->cells = calloc(rows * cols > 0 ? rows * cols : 1, sizeof *res->cells);
    if (!res->cells) {
        PQclear(r);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    res->rows = rows;
    res->cols = cols;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            fsql_cell *c = &res->cells[i * cols + j];
            if (!PQgetisnull(r, (int)i, (int)j)) {
                c->p = PQgetvalue(r, (int)i, (int)j);
                c->n = (size_t)PQgetlength(r, (int)i, (int)j);
            }
        }
    res->owner = r;
    res->release = release_pgresult;
    return RS_OK;
}

static fsql_ctype pg_ctype(const char *type)
{
    if (strncmp(type, "character", 9) == 0 || strcmp(type, "text") == 0 || strncmp(type, "varchar", 7) == 0)
        return C_TEXT;
    if (strcmp(type, "bytea") == 0)
        return C_BINARY;
    if (strncmp(type, "timestamp", 9) == 0)
        return C_TIMESTAMP;
    if (strcmp(type, "bigint") == 0 || strcmp(type, "integer") == 0 || strcmp(type, "double precision") == 0 ||
        strcmp(type, "real") == 0 || strncmp(type, "numeric", 7) == 0 || strcmp(type, "smallint") == 0)
        return C_NUMBER;
    return C_OTHER;
}

static char *quote_ident(rs_feast_sql *h, const char *id)
{
    char *q = PQescapeIdentifier(conn_of(h), id, strlen(id));
    if (!q)
        return NULL;
    char *out = strdup(q);
    PQfreemem(q);
    return out;
}

static int pg_build_sql(rs_feast_sql *h, rs_error *err)
{
    rs_buf st = {0}, ob = {0}, hi = {0};
    int rc = RS_OK;
    /* per table: count, max(last_updated_timestamp), sum of row versions (xmin, which every insert
     * and update renews, so a same-second rewrite still shows); plus how many of Feast's tables
     * exist, so a table created later (a Feast upgrade) shows too */
    rs_buf_printf(&st, "SELECT '#'::text, count(to_regclass(n))::text, ''::text, ''::text FROM unnest('{");
    for (size_t i = 0; i < FSQL_NTABLES; i++)
        rs_buf_printf(&st, "%s%s", i ? "," : "", FSQL_TABLES[i].table);
    rs_buf_printf(&st, "}'::text[]) AS n");
    bool first_ob = true;
    for (size_t i = 0; i < FSQL_NTABLES; i++) {
        const fsql_tinfo *ti = &h->t[i];
        if (!ti->present)
            continue;
        const char *tb = FSQL_TABLES[i].table;
        rs_buf_printf(&st,
                      " UNION ALL SELECT '%s', count(*)::text, %s, coalesce(sum(xmin::text::bigint), 0)::text "
                      "FROM %s",
                      tb, ti->has_lut ? "coalesce(max(last_updated_timestamp)::text, '')" : "''::text", tb);
        const char *proj = ti->has_project ? "project_id::text" : "''::text";
        switch (FSQL_TABLES[i].kind) {
        case T_OBJECT:
        case T_INFRA:
        case T_PROJECTS: {
            char *nc = quote_ident(h, ti->name_col), *pc = quote_ident(h, ti->proto_col);
            if (!nc || !pc) {
                free(nc);
                free(pc);
                rc = rs_error_set(err, RS_ENOMEM, "out of memory");
                goto out;
            }
            rs_buf_printf(&ob, "%sSELECT %u::int4 AS f, %s AS p, %s::text AS n, %s AS b FROM %s",
                          first_ob ? "" : " UNION ALL ", FSQL_TABLES[i].field, proj, nc, pc, tb);
            free(nc);
            free(pc);
            first_ob = false;
            break;
        }
        case T_METADATA:
            rs_buf_printf(&ob,
                          "%sSELECT 15::int4, %s, ''::text, convert_to(metadata_value::text, 'UTF8') FROM %s "
                          "WHERE metadata_key = 'project_uuid'",
                          first_ob ? "" : " UNION ALL ", proj, tb);
            first_ob = false;
            break;
        case T_HISTORY: {
            rs_buf_printf(&hi, "SELECT ");
            for (int c = 0; c < 8; c++) {
                const char *col = FSQL_HCOLS[c];
                if (c)
                    rs_buf_printf(&hi, ", ");
                if (!ti->hcol[c])
                    rs_buf_printf(&hi, "NULL%s", c == 4 ? "::bytea" : "::text");
                else if (c == 4)
                    rs_buf_printf(&hi, "%s", col);
                else if (c == 5)
                    rs_buf_printf(&hi, ti->created_kind == 1   ? "extract(epoch FROM %s)::numeric::text"
                                       : ti->created_kind == 2 ? "%s::numeric::text"
                                                               : "%s::text",
                                  col);
                else
                    rs_buf_printf(&hi, "%s::text", col);
            }
            rs_buf_printf(&hi, " FROM %s ORDER BY %s, %s, %s", tb,
                          ti->hcol[1] ? "project_id::text COLLATE \"C\"" : "1",
                          ti->hcol[0] ? "feature_view_name::text COLLATE \"C\"" : "1",
                          ti->hcol[2] ? "version_number" : "1");
            if (ti->hcol[7])
                rs_buf_printf(&hi, ", version_id::text COLLATE \"C\"");
            break;
        }
        }
    }
    rs_buf_printf(&st, " ORDER BY 1");
    if (ob.len) {
        /* ORDER BY on a UNION takes output columns only: wrap it to sort bytewise; the field number
         * leaves as text (the drivers' common shape) */
        rs_buf sorted = {0};
        rs_buf_cstr(&ob);
        rs_buf_printf(&sorted,
                      "SELECT u.f::text, u.p, u.n, u.b FROM (%s) AS u ORDER BY u.f, u.p COLLATE \"C\", u.n COLLATE \"C\"",
                      ob.data ? (const char *)ob.data : "");
        rs_buf_free(&ob);
        ob = sorted;
    }
    if (rs_buf_cstr(&st) || rs_buf_cstr(&ob) || rs_buf_cstr(&hi)) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto out;
    }
    h->stamp_sql = (char *)rs_buf_take(&st, NULL);
    h->objects_sql = ob.len ? (char *)rs_buf_take(&ob, NULL) : NULL;
    h->history_sql = hi.len ? (char *)rs_buf_take(&hi, NULL) : NULL;
out:
    rs_buf_free(&st);
    rs_buf_free(&ob);
    rs_buf_free(&hi);
    return rc;
}

const fsql_driver rs_fsql_pg_driver = {
    .name = "postgresql",
    .parse = pg_parse,
    .free_target = pg_free_target,
    .connect = pg_connect,
    .alive = pg_alive,
    .disconnect = pg_disconnect,
    .columns_sql = "SELECT t.name, a.attname::text, format_type(a.atttypid, a.atttypmod), NULL::text "
                   "FROM unnest('{entities,feature_views,feature_services,on_demand_feature_views,managed_infra,"
                   "saved_datasets,data_sources,validation_references,stream_feature_views,feast_metadata,"
                   "permissions,projects,feature_view_version_history,label_views}'::text[]) AS t(name) "
                   "JOIN pg_attribute a ON a.attrelid = to_regclass(t.name) "
                   "WHERE a.attnum > 0 AND NOT a.attisdropped ORDER BY t.name, a.attnum",
    .ctype = pg_ctype,
    .build_sql = pg_build_sql,
    .query = pg_query,
    .begin_sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    .where_hint = "check the database and search_path",
};
