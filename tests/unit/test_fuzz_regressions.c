/* test_fuzz_regressions.c: every input in tests/fuzz/regressions/<target>/ (crashes the fuzzers
 * once found, and hand-made edge cases) runs through the fuzz targets' bodies in the ordinary
 * and sanitizer builds. A target body aborts on a broken invariant. */
#include "rs_test.h"

#include "rs_buf.h"

#include <stdio.h>
#include <stdlib.h>

#define LLVMFuzzerTestOneInput fuzz_registry_one
#include "../fuzz/fuzz_registry.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_change_one
#include "../fuzz/fuzz_change.c"
#undef LLVMFuzzerTestOneInput

static size_t run_dir(const char *target, int (*fn)(const uint8_t *, size_t))
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/regressions/%s", RS_SOURCE_DIR, target);
    size_t n;
    char **files = rs_test_list_dir(dir, NULL, &n);
    for (size_t i = 0; i < n; i++) {
        uint8_t *d;
        size_t l;
        CU_ASSERT_EQUAL_FATAL(rs_read_file(files[i], 0, &d, &l, NULL), RS_OK);
        CU_ASSERT_EQUAL(fn(d, l), 0);
        free(d);
    }
    rs_test_free_list(files, n);
    return n;
}

static void test_registry_regressions(void) { CU_ASSERT(run_dir("registry", fuzz_registry_one) >= 1); }
static void test_change_regressions(void) { CU_ASSERT(run_dir("change", fuzz_change_one) >= 1); }

/* The fixtures themselves go through the registry target's invariants. */
static void test_fixtures_through_target(void)
{
    const char *sh = rs_test_shared_dir();
    if (!sh) {
        rs_test_skip("fixtures through fuzz target", "../shared not found");
        return;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/fixtures/registries", sh);
    size_t n;
    char **files = rs_test_list_dir(dir, ".db", &n);
    for (size_t i = 0; i < n; i++) {
        uint8_t *d;
        size_t l;
        CU_ASSERT_EQUAL_FATAL(rs_read_file(files[i], 0, &d, &l, NULL), RS_OK);
        CU_ASSERT_EQUAL(fuzz_registry_one(d, l), 0);
        free(d);
    }
    rs_test_free_list(files, n);
    CU_ASSERT(n > 0);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("fuzz regressions", NULL, NULL);
    CU_add_test(s, "registry decoder regression inputs", test_registry_regressions);
    CU_add_test(s, "change decoder regression inputs", test_change_regressions);
    CU_add_test(s, "fixtures through the registry target", test_fixtures_through_target);
    return rs_test_run();
}
