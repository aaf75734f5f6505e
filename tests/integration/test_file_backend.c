/* test_file_backend.c: what only the file:// backend promises, beyond the conformance suite.
 *
 * URLs (%-escapes, relative paths, parameters), reserved and malformed keys, no temp file ever
 * visible or left behind (also when a put fails), stale temp files of crashed writers removed,
 * an in-place rewrite (how Feast writes its local registry.db) always changes the ETag even with
 * the same size and mtime, readers in another process only ever see a whole old or new file,
 * read-modify-write with if-match from 4 processes loses no update, empty directories removed
 * on delete, permission errors -> AUTH, watch unsupported.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pwd.h>
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

static char *tmp;    /* the test's temp dir */
static char *root;   /* tmp/store */
static char *url;    /* file://root */
static rs_storage *S;

static int setup(void)
{
    tmp = rs_test_tmpdir("file-backend");
    if (!tmp)
        return 1;
    size_t n = strlen(tmp) + 32;
    root = malloc(n);
    url = malloc(n + 8);
    snprintf(root, n, "%s/store", tmp);
    snprintf(url, n + 8, "file://%s", root);
    return rs_storage_open(url, NULL, &S, NULL) == RS_OK ? 0 : 1;
}

static int teardown(void)
{
    rs_storage_close(S);
    rs_test_rmrf(tmp);
    free(tmp);
    free(root);
    free(url);
    return 0;
}

static int put(const char *key, const char *s, rs_put_mode m, const char *im, char *etag, rs_error *err)
{
    return rs_storage_put(S, key, (const uint8_t *)s, strlen(s), m, im, etag, err);
}

/* Names under dir (recursive) that contain needle. */
static int count_names(const char *dir, const char *needle)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "find '%s' -name '*%s*' | wc -l", dir, needle);
    FILE *f = popen(cmd, "r");
    int n = -1;
    if (f) {
        if (fscanf(f, "%d", &n) != 1)
            n = -1;
        pclose(f);
    }
    return n;
}

static void t_urls(void)
{
    rs_storage *s = NULL;
    rs_error err = {0};
    char u[4400];
    snprintf(u, sizeof u, "file://%s/with%%20space/%%C3%%BC", tmp);
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(u, NULL, &s, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "k", (const uint8_t *)"v", 1, RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    char p[4200];
    snprintf(p, sizeof p, "%s/with space/\xc3\xbc/k", tmp);
    struct stat st;
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    rs_storage_close(s);
    snprintf(u, sizeof u, "file://localhost%s/lh", tmp);
    CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, &err), RS_OK);
    rs_storage_close(s);
    s = NULL;
    CU_ASSERT_EQUAL(rs_storage_open("file://relative/dir", NULL, &s, &err), RS_EINVALID);
    CU_ASSERT_EQUAL(rs_storage_open("file:///tmp/x?param=1", NULL, &s, &err), RS_EINVALID);
    CU_ASSERT_EQUAL(rs_storage_open("file:///tmp/bad%zzescape", NULL, &s, &err), RS_EINVALID);
    snprintf(p, sizeof p, "%s/plainfile", tmp);
    rs_test_write_file(p, "x", 1);
    snprintf(u, sizeof u, "file://%s", p);
    CU_ASSERT_EQUAL(rs_storage_open(u, NULL, &s, &err), RS_EINVALID);
    CU_ASSERT(strstr(err.msg, "not a directory") != NULL);
    CU_ASSERT_PTR_NULL(s);
}

static void t_bad_keys(void)
{
    const char *bad[] = {".rs-lock", "a/.rs-tmp.1.2.3", "a//b", "a/./b", "a/", "/abs", "../up", "a/../b", "x/."};
    rs_error err = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = put(bad[i], "x", RS_PUT_ALWAYS, NULL, NULL, &err);
        if (rc != RS_EINVALID)
            fprintf(stderr, "key '%s' -> %s\n", bad[i], rs_status_name(rc));
        CU_ASSERT_EQUAL(rc, RS_EINVALID);
    }
    uint8_t *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_get(S, ".rs-lock", NULL, &d, &n, NULL, &err), RS_EINVALID);
    /* list prefixes stay inside the store */
    rs_list_entry *e = NULL;
    size_t ne = 0;
    CU_ASSERT_EQUAL(rs_storage_list(S, "../", &e, &ne, &err), RS_EINVALID);
    CU_ASSERT_EQUAL(rs_storage_list(S, "a/../../x", &e, &ne, &err), RS_EINVALID);
    CU_ASSERT_EQUAL(rs_storage_list(S, "/etc", &e, &ne, &err), RS_EINVALID);
    CU_ASSERT_EQUAL(rs_storage_list(S, "..", &e, &ne, &err), RS_EINVALID);
    CU_ASSERT_EQUAL(rs_storage_list(S, "..x", &e, &ne, &err), RS_OK);
    rs_storage_list_free(e, ne);
    /* a long component */
    char longkey[400];
    memset(longkey, 'a', 300);
    longkey[300] = '\0';
    CU_ASSERT_EQUAL(put(longkey, "x", RS_PUT_ALWAYS, NULL, NULL, &err), RS_EINVALID);
}

static void t_no_temp_files(void)
{
    rs_error err = {0};
    for (int i = 0; i < 20; i++) {
        char k[32];
        snprintf(k, sizeof k, "tmpcheck/k%d", i);
        CU_ASSERT_EQUAL(put(k, "data", i % 2 ? RS_PUT_ALWAYS : RS_PUT_IF_ABSENT, NULL, NULL, &err), RS_OK);
    }
    CU_ASSERT_EQUAL(put("tmpcheck/k0", "data", RS_PUT_IF_ABSENT, NULL, NULL, &err), RS_ECONFLICT);
    CU_ASSERT_EQUAL(put("tmpcheck/k1", "data", RS_PUT_IF_MATCH, "\"00\"", NULL, &err), RS_ECONFLICT);
    CU_ASSERT_EQUAL(count_names(root, ".rs-tmp"), 0);
    /* failing puts leave nothing behind: below an object, over a directory */
    CU_ASSERT_EQUAL(put("tmpcheck/k2/below", "x", RS_PUT_ALWAYS, NULL, NULL, &err), RS_EINVALID);
    CU_ASSERT(strstr(err.msg, "tmpcheck/k2") != NULL);
    CU_ASSERT_EQUAL(put("tmpcheck", "x", RS_PUT_ALWAYS, NULL, NULL, &err), RS_EINVALID);
    CU_ASSERT_EQUAL(count_names(root, ".rs-tmp"), 0);
    /* the directory "tmpcheck" is no object */
    uint8_t *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_get(S, "tmpcheck", NULL, &d, &n, NULL, &err), RS_ENOTFOUND);
    CU_ASSERT_EQUAL(rs_storage_delete(S, "tmpcheck", &err), RS_OK);
    /* list shows only keys: no lock, no temp */
    rs_list_entry *e = NULL;
    size_t ne = 0;
    CU_ASSERT_EQUAL(rs_storage_list(S, "", &e, &ne, &err), RS_OK);
    for (size_t i = 0; i < ne; i++)
        CU_ASSERT(strstr(e[i].key, ".rs-") == NULL);
    CU_ASSERT_EQUAL(ne, 20);
    rs_storage_list_free(e, ne);
}

static void t_stale_temp_cleanup(void)
{
    char p_old[4200], p_new[4200];
    snprintf(p_old, sizeof p_old, "%s/tmpcheck/.rs-tmp.999.1.1", root);
    snprintf(p_new, sizeof p_new, "%s/tmpcheck/.rs-tmp.999.2.2", root);
    CU_ASSERT_EQUAL(rs_test_write_file(p_old, "partial", 7), 0);
    CU_ASSERT_EQUAL(rs_test_write_file(p_new, "partial", 7), 0);
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= 7200;
    ts[1] = ts[0];
    CU_ASSERT_EQUAL(utimensat(AT_FDCWD, p_old, ts, 0), 0);
    rs_list_entry *e = NULL;
    size_t ne = 0;
    CU_ASSERT_EQUAL(rs_storage_list(S, "tmpcheck/", &e, &ne, NULL), RS_OK);
    CU_ASSERT_EQUAL(ne, 20);
    rs_storage_list_free(e, ne);
    CU_ASSERT_EQUAL(access(p_old, F_OK), -1); /* an hour old: a crashed writer's, removed */
    CU_ASSERT_EQUAL(access(p_new, F_OK), 0);  /* fresh: maybe a live writer's, kept */
    unlink(p_new);
}

static void t_in_place_rewrite(void)
{
    rs_error err = {0};
    char e1[RS_ETAG_MAX], e2[RS_ETAG_MAX];
    CU_ASSERT_EQUAL(put("inplace/registry.db", "AAAAAAAA", RS_PUT_ALWAYS, NULL, e1, &err), RS_OK);
    char p[4200];
    snprintf(p, sizeof p, "%s/inplace/registry.db", root);
    /* make it look old so that the ETag cache keeps it */
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= 10;
    ts[1] = ts[0];
    CU_ASSERT_EQUAL(utimensat(AT_FDCWD, p, ts, 0), 0);
    sleep(2); /* ctime (set by utimensat) must be old too */
    rs_storage_stats a, b;
    uint8_t *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_get(S, "inplace/registry.db", NULL, &d, &n, e2, &err), RS_OK);
    free(d);
    d = NULL;
    CU_ASSERT_STRING_EQUAL(e1, e2);
    rs_storage_get_stats(S, &a);
    CU_ASSERT_EQUAL(rs_storage_get(S, "inplace/registry.db", e1, &d, &n, NULL, &err), RS_ENOTMODIFIED);
    rs_storage_get_stats(S, &b);
    CU_ASSERT_EQUAL(a.bytes_in, b.bytes_in);
    /* Feast-style rewrite in place: same size, and the mtime put back to the old value */
    int fd = open(p, O_WRONLY | O_TRUNC);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, "BBBBBBBB", 8), 8);
    fsync(fd);
    close(fd);
    CU_ASSERT_EQUAL(utimensat(AT_FDCWD, p, ts, 0), 0);
    CU_ASSERT_EQUAL(rs_storage_get(S, "inplace/registry.db", e1, &d, &n, e2, &err), RS_OK);
    CU_ASSERT(n == 8 && d && memcmp(d, "BBBBBBBB", 8) == 0);
    CU_ASSERT_STRING_NOT_EQUAL(e1, e2);
    free(d);
}

static uint64_t hash64(const uint8_t *p, size_t n)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned l = 0;
    EVP_Digest(p, n, md, &l, EVP_sha256(), NULL);
    uint64_t v;
    memcpy(&v, md, 8);
    return v;
}

static void t_atomic_replace(void)
{
    size_t nx = 1 << 20, ny = 2 << 20;
    uint8_t *x = malloc(nx), *y = malloc(ny);
    memset(x, 'x', nx);
    memset(y, 'y', ny);
    uint64_t hx = hash64(x, nx), hy = hash64(y, ny);
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_put(S, "atomic/obj", x, nx, RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    fflush(NULL);
    pid_t w = fork();
    if (w == 0) {
        rs_storage *s = NULL;
        if (rs_storage_open(url, NULL, &s, NULL) != RS_OK)
            _exit(2);
        for (int i = 0; i < 150; i++) {
            int rc = i % 2 ? rs_storage_put(s, "atomic/obj", x, nx, RS_PUT_ALWAYS, NULL, NULL, NULL)
                           : rs_storage_put(s, "atomic/obj", y, ny, RS_PUT_ALWAYS, NULL, NULL, NULL);
            if (rc)
                _exit(3);
        }
        rs_storage_close(s);
        _exit(0);
    }
    char p[4200];
    snprintf(p, sizeof p, "%s/atomic/obj", root);
    int reads = 0, bad = 0;
    for (;;) {
        uint8_t *d = NULL;
        size_t n = 0;
        /* through regsync and through a plain read */
        if (rs_storage_get(S, "atomic/obj", NULL, &d, &n, NULL, &err) == RS_OK) {
            uint64_t h = hash64(d, n);
            bad += !((n == nx && h == hx) || (n == ny && h == hy));
            reads++;
        }
        free(d);
        d = NULL;
        if (rs_read_file(p, 0, &d, &n, NULL) == RS_OK) {
            uint64_t h = hash64(d, n);
            bad += !((n == nx && h == hx) || (n == ny && h == hy));
            reads++;
        }
        free(d);
        int st;
        if (waitpid(w, &st, WNOHANG) == w) {
            CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
            break;
        }
    }
    fprintf(stderr, "  (%d reads during 150 replacements, %d torn)\n", reads, bad);
    CU_ASSERT(reads > 10);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(count_names(root, ".rs-tmp"), 0);
    free(x);
    free(y);
}

/* 4 processes each add 1 to a counter 25 times with read + put-if-match: no update is lost. */
static void t_cas_counter(void)
{
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(put("cas/counter", "0", RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    enum { PROCS = 4, EACH = 25 };
    pid_t pids[PROCS];
    fflush(NULL);
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            rs_storage *s = NULL;
            if (rs_storage_open(url, NULL, &s, NULL) != RS_OK)
                _exit(2);
            int done = 0, conflicts = 0;
            while (done < EACH) {
                uint8_t *d = NULL;
                size_t n = 0;
                char etag[RS_ETAG_MAX], buf[32];
                if (rs_storage_get(s, "cas/counter", NULL, &d, &n, etag, NULL) != RS_OK)
                    _exit(3);
                snprintf(buf, sizeof buf, "%.*s", (int)n, (const char *)d);
                free(d);
                snprintf(buf, sizeof buf, "%ld", atol(buf) + 1);
                int rc = rs_storage_put(s, "cas/counter", (const uint8_t *)buf, strlen(buf), RS_PUT_IF_MATCH, etag,
                                        NULL, NULL);
                if (rc == RS_OK)
                    done++;
                else if (rc == RS_ECONFLICT)
                    conflicts++;
                else
                    _exit(4);
            }
            rs_storage_close(s);
            _exit(conflicts > 0 ? 0 : 0);
        }
    }
    for (int i = 0; i < PROCS; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    uint8_t *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_get(S, "cas/counter", NULL, &d, &n, NULL, &err), RS_OK);
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)n, d ? (const char *)d : "");
    CU_ASSERT_EQUAL(atol(buf), PROCS * EACH);
    free(d);
}

static void t_delete_prunes_dirs(void)
{
    rs_error err = {0};
    CU_ASSERT_EQUAL(put("deep/a/b/c/leaf", "x", RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    CU_ASSERT_EQUAL(put("deep/keep", "x", RS_PUT_ALWAYS, NULL, NULL, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_delete(S, "deep/a/b/c/leaf", &err), RS_OK);
    char p[4200];
    snprintf(p, sizeof p, "%s/deep/a", root);
    CU_ASSERT_EQUAL(access(p, F_OK), -1);
    snprintf(p, sizeof p, "%s/deep/keep", root);
    CU_ASSERT_EQUAL(access(p, F_OK), 0);
    /* the old directory name can now be an object */
    CU_ASSERT_EQUAL(put("deep/a", "now a file", RS_PUT_IF_ABSENT, NULL, NULL, &err), RS_OK);
    CU_ASSERT_EQUAL(access(root, F_OK), 0);
}

static void t_permission_denied(void)
{
    /* as an unprivileged user (root can write anywhere): a store owned by someone else */
    struct passwd *pw = getpwnam("nobody");
    if (!pw) {
        rs_test_skip_env("file permission test", "no user 'nobody'");
        return;
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/readonly", tmp);
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
    chmod(tmp, 0755);
    fflush(NULL);
    pid_t c = fork();
    if (c == 0) {
        if (geteuid() == 0 && setuid(pw->pw_uid) != 0)
            _exit(9);
        if (geteuid() == 0)
            _exit(9);
        char u[4300];
        snprintf(u, sizeof u, "file://%s", dir);
        rs_storage *s = NULL;
        rs_error err = {0};
        if (rs_storage_open(u, NULL, &s, &err) != RS_OK)
            _exit(8);
        int rc = rs_storage_put(s, "k", (const uint8_t *)"v", 1, RS_PUT_ALWAYS, NULL, NULL, &err);
        bool msg = strstr(err.msg, "ermission denied") != NULL;
        rs_storage_close(s);
        _exit(rc == RS_EAUTH && msg ? 0 : 1);
    }
    int st;
    waitpid(c, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 9) {
        rs_test_skip_env("file permission test", "cannot switch to an unprivileged user");
        return;
    }
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void t_watch_unsupported(void)
{
    char **keys = NULL;
    size_t n = 0;
    rs_error err = {0};
    CU_ASSERT_EQUAL(rs_storage_caps(S) & RS_CAP_WATCH, 0);
    CU_ASSERT_EQUAL(rs_storage_watch(S, "", 10, &keys, &n, &err), RS_EUNSUPPORTED);
    CU_ASSERT_PTR_NULL(keys);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("file backend", setup, teardown);
    CU_add_test(s, "URLs", t_urls);
    CU_add_test(s, "reserved and malformed keys", t_bad_keys);
    CU_add_test(s, "no temp file visible or left behind", t_no_temp_files);
    CU_add_test(s, "stale temp files removed", t_stale_temp_cleanup);
    CU_add_test(s, "in-place rewrite changes the ETag", t_in_place_rewrite);
    CU_add_test(s, "readers never see a torn file", t_atomic_replace);
    CU_add_test(s, "if-match counter from 4 processes", t_cas_counter);
    CU_add_test(s, "delete prunes empty directories", t_delete_prunes_dirs);
    CU_add_test(s, "permission denied -> AUTH", t_permission_denied);
    CU_add_test(s, "watch unsupported", t_watch_unsupported);
    return rs_test_run();
}
