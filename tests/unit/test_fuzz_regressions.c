/* test_fuzz_regressions.c: every input in tests/fuzz/regressions/<target>/ (crashes the fuzzers
 * once found, and hand-made edge cases) and tests/fuzz/seeds/<target>/ runs through the fuzz
 * targets' bodies in the ordinary and sanitizer builds. A target body aborts on a broken
 * invariant; a leak fails the sanitizer build. */
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
#define LLVMFuzzerTestOneInput fuzz_head_one
#include "../fuzz/fuzz_head.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_report_one
#include "../fuzz/fuzz_report.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_control_one
#include "../fuzz/fuzz_control.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_s3_xml_one
#include "../fuzz/fuzz_s3_xml.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_aws_creds_one
#include "../fuzz/fuzz_aws_creds.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_url_one
#include "../fuzz/fuzz_url.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_config_one
#include "../fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_admin_one
#include "../fuzz/fuzz_admin.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_feast_rows_one
#include "../fuzz/fuzz_feast_rows.c"
#undef LLVMFuzzerTestOneInput

static size_t run_dir(const char *kind, const char *target, int (*fn)(const uint8_t *, size_t))
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/%s/%s", RS_SOURCE_DIR, kind, target);
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

/* Every target: its regression inputs and its checked-in seeds (at least one input each). */
static const struct {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
} TARGETS[] = {
    {"registry", fuzz_registry_one},
    {"change", fuzz_change_one},
    {"head", fuzz_head_one},
    {"report", fuzz_report_one},
    {"control", fuzz_control_one},
    {"s3_xml", fuzz_s3_xml_one},
    {"aws_creds", fuzz_aws_creds_one},
    {"url", fuzz_url_one},
    {"config", fuzz_config_one},
    {"admin", fuzz_admin_one},
    {"feast_rows", fuzz_feast_rows_one},
};

static void test_all_targets(void)
{
    for (size_t i = 0; i < sizeof TARGETS / sizeof TARGETS[0]; i++) {
        size_t n = run_dir("regressions", TARGETS[i].name, TARGETS[i].fn) + run_dir("seeds", TARGETS[i].name, TARGETS[i].fn);
        if (n == 0)
            fprintf(stderr, "fuzz target %s has no regression input or seed\n", TARGETS[i].name);
        CU_ASSERT(n >= 1);
    }
}

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
    CU_add_test(s, "every target's regression inputs and seeds", test_all_targets);
    CU_add_test(s, "fixtures through the registry target", test_fixtures_through_target);
    return rs_test_run();
}
