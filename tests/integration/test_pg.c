/* test_pg.c: what only the postgresql:// backend promises, against the server of
 * scripts/pg-server.sh (RS_TEST_PG_URL; loud SKIP without it).
 *
 * Migration (6 processes opening a fresh table prefix at once; a newer schema refused), URL
 * handling (table_prefix checked and stripped, unix-socket host as CloudSQL uses, sslmode passed
 * through), error mapping (wrong password / role without rights -> AUTH, refused -> retryable IO,
 * statement_timeout -> TIMEOUT, no password in any message), reconnect after the server drops
 * the connection, and watch (LISTEN/NOTIFY: puts, deletes and psql writes under the prefix only,
 * timeout, reconnect with catch-up of what was written meanwhile).
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rs_storage.h"
#include "rs_test.h"
#include "rs_time.h"

static const char *PGURL;   /* RS_TEST_PG_URL */
static char prefix[64];     /* this run's table prefix */
static char *url;           /* PGURL + table_prefix */
static char password[128];
static PGconn *side;        /* a plain libpq connection (as the same role) */

static char *with_param(const char *u, const char *param)
{
    size_t n = strlen(u) + strlen(param) + 4;
    char *o = malloc(n);
    snprintf(o, n, "%s%c%s", u, strchr(u, '?') ? '&' : '?', param);
    return o;
}

static bool need_server(void)
{
    if (PGURL)
        return true;
    PGURL = rs_test_env("RS_TEST_PG_URL");
    if (!PGURL) {
        /* every call: the test that asks is recorded as skipped (the line prints once) */
        rs_test_skip("test_pg (every test)", "RS_TEST_PG_URL not set (eval \"$(scripts/pg-server.sh env)\")");
        return false;
    }
    return true;
}

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static int setup(void)
{
    const char *u = getenv("RS_TEST_PG_URL");
    if (!u || !*u)
        return 0;
    PGURL = u;
    snprintf(prefix, sizeof prefix, "tpg%ld_", (long)getpid());
    char p[96];
    snprintf(p, sizeof p, "table_prefix=%s", prefix);
    url = with_param(u, p);
    const char *a = strstr(u, "://") + 3, *at = strchr(a, '@'), *c = strchr(a, ':');
    if (at && c && c < at)
        snprintf(password, sizeof password, "%.*s", (int)(at - c - 1), c + 1);
    side = PQconnectdb(u);
    PQsetNoticeProcessor(side, quiet, NULL);
    return PQstatus(side) == CONNECTION_OK ? 0 : 1;
}

static void side_exec(const char *fmt, const char *arg)
{
    char sql[1024];
    snprintf(sql, sizeof sql, fmt, arg, arg, arg, arg);
    PGresult *r = PQexec(side, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "side sql failed: %s: %s", sql, PQerrorMessage(side));
    PQclear(r);
}

static void drop_prefix(const char *p)
{
    side_exec("DROP TABLE IF EXISTS %sobjects, %sschema_version; DROP FUNCTION IF EXISTS %sobjects_stamp(), "
              "%sobjects_notify()",
              p);
}

static int teardown(void)
{
    if (side && PQstatus(side) == CONNECTION_OK) {
        drop_prefix(prefix);
        for (int i = 0; i < 3; i++) {
            char p[80];
            snprintf(p, sizeof p, "%sm%d_", prefix, i);
            drop_prefix(p);
        }
    }
    PQfinish(side);
    free(url);
    return 0;
}

static int64_t side_int(const char *sql)
{
    PGresult *r = PQexec(side, sql);
    int64_t v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        fprintf(stderr, "side query failed: %s: %s", sql, PQerrorMessage(side));
    PQclear(r);
    return v;
}

/* ---------------------------------------------------------------- migration */

static void t_concurrent_migration(void)
{
    if (!need_server())
        return;
    char p[80], param[120];
    snprintf(p, sizeof p, "%sm0_", prefix);
    snprintf(param, sizeof param, "table_prefix=%s", p);
    char *u = with_param(PGURL, param);
    enum { N = 6 };
    int go[2];
    CU_ASSERT_FATAL(pipe(go) == 0);
    pid_t pids[N];
    fflush(NULL);
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(go[1]);
            char c;
            while (read(go[0], &c, 1) > 0) {
            }
            rs_storage *s = NULL;
            rs_error err = {0};
            int rc = rs_storage_open(u, NULL, &s, &err);
            if (rc)
                fprintf(stderr, "migrator %d: %s\n", i, err.msg);
            if (!rc)
                rc = rs_storage_put(s, "m/k", (const uint8_t *)"v", 1, RS_PUT_ALWAYS, NULL, NULL, &err);
            rs_storage_close(s);
            _exit(rc ? 1 : 0);
        }
    }
    close(go[0]);
    usleep(100000);
    close(go[1]);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    CU_ASSERT_EQUAL(ok, N);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %sschema_version", p);
    CU_ASSERT_EQUAL(side_int(sql), 1);
    snprintf(sql, sizeof sql, "SELECT max(version) FROM %sschema_version", p);
    CU_ASSERT_EQUAL(side_int(sql), 1);
    /* opening again migrates nothing */
    rs_storage *s = NULL;
    CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, NULL), RS_OK);
    rs_storage_close(s);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %sschema_version", p);
    CU_ASSERT_EQUAL(side_int(sql), 1);
    /* the key column sorts bytewise (COLLATE "C"), whatever the database's collation */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation "
             "WHERE a.attrelid = '%sobjects'::regclass AND a.attname = 'key' AND c.collname = 'C'",
             p);
    CU_ASSERT_EQUAL(side_int(sql), 1);
    free(u);
}

static void t_newer_schema_refused(void)
{
    if (!need_server())
        return;
    char p[80], param[120];
    snprintf(p, sizeof p, "%sm1_", prefix);
    snprintf(param, sizeof param, "table_prefix=%s", p);
    char *u = with_param(PGURL, param);
    rs_storage *s = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(u, NULL, &s, &err), RS_OK);
    rs_storage_close(s);
    s = NULL;
    side_exec("INSERT INTO %sschema_version (version, by_app) VALUES (99, 'the future')", p);
    CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, &err), RS_EUNSUPPORTED);
    CU_ASSERT(strstr(err.msg, "99") != NULL);
    CU_ASSERT_PTR_NULL(s);
    free(u);
}

/* ---------------------------------------------------------------- URLs */

static void t_table_prefix_checked(void)
{
    if (!need_server())
        return;
    const char *bad[] = {"table_prefix=Upper_", "table_prefix=1digit_", "table_prefix=semi;colon",
                         "table_prefix=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *u = with_param(PGURL, bad[i]);
        rs_storage *s = NULL;
        rs_error err = {0};
        CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, &err), RS_EINVALID);
        CU_ASSERT(strstr(err.msg, "table_prefix") != NULL);
        CU_ASSERT(!*password || strstr(err.msg, password) == NULL);
        free(u);
    }
    /* stripped before libpq sees it (libpq refuses unknown parameters), between other ones */
    char p[120];
    snprintf(p, sizeof p, "table_prefix=%s&application_name=regsync-test-app", prefix);
    char *u = with_param(PGURL, p);
    rs_storage *s = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, &err), RS_OK);
    CU_ASSERT(!*password || strstr(rs_storage_url(s), password) == NULL);
    CU_ASSERT(strstr(rs_storage_url(s), "<redacted>") != NULL);
    CU_ASSERT_EQUAL(side_int("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'regsync-test-app'"),
                    1);
    rs_storage_close(s);
    free(u);
}

static void t_unix_socket(void)
{
    if (!need_server())
        return;
    const char *dir = getenv("RS_TEST_PG_SOCKET_DIR"), *port = getenv("RS_TEST_PG_PORT");
    if (!dir || !port) {
        rs_test_skip("test_pg unix socket", "RS_TEST_PG_SOCKET_DIR/RS_TEST_PG_PORT not set");
        return;
    }
    /* host as a %-encoded path in the authority, as CloudSQL connectors do, and as ?host= */
    char enc[1024] = "";
    for (const char *c = dir; *c && strlen(enc) < sizeof enc - 4; c++) {
        if (*c == '/')
            strcat(enc, "%2F");
        else
            strncat(enc, c, 1);
    }
    char u[2048];
    snprintf(u, sizeof u, "postgresql://regsync:%s@%s:%s/regsync_test?table_prefix=%s", password, enc, port, prefix);
    rs_storage *s = NULL;
    rs_error err = {0};
    int rc = rs_storage_open(u, NULL, &s, &err);
    if (rc)
        fprintf(stderr, "unix socket: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "sock/k", (const uint8_t *)"via socket", 10, RS_PUT_ALWAYS, NULL, NULL, &err),
                    RS_OK);
    rs_storage_close(s);
    s = NULL;
    snprintf(u, sizeof u, "postgresql://regsync:%s@/regsync_test?host=%s&port=%s&table_prefix=%s", password, dir,
             port, prefix);
    CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, &err), RS_OK);
    uint8_t *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_get(s, "sock/k", NULL, &d, &n, NULL, &err), RS_OK);
    CU_ASSERT(n == 10 && d && memcmp(d, "via socket", 10) == 0);
    free(d);
    CU_ASSERT(strstr(rs_storage_url(s), password) == NULL);
    rs_storage_delete(s, "sock/k", NULL);
    rs_storage_close(s);
}

/* url with sslmode=<mode> (replacing any sslmode it has). Caller frees. */
static char *with_sslmode(const char *u, const char *mode)
{
    size_t n = strlen(u) + 64;
    char *o = malloc(n);
    const char *q = strstr(u, "sslmode=");
    if (q) {
        const char *end = q + strcspn(q, "&");
        snprintf(o, n, "%.*ssslmode=%s%s", (int)(q - u), u, mode, end);
    } else {
        snprintf(o, n, "%s%csslmode=%s", u, strchr(u, '?') ? '&' : '?', mode);
    }
    return o;
}

static void t_sslmode(void)
{
    if (!need_server())
        return;
    /* the test server has no TLS: require must fail, prefer must fall back to plain */
    char *req = with_sslmode(url, "require"), *pref = with_sslmode(url, "prefer");
    rs_storage *s = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL(rs_storage_open(req, NULL, &s, &err), RS_EINVALID);
    CU_ASSERT(strstr(err.msg, "SSL") != NULL);
    CU_ASSERT(!err.retryable);
    fprintf(stderr, "  (sslmode=require: %s)\n", err.msg);
    CU_ASSERT_EQUAL(rs_storage_open(pref, NULL, &s, &err), RS_OK);
    rs_storage_close(s);
    free(req);
    free(pref);
}

/* ---------------------------------------------------------------- errors */

static void t_auth_errors(void)
{
    if (!need_server())
        return;
    const char *badu = getenv("RS_TEST_PG_BAD_URL");
    rs_storage *s = NULL;
    rs_error err = {0};
    if (badu) {
        char *u = with_param(badu, "table_prefix=x_");
        CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, &err), RS_EAUTH);
        CU_ASSERT(strstr(err.msg, "password authentication failed for user \"regsync\"") != NULL);
        CU_ASSERT(strstr(err.msg, "wrong-") == NULL);
        CU_ASSERT(!*password || strstr(err.msg, password) == NULL);
        CU_ASSERT(!err.retryable);
        free(u);
    }
    /* no password at all */
    char nopw[1024];
    const char *at = strchr(strstr(PGURL, "://") + 3, '@');
    snprintf(nopw, sizeof nopw, "postgresql://regsync%s", at);
    unsetenv("PGPASSWORD");
    setenv("PGPASSFILE", "/nonexistent", 1);
    CU_ASSERT_EQUAL(rs_storage_open(nopw, NULL, &s, &err), RS_EAUTH);
    CU_ASSERT(strstr(err.msg, "password") != NULL);
    fprintf(stderr, "  (no password: %s)\n", err.msg);
    /* a role that may log in but not create or use our tables */
    const char *other = getenv("RS_TEST_PG_OTHER_URL");
    if (other) {
        char *u = with_param(other, "table_prefix=other_");
        CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, &err), RS_EAUTH);
        CU_ASSERT(strstr(err.msg, "permission denied") != NULL);
        fprintf(stderr, "  (role without rights: %s)\n", err.msg);
        free(u);
    }
}

static void t_refused(void)
{
    if (!need_server())
        return;
    /* a port nobody listens on */
    int port = 1;
    char u[256];
    snprintf(u, sizeof u, "postgresql://regsync:secret-pw@127.0.0.1:%d/regsync_test", port);
    rs_storage_opts o = {.max_retries = -1, .connect_timeout_ms = 2000};
    rs_storage *s = NULL;
    rs_error err = {0};
    int64_t t0 = rs_mono_ms();
    CU_ASSERT_EQUAL(rs_storage_open(u, &o, &s, &err), RS_EIO);
    CU_ASSERT(err.retryable);
    CU_ASSERT(strstr(err.msg, "refused") != NULL);
    CU_ASSERT(strstr(err.msg, "secret-pw") == NULL);
    CU_ASSERT(rs_mono_ms() - t0 < 3000);
    /* with retries: backoff, then the same error */
    o.max_retries = 2;
    t0 = rs_mono_ms();
    CU_ASSERT_EQUAL(rs_storage_open(u, &o, &s, &err), RS_EIO);
    CU_ASSERT(rs_mono_ms() - t0 >= 100);
}

static void t_statement_timeout(void)
{
    if (!need_server())
        return;
    rs_storage_opts o = {.statement_timeout_ms = 300};
    rs_storage *s = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(url, &o, &s, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "slow/k", (const uint8_t *)"v", 1, RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    side_exec("BEGIN; LOCK TABLE %sobjects IN ACCESS EXCLUSIVE MODE", prefix);
    uint8_t *d = NULL;
    size_t n = 0;
    int64_t t0 = rs_mono_ms();
    CU_ASSERT_EQUAL(rs_storage_get(s, "slow/k", NULL, &d, &n, NULL, &err), RS_ETIMEOUT);
    int64_t took = rs_mono_ms() - t0;
    CU_ASSERT(took >= 250 && took < 3000);
    CU_ASSERT(strstr(err.msg, "statement timeout") != NULL);
    side_exec("ROLLBACK", "");
    CU_ASSERT_EQUAL(rs_storage_get(s, "slow/k", NULL, &d, &n, NULL, &err), RS_OK);
    free(d);
    rs_storage_delete(s, "slow/k", NULL);
    rs_storage_close(s);
}

/* Terminates the server backends of this role with the given application_name. */
static int64_t kill_backends(const char *app)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '%s' "
             "AND usename = current_user AND pid <> pg_backend_pid()",
             app);
    return side_int(sql);
}

/* A value larger than a read piece (8 MiB, storage/pg.c) comes back whole and in order, in one
 * request per piece plus the first; a small one and a not-modified answer stay one request. */
static void t_large_value_in_pieces(void)
{
    if (!need_server())
        return;
    rs_storage *s = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(url, NULL, &s, &err), RS_OK);
    size_t n = (20u << 20) + 12345; /* 3 pieces: 8 + 8 + 4 MiB and change */
    uint8_t *v = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    for (size_t i = 0; i < n; i++)
        v[i] = (uint8_t)((i * 2654435761u) >> 13); /* no two pieces alike */
    char etag[RS_ETAG_MAX];
    CU_ASSERT_EQUAL_FATAL(rs_storage_put(s, "big/v", v, n, RS_PUT_ALWAYS, NULL, etag, &err), RS_OK);
    rs_storage_stats a, b;
    rs_storage_get_stats(s, &a);
    uint8_t *d = NULL;
    size_t dn = 0;
    char got_etag[RS_ETAG_MAX];
    int grc = rs_storage_get(s, "big/v", NULL, &d, &dn, got_etag, &err);
    if (grc)
        printf("\n  get of %zu bytes: %s\n", n, err.msg);
    CU_ASSERT_EQUAL(grc, RS_OK);
    rs_storage_get_stats(s, &b);
    CU_ASSERT_EQUAL(dn, n);
    CU_ASSERT(d && dn == n && memcmp(d, v, n) == 0);
    CU_ASSERT_STRING_EQUAL(got_etag, etag);
    CU_ASSERT_EQUAL(b.requests - a.requests, 4); /* the length, then 3 pieces */
    CU_ASSERT_EQUAL(b.bytes_in - a.bytes_in, n);
    free(d);
    d = NULL;
    rs_storage_get_stats(s, &a);
    CU_ASSERT_EQUAL(rs_storage_get(s, "big/v", etag, &d, &dn, NULL, &err), RS_ENOTMODIFIED);
    rs_storage_get_stats(s, &b);
    CU_ASSERT_EQUAL(b.requests - a.requests, 1);
    /* exactly one piece is still one request */
    CU_ASSERT_EQUAL(rs_storage_put(s, "big/w", v, 8u << 20, RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    rs_storage_get_stats(s, &a);
    CU_ASSERT_EQUAL(rs_storage_get(s, "big/w", NULL, &d, &dn, NULL, &err), RS_OK);
    rs_storage_get_stats(s, &b);
    CU_ASSERT(d && dn == (8u << 20) && memcmp(d, v, dn) == 0);
    CU_ASSERT_EQUAL(b.requests - a.requests, 1);
    free(d);
    free(v);
    rs_storage_close(s);
}

static void t_reconnect(void)
{
    if (!need_server())
        return;
    rs_storage *s = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(url, NULL, &s, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "re/k", (const uint8_t *)"v1", 2, RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    CU_ASSERT(kill_backends("regsync") >= 1);
    usleep(100000);
    rs_storage_stats a, b;
    rs_storage_get_stats(s, &a);
    uint8_t *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_get(s, "re/k", NULL, &d, &n, NULL, &err), RS_OK);
    CU_ASSERT(n == 2 && d && memcmp(d, "v1", 2) == 0);
    free(d);
    rs_storage_get_stats(s, &b);
    CU_ASSERT(b.retries >= a.retries + 1);
    /* a conditional write whose connection died is checked, not blindly repeated */
    char e[RS_ETAG_MAX];
    CU_ASSERT_EQUAL(rs_storage_get(s, "re/k", NULL, &d, &n, e, &err), RS_OK);
    free(d);
    CU_ASSERT(kill_backends("regsync") >= 1);
    usleep(100000);
    CU_ASSERT_EQUAL(rs_storage_put(s, "re/k", (const uint8_t *)"v2", 2, RS_PUT_IF_MATCH, e, NULL, &err), RS_OK);
    CU_ASSERT(kill_backends("regsync") >= 1);
    usleep(100000);
    CU_ASSERT_EQUAL(rs_storage_put(s, "re/new", (const uint8_t *)"n", 1, RS_PUT_IF_ABSENT, NULL, NULL, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "re/new", (const uint8_t *)"n", 1, RS_PUT_IF_ABSENT, NULL, NULL, &err),
                    RS_ECONFLICT);
    rs_storage_delete(s, "re/k", NULL);
    rs_storage_delete(s, "re/new", NULL);
    rs_storage_close(s);
}

/* ---------------------------------------------------------------- watch */

static bool has_key(char **keys, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i], k) == 0)
            return true;
    return false;
}

static void t_watch(void)
{
    if (!need_server())
        return;
    rs_storage *w = NULL, *s = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(url, NULL, &w, &err), RS_OK);
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(url, NULL, &s, &err), RS_OK);
    CU_ASSERT(rs_storage_caps(w) & RS_CAP_WATCH);
    char **keys = NULL;
    size_t n = 0;
    /* first call: starts listening, nothing yet */
    int64_t t0 = rs_mono_ms();
    CU_ASSERT_EQUAL(rs_storage_watch(w, "w/", 300, &keys, &n, &err), RS_OK);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT(rs_mono_ms() - t0 >= 250);
    rs_storage_keys_free(keys, n);
    /* a put elsewhere arrives; one outside the prefix does not */
    rs_storage_put(s, "other/x", (const uint8_t *)"x", 1, RS_PUT_ALWAYS, NULL, NULL, &err);
    rs_storage_put(s, "w/a", (const uint8_t *)"a", 1, RS_PUT_ALWAYS, NULL, NULL, &err);
    rs_storage_put(s, "w/a", (const uint8_t *)"a2", 2, RS_PUT_ALWAYS, NULL, NULL, &err);
    t0 = rs_mono_ms();
    CU_ASSERT_EQUAL(rs_storage_watch(w, "w/", 5000, &keys, &n, &err), RS_OK);
    CU_ASSERT(rs_mono_ms() - t0 < 2000);
    CU_ASSERT_EQUAL(n, 1); /* deduplicated, filtered (notifications are at least once) */
    CU_ASSERT(has_key(keys, n, "w/a"));
    rs_storage_keys_free(keys, n);
    /* delete */
    rs_storage_delete(s, "w/a", NULL);
    CU_ASSERT_EQUAL(rs_storage_watch(w, "w/", 5000, &keys, &n, &err), RS_OK);
    CU_ASSERT(has_key(keys, n, "w/a"));
    rs_storage_keys_free(keys, n);
    /* a write by psql (another client) */
    side_exec("INSERT INTO %sobjects (key, data) VALUES ('w/by-psql', 'x')", prefix);
    CU_ASSERT_EQUAL(rs_storage_watch(w, "w/", 5000, &keys, &n, &err), RS_OK);
    CU_ASSERT(has_key(keys, n, "w/by-psql"));
    rs_storage_keys_free(keys, n);
    /* nothing more */
    CU_ASSERT_EQUAL(rs_storage_watch(w, "w/", 200, &keys, &n, &err), RS_OK);
    CU_ASSERT_EQUAL(n, 0);
    rs_storage_keys_free(keys, n);

    /* the server drops the watch connection; a write lands in the gap; watch reconnects,
     * listens again and reports the key written meanwhile */
    CU_ASSERT(kill_backends("regsync-watch") >= 1);
    usleep(100000);
    rs_storage_put(s, "w/in-gap", (const uint8_t *)"g", 1, RS_PUT_ALWAYS, NULL, NULL, &err);
    t0 = rs_mono_ms();
    CU_ASSERT_EQUAL(rs_storage_watch(w, "w/", 5000, &keys, &n, &err), RS_OK);
    CU_ASSERT(has_key(keys, n, "w/in-gap"));
    CU_ASSERT(rs_mono_ms() - t0 < 3000);
    rs_storage_keys_free(keys, n);
    rs_storage_put(s, "w/after", (const uint8_t *)"a", 1, RS_PUT_ALWAYS, NULL, NULL, &err);
    CU_ASSERT_EQUAL(rs_storage_watch(w, "w/", 5000, &keys, &n, &err), RS_OK);
    CU_ASSERT(has_key(keys, n, "w/after"));
    rs_storage_keys_free(keys, n);

    rs_storage_delete(s, "w/by-psql", NULL);
    rs_storage_delete(s, "w/in-gap", NULL);
    rs_storage_delete(s, "w/after", NULL);
    rs_storage_delete(s, "other/x", NULL);
    rs_storage_close(w);
    rs_storage_close(s);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("postgresql backend", setup, teardown);
    CU_add_test(s, "migration: 6 processes at once, then idempotent", t_concurrent_migration);
    CU_add_test(s, "migration: newer schema refused", t_newer_schema_refused);
    CU_add_test(s, "table_prefix checked and stripped", t_table_prefix_checked);
    CU_add_test(s, "unix socket host (CloudSQL style)", t_unix_socket);
    CU_add_test(s, "sslmode passed through", t_sslmode);
    CU_add_test(s, "auth errors", t_auth_errors);
    CU_add_test(s, "connection refused", t_refused);
    CU_add_test(s, "statement timeout", t_statement_timeout);
    CU_add_test(s, "a large value read in pieces", t_large_value_in_pieces);
    CU_add_test(s, "reconnect after the server drops us", t_reconnect);
    CU_add_test(s, "watch via LISTEN/NOTIFY", t_watch);
    return rs_test_run();
}
