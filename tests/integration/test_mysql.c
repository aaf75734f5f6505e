/* test_mysql.c: what only the mysql:// backend promises, against the server of
 * scripts/mysql-server.sh (RS_TEST_MYSQL_URL and friends; loud SKIP without them, a failure with
 * RS_REQUIRE_SERVERS=1).
 *
 * Migration (6 processes opening a fresh table prefix at once; idempotent; a newer schema
 * refused; the key column compares bytes), URLs (table_prefix checked, unknown parameters refused,
 * unix socket as a %-encoded host and as ?socket=, no password in any message), TLS against the
 * server's own CA (REQUIRED, VERIFY_CA with the right and a wrong CA, VERIFY_IDENTITY against the
 * certificate's IP and against a name it does not hold, an account that REQUIRE SSL refused
 * without TLS), error mapping (wrong password, missing privileges with the least-privilege grants
 * of docs/storage.md, refused port), the server-side statement limit, the client-side deadline
 * through a TCP relay that stops forwarding (a network partition: no real server can be made to
 * go silent, so this one fault is a stand-in), reconnects after the server kills our connection
 * (a conditional write whose outcome is unknown is checked, not repeated), max_allowed_packet too
 * small for a value (a clear error naming the setting; the stored value untouched; never a
 * truncated read), a stored size that disagrees with the data, and the cost of an idle poll.
 */
#include <arpa/inet.h>
#include <mysql.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mysql_impl.h"
#include "rs_storage.h"
#include "rs_test.h"
#include "rs_time.h"

static const char *MYURL;   /* RS_TEST_MYSQL_URL */
static char prefix[64];     /* this run's table prefix */
static char *url;           /* MYURL + table_prefix */
static char password[128];
static MYSQL *side;         /* a plain Connector/C connection as rs_admin */

static char *with_param(const char *u, const char *param)
{
    size_t n = strlen(u) + strlen(param) + 4;
    char *o = malloc(n);
    snprintf(o, n, "%s%c%s", u, strchr(u, '?') ? '&' : '?', param);
    return o;
}

static bool need_server(void)
{
    if (MYURL && side)
        return true;
    if (!rs_test_env("RS_TEST_MYSQL_URL") || !rs_test_env("RS_TEST_MYSQL_ADMIN_URL")) {
        /* every call: the test that asks is recorded as skipped (the line prints once) */
        rs_test_skip("test_mysql (every test)",
                         "RS_TEST_MYSQL_URL not set (eval \"$(scripts/mysql-server.sh env)\")");
        return false;
    }
    return side != NULL;
}

/* A connection of our own, not through the code under test. */
static MYSQL *plain_connect(const char *u)
{
    rs_my_target t;
    rs_error err = {0};
    if (rs_my_parse_url(u, true, false, &t, &err) != RS_OK) {
        fprintf(stderr, "parse %s: %s\n", u, err.msg);
        return NULL;
    }
    MYSQL *m = mysql_init(NULL);
    unsigned proto = t.socket ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
    mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
    if (!mysql_real_connect(m, t.host, t.user, t.password, t.db, t.port, t.socket, 0)) {
        fprintf(stderr, "side connection: %s\n", mysql_error(m));
        mysql_close(m);
        m = NULL;
    }
    rs_my_target_free(&t);
    return m;
}

static bool side_exec(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool side_exec(const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (mysql_query(side, sql) != 0) {
        fprintf(stderr, "side sql failed: %s: %s\n", sql, mysql_error(side));
        return false;
    }
    MYSQL_RES *r = mysql_store_result(side);
    mysql_free_result(r);
    return true;
}

static long long side_int(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long side_int(const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    long long v = -1;
    if (mysql_query(side, sql) != 0) {
        fprintf(stderr, "side query failed: %s: %s\n", sql, mysql_error(side));
        return v;
    }
    MYSQL_RES *r = mysql_store_result(side);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (row && row[0])
        v = strtoll(row[0], NULL, 10);
    mysql_free_result(r);
    return v;
}

static int setup(void)
{
    const char *u = getenv("RS_TEST_MYSQL_URL"), *admin = getenv("RS_TEST_MYSQL_ADMIN_URL");
    if (!u || !*u || !admin || !*admin)
        return 0;
    MYURL = u;
    snprintf(prefix, sizeof prefix, "tmy%ld_", (long)getpid());
    char p[96];
    snprintf(p, sizeof p, "table_prefix=%s", prefix);
    url = with_param(u, p);
    const char *a = strstr(u, "://") + 3, *at = strchr(a, '@'), *c = strchr(a, ':');
    if (at && c && c < at)
        snprintf(password, sizeof password, "%.*s", (int)(at - c - 1), c + 1);
    side = plain_connect(admin);
    return side ? 0 : 1;
}

static void drop_prefix(const char *p)
{
    side_exec("DROP TABLE IF EXISTS `%sobjects`, `%sschema_version`", p, p);
}

static int teardown(void)
{
    if (side) {
        drop_prefix(prefix);
        for (int i = 0; i < 4; i++) {
            char p[80];
            snprintf(p, sizeof p, "%sm%d_", prefix, i);
            drop_prefix(p);
        }
        side_exec("DROP USER IF EXISTS 'rs_least'@'%%'");
        mysql_close(side);
    }
    free(url);
    return 0;
}

static char *prefixed(const char *suffix)
{
    char p[120];
    snprintf(p, sizeof p, "table_prefix=%s%s", prefix, suffix);
    return with_param(MYURL, p);
}

/* ---------------------------------------------------------------- migration */

static void t_concurrent_migration(void)
{
    if (!need_server())
        return;
    char *u = prefixed("m0_");
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
    CU_ASSERT_EQUAL(side_int("SELECT COUNT(*) FROM `%sm0_schema_version`", prefix), 1);
    CU_ASSERT_EQUAL(side_int("SELECT MAX(version) FROM `%sm0_schema_version`", prefix), 1);
    /* opening again migrates nothing */
    rs_storage *s = NULL;
    CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, NULL), RS_OK);
    /* the key compares bytes: 'a' and 'A' are two keys, and 'B' sorts before 'a' */
    rs_error err = {0};
    CU_ASSERT_EQUAL(rs_storage_put(s, "case/a", (const uint8_t *)"1", 1, RS_PUT_IF_ABSENT, NULL, NULL, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "case/A", (const uint8_t *)"2", 1, RS_PUT_IF_ABSENT, NULL, NULL, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "case/B", (const uint8_t *)"3", 1, RS_PUT_IF_ABSENT, NULL, NULL, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "case/a ", (const uint8_t *)"4", 1, RS_PUT_IF_ABSENT, NULL, NULL, &err), RS_OK);
    rs_list_entry *e = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_list(s, "case/", &e, &n, &err), RS_OK);
    CU_ASSERT_EQUAL(n, 4);
    if (n == 4) {
        CU_ASSERT_STRING_EQUAL(e[0].key, "case/A");
        CU_ASSERT_STRING_EQUAL(e[1].key, "case/B");
        CU_ASSERT_STRING_EQUAL(e[2].key, "case/a");
        CU_ASSERT_STRING_EQUAL(e[3].key, "case/a ");
    }
    rs_storage_list_free(e, n);
    /* a prefix with LIKE's special characters matches literally */
    CU_ASSERT_EQUAL(rs_storage_put(s, "like/a_b", (const uint8_t *)"1", 1, RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "like/axb", (const uint8_t *)"1", 1, RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "like/a%!", (const uint8_t *)"1", 1, RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_list(s, "like/a_", &e, &n, &err), RS_OK);
    CU_ASSERT_EQUAL(n, 1);
    rs_storage_list_free(e, n);
    CU_ASSERT_EQUAL(rs_storage_list(s, "like/a%!", &e, &n, &err), RS_OK);
    CU_ASSERT_EQUAL(n, 1);
    rs_storage_list_free(e, n);
    rs_storage_close(s);
    CU_ASSERT_EQUAL(side_int("SELECT COUNT(*) FROM `%sm0_schema_version`", prefix), 1);
    /* the columns are what docs/storage.md says */
    CU_ASSERT_EQUAL(side_int("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
                             "TABLE_NAME = '%sm0_objects' AND ((COLUMN_NAME = 'key' AND DATA_TYPE = 'varbinary' AND "
                             "CHARACTER_MAXIMUM_LENGTH = 1024) OR (COLUMN_NAME = 'data' AND DATA_TYPE = 'longblob'))",
                             prefix),
                    2);
    CU_ASSERT_EQUAL(side_int("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND "
                             "TABLE_NAME = '%sm0_objects' AND ENGINE = 'InnoDB'",
                             prefix),
                    1);
    free(u);
}

static void t_newer_schema_refused(void)
{
    if (!need_server())
        return;
    char *u = prefixed("m1_");
    rs_storage *s = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(u, NULL, &s, &err), RS_OK);
    rs_storage_close(s);
    s = NULL;
    side_exec("INSERT INTO `%sm1_schema_version` (version, applied, by_app) VALUES (99, NOW(), 'the future')", prefix);
    CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, &err), RS_EUNSUPPORTED);
    CU_ASSERT(strstr(err.msg, "99") != NULL);
    CU_ASSERT_PTR_NULL(s);
    free(u);
}

/* ---------------------------------------------------------------- URLs */

static void t_urls(void)
{
    if (!need_server())
        return;
    const char *bad[] = {"table_prefix=Upper_", "table_prefix=1digit_", "table_prefix=semi;colon",
                         "table_prefix=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *u = with_param(MYURL, bad[i]);
        rs_storage *s = NULL;
        rs_error err = {0};
        CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, &err), RS_EINVALID);
        CU_ASSERT(strstr(err.msg, "table_prefix") != NULL);
        CU_ASSERT(!*password || strstr(err.msg, password) == NULL);
        free(u);
    }
    /* unknown parameters, bad ssl-mode, VERIFY_CA without a CA: refused, named */
    struct {
        const char *param, *word;
    } refused[] = {{"sslcompression=1", "sslcompression"},
                   {"ssl-mode=SOMETIMES", "SOMETIMES"},
                   {"ssl-mode=VERIFY_CA", "ssl-ca"}};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char *u = with_param(url, refused[i].param);
        rs_storage *s = NULL;
        rs_error err = {0};
        CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, &err), RS_EINVALID);
        CU_ASSERT(strstr(err.msg, refused[i].word) != NULL);
        if (!strstr(err.msg, refused[i].word))
            fprintf(stderr, "%s: %s\n", refused[i].param, err.msg);
        free(u);
    }
    /* the printable URL and the messages never hold the password */
    rs_storage *s = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(url, NULL, &s, &err), RS_OK);
    CU_ASSERT_STRING_EQUAL(rs_storage_scheme(s), "mysql");
    CU_ASSERT(!*password || strstr(rs_storage_url(s), password) == NULL);
    CU_ASSERT(strstr(rs_storage_url(s), "<redacted>") != NULL);
    uint8_t *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_get(s, "no/such/key", NULL, &d, &n, NULL, &err), RS_ENOTFOUND);
    CU_ASSERT(strstr(err.msg, "mysql://regsync@127.0.0.1:") != NULL);
    CU_ASSERT(!*password || strstr(err.msg, password) == NULL);
    rs_storage_close(s);
    /* mariadb:// is the same backend */
    char mu[2048];
    snprintf(mu, sizeof mu, "mariadb://%s", strstr(url, "://") + 3);
    CU_ASSERT_EQUAL(rs_storage_open(mu, NULL, &s, &err), RS_OK);
    rs_storage_close(s);
}

static void t_unix_socket(void)
{
    if (!need_server())
        return;
    const char *sock = getenv("RS_TEST_MYSQL_SOCKET");
    if (!sock) {
        rs_test_skip("test_mysql unix socket", "RS_TEST_MYSQL_SOCKET not set");
        if (rs_test_servers_required())
            CU_FAIL("RS_REQUIRE_SERVERS=1 but RS_TEST_MYSQL_SOCKET is missing");
        return;
    }
    /* the socket as a %-encoded host (what /cloudsql/PROJECT:REGION:INSTANCE looks like in a URL) */
    char enc[1024] = "";
    for (const char *c = sock; *c && strlen(enc) < sizeof enc - 4; c++) {
        if (*c == '/')
            strcat(enc, "%2F");
        else if (*c == ':')
            strcat(enc, "%3A");
        else
            strncat(enc, c, 1);
    }
    char u[2048];
    snprintf(u, sizeof u, "mysql://regsync:%s@%s/regsync_test?table_prefix=%s", password, enc, prefix);
    rs_storage *s = NULL;
    rs_error err = {0};
    int rc = rs_storage_open(u, NULL, &s, &err);
    if (rc)
        fprintf(stderr, "unix socket: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "sock/k", (const uint8_t *)"via socket", 10, RS_PUT_ALWAYS, NULL, NULL, &err),
                    RS_OK);
    rs_storage_close(s);
    s = NULL;
    snprintf(u, sizeof u, "mysql://regsync:%s@/regsync_test?socket=%s&table_prefix=%s", password, sock, prefix);
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(u, NULL, &s, &err), RS_OK);
    uint8_t *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_get(s, "sock/k", NULL, &d, &n, NULL, &err), RS_OK);
    CU_ASSERT(n == 10 && d && memcmp(d, "via socket", 10) == 0);
    free(d);
    CU_ASSERT(strstr(rs_storage_url(s), password) == NULL);
    rs_storage_delete(s, "sock/k", NULL);
    rs_storage_close(s);
}

/* ---------------------------------------------------------------- TLS */

/* The TLS account's URL with our prefix and the given extra parameters. */
static char *tls_url(const char *params)
{
    const char *u = getenv("RS_TEST_MYSQL_TLS_URL");
    char *p = rs_test_fmt("table_prefix=%s%s%s", prefix, *params ? "&" : "", params);
    char *out = with_param(u, p);
    free(p);
    return out;
}

static void t_tls(void)
{
    if (!need_server())
        return;
    const char *ca = getenv("RS_TEST_MYSQL_CA"), *other = getenv("RS_TEST_MYSQL_OTHER_CA");
    if (!getenv("RS_TEST_MYSQL_TLS_URL") || !ca || !other) {
        rs_test_skip("test_mysql TLS", "RS_TEST_MYSQL_TLS_URL / _CA / _OTHER_CA not set");
        if (rs_test_servers_required())
            CU_FAIL("RS_REQUIRE_SERVERS=1 but the TLS settings of scripts/mysql-server.sh are missing");
        return;
    }
    char params[2048];
    struct {
        const char *what;
        const char *fmt; /* %s: a CA path */
        const char *path;
        int want;
        const char *word; /* in the message when it fails */
    } cases[] = {
        {"default (PREFERRED) to an account that requires TLS", "", NULL, RS_OK, NULL},
        {"REQUIRED", "ssl-mode=REQUIRED", NULL, RS_OK, NULL},
        {"VERIFY_CA with the server's CA", "ssl-mode=VERIFY_CA&ssl-ca=%s", ca, RS_OK, NULL},
        {"VERIFY_IDENTITY with the server's CA, IP in the certificate", "ssl-mode=VERIFY_IDENTITY&ssl-ca=%s", ca,
         RS_OK, NULL},
        {"VERIFY_CA with another CA", "ssl-mode=VERIFY_CA&ssl-ca=%s", other, RS_EAUTH, "certificate"},
        {"DISABLED to an account that requires TLS", "ssl-mode=DISABLED", NULL, RS_EAUTH, "Access denied"},
        {"VERIFY_CA with a CA file that is not there", "ssl-mode=VERIFY_CA&ssl-ca=/nonexistent/ca.pem", NULL,
         RS_EINVALID, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(params, sizeof params, cases[i].fmt, cases[i].path ? cases[i].path : "");
        char *u = tls_url(params);
        rs_storage *s = NULL;
        rs_error err = {0};
        int rc = rs_storage_open(u, NULL, &s, &err);
        if (rc != cases[i].want)
            fprintf(stderr, "TLS %s: got %s (%s)\n", cases[i].what, rs_status_name(rc), err.msg);
        else if (rc)
            fprintf(stderr, "  (TLS %s: %s)\n", cases[i].what, err.msg);
        CU_ASSERT_EQUAL(rc, cases[i].want);
        if (rc && cases[i].word)
            CU_ASSERT(strstr(err.msg, cases[i].word) != NULL);
        if (rc)
            CU_ASSERT(!err.retryable);
        if (rc == RS_OK) {
            CU_ASSERT_EQUAL(rs_storage_put(s, "tls/k", (const uint8_t *)"over TLS", 8, RS_PUT_ALWAYS, NULL, NULL, &err),
                            RS_OK);
        }
        rs_storage_close(s);
        free(u);
    }
    /* the name in the URL is checked against the certificate (it holds IP:127.0.0.1 only) */
    const char *tu = getenv("RS_TEST_MYSQL_TLS_URL");
    char *byname = malloc(strlen(tu) + 16);
    const char *h = strstr(tu, "@127.0.0.1:");
    CU_ASSERT_FATAL(h != NULL);
    sprintf(byname, "%.*s@localhost:%s", (int)(h - tu), tu, h + strlen("@127.0.0.1:"));
    snprintf(params, sizeof params, "table_prefix=%s&ssl-mode=VERIFY_IDENTITY&ssl-ca=%s", prefix, ca);
    char *u = with_param(byname, params);
    rs_storage *s = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, &err), RS_EAUTH);
    fprintf(stderr, "  (TLS VERIFY_IDENTITY by a name the certificate does not hold: %s)\n", err.msg);
    rs_storage_close(s);
    /* VERIFY_CA does not check the name: the same connection works */
    snprintf(params, sizeof params, "table_prefix=%s&ssl-mode=VERIFY_CA&ssl-ca=%s", prefix, ca);
    free(u);
    u = with_param(byname, params);
    CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, &err), RS_OK);
    rs_storage_close(s);
    free(u);
    free(byname);
}

/* ---------------------------------------------------------------- errors */

static void t_auth_errors(void)
{
    if (!need_server())
        return;
    const char *badu = getenv("RS_TEST_MYSQL_BAD_URL");
    rs_storage *s = NULL;
    rs_error err = {0};
    if (badu) {
        char *u = with_param(badu, "table_prefix=x_");
        CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, &err), RS_EAUTH);
        CU_ASSERT(strstr(err.msg, "Access denied for user 'regsync'") != NULL);
        CU_ASSERT(strstr(err.msg, "wrong-") == NULL);
        CU_ASSERT(!*password || strstr(err.msg, password) == NULL);
        CU_ASSERT(!err.retryable);
        free(u);
    }
    /* no password at all */
    char nopw[1024];
    const char *at = strchr(strstr(MYURL, "://") + 3, '@');
    snprintf(nopw, sizeof nopw, "mysql://regsync%s", at);
    unsetenv("MYSQL_PWD");
    CU_ASSERT_EQUAL(rs_storage_open(nopw, NULL, &s, &err), RS_EAUTH);
    CU_ASSERT(strstr(err.msg, "password") != NULL);
    fprintf(stderr, "  (no password: %s)\n", err.msg);
    /* the password from MYSQL_PWD when the URL has none (a Kubernetes secret as a variable) */
    char *np = with_param(nopw, strchr(nopw, '?') ? "table_prefix=x_" : "table_prefix=x_");
    setenv("MYSQL_PWD", password, 1);
    CU_ASSERT_EQUAL(rs_storage_open(np, NULL, &s, &err), RS_OK);
    rs_storage_close(s);
    s = NULL;
    unsetenv("MYSQL_PWD");
    drop_prefix("x_");
    free(np);
    /* an account without rights on the database */
    const char *other = getenv("RS_TEST_MYSQL_OTHER_URL");
    if (other) {
        char *u = with_param(other, "table_prefix=other_");
        CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, &err), RS_EAUTH);
        CU_ASSERT(strstr(err.msg, "Access denied") != NULL);
        fprintf(stderr, "  (account without rights: %s)\n", err.msg);
        free(u);
    }
}

/* The least-privilege grants of docs/storage.md: a runtime account with SELECT, INSERT, UPDATE,
 * DELETE on the two tables works on a migrated prefix and gets a clear AUTH error on a fresh one. */
static void t_least_privilege(void)
{
    if (!need_server())
        return;
    char *u = prefixed("m2_");
    rs_storage *s = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(u, NULL, &s, &err), RS_OK); /* migrated by the owner */
    rs_storage_close(s);
    free(u);
    const char *pw = "least-privilege-pw-123";
    CU_ASSERT_FATAL(side_exec("CREATE USER IF NOT EXISTS 'rs_least'@'%%' IDENTIFIED BY '%s'", pw));
    CU_ASSERT(side_exec("GRANT SELECT, INSERT, UPDATE, DELETE ON regsync_test.`%sm2_objects` TO 'rs_least'@'%%'",
                        prefix));
    CU_ASSERT(side_exec("GRANT SELECT ON regsync_test.`%sm2_schema_version` TO 'rs_least'@'%%'", prefix));
    const char *hp = strchr(strstr(MYURL, "://") + 3, '@');
    char lu[2048];
    snprintf(lu, sizeof lu, "mysql://rs_least:%s%s%ctable_prefix=%sm2_", pw, hp, strchr(hp, '?') ? '&' : '?',
             prefix);
    int rc = rs_storage_open(lu, NULL, &s, &err);
    if (rc)
        fprintf(stderr, "least privilege: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    char e1[RS_ETAG_MAX];
    CU_ASSERT_EQUAL(rs_storage_put(s, "lp/k", (const uint8_t *)"a", 1, RS_PUT_IF_ABSENT, NULL, e1, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "lp/k", (const uint8_t *)"b", 1, RS_PUT_IF_MATCH, e1, NULL, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "lp/k", (const uint8_t *)"c", 1, RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    rs_list_entry *e = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_list(s, "lp/", &e, &n, &err), RS_OK);
    CU_ASSERT_EQUAL(n, 1);
    rs_storage_list_free(e, n);
    CU_ASSERT_EQUAL(rs_storage_delete(s, "lp/k", &err), RS_OK);
    rs_storage_close(s);
    s = NULL;
    /* a fresh prefix needs CREATE: refused, named */
    snprintf(lu, sizeof lu, "mysql://rs_least:%s%s%ctable_prefix=%sm3_", pw, hp, strchr(hp, '?') ? '&' : '?',
             prefix);
    CU_ASSERT_EQUAL(rs_storage_open(lu, NULL, &s, &err), RS_EAUTH);
    CU_ASSERT(strstr(err.msg, "needs CREATE") != NULL);
    CU_ASSERT(strstr(err.msg, pw) == NULL);
    fprintf(stderr, "  (runtime account on a fresh prefix: %s)\n", err.msg);
}

static void t_refused(void)
{
    if (!need_server())
        return;
    char u[256];
    snprintf(u, sizeof u, "mysql://regsync:secret-pw@127.0.0.1:1/regsync_test");
    rs_storage_opts o = {.max_retries = -1, .connect_timeout_ms = 2000};
    rs_storage *s = NULL;
    rs_error err = {0};
    int64_t t0 = rs_mono_ms();
    CU_ASSERT_EQUAL(rs_storage_open(u, &o, &s, &err), RS_EIO);
    CU_ASSERT(err.retryable);
    CU_ASSERT(strstr(err.msg, "refused") != NULL || strstr(err.msg, "Can't connect") != NULL);
    CU_ASSERT(strstr(err.msg, "secret-pw") == NULL);
    CU_ASSERT(rs_mono_ms() - t0 < 3000);
    fprintf(stderr, "  (refused: %s)\n", err.msg);
    o.max_retries = 2;
    t0 = rs_mono_ms();
    CU_ASSERT_EQUAL(rs_storage_open(u, &o, &s, &err), RS_EIO);
    CU_ASSERT(rs_mono_ms() - t0 >= 100);
}

static void t_statement_timeout(void)
{
    if (!need_server())
        return;
    rs_storage_opts o = {.statement_timeout_ms = 400, .max_retries = -1};
    rs_storage *s = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(url, &o, &s, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "slow/k", (const uint8_t *)"v", 1, RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    /* another session holds the table: our statement waits on its lock until the server's limit */
    MYSQL *locker = plain_connect(getenv("RS_TEST_MYSQL_ADMIN_URL"));
    CU_ASSERT_FATAL(locker != NULL);
    char sql[256];
    snprintf(sql, sizeof sql, "LOCK TABLES `%sobjects` WRITE", prefix);
    CU_ASSERT_EQUAL_FATAL(mysql_query(locker, sql), 0);
    uint8_t *d = NULL;
    size_t n = 0;
    int64_t t0 = rs_mono_ms();
    CU_ASSERT_EQUAL(rs_storage_get(s, "slow/k", NULL, &d, &n, NULL, &err), RS_ETIMEOUT);
    int64_t took = rs_mono_ms() - t0;
    fprintf(stderr, "  (statement limit 400 ms under a table lock: %s after %lld ms)\n", err.msg, (long long)took);
    CU_ASSERT(took >= 350 && took < 3000);
    CU_ASSERT(err.retryable);
    mysql_query(locker, "UNLOCK TABLES");
    mysql_close(locker);
    CU_ASSERT_EQUAL(rs_storage_get(s, "slow/k", NULL, &d, &n, NULL, &err), RS_OK);
    free(d);
    rs_storage_delete(s, "slow/k", NULL);
    rs_storage_close(s);
}

/* ---- a TCP relay that can stop forwarding (a network partition) ---- */

typedef struct relay {
    int lfd, port;
    int up_port;
    volatile int hang;   /* 1: forward nothing */
    volatile int stop;
    pthread_t th;
} relay;

typedef struct pipe_pair {
    relay *r;
    int a, b;
} pipe_pair;

static void *relay_pump(void *arg)
{
    pipe_pair *pp = arg;
    char buf[65536];
    struct pollfd p[2] = {{pp->a, POLLIN, 0}, {pp->b, POLLIN, 0}};
    while (!pp->r->stop) {
        if (pp->r->hang) {
            usleep(10000);
            continue;
        }
        if (poll(p, 2, 50) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t k = read(p[i].fd, buf, sizeof buf);
            if (k <= 0)
                goto out;
            for (ssize_t off = 0; off < k;) {
                ssize_t w = write(p[1 - i].fd, buf + off, (size_t)(k - off));
                if (w <= 0)
                    goto out;
                off += w;
            }
        }
    }
out:
    close(pp->a);
    close(pp->b);
    free(pp);
    return NULL;
}

static void *relay_main(void *arg)
{
    relay *r = arg;
    while (!r->stop) {
        struct pollfd p = {r->lfd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(r->lfd, NULL, NULL);
        if (c < 0)
            continue;
        int u = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->up_port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(u, (struct sockaddr *)&a, sizeof a) != 0) {
            close(c);
            close(u);
            continue;
        }
        pipe_pair *pp = malloc(sizeof *pp);
        *pp = (pipe_pair){r, c, u};
        pthread_t t;
        pthread_create(&t, NULL, relay_pump, pp);
        pthread_detach(t);
    }
    return NULL;
}

static int relay_start(relay *r, int up_port)
{
    memset(r, 0, sizeof *r);
    r->up_port = up_port;
    r->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (r->lfd < 0 || bind(r->lfd, (struct sockaddr *)&a, sizeof a) || listen(r->lfd, 16) ||
        getsockname(r->lfd, (struct sockaddr *)&a, &al))
        return -1;
    r->port = ntohs(a.sin_port);
    return pthread_create(&r->th, NULL, relay_main, r);
}

static void relay_stop(relay *r)
{
    r->stop = 1;
    pthread_join(r->th, NULL);
    close(r->lfd);
    usleep(100000); /* the pumps see stop within 50 ms */
}

static void t_client_deadline(void)
{
    if (!need_server())
        return;
    const char *port = getenv("RS_TEST_MYSQL_PORT");
    CU_ASSERT_FATAL(port != NULL);
    relay r;
    CU_ASSERT_FATAL(relay_start(&r, atoi(port)) == 0);
    /* our URL with the relay's port */
    char u[2048];
    const char *pp = strstr(url, port);
    CU_ASSERT_FATAL(pp != NULL);
    snprintf(u, sizeof u, "%.*s%d%s", (int)(pp - url), url, r.port, pp + strlen(port));
    rs_storage_opts o = {.timeout_ms = 600, .connect_timeout_ms = 600, .max_retries = -1};
    rs_storage *s = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(u, &o, &s, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "dl/k", (const uint8_t *)"v", 1, RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    r.hang = 1; /* the network goes silent */
    uint8_t *d = NULL;
    size_t n = 0;
    int64_t t0 = rs_mono_ms();
    CU_ASSERT_EQUAL(rs_storage_get(s, "dl/k", NULL, &d, &n, NULL, &err), RS_ETIMEOUT);
    int64_t took = rs_mono_ms() - t0;
    fprintf(stderr, "  (partition, timeout 600 ms: %s after %lld ms)\n", err.msg, (long long)took);
    CU_ASSERT(took >= 550 && took < 2000);
    CU_ASSERT(err.retryable);
    /* a new connection cannot be made either: bounded by connect_timeout */
    t0 = rs_mono_ms();
    CU_ASSERT_EQUAL(rs_storage_get(s, "dl/k", NULL, &d, &n, NULL, &err), RS_ETIMEOUT);
    took = rs_mono_ms() - t0;
    fprintf(stderr, "  (partition, reconnect: %s after %lld ms)\n", err.msg, (long long)took);
    CU_ASSERT(took < 2000);
    r.hang = 0; /* back */
    CU_ASSERT_EQUAL(rs_storage_get(s, "dl/k", NULL, &d, &n, NULL, &err), RS_OK);
    CU_ASSERT(n == 1 && d && d[0] == 'v');
    free(d);
    rs_storage_delete(s, "dl/k", NULL);
    rs_storage_close(s);
    relay_stop(&r);
}

/* Kills every connection of the account regsync (the side connection is rs_admin's). */
static long long kill_ours(void)
{
    long long n = 0;
    if (mysql_query(side, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'regsync' AND ID <> "
                          "CONNECTION_ID()") != 0)
        return -1;
    MYSQL_RES *r = mysql_store_result(side);
    MYSQL_ROW row;
    char ids[64][24];
    int k = 0;
    while (r && (row = mysql_fetch_row(r)) && k < 64)
        snprintf(ids[k++], sizeof ids[0], "%s", row[0]);
    mysql_free_result(r);
    for (int i = 0; i < k; i++)
        if (side_exec("KILL CONNECTION %s", ids[i]))
            n++;
    return n;
}

static void t_reconnect(void)
{
    if (!need_server())
        return;
    rs_storage *s = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(url, NULL, &s, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "re/k", (const uint8_t *)"v1", 2, RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    CU_ASSERT(kill_ours() >= 1);
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
    CU_ASSERT(kill_ours() >= 1);
    usleep(100000);
    CU_ASSERT_EQUAL(rs_storage_put(s, "re/k", (const uint8_t *)"v2", 2, RS_PUT_IF_MATCH, e, NULL, &err), RS_OK);
    CU_ASSERT(kill_ours() >= 1);
    usleep(100000);
    CU_ASSERT_EQUAL(rs_storage_put(s, "re/new", (const uint8_t *)"n", 1, RS_PUT_IF_ABSENT, NULL, NULL, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "re/new", (const uint8_t *)"n", 1, RS_PUT_IF_ABSENT, NULL, NULL, &err),
                    RS_ECONFLICT);
    CU_ASSERT_EQUAL(rs_storage_get(s, "re/k", NULL, &d, &n, NULL, &err), RS_OK);
    CU_ASSERT(n == 2 && d && memcmp(d, "v2", 2) == 0);
    free(d);
    rs_storage_delete(s, "re/k", NULL);
    rs_storage_delete(s, "re/new", NULL);
    rs_storage_close(s);
}

/* ---------------------------------------------------------------- sizes */

/* Opens a handle whose session has max_allowed_packet = bytes (the global value is set, a
 * connection made, and the global value put back at once: the session keeps the small one). */
static rs_storage *open_small_packet(long bytes, rs_error *err)
{
    long long old = side_int("SELECT @@GLOBAL.max_allowed_packet");
    if (old <= 0 || !side_exec("SET GLOBAL max_allowed_packet = %ld", bytes))
        return NULL;
    rs_storage *s = NULL;
    rs_storage_opts o = {.max_retries = -1};
    int rc = rs_storage_open(url, &o, &s, err);
    side_exec("SET GLOBAL max_allowed_packet = %lld", old);
    return rc ? NULL : s;
}

static void t_max_allowed_packet(void)
{
    if (!need_server())
        return;
    rs_error err = {0};
    rs_storage *big = NULL;
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(url, NULL, &big, &err), RS_OK);
    size_t n2 = 3u << 20;
    uint8_t *v = malloc(n2);
    for (size_t i = 0; i < n2; i++)
        v[i] = (uint8_t)(i * 2654435761u >> 13);
    char e_good[RS_ETAG_MAX];
    CU_ASSERT_EQUAL(rs_storage_put(big, "pk/3mb", v, n2, RS_PUT_ALWAYS, NULL, e_good, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(big, "pk/small", (const uint8_t *)"s", 1, RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    rs_storage *small = open_small_packet(1 << 20, &err);
    CU_ASSERT_FATAL(small != NULL);
    /* a write that does not fit: a clear error naming the setting, the stored value untouched */
    v[0] ^= 1;
    rs_storage_stats a, b;
    rs_storage_get_stats(small, &a);
    CU_ASSERT_EQUAL(rs_storage_put(small, "pk/3mb", v, n2, RS_PUT_ALWAYS, NULL, NULL, &err), RS_ETOOBIG);
    rs_storage_get_stats(small, &b);
    CU_ASSERT(strstr(err.msg, "max_allowed_packet") != NULL);
    CU_ASSERT(strstr(err.msg, "1048576") != NULL);
    CU_ASSERT(!err.retryable);
    CU_ASSERT_EQUAL(b.bytes_out, a.bytes_out);
    fprintf(stderr, "  (3 MB put, max_allowed_packet 1 MB: %s)\n", err.msg);
    v[0] ^= 1;
    uint8_t *d = NULL;
    size_t n = 0;
    char e[RS_ETAG_MAX];
    CU_ASSERT_EQUAL(rs_storage_get(big, "pk/3mb", NULL, &d, &n, e, &err), RS_OK);
    CU_ASSERT(n == n2 && d && memcmp(d, v, n2) == 0);
    CU_ASSERT_STRING_EQUAL(e, e_good);
    free(d);
    d = NULL;
    /* a read of a value larger than the session's packet limit: the whole value (MariaDB sends
     * stored rows whatever the limit), or an error that names the setting; never a short value */
    rs_error_clear(&err);
    int rc = rs_storage_get(small, "pk/3mb", NULL, &d, &n, e, &err);
    if (rc == RS_OK) {
        CU_ASSERT(n == n2 && d && memcmp(d, v, n2) == 0);
        CU_ASSERT_STRING_EQUAL(e, e_good);
        fprintf(stderr, "  (3 MB get, max_allowed_packet 1 MB: the whole value, %zu bytes, ETag checked)\n", n);
    } else {
        CU_ASSERT_EQUAL(rc, RS_ETOOBIG);
        CU_ASSERT_PTR_NULL(d);
        CU_ASSERT(strstr(err.msg, "max_allowed_packet") != NULL);
        fprintf(stderr, "  (3 MB get, max_allowed_packet 1 MB: %s: %s)\n", rs_status_name(rc), err.msg);
    }
    free(d);
    d = NULL;
    /* small values still work on that handle */
    CU_ASSERT_EQUAL(rs_storage_get(small, "pk/small", NULL, &d, &n, NULL, &err), RS_OK);
    CU_ASSERT(n == 1 && d && d[0] == 's');
    free(d);
    rs_storage_close(small);
    /* a stored size that disagrees with the data (a cut value) is an error */
    CU_ASSERT(side_exec("UPDATE `%sobjects` SET size = size + 1 WHERE `key` = 'pk/small'", prefix));
    d = NULL;
    CU_ASSERT_EQUAL(rs_storage_get(big, "pk/small", NULL, &d, &n, NULL, &err), RS_ECORRUPT);
    CU_ASSERT_PTR_NULL(d);
    CU_ASSERT(strstr(err.msg, "truncated") != NULL);
    rs_storage_delete(big, "pk/3mb", NULL);
    rs_storage_delete(big, "pk/small", NULL);
    rs_storage_close(big);
    free(v);
}

/* An unchanged poll of a large value is one statement and no payload, and the server does not
 * read the value for it (timed: printed, not asserted). */
static void t_idle_poll(void)
{
    if (!need_server())
        return;
    rs_storage *s = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(url, NULL, &s, &err), RS_OK);
    size_t n = 20u << 20;
    uint8_t *v = calloc(1, n);
    char e[RS_ETAG_MAX];
    CU_ASSERT_EQUAL_FATAL(rs_storage_put(s, "poll/big", v, n, RS_PUT_ALWAYS, NULL, e, &err), RS_OK);
    uint8_t *d = NULL;
    size_t dn = 0;
    /* every statement was prepared with the connection: each poll is one round trip */
    CU_ASSERT_EQUAL(rs_storage_get(s, "poll/big", e, &d, &dn, NULL, &err), RS_ENOTMODIFIED);
    rs_storage_stats a, b;
    rs_storage_get_stats(s, &a);
    int64_t t0 = rs_mono_ns();
    enum { POLLS = 20 };
    for (int i = 0; i < POLLS; i++)
        CU_ASSERT_EQUAL(rs_storage_get(s, "poll/big", e, &d, &dn, NULL, &err), RS_ENOTMODIFIED);
    int64_t t1 = rs_mono_ns();
    rs_storage_get_stats(s, &b);
    CU_ASSERT_EQUAL(b.requests - a.requests, POLLS);
    CU_ASSERT_EQUAL(b.bytes_in, a.bytes_in);
    CU_ASSERT_EQUAL(b.not_modified - a.not_modified, POLLS);
    int64_t t2 = rs_mono_ns();
    CU_ASSERT_EQUAL(rs_storage_get(s, "poll/big", NULL, &d, &dn, NULL, &err), RS_OK);
    int64_t t3 = rs_mono_ns();
    CU_ASSERT_EQUAL(dn, n);
    free(d);
    fprintf(stderr, "  (20 MB value: unchanged poll %.2f ms each, 1 statement, 0 payload bytes; full read %.1f ms)\n",
            (double)(t1 - t0) / 1e6 / POLLS, (double)(t3 - t2) / 1e6);
    rs_storage_delete(s, "poll/big", NULL);
    rs_storage_close(s);
    free(v);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("mysql backend", setup, teardown);
    CU_add_test(s, "migration: 6 processes at once, then idempotent; byte-order keys", t_concurrent_migration);
    CU_add_test(s, "migration: newer schema refused", t_newer_schema_refused);
    CU_add_test(s, "URLs: table_prefix, parameters, no password in messages", t_urls);
    CU_add_test(s, "unix socket (Cloud SQL Auth Proxy style)", t_unix_socket);
    CU_add_test(s, "TLS: ssl-mode and ssl-ca against the server's CA", t_tls);
    CU_add_test(s, "auth errors", t_auth_errors);
    CU_add_test(s, "least-privilege grants", t_least_privilege);
    CU_add_test(s, "connection refused", t_refused);
    CU_add_test(s, "server-side statement limit", t_statement_timeout);
    CU_add_test(s, "client-side deadline (a partition, through a relay)", t_client_deadline);
    CU_add_test(s, "reconnect after the server kills the connection", t_reconnect);
    CU_add_test(s, "max_allowed_packet too small", t_max_allowed_packet);
    CU_add_test(s, "idle poll of a 20 MB value", t_idle_poll);
    return rs_test_run();
}
