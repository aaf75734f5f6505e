#include "rs_test.h"

#include <dirent.h>
#include <fcntl.h>
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

void rs_test_skip(const char *what, const char *why)
{
    fprintf(stdout, "\n*** SKIP %s: %s ***\n", what, why);
    fprintf(stderr, "*** SKIP %s: %s ***\n", what, why);
}

bool rs_test_servers_required(void)
{
    const char *r = getenv("RS_REQUIRE_SERVERS");
    return r && strcmp(r, "1") == 0;
}

const char *rs_test_env(const char *name)
{
    const char *v = getenv(name);
    if (v && *v)
        return v;
    if (rs_test_servers_required()) {
        fprintf(stderr, "RS_REQUIRE_SERVERS=1 but %s is not set\n", name);
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
    if (ran == 0) {
        fprintf(stderr, "no test ran\n");
        return 1;
    }
    return failed ? 1 : 0;
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
    rs_test_skip(test, "no server URL for this suite (scripts/test.sh starts the servers)");
    if (rs_test_servers_required())
        CU_FAIL("RS_REQUIRE_SERVERS=1 but the server URL is missing");
    return true;
}
