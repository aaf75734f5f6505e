/* test_fleet.c: the fleet view (sync/rs_fleet.h) and region-wide control (sync/rs_control.h) on a
 * real store: file:// always, S3 (RGW) and PostgreSQL when scripts/test.sh started them.
 *
 *   - regions are made of instances; publish-only agents are apart; a region's state comes from
 *     its live instances ("paused 1/3");
 *   - liveness never trusts a writer's clock: a report written by a clock two days fast that stops
 *     being rewritten turns stale; one written by a clock a day slow that keeps being rewritten
 *     stays live; both are flagged for skew;
 *   - forgotten reports are pruned; reports revived while two pruners run are never lost (50
 *     rounds, with same-bytes rewrites: the conditional delete checks the modification time);
 *   - a report in the region layout is read while it lives and superseded beside live instances;
 *   - /v1/wait semantics: every live follower, never publishers; an unknown region is an error;
 *   - a region-wide pause stops every instance, also one started afterwards, and resume releases
 *     them; the journal records what was obeyed.
 * End to end with regsyncd processes: tests/cli/e2e_fleet.sh. */
#include "rs_test.h"

#include "rs_agent.h"
#include "rs_buf.h"
#include "rs_control.h"
#include "rs_fleet.h"
#include "rs_generate.h"
#include "rs_journal.h"
#include "rs_log.h"
#include "rs_logproto.h"
#include "rs_publisher.h"
#include "rs_replica.h"
#include "rs_time.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *store_url;
static char *work;
static int seq;

/* a new sub-store per test; seq also names the test's targets and state dirs */
static char *fresh_store(void)
{
    seq++;
    return rs_test_fresh_store(store_url, work, "rsf");
}

/* one published version of a generated registry */
static void publish_one(rs_storage *s, uint64_t seed)
{
    rs_publisher *p;
    rs_publisher_opts po = {.publisher_id = "fleet-test"};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_open(s, NULL, NULL, &po, &p, NULL), RS_OK);
    rs_gen_params gp;
    rs_gen_defaults(&gp);
    gp.seed = seed;
    gp.target_bytes = 20000;
    uint8_t *b;
    size_t l;
    CU_ASSERT_EQUAL_FATAL(rs_generate(&gp, &b, &l, NULL), RS_OK);
    rs_registry *r;
    CU_ASSERT_EQUAL_FATAL(rs_registry_decode_take(b, l, NULL, &r, NULL), RS_OK);
    rs_publish_result res;
    CU_ASSERT_EQUAL_FATAL(rs_publisher_publish_registry(p, r, "t", &res, NULL), RS_OK);
    rs_registry_free(r);
    rs_publisher_close(p);
}

static rs_agent *agent(const char *store, const char *region, const char *instance, bool follows)
{
    char *target = rs_test_fmt("%s/%d-%s-%s.db", work, seq, region, instance);
    char *state = rs_test_fmt("%s/%d-state-%s-%s", work, seq, region, instance);
    char *src = rs_test_fmt("%s/%d-src-%s.db", work, seq, instance);
    rs_agent_config c = {.region = region,
                         .instance = instance,
                         .store_url = store,
                         .target = follows ? target : NULL,
                         .publish = !follows,
                         .source = follows ? NULL : "registry.db",
                         .state_dir = state,
                         .poll_interval_ms = 100,
                         .heartbeat_interval_ms = 1000};
    rs_agent *a = NULL;
    rs_error e = {0};
    if (rs_agent_open(&c, &a, &e))
        fprintf(stderr, "agent %s/%s: %s\n", region, instance, e.msg);
    free(target);
    free(state);
    free(src);
    return a;
}

static const rs_fleet_instance *find(const rs_fleet_snap *s, const char *region, const char *instance)
{
    for (size_t i = 0; i < s->n_instances; i++)
        if (strcmp(s->instances[i].report->region, region) == 0 && strcmp(s->instances[i].report->instance, instance) == 0)
            return &s->instances[i];
    return NULL;
}

static const rs_fleet_snap *refresh(rs_fleet *f)
{
    rs_error e = {0};
    int rc = rs_fleet_refresh(f, &e);
    if (rc)
        fprintf(stderr, "refresh: %s\n", e.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    return rs_fleet_snapshot(f);
}

/* ---------------------------------------------------------------- regions of instances */

static void test_regions_of_instances(void)
{
    char *store = fresh_store();
    rs_storage *s;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(store, NULL, &s, &e), RS_OK);
    publish_one(s, 1);
    rs_agent *a[3], *b[2];
    const char *an[] = {"a-1", "a-2", "a-3"}, *bn[] = {"b-1", "b-2"};
    for (int i = 0; i < 3; i++) {
        a[i] = agent(store, "us-west-2", an[i], true);
        CU_ASSERT_PTR_NOT_NULL_FATAL(a[i]);
        CU_ASSERT_EQUAL(rs_agent_sync_once(a[i], &e), RS_OK);
    }
    for (int i = 0; i < 2; i++) {
        b[i] = agent(store, "eu-central-1", bn[i], true);
        CU_ASSERT_PTR_NOT_NULL_FATAL(b[i]);
        CU_ASSERT_EQUAL(rs_agent_sync_once(b[i], &e), RS_OK);
    }
    /* a publish-only agent, in a region of its own */
    CU_ASSERT_EQUAL_FATAL(rs_storage_put(s, "registry.db", (const uint8_t *)"", 0, RS_PUT_ALWAYS, NULL, NULL, &e), RS_OK);
    rs_agent *pub = agent(store, "ci", "runner-1", false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pub);
    CU_ASSERT_EQUAL(rs_agent_report(pub, &e), RS_OK);
    /* pause one instance of us-west-2, then a new version */
    rs_agent_pause(a[1]);
    publish_one(s, 2);
    for (int i = 0; i < 3; i++)
        rs_agent_step(a[i], NULL, &e);
    for (int i = 0; i < 2; i++)
        rs_agent_step(b[i], NULL, &e);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(rs_agent_report(a[i], &e), RS_OK);
    rs_fleet *f = rs_fleet_new(s, &(rs_fleet_opts){.stale_after_ms = 60000});
    const rs_fleet_snap *sn = refresh(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sn);
    CU_ASSERT_EQUAL(sn->n_regions, 2);   /* ci is not a region */
    CU_ASSERT_EQUAL(sn->n_instances, 5);
    CU_ASSERT_EQUAL(sn->n_publishers, 1);
    if (sn->n_publishers)
        CU_ASSERT_STRING_EQUAL(sn->publishers[0].report->instance, "runner-1");
    const rs_fleet_region *us = rs_fleet_find_region(sn, "us-west-2"), *eu = rs_fleet_find_region(sn, "eu-central-1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(us);
    CU_ASSERT_PTR_NOT_NULL_FATAL(eu);
    CU_ASSERT_STRING_EQUAL(us->state, "paused");
    CU_ASSERT_STRING_EQUAL(us->summary, "paused 1/3");
    CU_ASSERT_EQUAL(us->min_applied, 1);
    CU_ASSERT_EQUAL(us->max_applied, 2);
    CU_ASSERT_STRING_EQUAL(eu->summary, "in_sync 2/2");
    const rs_fleet_instance *p2 = find(sn, "us-west-2", "a-2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p2);
    CU_ASSERT_STRING_EQUAL(p2->state, "paused");
    CU_ASSERT_EQUAL(p2->report->applied_version, 1);
    CU_ASSERT(p2->report->follows);
    /* the same on every read */
    for (int i = 0; i < 3; i++) {
        rs_fleet_snap_release(sn);
        sn = refresh(f);
        CU_ASSERT_STRING_EQUAL(rs_fleet_find_region(sn, "us-west-2")->summary, "paused 1/3");
    }
    /* waits: every live follower, never the publisher */
    bool done;
    json_t *w = NULL;
    CU_ASSERT_EQUAL(rs_fleet_wait_check(sn, 2, "all", &done, &w, &e), RS_OK);
    CU_ASSERT(!done);
    CU_ASSERT_EQUAL(json_array_size(w), 1);
    if (json_array_size(w))
        CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(w, 0)), "us-west-2/a-2");
    json_decref(w);
    CU_ASSERT_EQUAL(rs_fleet_wait_check(sn, 2, "eu-central-1", &done, NULL, &e), RS_OK);
    CU_ASSERT(done);
    CU_ASSERT_EQUAL(rs_fleet_wait_check(sn, 2, "eu-central-1,no-such", &done, NULL, &e), RS_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "no-such"));
    CU_ASSERT_EQUAL(rs_fleet_wait_check(sn, 1, "ci", &done, NULL, &e), RS_ENOTFOUND); /* a publisher is not a region */
    /* JSON: regions with instances, publishers apart */
    json_t *j = rs_fleet_to_json(sn);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "regions")), 2);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "publishers")), 1);
    json_decref(j);
    rs_fleet_snap_release(sn);
    rs_agent_resume(a[1]);
    rs_agent_step(a[1], NULL, &e);
    rs_agent_report(a[1], &e);
    sn = refresh(f);
    CU_ASSERT_STRING_EQUAL(rs_fleet_find_region(sn, "us-west-2")->summary, "in_sync 3/3");
    CU_ASSERT_EQUAL(rs_fleet_wait_check(sn, 2, "all", &done, NULL, &e), RS_OK);
    CU_ASSERT(done);
    rs_fleet_snap_release(sn);
    rs_fleet_free(f);
    for (int i = 0; i < 3; i++)
        rs_agent_close(a[i]);
    for (int i = 0; i < 2; i++)
        rs_agent_close(b[i]);
    rs_agent_close(pub);
    rs_storage_close(s);
    free(store);
}

/* ---------------------------------------------------------------- liveness and clocks */

/* Writes a report as an agent with a skewed clock would: written_at is off by skew_ms. */
static void put_report(rs_storage *s, const char *region, const char *instance, int64_t skew_ms, uint64_t applied)
{
    rs_region_report r;
    memset(&r, 0, sizeof r);
    r.region = (char *)region;
    r.instance = (char *)instance;
    r.format = 2;
    r.follows = true;
    r.applied_version = applied;
    r.state = (char *)"following";
    r.written_at_ms = rs_wall_ms() + skew_ms;
    r.heartbeat_interval_ms = 200;
    uint8_t *b;
    size_t l;
    CU_ASSERT_EQUAL_FATAL(rs_region_report_encode(&r, &b, &l, NULL), RS_OK);
    char key[256];
    rs_log_instance_key(region, instance, key, sizeof key);
    CU_ASSERT_EQUAL_FATAL(rs_storage_put(s, key, b, l, RS_PUT_ALWAYS, NULL, NULL, NULL), RS_OK);
    free(b);
}

/* the same bytes again: a heartbeat */
static void rewrite(rs_storage *s, const char *region, const char *instance)
{
    char key[256];
    rs_log_instance_key(region, instance, key, sizeof key);
    uint8_t *d;
    size_t l;
    CU_ASSERT_EQUAL_FATAL(rs_storage_get(s, key, NULL, &d, &l, NULL, NULL), RS_OK);
    CU_ASSERT_EQUAL_FATAL(rs_storage_put(s, key, d, l, RS_PUT_ALWAYS, NULL, NULL, NULL), RS_OK);
    free(d);
}

static void test_liveness_ignores_writer_clocks(void)
{
    char *store = fresh_store();
    rs_storage *s;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(store, NULL, &s, &e), RS_OK);
    publish_one(s, 3);
    const int64_t day = 86400000;
    put_report(s, "skewed", "fast-and-dead", 2 * day, 1); /* two days fast, then killed */
    put_report(s, "skewed", "slow-and-alive", -day, 1);   /* a day slow, heartbeating */
    put_report(s, "skewed", "right", 0, 1);
    rs_fleet *f = rs_fleet_new(s, &(rs_fleet_opts){.stale_after_ms = 2500, .max_clock_skew_ms = 30000});
    const rs_fleet_snap *sn = refresh(f);
    const rs_fleet_instance *fast = find(sn, "skewed", "fast-and-dead"), *slow = find(sn, "skewed", "slow-and-alive"),
                            *ok = find(sn, "skewed", "right");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fast);
    CU_ASSERT_PTR_NOT_NULL_FATAL(slow);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ok);
    CU_ASSERT(!fast->stale && !slow->stale && !ok->stale);
    CU_ASSERT(fast->skew_warning);
    CU_ASSERT(fast->skew_ms > day);
    /* first sight: a written_at a day before the store's time is what an old report of a right
     * clock (rewritten by heartbeats since) looks like too: not flagged until it changes */
    CU_ASSERT(!slow->skew_known);
    CU_ASSERT(!slow->skew_warning);
    CU_ASSERT(ok->skew_known);
    CU_ASSERT(!ok->skew_warning);
    rs_fleet_snap_release(sn);
    put_report(s, "skewed", "slow-and-alive", -day, 2); /* its report changes: now it is measured */
    sn = refresh(f);
    slow = find(sn, "skewed", "slow-and-alive");
    CU_ASSERT_PTR_NOT_NULL_FATAL(slow);
    CU_ASSERT(slow->skew_warning);
    CU_ASSERT(slow->skew_ms < -day / 2);
    rs_fleet_snap_release(sn);
    /* three seconds: the slow one and the right one keep writing, the fast one is gone */
    for (int i = 0; i < 6; i++) {
        usleep(500000);
        rewrite(s, "skewed", "slow-and-alive");
        rewrite(s, "skewed", "right");
        rs_fleet_snap_release(refresh(f));
    }
    sn = refresh(f);
    fast = find(sn, "skewed", "fast-and-dead");
    slow = find(sn, "skewed", "slow-and-alive");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fast);
    CU_ASSERT_PTR_NOT_NULL_FATAL(slow);
    CU_ASSERT(fast->stale);
    CU_ASSERT_STRING_EQUAL(fast->state, "stale");
    CU_ASSERT(!slow->stale);
    CU_ASSERT(slow->observed);
    CU_ASSERT(slow->age_ms < 2000);
    CU_ASSERT_EQUAL(rs_fleet_find_region(sn, "skewed")->n_live, 2);
    CU_ASSERT_EQUAL(rs_fleet_find_region(sn, "skewed")->n_instances, 3);
    json_t *j = rs_fleet_to_json(sn);
    char *txt = json_dumps(j, JSON_COMPACT);
    CU_ASSERT_PTR_NOT_NULL(strstr(txt, "\"clock_skew\":{\"seconds\":"));
    free(txt);
    json_decref(j);
    rs_fleet_snap_release(sn);
    /* a one-shot reader (first sight) takes ages from the store's clock: the dead one is old */
    rs_fleet *g = rs_fleet_new(s, &(rs_fleet_opts){.stale_after_ms = 2500});
    sn = refresh(g);
    fast = find(sn, "skewed", "fast-and-dead");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fast);
    CU_ASSERT(fast->stale);
    CU_ASSERT(!fast->observed);
    CU_ASSERT(!find(sn, "skewed", "slow-and-alive")->stale);
    rs_fleet_snap_release(sn);
    rs_fleet_free(g);
    rs_fleet_free(f);
    rs_storage_close(s);
    free(store);
}

/* ---------------------------------------------------------------- pruning */

typedef struct pruner_arg {
    const char *store;
    int64_t forget_ms;
    size_t pruned;
} pruner_arg;

static void *pruner(void *p)
{
    pruner_arg *a = p;
    rs_storage *s;
    if (rs_storage_open(a->store, NULL, &s, NULL))
        return NULL;
    rs_fleet *f = rs_fleet_new(s, &(rs_fleet_opts){.stale_after_ms = 100, .forget_after_ms = a->forget_ms, .prune = true});
    rs_fleet_refresh(f, NULL);
    const rs_fleet_snap *sn = rs_fleet_snapshot(f);
    if (sn)
        a->pruned = sn->pruned;
    rs_fleet_snap_release(sn);
    rs_fleet_free(f);
    rs_storage_close(s);
    return NULL;
}

typedef struct reviver_arg {
    const char *store;
    char names[8][16];
    uint8_t *bytes[8]; /* what each instance wrote: its heartbeat writes it again */
    size_t len[8];
    int64_t at_mono[8]; /* when each came back */
    int n;
    unsigned seed;
} reviver_arg;

static void *reviver(void *p)
{
    reviver_arg *a = p;
    rs_storage *s;
    rs_error oe = {0};
    if (rs_storage_open(a->store, NULL, &s, &oe)) {
        fprintf(stderr, "reviver open: %s\n", oe.msg);
        return NULL;
    }
    for (int i = 0; i < a->n; i++) {
        usleep((useconds_t)(rand_r(&a->seed) % 20000)); /* somewhere inside the pruners' work */
        char key[256];
        rs_log_instance_key("prune", a->names[i], key, sizeof key);
        rs_error e = {0};
        if (rs_storage_put(s, key, a->bytes[i], a->len[i], RS_PUT_ALWAYS, NULL, NULL, &e))
            fprintf(stderr, "revive %s: %s\n", a->names[i], e.msg);
        a->at_mono[i] = rs_mono_ms();
    }
    rs_storage_close(s);
    return NULL;
}

static bool exists(rs_storage *s, const char *instance)
{
    char key[256];
    rs_log_instance_key("prune", instance, key, sizeof key);
    uint8_t *d;
    size_t l;
    if (rs_storage_get(s, key, NULL, &d, &l, NULL, NULL) != RS_OK)
        return false;
    free(d);
    return true;
}

#define PRUNE_ROUNDS 50

/* Two pruners and a writer reviving reports (the same bytes again) at the same time: a revived
 * report is never lost; the others are. 50 rounds, each on a store of its own (all made silent
 * at once, so the rounds need one wait). A revived report is live for forget_after after its
 * revival: a round that outlasts that (a slow sanitizer build) may forget it legitimately, so it
 * is checked only when the round ended within forget_after of the revival. On S3 servers that
 * ignore If-Match on DELETE (Ceph RGW 16), and with Last-Modified in whole seconds, a revived
 * report can be deleted in the window between the check and the delete: the test counts those
 * and checks that the instance's next heartbeat brings it back. */
static void test_prune_races(void)
{
    char *base = fresh_store();
    bool s3 = strncmp(base, "s3://", 5) == 0;
    free(base);
    const int64_t forget = 1500;
    char *stores[PRUNE_ROUNDS];
    char names[PRUNE_ROUNDS][8][16];
    rs_error e = {0};
    for (int round = 0; round < PRUNE_ROUNDS; round++) {
        stores[round] = fresh_store();
        rs_storage *s;
        CU_ASSERT_EQUAL_FATAL(rs_storage_open(stores[round], NULL, &s, &e), RS_OK);
        for (int i = 0; i < 8; i++) {
            snprintf(names[round][i], sizeof names[round][i], "r%d-i%d", round, i);
            put_report(s, "prune", names[round][i], 0, 1);
        }
        rs_storage_close(s);
    }
    usleep((useconds_t)(forget + 200) * 1000); /* every report silent past forget_after */
    size_t lost_now = 0, checked = 0, unchecked = 0, pruned_total = 0;
    for (int round = 0; round < PRUNE_ROUNDS; round++) {
        const char *store = stores[round];
        rs_storage *s;
        CU_ASSERT_EQUAL_FATAL(rs_storage_open(store, NULL, &s, &e), RS_OK);
        /* the first four come back while two agents prune */
        reviver_arg ra = {.store = store, .n = 4, .seed = (unsigned)round * 7919u + 1};
        for (int i = 0; i < 4; i++) {
            memcpy(ra.names[i], names[round][i], sizeof names[round][i]);
            char key[256];
            rs_log_instance_key("prune", names[round][i], key, sizeof key);
            CU_ASSERT_EQUAL_FATAL(rs_storage_get(s, key, NULL, &ra.bytes[i], &ra.len[i], NULL, NULL), RS_OK);
        }
        pruner_arg pa = {.store = store, .forget_ms = forget}, pb = pa;
        pthread_t t1, t2, t3;
        pthread_create(&t3, NULL, reviver, &ra);
        pthread_create(&t1, NULL, pruner, &pa);
        pthread_create(&t2, NULL, pruner, &pb);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        pthread_join(t3, NULL);
        int64_t end = rs_mono_ms();
        pruned_total += pa.pruned + pb.pruned;
        for (int i = 0; i < 4; i++) {
            free(ra.bytes[i]);
            if (end - ra.at_mono[i] >= forget) {
                unchecked++; /* silent past forget_after again by the end: either way is right */
                continue;
            }
            checked++;
            if (!exists(s, names[round][i])) {
                lost_now++;
                CU_ASSERT(s3); /* file:// and PostgreSQL delete atomically: never lost there */
                put_report(s, "prune", names[round][i], 0, 1); /* its next heartbeat */
                CU_ASSERT(exists(s, names[round][i]));
            }
        }
        /* the others are forgotten (by one pruner or the other, or by the next refresh) */
        rs_fleet *f = rs_fleet_new(s, &(rs_fleet_opts){.stale_after_ms = 100, .forget_after_ms = forget, .prune = true});
        rs_fleet_refresh(f, NULL);
        rs_fleet_free(f);
        for (int i = 4; i < 8; i++)
            CU_ASSERT(!exists(s, names[round][i]));
        rs_storage_close(s);
        free(stores[round]);
    }
    printf("\n  prune races: %zu reports pruned, %zu revived ones checked (%zu outlived by a slow round), %zu deleted by a "
           "pruner%s\n",
           pruned_total, checked, unchecked, lost_now, s3 ? " (S3: rewritten by their next heartbeat)" : "");
    CU_ASSERT(pruned_total >= PRUNE_ROUNDS * 4);
    CU_ASSERT(checked >= PRUNE_ROUNDS); /* the rounds were fast enough to test something */
}

/* ---------------------------------------------------------------- the region layout */

static void test_region_layout_reports(void)
{
    char *store = fresh_store();
    rs_storage *s;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(store, NULL, &s, &e), RS_OK);
    publish_one(s, 4);
    /* an agent of the previous layout: regsync/regions/<region>, a heartbeat inside */
    rs_region_report old;
    memset(&old, 0, sizeof old);
    old.region = (char *)"ap-south-1";
    old.applied_version = 1;
    old.state = (char *)"following";
    old.agent = (char *)"old-host/17 regsync 0.0.9";
    old.heartbeat_ms = rs_wall_ms();
    uint8_t *b;
    size_t l;
    CU_ASSERT_EQUAL_FATAL(rs_region_report_encode(&old, &b, &l, NULL), RS_OK);
    CU_ASSERT_EQUAL_FATAL(rs_storage_put(s, RS_PREFIX_REGIONS "ap-south-1", b, l, RS_PUT_ALWAYS, NULL, NULL, &e), RS_OK);
    free(b);
    rs_fleet *f = rs_fleet_new(s, &(rs_fleet_opts){.stale_after_ms = 1500, .forget_after_ms = 60000, .prune = true});
    const rs_fleet_snap *sn = refresh(f);
    const rs_fleet_instance *lg = find(sn, "ap-south-1", "");
    CU_ASSERT_PTR_NOT_NULL_FATAL(lg);
    CU_ASSERT(lg->legacy);
    CU_ASSERT(!lg->stale);
    CU_ASSERT_EQUAL(rs_fleet_find_region(sn, "ap-south-1")->n_live, 1);
    rs_fleet_snap_release(sn);
    /* the upgraded pod reports in the instance layout; the old report goes quiet */
    rs_agent *a = agent(store, "ap-south-1", "new-pod", true);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(rs_agent_sync_once(a, &e), RS_OK);
    usleep(1700000);
    int rrc = rs_agent_report(a, &e);
    if (rrc)
        fprintf(stderr, "report: %s\n", e.msg);
    CU_ASSERT_EQUAL(rrc, RS_OK);
    sn = refresh(f);
    lg = find(sn, "ap-south-1", "");
    if (strncmp(store, "file://", 7) == 0) {
        /* a file store cannot keep regions/ap-south-1 as a file beside the directory of the
         * region's instances: the upgraded agent removed it before writing its own */
        CU_ASSERT_PTR_NULL(lg);
    } else {
        CU_ASSERT_PTR_NOT_NULL(lg);
        if (lg)
            CU_ASSERT(lg->superseded);
        CU_ASSERT(sn->pruned >= 1); /* superseded: removed from the store */
    }
    CU_ASSERT_STRING_EQUAL(rs_fleet_find_region(sn, "ap-south-1")->summary, "in_sync 1/1");
    rs_fleet_snap_release(sn);
    uint8_t *d;
    CU_ASSERT_EQUAL(rs_storage_get(s, RS_PREFIX_REGIONS "ap-south-1", NULL, &d, &l, NULL, NULL), RS_ENOTFOUND);
    rs_agent_close(a);
    rs_fleet_free(f);
    rs_storage_close(s);
    free(store);
}

/* ---------------------------------------------------------------- region-wide control */

static bool journal_has_control(const char *state_dir)
{
    rs_journal *j;
    rs_journal_opts jo = {.readonly = true, .skip_integrity_check = true};
    if (rs_journal_open(state_dir, &jo, &j, NULL))
        return false;
    rs_journal_event_rec *ev;
    size_t n;
    bool found = false;
    if (rs_journal_events_recent(j, "control", 10, &ev, &n, NULL) == RS_OK) {
        for (size_t i = 0; i < n; i++)
            if (strstr(ev[i].message, "region-wide pause by ops@test"))
                found = true;
        rs_journal_events_free(ev, n);
    }
    rs_journal_close(j);
    return found;
}

static void test_region_wide_control(void)
{
    char *store = fresh_store();
    rs_storage *s;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(store, NULL, &s, &e), RS_OK);
    publish_one(s, 5);
    rs_agent *b1 = agent(store, "eu-central-1", "b-1", true), *b2 = agent(store, "eu-central-1", "b-2", true);
    rs_agent *other = agent(store, "us-west-2", "a-1", true);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    CU_ASSERT_EQUAL(rs_agent_sync_once(b1, &e), RS_OK);
    CU_ASSERT_EQUAL(rs_agent_sync_once(b2, &e), RS_OK);
    CU_ASSERT_EQUAL(rs_agent_sync_once(other, &e), RS_OK);
    rs_region_control c;
    CU_ASSERT_EQUAL(rs_control_apply(s, "eu-central-1", RS_CONTROL_PAUSE, 0, "ops@test", &c, &e), RS_OK);
    CU_ASSERT(c.paused);
    CU_ASSERT_EQUAL(c.serial, 1);
    publish_one(s, 6);
    /* one poll each: the region's instances stay, the other region follows */
    rs_agent *both[] = {b1, b2, other};
    for (int i = 0; i < 3; i++)
        rs_agent_step(both[i], NULL, &e);
    rs_agent_status st;
    rs_agent_status_get(b1, &st);
    CU_ASSERT(st.paused);
    CU_ASSERT(st.region_paused);
    CU_ASSERT(!st.instance_paused);
    CU_ASSERT_EQUAL(st.applied_version, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(st.control, "ops@test"));
    rs_agent_status_get(b2, &st);
    CU_ASSERT_EQUAL(st.applied_version, 1);
    CU_ASSERT_STRING_EQUAL(st.state, "paused");
    rs_agent_status_get(other, &st);
    CU_ASSERT_EQUAL(st.applied_version, 2);
    CU_ASSERT(!st.paused);
    /* an instance started afterwards obeys at its first poll: nothing written */
    rs_agent *b3 = agent(store, "eu-central-1", "b-3", true);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b3);
    rs_agent_step(b3, NULL, &e);
    rs_agent_status_get(b3, &st);
    CU_ASSERT(st.paused);
    CU_ASSERT_EQUAL(st.applied_version, 0);
    char *t3 = rs_test_fmt("%s/%d-eu-central-1-b-3.db", work, seq);
    struct stat sb;
    CU_ASSERT_NOT_EQUAL(stat(t3, &sb), 0);
    free(t3);
    /* the journal says what was obeyed, from whom */
    char *sd = rs_test_fmt("%s/%d-state-eu-central-1-b-2", work, seq);
    CU_ASSERT(journal_has_control(sd));
    free(sd);
    /* a concurrent second operator: the pin lands on top of the pause (compare-and-swap) */
    CU_ASSERT_EQUAL(rs_control_apply(s, "eu-central-1", RS_CONTROL_PIN, 1, "ops2@test", &c, &e), RS_OK);
    CU_ASSERT(c.paused);
    CU_ASSERT_EQUAL(c.pinned_version, 1);
    CU_ASSERT_EQUAL(c.serial, 2);
    /* resume and unpin: all three follow */
    CU_ASSERT_EQUAL(rs_control_apply(s, "eu-central-1", RS_CONTROL_RESUME, 0, "ops@test", &c, &e), RS_OK);
    CU_ASSERT_EQUAL(rs_control_apply(s, "eu-central-1", RS_CONTROL_UNPIN, 0, "ops@test", &c, &e), RS_OK);
    CU_ASSERT(!rs_control_active(&c));
    rs_agent *bs[] = {b1, b2, b3};
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(rs_agent_sync_once(bs[i], &e), RS_OK);
        rs_agent_status_get(bs[i], &st);
        CU_ASSERT_EQUAL(st.applied_version, 2);
        CU_ASSERT(!st.paused);
        CU_ASSERT_STRING_EQUAL(st.control, "");
    }
    /* bad input: a pin without a version, an unreadable record */
    CU_ASSERT_EQUAL(rs_control_apply(s, "eu-central-1", RS_CONTROL_PIN, 0, "x", NULL, &e), RS_EINVALID);
    char key[256];
    rs_log_control_key("eu-central-1", key, sizeof key);
    CU_ASSERT_EQUAL(rs_storage_put(s, key, (const uint8_t *)"\xff\xff garbage", 10, RS_PUT_ALWAYS, NULL, NULL, &e), RS_OK);
    CU_ASSERT_EQUAL(rs_agent_step(b1, NULL, &e), RS_OK); /* ignored, said once; following goes on */
    rs_agent_close(b1);
    rs_agent_close(b2);
    rs_agent_close(b3);
    rs_agent_close(other);
    rs_storage_close(s);
    free(store);
}

/* ---------------------------------------------------------------- reports in several stores */

/* Agents report to the store they read from (a primary and a replica, two file:// stores): the
 * view merges both listings, and an instance reported in both is shown once, from its newest
 * write. File stores whatever the backend under test: the merge is the fleet's, not a store's. */
static void test_merged_stores(void)
{
    seq++;
    char *pd = rs_test_fmt("%s/merge-p-%d", work, seq), *rd = rs_test_fmt("%s/merge-r-%d", work, seq);
    CU_ASSERT_EQUAL(mkdir(pd, 0700), 0);
    CU_ASSERT_EQUAL(mkdir(rd, 0700), 0);
    char *pu = rs_test_fmt("file://%s", pd), *ru = rs_test_fmt("file://%s", rd);
    rs_storage *ps, *rs;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(pu, NULL, &ps, &e), RS_OK);
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(ru, NULL, &rs, &e), RS_OK);
    publish_one(ps, 7);
    rs_replica_result rr;
    CU_ASSERT_EQUAL_FATAL(rs_replica_sync(ps, rs, &rr, &e), RS_OK);
    /* x-1 reads the primary, x-2 the replica; x-3 first the primary, then (later) the replica,
       paused there: its replica report is the newer one */
    rs_agent *x1 = agent(pu, "eu", "x-1", true);
    rs_agent *x2 = agent(ru, "eu", "x-2", true);
    rs_agent *x3p = agent(pu, "eu", "x-3", true);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x3p);
    CU_ASSERT_EQUAL(rs_agent_sync_once(x1, &e), RS_OK);
    CU_ASSERT_EQUAL(rs_agent_sync_once(x2, &e), RS_OK);
    CU_ASSERT_EQUAL(rs_agent_sync_once(x3p, &e), RS_OK);
    rs_agent_close(x3p);
    usleep(1100 * 1000); /* a later modification time, whatever the store's resolution */
    seq++;               /* another target and state directory for x-3's second life */
    rs_agent *x3r = agent(ru, "eu", "x-3", true);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x3r);
    rs_agent_pause(x3r);
    CU_ASSERT_EQUAL(rs_agent_sync_once(x3r, &e), RS_OK);
    CU_ASSERT_EQUAL(rs_agent_report(x3r, &e), RS_OK);
    /* the primary alone: x-1 and x-3 (its old report, following) */
    rs_fleet *f1 = rs_fleet_new(ps, &(rs_fleet_opts){.stale_after_ms = 60000});
    const rs_fleet_snap *s1 = refresh(f1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
    CU_ASSERT_EQUAL(s1->n_instances, 2);
    CU_ASSERT_PTR_NULL(find(s1, "eu", "x-2"));
    const rs_fleet_instance *o3 = find(s1, "eu", "x-3");
    CU_ASSERT_PTR_NOT_NULL_FATAL(o3);
    CU_ASSERT(!o3->report->paused);
    rs_fleet_snap_release(s1);
    rs_fleet_free(f1);
    /* merged: all three, x-3 once, from the replica (paused) */
    rs_storage *also[] = {rs};
    rs_fleet *f = rs_fleet_new(ps, &(rs_fleet_opts){.stale_after_ms = 60000, .also = also, .n_also = 1});
    const rs_fleet_snap *sn = refresh(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sn);
    CU_ASSERT_EQUAL(sn->n_instances, 3);
    CU_ASSERT_EQUAL(sn->n_regions, 1);
    CU_ASSERT_PTR_NOT_NULL(find(sn, "eu", "x-1"));
    CU_ASSERT_PTR_NOT_NULL(find(sn, "eu", "x-2"));
    const rs_fleet_instance *m3 = find(sn, "eu", "x-3");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m3);
    CU_ASSERT(m3->report->paused);
    CU_ASSERT_STRING_EQUAL(m3->state, RS_DRIFT_PAUSED);
    if (sn->n_regions == 1)
        CU_ASSERT_STRING_EQUAL(sn->regions[0].summary, "paused 1/3");
    rs_fleet_snap_release(sn);
    rs_fleet_free(f);
    rs_agent_close(x1);
    rs_agent_close(x2);
    rs_agent_close(x3r);
    rs_storage_close(ps);
    rs_storage_close(rs);
    free(pd);
    free(rd);
    free(pu);
    free(ru);
}

/* ---------------------------------------------------------------- suites */

RS_STORE_TEST(test_regions_of_instances)
RS_STORE_TEST(test_liveness_ignores_writer_clocks)
RS_STORE_TEST(test_prune_races)
RS_STORE_TEST(test_region_layout_reports)
RS_STORE_TEST(test_region_wide_control)
RS_STORE_TEST(test_merged_stores)

static void add_all(CU_pSuite s)
{
    CU_add_test(s, "regions of instances, publishers apart, waits", test_regions_of_instances_guarded);
    CU_add_test(s, "liveness ignores writer clocks; skew flagged", test_liveness_ignores_writer_clocks_guarded);
    CU_add_test(s, "pruning races lose no revived report (50 rounds)", test_prune_races_guarded);
    CU_add_test(s, "region-layout reports read, then superseded", test_region_layout_reports_guarded);
    CU_add_test(s, "region-wide control", test_region_wide_control_guarded);
    CU_add_test(s, "reports merged from a primary and a replica, newest wins", test_merged_stores_guarded);
}

int main(void)
{
    rs_log_configure(RS_LOG_OFF, false, 2);
    CU_initialize_registry();
    rs_test_store_suites("fleet", &store_url, &work, add_all);
    return rs_test_run();
}
