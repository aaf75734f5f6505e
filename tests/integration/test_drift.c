/* test_drift.c: the drift engine against real scenarios: a publisher and several real agents in
 * one process on one store (always file://, and the S3 and PostgreSQL servers when
 * RS_TEST_S3_URL / RS_TEST_PG_URL are set; a loud SKIP otherwise). Regions: one in sync, one
 * paused behind, one whose target was edited by hand, one with a project filter, one that stopped
 * reporting, one whose regional materialization meta is kept, one pinned behind, a forged report
 * with a wrong digest, and an unreadable report. */
#include "rs_test.h"

#include "rs_agent.h"
#include "rs_buf.h"
#include "rs_drift.h"
#include "rs_generate.h"
#include "rs_log.h"
#include "rs_logproto.h"
#include "rs_publisher.h"
#include "rs_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feast/core/Entity.pb-c.h"
#include "feast/core/FeatureView.pb-c.h"

#define STALE_AFTER_MS 1500

static char *store_url; /* the store of the current suite; NULL: skip */
static char *work;      /* temp dir for targets and state */
static int seq;


/* a new sub-store per test; seq also names the test's targets and state dirs */
static char *fresh_store(void)
{
    seq++;
    return rs_test_fresh_store(store_url, work, "rsd");
}

static char *target_path(const char *region) { return rs_test_fmt("%s/%s-%d.db", work, region, seq); }

static rs_agent *open_agent(const char *store, const char *region, const char *const *inc, size_t ninc)
{
    char *target = target_path(region);
    char *state = rs_test_fmt("%s/state-%s-%d", work, region, seq);
    rs_agent_config c = {.region = region, .store_url = store, .target = target, .state_dir = state,
                         .include_projects = inc, .n_include = ninc, .poll_interval_ms = 100};
    rs_agent *a = NULL;
    rs_error e = {0};
    if (rs_agent_open(&c, &a, &e))
        fprintf(stderr, "agent open %s: %s\n", region, e.msg);
    free(target);
    free(state);
    return a;
}

static void sync_agent(rs_agent *a)
{
    rs_error e = {0};
    int rc = rs_agent_sync_once(a, &e);
    if (rc)
        fprintf(stderr, "sync: %s\n", e.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
}

static void step_agent(rs_agent *a)
{
    rs_error e = {0};
    bool changed;
    int rc = rs_agent_step(a, &changed, &e);
    if (rc)
        fprintf(stderr, "step: %s\n", e.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
}

static void report(rs_agent *a)
{
    rs_error e = {0};
    int rc = rs_agent_report(a, &e);
    if (rc)
        fprintf(stderr, "report: %s\n", e.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
}

/* Publishes a mutation of *cur (k object changes) as the next version. */
static uint64_t publish_next(rs_publisher *p, uint8_t **cur, size_t *len, uint64_t seed)
{
    uint8_t *m;
    size_t ml;
    CU_ASSERT_EQUAL_FATAL(rs_mutate(*cur, *len, seed, 3, &m, &ml, NULL, NULL), RS_OK);
    free(*cur);
    *cur = m;
    *len = ml;
    rs_registry *r;
    CU_ASSERT_EQUAL_FATAL(rs_registry_decode(m, ml, NULL, &r, NULL), RS_OK);
    rs_publish_result res;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_publish_registry(p, r, "test", &res, &e), RS_OK);
    CU_ASSERT(res.changed);
    rs_registry_free(r);
    return res.version;
}

/* ------------------------------------------------------- editing targets by hand */

/* Rewrites the file at path with object (kind, first one) replaced by edit(bytes). Writes a
 * temp file and renames it, as an editor or `feast materialize` would. Returns the object's
 * name (static buffer). */
typedef uint8_t *(*edit_fn)(const uint8_t *data, size_t len, size_t *out_len);

static const char *edit_target(const char *path, uint32_t kind, edit_fn edit)
{
    static char name[256];
    name[0] = 0;
    rs_registry *r;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_registry_load_file(path, NULL, &r, &e), RS_OK);
    const rs_object *o = NULL;
    for (size_t i = 0; i < rs_registry_count(r) && !o; i++)
        if (rs_registry_at(r, i)->kind == kind)
            o = rs_registry_at(r, i);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    size_t nl = 0;
    uint8_t *nb = edit(o->data, o->len, &nl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(nb);
    char project[256];
    snprintf(project, sizeof project, "%s", o->project);
    snprintf(name, sizeof name, "%s", o->name);
    uint32_t ord = o->ordinal;
    CU_ASSERT_EQUAL_FATAL(rs_registry_put(r, kind, project, name, ord, nb, nl, &e), RS_OK);
    free(nb);
    uint8_t *out;
    size_t ol;
    CU_ASSERT_EQUAL_FATAL(rs_registry_encode(r, &out, &ol, &e), RS_OK);
    rs_registry_free(r);
    char *tmp = rs_test_fmt("%s.hand-edit", path);
    CU_ASSERT_EQUAL_FATAL(rs_test_write_file(tmp, out, ol), 0);
    CU_ASSERT_EQUAL_FATAL(rename(tmp, path), 0);
    free(tmp);
    free(out);
    return name;
}

/* A new entity description: a spec change. */
static uint8_t *edit_entity_description(const uint8_t *data, size_t len, size_t *out_len)
{
    Feast__Core__Entity *m = feast__core__entity__unpack(NULL, len, data);
    if (!m || !m->spec)
        return NULL;
    char *old = m->spec->description;
    m->spec->description = (char *)"edited by hand in this region";
    *out_len = feast__core__entity__get_packed_size(m);
    uint8_t *out = malloc(*out_len);
    feast__core__entity__pack(m, out);
    m->spec->description = old;
    feast__core__entity__free_unpacked(m, NULL);
    return out;
}

/* One more materialization interval in the feature view's meta: what `feast materialize`
 * records, and a regional fact. */
static uint8_t *edit_materialization(const uint8_t *data, size_t len, size_t *out_len)
{
    Feast__Core__FeatureView *m = feast__core__feature_view__unpack(NULL, len, data);
    if (!m)
        return NULL;
    Feast__Core__FeatureViewMeta meta_local = FEAST__CORE__FEATURE_VIEW_META__INIT;
    Feast__Core__FeatureViewMeta *meta = m->meta ? m->meta : &meta_local;
    Feast__Core__FeatureViewMeta *old_meta = m->meta;
    m->meta = meta;
    Google__Protobuf__Timestamp start = GOOGLE__PROTOBUF__TIMESTAMP__INIT, end = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    start.seconds = 1900000000;
    end.seconds = 1900003600;
    Feast__Core__MaterializationInterval mi = FEAST__CORE__MATERIALIZATION_INTERVAL__INIT;
    mi.start_time = &start;
    mi.end_time = &end;
    size_t n = meta->n_materialization_intervals;
    Feast__Core__MaterializationInterval **old = meta->materialization_intervals;
    Feast__Core__MaterializationInterval **v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = old[i];
    v[n] = &mi;
    meta->materialization_intervals = v;
    meta->n_materialization_intervals = n + 1;
    *out_len = feast__core__feature_view__get_packed_size(m);
    uint8_t *out = malloc(*out_len);
    feast__core__feature_view__pack(m, out);
    meta->materialization_intervals = old;
    meta->n_materialization_intervals = n;
    free(v);
    m->meta = old_meta;
    feast__core__feature_view__free_unpacked(m, NULL);
    return out;
}

/* ------------------------------------------------------- helpers on rows */

static const rs_drift_row *row_of(const rs_drift_row *rows, size_t n, const char *region)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].report->region, region) == 0)
            return &rows[i];
    return NULL;
}

#define EXPECT_STATE(rows, n, region, want)                                                                           \
    do {                                                                                                              \
        const rs_drift_row *r_ = row_of(rows, n, region);                                                             \
        CU_ASSERT_PTR_NOT_NULL(r_);                                                                                   \
        if (r_) {                                                                                                     \
            if (strcmp(r_->state, want) != 0)                                                                         \
                fprintf(stderr, "\n  %s: state %s, want %s (%s)\n", region, r_->state, want, r_->reason);             \
            CU_ASSERT_STRING_EQUAL(r_->state, want);                                                                  \
        }                                                                                                             \
    } while (0)

static void print_rows(const char *title, const rs_drift_row *rows, size_t n)
{
    printf("\n  %s\n", title);
    for (size_t i = 0; i < n; i++)
        printf("    %-14s %-9s applied=%-3" PRIu64 " behind=%-3" PRIu64 " lag=%7.3fs  %s\n", rows[i].report->region,
               rows[i].state, rows[i].report->applied_version, rows[i].versions_behind, rows[i].lag_seconds,
               rows[i].reason);
}

/* now_ms: the time the live agents' heartbeats were refreshed, so that a slow store under load
 * cannot age them past the small stale_after while "gone" is already well past it. */
static int compute(rs_drift_ctx *ctx, rs_storage *s, int64_t now_ms, rs_head *head, rs_region_report **reps,
                   size_t *nrep, rs_drift_row **rows)
{
    rs_error e = {0};
    rs_head_clear(head);
    CU_ASSERT_EQUAL_FATAL(rs_log_read_head(s, NULL, head, NULL, &e), RS_OK);
    CU_ASSERT_EQUAL_FATAL(rs_drift_read_reports(s, reps, nrep, &e), RS_OK);
    rs_drift_opts o = {.stale_after_ms = STALE_AFTER_MS, .now_ms = now_ms};
    int rc = rs_drift_compute(ctx, head, *reps, *nrep, &o, rows, &e);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    return rc;
}

static json_t *pair(rs_drift_ctx *ctx, const rs_head *head, const rs_region_report *reps, size_t n, const char *x,
                    const char *y)
{
    const rs_region_report *rx = NULL, *ry = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(reps[i].region, x) == 0)
            rx = &reps[i];
        if (strcmp(reps[i].region, y) == 0)
            ry = &reps[i];
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(rx);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ry);
    json_t *out = NULL;
    rs_error e = {0};
    int rc = rs_drift_pair(ctx, head, rx, ry, &out, &e);
    if (rc)
        fprintf(stderr, "pair %s %s: %s\n", x, y, e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    return out;
}

static json_int_t summary(const json_t *p, const char *k)
{
    return json_integer_value(json_object_get(json_object_get(p, "summary"), k));
}

/* The forged report keeps its heartbeat from when it was copied; refresh it as a live forger
 * would. */
static void refresh_forged(rs_storage *s)
{
    rs_region_report fr;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_drift_read_report(s, "forged", &fr, &e), RS_OK);
    fr.heartbeat_ms = rs_wall_ms();
    uint8_t *fb;
    size_t fl;
    CU_ASSERT_EQUAL_FATAL(rs_region_report_encode(&fr, &fb, &fl, &e), RS_OK);
    CU_ASSERT_EQUAL_FATAL(rs_storage_put(s, RS_PREFIX_REGIONS "forged", fb, fl, RS_PUT_ALWAYS, NULL, NULL, &e), RS_OK);
    free(fb);
    rs_region_report_clear(&fr);
}

/* ---------------------------------------------------------------- tests */

static void test_report_codec(void)
{
    rs_region_report r = {0};
    r.region = (char *)"eu-central-1";
    r.applied_version = 7;
    r.has_applied_digest = true;
    memset(r.applied_digest, 0xab, RS_DIGEST_LEN);
    r.heartbeat_ms = 1760000000123;
    r.state = (char *)"following";
    char *inc[] = {(char *)"proj_*"};
    r.include_projects = inc;
    r.n_include = 1;
    rs_report_key k = {.kind = 6, .project = (char *)"proj_01", .name = (char *)"fv"};
    r.regional_meta_objects = &k;
    r.n_regional_meta = 1;
    uint8_t *b;
    size_t l;
    CU_ASSERT_EQUAL_FATAL(rs_region_report_encode(&r, &b, &l, NULL), RS_OK);
    rs_region_report d = {0};
    CU_ASSERT_EQUAL_FATAL(rs_region_report_decode(b, l, &d, NULL), RS_OK);
    free(b);
    CU_ASSERT_STRING_EQUAL(d.region, "eu-central-1");
    CU_ASSERT_EQUAL(d.applied_version, 7);
    CU_ASSERT(d.has_applied_digest);
    CU_ASSERT(!d.has_target_digest);
    CU_ASSERT_EQUAL(d.heartbeat_ms, 1760000000123);
    CU_ASSERT_EQUAL(d.n_include, 1);
    CU_ASSERT_STRING_EQUAL(d.include_projects[0], "proj_*");
    CU_ASSERT_EQUAL(d.n_regional_meta, 1);
    CU_ASSERT_STRING_EQUAL(d.regional_meta_objects[0].name, "fv");
    CU_ASSERT_STRING_EQUAL(d.last_error, "");
    CU_ASSERT_PTR_NULL(d.error);
    rs_region_report_clear(&d);
    /* garbage: returned with an error, not dropped */
    rs_error e = {0};
    CU_ASSERT_EQUAL(rs_region_report_decode((const uint8_t *)"\xff\xff\xff", 3, &d, &e), RS_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(d.error);
    CU_ASSERT_STRING_EQUAL(d.state, "");
    rs_region_report_clear(&d);
    /* a digest of the wrong length */
    uint8_t bad[] = {0x1a, 0x03, 1, 2, 3}; /* applied_digest (field 3) of 3 bytes */
    CU_ASSERT_EQUAL(rs_region_report_decode(bad, sizeof bad, &d, &e), RS_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "applied_digest"));
    rs_region_report_clear(&d);
}

static void test_drift_scenarios(void)
{
    char *store = fresh_store();
    rs_storage *s;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(store, NULL, &s, &e), RS_OK);
    rs_publisher *p;
    rs_publisher_opts po = {.publisher_id = "test-publisher", .snapshot_every = 2};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_open(s, NULL, NULL, &po, &p, &e), RS_OK);
    rs_gen_params gp;
    rs_gen_defaults(&gp);
    gp.seed = 42;
    gp.target_bytes = 60000;
    uint8_t *cur;
    size_t cl;
    CU_ASSERT_EQUAL_FATAL(rs_generate(&gp, &cur, &cl, NULL), RS_OK);
    rs_registry *r1;
    CU_ASSERT_EQUAL_FATAL(rs_registry_decode(cur, cl, NULL, &r1, NULL), RS_OK);
    rs_publish_result res;
    CU_ASSERT_EQUAL_FATAL(rs_publisher_publish_registry(p, r1, "v1", &res, &e), RS_OK);
    rs_registry_free(r1);
    CU_ASSERT_EQUAL(res.version, 1);

    const char *inc[] = {"proj_01"};
    rs_agent *in_sync = open_agent(store, "in-sync", NULL, 0);
    rs_agent *paused = open_agent(store, "paused", NULL, 0);
    rs_agent *edited = open_agent(store, "edited", NULL, 0);
    rs_agent *filtered = open_agent(store, "filtered", inc, 1);
    rs_agent *gone = open_agent(store, "gone", NULL, 0);
    rs_agent *regional = open_agent(store, "regional", NULL, 0);
    rs_agent *pinned = open_agent(store, "pinned", NULL, 0);
    rs_agent *all[] = {in_sync, paused, edited, filtered, gone, regional, pinned};
    for (size_t i = 0; i < 7; i++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(all[i]);
        sync_agent(all[i]);
    }
    rs_agent_pause(paused);
    step_agent(paused);
    CU_ASSERT_EQUAL(rs_agent_pin(pinned, 1, &e), RS_OK);
    step_agent(pinned);

    CU_ASSERT_EQUAL(publish_next(p, &cur, &cl, 1001), 2);
    CU_ASSERT_EQUAL(publish_next(p, &cur, &cl, 1002), 3);
    for (size_t i = 0; i < 7; i++)
        if (all[i] != paused)
            sync_agent(all[i]);
    step_agent(paused);
    /* "gone" stops reporting: closed without a last word, like kill -9 */
    rs_agent_close(gone);
    gone = NULL;
    int64_t gone_at = rs_wall_ms();

    /* hand edits: a spec change in one region, a materialization in another */
    char *tp = target_path("edited");
    char edited_name[256];
    snprintf(edited_name, sizeof edited_name, "%s", edit_target(tp, RS_KIND_ENTITIES, edit_entity_description));
    free(tp);
    tp = target_path("regional");
    char regional_name[256];
    snprintf(regional_name, sizeof regional_name, "%s", edit_target(tp, RS_KIND_FEATURE_VIEWS, edit_materialization));
    free(tp);
    step_agent(edited);
    step_agent(regional);

    /* a forged report: the in-sync region's, under another name, with a wrong digest */
    report(in_sync);
    rs_region_report fr;
    CU_ASSERT_EQUAL_FATAL(rs_drift_read_report(s, "in-sync", &fr, &e), RS_OK);
    CU_ASSERT_PTR_NULL_FATAL(fr.error);
    free(fr.region);
    fr.region = strdup("forged");
    fr.applied_digest[0] ^= 0x5a;
    uint8_t *fb;
    size_t fl;
    CU_ASSERT_EQUAL_FATAL(rs_region_report_encode(&fr, &fb, &fl, &e), RS_OK);
    CU_ASSERT_EQUAL_FATAL(rs_storage_put(s, RS_PREFIX_REGIONS "forged", fb, fl, RS_PUT_ALWAYS, NULL, NULL, &e), RS_OK);
    free(fb);
    rs_region_report_clear(&fr);
    /* and one that is not a report at all */
    CU_ASSERT_EQUAL_FATAL(rs_storage_put(s, RS_PREFIX_REGIONS "garbage", (const uint8_t *)"\xff\xff\xffnot a report", 15,
                                         RS_PUT_ALWAYS, NULL, NULL, &e),
                          RS_OK);

    /* let "gone"'s heartbeat get old, then fresh heartbeats from everyone alive */
    int64_t wait = STALE_AFTER_MS + 200 - (rs_wall_ms() - gone_at);
    if (wait > 0)
        usleep((useconds_t)wait * 1000);
    int64_t now1 = rs_wall_ms();
    for (size_t i = 0; i < 7; i++)
        if (all[i] && all[i] != all[4])
            report(all[i]);
    refresh_forged(s);

    /* ---- phase 1: HEAD is 3 */
    rs_drift_ctx *ctx = rs_drift_ctx_new(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
    rs_head head = {0};
    rs_region_report *reps = NULL;
    size_t nrep = 0;
    rs_drift_row *rows = NULL;
    compute(ctx, s, now1, &head, &reps, &nrep, &rows);
    print_rows("drift at HEAD 3", rows, nrep);
    CU_ASSERT_EQUAL(head.version, 3);
    CU_ASSERT_EQUAL(nrep, 9);
    EXPECT_STATE(rows, nrep, "in-sync", RS_DRIFT_IN_SYNC);
    EXPECT_STATE(rows, nrep, "paused", RS_DRIFT_PAUSED);
    EXPECT_STATE(rows, nrep, "edited", RS_DRIFT_MODIFIED);
    EXPECT_STATE(rows, nrep, "filtered", RS_DRIFT_IN_SYNC);
    EXPECT_STATE(rows, nrep, "gone", RS_DRIFT_STALE);
    EXPECT_STATE(rows, nrep, "regional", RS_DRIFT_IN_SYNC);
    EXPECT_STATE(rows, nrep, "pinned", RS_DRIFT_BEHIND);
    EXPECT_STATE(rows, nrep, "forged", RS_DRIFT_DIVERGED);
    EXPECT_STATE(rows, nrep, "garbage", RS_DRIFT_STALE);
    const rs_drift_row *r;
    if ((r = row_of(rows, nrep, "in-sync"))) {
        CU_ASSERT_EQUAL(r->versions_behind, 0);
        CU_ASSERT_EQUAL(r->lag_seconds, 0.0);
        CU_ASSERT_EQUAL(r->digest_check, RS_DRIFT_CHECK_OK);
    }
    if ((r = row_of(rows, nrep, "paused"))) {
        CU_ASSERT_EQUAL(r->report->applied_version, 1);
        CU_ASSERT_EQUAL(r->versions_behind, 2);
        CU_ASSERT(r->lag_seconds > 1.0); /* version 2 was published before the wait */
    }
    if ((r = row_of(rows, nrep, "pinned"))) {
        CU_ASSERT_EQUAL(r->versions_behind, 2);
        CU_ASSERT(r->lag_seconds > 1.0);
        CU_ASSERT_PTR_NOT_NULL(strstr(r->reason, "pinned at version 1"));
        CU_ASSERT_EQUAL(r->digest_check, RS_DRIFT_CHECK_OK); /* version 1, rebuilt from the log */
    }
    if ((r = row_of(rows, nrep, "edited"))) {
        CU_ASSERT(r->report->target_modified);
        CU_ASSERT_EQUAL(r->report->n_modified, 1);
        if (r->report->n_modified) {
            CU_ASSERT_EQUAL(r->report->modified_objects[0].kind, RS_KIND_ENTITIES);
            CU_ASSERT_STRING_EQUAL(r->report->modified_objects[0].name, edited_name);
        }
    }
    if ((r = row_of(rows, nrep, "filtered"))) {
        CU_ASSERT_EQUAL(r->digest_check, RS_DRIFT_CHECK_OK); /* rebuilt, filtered, digested */
        CU_ASSERT_EQUAL(r->versions_behind, 0);
    }
    if ((r = row_of(rows, nrep, "regional"))) {
        CU_ASSERT(!r->report->target_modified);
        CU_ASSERT_EQUAL(r->report->n_regional_meta, 1);
        if (r->report->n_regional_meta)
            CU_ASSERT_STRING_EQUAL(r->report->regional_meta_objects[0].name, regional_name);
    }
    if ((r = row_of(rows, nrep, "forged")))
        CU_ASSERT_EQUAL(r->digest_check, RS_DRIFT_CHECK_MISMATCH);
    if ((r = row_of(rows, nrep, "garbage")))
        CU_ASSERT_PTR_NOT_NULL(r->report->error);

    /* the JSON */
    json_t *j = rs_drift_to_json(rows, nrep, &head);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(j, "head"), "version")), 3);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "regions")), nrep);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(j, "counts"), "stale")), 2);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(j, "counts"), "in_sync")), 3);
    json_t *first = json_array_get(json_object_get(j, "regions"), 0);
    static const char *const fields[] = {"region", "state", "reason", "applied_version", "versions_behind",
                                         "lag_seconds", "heartbeat", "last_error", "filter", "digest_check"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        CU_ASSERT_PTR_NOT_NULL(json_object_get(first, fields[i]));
    json_decref(j);

    /* pairs */
    json_t *pf = pair(ctx, &head, reps, nrep, "in-sync", "filtered");
    json_t *diffs = json_object_get(pf, "differences");
    CU_ASSERT(json_array_size(diffs) > 0);
    CU_ASSERT_EQUAL(summary(pf, "unexpected"), 0);
    CU_ASSERT_EQUAL(summary(pf, "filtered"), (json_int_t)json_array_size(diffs));
    for (size_t i = 0; i < json_array_size(diffs); i++) {
        json_t *d = json_array_get(diffs, i);
        CU_ASSERT(json_is_true(json_object_get(d, "expected")));
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(d, "reason")), "filtered");
        CU_ASSERT_STRING_NOT_EQUAL(json_string_value(json_object_get(d, "project")), "proj_01");
    }
    printf("  pair in-sync/filtered: %zu differences, all filtered\n", json_array_size(diffs));
    json_decref(pf);

    json_t *pr = pair(ctx, &head, reps, nrep, "in-sync", "regional");
    CU_ASSERT_EQUAL(json_array_size(json_object_get(pr, "differences")), 0);
    json_t *rm = json_object_get(pr, "regional_meta");
    CU_ASSERT_EQUAL(json_array_size(rm), 1);
    if (json_array_size(rm) == 1) {
        json_t *o = json_array_get(rm, 0);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "region")), "regional");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "name")), regional_name);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "class")), "meta");
        CU_ASSERT(json_is_true(json_object_get(o, "expected")));
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "reason")), "regional meta kept");
    }
    CU_ASSERT_EQUAL(summary(pr, "unexpected"), 0);
    json_decref(pr);

    json_t *pe = pair(ctx, &head, reps, nrep, "in-sync", "edited");
    json_t *lm = json_object_get(pe, "local_modifications");
    CU_ASSERT_EQUAL(json_array_size(lm), 1);
    if (json_array_size(lm) == 1) {
        json_t *o = json_array_get(lm, 0);
        CU_ASSERT(json_is_false(json_object_get(o, "expected")));
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "kindName")), "entities");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "name")), edited_name);
    }
    CU_ASSERT_EQUAL(summary(pe, "unexpected"), 1);
    json_decref(pe);

    json_t *pb = pair(ctx, &head, reps, nrep, "paused", "in-sync");
    CU_ASSERT(json_is_false(json_object_get(pb, "same_version")));
    CU_ASSERT(summary(pb, "spec") > 0);
    json_t *d0 = json_array_get(json_object_get(pb, "differences"), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(d0, "reason")), "versions differ"));
    json_decref(pb);

    /* the forged region claims version 3 of the in-sync region: its rebuilt view matches, its
     * digest does not */
    json_t *pg = pair(ctx, &head, reps, nrep, "in-sync", "forged");
    CU_ASSERT(json_is_false(json_object_get(json_array_get(json_object_get(pg, "regions"), 1), "digest_matches_log")));
    CU_ASSERT(json_is_true(json_object_get(json_array_get(json_object_get(pg, "regions"), 0), "digest_matches_log")));
    json_decref(pg);

    rs_region_reports_free(reps, nrep);
    free(rows);

    /* ---- phase 2: version 4; the regional region rewrites its target with the kept meta */
    CU_ASSERT_EQUAL(publish_next(p, &cur, &cl, 1003), 4);
    sync_agent(in_sync);
    sync_agent(filtered);
    sync_agent(regional);
    step_agent(paused);
    int64_t now2 = rs_wall_ms();
    for (size_t i = 0; i < 7; i++)
        if (all[i] && all[i] != all[4])
            report(all[i]);
    refresh_forged(s);
    compute(ctx, s, now2, &head, &reps, &nrep, &rows);
    print_rows("drift at HEAD 4", rows, nrep);
    EXPECT_STATE(rows, nrep, "in-sync", RS_DRIFT_IN_SYNC);
    EXPECT_STATE(rows, nrep, "filtered", RS_DRIFT_IN_SYNC);
    EXPECT_STATE(rows, nrep, "regional", RS_DRIFT_IN_SYNC);
    EXPECT_STATE(rows, nrep, "paused", RS_DRIFT_PAUSED);
    EXPECT_STATE(rows, nrep, "edited", RS_DRIFT_MODIFIED);
    EXPECT_STATE(rows, nrep, "pinned", RS_DRIFT_BEHIND);
    EXPECT_STATE(rows, nrep, "forged", RS_DRIFT_DIVERGED); /* checked against log entry 3 now */
    EXPECT_STATE(rows, nrep, "gone", RS_DRIFT_STALE);
    if ((r = row_of(rows, nrep, "paused")))
        CU_ASSERT_EQUAL(r->versions_behind, 3);
    if ((r = row_of(rows, nrep, "edited")))
        CU_ASSERT_EQUAL(r->versions_behind, 1);
    if ((r = row_of(rows, nrep, "regional"))) {
        CU_ASSERT_EQUAL(r->report->applied_version, 4);
        CU_ASSERT(r->report->has_target_digest && r->report->has_written_digest);
        CU_ASSERT_EQUAL(memcmp(r->report->target_digest, r->report->written_digest, RS_DIGEST_LEN), 0);
        CU_ASSERT_EQUAL(r->report->n_regional_meta, 1);
        CU_ASSERT_EQUAL(r->digest_check, RS_DRIFT_CHECK_OK);
    }
    /* the regional target still holds the interval written by hand */
    tp = target_path("regional");
    rs_registry *onfile;
    CU_ASSERT_EQUAL_FATAL(rs_registry_load_file(tp, NULL, &onfile, &e), RS_OK);
    free(tp);
    bool found = false;
    for (size_t i = 0; i < rs_registry_count(onfile); i++) {
        const rs_object *o = rs_registry_at(onfile, i);
        if (o->kind != RS_KIND_FEATURE_VIEWS || strcmp(o->name, regional_name) != 0)
            continue;
        Feast__Core__FeatureView *fv = feast__core__feature_view__unpack(NULL, o->len, o->data);
        CU_ASSERT_PTR_NOT_NULL_FATAL(fv);
        for (size_t k = 0; fv->meta && k < fv->meta->n_materialization_intervals; k++)
            if (fv->meta->materialization_intervals[k]->start_time &&
                fv->meta->materialization_intervals[k]->start_time->seconds == 1900000000)
                found = true;
        feast__core__feature_view__free_unpacked(fv, NULL);
    }
    CU_ASSERT(found);
    rs_registry_free(onfile);
    json_t *pr2 = pair(ctx, &head, reps, nrep, "in-sync", "regional");
    CU_ASSERT_EQUAL(summary(pr2, "unexpected"), 0);
    CU_ASSERT_EQUAL(summary(pr2, "regional_meta"), 1);
    json_decref(pr2);
    rs_region_reports_free(reps, nrep);
    free(rows);

    /* an unknown region */
    rs_region_report none;
    CU_ASSERT_EQUAL(rs_drift_read_report(s, "nowhere", &none, &e), RS_ENOTFOUND);

    rs_head_clear(&head);
    rs_drift_ctx_free(ctx);
    for (size_t i = 0; i < 7; i++)
        rs_agent_close(all[i] == all[4] ? NULL : all[i]);
    free(cur);
    rs_publisher_close(p);
    rs_storage_close(s);
    free(store);
}

/* Empty store: no HEAD, no reports; and a log that HEAD lags. */
static void test_drift_edges(void)
{
    char *store = fresh_store();
    rs_storage *s;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(store, NULL, &s, &e), RS_OK);
    rs_region_report *reps;
    size_t n;
    CU_ASSERT_EQUAL(rs_drift_read_reports(s, &reps, &n, &e), RS_OK);
    CU_ASSERT_EQUAL(n, 0);
    rs_drift_ctx *ctx = rs_drift_ctx_new(s);
    rs_drift_row *rows;
    CU_ASSERT_EQUAL(rs_drift_compute(ctx, NULL, reps, n, NULL, &rows, &e), RS_OK);
    json_t *j = rs_drift_to_json(rows, n, NULL);
    CU_ASSERT(json_is_null(json_object_get(j, "head")));
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "regions")), 0);
    json_decref(j);
    free(rows);
    rs_region_reports_free(reps, n);

    /* a region at version 2 while HEAD still says 1 (a publisher died between its two writes) */
    rs_publisher *p;
    rs_publisher_opts po = {.publisher_id = "edge"};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_open(s, NULL, NULL, &po, &p, &e), RS_OK);
    rs_gen_params gp;
    rs_gen_defaults(&gp);
    gp.seed = 7;
    gp.target_bytes = 20000;
    uint8_t *cur;
    size_t cl;
    CU_ASSERT_EQUAL_FATAL(rs_generate(&gp, &cur, &cl, NULL), RS_OK);
    rs_registry *r;
    CU_ASSERT_EQUAL_FATAL(rs_registry_decode(cur, cl, NULL, &r, NULL), RS_OK);
    rs_publish_result res;
    CU_ASSERT_EQUAL_FATAL(rs_publisher_publish_registry(p, r, "v1", &res, &e), RS_OK);
    rs_registry_free(r);
    rs_head h1;
    CU_ASSERT_EQUAL_FATAL(rs_log_read_head(s, NULL, &h1, NULL, &e), RS_OK);
    CU_ASSERT_EQUAL(publish_next(p, &cur, &cl, 9), 2);
    /* the global registry at 2, filtered to proj_00 */
    rs_registry *g2;
    rs_head h2;
    CU_ASSERT_EQUAL_FATAL(rs_log_read_head(s, NULL, &h2, NULL, &e), RS_OK);
    CU_ASSERT_EQUAL_FATAL(rs_log_materialize(s, &h2, 2, &g2, &e), RS_OK);
    rs_head_clear(&h2);
    rs_region_report rep = {0};
    rep.region = (char *)"ahead";
    rep.applied_version = 2;
    rep.heartbeat_ms = rs_wall_ms();
    rep.state = (char *)"following";
    char *inc[] = {(char *)"proj_00"};
    rep.include_projects = inc;
    rep.n_include = 1;
    rep.has_applied_digest = true;
    rs_registry *f2;
    {
        /* filter by hand with the agent's rule */
        rs_agent_config cfg = {.include_projects = (const char *const *)inc, .n_include = 1};
        f2 = rs_registry_new();
        for (size_t i = 0; i < rs_registry_count(g2); i++) {
            const rs_object *o = rs_registry_at(g2, i);
            if (o->project[0] && !rs_agent_project_allowed(&cfg, o->project))
                continue;
            CU_ASSERT_EQUAL(rs_registry_put(f2, o->kind, o->project, o->name, o->ordinal, o->data, o->len, NULL), RS_OK);
        }
    }
    rs_registry_digest(f2, rep.applied_digest);
    rep.has_target_digest = rep.has_written_digest = true;
    memcpy(rep.target_digest, rep.applied_digest, RS_DIGEST_LEN);
    memcpy(rep.written_digest, rep.applied_digest, RS_DIGEST_LEN);
    rs_registry_free(f2);
    rs_registry_free(g2);
    /* judged against HEAD 1: not behind, digest verified from the log beyond HEAD */
    CU_ASSERT_EQUAL(rs_drift_compute(ctx, &h1, &rep, 1, NULL, &rows, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(rows[0].state, RS_DRIFT_IN_SYNC);
    CU_ASSERT_EQUAL(rows[0].versions_behind, 0);
    CU_ASSERT_EQUAL(rows[0].digest_check, RS_DRIFT_CHECK_OK);
    free(rows);
    /* the same region with a target that is gone: modified */
    rep.has_target_digest = false;
    CU_ASSERT_EQUAL(rs_drift_compute(ctx, &h1, &rep, 1, NULL, &rows, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(rows[0].state, RS_DRIFT_MODIFIED);
    free(rows);
    /* the agent's own word wins over a matching digest */
    rep.has_target_digest = true;
    rep.state = (char *)"diverged";
    rep.last_error = (char *)"log entry 3 refused: parent digest mismatch";
    rep.attempted_version = 3;
    CU_ASSERT_EQUAL(rs_drift_compute(ctx, &h1, &rep, 1, NULL, &rows, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(rows[0].state, RS_DRIFT_DIVERGED);
    CU_ASSERT_PTR_NOT_NULL(strstr(rows[0].reason, "parent digest mismatch"));
    free(rows);
    rs_head_clear(&h1);
    rs_drift_ctx_free(ctx);
    free(cur);
    rs_publisher_close(p);
    rs_storage_close(s);
    free(store);
}

/* ---------------------------------------------------------------- suites */

RS_STORE_TEST(test_drift_scenarios)
RS_STORE_TEST(test_drift_edges)

static void add_all(CU_pSuite s)
{
    CU_add_test(s, "paused, modified, filtered, stale, regional meta, pinned, forged, unreadable",
                test_drift_scenarios_guarded);
    CU_add_test(s, "empty store, HEAD lagging the log, missing target, agent says diverged", test_drift_edges_guarded);
}

int main(void)
{
    rs_log_configure(RS_LOG_ERROR, false, 2);
    CU_initialize_registry();
    CU_pSuite u = CU_add_suite("region report codec", NULL, NULL);
    CU_add_test(u, "encode, decode, garbage, bad digest", test_report_codec);
    rs_test_store_suites("drift", &store_url, &work, add_all);
    return rs_test_run();
}
