/* test_conformance.c: the same assertions against every storage backend.
 *
 * Backends: a fresh file:// temp dir (always); S3 from RS_TEST_S3_URL (a unique sub-prefix per
 * run); Postgres from RS_TEST_PG_URL and MySQL from RS_TEST_MYSQL_URL (a unique table_prefix per
 * run, tables dropped at the end).
 * A backend whose variable is missing is skipped loudly (a failure with RS_REQUIRE_SERVERS=1).
 *
 * Checks: binary round trips of 0 B, 1 B, 10 MB, 100 MB; ETag stable and changing with content;
 * conditional GET (current ETag -> NOTMODIFIED, old ETag -> data); only-if-absent with 8 racing
 * processes (exactly one wins); only-if-match races (one winner per round) and stale/missing
 * ETags -> CONFLICT; listing 2,500 keys (S3 pages of 1000) with the exact key set; delete; odd
 * keys (spaces, unicode, ()!*'); missing key -> NOTFOUND; wrong credentials -> AUTH with a
 * message and no secret in it; independent clients (psql, mariadb, aws, plain read()) see what
 * regsync wrote and regsync sees what they wrote.
 */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rs_buf.h"
#include "rs_storage.h"
#include "rs_test.h"

#define MB (1024u * 1024u)
#define RACERS 8
#define MATCH_RACERS 6
#define MATCH_ROUNDS 4
#define LIST_KEYS 2500

typedef enum { BK_FILE, BK_S3, BK_PG, BK_MYSQL } bkind;

typedef struct backend {
    bkind kind;
    const char *name;
    char *url;        /* what rs_storage_open gets (may hold secrets: never printed) */
    char *tmpdir;     /* file */
    char *pg_prefix;  /* postgres / mysql table prefix of this run */
    rs_storage *s;
    bool skipped;
} backend;

static backend B;

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state;

static void fill_random(uint8_t *p, size_t n)
{
    uint64_t x = rng_state ? rng_state : 0x9E3779B97F4A7C15ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(p + i, &x, 8);
    }
    for (; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
    rng_state = x;
}

static void sha_hex(const uint8_t *p, size_t n, size_t nbytes, char *out)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned l = 0;
    EVP_Digest(n ? p : (const uint8_t *)"", n, md, &l, EVP_sha256(), NULL);
    rs_hex(md, nbytes, out);
}

static bool skip_here(void) { return B.s == NULL; }

static int put_str(const char *key, const char *s, rs_put_mode mode, const char *if_match, char *etag, rs_error *err)
{
    return rs_storage_put(B.s, key, (const uint8_t *)s, strlen(s), mode, if_match, etag, err);
}

/* Reads key; returns its content as a NUL-terminated string (caller frees) or NULL. */
static char *get_str(rs_storage *s, const char *key, char *etag, int *rc_out)
{
    uint8_t *d = NULL;
    size_t n = 0;
    rs_error err = {0};
    int rc = rs_storage_get(s, key, NULL, &d, &n, etag, &err);
    if (rc_out)
        *rc_out = rc;
    if (rc) {
        if (rc != RS_ENOTFOUND)
            fprintf(stderr, "get %s: %s\n", key, err.msg);
        return NULL;
    }
    char *str = malloc(n + 1);
    memcpy(str, d, n);
    str[n] = '\0';
    free(d);
    return str;
}

/* "s3://b/p?q" -> "s3://b/p/<sub>?q" */
static char *url_add_subprefix(const char *url, const char *sub)
{
    const char *q = strchr(url, '?');
    size_t base = q ? (size_t)(q - url) : strlen(url);
    size_t n = strlen(url) + strlen(sub) + 4;
    char *out = malloc(n);
    while (base > 0 && url[base - 1] == '/')
        base--;
    snprintf(out, n, "%.*s/%s%s", (int)base, url, sub, q ? q : "");
    return out;
}

static char *url_add_param(const char *url, const char *param)
{
    size_t n = strlen(url) + strlen(param) + 4;
    char *out = malloc(n);
    snprintf(out, n, "%s%c%s", url, strchr(url, '?') ? '&' : '?', param);
    return out;
}

/* Runs cmd with the shell; returns its stdout (caller frees) and exit status. */
static char *run_capture(const char *cmd, int *status)
{
    FILE *f = popen(cmd, "r");
    if (!f) {
        *status = -1;
        return NULL;
    }
    rs_buf b = {0};
    char chunk[4096];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
        rs_buf_append(&b, chunk, r);
    int st = pclose(f);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    rs_buf_cstr(&b);
    char *s = (char *)rs_buf_take(&b, NULL);
    size_t l = strlen(s);
    while (l && (s[l - 1] == '\n' || s[l - 1] == '\r'))
        s[--l] = '\0';
    return s;
}

/* ---------------------------------------------------------------- suites */

static int init_file(void)
{
    memset(&B, 0, sizeof B);
    B.kind = BK_FILE;
    B.name = "file";
    B.tmpdir = rs_test_tmpdir("conf-file");
    if (!B.tmpdir)
        return 1;
    size_t n = strlen(B.tmpdir) + 16;
    B.url = malloc(n);
    snprintf(B.url, n, "file://%s/store", B.tmpdir);
    return 0;
}

static int init_s3(void)
{
    memset(&B, 0, sizeof B);
    B.kind = BK_S3;
    B.name = "s3";
    const char *u = getenv("RS_TEST_S3_URL");
    if (u && *u) {
        char sub[64];
        snprintf(sub, sizeof sub, "conf-%ld-%ld", (long)getpid(), (long)time(NULL));
        B.url = url_add_subprefix(u, sub);
    }
    return 0;
}

static int init_pg(void)
{
    memset(&B, 0, sizeof B);
    B.kind = BK_PG;
    B.name = "postgresql";
    const char *u = getenv("RS_TEST_PG_URL");
    if (u && *u) {
        char p[64];
        snprintf(p, sizeof p, "conf%ld_", (long)getpid());
        B.pg_prefix = strdup(p);
        char param[96];
        snprintf(param, sizeof param, "table_prefix=%s", p);
        B.url = url_add_param(u, param);
    }
    return 0;
}

static int init_mysql(void)
{
    memset(&B, 0, sizeof B);
    B.kind = BK_MYSQL;
    B.name = "mysql";
    const char *u = getenv("RS_TEST_MYSQL_URL");
    if (u && *u) {
        char p[64];
        snprintf(p, sizeof p, "conf%ld_", (long)getpid());
        B.pg_prefix = strdup(p);
        char param[96];
        snprintf(param, sizeof param, "table_prefix=%s", p);
        B.url = url_add_param(u, param);
    }
    return 0;
}

/* The mariadb command-line client with the account of RS_TEST_MYSQL_URL: sets RS_XCHECK_MY_* in the
 * environment and returns the command prefix (the password goes through MYSQL_PWD, never argv). */
static const char *mysql_cli(void)
{
    static char cmd[256];
    const char *u = getenv("RS_TEST_MYSQL_URL");
    const char *a = strstr(u, "://") + 3, *at = strchr(a, '@'), *c = strchr(a, ':');
    const char *hp = at + 1, *hc = strchr(hp, ':'), *sl = strchr(hp, '/');
    const char *q = strchr(sl, '?');
    char user[128], pw[128], host[128], port[16], db[128];
    snprintf(user, sizeof user, "%.*s", (int)(c - a), a);
    snprintf(pw, sizeof pw, "%.*s", (int)(at - c - 1), c + 1);
    snprintf(host, sizeof host, "%.*s", (int)(hc - hp), hp);
    snprintf(port, sizeof port, "%.*s", (int)(sl - hc - 1), hc + 1);
    snprintf(db, sizeof db, "%.*s", (int)(q ? q - sl - 1 : (long)strlen(sl + 1)), sl + 1);
    setenv("MYSQL_PWD", pw, 1);
    setenv("RS_XCHECK_MY_USER", user, 1);
    setenv("RS_XCHECK_MY_HOST", host, 1);
    setenv("RS_XCHECK_MY_PORT", port, 1);
    setenv("RS_XCHECK_MY_DB", db, 1);
    snprintf(cmd, sizeof cmd,
             "mariadb --protocol=TCP -h \"$RS_XCHECK_MY_HOST\" -P \"$RS_XCHECK_MY_PORT\" -u \"$RS_XCHECK_MY_USER\" "
             "-N -B \"$RS_XCHECK_MY_DB\"");
    return cmd;
}

static void mysql_drop_tables(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s -e 'DROP TABLE IF EXISTS `%sobjects`, `%sschema_version`' 2>&1", mysql_cli(),
             B.pg_prefix, B.pg_prefix);
    FILE *f = popen(cmd, "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            fprintf(stderr, "drop tables: %s", line);
        pclose(f);
    }
}

static void pg_drop_tables(void)
{
    const char *u = getenv("RS_TEST_PG_URL");
    PGconn *c = PQconnectdb(u);
    if (PQstatus(c) == CONNECTION_OK) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "DROP TABLE IF EXISTS %1$sobjects, %1$sschema_version; DROP FUNCTION IF EXISTS %1$sobjects_stamp(), "
                 "%1$sobjects_notify()",
                 B.pg_prefix);
        PQclear(PQexec(c, sql));
    }
    PQfinish(c);
}

static int clean_suite(void)
{
    if (B.s && B.kind == BK_S3) {
        /* remove what this run wrote */
        rs_list_entry *e = NULL;
        size_t n = 0;
        if (rs_storage_list(B.s, "", &e, &n, NULL) == RS_OK)
            for (size_t i = 0; i < n; i++)
                rs_storage_delete(B.s, e[i].key, NULL);
        rs_storage_list_free(e, n);
    }
    rs_storage_close(B.s);
    if (B.kind == BK_PG && B.pg_prefix && B.url)
        pg_drop_tables();
    if (B.kind == BK_MYSQL && B.pg_prefix && B.url)
        mysql_drop_tables();
    if (B.tmpdir)
        rs_test_rmrf(B.tmpdir);
    free(B.tmpdir);
    free(B.url);
    free(B.pg_prefix);
    memset(&B, 0, sizeof B);
    return 0;
}

/* ---------------------------------------------------------------- tests */

static void t_open(void)
{
    if (B.kind != BK_FILE) {
        const char *var = B.kind == BK_S3 ? "RS_TEST_S3_URL" : B.kind == BK_PG ? "RS_TEST_PG_URL" : "RS_TEST_MYSQL_URL";
        if (!rs_test_env(var) || !B.url) {
            char why[128], what[64];
            snprintf(why, sizeof why, "%s not set (scripts/%s-server.sh env)", var,
                     B.kind == BK_S3 ? "s3" : B.kind == BK_PG ? "pg" : "mysql");
            snprintf(what, sizeof what, "conformance %s", B.name);
            rs_test_skip(what, why);
            B.skipped = true;
            return;
        }
    }
    rs_error err = {0};
    int rc = rs_storage_open(B.url, NULL, &B.s, &err);
    if (rc)
        fprintf(stderr, "open %s: %s\n", B.name, err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    CU_ASSERT_STRING_EQUAL(rs_storage_scheme(B.s), B.name);
    /* the printable URL never holds a password */
    const char *pw = strstr(B.url, "://");
    const char *at = pw ? strchr(pw, '@') : NULL;
    const char *colon = pw ? strchr(pw + 3, ':') : NULL;
    if ((B.kind == BK_PG || B.kind == BK_MYSQL) && at && colon && colon < at) {
        char secret[128];
        snprintf(secret, sizeof secret, "%.*s", (int)(at - colon - 1), colon + 1);
        CU_ASSERT_PTR_NULL(strstr(rs_storage_url(B.s), secret));
    }
}

static void roundtrip(size_t size)
{
    uint8_t *data = malloc(size ? size : 1);
    fill_random(data, size);
    char key[64], etag[RS_ETAG_MAX], etag2[RS_ETAG_MAX];
    snprintf(key, sizeof key, "rt/blob-%zu", size);
    rs_error err = {0};
    int64_t t0 = (int64_t)time(NULL);
    int rc = rs_storage_put(B.s, key, data, size, RS_PUT_ALWAYS, NULL, etag, &err);
    if (rc)
        fprintf(stderr, "put %zu bytes: %s\n", size, err.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    CU_ASSERT(etag[0] != '\0');
    uint8_t *back = NULL;
    size_t n = 0;
    rc = rs_storage_get(B.s, key, NULL, &back, &n, etag2, &err);
    if (rc)
        fprintf(stderr, "get %zu bytes: %s\n", size, err.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    CU_ASSERT_PTR_NOT_NULL(back);
    CU_ASSERT_EQUAL(n, size);
    CU_ASSERT(n == size && memcmp(back, data, size) == 0);
    CU_ASSERT_STRING_EQUAL(etag, etag2);
    rs_list_entry *e = NULL;
    size_t ne = 0;
    CU_ASSERT_EQUAL(rs_storage_list(B.s, key, &e, &ne, &err), RS_OK);
    CU_ASSERT_EQUAL(ne, 1);
    if (ne == 1) {
        CU_ASSERT_STRING_EQUAL(e[0].key, key);
        CU_ASSERT_EQUAL(e[0].size, size);
        CU_ASSERT_STRING_EQUAL(e[0].etag, etag);
        CU_ASSERT(e[0].mtime_ms == 0 || (e[0].mtime_ms / 1000 >= t0 - 120 && e[0].mtime_ms / 1000 <= t0 + 120));
    }
    rs_storage_list_free(e, ne);
    free(back);
    free(data);
    rs_storage_delete(B.s, key, NULL);
}

static void t_roundtrip_small(void)
{
    if (skip_here())
        return;
    roundtrip(0);
    roundtrip(1);
    roundtrip(4097);
}

static void t_roundtrip_10mb(void)
{
    if (skip_here())
        return;
    roundtrip(10 * MB);
}

static void t_roundtrip_100mb(void)
{
    if (skip_here())
        return;
    roundtrip(100 * MB);
}

static void t_etag(void)
{
    if (skip_here())
        return;
    char e1[RS_ETAG_MAX], e1b[RS_ETAG_MAX], e2[RS_ETAG_MAX], eg[RS_ETAG_MAX];
    rs_error err = {0};
    CU_ASSERT_EQUAL(put_str("etag/x", "content one", RS_PUT_ALWAYS, NULL, e1, &err), RS_OK);
    CU_ASSERT_EQUAL(put_str("etag/x", "content one", RS_PUT_ALWAYS, NULL, e1b, &err), RS_OK);
    CU_ASSERT_STRING_EQUAL(e1, e1b); /* same content, same ETag */
    char *s = get_str(B.s, "etag/x", eg, NULL);
    CU_ASSERT_STRING_EQUAL(eg, e1);
    free(s);
    CU_ASSERT_EQUAL(put_str("etag/x", "content two", RS_PUT_ALWAYS, NULL, e2, &err), RS_OK);
    CU_ASSERT_STRING_NOT_EQUAL(e1, e2);

    rs_storage_stats before, after;
    rs_storage_get_stats(B.s, &before);
    uint8_t *d = NULL;
    size_t n = 0;
    char eo[RS_ETAG_MAX];
    CU_ASSERT_EQUAL(rs_storage_get(B.s, "etag/x", e2, &d, &n, eo, &err), RS_ENOTMODIFIED);
    CU_ASSERT_PTR_NULL(d);
    rs_storage_get_stats(B.s, &after);
    CU_ASSERT_EQUAL(after.not_modified, before.not_modified + 1);
    CU_ASSERT_EQUAL(after.bytes_in, before.bytes_in);
    /* an old ETag gets the data */
    CU_ASSERT_EQUAL(rs_storage_get(B.s, "etag/x", e1, &d, &n, eo, &err), RS_OK);
    CU_ASSERT(n == strlen("content two") && memcmp(d, "content two", n) == 0);
    CU_ASSERT_STRING_EQUAL(eo, e2);
    free(d);
    d = NULL;
    /* the ETag with and without quotes works (servers differ there) */
    char bare[RS_ETAG_MAX];
    snprintf(bare, sizeof bare, "%s", e2[0] == '"' ? e2 + 1 : e2);
    if (bare[0] && bare[strlen(bare) - 1] == '"')
        bare[strlen(bare) - 1] = '\0';
    CU_ASSERT_EQUAL(rs_storage_get(B.s, "etag/x", bare, &d, &n, NULL, &err), RS_ENOTMODIFIED);
    free(d);
    d = NULL;
    char quoted[RS_ETAG_MAX + 2];
    snprintf(quoted, sizeof quoted, "\"%s\"", bare);
    CU_ASSERT_EQUAL(rs_storage_get(B.s, "etag/x", quoted, &d, &n, NULL, &err), RS_ENOTMODIFIED);
    free(d);
    rs_storage_delete(B.s, "etag/x", NULL);
}

static void t_missing(void)
{
    if (skip_here())
        return;
    uint8_t *d = NULL;
    size_t n = 0;
    rs_error err = {0};
    CU_ASSERT_EQUAL(rs_storage_get(B.s, "missing/nothing-here", NULL, &d, &n, NULL, &err), RS_ENOTFOUND);
    CU_ASSERT_PTR_NULL(d);
    CU_ASSERT(strstr(err.msg, "missing/nothing-here") != NULL);
    CU_ASSERT_EQUAL(rs_storage_get(B.s, "missing/nothing-here", "\"0123\"", &d, &n, NULL, &err), RS_ENOTFOUND);
    rs_list_entry *e = NULL;
    size_t ne = 0;
    CU_ASSERT_EQUAL(rs_storage_list(B.s, "missing/", &e, &ne, &err), RS_OK);
    CU_ASSERT_EQUAL(ne, 0);
    rs_storage_list_free(e, ne);
}

static void t_delete(void)
{
    if (skip_here())
        return;
    rs_error err = {0};
    CU_ASSERT_EQUAL(put_str("del/a", "a", RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    CU_ASSERT_EQUAL(put_str("del/b", "b", RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_delete(B.s, "del/a", &err), RS_OK);
    int rc = 0;
    char *s = get_str(B.s, "del/a", NULL, &rc);
    CU_ASSERT_EQUAL(rc, RS_ENOTFOUND);
    free(s);
    CU_ASSERT_EQUAL(rs_storage_delete(B.s, "del/a", &err), RS_OK);          /* again */
    CU_ASSERT_EQUAL(rs_storage_delete(B.s, "del/never-was", &err), RS_OK);  /* never */
    rs_list_entry *e = NULL;
    size_t ne = 0;
    CU_ASSERT_EQUAL(rs_storage_list(B.s, "del/", &e, &ne, &err), RS_OK);
    CU_ASSERT_EQUAL(ne, 1);
    if (ne == 1)
        CU_ASSERT_STRING_EQUAL(e[0].key, "del/b");
    rs_storage_list_free(e, ne);
    /* a deleted key can be created again only-if-absent */
    CU_ASSERT_EQUAL(put_str("del/a", "again", RS_PUT_IF_ABSENT, NULL, NULL, &err), RS_OK);
    rs_storage_delete(B.s, "del/a", NULL);
    rs_storage_delete(B.s, "del/b", NULL);
}

/* delete only while the ETag matches: what pruning forgotten reports relies on */
static void t_delete_if(void)
{
    if (skip_here())
        return;
    rs_error err = {0};
    char e1[RS_ETAG_MAX], e2[RS_ETAG_MAX];
    CU_ASSERT_EQUAL_FATAL(put_str("delif/a", "first", RS_PUT_ALWAYS, NULL, e1, &err), RS_OK);
    CU_ASSERT_EQUAL_FATAL(put_str("delif/a", "second", RS_PUT_ALWAYS, NULL, e2, &err), RS_OK);
    /* a stale ETag: refused, the object stays */
    CU_ASSERT_EQUAL(rs_storage_delete_if(B.s, "delif/a", e1, 0, &err), RS_ECONFLICT);
    int rc = 0;
    char *s = get_str(B.s, "delif/a", NULL, &rc);
    CU_ASSERT_EQUAL(rc, RS_OK);
    if (s)
        CU_ASSERT_STRING_EQUAL(s, "second");
    free(s);
    /* the current one: deleted */
    CU_ASSERT_EQUAL(rs_storage_delete_if(B.s, "delif/a", e2, 0, &err), RS_OK);
    s = get_str(B.s, "delif/a", NULL, &rc);
    CU_ASSERT_EQUAL(rc, RS_ENOTFOUND);
    free(s);
    /* gone already: fine */
    CU_ASSERT_EQUAL(rs_storage_delete_if(B.s, "delif/a", e2, 0, &err), RS_OK);
    /* the ETag a listing gives works too */
    CU_ASSERT_EQUAL_FATAL(put_str("delif/b", "listed", RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    rs_list_entry *le = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL_FATAL(rs_storage_list(B.s, "delif/", &le, &n, &err), RS_OK);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    /* rewritten with the same bytes after the listing: same ETag, a later time: kept */
    char kept_etag[RS_ETAG_MAX];
    int64_t kept_mtime = le[0].mtime_ms;
    snprintf(kept_etag, sizeof kept_etag, "%s", le[0].etag);
    rs_storage_list_free(le, n);
    usleep(1100000); /* S3 Last-Modified has whole seconds */
    CU_ASSERT_EQUAL_FATAL(put_str("delif/b", "listed", RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_delete_if(B.s, "delif/b", kept_etag, kept_mtime, &err), RS_ECONFLICT);
    s = get_str(B.s, "delif/b", NULL, &rc);
    CU_ASSERT_EQUAL(rc, RS_OK);
    free(s);
    CU_ASSERT_EQUAL_FATAL(rs_storage_list(B.s, "delif/", &le, &n, &err), RS_OK);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(rs_storage_delete_if(B.s, "delif/b", le[0].etag, le[0].mtime_ms, &err), RS_OK);
    rs_storage_list_free(le, n);
    s = get_str(B.s, "delif/b", NULL, &rc);
    CU_ASSERT_EQUAL(rc, RS_ENOTFOUND);
    free(s);
}

static const char *const ODD_KEYS[] = {
    "odd/with space",          "odd/two  spaces and trailing ", "odd/ünïcødé/日本語/файл",
    "odd/()!*'",               "odd/a+b=c&d;e,f$g@h:i",         "odd/percent%20not-escaped%2F",
    "odd/tilde~and-dash_.dot", "odd/emoji-\xF0\x9F\x93\xA6",    "odd/[brackets]{braces}^`|",
};
#define NODD (sizeof ODD_KEYS / sizeof ODD_KEYS[0])

static void t_odd_keys(void)
{
    if (skip_here())
        return;
    rs_error err = {0};
    for (size_t i = 0; i < NODD; i++) {
        int rc = put_str(ODD_KEYS[i], ODD_KEYS[i], RS_PUT_ALWAYS, NULL, NULL, &err);
        if (rc)
            fprintf(stderr, "put '%s': %s\n", ODD_KEYS[i], err.msg);
        CU_ASSERT_EQUAL(rc, RS_OK);
    }
    for (size_t i = 0; i < NODD; i++) {
        int rc = 0;
        char *s = get_str(B.s, ODD_KEYS[i], NULL, &rc);
        CU_ASSERT_EQUAL(rc, RS_OK);
        CU_ASSERT(s && strcmp(s, ODD_KEYS[i]) == 0);
        free(s);
    }
    rs_list_entry *e = NULL;
    size_t ne = 0;
    CU_ASSERT_EQUAL(rs_storage_list(B.s, "odd/", &e, &ne, &err), RS_OK);
    CU_ASSERT_EQUAL(ne, NODD);
    for (size_t i = 0; i < NODD; i++) {
        bool found = false;
        for (size_t j = 0; j < ne; j++)
            found = found || strcmp(e[j].key, ODD_KEYS[i]) == 0;
        if (!found)
            fprintf(stderr, "list misses '%s'\n", ODD_KEYS[i]);
        CU_ASSERT(found);
    }
    for (size_t j = 1; j < ne; j++)
        CU_ASSERT(strcmp(e[j - 1].key, e[j].key) < 0);
    rs_storage_list_free(e, ne);
    /* prefix with a space and unicode */
    CU_ASSERT_EQUAL(rs_storage_list(B.s, "odd/ünïcødé/", &e, &ne, &err), RS_OK);
    CU_ASSERT_EQUAL(ne, 1);
    rs_storage_list_free(e, ne);
    for (size_t i = 0; i < NODD; i++)
        CU_ASSERT_EQUAL(rs_storage_delete(B.s, ODD_KEYS[i], &err), RS_OK);
}

static void t_list_pages(void)
{
    if (skip_here())
        return;
    rs_error err = {0};
    char key[64];
    for (int i = 0; i < LIST_KEYS; i++) {
        snprintf(key, sizeof key, "list/k%05d", i);
        int rc = put_str(key, key, RS_PUT_ALWAYS, NULL, NULL, &err);
        if (rc) {
            fprintf(stderr, "put %s: %s\n", key, err.msg);
            CU_FAIL_FATAL("put for list test failed");
        }
    }
    /* neighbours that must not show up */
    put_str("list-other/x", "x", RS_PUT_ALWAYS, NULL, NULL, &err);
    put_str("lis", "x", RS_PUT_ALWAYS, NULL, NULL, &err);
    rs_list_entry *e = NULL;
    size_t ne = 0;
    CU_ASSERT_EQUAL(rs_storage_list(B.s, "list/", &e, &ne, &err), RS_OK);
    CU_ASSERT_EQUAL(ne, LIST_KEYS);
    size_t ok = 0;
    for (size_t i = 0; i < ne && i < LIST_KEYS; i++) {
        snprintf(key, sizeof key, "list/k%05zu", i);
        ok += strcmp(e[i].key, key) == 0 && e[i].size == strlen(key) && e[i].etag[0];
    }
    CU_ASSERT_EQUAL(ok, LIST_KEYS);
    rs_storage_list_free(e, ne);
    /* a prefix that is not a "directory" */
    CU_ASSERT_EQUAL(rs_storage_list(B.s, "list/k0001", &e, &ne, &err), RS_OK);
    CU_ASSERT_EQUAL(ne, 10);
    rs_storage_list_free(e, ne);
    CU_ASSERT_EQUAL(rs_storage_list(B.s, "lis", &e, &ne, &err), RS_OK);
    CU_ASSERT_EQUAL(ne, LIST_KEYS + 2);
    rs_storage_list_free(e, ne);
    for (int i = 0; i < LIST_KEYS; i++) {
        snprintf(key, sizeof key, "list/k%05d", i);
        rs_storage_delete(B.s, key, NULL);
    }
    rs_storage_delete(B.s, "list-other/x", NULL);
    rs_storage_delete(B.s, "lis", NULL);
    CU_ASSERT_EQUAL(rs_storage_list(B.s, "lis", &e, &ne, &err), RS_OK);
    CU_ASSERT_EQUAL(ne, 0);
    rs_storage_list_free(e, ne);
}

/* ---- racing processes ---- */

typedef struct racer_job {
    const char *key;
    rs_put_mode mode;
    int index;
    int round;
} racer_job;

/* Child: opens its own handle, reads the ETag (if-match), says ready, waits for the start
 * signal (EOF on go), writes. Exit 0: won; 1: CONFLICT; 2: anything else. */
static void racer(const racer_job *job, int ready_fd, int go_fd)
{
    rs_storage *s = NULL;
    rs_error err = {0};
    if (rs_storage_open(B.url, NULL, &s, &err) != RS_OK) {
        fprintf(stderr, "racer %d: open: %s\n", job->index, err.msg);
        _exit(2);
    }
    char etag[RS_ETAG_MAX] = "";
    if (job->mode == RS_PUT_IF_MATCH) {
        uint8_t *d = NULL;
        size_t n = 0;
        if (rs_storage_get(s, job->key, NULL, &d, &n, etag, &err) != RS_OK) {
            fprintf(stderr, "racer %d: get: %s\n", job->index, err.msg);
            _exit(2);
        }
        free(d);
    }
    char c = 'r';
    if (write(ready_fd, &c, 1) != 1)
        _exit(2);
    while (read(go_fd, &c, 1) > 0) {
    }
    char body[64];
    snprintf(body, sizeof body, "round %d winner %d", job->round, job->index);
    int rc = rs_storage_put(s, job->key, (const uint8_t *)body, strlen(body), job->mode, etag, NULL, &err);
    if (rc && rc != RS_ECONFLICT)
        fprintf(stderr, "racer %d: put: %s (%s)\n", job->index, err.msg, rs_status_name(rc));
    /* no rs_storage_close: _exit leaves the parent's inherited state alone; our own handle's
     * connections close with the process */
    _exit(rc == RS_OK ? 0 : rc == RS_ECONFLICT ? 1 : 2);
}

/* Forks n racers; returns the index of the single winner, or -1 (and fails) otherwise. */
static int race(const char *key, rs_put_mode mode, int n, int round)
{
    int ready[2], go[2];
    if (pipe(ready) || pipe(go)) {
        CU_FAIL("pipe");
        return -1;
    }
    fflush(NULL);
    pid_t pids[16];
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(ready[0]);
            close(go[1]);
            racer_job job = {key, mode, i, round};
            racer(&job, ready[1], go[0]);
        }
    }
    close(ready[1]);
    close(go[0]);
    int got = 0;
    char c;
    while (got < n && read(ready[0], &c, 1) == 1)
        got++;
    close(go[1]); /* everybody starts now */
    close(ready[0]);
    int wins = 0, conflicts = 0, errors = 0, winner = -1;
    for (int i = 0; i < n; i++) {
        int st = 0;
        waitpid(pids[i], &st, 0);
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 3;
        if (code == 0) {
            wins++;
            winner = i;
        } else if (code == 1) {
            conflicts++;
        } else {
            errors++;
        }
    }
    if (wins != 1 || conflicts != n - 1)
        fprintf(stderr, "race %s mode %d round %d: ready %d, %d wins, %d conflicts, %d errors\n", key, (int)mode,
                round, got, wins, conflicts, errors);
    CU_ASSERT_EQUAL(got, n);
    CU_ASSERT_EQUAL(wins, 1);
    CU_ASSERT_EQUAL(conflicts, n - 1);
    CU_ASSERT_EQUAL(errors, 0);
    return wins == 1 ? winner : -1;
}

static void t_race_if_absent(void)
{
    if (skip_here())
        return;
    rs_storage_delete(B.s, "race/absent", NULL);
    int w = race("race/absent", RS_PUT_IF_ABSENT, RACERS, 0);
    char *s = get_str(B.s, "race/absent", NULL, NULL);
    char want[64];
    snprintf(want, sizeof want, "round 0 winner %d", w);
    CU_ASSERT(s && w >= 0 && strcmp(s, want) == 0);
    free(s);
    /* and in this process too */
    rs_error err = {0};
    CU_ASSERT_EQUAL(put_str("race/absent", "late", RS_PUT_IF_ABSENT, NULL, NULL, &err), RS_ECONFLICT);
    CU_ASSERT(strstr(err.msg, "race/absent") != NULL);
    rs_storage_delete(B.s, "race/absent", NULL);
}

static void t_race_if_match(void)
{
    if (skip_here())
        return;
    rs_error err = {0};
    for (int round = 1; round <= MATCH_ROUNDS; round++) {
        char base[32];
        snprintf(base, sizeof base, "base of round %d", round);
        CU_ASSERT_EQUAL_FATAL(put_str("race/match", base, RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
        int w = race("race/match", RS_PUT_IF_MATCH, MATCH_RACERS, round);
        char *s = get_str(B.s, "race/match", NULL, NULL);
        char want[64];
        snprintf(want, sizeof want, "round %d winner %d", round, w);
        CU_ASSERT(s && w >= 0 && strcmp(s, want) == 0);
        free(s);
    }
    /* stale ETag -> CONFLICT, current -> OK */
    char e1[RS_ETAG_MAX], e2[RS_ETAG_MAX], e3[RS_ETAG_MAX];
    CU_ASSERT_EQUAL(put_str("race/match", "v1", RS_PUT_ALWAYS, NULL, e1, &err), RS_OK);
    CU_ASSERT_EQUAL(put_str("race/match", "v2", RS_PUT_IF_MATCH, e1, e2, &err), RS_OK);
    CU_ASSERT_EQUAL(put_str("race/match", "v3", RS_PUT_IF_MATCH, e1, e3, &err), RS_ECONFLICT);
    CU_ASSERT(strstr(err.msg, "race/match") != NULL);
    char *s = get_str(B.s, "race/match", NULL, NULL);
    CU_ASSERT(s && strcmp(s, "v2") == 0);
    free(s);
    CU_ASSERT_EQUAL(put_str("race/match", "v3", RS_PUT_IF_MATCH, e2, e3, &err), RS_OK);
    /* if-match on a missing key -> CONFLICT */
    rs_storage_delete(B.s, "race/match", NULL);
    CU_ASSERT_EQUAL(put_str("race/match", "v4", RS_PUT_IF_MATCH, e3, NULL, &err), RS_ECONFLICT);
    int rc = 0;
    s = get_str(B.s, "race/match", NULL, &rc);
    CU_ASSERT_EQUAL(rc, RS_ENOTFOUND);
    free(s);
}

/* ---- wrong credentials ---- */

static void t_wrong_credentials(void)
{
    if (skip_here())
        return;
    rs_error err = {0};
    rs_storage *bad = NULL;
    if (B.kind == BK_FILE) {
        /* not applicable, not a skip: nothing to test on a backend without credentials */
        printf("\n  (wrong credentials: not applicable to file://, which has no credentials)\n");
        return;
    }
    if (B.kind == BK_PG || B.kind == BK_MYSQL) {
        /* the same URL with another password */
        char *u = strdup(B.url);
        char *auth = strstr(u, "://") + 3;
        char *at = strchr(auth, '@');
        char *colon = strchr(auth, ':');
        CU_ASSERT_FATAL(at && colon && colon < at);
        char secret[128];
        snprintf(secret, sizeof secret, "%.*s", (int)(at - colon - 1), colon + 1);
        size_t n = strlen(u) + 32;
        char *badurl = malloc(n);
        snprintf(badurl, n, "%.*s:not-the-password%s", (int)(colon - u), u, at);
        int rc = rs_storage_open(badurl, NULL, &bad, &err);
        CU_ASSERT_EQUAL(rc, RS_EAUTH);
        CU_ASSERT(!err.retryable);
        CU_ASSERT(strstr(err.msg, B.kind == BK_PG ? "password authentication failed" : "Access denied for user") !=
                  NULL);
        CU_ASSERT_PTR_NULL(strstr(err.msg, "not-the-password"));
        CU_ASSERT_PTR_NULL(strstr(err.msg, secret));
        fprintf(stderr, "  (%s wrong password: %s)\n", B.name, err.msg);
        rs_storage_close(bad);
        free(badurl);
        free(u);
        return;
    }
    /* S3: a second handle with a wrong secret key in the environment */
    const char *old = getenv("AWS_SECRET_ACCESS_KEY");
    char *saved = old ? strdup(old) : NULL;
    setenv("AWS_SECRET_ACCESS_KEY", "this-is-not-the-secret-key-0000000000000", 1);
    int rc = rs_storage_open(B.url, NULL, &bad, &err);
    if (rc == RS_OK) {
        uint8_t *d = NULL;
        size_t n = 0;
        rc = rs_storage_get(bad, "auth/probe", NULL, &d, &n, NULL, &err);
        free(d);
    }
    if (saved) {
        setenv("AWS_SECRET_ACCESS_KEY", saved, 1);
        free(saved);
    } else {
        unsetenv("AWS_SECRET_ACCESS_KEY");
    }
    CU_ASSERT_EQUAL(rc, RS_EAUTH);
    CU_ASSERT(err.msg[0] != '\0');
    CU_ASSERT_PTR_NULL(strstr(err.msg, "this-is-not-the-secret-key"));
    fprintf(stderr, "  (s3 wrong secret: %s)\n", err.msg);
    rs_storage_close(bad);
}

/* ---- independent clients ---- */

static void xcheck_file(void)
{
    rs_error err = {0};
    char etag[RS_ETAG_MAX];
    CU_ASSERT_EQUAL(put_str("xcheck/by-regsync", "written by regsync", RS_PUT_ALWAYS, NULL, etag, &err), RS_OK);
    char path[4096];
    snprintf(path, sizeof path, "%s/store/xcheck/by-regsync", B.tmpdir);
    uint8_t *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_read_file(path, 0, &d, &n, &err), RS_OK);
    CU_ASSERT(n == strlen("written by regsync") && d && memcmp(d, "written by regsync", n) == 0);
    free(d);
    snprintf(path, sizeof path, "%s/store/xcheck/by-shell", B.tmpdir);
    CU_ASSERT_EQUAL(rs_test_write_file(path, "written by cp", 13), 0);
    char *s = get_str(B.s, "xcheck/by-shell", etag, NULL);
    CU_ASSERT(s && strcmp(s, "written by cp") == 0);
    char want[40];
    sha_hex((const uint8_t *)"written by cp", 13, 16, want);
    CU_ASSERT(strstr(etag, want) != NULL);
    free(s);
}

static void xcheck_pg(void)
{
    rs_error err = {0};
    char etag[RS_ETAG_MAX];
    const char *body = "written by regsync \x01\x02\xff";
    CU_ASSERT_EQUAL(put_str("xcheck/by-regsync", body, RS_PUT_ALWAYS, NULL, etag, &err), RS_OK);
    setenv("RS_XCHECK_URL", getenv("RS_TEST_PG_URL"), 1);
    char cmd[1024], want[160];
    int st = 0;
    snprintf(cmd, sizeof cmd,
             "psql \"$RS_XCHECK_URL\" -XAtqc \"SELECT encode(sha256(data), 'hex') || ' ' || etag || ' ' || size "
             "FROM %sobjects WHERE key = 'xcheck/by-regsync'\"",
             B.pg_prefix);
    char *out = run_capture(cmd, &st);
    CU_ASSERT_EQUAL(st, 0);
    char full[65], half[33];
    sha_hex((const uint8_t *)body, strlen(body), 32, full);
    sha_hex((const uint8_t *)body, strlen(body), 16, half);
    snprintf(want, sizeof want, "%s %s %zu", full, half, strlen(body));
    CU_ASSERT(out && strcmp(out, want) == 0);
    if (!out || strcmp(out, want) != 0)
        fprintf(stderr, "psql saw '%s', want '%s'\n", out ? out : "(null)", want);
    CU_ASSERT(strstr(etag, half) != NULL);
    free(out);
    /* a row psql inserts (no etag given: the trigger computes it), then updates */
    snprintf(cmd, sizeof cmd,
             "psql \"$RS_XCHECK_URL\" -XAtq -v ON_ERROR_STOP=1 -c \"INSERT INTO %sobjects (key, data) VALUES "
             "('xcheck/by-psql', convert_to('written by psql', 'UTF8'))\"",
             B.pg_prefix);
    out = run_capture(cmd, &st);
    CU_ASSERT_EQUAL(st, 0);
    free(out);
    char *s = get_str(B.s, "xcheck/by-psql", etag, NULL);
    CU_ASSERT(s && strcmp(s, "written by psql") == 0);
    sha_hex((const uint8_t *)"written by psql", 15, 16, half);
    CU_ASSERT(strstr(etag, half) != NULL);
    free(s);
    char old[RS_ETAG_MAX];
    snprintf(old, sizeof old, "%s", etag);
    snprintf(cmd, sizeof cmd,
             "psql \"$RS_XCHECK_URL\" -XAtq -v ON_ERROR_STOP=1 -c \"UPDATE %sobjects SET data = "
             "convert_to('changed by psql', 'UTF8') WHERE key = 'xcheck/by-psql'\"",
             B.pg_prefix);
    out = run_capture(cmd, &st);
    CU_ASSERT_EQUAL(st, 0);
    free(out);
    uint8_t *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_get(B.s, "xcheck/by-psql", old, &d, &n, etag, &err), RS_OK); /* changed */
    CU_ASSERT(n == 15 && d && memcmp(d, "changed by psql", 15) == 0);
    free(d);
    sha_hex((const uint8_t *)"changed by psql", 15, 16, half);
    CU_ASSERT(strstr(etag, half) != NULL);
    rs_storage_delete(B.s, "xcheck/by-psql", NULL);
    rs_storage_delete(B.s, "xcheck/by-regsync", NULL);
}

/* The mariadb client (another client, own connection) reads what regsync wrote and writes rows
 * regsync reads: an insert that sets etag and size the documented way, then an update that changes
 * data without them, which regsync refuses to return as good data. */
static void xcheck_mysql(void)
{
    if (access("/usr/bin/mariadb", X_OK) != 0) {
        rs_test_skip("conformance mysql cross-check", "/usr/bin/mariadb not installed");
        return;
    }
    rs_error err = {0};
    char etag[RS_ETAG_MAX];
    const char *body = "written by regsync \x01\x02\xff";
    CU_ASSERT_EQUAL(put_str("xcheck/by-regsync", body, RS_PUT_ALWAYS, NULL, etag, &err), RS_OK);
    const char *cli = mysql_cli();
    char cmd[2048], want[160];
    int st = 0;
    snprintf(cmd, sizeof cmd,
             "%s -e \"SELECT SHA2(data, 256), etag, size FROM %sobjects WHERE \\`key\\` = "
             "'xcheck/by-regsync'\"",
             cli, B.pg_prefix);
    char *out = run_capture(cmd, &st);
    CU_ASSERT_EQUAL(st, 0);
    char full[65], half[33];
    sha_hex((const uint8_t *)body, strlen(body), 32, full);
    sha_hex((const uint8_t *)body, strlen(body), 16, half);
    snprintf(want, sizeof want, "%s\t%s\t%zu", full, half, strlen(body));
    CU_ASSERT(out && strcmp(out, want) == 0);
    if (!out || strcmp(out, want) != 0)
        fprintf(stderr, "mariadb saw '%s', want '%s'\n", out ? out : "(null)", want);
    CU_ASSERT(strstr(etag, half) != NULL);
    free(out);
    /* a row another client inserts the documented way */
    snprintf(cmd, sizeof cmd,
             "%s -e \"SET @d = 'written by mysql'; INSERT INTO %sobjects (\\`key\\`, data, etag, size, updated_ms) "
             "VALUES ('xcheck/by-mysql', @d, LEFT(SHA2(@d, 256), 32), LENGTH(@d), 0)\"",
             cli, B.pg_prefix);
    out = run_capture(cmd, &st);
    CU_ASSERT_EQUAL(st, 0);
    free(out);
    char *s = get_str(B.s, "xcheck/by-mysql", etag, NULL);
    CU_ASSERT(s && strcmp(s, "written by mysql") == 0);
    sha_hex((const uint8_t *)"written by mysql", 16, 16, half);
    CU_ASSERT(strstr(etag, half) != NULL);
    free(s);
    /* data changed without etag: a conditional get with the old ETag must not say "unchanged"
     * with stale data, nor return the data as good: an error that says what to do */
    char old[RS_ETAG_MAX];
    snprintf(old, sizeof old, "%s", etag);
    snprintf(cmd, sizeof cmd,
             "%s -e \"UPDATE %sobjects SET data = 'changed by mysql' WHERE \\`key\\` = 'xcheck/by-mysql'\"", cli,
             B.pg_prefix);
    out = run_capture(cmd, &st);
    CU_ASSERT_EQUAL(st, 0);
    free(out);
    uint8_t *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_get(B.s, "xcheck/by-mysql", NULL, &d, &n, etag, &err), RS_ECORRUPT);
    CU_ASSERT_PTR_NULL(d);
    CU_ASSERT(strstr(err.msg, "SHA2(data, 256)") != NULL);
    fprintf(stderr, "  (mysql data changed without its etag: %s)\n", err.msg);
    /* fixed the documented way: readable again, with the new ETag */
    snprintf(cmd, sizeof cmd,
             "%s -e \"UPDATE %sobjects SET etag = LEFT(SHA2(data, 256), 32), size = LENGTH(data) WHERE \\`key\\` = "
             "'xcheck/by-mysql'\"",
             cli, B.pg_prefix);
    out = run_capture(cmd, &st);
    CU_ASSERT_EQUAL(st, 0);
    free(out);
    CU_ASSERT_EQUAL(rs_storage_get(B.s, "xcheck/by-mysql", old, &d, &n, etag, &err), RS_OK);
    CU_ASSERT(n == 16 && d && memcmp(d, "changed by mysql", 16) == 0);
    free(d);
    sha_hex((const uint8_t *)"changed by mysql", 16, 16, half);
    CU_ASSERT(strstr(etag, half) != NULL);
    rs_storage_delete(B.s, "xcheck/by-mysql", NULL);
    rs_storage_delete(B.s, "xcheck/by-regsync", NULL);
}

/* s3://bucket/prefix?...endpoint=E... -> bucket, prefix, endpoint (decoded) */
static bool s3_parts(const char *url, char *bucket, char *prefix, char *endpoint, size_t cap)
{
    const char *p = url + 5;
    size_t bl = strcspn(p, "/?");
    snprintf(bucket, cap, "%.*s", (int)bl, p);
    p += bl;
    prefix[0] = '\0';
    if (*p == '/') {
        size_t pl = strcspn(p + 1, "?");
        snprintf(prefix, cap, "%.*s", (int)pl, p + 1);
        p += 1 + pl;
    }
    endpoint[0] = '\0';
    const char *e = strstr(url, "endpoint=");
    if (e) {
        e += 9;
        size_t j = 0;
        for (; *e && *e != '&' && j + 1 < cap; e++) {
            char hx[3] = {e[0] == '%' ? e[1] : 0, e[0] == '%' && e[1] ? e[2] : 0, 0};
            uint8_t b;
            if (*e == '%' && hx[0] && hx[1] && rs_unhex(hx, &b, 1) == 0) {
                endpoint[j++] = (char)b;
                e += 2;
            } else {
                endpoint[j++] = *e;
            }
        }
        endpoint[j] = '\0';
    }
    return bucket[0] != '\0';
}

static void xcheck_s3(void)
{
    if (access("/usr/bin/aws", X_OK) != 0) {
        rs_test_skip("conformance s3 cross-check", "/usr/bin/aws not installed");
        return;
    }
    char bucket[512], prefix[512], endpoint[512];
    if (!s3_parts(B.url, bucket, prefix, endpoint, sizeof bucket)) {
        CU_FAIL("cannot parse RS_TEST_S3_URL");
        return;
    }
    rs_error err = {0};
    CU_ASSERT_EQUAL(put_str("xcheck/by-regsync", "written by regsync", RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    char target[1200];
    snprintf(target, sizeof target, "s3://%s/%s%sxcheck/by-regsync", bucket, prefix, prefix[0] ? "/" : "");
    setenv("RS_XCHECK_TARGET", target, 1);
    setenv("RS_XCHECK_ENDPOINT", endpoint, 1);
    int st = 0;
    char *out = run_capture(endpoint[0] ? "/usr/bin/aws --endpoint-url \"$RS_XCHECK_ENDPOINT\" s3 cp "
                                          "\"$RS_XCHECK_TARGET\" - 2>/dev/null"
                                        : "/usr/bin/aws s3 cp \"$RS_XCHECK_TARGET\" - 2>/dev/null",
                            &st);
    if (st != 0) {
        rs_test_skip("conformance s3 cross-check", "aws s3 cp failed (credentials for awscli?)");
        free(out);
        return;
    }
    CU_ASSERT(out && strcmp(out, "written by regsync") == 0);
    free(out);
    snprintf(target, sizeof target, "s3://%s/%s%sxcheck/by-aws", bucket, prefix, prefix[0] ? "/" : "");
    setenv("RS_XCHECK_TARGET", target, 1);
    out = run_capture(endpoint[0] ? "printf 'written by aws' | /usr/bin/aws --endpoint-url \"$RS_XCHECK_ENDPOINT\" "
                                    "s3 cp - \"$RS_XCHECK_TARGET\" >/dev/null 2>&1"
                                  : "printf 'written by aws' | /usr/bin/aws s3 cp - \"$RS_XCHECK_TARGET\" >/dev/null 2>&1",
                      &st);
    free(out);
    CU_ASSERT_EQUAL(st, 0);
    char *s = get_str(B.s, "xcheck/by-aws", NULL, NULL);
    CU_ASSERT(s && strcmp(s, "written by aws") == 0);
    free(s);
    rs_storage_delete(B.s, "xcheck/by-aws", NULL);
    rs_storage_delete(B.s, "xcheck/by-regsync", NULL);
}

static void t_independent_client(void)
{
    if (skip_here())
        return;
    switch (B.kind) {
    case BK_FILE: xcheck_file(); break;
    case BK_PG: xcheck_pg(); break;
    case BK_MYSQL: xcheck_mysql(); break;
    case BK_S3: xcheck_s3(); break;
    }
}

static void t_stats(void)
{
    if (skip_here())
        return;
    rs_storage_stats st;
    rs_storage_get_stats(B.s, &st);
    CU_ASSERT(st.requests > 0);
    CU_ASSERT(st.bytes_out >= 110u * MB);
    CU_ASSERT(st.bytes_in >= 110u * MB);
    fprintf(stderr, "  (%s stats: requests=%llu bytes_in=%llu bytes_out=%llu retries=%llu errors=%llu "
                    "not_modified=%llu)\n",
            B.name, (unsigned long long)st.requests, (unsigned long long)st.bytes_in,
            (unsigned long long)st.bytes_out, (unsigned long long)st.retries, (unsigned long long)st.errors,
            (unsigned long long)st.not_modified);
}

static void add_suite(const char *name, CU_InitializeFunc init)
{
    CU_pSuite s = CU_add_suite(name, init, clean_suite);
    CU_add_test(s, "open", t_open);
    CU_add_test(s, "round trips 0 B, 1 B, 4 KiB", t_roundtrip_small);
    CU_add_test(s, "round trip 10 MB", t_roundtrip_10mb);
    CU_add_test(s, "round trip 100 MB", t_roundtrip_100mb);
    CU_add_test(s, "ETag and conditional get", t_etag);
    CU_add_test(s, "missing key", t_missing);
    CU_add_test(s, "delete", t_delete);
    CU_add_test(s, "delete if the ETag matches", t_delete_if);
    CU_add_test(s, "odd keys", t_odd_keys);
    CU_add_test(s, "list 2,500 keys", t_list_pages);
    CU_add_test(s, "if-absent race, 8 processes", t_race_if_absent);
    CU_add_test(s, "if-match races and stale ETags", t_race_if_match);
    CU_add_test(s, "wrong credentials", t_wrong_credentials);
    CU_add_test(s, "independent client", t_independent_client);
    CU_add_test(s, "stats", t_stats);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    rng_state = (uint64_t)time(NULL) * 0x2545F4914F6CDD1Dull | 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    add_suite("conformance file", init_file);
    add_suite("conformance s3", init_s3);
    add_suite("conformance postgresql", init_pg);
    add_suite("conformance mysql", init_mysql);
    return rs_test_run();
}
