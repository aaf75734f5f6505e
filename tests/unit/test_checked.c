/* test_checked.c: checked arithmetic on untrusted times and sizes (issue 9 item 12).
 *
 * The helpers of common/rs_checked.h directly, then extreme Timestamps (INT64_MAX and INT64_MIN
 * seconds, the largest that still fit, negative times, nanos out of range) through the public
 * decoders that used to compute `seconds * 1000` unchecked (change, HEAD, region control, region
 * report) and through the drift judgement that subtracted untrusted times from now. The point
 * is the ASan+UBSan build (-DRS_SANITIZE=ON, halt_on_error=1): signed overflow there aborts the
 * test; the asserts check the documented results (a time that does not fit is 0, "no time";
 * ages saturate). */
#include "rs_test.h"

#include "rs_buf.h"
#include "rs_change.h"
#include "rs_checked.h"
#include "rs_control.h"
#include "rs_drift.h"
#include "rs_logproto.h"
#include "rs_storage.h"

#include "regsync/v1/log.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ the helpers */

static void test_size_helpers(void)
{
    size_t r = 7;
    CU_ASSERT_TRUE(rs_size_add(1, 2, &r));
    CU_ASSERT_EQUAL(r, 3);
    CU_ASSERT_TRUE(rs_size_add(SIZE_MAX - 1, 1, &r));
    CU_ASSERT_EQUAL(r, SIZE_MAX);
    r = 7;
    CU_ASSERT_FALSE(rs_size_add(SIZE_MAX, 1, &r));
    CU_ASSERT_EQUAL(r, 7); /* untouched on overflow */
    CU_ASSERT_TRUE(rs_size_mul(SIZE_MAX / 2, 2, &r));
    CU_ASSERT_FALSE(rs_size_mul(SIZE_MAX / 2 + 1, 2, &r));
    CU_ASSERT_TRUE(rs_size_mul(0, SIZE_MAX, &r));
    CU_ASSERT_EQUAL(r, 0);
}

static void test_i64_helpers(void)
{
    int64_t r = 5;
    CU_ASSERT_TRUE(rs_i64_add(INT64_MAX - 1, 1, &r));
    CU_ASSERT_EQUAL(r, INT64_MAX);
    r = 5;
    CU_ASSERT_FALSE(rs_i64_add(INT64_MAX, 1, &r));
    CU_ASSERT_EQUAL(r, 5);
    CU_ASSERT_FALSE(rs_i64_add(INT64_MIN, -1, &r));
    CU_ASSERT_FALSE(rs_i64_sub(INT64_MIN, 1, &r));
    CU_ASSERT_FALSE(rs_i64_sub(0, INT64_MIN, &r));
    CU_ASSERT_TRUE(rs_i64_sub(-1, INT64_MIN, &r));
    CU_ASSERT_EQUAL(r, INT64_MAX);
    CU_ASSERT_FALSE(rs_i64_mul(INT64_MIN, -1, &r));
    CU_ASSERT_FALSE(rs_i64_mul(INT64_MAX / 2 + 1, 2, &r));
    CU_ASSERT_TRUE(rs_i64_mul(-(INT64_MAX / 2), 2, &r));
    CU_ASSERT_EQUAL(r, -(INT64_MAX / 2) * 2);

    CU_ASSERT_EQUAL(rs_i64_sub_sat(10, 3), 7);
    CU_ASSERT_EQUAL(rs_i64_sub_sat(1700000000000, INT64_MIN), INT64_MAX);
    CU_ASSERT_EQUAL(rs_i64_sub_sat(INT64_MIN, 1), INT64_MIN);
    CU_ASSERT_EQUAL(rs_i64_sub_sat(-5, INT64_MAX), INT64_MIN);
    CU_ASSERT_EQUAL(rs_i64_sub_sat(INT64_MAX, INT64_MAX), 0);
}

static void test_ts_helpers(void)
{
    int64_t ms = 42;
    CU_ASSERT_TRUE(rs_ts_to_ms(1700000000, 123456789, &ms));
    CU_ASSERT_EQUAL(ms, 1700000000123);
    CU_ASSERT_TRUE(rs_ts_to_ms(-2, -500000000, &ms)); /* truncation toward zero, as before */
    CU_ASSERT_EQUAL(ms, -2500);
    CU_ASSERT_TRUE(rs_ts_to_ms(0, 0, &ms));
    CU_ASSERT_EQUAL(ms, 0);
    /* the largest seconds that fit, with and without the nanos pushing it over */
    CU_ASSERT_TRUE(rs_ts_to_ms(INT64_MAX / 1000, 0, &ms));
    CU_ASSERT_EQUAL(ms, INT64_MAX / 1000 * 1000);
    CU_ASSERT_TRUE(rs_ts_to_ms(INT64_MAX / 1000, 807000000, &ms));
    CU_ASSERT_EQUAL(ms, INT64_MAX);
    ms = 42;
    CU_ASSERT_FALSE(rs_ts_to_ms(INT64_MAX / 1000, 808000000, &ms));
    CU_ASSERT_EQUAL(ms, 42);
    CU_ASSERT_FALSE(rs_ts_to_ms(INT64_MAX / 1000 + 1, 0, &ms));
    CU_ASSERT_FALSE(rs_ts_to_ms(INT64_MAX, 0, &ms));
    CU_ASSERT_FALSE(rs_ts_to_ms(INT64_MIN, 0, &ms));
    CU_ASSERT_TRUE(rs_ts_to_ms(INT64_MIN / 1000, -808000000, &ms));
    CU_ASSERT_EQUAL(ms, INT64_MIN);
    CU_ASSERT_FALSE(rs_ts_to_ms(INT64_MIN / 1000, -809000000, &ms));
    /* nanos out of the Timestamp's range convert without overflowing on their own */
    CU_ASSERT_TRUE(rs_ts_to_ms(0, INT32_MAX, &ms));
    CU_ASSERT_EQUAL(ms, INT32_MAX / 1000000);
    CU_ASSERT_TRUE(rs_ts_to_ms(0, INT32_MIN, &ms));
    CU_ASSERT_EQUAL(ms, INT32_MIN / 1000000);
    CU_ASSERT_EQUAL(rs_ts_to_ms_or_zero(INT64_MAX, INT32_MAX), 0);
    CU_ASSERT_EQUAL(rs_ts_to_ms_or_zero(INT64_MIN, INT32_MIN), 0);
    CU_ASSERT_EQUAL(rs_ts_to_ms_or_zero(5, 1000000), 5001);
}

static void test_buf_reserve_overflow(void)
{
    rs_buf b = {0};
    CU_ASSERT_EQUAL(rs_buf_append(&b, "abc", 3), RS_OK);
    CU_ASSERT_EQUAL(rs_buf_reserve(&b, SIZE_MAX), RS_ENOMEM);
    CU_ASSERT_EQUAL(rs_buf_reserve(&b, SIZE_MAX - 2), RS_ENOMEM);
    CU_ASSERT_EQUAL(b.len, 3); /* unchanged */
    CU_ASSERT_EQUAL(memcmp(b.data, "abc", 3), 0);
    rs_buf_free(&b);
}

/* ------------------------------------------------------------------ through the decoders */

typedef struct ts_case {
    int64_t seconds;
    int32_t nanos;
} ts_case;

static const ts_case extremes[] = {
    {INT64_MAX, 999999999},
    {INT64_MIN, 0},
    {INT64_MAX / 1000 + 1, 0},
    {-(INT64_MAX / 1000) - 2, -999999999},
    {INT64_MAX, INT32_MIN},
    {INT64_MIN, INT32_MAX},
    {INT64_MAX / 1000, 807000000}, /* fits exactly */
    {-1, 0},
    {1700000000, 2000000000},      /* nanos out of range */
    {1700000000, -5},
};
#define NEXT (sizeof extremes / sizeof extremes[0])

static int64_t expect_ms(const ts_case *t) { return rs_ts_to_ms_or_zero(t->seconds, t->nanos); }

static void test_change_published(void)
{
    uint8_t d[32];
    memset(d, 0x11, sizeof d);
    for (size_t i = 0; i < NEXT; i++) {
        Regsync__V1__Change m = REGSYNC__V1__CHANGE__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = extremes[i].seconds;
        ts.nanos = extremes[i].nanos;
        m.version = 3;
        m.parent_digest.data = d;
        m.parent_digest.len = 32;
        m.result_digest.data = d;
        m.result_digest.len = 32;
        m.published = &ts;
        size_t n = regsync__v1__change__get_packed_size(&m);
        uint8_t *buf = malloc(n);
        CU_ASSERT_FATAL(buf != NULL);
        regsync__v1__change__pack(&m, buf);
        rs_change *c = NULL;
        rs_error err = {0};
        CU_ASSERT_EQUAL(rs_change_decode(buf, n, &c, &err), RS_OK);
        if (c) {
            CU_ASSERT_EQUAL(c->published_ms, expect_ms(&extremes[i]));
            CU_ASSERT_EQUAL(c->version, 3);
        }
        rs_change_free(c);
        free(buf);
    }
    /* the out-of-range ones really are "no time" */
    CU_ASSERT_EQUAL(expect_ms(&extremes[0]), 0);
    CU_ASSERT_EQUAL(expect_ms(&extremes[7]), -1000);
}

static void test_head_updated(void)
{
    uint8_t d[32];
    memset(d, 0x22, sizeof d);
    for (size_t i = 0; i < NEXT; i++) {
        Regsync__V1__Head m = REGSYNC__V1__HEAD__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = extremes[i].seconds;
        ts.nanos = extremes[i].nanos;
        m.version = 4;
        m.digest.data = d;
        m.digest.len = 32;
        m.updated = &ts;
        size_t n = regsync__v1__head__get_packed_size(&m);
        uint8_t *buf = malloc(n);
        CU_ASSERT_FATAL(buf != NULL);
        regsync__v1__head__pack(&m, buf);
        rs_head h;
        rs_error err = {0};
        CU_ASSERT_EQUAL(rs_head_decode(buf, n, &h, &err), RS_OK);
        CU_ASSERT_EQUAL(h.updated_ms, expect_ms(&extremes[i]));
        CU_ASSERT_EQUAL(h.version, 4);
        rs_head_clear(&h);
        free(buf);
    }
}

static void test_control_at(void)
{
    for (size_t i = 0; i < NEXT; i++) {
        Regsync__V1__RegionControl m = REGSYNC__V1__REGION_CONTROL__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = extremes[i].seconds;
        ts.nanos = extremes[i].nanos;
        m.region = (char *)"eu";
        m.at = &ts;
        size_t n = regsync__v1__region_control__get_packed_size(&m);
        uint8_t *buf = malloc(n);
        CU_ASSERT_FATAL(buf != NULL);
        regsync__v1__region_control__pack(&m, buf);
        rs_region_control c;
        rs_error err = {0};
        CU_ASSERT_EQUAL(rs_control_decode(buf, n, &c, &err), RS_OK);
        CU_ASSERT_EQUAL(c.at_ms, expect_ms(&extremes[i]));
        CU_ASSERT_STRING_EQUAL(c.region, "eu");
        free(buf);
    }
}

/* A region report whose heartbeat and publish times are extreme, judged by rs_drift_compute
 * against a HEAD whose update time is extreme too (the lag falls back to it: the store holds no
 * log entries). Ages and lags saturate instead of overflowing. */
static void test_drift_extremes(void)
{
    char *dir = rs_test_tmpdir("checked");
    char *url = rs_test_fmt("file://%s", dir);
    rs_storage *s = NULL;
    rs_error err = {0};
    CU_ASSERT_FATAL(rs_storage_open(url, NULL, &s, &err) == RS_OK);
    rs_drift_ctx *ctx = rs_drift_ctx_new(s);
    CU_ASSERT_FATAL(ctx != NULL);
    static const int64_t head_ms[] = {INT64_MIN + 1, -1, 1700000000000, INT64_MAX};
    for (size_t i = 0; i < NEXT; i++) {
        for (size_t h = 0; h < sizeof head_ms / sizeof head_ms[0]; h++) {
            Regsync__V1__RegionStatus m = REGSYNC__V1__REGION_STATUS__INIT;
            Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
            ts.seconds = extremes[i].seconds;
            ts.nanos = extremes[i].nanos;
            m.region = (char *)"eu";
            m.applied_version = 1;
            m.head_version = 5;
            m.heartbeat = &ts;
            m.published_at = &ts;
            m.written_at = &ts;
            m.state = (char *)"following";
            size_t n = regsync__v1__region_status__get_packed_size(&m);
            uint8_t *buf = malloc(n);
            CU_ASSERT_FATAL(buf != NULL);
            regsync__v1__region_status__pack(&m, buf);
            rs_region_report r;
            CU_ASSERT_EQUAL_FATAL(rs_region_report_decode(buf, n, &r, &err), RS_OK);
            free(buf);
            CU_ASSERT_EQUAL(r.heartbeat_ms, expect_ms(&extremes[i]));
            CU_ASSERT_EQUAL(r.written_at_ms, expect_ms(&extremes[i]));

            rs_head head = {0};
            head.version = 5;
            memset(head.digest, 0x33, sizeof head.digest);
            head.updated_ms = head_ms[h];
            rs_drift_opts o = {0};
            o.now_ms = 1800000000000;
            rs_drift_row *rows = NULL;
            CU_ASSERT_EQUAL(rs_drift_compute(ctx, &head, &r, 1, &o, &rows, &err), RS_OK);
            if (rows) {
                CU_ASSERT(rows[0].heartbeat_age_ms == -1 || rows[0].heartbeat_age_ms >= 0);
                CU_ASSERT(rows[0].lag_seconds >= 0);
                CU_ASSERT(rows[0].state != NULL);
                if (r.heartbeat_ms && r.heartbeat_ms < 0)
                    CU_ASSERT_EQUAL(rows[0].heartbeat_age_ms, rs_i64_sub_sat(o.now_ms, r.heartbeat_ms));
                json_t *j = rs_drift_to_json(rows, 1, &head);
                CU_ASSERT_PTR_NOT_NULL(j);
                json_decref(j);
            }
            free(rows);
            rs_region_report_clear(&r);
        }
    }
    rs_drift_ctx_free(ctx);
    rs_storage_close(s);
    rs_test_rmrf(dir);
    free(dir);
    free(url);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("checked arithmetic on untrusted times and sizes", NULL, NULL);
    CU_add_test(s, "size add/mul report overflow", test_size_helpers);
    CU_add_test(s, "int64 add/sub/mul report overflow; sub_sat saturates", test_i64_helpers);
    CU_add_test(s, "Timestamp to ms: exact, truncating, overflow refused", test_ts_helpers);
    CU_add_test(s, "rs_buf_reserve refuses a size that wraps", test_buf_reserve_overflow);
    CU_add_test(s, "change decode: extreme published times", test_change_published);
    CU_add_test(s, "HEAD decode: extreme updated times", test_head_updated);
    CU_add_test(s, "control decode: extreme at times", test_control_at);
    CU_add_test(s, "drift: extreme report and HEAD times, ages and lags saturate", test_drift_extremes);
    return rs_test_run();
}
