#include "rs_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *rs_test_shared_dir(void)
{
    static char buf[4096];
    const char *env = getenv("RS_SHARED_DIR");
    const char *d = env && *env ? env : RS_SHARED_DIR;
    struct stat st;
    snprintf(buf, sizeof buf, "%s/fixtures/registries", d);
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    snprintf(buf, sizeof buf, "%s", d);
    return buf;
}

/* What was skipped (distinct "what: why" lines, in order) and which tests skipped. Test-process
 * state only: the CUnit runner is single-threaded. */
#define RS_TEST_MAX_SKIPS 256
static char *skip_lines[RS_TEST_MAX_SKIPS];
static size_t n_skip_lines;
static const void *skipped_tests[RS_TEST_MAX_SKIPS];
static size_t n_skipped_tests;
static bool skipped_outside_tests;

static void record_skip(const char *what, const char *why, bool machine)
{
    char *line = rs_test_fmt("%s: %s%s", what, why, machine ? " (this machine; allowed with CI=true)" : "");
    bool seen = false;
    for (size_t i = 0; line && i < n_skip_lines; i++)
        seen = seen || strcmp(skip_lines[i], line) == 0;
    if (!seen) {
        fprintf(stdout, "\n*** SKIP %s ***\n", line ? line : what);
        fprintf(stderr, "*** SKIP %s ***\n", line ? line : what);
        fflush(stdout);
        if (line && n_skip_lines < RS_TEST_MAX_SKIPS) {
            skip_lines[n_skip_lines++] = line;
            line = NULL;
        }
    }
    free(line);
    const void *t = CU_get_current_test();
    if (!t) {
        skipped_outside_tests = true;
        return;
    }
    for (size_t i = 0; i < n_skipped_tests; i++)
        if (skipped_tests[i] == t)
            return;
    if (n_skipped_tests < RS_TEST_MAX_SKIPS)
        skipped_tests[n_skipped_tests++] = t;
}

bool rs_test_ci(void)
{
    const char *ci = getenv("CI");
    return ci && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0);
}

void rs_test_skip(const char *what, const char *why)
{
    record_skip(what, why, false);
    if (rs_test_ci()) {
        fprintf(stderr, "CI=true: the skipped part is required: %s: %s\n", what, why);
        CU_FAIL("CI=true: a required part of the test was skipped (see the SKIP line)");
    }
}

void rs_test_skip_env(const char *what, const char *why) { record_skip(what, why, true); }

bool rs_test_servers_required(void)
{
    const char *r = getenv("RS_REQUIRE_SERVERS");
    return (r && strcmp(r, "1") == 0) || rs_test_ci();
}

bool rs_test_have_ipv6_loopback(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = 0, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 1) == 0;
    close(fd);
    return ok;
}

const char *rs_test_env(const char *name)
{
    const char *v = getenv(name);
    if (v && *v)
        return v;
    if (rs_test_servers_required()) {
        fprintf(stderr, "RS_REQUIRE_SERVERS=1 or CI=true but %s is not set\n", name);
        CU_FAIL_FATAL("required server environment missing");
    }
    return NULL;
}

char *rs_test_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/rs-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

void rs_test_rmrf(const char *path)
{
    if (path)
        nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char **rs_test_list_dir(const char *dir, const char *suffix, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **v = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        size_t l = strlen(e->d_name);
        if (suffix && (l < strlen(suffix) || strcmp(e->d_name + l - strlen(suffix), suffix) != 0))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            v = realloc(v, cap * sizeof *v);
        }
        v[(*n)++] = strdup(path);
    }
    closedir(d);
    if (*n)
        qsort(v, *n, sizeof *v, cmpstr);
    return v;
}

void rs_test_free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int rs_test_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    int rc = fclose(f);
    return (w == len && rc == 0) ? 0 : -1;
}

int rs_test_run(void)
{
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (n_skip_lines || n_skipped_tests) {
        printf("\n*** %zu of %u tests SKIPPED in whole or in part; missing:\n", n_skipped_tests, ran);
        for (size_t i = 0; i < n_skip_lines; i++)
            printf("***   %s\n", skip_lines[i]);
        fflush(stdout);
    }
    for (size_t i = 0; i < n_skip_lines; i++)
        free(skip_lines[i]);
    if (ran == 0) {
        fprintf(stderr, "no test ran\n");
        return 1;
    }
    if (failed)
        return 1;
    if (n_skipped_tests >= ran || (skipped_outside_tests && CU_get_number_of_asserts() == 0)) {
        printf("*** SKIPPED: every test of this program was skipped (exit 77) ***\n");
        fprintf(stderr, "*** SKIPPED: every test of this program was skipped ***\n");
        return 77;
    }
    return 0;
}

char *rs_test_fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* the caller's globals for the current store suite (CUnit hooks take no arguments) */
static char **suite_store, **suite_work;

static int suite_init(const char *env)
{
    free(*suite_work);
    *suite_work = rs_test_tmpdir("store");
    free(*suite_store);
    if (!env) {
        *suite_store = rs_test_fmt("file://%s", *suite_work);
    } else {
        const char *u = getenv(env);
        *suite_store = u && *u ? strdup(u) : NULL;
    }
    return *suite_work ? 0 : 1;
}
static int suite_file_init(void) { return suite_init(NULL); }
static int suite_s3_init(void) { return suite_init("RS_TEST_S3_URL"); }
static int suite_pg_init(void) { return suite_init("RS_TEST_PG_URL"); }
static int suite_mysql_init(void) { return suite_init("RS_TEST_MYSQL_URL"); }

static int suite_clean(void)
{
    rs_test_rmrf(*suite_work);
    return 0;
}

void rs_test_store_suites(const char *title, char **store_url, char **work, void (*add)(CU_pSuite))
{
    suite_store = store_url;
    suite_work = work;
    static const char *const where[] = {"file://", "S3 (RGW)", "PostgreSQL", "MySQL (MariaDB)"};
    CU_InitializeFunc inits[] = {suite_file_init, suite_s3_init, suite_pg_init, suite_mysql_init};
    for (int i = 0; i < 4; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s on %s", title, where[i]);
        add(CU_add_suite(name, inits[i], suite_clean));
    }
}

bool rs_test_store_missing(const char *test)
{
    if (suite_store && *suite_store)
        return false;
    if (rs_test_servers_required()) {
        record_skip(test, "no server URL for this suite (scripts/test.sh starts the servers)", false);
        CU_FAIL("RS_REQUIRE_SERVERS=1 or CI=true but the server URL is missing");
    } else {
        rs_test_skip(test, "no server URL for this suite (scripts/test.sh starts the servers)");
    }
    return true;
}

char *rs_test_fresh_store(const char *store_url, const char *work, const char *tag)
{
    static int seq;
    seq++;
    if (strncmp(store_url, "file://", 7) == 0) {
        char *d = rs_test_fmt("%s/store-%s-%d", work, tag, seq);
        if (mkdir(d, 0700) != 0 && errno != EEXIST)
            CU_FAIL("cannot create a file:// sub-store");
        char *u = rs_test_fmt("file://%s", d);
        free(d);
        return u;
    }
    if (strncmp(store_url, "s3://", 5) == 0) {
        /* s3://bucket/prefix?query -> s3://bucket/prefix/<tag>-<pid>-<n>?query */
        const char *q = strchr(store_url, '?');
        return rs_test_fmt("%.*s/%s-%d-%d%s", q ? (int)(q - store_url) : (int)strlen(store_url), store_url, tag,
                           (int)getpid(), seq, q ? q : "");
    }
    return rs_test_fmt("%s%ctable_prefix=%s%d_%d_", store_url, strchr(store_url, '?') ? '&' : '?', tag, (int)getpid(),
                       seq);
}
