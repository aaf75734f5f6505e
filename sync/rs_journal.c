/* rs_journal.c: the SQLite journal (see rs_journal.h and docs/journal.md). */
#define RS_ERROR_ORIGIN RS_ORIGIN_JOURNAL /* the errors this file makes (common/rs_error.h) */
#include "rs_journal.h"

#include "rs_buf.h"
#include "rs_time.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define APPLICATION_ID 0x5253594a /* 'RSYJ' */
#define EVENT_MSG_MAX 4096
#define TEXT_MAX 4096

struct rs_journal {
    sqlite3 *db;
    char *path;
    int lock_fd;
    bool readonly;
    size_t max_events;
    unsigned inserts_since_prune;
    char errmsg[RS_ERROR_MSG_MAX];
};

static const char *const kind_names[] = {"apply", "bootstrap", "rollback", "pin"};
static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *rs_journal_kind_name(rs_journal_kind k)
{
    return (unsigned)k < 4 ? kind_names[k] : "unknown";
}

int rs_journal_kind_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, kind_names[i]) == 0)
            return i;
    return -1;
}

const char *rs_journal_recovery_name(rs_journal_recovery r)
{
    switch (r) {
    case RS_JOURNAL_CONSISTENT: return "consistent";
    case RS_JOURNAL_COMMITTED: return "committed";
    case RS_JOURNAL_DISCARDED: return "discarded";
    case RS_JOURNAL_MISMATCH: return "mismatch";
    }
    return "unknown";
}

const char *rs_journal_path(const rs_journal *j) { return j ? j->path : NULL; }
const char *rs_journal_errmsg(const rs_journal *j) { return j ? j->errmsg : ""; }

/* ------------------------------------------------------------------------------------------ */
/* errors */

static int map_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW: return RS_OK;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return RS_ECORRUPT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return RS_EUNAVAILABLE;
    case SQLITE_NOMEM: return RS_ENOMEM;
    case SQLITE_CONSTRAINT: return RS_ECONFLICT;
    case SQLITE_TOOBIG: return RS_ETOOBIG;
    case SQLITE_MISUSE:
    case SQLITE_RANGE: return RS_EINVALID;
    default: return RS_EIO;
    }
}

static int jerr(rs_journal *j, rs_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int jerr(rs_journal *j, rs_error *err, int code, const char *fmt, ...)
{
    char msg[RS_ERROR_MSG_MAX - 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rs_error tmp;
    rs_error_set(&tmp, code, "journal %s: %s", j && j->path ? j->path : "?", msg);
    if (j)
        snprintf(j->errmsg, sizeof j->errmsg, "%s", tmp.msg);
    if (err)
        *err = tmp;
    return code;
}

/* an SQLite failure during op */
static int dberr(rs_journal *j, rs_error *err, int rc, const char *op)
{
    int code = map_sqlite(rc);
    if (code == RS_OK)
        code = RS_EIO;
    const char *m = j && j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc);
    if (code == RS_ECORRUPT)
        return jerr(j, err, code, "%s: %s (the journal file is damaged: move it aside to start a new one)", op, m);
    return jerr(j, err, code, "%s: %s", op, m);
}

/* ------------------------------------------------------------------------------------------ */
/* small SQL helpers */

static int exec(rs_journal *j, const char *sql, rs_error *err)
{
    int rc = sqlite3_exec(j->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? RS_OK : dberr(j, err, rc, sql);
}

static int prep(rs_journal *j, const char *sql, sqlite3_stmt **st, rs_error *err)
{
    int rc = sqlite3_prepare_v2(j->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? RS_OK : dberr(j, err, rc, "prepare");
}

static void rollback(rs_journal *j)
{
    if (!sqlite3_get_autocommit(j->db))
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
}

/* one integer from a query without parameters */
static int query_i64(rs_journal *j, const char *sql, int64_t *out, rs_error *err)
{
    sqlite3_stmt *st;
    int rc = prep(j, sql, &st, err);
    if (rc)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = RS_OK;
    } else if (s == SQLITE_DONE) {
        *out = 0;
        rc = RS_OK;
    } else {
        rc = dberr(j, err, s, sql);
    }
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* schema */

#define ENTRY_COLS                                                                                                  \
    "version, kind, applied_at_ms, published_at_ms, duration_ms, parent_digest, result_digest, filtered_digest, " \
    "target_digest, ops_put, ops_delete, counts_by_kind, source_etag, publisher"
#define ENTRY_PARAMS "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14"

static const char *const MIGRATIONS[] = {
    /* 1 */
    "CREATE TABLE applied ("
    "  version INTEGER PRIMARY KEY CHECK (version > 0),"
    "  kind TEXT NOT NULL CHECK (kind IN ('apply','bootstrap','rollback','pin')),"
    "  applied_at_ms INTEGER NOT NULL,"
    "  published_at_ms INTEGER NOT NULL DEFAULT 0,"
    "  duration_ms INTEGER NOT NULL DEFAULT 0,"
    "  parent_digest BLOB, result_digest BLOB, filtered_digest BLOB, target_digest BLOB,"
    "  ops_put INTEGER NOT NULL DEFAULT 0,"
    "  ops_delete INTEGER NOT NULL DEFAULT 0,"
    "  counts_by_kind TEXT,"
    "  source_etag TEXT,"
    "  publisher TEXT"
    ");"
    "CREATE TABLE superseded ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  superseded_at_ms INTEGER NOT NULL,"
    "  superseded_by INTEGER NOT NULL,"
    "  version INTEGER NOT NULL, kind TEXT NOT NULL, applied_at_ms INTEGER NOT NULL,"
    "  published_at_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL,"
    "  parent_digest BLOB, result_digest BLOB, filtered_digest BLOB, target_digest BLOB,"
    "  ops_put INTEGER NOT NULL, ops_delete INTEGER NOT NULL,"
    "  counts_by_kind TEXT, source_etag TEXT, publisher TEXT"
    ");"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at_ms INTEGER NOT NULL,"
    "  level TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  version INTEGER,"
    "  message TEXT NOT NULL"
    ");"
    "CREATE INDEX events_kind ON events(kind, id);"
    "CREATE TABLE state ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL,"
    "  updated_at_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE pending ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  created_at_ms INTEGER NOT NULL,"
    "  version INTEGER NOT NULL, kind TEXT NOT NULL, applied_at_ms INTEGER NOT NULL,"
    "  published_at_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL,"
    "  parent_digest BLOB, result_digest BLOB, filtered_digest BLOB, target_digest BLOB,"
    "  ops_put INTEGER NOT NULL, ops_delete INTEGER NOT NULL,"
    "  counts_by_kind TEXT, source_etag TEXT, publisher TEXT"
    ");",
};
#define N_MIGRATIONS ((int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0]))

_Static_assert(N_MIGRATIONS == RS_JOURNAL_SCHEMA_VERSION, "one migration per schema version");

static int migrate(rs_journal *j, rs_error *err)
{
    int rc = exec(j, "BEGIN IMMEDIATE", err);
    if (rc)
        return rc;
    int64_t uv = 0, app = 0, tables = 0;
    if ((rc = query_i64(j, "PRAGMA user_version", &uv, err)) || (rc = query_i64(j, "PRAGMA application_id", &app, err)) ||
        (rc = query_i64(j, "SELECT count(*) FROM sqlite_master", &tables, err)))
        goto fail;
    if (app != 0 && app != APPLICATION_ID) {
        rc = jerr(j, err, RS_ECORRUPT, "not a regsync journal (application_id 0x%llx); move it aside", (unsigned long long)app);
        goto fail;
    }
    if (app == 0 && tables > 0) {
        rc = jerr(j, err, RS_ECORRUPT, "an SQLite database that is not a regsync journal; move it aside");
        goto fail;
    }
    if (uv > RS_JOURNAL_SCHEMA_VERSION) {
        rc = jerr(j, err, RS_EUNSUPPORTED, "schema version %lld is newer than this build's (%d); upgrade regsyncd",
                  (long long)uv, RS_JOURNAL_SCHEMA_VERSION);
        goto fail;
    }
    for (int v = (int)uv; v < N_MIGRATIONS; v++) {
        char *msg = NULL;
        int s = sqlite3_exec(j->db, MIGRATIONS[v], NULL, NULL, &msg);
        if (s != SQLITE_OK) {
            rc = jerr(j, err, map_sqlite(s) ? map_sqlite(s) : RS_EIO, "migration to schema %d: %s", v + 1, msg ? msg : sqlite3_errstr(s));
            sqlite3_free(msg);
            goto fail;
        }
    }
    if (uv < RS_JOURNAL_SCHEMA_VERSION) {
        char sql[128];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d; PRAGMA application_id = %d", RS_JOURNAL_SCHEMA_VERSION, APPLICATION_ID);
        if ((rc = exec(j, sql, err)))
            goto fail;
    }
    return exec(j, "COMMIT", err);
fail:
    rollback(j);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* open / close */

static int mkdir_p(const char *dir, rs_error *err)
{
    char p[PATH_MAX];
    if (strlen(dir) >= sizeof p)
        return rs_error_set(err, RS_EINVALID, "journal: state_dir path too long");
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return rs_error_set(err, RS_EIO, "journal: cannot create %s: %s", p, strerror(errno));
        *s = '/';
    }
    if (mkdir(p, 0700) != 0 && errno != EEXIST)
        return rs_error_set(err, RS_EIO, "journal: cannot create %s: %s", p, strerror(errno));
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
        return rs_error_set(err, RS_EINVALID, "journal: state_dir %s is not a directory", p);
    return RS_OK;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Whether the journal file exists and is a regular file. Only stat(2): this process may already
 * hold the journal through SQLite (the agent and the admin API share a process), and any open()
 * and close() of the file outside SQLite would drop every POSIX lock the process holds on it,
 * SQLite's included (fcntl locks belong to the process, not to the descriptor). A reader that
 * then believed itself alone would checkpoint and delete the WAL under the writer. Content that
 * is not SQLite is reported by SQLite itself (SQLITE_NOTADB, see not_sqlite). */
static int check_file(rs_journal *j, bool *exists, rs_error *err)
{
    *exists = false;
    struct stat st;
    if (stat(j->path, &st) != 0) {
        if (errno == ENOENT)
            return RS_OK;
        return jerr(j, err, RS_EIO, "stat: %s", strerror(errno));
    }
    *exists = true;
    if (!S_ISREG(st.st_mode))
        return jerr(j, err, RS_EINVALID, "not a regular file");
    return RS_OK;
}

/* SQLite's answer for a file that is not a database: a clear message instead of "file is not a
 * database" on some statement. */
static int not_sqlite(rs_journal *j, rs_error *err)
{
    return jerr(j, err, RS_ECORRUPT, "not an SQLite database (damaged or not a journal); move it aside to start a new journal");
}

static int integrity_check(rs_journal *j, rs_error *err)
{
    sqlite3_stmt *st;
    int rc = prep(j, "PRAGMA quick_check(5)", &st, err);
    if (rc)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        if (!r || strcmp(r, "ok") != 0) {
            /* one line: the first complaint, without SQLite's header line */
            char first[160];
            const char *p = r ? r : "?";
            if (strncmp(p, "*** in database", 15) == 0 && strchr(p, '\n'))
                p = strchr(p, '\n') + 1;
            size_t l = strcspn(p, "\n");
            snprintf(first, sizeof first, "%.*s", (int)(l < sizeof first ? l : sizeof first - 1), p);
            rc = jerr(j, err, RS_ECORRUPT, "integrity check failed (%s); move it aside to start a new journal", first);
        }
    } else if (s != SQLITE_DONE) {
        rc = dberr(j, err, s, "integrity check");
    }
    sqlite3_finalize(st);
    return rc;
}

int rs_journal_open(const char *state_dir, const rs_journal_opts *opts, rs_journal **out, rs_error *err)
{
    rs_journal_opts o = opts ? *opts : (rs_journal_opts){0};
    *out = NULL;
    if (!state_dir || !*state_dir)
        return rs_error_set(err, RS_EINVALID, "journal: no state_dir");
    int rc;
    if (!o.readonly && (rc = mkdir_p(state_dir, err)))
        return rc;
    rs_journal *j = calloc(1, sizeof *j);
    if (!j)
        return rs_error_set(err, RS_ENOMEM, "journal: out of memory");
    j->lock_fd = -1;
    j->readonly = o.readonly;
    j->max_events = o.max_events ? o.max_events : 100000;
    j->path = join(state_dir, RS_JOURNAL_FILE);
    if (!j->path) {
        free(j);
        return rs_error_set(err, RS_ENOMEM, "journal: out of memory");
    }
    if (!o.readonly) {
        char *lp = join(state_dir, "journal.lock");
        if (!lp) {
            rc = jerr(j, err, RS_ENOMEM, "out of memory");
            goto fail;
        }
        j->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (j->lock_fd < 0) {
            rc = jerr(j, err, RS_EIO, "cannot open lock %s: %s", lp, strerror(errno));
            free(lp);
            goto fail;
        }
        if (flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            rc = jerr(j, err, e == EWOULDBLOCK ? RS_ECONFLICT : RS_EIO, "in use by another process (lock %s: %s)", lp, strerror(e));
            free(lp);
            goto fail;
        }
        free(lp);
    }
    bool exists;
    if ((rc = check_file(j, &exists, err)))
        goto fail;
    if (o.readonly && !exists) {
        rc = jerr(j, err, RS_ENOTFOUND, "does not exist");
        goto fail;
    }
    /* read-only handles open read-write without create and set query_only, so that they can
       create the WAL index (-shm) when no writer runs */
    int flags = (o.readonly ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX;
    int s = sqlite3_open_v2(j->path, &j->db, flags, NULL);
    if (s != SQLITE_OK) {
        rc = dberr(j, err, s, "open");
        goto fail;
    }
    sqlite3_extended_result_codes(j->db, 1);
    sqlite3_busy_timeout(j->db, o.busy_timeout_ms > 0 ? o.busy_timeout_ms : 5000);
    if (o.readonly) {
        /* a reader never checkpoints or deletes the WAL when it closes: the writer may be running
           (SQLite's own locks say so too; this holds even if something dropped them) */
        s = sqlite3_db_config(j->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
        if (s != SQLITE_OK) {
            rc = dberr(j, err, s, "no checkpoint on close");
            goto fail;
        }
    }
    /* the first read of the file: its header */
    {
        int64_t sv;
        rs_error pe = {0};
        if ((rc = query_i64(j, "PRAGMA schema_version", &sv, &pe))) {
            if ((sqlite3_extended_errcode(j->db) & 0xff) == SQLITE_NOTADB)
                rc = not_sqlite(j, err);
            else if (err)
                *err = pe;
            goto fail;
        }
    }
    if (o.readonly) {
        if ((rc = exec(j, "PRAGMA query_only = ON", err)))
            goto fail;
    } else {
        sqlite3_stmt *st;
        if ((rc = prep(j, "PRAGMA journal_mode = WAL", &st, err)))
            goto fail;
        s = sqlite3_step(st);
        const char *mode = s == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        bool wal = mode && strcmp(mode, "wal") == 0;
        if (s != SQLITE_ROW)
            rc = dberr(j, err, s, "journal_mode=WAL");
        else if (!wal)
            rc = jerr(j, err, RS_EIO, "cannot switch to WAL mode (got %s)", mode ? mode : "?");
        sqlite3_finalize(st);
        if (rc)
            goto fail;
    }
    if ((rc = exec(j, "PRAGMA synchronous = FULL", err)))
        goto fail;
    if (!o.skip_integrity_check && exists && (rc = integrity_check(j, err)))
        goto fail;
    if (!o.readonly) {
        if ((rc = migrate(j, err)))
            goto fail;
    } else {
        int64_t uv = 0, app = 0;
        if ((rc = query_i64(j, "PRAGMA user_version", &uv, err)) || (rc = query_i64(j, "PRAGMA application_id", &app, err)))
            goto fail;
        if (app != APPLICATION_ID) {
            rc = jerr(j, err, uv == 0 && app == 0 ? RS_ENOTFOUND : RS_ECORRUPT, "not a regsync journal (or never initialized)");
            goto fail;
        }
        if (uv != RS_JOURNAL_SCHEMA_VERSION) {
            rc = jerr(j, err, uv > RS_JOURNAL_SCHEMA_VERSION ? RS_EUNSUPPORTED : RS_EINVALID,
                      "schema version %lld, this build reads %d%s", (long long)uv, RS_JOURNAL_SCHEMA_VERSION,
                      uv < RS_JOURNAL_SCHEMA_VERSION ? " (open it read-write once to migrate)" : "");
            goto fail;
        }
    }
    *out = j;
    rs_error_clear(err);
    return RS_OK;
fail:
    rs_journal_close(j);
    return rc;
}

void rs_journal_close(rs_journal *j)
{
    if (!j)
        return;
    if (j->db)
        sqlite3_close_v2(j->db);
    if (j->lock_fd >= 0)
        close(j->lock_fd); /* releases the flock */
    free(j->path);
    free(j);
}

/* ------------------------------------------------------------------------------------------ */
/* entries */

void rs_journal_entry_clear(rs_journal_entry *e)
{
    if (!e)
        return;
    free(e->counts_by_kind);
    free(e->source_etag);
    free(e->publisher);
    memset(e, 0, sizeof *e);
}

void rs_journal_entries_free(rs_journal_entry *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        rs_journal_entry_clear(&v[i]);
    free(v);
}

static int check_entry(rs_journal *j, const rs_journal_entry *e, rs_error *err)
{
    if (!e)
        return jerr(j, err, RS_EINVALID, "no entry");
    if (e->version == 0 || e->version > (uint64_t)INT64_MAX)
        return jerr(j, err, RS_EINVALID, "version %llu out of range", (unsigned long long)e->version);
    if ((unsigned)e->kind > RS_JOURNAL_PIN)
        return jerr(j, err, RS_EINVALID, "version %llu: unknown kind %d", (unsigned long long)e->version, (int)e->kind);
    if (e->ops_put > (uint64_t)INT64_MAX || e->ops_delete > (uint64_t)INT64_MAX)
        return jerr(j, err, RS_EINVALID, "version %llu: operation counts out of range", (unsigned long long)e->version);
    if ((e->source_etag && strlen(e->source_etag) > TEXT_MAX) || (e->publisher && strlen(e->publisher) > TEXT_MAX))
        return jerr(j, err, RS_ETOOBIG, "version %llu: source_etag or publisher longer than %d bytes", (unsigned long long)e->version, TEXT_MAX);
    if (e->counts_by_kind) {
        json_error_t je;
        json_t *v = json_loads(e->counts_by_kind, JSON_REJECT_DUPLICATES, &je);
        bool ok = v && json_is_object(v);
        json_decref(v);
        if (!ok)
            return jerr(j, err, RS_EINVALID, "version %llu: counts_by_kind is not a JSON object", (unsigned long long)e->version);
    }
    return RS_OK;
}

static void bind_digest(sqlite3_stmt *st, int i, bool has, const uint8_t *d)
{
    if (has)
        sqlite3_bind_blob(st, i, d, RS_JOURNAL_DIGEST_LEN, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* binds ENTRY_PARAMS ?1..?14 */
static void bind_entry(sqlite3_stmt *st, const rs_journal_entry *e, int64_t now)
{
    sqlite3_bind_int64(st, 1, (int64_t)e->version);
    sqlite3_bind_text(st, 2, rs_journal_kind_name(e->kind), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, e->applied_at_ms ? e->applied_at_ms : now);
    sqlite3_bind_int64(st, 4, e->published_at_ms);
    sqlite3_bind_int64(st, 5, e->duration_ms);
    bind_digest(st, 6, e->has_parent_digest, e->parent_digest);
    bind_digest(st, 7, e->has_result_digest, e->result_digest);
    bind_digest(st, 8, e->has_filtered_digest, e->filtered_digest);
    bind_digest(st, 9, e->has_target_digest, e->target_digest);
    sqlite3_bind_int64(st, 10, (int64_t)e->ops_put);
    sqlite3_bind_int64(st, 11, (int64_t)e->ops_delete);
    bind_text(st, 12, e->counts_by_kind);
    bind_text(st, 13, e->source_etag);
    bind_text(st, 14, e->publisher);
}

static int col_digest(sqlite3_stmt *st, int c, bool *has, uint8_t *d)
{
    *has = false;
    if (sqlite3_column_type(st, c) == SQLITE_NULL)
        return 0;
    const void *b = sqlite3_column_blob(st, c);
    if (sqlite3_column_bytes(st, c) != RS_JOURNAL_DIGEST_LEN || !b)
        return -1;
    memcpy(d, b, RS_JOURNAL_DIGEST_LEN);
    *has = true;
    return 0;
}

static int col_text(sqlite3_stmt *st, int c, char **out)
{
    *out = NULL;
    if (sqlite3_column_type(st, c) == SQLITE_NULL)
        return 0;
    const char *t = (const char *)sqlite3_column_text(st, c);
    if (!t)
        return -1;
    *out = strdup(t);
    return *out ? 0 : -1;
}

/* reads ENTRY_COLS starting at column c0 */
static int read_entry(rs_journal *j, sqlite3_stmt *st, int c0, rs_journal_entry *e, rs_error *err)
{
    memset(e, 0, sizeof *e);
    e->version = (uint64_t)sqlite3_column_int64(st, c0 + 0);
    int k = rs_journal_kind_parse((const char *)sqlite3_column_text(st, c0 + 1));
    e->kind = k < 0 ? RS_JOURNAL_APPLY : (rs_journal_kind)k;
    e->applied_at_ms = sqlite3_column_int64(st, c0 + 2);
    e->published_at_ms = sqlite3_column_int64(st, c0 + 3);
    e->duration_ms = sqlite3_column_int64(st, c0 + 4);
    int bad = col_digest(st, c0 + 5, &e->has_parent_digest, e->parent_digest) |
              col_digest(st, c0 + 6, &e->has_result_digest, e->result_digest) |
              col_digest(st, c0 + 7, &e->has_filtered_digest, e->filtered_digest) |
              col_digest(st, c0 + 8, &e->has_target_digest, e->target_digest);
    e->ops_put = (uint64_t)sqlite3_column_int64(st, c0 + 9);
    e->ops_delete = (uint64_t)sqlite3_column_int64(st, c0 + 10);
    int mem = col_text(st, c0 + 11, &e->counts_by_kind) | col_text(st, c0 + 12, &e->source_etag) |
              col_text(st, c0 + 13, &e->publisher);
    if (k < 0 || bad) {
        uint64_t v = e->version;
        rs_journal_entry_clear(e);
        return jerr(j, err, RS_ECORRUPT, "version %llu: %s", (unsigned long long)v, k < 0 ? "unknown kind" : "digest of the wrong length");
    }
    if (mem) {
        rs_journal_entry_clear(e);
        return jerr(j, err, RS_ENOMEM, "out of memory");
    }
    return RS_OK;
}

/* runs a query returning ENTRY_COLS rows into a growing array */
static int fetch_entries(rs_journal *j, sqlite3_stmt *st, rs_journal_entry **out, size_t *n, rs_error *err)
{
    rs_journal_entry *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = RS_OK, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            rs_journal_entry *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                rc = jerr(j, err, RS_ENOMEM, "out of memory");
                break;
            }
            v = nv;
            cap = nc;
        }
        if ((rc = read_entry(j, st, 0, &v[cnt], err)))
            break;
        cnt++;
    }
    if (rc == RS_OK && s != SQLITE_DONE)
        rc = dberr(j, err, s, "read entries");
    if (rc) {
        rs_journal_entries_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return RS_OK;
}

static int get_one(rs_journal *j, const char *sql, bool bind_version, uint64_t version, rs_journal_entry *out, rs_error *err)
{
    sqlite3_stmt *st;
    int rc = prep(j, sql, &st, err);
    if (rc)
        return rc;
    if (bind_version)
        sqlite3_bind_int64(st, 1, (int64_t)version);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        rc = read_entry(j, st, 0, out, err);
    else if (s == SQLITE_DONE)
        rc = bind_version ? jerr(j, err, RS_ENOTFOUND, "version %llu is not journaled", (unsigned long long)version)
                          : jerr(j, err, RS_ENOTFOUND, "no version applied yet");
    else
        rc = dberr(j, err, s, "read entry");
    sqlite3_finalize(st);
    return rc;
}

int rs_journal_last(rs_journal *j, rs_journal_entry *out, rs_error *err)
{
    if (!j || !out)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    memset(out, 0, sizeof *out);
    return get_one(j, "SELECT " ENTRY_COLS " FROM applied ORDER BY version DESC LIMIT 1", false, 0, out, err);
}

int rs_journal_get(rs_journal *j, uint64_t version, rs_journal_entry *out, rs_error *err)
{
    if (!j || !out)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    memset(out, 0, sizeof *out);
    if (version == 0 || version > (uint64_t)INT64_MAX)
        return jerr(j, err, RS_ENOTFOUND, "version %llu is not journaled", (unsigned long long)version);
    return get_one(j, "SELECT " ENTRY_COLS " FROM applied WHERE version = ?1", true, version, out, err);
}

int rs_journal_list(rs_journal *j, uint64_t before, size_t limit, rs_journal_entry **out, size_t *n, rs_error *err)
{
    if (!j || !out || !n)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    int rc = prep(j, "SELECT " ENTRY_COLS " FROM applied WHERE version < ?1 ORDER BY version DESC LIMIT ?2", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, before == 0 || before > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)before);
    sqlite3_bind_int64(st, 2, limit ? (int64_t)(limit > 1000000 ? 1000000 : limit) : 100);
    rc = fetch_entries(j, st, out, n, err);
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* state */

static int state_put(rs_journal *j, const char *key, const char *value, rs_error *err)
{
    sqlite3_stmt *st;
    int rc;
    if (value)
        rc = prep(j,
                  "INSERT INTO state(key, value, updated_at_ms) VALUES (?1, ?2, ?3) "
                  "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms",
                  &st, err);
    else
        rc = prep(j, "DELETE FROM state WHERE key = ?1", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    if (value) {
        sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, rs_wall_ms());
    }
    int s = sqlite3_step(st);
    rc = s == SQLITE_DONE ? RS_OK : dberr(j, err, s, "write state");
    sqlite3_finalize(st);
    return rc;
}

static int writable(rs_journal *j, rs_error *err)
{
    if (!j)
        return rs_error_set(err, RS_EINVALID, "journal: NULL handle");
    if (j->readonly)
        return jerr(j, err, RS_EINVALID, "opened read-only");
    return RS_OK;
}

int rs_journal_state_set(rs_journal *j, const char *key, const char *value, rs_error *err)
{
    int rc = writable(j, err);
    if (rc)
        return rc;
    if (!key || !*key)
        return jerr(j, err, RS_EINVALID, "state: empty key");
    if (value && strlen(value) > 1u << 20)
        return jerr(j, err, RS_ETOOBIG, "state %s: value larger than 1 MiB", key);
    return state_put(j, key, value, err);
}

int rs_journal_state_get(rs_journal *j, const char *key, char **value, rs_error *err)
{
    if (!j || !key || !value)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    *value = NULL;
    sqlite3_stmt *st;
    int rc = prep(j, "SELECT value FROM state WHERE key = ?1", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        *value = strdup(v ? v : "");
        rc = *value ? RS_OK : jerr(j, err, RS_ENOMEM, "out of memory");
    } else if (s == SQLITE_DONE) {
        rc = jerr(j, err, RS_ENOTFOUND, "state %s is not set", key);
    } else {
        rc = dberr(j, err, s, "read state");
    }
    sqlite3_finalize(st);
    return rc;
}

int rs_journal_state_set_i64(rs_journal *j, const char *key, int64_t value, rs_error *err)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)value);
    return rs_journal_state_set(j, key, buf, err);
}

int rs_journal_state_get_i64(rs_journal *j, const char *key, int64_t *value, rs_error *err)
{
    char *v = NULL;
    int rc = rs_journal_state_get(j, key, &v, err);
    if (rc)
        return rc;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end)
        rc = jerr(j, err, RS_ECORRUPT, "state %s: not an integer", key);
    else
        *value = x;
    free(v);
    return rc;
}

static int target_put(rs_journal *j, const rs_journal_target *t, rs_error *err)
{
    char hex[2 * RS_JOURNAL_DIGEST_LEN + 1], num[32];
    int rc;
    if (t->has_digest) {
        rs_hex(t->digest, RS_JOURNAL_DIGEST_LEN, hex);
        rc = state_put(j, RS_JSTATE_TARGET_DIGEST, hex, err);
    } else {
        rc = state_put(j, RS_JSTATE_TARGET_DIGEST, NULL, err);
    }
    if (rc)
        return rc;
    snprintf(num, sizeof num, "%lld", (long long)t->mtime_ns);
    if ((rc = state_put(j, RS_JSTATE_TARGET_MTIME_NS, num, err)))
        return rc;
    snprintf(num, sizeof num, "%llu", (unsigned long long)t->size);
    if ((rc = state_put(j, RS_JSTATE_TARGET_SIZE, num, err)))
        return rc;
    snprintf(num, sizeof num, "%llu", (unsigned long long)t->inode);
    return state_put(j, RS_JSTATE_TARGET_INODE, num, err);
}

int rs_journal_target_set(rs_journal *j, const rs_journal_target *t, rs_error *err)
{
    int rc = writable(j, err);
    if (rc)
        return rc;
    if (!t)
        return jerr(j, err, RS_EINVALID, "target: NULL");
    if ((rc = exec(j, "BEGIN IMMEDIATE", err)))
        return rc;
    if ((rc = target_put(j, t, err))) {
        rollback(j);
        return rc;
    }
    return exec(j, "COMMIT", err);
}

int rs_journal_target_get(rs_journal *j, rs_journal_target *t, rs_error *err)
{
    if (!j || !t)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    memset(t, 0, sizeof *t);
    int64_t mt, sz, ino;
    int rc;
    if ((rc = rs_journal_state_get_i64(j, RS_JSTATE_TARGET_MTIME_NS, &mt, err)) ||
        (rc = rs_journal_state_get_i64(j, RS_JSTATE_TARGET_SIZE, &sz, err)) ||
        (rc = rs_journal_state_get_i64(j, RS_JSTATE_TARGET_INODE, &ino, err)))
        return rc == RS_ENOTFOUND ? jerr(j, err, RS_ENOTFOUND, "the target was never recorded") : rc;
    t->mtime_ns = mt;
    t->size = (uint64_t)sz;
    t->inode = (uint64_t)ino;
    char *hex = NULL;
    rc = rs_journal_state_get(j, RS_JSTATE_TARGET_DIGEST, &hex, err);
    if (rc == RS_OK) {
        if (strlen(hex) != 2 * RS_JOURNAL_DIGEST_LEN || rs_unhex(hex, t->digest, RS_JOURNAL_DIGEST_LEN) != 0)
            rc = jerr(j, err, RS_ECORRUPT, "state %s: not a digest", RS_JSTATE_TARGET_DIGEST);
        else
            t->has_digest = true;
    } else if (rc == RS_ENOTFOUND) {
        rc = RS_OK;
    }
    free(hex);
    if (rc == RS_OK)
        rs_error_clear(err);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* recording */

static const uint8_t *expected_digest(const rs_journal_entry *e)
{
    if (e->has_target_digest)
        return e->target_digest;
    if (e->has_filtered_digest)
        return e->filtered_digest;
    if (e->has_result_digest)
        return e->result_digest;
    return NULL;
}

/* The body of record_apply; the caller holds a write transaction. */
static int record_locked(rs_journal *j, const rs_journal_entry *e, const rs_journal_target *t, rs_error *err)
{
    int64_t now = rs_wall_ms();
    int64_t last = 0;
    int rc = query_i64(j, "SELECT coalesce(max(version), 0) FROM applied", &last, err);
    if (rc)
        return rc;
    int64_t v = (int64_t)e->version;
    bool noop = false;
    if (e->kind == RS_JOURNAL_APPLY) {
        if (v <= last) {
            rs_journal_entry old;
            rc = get_one(j, "SELECT " ENTRY_COLS " FROM applied WHERE version = ?1", true, e->version, &old, err);
            if (rc == RS_OK) {
                bool same = old.has_result_digest == e->has_result_digest &&
                            (!e->has_result_digest || memcmp(old.result_digest, e->result_digest, RS_JOURNAL_DIGEST_LEN) == 0);
                rs_journal_entry_clear(&old);
                if (!same)
                    return jerr(j, err, RS_ECONFLICT, "version %lld is already journaled with a different result digest", (long long)v);
                noop = true;
            } else if (rc == RS_ENOTFOUND) {
                return jerr(j, err, RS_ECONFLICT, "cannot apply version %lld below the last journaled version %lld (use a rollback, pin or bootstrap entry)",
                            (long long)v, (long long)last);
            } else {
                return rc;
            }
        }
    } else if (v <= last) {
        sqlite3_stmt *st;
        if ((rc = prep(j,
                       "INSERT INTO superseded (superseded_at_ms, superseded_by, " ENTRY_COLS ") "
                       "SELECT ?1, ?2, " ENTRY_COLS " FROM applied WHERE version >= ?2 ORDER BY version",
                       &st, err)))
            return rc;
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int64(st, 2, v);
        int s = sqlite3_step(st);
        sqlite3_finalize(st);
        if (s != SQLITE_DONE)
            return dberr(j, err, s, "move superseded versions");
        if ((rc = prep(j, "DELETE FROM applied WHERE version >= ?1", &st, err)))
            return rc;
        sqlite3_bind_int64(st, 1, v);
        s = sqlite3_step(st);
        sqlite3_finalize(st);
        if (s != SQLITE_DONE)
            return dberr(j, err, s, "remove superseded versions");
    }
    if (!noop) {
        sqlite3_stmt *st;
        if ((rc = prep(j, "INSERT INTO applied (" ENTRY_COLS ") VALUES (" ENTRY_PARAMS ")", &st, err)))
            return rc;
        bind_entry(st, e, now);
        int s = sqlite3_step(st);
        sqlite3_finalize(st);
        if (s != SQLITE_DONE)
            return dberr(j, err, s, "insert version");
    }
    if ((rc = exec(j, "DELETE FROM pending", err)))
        return rc;
    if (t && (rc = target_put(j, t, err)))
        return rc;
    return RS_OK;
}

int rs_journal_record_apply_ex(rs_journal *j, const rs_journal_entry *e, const rs_journal_target *target, rs_error *err)
{
    int rc = writable(j, err);
    if (rc || (rc = check_entry(j, e, err)))
        return rc;
    if ((rc = exec(j, "BEGIN IMMEDIATE", err)))
        return rc;
    if ((rc = record_locked(j, e, target, err))) {
        rollback(j);
        return rc;
    }
    return exec(j, "COMMIT", err);
}

int rs_journal_record_apply(rs_journal *j, const rs_journal_entry *e, rs_error *err)
{
    return rs_journal_record_apply_ex(j, e, NULL, err);
}

/* ------------------------------------------------------------------------------------------ */
/* pending and recovery */

int rs_journal_pending_set(rs_journal *j, const rs_journal_entry *e, rs_error *err)
{
    int rc = writable(j, err);
    if (rc || (rc = check_entry(j, e, err)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = prep(j,
                   "INSERT OR REPLACE INTO pending (id, created_at_ms, " ENTRY_COLS ") VALUES (1, ?15, " ENTRY_PARAMS ")",
                   &st, err)))
        return rc;
    int64_t now = rs_wall_ms();
    bind_entry(st, e, now);
    sqlite3_bind_int64(st, 15, now);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? RS_OK : dberr(j, err, s, "write pending");
}

int rs_journal_pending_get(rs_journal *j, rs_journal_entry *out, rs_error *err)
{
    if (!j || !out)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    memset(out, 0, sizeof *out);
    int rc = get_one(j, "SELECT " ENTRY_COLS " FROM pending WHERE id = 1", false, 0, out, err);
    if (rc == RS_ENOTFOUND)
        return jerr(j, err, RS_ENOTFOUND, "no pending version");
    return rc;
}

int rs_journal_pending_clear(rs_journal *j, rs_error *err)
{
    int rc = writable(j, err);
    return rc ? rc : exec(j, "DELETE FROM pending", err);
}

static int event_insert(rs_journal *j, rs_log_level level, const char *kind, uint64_t version, const char *msg, rs_error *err);

int rs_journal_recover(rs_journal *j, const rs_journal_target *observed, rs_journal_recovery *out, rs_error *err)
{
    const uint8_t *target_digest = observed ? (observed->has_digest ? observed->digest : NULL) : NULL;
    bool missing = observed == NULL;
    int rc = writable(j, err);
    if (rc)
        return rc;
    if (!out)
        return jerr(j, err, RS_EINVALID, "recover: NULL result");
    *out = RS_JOURNAL_CONSISTENT;
    rs_journal_entry pend = {0}, last = {0};
    bool has_pend = false, has_last = false;
    char msg[512] = "";
    uint64_t ev_version = 0;
    if ((rc = exec(j, "BEGIN IMMEDIATE", err)))
        return rc;
    rc = get_one(j, "SELECT " ENTRY_COLS " FROM pending WHERE id = 1", false, 0, &pend, err);
    if (rc == RS_OK)
        has_pend = true;
    else if (rc != RS_ENOTFOUND)
        goto fail;
    rc = get_one(j, "SELECT " ENTRY_COLS " FROM applied ORDER BY version DESC LIMIT 1", false, 0, &last, err);
    if (rc == RS_OK)
        has_last = true;
    else if (rc != RS_ENOTFOUND)
        goto fail;
    rc = RS_OK;
    const uint8_t *exp_last = has_last ? expected_digest(&last) : NULL;
    bool target_is_last = has_last ? (exp_last && target_digest && memcmp(exp_last, target_digest, RS_JOURNAL_DIGEST_LEN) == 0)
                                   : missing;
    if (has_pend) {
        const uint8_t *exp_pend = expected_digest(&pend);
        ev_version = pend.version;
        if (exp_pend && target_digest && memcmp(exp_pend, target_digest, RS_JOURNAL_DIGEST_LEN) == 0) {
            if ((rc = record_locked(j, &pend, observed, err)))
                goto fail;
            *out = RS_JOURNAL_COMMITTED;
            snprintf(msg, sizeof msg, "target holds pending version %llu: recorded it", (unsigned long long)pend.version);
        } else {
            if ((rc = exec(j, "DELETE FROM pending", err)))
                goto fail;
            if (target_is_last) {
                *out = RS_JOURNAL_DISCARDED;
                snprintf(msg, sizeof msg, "target still holds version %llu: dropped pending version %llu",
                         (unsigned long long)(has_last ? last.version : 0), (unsigned long long)pend.version);
            } else {
                *out = RS_JOURNAL_MISMATCH;
                snprintf(msg, sizeof msg, "target %s neither the last version %llu nor pending version %llu",
                         missing ? "is missing: it is" : "holds", (unsigned long long)(has_last ? last.version : 0),
                         (unsigned long long)pend.version);
            }
        }
    } else if (!target_is_last && !(has_last && !exp_last)) {
        *out = RS_JOURNAL_MISMATCH;
        ev_version = has_last ? last.version : 0;
        if (has_last)
            snprintf(msg, sizeof msg, "target %s what version %llu wrote", missing ? "is missing; expected" : "differs from",
                     (unsigned long long)last.version);
        else
            snprintf(msg, sizeof msg, "target exists but the journal is empty");
    }
    if ((*out == RS_JOURNAL_CONSISTENT || *out == RS_JOURNAL_DISCARDED) && observed && (rc = target_put(j, observed, err)))
        goto fail;
    if (*out != RS_JOURNAL_CONSISTENT &&
        (rc = event_insert(j, *out == RS_JOURNAL_MISMATCH ? RS_LOG_WARN : RS_LOG_INFO, "recovery", ev_version, msg, err)))
        goto fail;
    rc = exec(j, "COMMIT", err);
    if (rc)
        goto fail;
    rs_journal_entry_clear(&pend);
    rs_journal_entry_clear(&last);
    return RS_OK;
fail:
    rollback(j);
    rs_journal_entry_clear(&pend);
    rs_journal_entry_clear(&last);
    *out = RS_JOURNAL_CONSISTENT;
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* events */

static int event_insert(rs_journal *j, rs_log_level level, const char *kind, uint64_t version, const char *msg, rs_error *err)
{
    sqlite3_stmt *st;
    int rc = prep(j, "INSERT INTO events (at_ms, level, kind, version, message) VALUES (?1, ?2, ?3, ?4, ?5)", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, rs_wall_ms());
    sqlite3_bind_text(st, 2, level_names[(unsigned)level < 4 ? level : RS_LOG_ERROR], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_TRANSIENT);
    if (version && version <= (uint64_t)INT64_MAX)
        sqlite3_bind_int64(st, 4, (int64_t)version);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_text(st, 5, msg, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s != SQLITE_DONE)
        return dberr(j, err, s, "insert event");
    if (++j->inserts_since_prune >= 64) {
        j->inserts_since_prune = 0;
        if ((rc = prep(j, "DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?1)", &st, err)))
            return rc;
        sqlite3_bind_int64(st, 1, (int64_t)j->max_events);
        s = sqlite3_step(st);
        sqlite3_finalize(st);
        if (s != SQLITE_DONE)
            return dberr(j, err, s, "prune events");
    }
    return RS_OK;
}

int rs_journal_event(rs_journal *j, rs_log_level level, const char *kind, uint64_t version, const char *fmt, ...)
{
    int rc = writable(j, NULL);
    if (rc)
        return rc;
    if (!kind || !*kind || !fmt)
        return jerr(j, NULL, RS_EINVALID, "event: empty kind or message");
    char msg[EVENT_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return event_insert(j, level, kind, version, msg, NULL);
}

void rs_journal_events_free(rs_journal_event_rec *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].kind);
        free(v[i].message);
    }
    free(v);
}

static int fetch_events(rs_journal *j, sqlite3_stmt *st, rs_journal_event_rec **out, size_t *n, rs_error *err)
{
    rs_journal_event_rec *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = RS_OK, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            rs_journal_event_rec *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                rc = jerr(j, err, RS_ENOMEM, "out of memory");
                break;
            }
            v = nv;
            cap = nc;
        }
        rs_journal_event_rec *r = &v[cnt];
        memset(r, 0, sizeof *r);
        r->id = sqlite3_column_int64(st, 0);
        r->at_ms = sqlite3_column_int64(st, 1);
        const char *lv = (const char *)sqlite3_column_text(st, 2);
        int l = lv ? rs_log_level_parse(lv) : -1;
        r->level = l < 0 ? RS_LOG_ERROR : (rs_log_level)l;
        r->version = sqlite3_column_type(st, 4) == SQLITE_NULL ? 0 : (uint64_t)sqlite3_column_int64(st, 4);
        cnt++;
        if (col_text(st, 3, &r->kind) || col_text(st, 5, &r->message) || !r->kind || !r->message) {
            rc = jerr(j, err, RS_ENOMEM, "out of memory");
            break;
        }
    }
    if (rc == RS_OK && s != SQLITE_DONE)
        rc = dberr(j, err, s, "read events");
    if (rc) {
        rs_journal_events_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return RS_OK;
}

#define EVENT_COLS "id, at_ms, level, kind, version, message"

int rs_journal_events(rs_journal *j, int64_t since_id, size_t limit, rs_journal_event_rec **out, size_t *n, rs_error *err)
{
    if (!j || !out || !n)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    int rc = prep(j, "SELECT " EVENT_COLS " FROM events WHERE id > ?1 ORDER BY id LIMIT ?2", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, since_id);
    sqlite3_bind_int64(st, 2, limit ? (int64_t)(limit > 1000000 ? 1000000 : limit) : 100);
    rc = fetch_events(j, st, out, n, err);
    sqlite3_finalize(st);
    return rc;
}

int rs_journal_events_recent(rs_journal *j, const char *kind, size_t limit, rs_journal_event_rec **out, size_t *n, rs_error *err)
{
    if (!j || !out || !n)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    int rc = prep(j,
                  kind ? "SELECT " EVENT_COLS " FROM events WHERE kind = ?1 ORDER BY id DESC LIMIT ?2"
                       : "SELECT " EVENT_COLS " FROM events ORDER BY id DESC LIMIT ?2",
                  &st, err);
    if (rc)
        return rc;
    if (kind)
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, limit ? (int64_t)(limit > 1000000 ? 1000000 : limit) : 100);
    rc = fetch_events(j, st, out, n, err);
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* counts and pruning */

void rs_journal_counts_clear(rs_journal_counts *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_event_kinds; i++)
        free(c->event_kinds[i].kind);
    free(c->event_kinds);
    memset(c, 0, sizeof *c);
}

int rs_journal_counts_get(rs_journal *j, rs_journal_counts *out, rs_error *err)
{
    if (!j || !out)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    memset(out, 0, sizeof *out);
    int rc = exec(j, "BEGIN", err); /* one consistent snapshot */
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    int s;
    if ((rc = prep(j, "SELECT count(*), coalesce(min(version), 0), coalesce(max(version), 0), coalesce(max(applied_at_ms), 0) FROM applied",
                   &st, err)))
        goto fail;
    if ((s = sqlite3_step(st)) != SQLITE_ROW) {
        rc = dberr(j, err, s, "count versions");
        goto fail;
    }
    out->applied = (uint64_t)sqlite3_column_int64(st, 0);
    out->first_version = (uint64_t)sqlite3_column_int64(st, 1);
    out->last_version = (uint64_t)sqlite3_column_int64(st, 2);
    out->last_applied_at_ms = sqlite3_column_int64(st, 3);
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = prep(j, "SELECT kind, count(*) FROM applied GROUP BY kind", &st, err)))
        goto fail;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int k = rs_journal_kind_parse((const char *)sqlite3_column_text(st, 0));
        if (k >= 0)
            out->by_kind[k] = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    st = NULL;
    int64_t x;
    if ((rc = query_i64(j, "SELECT count(*) FROM superseded", &x, err)))
        goto fail;
    out->superseded = (uint64_t)x;
    if ((rc = query_i64(j, "SELECT count(*) FROM events", &x, err)))
        goto fail;
    out->events = (uint64_t)x;
    if ((rc = prep(j, "SELECT level, count(*) FROM events GROUP BY level", &st, err)))
        goto fail;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *lv = (const char *)sqlite3_column_text(st, 0);
        int l = lv ? rs_log_level_parse(lv) : -1;
        if (l >= 0 && l < RS_LOG_OFF)
            out->events_by_level[l] = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = prep(j, "SELECT kind, count(*) FROM events GROUP BY kind ORDER BY kind", &st, err)))
        goto fail;
    size_t cap = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n_event_kinds == cap) {
            size_t nc = cap ? cap * 2 : 8;
            void *nv = realloc(out->event_kinds, nc * sizeof *out->event_kinds);
            if (!nv) {
                rc = jerr(j, err, RS_ENOMEM, "out of memory");
                goto fail;
            }
            out->event_kinds = nv;
            cap = nc;
        }
        const char *k = (const char *)sqlite3_column_text(st, 0);
        out->event_kinds[out->n_event_kinds].kind = strdup(k ? k : "");
        out->event_kinds[out->n_event_kinds].n = (uint64_t)sqlite3_column_int64(st, 1);
        if (!out->event_kinds[out->n_event_kinds].kind) {
            rc = jerr(j, err, RS_ENOMEM, "out of memory");
            goto fail;
        }
        out->n_event_kinds++;
    }
    if (s != SQLITE_DONE) {
        rc = dberr(j, err, s, "count events");
        goto fail;
    }
    sqlite3_finalize(st);
    return exec(j, "COMMIT", err);
fail:
    sqlite3_finalize(st);
    rollback(j);
    rs_journal_counts_clear(out);
    return rc;
}

int rs_journal_prune(rs_journal *j, int64_t before_ms, uint64_t *n, rs_error *err)
{
    int rc = writable(j, err);
    if (rc)
        return rc;
    if (n)
        *n = 0;
    if ((rc = exec(j, "BEGIN IMMEDIATE", err)))
        return rc;
    const char *sqls[] = {"DELETE FROM superseded WHERE superseded_at_ms < ?1", "DELETE FROM events WHERE at_ms < ?1"};
    uint64_t total = 0;
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st;
        if ((rc = prep(j, sqls[i], &st, err)))
            goto fail;
        sqlite3_bind_int64(st, 1, before_ms);
        int s = sqlite3_step(st);
        sqlite3_finalize(st);
        if (s != SQLITE_DONE) {
            rc = dberr(j, err, s, "prune");
            goto fail;
        }
        total += (uint64_t)sqlite3_changes(j->db);
    }
    if ((rc = exec(j, "COMMIT", err)))
        goto fail;
    if (n)
        *n = total;
    return RS_OK;
fail:
    rollback(j);
    return rc;
}
