/* test_common.c: the shared helpers of common/ that several libraries use instead of their own
 * copies (issue 16): percent-decoding (store URLs of every backend), hex digits, rs_write_all. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rs_buf.h"
#include "rs_config.h"
#include "rs_journal.h"
#include "rs_registry.h"
#include "rs_source.h"
#include "rs_storage.h"
#include "rs_target.h"
#include "rs_error.h"
#include "rs_test.h"
#include "rs_url.h"

static void expect_decode(const char *in, int want_rc, const char *want)
{
    char *out = (char *)"sentinel";
    int rc = rs_pct_decode(in, strlen(in), &out);
    CU_ASSERT_EQUAL(rc, want_rc);
    if (want_rc == RS_OK) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(out);
        CU_ASSERT_STRING_EQUAL(out, want);
        free(out);
    } else {
        CU_ASSERT_PTR_NULL(out);
    }
}

static void test_pct_decode(void)
{
    expect_decode("", RS_OK, "");
    expect_decode("plain", RS_OK, "plain");
    expect_decode("a%2Fb%2fc", RS_OK, "a/b/c");
    expect_decode("p%40ss%3Aw0rd", RS_OK, "p@ss:w0rd");
    expect_decode("a+b", RS_OK, "a+b"); /* "+" is not a space in a URL's userinfo or path */
    expect_decode("%41", RS_OK, "A");   /* an escape that ends the input */
    expect_decode("%", RS_EINVALID, NULL);
    expect_decode("%4", RS_EINVALID, NULL);
    expect_decode("ab%4", RS_EINVALID, NULL);
    expect_decode("%zz", RS_EINVALID, NULL);
    expect_decode("%g1", RS_EINVALID, NULL);
    expect_decode("x%00y", RS_EINVALID, NULL); /* an encoded NUL would cut the value short */
    /* only n bytes are read: an escape cut by n is truncated even if the string goes on */
    char *out = NULL;
    CU_ASSERT_EQUAL(rs_pct_decode("ab%41", 4, &out), RS_EINVALID);
    CU_ASSERT_EQUAL(rs_pct_decode("ab%41", 2, &out), RS_OK);
    CU_ASSERT_STRING_EQUAL(out, "ab");
    free(out);
}

static void test_hex(void)
{
    const char *d = "0123456789abcdefABCDEF";
    for (const char *p = d; *p; p++)
        CU_ASSERT_EQUAL(rs_hexdigit(*p), *p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10);
    CU_ASSERT_EQUAL(rs_hexdigit('g'), -1);
    CU_ASSERT_EQUAL(rs_hexdigit('/'), -1);
    CU_ASSERT_EQUAL(rs_hexdigit(':'), -1);
    CU_ASSERT_EQUAL(rs_hexdigit(0xC3), -1);
    uint8_t b[3];
    CU_ASSERT_EQUAL(rs_unhex("00fFa5", b, 3), 0);
    CU_ASSERT(b[0] == 0 && b[1] == 0xff && b[2] == 0xa5);
    CU_ASSERT_EQUAL(rs_unhex("00fFa", b, 3), -1);
    CU_ASSERT_EQUAL(rs_unhex("00fFa5x", b, 3), -1);
    char h[7];
    rs_hex(b, 3, h);
    CU_ASSERT_STRING_EQUAL(h, "00ffa5");
}

static void test_write_all(void)
{
    /* a pipe takes at most its buffer per write: a 1 MiB write is many short writes */
    int fds[2];
    CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
    size_t n = 1 << 20;
    uint8_t *src = malloc(n), *dst = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(src);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dst);
    for (size_t i = 0; i < n; i++)
        src[i] = (uint8_t)(i * 131 + (i >> 9));
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        _exit(rs_write_all(fds[1], src, n) == 0 ? 0 : 1);
    }
    close(fds[1]);
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fds[0], dst + got, n - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT_EQUAL(got, n);
    CU_ASSERT(memcmp(src, dst, n) == 0);
    /* a closed descriptor: -1 with errno */
    errno = 0;
    CU_ASSERT_EQUAL(rs_write_all(fds[1], src, 10), -1);
    CU_ASSERT_EQUAL(errno, EBADF);
    free(src);
    free(dst);
}

static void test_error_origins(void)
{
    /* the helpers */
    rs_error e = {0};
    CU_ASSERT_EQUAL(rs_error_set(&e, RS_EIO, "x"), RS_EIO);
    CU_ASSERT_EQUAL(e.origin, RS_ORIGIN_NONE); /* this file sets no origin */
    rs_error_set_at(&e, RS_ORIGIN_TARGET, RS_EIO, "y");
    CU_ASSERT_EQUAL(e.origin, RS_ORIGIN_TARGET);
    CU_ASSERT_STRING_EQUAL(rs_error_origin_name(e.origin), "target");
    rs_error_prefix(&e, "writing");
    CU_ASSERT_EQUAL(e.origin, RS_ORIGIN_TARGET); /* a prefix keeps what the error is about */
    CU_ASSERT_EQUAL(rs_error_set_origin(&e, RS_ORIGIN_SOURCE), RS_EIO);
    CU_ASSERT_EQUAL(e.origin, RS_ORIGIN_SOURCE);
    rs_error_clear(&e);
    CU_ASSERT_EQUAL(e.origin, RS_ORIGIN_NONE);
    CU_ASSERT_EQUAL(rs_error_set_origin(&e, RS_ORIGIN_STORE), RS_OK);
    CU_ASSERT_EQUAL(e.origin, RS_ORIGIN_NONE); /* no error: nothing to say */
    CU_ASSERT_EQUAL(rs_error_set_origin(NULL, RS_ORIGIN_STORE), RS_OK);

    /* each library says what its errors are about, where they are made */
    char *dir = rs_test_tmpdir("origins");
    char *url = rs_test_fmt("file://%s/store", dir);
    rs_storage *st = NULL;
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(url, NULL, &st, NULL), RS_OK);
    uint8_t *data = NULL;
    size_t len = 0;
    rs_error_clear(&e);
    CU_ASSERT_EQUAL(rs_storage_get(st, "regsync/HEAD", NULL, &data, &len, NULL, &e), RS_ENOTFOUND);
    CU_ASSERT_EQUAL(e.origin, RS_ORIGIN_STORE);

    rs_registry *r = NULL;
    const uint8_t junk[] = {0x0a, 0x05, 0x01};
    rs_error_clear(&e);
    CU_ASSERT_NOT_EQUAL(rs_registry_decode(junk, sizeof junk, NULL, &r, &e), RS_OK);
    CU_ASSERT_EQUAL(e.origin, RS_ORIGIN_DATA);

    char *file = rs_test_fmt("%s/plain-file", dir);
    CU_ASSERT_EQUAL_FATAL(rs_test_write_file(file, "x", 1), 0);
    rs_journal *j = NULL;
    rs_error_clear(&e);
    CU_ASSERT_NOT_EQUAL(rs_journal_open(file, NULL, &j, &e), RS_OK); /* a state_dir that is a file */
    CU_ASSERT_EQUAL(e.origin, RS_ORIGIN_JOURNAL);

    rs_target *t = NULL;
    rs_error_clear(&e);
    CU_ASSERT_NOT_EQUAL(rs_target_open("relative/registry.db", NULL, &t, &e), RS_OK);
    CU_ASSERT_EQUAL(e.origin, RS_ORIGIN_TARGET);

    /* a source read from the store: the store's NOTFOUND is handed on as the source's */
    rs_source *src = NULL;
    rs_error_clear(&e);
    if (rs_source_open("registry.db", st, NULL, &src, &e) == RS_OK) {
        char tag[RS_ETAG_MAX];
        rs_error_clear(&e);
        CU_ASSERT_NOT_EQUAL(rs_source_read(src, true, &data, &len, tag, &e), RS_OK);
        rs_source_close(src);
    }
    CU_ASSERT_EQUAL(e.origin, RS_ORIGIN_SOURCE);

    rs_config *cfg = NULL;
    const char *bad = "poll_interval: [1, 2]\n";
    rs_error_clear(&e);
    CU_ASSERT_NOT_EQUAL(rs_config_parse("t.yaml", bad, strlen(bad), NULL, NULL, 0, &cfg, NULL, &e), RS_OK);
    CU_ASSERT_EQUAL(e.origin, RS_ORIGIN_CONFIG);
    rs_config_free(cfg);

    rs_storage_close(st);
    rs_test_rmrf(dir);
    free(file);
    free(url);
    free(dir);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("common", NULL, NULL);
    CU_add_test(s, "percent-decoding (store URLs)", test_pct_decode);
    CU_add_test(s, "hex digits", test_hex);
    CU_add_test(s, "rs_write_all: short writes and errors", test_write_all);
    CU_add_test(s, "error origins set where errors are made", test_error_origins);
    return rs_test_run();
}
