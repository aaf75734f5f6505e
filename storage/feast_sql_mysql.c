/* feast_sql_mysql.c: the MySQL / MariaDB driver of the Feast SQL registry source (MariaDB
 * Connector/C, text protocol). Tables are found in the URL's database. See feast_sql_impl.h.
 *
 * What Feast's SQLAlchemy tables are on MySQL: String(255) -> VARCHAR(255) in the database's
 * character set and collation (case-insensitive by default, so rows are ordered here by their
 * bytes, CAST(... AS BINARY)); BigInteger -> BIGINT; Text -> TEXT; the serialized protos are
 * LargeBinary, which SQLAlchemy makes BLOB (64 KB) on MySQL: Feast up to mid-2026 created BLOB
 * columns, newer Feast LONGBLOB. A value exactly at its column's limit is refused by the common
 * code (it was most likely cut when written without strict mode).
 *
 * The change stamp: MySQL has no row version (PostgreSQL's xmin), so per table the stamp sums a
 * 60-bit slice of SHA-256 over each row's name, project, last_updated_timestamp and proto: one
 * query, a few hundred bytes back, but the server reads every proto to answer it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feast_sql_impl.h"
#include "mysql_impl.h"
#include "rs_buf.h"

typedef struct my_target {
    rs_my_target t;
    rs_my_session sess;
} my_target;

static MYSQL *conn_of(rs_feast_sql *h) { return h->conn; }
static my_target *tgt(rs_feast_sql *h) { return h->target; }

static long io_ms(rs_feast_sql *h) { return h->opts.timeout_ms > 0 ? h->opts.timeout_ms : 60000; }

static int fm_parse(rs_feast_sql *h, const char *url, rs_error *err)
{
    my_target *t = calloc(1, sizeof *t);
    if (!t)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    int rc = rs_my_parse_url(url, false, true, &t->t, err);
    if (rc) {
        free(t);
        return rc;
    }
    h->display = strdup(t->t.display);
    h->target = t;
    if (!h->display)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    return RS_OK;
}

static void fm_free_target(rs_feast_sql *h)
{
    my_target *t = tgt(h);
    if (!t)
        return;
    rs_my_target_free(&t->t);
    free(t);
    h->target = NULL;
}

static bool fm_alive(rs_feast_sql *h) { return h->conn != NULL; }

static void fm_disconnect(rs_feast_sql *h)
{
    rs_my_close(conn_of(h));
    h->conn = NULL;
}

static int fm_connect(rs_feast_sql *h, rs_error *err)
{
    my_target *t = tgt(h);
    MYSQL *m = NULL;
    int rc = rs_my_connect(&t->t, "regsync-feast-sql", &h->opts, h->stmt_ms, false, &m, &t->sess, err);
    if (rc)
        return rc;
    /* one snapshot per read needs REPEATABLE READ whatever the server's default; exact seconds
     * with their fraction from a division of microseconds need 6 decimals */
    rc = rs_my_query(m, h->display, "set up the session", "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                     io_ms(h), NULL, err);
    if (!rc)
        rc = rs_my_query(m, h->display, "set up the session", "SET SESSION div_precision_increment = 6", io_ms(h),
                         NULL, err);
    if (rc) {
        rs_my_close(m);
        return rc;
    }
    h->conn = m;
    return RS_OK;
}

static void release_res(void *owner) { mysql_free_result(owner); }

static int fm_query(rs_feast_sql *h, const char *what, const char *sql, fsql_result *res, rs_error *err)
{
    memset(res, 0, sizeof *res);
    MYSQL_RES *r = NULL;
    int rc = rs_my_query(conn_of(h), h->display, what, sql, io_ms(h), &r, err);
    if (rc) {
        if (rs_my_deadline_expired() || rs_my_conn_broken(mysql_errno(conn_of(h))))
            fm_disconnect(h);
        return rc;
    }
    if (!r)
        return RS_OK; /* a statement without rows */
    size_t rows = (size_t)mysql_num_rows(r), cols = mysql_num_fields(r);
    res->cells = calloc(rows * cols > 0 ? rows * cols : 1, sizeof *res->cells);
    if (!res->cells) {
        mysql_free_result(r);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    res->rows = rows;
    res->cols = cols;
    MYSQL_ROW row;
    for (size_t i = 0; i < rows && (row = mysql_fetch_row(r)); i++) {
        unsigned long *len = mysql_fetch_lengths(r);
        for (size_t j = 0; j < cols; j++) {
            fsql_cell *c = &res->cells[i * cols + j];
            c->p = row[j];
            c->n = row[j] ? len[j] : 0;
        }
    }
    res->owner = r;
    res->release = release_res;
    return RS_OK;
}

static fsql_ctype fm_ctype(const char *t)
{
    static const char *const text[] = {"varchar", "char", "text", "tinytext", "mediumtext", "longtext", NULL};
    static const char *const bin[] = {"blob", "tinyblob", "mediumblob", "longblob", "varbinary", "binary", NULL};
    static const char *const num[] = {"bigint", "int", "integer", "smallint", "mediumint", "tinyint",
                                      "decimal", "double", "float", "numeric", NULL};
    for (int i = 0; text[i]; i++)
        if (strcasecmp(t, text[i]) == 0)
            return C_TEXT;
    for (int i = 0; bin[i]; i++)
        if (strcasecmp(t, bin[i]) == 0)
            return C_BINARY;
    for (int i = 0; num[i]; i++)
        if (strcasecmp(t, num[i]) == 0)
            return C_NUMBER;
    if (strcasecmp(t, "timestamp") == 0 || strcasecmp(t, "datetime") == 0)
        return C_TIMESTAMP;
    return C_OTHER;
}

/* `name` with backticks doubled. */
static void ident(rs_buf *b, const char *name)
{
    rs_buf_putc(b, '`');
    for (const char *p = name; *p; p++) {
        if (*p == '`')
            rs_buf_putc(b, '`');
        rs_buf_putc(b, (uint8_t)*p);
    }
    rs_buf_putc(b, '`');
}

static void table_list(rs_buf *b)
{
    for (size_t i = 0; i < FSQL_NTABLES; i++)
        rs_buf_printf(b, "%s'%s'", i ? ", " : "", FSQL_TABLES[i].table);
}

static int fm_build_sql(rs_feast_sql *h, rs_error *err)
{
    rs_buf st = {0}, ob = {0}, hi = {0};
    rs_buf_printf(&st, "SELECT '#', CAST(COUNT(*) AS CHAR), '', '' FROM information_schema.TABLES "
                       "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (");
    table_list(&st);
    rs_buf_printf(&st, ")");
    bool first_ob = true;
    for (size_t i = 0; i < FSQL_NTABLES; i++) {
        const fsql_tinfo *ti = &h->t[i];
        if (!ti->present)
            continue;
        const char *tb = FSQL_TABLES[i].table;
        /* the row digest: every column the assembly reads, each made binary (CONCAT_WS of mixed
         * character sets is an error) */
        rs_buf_printf(&st, " UNION ALL SELECT '%s', CAST(COUNT(*) AS CHAR), %s, CAST(COALESCE(SUM(CAST(CONV(LEFT(SHA2("
                           "CONCAT_WS(0x00",
                      tb, ti->has_lut ? "COALESCE(CAST(MAX(last_updated_timestamp) AS CHAR), '')" : "''");
        if (FSQL_TABLES[i].kind == T_HISTORY) {
            for (int c = 0; c < 8; c++)
                if (ti->hcol[c]) {
                    rs_buf_printf(&st, ", CAST(");
                    ident(&st, FSQL_HCOLS[c]);
                    rs_buf_printf(&st, " AS BINARY)");
                }
        } else {
            rs_buf_printf(&st, ", CAST(");
            ident(&st, ti->name_col);
            rs_buf_printf(&st, " AS BINARY), CAST(");
            ident(&st, ti->proto_col);
            rs_buf_printf(&st, " AS BINARY)");
            if (ti->has_project)
                rs_buf_printf(&st, ", CAST(project_id AS BINARY)");
            if (ti->has_lut)
                rs_buf_printf(&st, ", CAST(last_updated_timestamp AS BINARY)");
        }
        rs_buf_printf(&st, "), 256), 15), 16, 10) AS UNSIGNED)), 0) AS CHAR) FROM ");
        ident(&st, tb);

        const char *proj = ti->has_project ? "CAST(project_id AS BINARY)" : "CAST('' AS BINARY)";
        switch (FSQL_TABLES[i].kind) {
        case T_OBJECT:
        case T_INFRA:
        case T_PROJECTS:
            rs_buf_printf(&ob, "%sSELECT %u AS f, %s AS p, CAST(", first_ob ? "" : " UNION ALL ", FSQL_TABLES[i].field,
                          proj);
            ident(&ob, ti->name_col);
            rs_buf_printf(&ob, " AS BINARY) AS n, ");
            ident(&ob, ti->proto_col);
            rs_buf_printf(&ob, " AS b FROM ");
            ident(&ob, tb);
            first_ob = false;
            break;
        case T_METADATA:
            rs_buf_printf(&ob,
                          "%sSELECT 15, %s, CAST('' AS BINARY), CAST(metadata_value AS BINARY) FROM `%s` "
                          "WHERE metadata_key = 'project_uuid'",
                          first_ob ? "" : " UNION ALL ", proj, tb);
            first_ob = false;
            break;
        case T_HISTORY:
            rs_buf_printf(&hi, "SELECT ");
            for (int c = 0; c < 8; c++) {
                const char *col = FSQL_HCOLS[c];
                if (c)
                    rs_buf_printf(&hi, ", ");
                if (!ti->hcol[c])
                    rs_buf_printf(&hi, "NULL");
                else if (c == 4)
                    rs_buf_printf(&hi, "`%s`", col);
                else if (c == 5)
                    rs_buf_printf(&hi,
                                  ti->created_kind == 1
                                      ? "CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', `%s`) / 1000000 AS CHAR)"
                                      : "CAST(`%s` AS CHAR)",
                                  col);
                else
                    rs_buf_printf(&hi, "CAST(`%s` AS %s)", col, c == 2 ? "CHAR" : "BINARY");
            }
            rs_buf_printf(&hi, " FROM `%s` ORDER BY %s, %s, %s", tb,
                          ti->hcol[1] ? "CAST(project_id AS BINARY)" : "1",
                          ti->hcol[0] ? "CAST(feature_view_name AS BINARY)" : "1",
                          ti->hcol[2] ? "version_number" : "1");
            if (ti->hcol[7])
                rs_buf_printf(&hi, ", CAST(version_id AS BINARY)");
            break;
        }
    }
    rs_buf_printf(&st, " ORDER BY 1");
    if (ob.len) {
        rs_buf sorted = {0};
        rs_buf_cstr(&ob);
        rs_buf_printf(&sorted, "SELECT f, p, n, b FROM (%s) AS u ORDER BY f, p, n", ob.data ? (const char *)ob.data : "");
        rs_buf_free(&ob);
        ob = sorted;
    }
    int rc = RS_OK;
    if (rs_buf_cstr(&st) || rs_buf_cstr(&ob) || rs_buf_cstr(&hi)) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
    } else {
        h->stamp_sql = (char *)rs_buf_take(&st, NULL);
        h->objects_sql = ob.len ? (char *)rs_buf_take(&ob, NULL) : NULL;
        h->history_sql = hi.len ? (char *)rs_buf_take(&hi, NULL) : NULL;
    }
    rs_buf_free(&st);
    rs_buf_free(&ob);
    rs_buf_free(&hi);
    return rc;
}

const fsql_driver rs_fsql_mysql_driver = {
    .name = "mysql",
    .parse = fm_parse,
    .free_target = fm_free_target,
    .connect = fm_connect,
    .alive = fm_alive,
    .disconnect = fm_disconnect,
    .columns_sql = "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, CHARACTER_OCTET_LENGTH FROM information_schema.COLUMNS "
                   "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('entities', 'feature_views', "
                   "'feature_services', 'on_demand_feature_views', 'managed_infra', 'saved_datasets', "
                   "'data_sources', 'validation_references', 'stream_feature_views', 'feast_metadata', "
                   "'permissions', 'projects', 'feature_view_version_history', 'label_views') "
                   "ORDER BY TABLE_NAME, ORDINAL_POSITION",
    .ctype = fm_ctype,
    .build_sql = fm_build_sql,
    .query = fm_query,
    .begin_sql = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
    .where_hint = "check the database name in the URL",
};
