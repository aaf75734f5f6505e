/* rs_journal.c: the SQLite journal (see rs_journal.h and docs/journal.md): names, errors, SQL
 * helpers, the schema and its migrations, open and close. Entries, state and recovery are in
 * rs_journal_entries.c; events, counts and pruning in rs_journal_events.c. */
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
#include "rs_journal_impl.h"

static const char *const kind_names[] = {"apply", "bootstrap", "rollback", "pin"};

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

int jr_jerr(rs_journal *j, rs_error *err, int code, const char *fmt, ...)
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
int jr_dberr(rs_journal *j, rs_error *err, int rc, const char *op)
{
    int code = map_sqlite(rc);
    if (code == RS_OK)
        code = RS_EIO;
    const char *m = j && j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc);
    if (code == RS_ECORRUPT)
        return jr_jerr(j, err, code, "%s: %s (the journal file is damaged: move it aside to start a new one)", op, m);
    return jr_jerr(j, err, code, "%s: %s", op, m);
}

/* ------------------------------------------------------------------------------------------ */
/* small SQL helpers */

int jr_exec(rs_journal *j, const char *sql, rs_error *err)
{
    int rc = sqlite3_exec(j->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? RS_OK : jr_dberr(j, err, rc, sql);
}

int jr_prep(rs_journal *j, const char *sql, sqlite3_stmt **st, rs_error *err)
{
    int rc = sqlite3_prepare_v2(j->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? RS_OK : jr_dberr(j, err, rc, "prepare");
}

void jr_rollback(rs_journal *j)
{
    if (!sqlite3_get_autocommit(j->db))
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
}

/* one integer from a query without parameters */
int jr_query_i64(rs_journal *j, const char *sql, int64_t *out, rs_error *err)
{
    sqlite3_stmt *st;
    int rc = jr_prep(j, sql, &st, err);
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
        rc = jr_dberr(j, err, s, sql);
    }
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* schema */

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
    int rc = jr_exec(j, "BEGIN IMMEDIATE", err);
    if (rc)
        return rc;
    int64_t uv = 0, app = 0, tables = 0;
    if ((rc = jr_query_i64(j, "PRAGMA user_version", &uv, err)) || (rc = jr_query_i64(j, "PRAGMA application_id", &app, err)) ||
        (rc = jr_query_i64(j, "SELECT count(*) FROM sqlite_master", &tables, err)))
        goto fail;
    if (app != 0 && app != APPLICATION_ID) {
        rc = jr_jerr(j, err, RS_ECORRUPT, "not a regsync journal (application_id 0x%llx); move it aside", (unsigned long long)app);
        goto fail;
    }
    if (app == 0 && tables > 0) {
        rc = jr_jerr(j, err, RS_ECORRUPT, "an SQLite database that is not a regsync journal; move it aside");
        goto fail;
    }
    if (uv > RS_JOURNAL_SCHEMA_VERSION) {
        rc = jr_jerr(j, err, RS_EUNSUPPORTED, "schema version %lld is newer than this build's (%d); upgrade regsyncd",
                  (long long)uv, RS_JOURNAL_SCHEMA_VERSION);
        goto fail;
    }
    for (int v = (int)uv; v < N_MIGRATIONS; v++) {
        char *msg = NULL;
        int s = sqlite3_exec(j->db, MIGRATIONS[v], NULL, NULL, &msg);
        if (s != SQLITE_OK) {
            rc = jr_jerr(j, err, map_sqlite(s) ? map_sqlite(s) : RS_EIO, "migration to schema %d: %s", v + 1, msg ? msg : sqlite3_errstr(s));
            sqlite3_free(msg);
            goto fail;
        }
    }
    if (uv < RS_JOURNAL_SCHEMA_VERSION) {
        char sql[128];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d; PRAGMA application_id = %d", RS_JOURNAL_SCHEMA_VERSION, APPLICATION_ID);
        if ((rc = jr_exec(j, sql, err)))
            goto fail;
    }
    return jr_exec(j, "COMMIT", err);
fail:
    jr_rollback(j);
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
        return jr_jerr(j, err, RS_EIO, "stat: %s", strerror(errno));
    }
    *exists = true;
    if (!S_ISREG(st.st_mode))
        return jr_jerr(j, err, RS_EINVALID, "not a regular file");
    return RS_OK;
}

/* SQLite's answer for a file that is not a database: a clear message instead of "file is not a
 * database" on some statement. */
static int not_sqlite(rs_journal *j, rs_error *err)
{
    return jr_jerr(j, err, RS_ECORRUPT, "not an SQLite database (damaged or not a journal); move it aside to start a new journal");
}

static int integrity_check(rs_journal *j, rs_error *err)
{
    sqlite3_stmt *st;
    int rc = jr_prep(j, "PRAGMA quick_check(5)", &st, err);
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
            rc = jr_jerr(j, err, RS_ECORRUPT, "integrity check failed (%s); move it aside to start a new journal", first);
        }
    } else if (s != SQLITE_DONE) {
        rc = jr_dberr(j, err, s, "integrity check");
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
            rc = jr_jerr(j, err, RS_ENOMEM, "out of memory");
            goto fail;
        }
        j->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (j->lock_fd < 0) {
            rc = jr_jerr(j, err, RS_EIO, "cannot open lock %s: %s", lp, strerror(errno));
            free(lp);
            goto fail;
        }
        if (flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            rc = jr_jerr(j, err, e == EWOULDBLOCK ? RS_ECONFLICT : RS_EIO, "in use by another process (lock %s: %s)", lp, strerror(e));
            free(lp);
            goto fail;
        }
        free(lp);
    }
    bool exists;
    if ((rc = check_file(j, &exists, err)))
        goto fail;
    if (o.readonly && !exists) {
        rc = jr_jerr(j, err, RS_ENOTFOUND, "does not exist");
        goto fail;
    }
    /* read-only handles open read-write without create and set query_only, so that they can
       create the WAL index (-shm) when no writer runs */
    int flags = (o.readonly ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX;
    int s = sqlite3_open_v2(j->path, &j->db, flags, NULL);
    if (s != SQLITE_OK) {
        rc = jr_dberr(j, err, s, "open");
        goto fail;
    }
    sqlite3_extended_result_codes(j->db, 1);
    sqlite3_busy_timeout(j->db, o.busy_timeout_ms > 0 ? o.busy_timeout_ms : 5000);
    if (o.readonly) {
        /* a reader never checkpoints or deletes the WAL when it closes: the writer may be running
           (SQLite's own locks say so too; this holds even if something dropped them) */
        s = sqlite3_db_config(j->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
        if (s != SQLITE_OK) {
            rc = jr_dberr(j, err, s, "no checkpoint on close");
            goto fail;
        }
    }
    /* the first read of the file: its header */
    {
        int64_t sv;
        rs_error pe = {0};
        if ((rc = jr_query_i64(j, "PRAGMA schema_version", &sv, &pe))) {
            if ((sqlite3_extended_errcode(j->db) & 0xff) == SQLITE_NOTADB)
                rc = not_sqlite(j, err);
            else if (err)
                *err = pe;
            goto fail;
        }
    }
    if (o.readonly) {
        if ((rc = jr_exec(j, "PRAGMA query_only = ON", err)))
            goto fail;
    } else {
        sqlite3_stmt *st;
        if ((rc = jr_prep(j, "PRAGMA journal_mode = WAL", &st, err)))
            goto fail;
        s = sqlite3_step(st);
        const char *mode = s == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        bool wal = mode && strcmp(mode, "wal") == 0;
        if (s != SQLITE_ROW)
            rc = jr_dberr(j, err, s, "journal_mode=WAL");
        else if (!wal)
            rc = jr_jerr(j, err, RS_EIO, "cannot switch to WAL mode (got %s)", mode ? mode : "?");
        sqlite3_finalize(st);
        if (rc)
            goto fail;
    }
    if ((rc = jr_exec(j, "PRAGMA synchronous = FULL", err)))
        goto fail;
    if (!o.skip_integrity_check && exists && (rc = integrity_check(j, err)))
        goto fail;
    if (!o.readonly) {
        if ((rc = migrate(j, err)))
            goto fail;
    } else {
        int64_t uv = 0, app = 0;
        if ((rc = jr_query_i64(j, "PRAGMA user_version", &uv, err)) || (rc = jr_query_i64(j, "PRAGMA application_id", &app, err)))
            goto fail;
        if (app != APPLICATION_ID) {
            rc = jr_jerr(j, err, uv == 0 && app == 0 ? RS_ENOTFOUND : RS_ECORRUPT, "not a regsync journal (or never initialized)");
            goto fail;
        }
        if (uv != RS_JOURNAL_SCHEMA_VERSION) {
            rc = jr_jerr(j, err, uv > RS_JOURNAL_SCHEMA_VERSION ? RS_EUNSUPPORTED : RS_EINVALID,
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
