/* pg.c: the postgresql:// backend (libpq), also the libpq helpers of pg_impl.h.
 *
 * URL: a standard libpq URI (postgresql:// or postgres://; user, password, host or a unix-socket
 * directory, port, dbname, sslmode, sslrootcert, options, ...) plus our own parameters, removed
 * before the URI reaches libpq: table_prefix (default "regsync_") and password_file (a file holding
 * the password, read at every connect: a Docker or Kubernetes secret mounted as a file).
 *
 * Schema (see docs/storage.md), created by a versioned migration under an advisory lock:
 *   <p>schema_version(version int primary key, applied timestamptz, by_app text)
 *   <p>objects(key text COLLATE "C" primary key, data bytea, etag text,
 *              size bigint generated from data, updated timestamptz)
 *   triggers <p>objects_stamp_insert/_update: fill etag and updated when another writer (psql)
 *     leaves etag out or changes data without it (regsync's writes never fire them)
 *   trigger <p>objects_notify: pg_notify('<p>objects', key) after insert/update/delete
 *
 * ETag: like the file backend, the hex of the first 16 bytes of SHA-256(data), without quotes (as
 * the S3 backend returns ETags); callers' ETags are compared without W/ and quotes. Conditional writes are single statements (each its own transaction):
 *   if-absent: INSERT ... ON CONFLICT DO NOTHING RETURNING -> no row: RS_ECONFLICT
 *   if-match:  UPDATE ... WHERE key = $1 AND etag = $2 RETURNING -> no row: RS_ECONFLICT
 * Under READ COMMITTED a concurrent UPDATE re-checks the WHERE clause against the row the winner
 * committed, so exactly one of N racing if-match writers wins.
 */
#include "pg_impl.h"
#include "rs_storage_impl.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rs_buf.h"
#include "rs_log.h"
#include "rs_time.h"
#include "rs_url.h"

#define PG_SCHEMA_LATEST 1
#define PG_DEFAULT_PREFIX "regsync_"
#define PG_PREFIX_MAX 40
#define PG_ALIVE_PING_MS 60000

/* ---------------------------------------------------------------- shared helpers */

int rs_pg_url_take_param(char *url, const char *name, char **value, rs_error *err)
{
    *value = NULL;
    char *q = strchr(url, '?');
    if (!q)
        return RS_OK;
    size_t nlen = strlen(name);
    char *p = q + 1;
    while (*p) {
        char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            const char *v = p + nlen + 1;
            size_t vlen = len - nlen - 1;
            char *dec;
            int drc = rs_pct_decode(v, vlen, &dec);
            if (drc == RS_ENOMEM)
                return rs_error_set(err, RS_ENOMEM, "out of memory");
            if (drc)
                return rs_error_set(err, RS_EINVALID, "URL parameter %s has a bad %%-escape", name);
            free(*value);
            *value = dec;
            /* cut "name=value" and its separator */
            char *from = amp ? amp + 1 : p + len;
            memmove(p, from, strlen(from) + 1);
            continue;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    size_t l = strlen(url);
    while (l && (url[l - 1] == '&' || url[l - 1] == '?')) {
        bool was_q = url[l - 1] == '?';
        url[--l] = '\0';
        if (was_q)
            break;
    }
    return RS_OK;
}

char *rs_pg_url_display(const char *url)
{
    const char *s = strstr(url, "://");
    if (!s)
        return strdup("postgresql");
    const char *auth = s + 3;
    const char *end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    rs_buf b = {0};
    rs_buf_printf(&b, "%.*s", (int)(auth - url), url);
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        const char *uend = colon ? colon : at;
        rs_buf_printf(&b, "%.*s@", (int)(uend - auth), auth);
        auth = at + 1;
    }
    rs_buf_printf(&b, "%.*s", (int)(end - auth), auth);
    const char *path_end = end;
    if (*end == '/')
        path_end = end + strcspn(end, "?#");
    rs_buf_printf(&b, "%.*s", (int)(path_end - end), end);
    const char *q = strchr(url, '?');
    if (q) {
        const char *h = strstr(q, "host=");
        if (h && (h[-1] == '?' || h[-1] == '&')) {
            size_t hl = strcspn(h, "&#");
            rs_buf_printf(&b, " (%.*s)", (int)hl, h);
        }
    }
    rs_buf_cstr(&b);
    return (char *)rs_buf_take(&b, NULL);
}

/* Server notices ("relation already exists, skipping", the FATAL sent before the server drops
 * an idle connection) go to the debug log, not to stderr. */
static void notice_to_log(void *arg, const char *msg)
{
    (void)arg;
    if (rs_log_enabled(RS_LOG_DEBUG)) {
        size_t l = strlen(msg);
        while (l && msg[l - 1] == '\n')
            l--;
        RS_LOGD("storage", "pg_notice msg=\"%.*s\"", (int)l, msg);
    }
}

static void trim_msg(char *m)
{
    size_t l = strlen(m);
    while (l && (m[l - 1] == '\n' || m[l - 1] == ' '))
        m[--l] = '\0';
    for (char *p = m; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
}

#define PG_PASSWORD_MAX 4096

/* The password in the file named by the URI's password_file parameter (removed from *ci), read
 * now: a rotated secret is picked up at the next connect. *pw NULL when there is no such
 * parameter; otherwise the caller wipes and frees it. */
static int take_password_file(char *ci, const char *display, char **pw, rs_error *err)
{
    *pw = NULL;
    char *path = NULL;
    int rc = rs_pg_url_take_param(ci, "password_file", &path, err);
    if (rc || !path)
        return rc;
    uint8_t *data = NULL;
    size_t len = 0;
    rs_error e = {0};
    if (!*path) {
        rc = rs_error_set(err, RS_EINVALID, "%s: password_file is empty: name a file holding the password", display);
    } else if ((rc = rs_read_file(path, PG_PASSWORD_MAX + 1, &data, &len, &e)) != RS_OK) {
        rc = rs_error_set(err, RS_EAUTH, "%s: password_file %s: %s", display, path, e.msg);
    } else {
        while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
            len--;
        if (len == 0 || len > PG_PASSWORD_MAX || memchr(data, '\0', len))
            rc = rs_error_set(err, RS_EAUTH, "%s: password_file %s: %s", display, path,
                              len == 0 ? "the file is empty" : "not a password (too long or binary)");
        else if (!(*pw = strndup((const char *)data, len)))
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    if (data) {
        explicit_bzero(data, len);
        free(data);
    }
    free(path);
    return rc;
}

int rs_pg_connect(const char *conninfo, const char *display, const char *app, const rs_storage_opts *opts,
                  long statement_timeout_ms, PGconn **out, rs_error *err)
{
    *out = NULL;
    long ct_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 5000;
    char ct[32];
    snprintf(ct, sizeof ct, "%ld", ct_ms < 2000 ? 2 : (ct_ms + 999) / 1000);
    char *ci = strdup(conninfo), *pw = NULL;
    if (!ci)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    int prc = take_password_file(ci, display, &pw, err);
    if (prc) {
        explicit_bzero(ci, strlen(ci));
        free(ci);
        return prc;
    }
    /* defaults first: expand_dbname lets the URI override them */
    const char *kw[9] = {"application_name", "connect_timeout", "keepalives", "keepalives_idle",
                         "keepalives_interval", "keepalives_count"};
    const char *val[9] = {app, ct, "1", "30", "10", "3"};
    int n = 6;
    if (pw) {
        kw[n] = "password";
        val[n++] = pw;
    }
    kw[n] = "dbname";
    val[n++] = ci;
    kw[n] = val[n] = NULL;
    PGconn *c = PQconnectdbParams(kw, val, 1);
    explicit_bzero(ci, strlen(ci));
    free(ci);
    if (pw) {
        explicit_bzero(pw, strlen(pw));
        free(pw);
    }
    if (!c)
        return rs_error_set(err, RS_ENOMEM, "%s: out of memory connecting", display);
    PQsetNoticeProcessor(c, notice_to_log, NULL);
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[RS_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        trim_msg(msg);
        int code = RS_EIO;
        bool retry = true;
        if (PQconnectionNeedsPassword(c)) {
            code = RS_EAUTH;
            retry = false;
            snprintf(msg, sizeof msg, "the server wants a password and none was given (password_file= in the URL, "
                                      "PGPASSWORD, PGPASSFILE or ~/.pgpass)");
        } else if (strstr(msg, "password authentication failed") || strstr(msg, "authentication failed") ||
                   strstr(msg, "pg_hba.conf") || (strstr(msg, "role \"") && strstr(msg, "does not exist")) ||
                   strstr(msg, "permission denied for database") || strstr(msg, "SCRAM") ||
                   strstr(msg, "certificate") == msg) {
            code = RS_EAUTH;
            retry = false;
        } else if (strstr(msg, "database \"") && strstr(msg, "does not exist")) {
            code = RS_EINVALID;
            retry = false;
        } else if (strstr(msg, "invalid ") || strstr(msg, "SSL") || strstr(msg, "sslmode") ||
                   strstr(msg, "unrecognized") || strstr(msg, "missing \"=\"")) {
            code = strstr(msg, "SSL SYSCALL") ? RS_EIO : RS_EINVALID;
            retry = code == RS_EIO;
        } else if (strstr(msg, "too many") || strstr(msg, "starting up") || strstr(msg, "shutting down") ||
                   strstr(msg, "in recovery")) {
            code = RS_EUNAVAILABLE;
        }
        PQfinish(c);
        return rs_error_setr(err, code, retry, "%s: cannot connect: %s", display, msg);
    }
    if (statement_timeout_ms > 0) {
        char sql[64];
        snprintf(sql, sizeof sql, "SET statement_timeout = %ld", statement_timeout_ms);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            int rc = rs_pg_query_error(c, r, display, "set statement_timeout", err);
            PQclear(r);
            PQfinish(c);
            return rc;
        }
        PQclear(r);
    }
    *out = c;
    return RS_OK;
}

const char *rs_pg_sqlstate(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

int rs_pg_query_error(PGconn *conn, const PGresult *res, const char *display, const char *what, rs_error *err)
{
    const char *state = rs_pg_sqlstate(res);
    char msg[RS_ERROR_MSG_MAX];
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(msg, sizeof msg, "%s", primary ? primary : (conn ? PQerrorMessage(conn) : "no connection"));
    trim_msg(msg);
    int code = RS_EIO;
    bool retry = false;
    if (!*state) {
        /* no server error: the connection broke (or libpq failed locally) */
        code = RS_EIO;
        retry = true;
    } else if (strcmp(state, "57014") == 0) {
        code = RS_ETIMEOUT; /* statement_timeout */
        retry = true;
    } else if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
               strcmp(state, "57P03") == 0) {
        code = RS_EIO;
        retry = true;
    } else if (strncmp(state, "28", 2) == 0 || strcmp(state, "42501") == 0) {
        code = RS_EAUTH;
    } else if (strcmp(state, "23505") == 0) {
        code = RS_ECONFLICT;
    } else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strncmp(state, "53", 2) == 0) {
        code = RS_EUNAVAILABLE;
        retry = true;
    } else if (strcmp(state, "54000") == 0) {
        code = RS_ETOOBIG;
    } else if (strncmp(state, "22", 2) == 0 || strncmp(state, "42", 2) == 0) {
        code = RS_EINVALID;
    }
    return rs_error_setr(err, code, retry, "%s: %s: %s%s%s%s", display, what, msg, *state ? " (SQLSTATE " : "",
                         state, *state ? ")" : "");
}

/* ---------------------------------------------------------------- the backend */

typedef struct pg_store {
    char *conninfo;   /* libpq URI without our parameters; holds the password: never printed */
    char *display;    /* for messages */
    char prefix[PG_PREFIX_MAX + 1];
    char t_objects[PG_PREFIX_MAX + 32];
    char t_version[PG_PREFIX_MAX + 32];
    rs_storage_opts opts;
    long stmt_timeout_ms;
    int max_retries;
    PGconn *conn;
    PGconn *wconn;        /* LISTEN connection for watch, opened lazily */
    bool listened_once;   /* a watch connection has existed: a new one must catch up */
    char alive_ts[64];    /* server time when the watch connection was last known alive */
    int64_t alive_mono;
    rs_storage_stats *stats;
} pg_store;

static void etag_hex(const uint8_t *data, size_t len, char hex[33])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_Digest(len ? data : (const uint8_t *)"", len, md, &mdlen, EVP_sha256(), NULL);
    rs_hex(md, 16, hex);
}

/* The bare ETag (no W/, no quotes) into out; false when it does not fit. */
static bool etag_bare(const char *in, char *out, size_t cap)
{
    if (!in)
        return false;
    if (strncmp(in, "W/", 2) == 0)
        in += 2;
    size_t l = strlen(in);
    if (l >= 2 && in[0] == '"' && in[l - 1] == '"') {
        in++;
        l -= 2;
    }
    if (l + 1 > cap)
        return false;
    memcpy(out, in, l);
    out[l] = '\0';
    return true;
}

/* ETags leave every backend without quotes (as the S3 backend returns them). */
static void etag_out_copy(const char *bare, char out[RS_ETAG_MAX])
{
    snprintf(out, RS_ETAG_MAX, "%s", bare);
}

static void backoff_sleep(int attempt)
{
    long ms = 100L << (attempt < 5 ? attempt : 5);
    if (ms > 2000)
        ms = 2000;
    ms = ms / 2 + (long)(((unsigned)rand() ^ (unsigned)rs_mono_ns()) % (unsigned long)(ms / 2 + 1));
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int ensure_conn(pg_store *ps, rs_error *err)
{
    if (ps->conn && PQstatus(ps->conn) == CONNECTION_OK)
        return RS_OK;
    if (ps->conn) {
        PQfinish(ps->conn);
        ps->conn = NULL;
        RS_LOGI("storage", "pg_reconnect where=\"%s\"", ps->display);
    }
    ps->stats->requests++;
    return rs_pg_connect(ps->conninfo, ps->display, "regsync", &ps->opts, ps->stmt_timeout_ms, &ps->conn, err);
}

/* PQexecParams with a client-side deadline: libpq's blocking calls wait as long as the network
 * stays silent (a partition), which the server's statement_timeout cannot help with. Sends the
 * statement, then waits on the socket until timeout_ms. On the deadline the connection is
 * dropped (*timed_out set, NULL returned): the next call reconnects. */
static PGresult *exec_deadline(pg_store *ps, const char *sql, int n, const char *const *vals, const int *lens,
                               const int *fmts, int result_fmt, bool *timed_out)
{
    *timed_out = false;
    PGconn *c = ps->conn;
    long timeout_ms = ps->opts.timeout_ms > 0 ? ps->opts.timeout_ms : 60000;
    int64_t deadline = rs_mono_ms() + timeout_ms;
    if (!PQsendQueryParams(c, sql, n, NULL, vals, lens, fmts, result_fmt))
        return PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
    for (;;) { /* push the whole statement out (large values) */
        int f = PQflush(c);
        if (f == 0)
            break;
        if (f < 0)
            return PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
        struct pollfd pfd = {.fd = PQsocket(c), .events = POLLOUT | POLLIN};
        int64_t left = deadline - rs_mono_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
            *timed_out = true;
            break;
        }
        if (pfd.revents & POLLIN)
            PQconsumeInput(c);
    }
    PGresult *last = NULL;
    while (!*timed_out) {
        while (PQisBusy(c)) {
            struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
            int64_t left = deadline - rs_mono_ms();
            int pr = left > 0 ? poll(&pfd, 1, (int)left) : 0;
            if (pr < 0 && errno == EINTR)
                continue;
            if (pr <= 0) {
                *timed_out = true;
                break;
            }
            if (!PQconsumeInput(c))
                break;
        }
        if (*timed_out)
            break;
        PGresult *r = PQgetResult(c);
        if (!r)
            break;
        PQclear(last);
        last = r;
    }
    if (*timed_out) {
        PQclear(last);
        PQfinish(ps->conn);
        ps->conn = NULL;
        return NULL;
    }
    return last ? last : PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
}

/* Runs one statement. When the connection is broken (before or by it) and the statement is
 * idempotent, reconnects and retries up to max_retries times. *res is set on success (caller
 * PQclear()s). sent_out (may be NULL) tells whether a failed statement may have reached the
 * server (for conditional writes). */
static int exec_params(pg_store *ps, const char *what, const char *sql, int n, const char *const *vals,
                       const int *lens, const int *fmts, int result_fmt, bool idempotent, PGresult **res,
                       bool *sent_out, rs_error *err)
{
    *res = NULL;
    if (sent_out)
        *sent_out = false;
    for (int attempt = 0;; attempt++) {
        int rc = ensure_conn(ps, err);
        if (rc) {
            if (err && err->retryable && attempt < ps->max_retries) {
                ps->stats->retries++;
                backoff_sleep(attempt);
                continue;
            }
            return rc;
        }
        ps->stats->requests++;
        bool timed_out;
        PGresult *r = exec_deadline(ps, sql, n, vals, lens, fmts, result_fmt, &timed_out);
        if (timed_out) {
            if (sent_out)
                *sent_out = true;
            return rs_error_setr(err, RS_ETIMEOUT, true, "%s: %s: no answer within %ld ms (connection dropped)",
                                 ps->display, what, ps->opts.timeout_ms > 0 ? ps->opts.timeout_ms : 60000L);
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            *res = r;
            return RS_OK;
        }
        bool broken = PQstatus(ps->conn) != CONNECTION_OK;
        rc = rs_pg_query_error(ps->conn, r, ps->display, what, err);
        PQclear(r);
        if (broken) {
            if (sent_out)
                *sent_out = true;
            if (idempotent && attempt < ps->max_retries) {
                ps->stats->retries++;
                RS_LOGW("storage", "pg_retry what=\"%s\" attempt=%d", what, attempt + 1);
                backoff_sleep(attempt);
                continue;
            }
        } else if (idempotent && rc == RS_EUNAVAILABLE && attempt < ps->max_retries) {
            ps->stats->retries++;
            backoff_sleep(attempt);
            continue;
        }
        return rc;
    }
}

static int run_sql(pg_store *ps, PGconn *c, const char *what, const char *sql, rs_error *err)
{
    ps->stats->requests++;
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = RS_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = rs_pg_query_error(c, r, ps->display, what, err);
    PQclear(r);
    return rc;
}

/* The installed schema version, or 0 when the tables do not exist (or are not visible). */
static int schema_version(pg_store *ps, int *version, rs_error *err)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT CASE WHEN to_regclass('%s') IS NULL THEN 0 ELSE -1 END", ps->t_version);
    ps->stats->requests++;
    PGresult *r = PQexec(ps->conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = rs_pg_query_error(ps->conn, r, ps->display, "read schema version", err);
        PQclear(r);
        return rc;
    }
    int v = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (v == 0) {
        *version = 0;
        return RS_OK;
    }
    snprintf(sql, sizeof sql, "SELECT coalesce(max(version), 0) FROM %s", ps->t_version);
    ps->stats->requests++;
    r = PQexec(ps->conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = rs_pg_query_error(ps->conn, r, ps->display, "read schema version", err);
        PQclear(r);
        return rc;
    }
    *version = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return RS_OK;
}

/* Brings the schema to PG_SCHEMA_LATEST. Safe when several processes start at once: the steps
 * run in one transaction under a transaction-scoped advisory lock keyed by the table prefix. */
static int migrate(pg_store *ps, rs_error *err)
{
    int v = 0;
    int rc = schema_version(ps, &v, err);
    if (rc)
        return rc;
    if (v == PG_SCHEMA_LATEST)
        return RS_OK;
    if (v > PG_SCHEMA_LATEST)
        return rs_error_set(err, RS_EUNSUPPORTED,
                            "%s: table %s says schema version %d; this regsync knows up to %d (upgrade regsync)",
                            ps->display, ps->t_version, v, PG_SCHEMA_LATEST);
    rs_buf sql = {0};
    const char *p = ps->prefix;
    rs_buf_printf(&sql,
                  "BEGIN;\n"
                  "SELECT pg_advisory_xact_lock(5218, hashtext('regsync-migrate:%s'));\n"
                  "CREATE TABLE IF NOT EXISTS %s (version integer PRIMARY KEY,"
                  " applied timestamptz NOT NULL DEFAULT now(), by_app text);\n",
                  p, ps->t_version);
    rc = rs_buf_cstr(&sql);
    if (rc) {
        rs_buf_free(&sql);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    rc = run_sql(ps, ps->conn, "create regsync's tables", (const char *)sql.data, err);
    rs_buf_free(&sql);
    if (rc)
        goto rollback;
    /* re-read under the lock: another process may have migrated meanwhile */
    {
        char q[128];
        snprintf(q, sizeof q, "SELECT coalesce(max(version), 0) FROM %s", ps->t_version);
        ps->stats->requests++;
        PGresult *r = PQexec(ps->conn, q);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            rc = rs_pg_query_error(ps->conn, r, ps->display, "migrate: read version", err);
            PQclear(r);
            goto rollback;
        }
        v = atoi(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    if (v < 1) {
        rs_buf_printf(&sql,
                      "CREATE TABLE %1$sobjects (\n"
                      "  key text COLLATE \"C\" PRIMARY KEY,\n"
                      "  data bytea NOT NULL,\n"
                      "  etag text NOT NULL,\n"
                      "  size bigint GENERATED ALWAYS AS (octet_length(data)) STORED,\n"
                      "  updated timestamptz NOT NULL DEFAULT clock_timestamp());\n"
                      /* regsync writes etag itself; this fills it for other writers (psql) who
                       * leave it out or change data without it. The WHEN clauses keep regsync's
                       * own writes from ever entering plpgsql with a large value. */
                      "CREATE FUNCTION %1$sobjects_stamp() RETURNS trigger LANGUAGE plpgsql AS $f$\n"
                      "BEGIN\n"
                      "  NEW.etag := encode(substring(sha256(NEW.data) FROM 1 FOR 16), 'hex');\n"
                      "  NEW.updated := clock_timestamp();\n"
                      "  RETURN NEW;\n"
                      "END $f$;\n"
                      "CREATE TRIGGER %1$sobjects_stamp_insert BEFORE INSERT ON %1$sobjects FOR EACH ROW\n"
                      "  WHEN (NEW.etag IS NULL OR NEW.etag = '') EXECUTE FUNCTION %1$sobjects_stamp();\n"
                      "CREATE TRIGGER %1$sobjects_stamp_update BEFORE UPDATE ON %1$sobjects FOR EACH ROW\n"
                      "  WHEN (NEW.etag IS NOT DISTINCT FROM OLD.etag AND NEW.data IS DISTINCT FROM OLD.data)\n"
                      "  EXECUTE FUNCTION %1$sobjects_stamp();\n"
                      "CREATE FUNCTION %1$sobjects_notify() RETURNS trigger LANGUAGE plpgsql AS $f$\n"
                      "BEGIN\n"
                      "  PERFORM pg_notify('%1$sobjects', CASE WHEN TG_OP = 'DELETE' THEN OLD.key ELSE NEW.key END);\n"
                      "  RETURN NULL;\n"
                      "END $f$;\n"
                      "CREATE TRIGGER %1$sobjects_notify AFTER INSERT OR UPDATE OR DELETE ON %1$sobjects\n"
                      "  FOR EACH ROW EXECUTE FUNCTION %1$sobjects_notify();\n"
                      "INSERT INTO %1$sschema_version (version, by_app) VALUES (1, 'regsync');\n",
                      p);
        if (rs_buf_cstr(&sql)) {
            rs_buf_free(&sql);
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
            goto rollback;
        }
        rc = run_sql(ps, ps->conn, "migrate to schema version 1", (const char *)sql.data, err);
        rs_buf_free(&sql);
        if (rc)
            goto rollback;
        RS_LOGI("storage", "pg_migrated where=\"%s\" prefix=%s version=1", ps->display, p);
    }
    /* future steps: if (v < 2) { ... } */
    rc = run_sql(ps, ps->conn, "migrate: commit", "COMMIT", err);
    return rc;
rollback:
    if (PQstatus(ps->conn) == CONNECTION_OK) {
        PGresult *r = PQexec(ps->conn, "ROLLBACK");
        PQclear(r);
    }
    return rc;
}

static void pg_close(void *impl)
{
    pg_store *ps = impl;
    if (!ps)
        return;
    if (ps->conn)
        PQfinish(ps->conn);
    if (ps->wconn)
        PQfinish(ps->wconn);
    if (ps->conninfo) {
        /* the connection string holds the password */
        memset(ps->conninfo, 0, strlen(ps->conninfo));
        free(ps->conninfo);
    }
    free(ps->display);
    free(ps);
}

static int pg_open(const char *url, const rs_storage_opts *opts, void **impl, rs_storage_stats *stats,
                   rs_error *err)
{
    pg_store *ps = calloc(1, sizeof *ps);
    if (!ps)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    ps->stats = stats;
    ps->opts = *opts;
    ps->stmt_timeout_ms = opts->statement_timeout_ms > 0 ? opts->statement_timeout_ms : 30000;
    ps->max_retries = opts->max_retries == 0 ? 4 : (opts->max_retries < 0 ? 0 : opts->max_retries);
    ps->display = rs_pg_url_display(url);
    ps->conninfo = strdup(url);
    char *prefix = NULL;
    int rc;
    if (!ps->display || !ps->conninfo) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto fail;
    }
    rc = rs_pg_url_take_param(ps->conninfo, "table_prefix", &prefix, err);
    if (rc)
        goto fail;
    const char *pf = prefix ? prefix : PG_DEFAULT_PREFIX;
    size_t pl = strlen(pf);
    bool ok = pl <= PG_PREFIX_MAX && (pl == 0 || islower((unsigned char)pf[0]) || pf[0] == '_');
    for (size_t i = 0; ok && i < pl; i++)
        ok = islower((unsigned char)pf[i]) || isdigit((unsigned char)pf[i]) || pf[i] == '_';
    if (!ok) {
        rc = rs_error_set(err, RS_EINVALID,
                          "%s: table_prefix '%s' must be at most %d characters of [a-z0-9_], not starting with a digit",
                          ps->display, pf, PG_PREFIX_MAX);
        goto fail;
    }
    snprintf(ps->prefix, sizeof ps->prefix, "%s", pf);
    snprintf(ps->t_objects, sizeof ps->t_objects, "%sobjects", pf);
    snprintf(ps->t_version, sizeof ps->t_version, "%sschema_version", pf);
    free(prefix);
    prefix = NULL;
    for (int attempt = 0;; attempt++) {
        rc = ensure_conn(ps, err);
        if (rc == RS_OK || !(err && err->retryable) || attempt >= ps->max_retries || rc == RS_EAUTH)
            break;
        ps->stats->retries++;
        backoff_sleep(attempt);
    }
    if (rc)
        goto fail;
    rc = migrate(ps, err);
    if (rc)
        goto fail;
    *impl = ps;
    return RS_OK;
fail:
    free(prefix);
    pg_close(ps);
    return rc;
}

/* Values larger than this are read in pieces of this size: libpq keeps a whole message in its input
 * buffer (which then stays that large) and again in the PGresult, so reading a 100 MB registry in
 * one SELECT held three copies of it at once (docs/benchmarks.md). In pieces the peak is the value
 * plus about two pieces. */
#define PG_READ_CHUNK (8u << 20)

/* Reads a large value of n bytes in PG_READ_CHUNK pieces, each only while the row still has etag
 * (a write in between makes the read fail as retryable, never returns a mix of two versions). */
static int get_chunked(pg_store *ps, const char *key, const char *etag, size_t n, uint8_t **data, rs_error *err)
{
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return rs_error_set(err, RS_ENOMEM, "%s: key %s: out of memory for %zu bytes", ps->display, key, n);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT substring(data FROM $3::int FOR $4::int) FROM %s WHERE key = $1 AND etag = $2",
             ps->t_objects);
    for (size_t off = 0; off < n;) {
        size_t want = n - off < PG_READ_CHUNK ? n - off : PG_READ_CHUNK;
        char from[32], cnt[32];
        snprintf(from, sizeof from, "%zu", off + 1); /* substring counts from 1 */
        snprintf(cnt, sizeof cnt, "%zu", want);
        const char *vals[4] = {key, etag, from, cnt};
        PGresult *r = NULL;
        int rc = exec_params(ps, "get (piece)", sql, 4, vals, NULL, NULL, 1, true, &r, NULL, err);
        if (rc) {
            free(buf);
            if (err)
                rs_error_prefix(err, "key %s", key);
            return rc;
        }
        if (PQntuples(r) == 0 || PQgetisnull(r, 0, 0) || (size_t)PQgetlength(r, 0, 0) != want) {
            PQclear(r);
            free(buf);
            return rs_error_setr(err, RS_EUNAVAILABLE, true,
                                 "%s: key %s: the object changed while it was read in pieces (at byte %zu of %zu)",
                                 ps->display, key, off, n);
        }
        memcpy(buf + off, PQgetvalue(r, 0, 0), want);
        PQclear(r);
        off += want;
    }
    *data = buf;
    return RS_OK;
}

static int pg_get(void *impl, const char *key, const char *if_none_match, uint8_t **data, size_t *len,
                  char etag_out[RS_ETAG_MAX], rs_error *err)
{
    pg_store *ps = impl;
    char inm[RS_ETAG_MAX] = "";
    bool have_inm = if_none_match && *if_none_match && etag_bare(if_none_match, inm, sizeof inm);
    /* one request for a small value (every poll); a large one comes back as its length only and
     * is read in pieces */
    char sql[320];
    snprintf(sql, sizeof sql,
             "SELECT etag, CASE WHEN etag = $2 OR octet_length(data) > $3::bigint THEN NULL ELSE data END, "
             "CASE WHEN etag = $2 THEN NULL ELSE octet_length(data)::text END FROM %s WHERE key = $1",
             ps->t_objects);
    char chunk[32];
    snprintf(chunk, sizeof chunk, "%u", PG_READ_CHUNK);
    const char *vals[3] = {key, have_inm ? inm : NULL, chunk};
    PGresult *r = NULL;
    int rc = exec_params(ps, "get", sql, 3, vals, NULL, NULL, 1, true, &r, NULL, err);
    if (rc) {
        if (err)
            rs_error_prefix(err, "key %s", key);
        return rc;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        return rs_error_set(err, RS_ENOTFOUND, "%s: key %s: no such object", ps->display, key);
    }
    if (etag_out)
        etag_out_copy(PQgetvalue(r, 0, 0), etag_out);
    if (PQgetisnull(r, 0, 2)) {
        PQclear(r);
        return RS_ENOTMODIFIED;
    }
    if (PQgetisnull(r, 0, 1)) {
        /* larger than a piece */
        char etag[RS_ETAG_MAX];
        snprintf(etag, sizeof etag, "%s", PQgetvalue(r, 0, 0));
        unsigned long long total = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
        PQclear(r);
        rc = get_chunked(ps, key, etag, (size_t)total, data, err);
        if (rc)
            return rc;
        ps->stats->bytes_in += (size_t)total;
        *len = (size_t)total;
        return RS_OK;
    }
    size_t n = (size_t)PQgetlength(r, 0, 1);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        PQclear(r);
        return rs_error_set(err, RS_ENOMEM, "%s: key %s: out of memory for %zu bytes", ps->display, key, n);
    }
    memcpy(buf, PQgetvalue(r, 0, 1), n);
    PQclear(r);
    ps->stats->bytes_in += n;
    *data = buf;
    *len = n;
    return RS_OK;
}

/* The stored ETag of key (bare) or "" when missing, for conflict messages and ambiguous commits. */
static int current_etag(pg_store *ps, const char *key, char *out, size_t cap, rs_error *err)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT etag FROM %s WHERE key = $1", ps->t_objects);
    const char *vals[1] = {key};
    PGresult *r = NULL;
    int rc = exec_params(ps, "read etag", sql, 1, vals, NULL, NULL, 0, true, &r, NULL, err);
    if (rc)
        return rc;
    snprintf(out, cap, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return RS_OK;
}

static int pg_put(void *impl, const char *key, const uint8_t *data, size_t len, rs_put_mode mode,
                  const char *if_match, char etag_out[RS_ETAG_MAX], rs_error *err)
{
    pg_store *ps = impl;
    if (len > INT_MAX)
        return rs_error_set(err, RS_ETOOBIG, "%s: key %s: %zu bytes is more than a bytea takes here", ps->display,
                            key, len);
    char etag[33], im[RS_ETAG_MAX] = "";
    etag_hex(data, len, etag);
    if (mode == RS_PUT_IF_MATCH && !etag_bare(if_match, im, sizeof im))
        return rs_error_set(err, RS_EINVALID, "%s: key %s: if-match ETag too long", ps->display, key);
    char sql[400];
    switch (mode) {
    case RS_PUT_IF_ABSENT:
        snprintf(sql, sizeof sql,
                 "INSERT INTO %s (key, data, etag) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING RETURNING etag",
                 ps->t_objects);
        break;
    case RS_PUT_IF_MATCH:
        snprintf(sql, sizeof sql,
                 "UPDATE %s SET data = $2, etag = $3, updated = clock_timestamp() WHERE key = $1 AND etag = $4 "
                 "RETURNING etag",
                 ps->t_objects);
        break;
    case RS_PUT_ALWAYS:
    default:
        snprintf(sql, sizeof sql,
                 "INSERT INTO %s (key, data, etag) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE "
                 "SET data = EXCLUDED.data, etag = EXCLUDED.etag, updated = clock_timestamp() RETURNING etag",
                 ps->t_objects);
        break;
    }
    const char *vals[4] = {key, len ? (const char *)data : "", etag, im};
    int lens[4] = {0, (int)len, 0, 0};
    int fmts[4] = {0, 1, 0, 0};
    int nparams = mode == RS_PUT_IF_MATCH ? 4 : 3;
    bool idempotent = mode == RS_PUT_ALWAYS;
    for (int attempt = 0;; attempt++) {
        PGresult *r = NULL;
        bool sent = false;
        int rc = exec_params(ps, "put", sql, nparams, vals, lens, fmts, 0, idempotent, &r, &sent, err);
        if (rc == RS_OK) {
            bool won = PQntuples(r) > 0;
            PQclear(r);
            if (won) {
                ps->stats->bytes_out += len;
                if (etag_out)
                    etag_out_copy(etag, etag_out);
                return RS_OK;
            }
            char cur[RS_ETAG_MAX] = "";
            current_etag(ps, key, cur, sizeof cur, NULL);
            if (mode == RS_PUT_IF_ABSENT)
                return rs_error_set(err, RS_ECONFLICT, "%s: key %s: already exists (put if absent)", ps->display,
                                    key);
            if (!*cur)
                return rs_error_set(err, RS_ECONFLICT, "%s: key %s: does not exist (put if match \"%s\")",
                                    ps->display, key, im);
            return rs_error_set(err, RS_ECONFLICT, "%s: key %s: ETag is \"%s\", not \"%s\" (put if match)",
                                ps->display, key, cur, im);
        }
        if (!sent || idempotent || attempt >= ps->max_retries) {
            if (err)
                rs_error_prefix(err, "key %s", key);
            return rc;
        }
        /* A conditional write whose outcome is unknown (the connection broke after sending it):
         * look at what is stored now. Our content there: it committed (or an equal write did). */
        rs_error sub;
        char cur[RS_ETAG_MAX] = "";
        ps->stats->retries++;
        backoff_sleep(attempt);
        if (current_etag(ps, key, cur, sizeof cur, &sub) != RS_OK) {
            if (err)
                *err = sub;
            return sub.code;
        }
        if (strcmp(cur, etag) == 0) {
            ps->stats->bytes_out += len;
            if (etag_out)
                etag_out_copy(etag, etag_out);
            return RS_OK;
        }
        /* otherwise it did not commit: run it again (it fails cleanly if the condition is gone) */
    }
}

static void like_escape(const char *in, rs_buf *b)
{
    for (const char *p = in; *p; p++) {
        if (*p == '%' || *p == '_' || *p == '\\')
            rs_buf_putc(b, '\\');
        rs_buf_putc(b, (uint8_t)*p);
    }
    rs_buf_putc(b, '%');
    rs_buf_cstr(b);
}

static int pg_list(void *impl, const char *prefix, rs_list_entry **entries, size_t *n, rs_error *err)
{
    pg_store *ps = impl;
    rs_buf pat = {0};
    like_escape(prefix, &pat);
    if (!pat.data)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT key, size, etag, (extract(epoch FROM updated) * 1000)::int8 FROM %s "
             "WHERE key LIKE $1 ESCAPE '\\' ORDER BY key",
             ps->t_objects);
    const char *vals[1] = {(const char *)pat.data};
    PGresult *r = NULL;
    int rc = exec_params(ps, "list", sql, 1, vals, NULL, NULL, 0, true, &r, NULL, err);
    rs_buf_free(&pat);
    if (rc) {
        if (err)
            rs_error_prefix(err, "prefix '%s'", prefix);
        return rc;
    }
    int rows = PQntuples(r);
    rs_list_entry *v = calloc(rows ? (size_t)rows : 1, sizeof *v);
    if (!v) {
        PQclear(r);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    for (int i = 0; i < rows; i++) {
        v[i].key = strdup(PQgetvalue(r, i, 0));
        if (!v[i].key) {
            PQclear(r);
            rs_storage_list_free(v, (size_t)i);
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        }
        v[i].size = strtoull(PQgetvalue(r, i, 1), NULL, 10);
        etag_out_copy(PQgetvalue(r, i, 2), v[i].etag);
        v[i].mtime_ms = strtoll(PQgetvalue(r, i, 3), NULL, 10);
    }
    PQclear(r);
    *entries = v;
    *n = (size_t)rows;
    return RS_OK;
}

static int pg_del(void *impl, const char *key, rs_error *err)
{
    pg_store *ps = impl;
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE key = $1", ps->t_objects);
    const char *vals[1] = {key};
    PGresult *r = NULL;
    int rc = exec_params(ps, "delete", sql, 1, vals, NULL, NULL, 0, true, &r, NULL, err);
    if (rc) {
        if (err)
            rs_error_prefix(err, "key %s", key);
        return rc;
    }
    PQclear(r);
    return RS_OK;
}

static int pg_del_if(void *impl, const char *key, const char *if_match, int64_t if_mtime_ms, rs_error *err)
{
    pg_store *ps = impl;
    char im[RS_ETAG_MAX];
    if (!etag_bare(if_match, im, sizeof im))
        return rs_error_set(err, RS_EINVALID, "postgres delete key %s: ETag '%s' is not valid", key, if_match);
    char sql[400];
    /* one statement: the row goes only while it holds that ETag; else say whether it is there */
    /* the same time as rs_storage_list computes it: a rewrite with the same bytes moves it */
    snprintf(sql, sizeof sql,
             "WITH d AS (DELETE FROM %s WHERE key = $1 AND etag = $2 AND "
             "($3::int8 = 0 OR (extract(epoch FROM updated) * 1000)::int8 = $3::int8) RETURNING 1) "
             "SELECT (SELECT count(*) FROM d), (SELECT etag FROM %s WHERE key = $1)",
             ps->t_objects, ps->t_objects);
    char mt[32];
    snprintf(mt, sizeof mt, "%lld", (long long)if_mtime_ms);
    const char *vals[3] = {key, im, mt};
    PGresult *r = NULL;
    int rc = exec_params(ps, "delete if match", sql, 3, vals, NULL, NULL, 0, true, &r, NULL, err);
    if (rc) {
        if (err)
            rs_error_prefix(err, "key %s", key);
        return rc;
    }
    bool deleted = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
    bool present = !PQgetisnull(r, 0, 1);
    char cur[RS_ETAG_MAX];
    snprintf(cur, sizeof cur, "%s", present ? PQgetvalue(r, 0, 1) : "");
    PQclear(r);
    if (!deleted && present)
        return rs_error_set(err, RS_ECONFLICT, "postgres key %s: changed since it was listed (ETag %s, wanted %s)", key, cur, im);
    return RS_OK;
}

/* ---- watch ---- */

typedef struct key_set {
    char **v;
    size_t n, cap;
} key_set;

static int keyset_add(key_set *ks, const char *k)
{
    for (size_t i = 0; i < ks->n; i++)
        if (strcmp(ks->v[i], k) == 0)
            return RS_OK;
    if (ks->n == ks->cap) {
        size_t nc = ks->cap ? ks->cap * 2 : 8;
        char **nv = realloc(ks->v, nc * sizeof *nv);
        if (!nv)
            return RS_ENOMEM;
        ks->v = nv;
        ks->cap = nc;
    }
    ks->v[ks->n] = strdup(k);
    if (!ks->v[ks->n])
        return RS_ENOMEM;
    ks->n++;
    return RS_OK;
}

/* Records the server's clock as the last moment the watch connection was alive. */
static int watch_ping(pg_store *ps, rs_error *err)
{
    ps->stats->requests++;
    PGresult *r = PQexec(ps->wconn, "SELECT now()::text");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = rs_pg_query_error(ps->wconn, r, ps->display, "watch", err);
        PQclear(r);
        return rc;
    }
    snprintf(ps->alive_ts, sizeof ps->alive_ts, "%s", PQgetvalue(r, 0, 0));
    ps->alive_mono = rs_mono_ms();
    PQclear(r);
    return RS_OK;
}

/* Opens the LISTEN connection. After a reconnect, adds the keys under prefix written since the
 * old connection was last known alive (minus a margin for transactions in flight): their
 * notifications went nowhere. Deletions in that gap cannot be seen. */
static int watch_connect(pg_store *ps, const char *prefix, key_set *ks, rs_error *err)
{
    if (ps->wconn) {
        PQfinish(ps->wconn);
        ps->wconn = NULL;
    }
    ps->stats->requests++;
    int rc = rs_pg_connect(ps->conninfo, ps->display, "regsync-watch", &ps->opts, 0, &ps->wconn, err);
    if (rc)
        return rc;
    char sql[160];
    snprintf(sql, sizeof sql, "LISTEN \"%s\"", ps->t_objects);
    char prev_alive[64];
    snprintf(prev_alive, sizeof prev_alive, "%s", ps->alive_ts);
    rc = run_sql(ps, ps->wconn, "watch: listen", sql, err);
    if (!rc)
        rc = watch_ping(ps, err);
    if (rc)
        return rc;
    if (ps->listened_once && prev_alive[0]) {
        rs_buf pat = {0};
        like_escape(prefix, &pat);
        char margin[48];
        snprintf(margin, sizeof margin, "%ld milliseconds", ps->stmt_timeout_ms + 5000);
        char q[300];
        snprintf(q, sizeof q,
                 "SELECT key FROM %s WHERE key LIKE $1 ESCAPE '\\' AND updated >= $2::timestamptz - $3::interval "
                 "ORDER BY key",
                 ps->t_objects);
        const char *vals[3] = {pat.data ? (const char *)pat.data : "%", prev_alive, margin};
        ps->stats->requests++;
        PGresult *r = PQexecParams(ps->wconn, q, 3, NULL, vals, NULL, NULL, 0);
        rs_buf_free(&pat);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            rc = rs_pg_query_error(ps->wconn, r, ps->display, "watch: catch up", err);
            PQclear(r);
            return rc;
        }
        for (int i = 0; i < PQntuples(r); i++)
            if (keyset_add(ks, PQgetvalue(r, i, 0)) != RS_OK) {
                PQclear(r);
                return rs_error_set(err, RS_ENOMEM, "out of memory");
            }
        RS_LOGI("storage", "pg_watch_reconnected where=\"%s\" missed_keys=%d", ps->display, PQntuples(r));
        PQclear(r);
    }
    ps->listened_once = true;
    return RS_OK;
}

static int drain_notifies(pg_store *ps, const char *prefix, key_set *ks)
{
    size_t plen = strlen(prefix);
    PGnotify *nf;
    int rc = RS_OK;
    while ((nf = PQnotifies(ps->wconn))) {
        if (rc == RS_OK && nf->extra && strncmp(nf->extra, prefix, plen) == 0)
            rc = keyset_add(ks, nf->extra);
        PQfreemem(nf);
    }
    return rc;
}

static int pg_watch(void *impl, const char *prefix, int timeout_ms, char ***keys, size_t *n, rs_error *err)
{
    pg_store *ps = impl;
    int64_t deadline = rs_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    key_set ks = {0};
    int rc = RS_OK;
    int attempt = 0;
    rs_error last = {0};
    for (;;) {
        if (!ps->wconn || PQstatus(ps->wconn) != CONNECTION_OK) {
            rc = watch_connect(ps, prefix, &ks, &last);
            if (rc) {
                if (ps->wconn) {
                    PQfinish(ps->wconn);
                    ps->wconn = NULL;
                }
                if (!last.retryable || rs_mono_ms() >= deadline)
                    break;
                ps->stats->retries++;
                long ms = 100L << (attempt < 6 ? attempt : 6);
                int64_t left = deadline - rs_mono_ms();
                if (ms > left)
                    ms = (long)left;
                attempt++;
                if (ms > 0) {
                    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
                    nanosleep(&ts, NULL);
                }
                continue;
            }
            attempt = 0;
        } else if (rs_mono_ms() - ps->alive_mono > PG_ALIVE_PING_MS) {
            if (watch_ping(ps, &last) != RS_OK) {
                PQfinish(ps->wconn); /* reconnect above */
                ps->wconn = NULL;
                continue;
            }
        }
        if (!PQconsumeInput(ps->wconn)) {
            rs_error_set(&last, RS_EIO, "%s: watch connection lost", ps->display);
            PQfinish(ps->wconn);
            ps->wconn = NULL;
            continue;
        }
        if (drain_notifies(ps, prefix, &ks) != RS_OK) {
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
            goto out;
        }
        if (ks.n) {
            /* coalesce a burst: take what else arrives within a few milliseconds */
            struct pollfd more = {.fd = PQsocket(ps->wconn), .events = POLLIN};
            while (poll(&more, 1, 5) > 0 && PQconsumeInput(ps->wconn)) {
                if (drain_notifies(ps, prefix, &ks) != RS_OK)
                    break;
            }
            break;
        }
        int64_t left = deadline - rs_mono_ms();
        if (left <= 0)
            break;
        if (left > PG_ALIVE_PING_MS)
            left = PG_ALIVE_PING_MS;
        struct pollfd pfd = {.fd = PQsocket(ps->wconn), .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno != EINTR) {
            rc = rs_error_set(err, RS_EIO, "%s: watch: poll: %s", ps->display, strerror(errno));
            goto out;
        }
    }
    if (rc && !ks.n) {
        if (err)
            *err = last;
        rs_error_prefix(err, "watch");
        goto out;
    }
    rc = RS_OK;
    *keys = ks.v;
    *n = ks.n;
    return RS_OK;
out:
    rs_storage_keys_free(ks.v, ks.n);
    return rc;
}

const rs_storage_vtable rs_pg_backend = {
    .scheme = "postgresql",
    .caps = RS_CAP_WATCH,
    .open = pg_open,
    .close = pg_close,
    .get = pg_get,
    .put = pg_put,
    .list = pg_list,
    .del = pg_del,
    .del_if = pg_del_if,
    .watch = pg_watch,
};
