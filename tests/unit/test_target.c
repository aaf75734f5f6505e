/* test_target.c: rs_target_write_registry (sync/rs_target.h) writes a file target from the
 * objects' bytes with writev: the file must be rs_registry_encode's bytes exactly, for registries
 * of one, many (several writev batches) and no objects, opaque fields included; the atomic
 * replace keeps the mode; a failed write leaves the old file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rs_buf.h"
#include "rs_generate.h"
#include "rs_registry.h"
#include "rs_target.h"
#include "rs_test.h"

static char *dir;

static void write_and_compare(rs_target *t, const char *path, const uint8_t *src, size_t n, const char *what)
{
    rs_registry *r = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_registry_decode(src, n, NULL, &r, &err), RS_OK);
    uint8_t *enc = NULL;
    size_t elen = 0;
    CU_ASSERT_EQUAL_FATAL(rs_registry_encode(r, &enc, &elen, &err), RS_OK);
    CU_ASSERT_EQUAL(rs_registry_encoded_size(r), elen);
    rs_target_stamp st;
    int rc = rs_target_write_registry(t, r, &st, &err);
    if (rc)
        fprintf(stderr, "%s: %s\n", what, err.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    CU_ASSERT(st.exists && st.size == elen);
    uint8_t *got = NULL;
    size_t glen = 0;
    CU_ASSERT_EQUAL_FATAL(rs_read_file(path, 0, &got, &glen, &err), RS_OK);
    CU_ASSERT_EQUAL(glen, elen);
    CU_ASSERT(glen == elen && (elen == 0 || memcmp(got, enc, elen) == 0));
    /* the source's bytes too: decode keeps them, encode writes them back */
    CU_ASSERT(glen == n && (n == 0 || memcmp(got, src, n) == 0));
    printf("  %s: %zu objects, %zu bytes identical\n", what, rs_registry_count(r), glen);
    free(got);
    free(enc);
    rs_registry_free(r);
}

static void test_write_registry(void)
{
    dir = rs_test_tmpdir("target");
    char *path = rs_test_fmt("%s/registry.db", dir);
    rs_target *t = NULL;
    rs_error err = {0};
    CU_ASSERT_EQUAL_FATAL(rs_target_open(path, NULL, &t, &err), RS_OK);

    rs_gen_params p;
    rs_gen_defaults(&p);
    p.seed = 11;
    p.target_bytes = 1500000; /* about 1 000 objects: several writev calls of 512 */
    uint8_t *b = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL_FATAL(rs_generate(&p, &b, &n, NULL), RS_OK);
    write_and_compare(t, path, b, n, "generated");

    /* an opaque top-level field (9, request_feature_views), written with its own tags */
    rs_buf x = {0};
    rs_buf_append(&x, b, n);
    const uint8_t opaque[] = {0x4a, 0x03, 0x0a, 0x01, 0x41};
    rs_buf_append(&x, opaque, sizeof opaque);
    CU_ASSERT_EQUAL(chmod(path, 0640), 0);
    write_and_compare(t, path, x.data, x.len, "generated + opaque field");
    struct stat sb;
    CU_ASSERT_EQUAL(stat(path, &sb), 0);
    CU_ASSERT_EQUAL(sb.st_mode & 0777, 0640); /* the old file's mode kept */
    rs_buf_free(&x);

    write_and_compare(t, path, (const uint8_t *)"", 0, "empty registry");

    /* a write that cannot happen leaves the last file as it was: the file-size limit makes the
     * temp file's writes fail with EFBIG (root included, whom directory permissions do not stop) */
    write_and_compare(t, path, b, n, "generated again");
    {
        rs_gen_params p2;
        rs_gen_defaults(&p2);
        p2.seed = 12;
        p2.target_bytes = 200000;
        uint8_t *b2 = NULL;
        size_t n2 = 0;
        CU_ASSERT_EQUAL_FATAL(rs_generate(&p2, &b2, &n2, NULL), RS_OK);
        rs_registry *r = NULL;
        CU_ASSERT_EQUAL_FATAL(rs_registry_decode(b2, n2, NULL, &r, &err), RS_OK);
        struct rlimit old, lim;
        CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = 4096;
        void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
        CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &lim), 0);
        rs_error we = {0};
        int wrc = rs_target_write_registry(t, r, NULL, &we);
        CU_ASSERT_EQUAL(setrlimit(RLIMIT_FSIZE, &old), 0);
        signal(SIGXFSZ, prev);
        CU_ASSERT_NOT_EQUAL(wrc, RS_OK);
        CU_ASSERT_EQUAL(we.origin, RS_ORIGIN_TARGET);
        printf("  a write over the file-size limit: %s\n", we.msg);
        uint8_t *got = NULL;
        size_t glen = 0;
        CU_ASSERT_EQUAL(rs_read_file(path, 0, &got, &glen, &err), RS_OK);
        CU_ASSERT(glen == n && memcmp(got, b, n) == 0);
        free(got);
        /* and no temp file is left beside it (the lock file is: proof that dot files are seen) */
        size_t temps = 0, locks = 0;
        DIR *dd = opendir(dir);
        CU_ASSERT_PTR_NOT_NULL_FATAL(dd);
        for (struct dirent *de; (de = readdir(dd));) {
            temps += strstr(de->d_name, ".regsync-") != NULL; /* mkostemp: .NAME.regsync-XXXXXX */
            locks += strstr(de->d_name, ".regsync.lock") != NULL;
        }
        closedir(dd);
        CU_ASSERT_EQUAL(temps, 0);
        CU_ASSERT_EQUAL(locks, 1);
        rs_registry_free(r);
        free(b2);
    }
    free(b);
    rs_target_close(t);
    free(path);
    rs_test_rmrf(dir);
    free(dir);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("target", NULL, NULL);
    CU_add_test(s, "registry written with writev == rs_registry_encode's bytes, atomically", test_write_registry);
    return rs_test_run();
}
