/* feast_sql_impl.h: the parts of the Feast SQL registry source (feast_sql.h) shared by its
 * drivers. feast_sql.c holds the public API, table discovery, the change stamp and the assembly
 * of the Registry; feast_sql_pg.c (libpq) and feast_sql_mysql.c (MariaDB Connector/C) only talk
 * to their server: connect, list the columns of Feast's tables, build the three queries in their
 * dialect, run a query into an fsql_result, and open/close a read-only snapshot. Private to
 * storage/.
 *
 * Ownership: an fsql_result's cells point into memory the driver keeps until fsql_result_free.
 */
#ifndef RS_FEAST_SQL_IMPL_H
#define RS_FEAST_SQL_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feast_sql.h"
#include "rs_buf.h"

typedef enum { T_OBJECT, T_INFRA, T_METADATA, T_HISTORY, T_PROJECTS } fsql_tkind;

typedef struct fsql_tdesc {
    const char *table;
    uint32_t field;
    fsql_tkind kind;
} fsql_tdesc;

#define FSQL_NTABLES 14
extern const fsql_tdesc FSQL_TABLES[FSQL_NTABLES];
/* FeatureViewVersionRecord columns, in field-number order (field = index + 1). */
extern const char *const FSQL_HCOLS[8];

/* What a column's type is, whatever the dialect calls it. */
typedef enum { C_OTHER, C_TEXT, C_BINARY, C_TIMESTAMP, C_NUMBER } fsql_ctype;

typedef struct fsql_tinfo {
    bool present;
    bool has_project;
    bool has_lut; /* last_updated_timestamp */
    char name_col[128];
    char proto_col[128];
    uint64_t proto_cap; /* the proto column's maximum length in bytes (MySQL BLOB: 65535); 0: none */
    bool hcol[8];
    int created_kind; /* 0 absent, 1 timestamp, 2 number, 3 other */
} fsql_tinfo;

typedef struct fsql_cell {
    const char *p; /* NULL when SQL NULL */
    size_t n;
} fsql_cell;

typedef struct fsql_result {
    size_t rows, cols;
    fsql_cell *cells; /* rows * cols */
    void *owner;      /* the driver's result */
    void (*release)(void *owner);
} fsql_result;

static inline const fsql_cell *fsql_at(const fsql_result *r, size_t row, size_t col)
{
    return &r->cells[row * r->cols + col];
}
void fsql_result_free(fsql_result *r);

typedef struct fsql_driver fsql_driver;

struct rs_feast_sql {
    const fsql_driver *drv;
    void *conn;       /* the driver's connection (NULL: none) */
    void *target;     /* the driver's parsed URL */
    char *display;    /* "postgresql://user@host:port/db" / "mysql://..." for messages */
    rs_storage_opts opts;
    long stmt_ms;
    int max_retries;
    rs_storage_stats stats;
    fsql_tinfo t[FSQL_NTABLES];
    const char *names[FSQL_NTABLES];
    size_t nnames;
    int nexisting; /* Feast tables that exist, usable or not (compared with the stamp's count) */
    char *stamp_sql;
    char *objects_sql;
    char *history_sql;
};

struct fsql_driver {
    const char *name;
    /* url: the driver's scheme already normalized (postgresql:// or mysql://). Sets h->target and
     * h->display. */
    int (*parse)(rs_feast_sql *h, const char *url, rs_error *err);
    void (*free_target)(rs_feast_sql *h);
    int (*connect)(rs_feast_sql *h, rs_error *err); /* h->conn is NULL */
    bool (*alive)(rs_feast_sql *h);
    void (*disconnect)(rs_feast_sql *h);
    /* the statement listing the columns of those of Feast's tables that exist: rows (table,
     * column, type as the server names it, maximum length in bytes or NULL) */
    const char *columns_sql;
    fsql_ctype (*ctype)(const char *type);
    /* builds h->stamp_sql, objects_sql, history_sql from h->t (the shapes below) */
    int (*build_sql)(rs_feast_sql *h, rs_error *err);
    int (*query)(rs_feast_sql *h, const char *what, const char *sql, fsql_result *res, rs_error *err);
    const char *begin_sql;    /* a read-only consistent snapshot */
    const char *where_hint;   /* where tables are looked for, for the "no tables" error */
};

/* Builds the Registry message (appended to out) from the rows of the objects and history queries
 * (shapes below; either may be NULL: not run) and the stamp's max_lut: the part of a read that
 * consumes what the server sent. Uses h's display and discovered column limits only. RS_ECORRUPT
 * naming the row for a value it cannot use; RS_ENOMEM. */
int fsql_assemble_rows(const rs_feast_sql *h, int64_t max_lut, const fsql_result *objects, const fsql_result *history,
                       rs_buf *out, rs_error *err);

extern const fsql_driver rs_fsql_pg_driver;
extern const fsql_driver rs_fsql_mysql_driver;

/* Query shapes every driver builds:
 *   stamp:   rows (name text, count text, max last_updated_timestamp text or '', row digest text);
 *            the row named '#' has in its count column how many of Feast's tables exist
 *   objects: rows (field number text, project bytes, name bytes, payload bytes) ordered by field
 *            number, then project and name in byte order
 *   history: rows of the 8 FSQL_HCOLS as text (created_timestamp as epoch seconds with a
 *            fraction; feature_view_proto bytes), NULL for a missing column, ordered by project,
 *            view, version_number, version_id */

#endif
