/* test_truth.c: regsync says only what is true, under faults (issue 9 items 1, 2, 4, 5, 7).
 * In one process, on a real store: always file:// (a temp dir), and the real S3 and PostgreSQL
 * servers when scripts/test.sh started them (a loud SKIP otherwise, a failure with
 * RS_REQUIRE_SERVERS=1).
 *
 *   - the publisher refuses an empty source, objects without a name or project, duplicate keys
 *     and destructive changes, and writes nothing then; --allow-destructive lets one through;
 *   - a target write that fails leaves the applied version, the journal and the report where they
 *     were, says `error`, is retried with backoff (an explicit sync retries at once) and recovers;
 *     a deleted target is rewritten;
 *   - a HEAD that lags the log never takes a region backwards; a store reset behind a region is
 *     reported, not followed;
 *   - a refused entry is retried (and applied once repaired); a bad snapshot falls back to an
 *     older one; while failing, a poll costs one conditional request;
 *   - one agent per target: a second one is refused with the holder's name.
 * The same faults against real regsyncd processes (a full tmpfs, a read-only remount): e2e_truth.sh. */
#include "rs_test.h"

#include "rs_agent.h"
#include "rs_buf.h"
#include "rs_drift.h"
#include "rs_generate.h"
#include "rs_journal.h"
#include "rs_log.h"
#include "rs_logproto.h"
#include "rs_publisher.h"
#include "rs_time.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *store_url; /* the store of the current suite */
static char *work;      /* temp dir for targets and state */
static int seq;

/* ---------------------------------------------------------------- fixture */

/* One test's world: a fresh sub-store, a publisher on it, and a generated registry that each
 * publish mutates a little. */
typedef struct world {
    char *store;
    rs_storage *s;
    rs_publisher *p;
    uint8_t *cur;   /* the registry last published */
    size_t cur_len;
    char digests[16][65]; /* digest of version v */
    uint64_t version;
} world;

/* a new sub-store per test; seq also names the test's targets and state dirs */
static char *fresh_store(void)
{
    seq++;
    return rs_test_fresh_store(store_url, work, "rst");
}

static void reg_hex(const rs_registry *r, char out[65])
{
    uint8_t d[RS_DIGEST_LEN];
    rs_registry_digest(r, d);
    rs_hex(d, RS_DIGEST_LEN, out);
}

/* source: NULL (publish registries directly) or a key in the store ("registry.db") */
static void world_open(world *w, const char *source, uint64_t snapshot_every, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    rs_error e = {0};
    w->store = fresh_store();
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(w->store, NULL, &w->s, &e), RS_OK);
    rs_publisher_opts po = {.publisher_id = "truth-publisher", .snapshot_every = snapshot_every};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_open(w->s, source, NULL, &po, &w->p, &e), RS_OK);
    rs_gen_params gp;
    rs_gen_defaults(&gp);
    gp.seed = seed;
    gp.target_bytes = 30000;
    CU_ASSERT_EQUAL_FATAL(rs_generate(&gp, &w->cur, &w->cur_len, NULL), RS_OK);
}

static void world_close(world *w)
{
    rs_publisher_close(w->p);
    rs_storage_close(w->s);
    free(w->cur);
    free(w->store);
}

/* Publishes the next version: a mutation of k objects (k = 0: the current registry as is). */
static void world_publish(world *w, unsigned k)
{
    rs_error e = {0};
    if (k) {
        uint8_t *m;
        size_t ml;
        CU_ASSERT_EQUAL_FATAL(rs_mutate(w->cur, w->cur_len, 1000 + w->version, k, &m, &ml, NULL, NULL), RS_OK);
        free(w->cur);
        w->cur = m;
        w->cur_len = ml;
    }
    rs_registry *r;
    CU_ASSERT_EQUAL_FATAL(rs_registry_decode(w->cur, w->cur_len, NULL, &r, &e), RS_OK);
    rs_publish_result res;
    int rc = rs_publisher_publish_registry(w->p, r, "t", &res, &e);
    if (rc)
        fprintf(stderr, "publish: %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    CU_ASSERT_EQUAL_FATAL(res.version, w->version + 1);
    w->version = res.version;
    if (w->version < 16)
        reg_hex(r, w->digests[w->version]);
    rs_registry_free(r);
}

typedef struct agent_opts {
    const char *region;
    int64_t poll_ms;           /* 0: 100 */
    int64_t max_staleness_ms;  /* 0: default */
    const char *target;        /* NULL: <work>/<region>-<seq>.db */
    const char *state_dir;     /* NULL: <work>/state-<region>-<seq> */
} agent_opts;

static rs_agent *agent_open(const world *w, const agent_opts *o, rs_error *e)
{
    char *target = o->target ? strdup(o->target) : rs_test_fmt("%s/%s-%d.db", work, o->region, seq);
    char *state = o->state_dir ? strdup(o->state_dir) : rs_test_fmt("%s/state-%s-%d", work, o->region, seq);
    rs_agent_config c = {.region = o->region,
                         .store_url = w->store,
                         .target = target,
                         .state_dir = state,
                         .poll_interval_ms = o->poll_ms ? o->poll_ms : 100,
                         .heartbeat_interval_ms = 1000,
                         .max_staleness_ms = o->max_staleness_ms};
    rs_agent *a = NULL;
    if (rs_agent_open(&c, &a, e) && !o->target)
        fprintf(stderr, "agent open: %s\n", e->msg);
    free(target);
    free(state);
    return a;
}

static char *agent_target(const char *region) { return rs_test_fmt("%s/%s-%d.db", work, region, seq); }
static char *agent_state(const char *region) { return rs_test_fmt("%s/state-%s-%d", work, region, seq); }

static void file_hex(const char *path, char out[65])
{
    rs_registry *r;
    if (rs_registry_load_file(path, NULL, &r, NULL) != RS_OK) {
        snprintf(out, 65, "unreadable");
        return;
    }
    reg_hex(r, out);
    rs_registry_free(r);
}

static uint64_t journal_last_version(const char *state_dir)
{
    rs_journal *j;
    rs_journal_opts jo = {.readonly = true, .skip_integrity_check = true};
    if (rs_journal_open(state_dir, &jo, &j, NULL))
        return 0;
    rs_journal_entry last = {0};
    uint64_t v = rs_journal_last(j, &last, NULL) == RS_OK ? last.version : 0;
    rs_journal_entry_clear(&last);
    rs_journal_close(j);
    return v;
}

/* Steps until applied_version reaches v or the time runs out; returns the last status. */
static void step_until_applied(rs_agent *a, uint64_t v, int64_t max_ms, rs_agent_status *st)
{
    int64_t end = rs_mono_ms() + max_ms;
    for (;;) {
        rs_error e = {0};
        rs_agent_step(a, NULL, &e);
        rs_agent_status_get(a, st);
        if (st->applied_version >= v || rs_mono_ms() > end)
            return;
        usleep(20000);
    }
}

static uint64_t requests(rs_agent *a)
{
    rs_agent_status st;
    rs_agent_status_get(a, &st);
    return st.store.requests;
}

static bool store_has(rs_storage *s, const char *key)
{
    uint8_t *d;
    size_t l;
    if (rs_storage_get(s, key, NULL, &d, &l, NULL, NULL) != RS_OK)
        return false;
    free(d);
    return true;
}

static void put_key(rs_storage *s, const char *key, const void *data, size_t len)
{
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_put(s, key, data, len, RS_PUT_ALWAYS, NULL, NULL, &e), RS_OK);
}

static uint8_t *get_key(rs_storage *s, const char *key, size_t *len)
{
    uint8_t *d = NULL;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_get(s, key, NULL, &d, len, NULL, &e), RS_OK);
    return d;
}

static uint64_t head_version(rs_storage *s)
{
    rs_head h;
    if (rs_log_read_head(s, NULL, &h, NULL, NULL) != RS_OK)
        return 0;
    uint64_t v = h.version;
    rs_head_clear(&h);
    return v;
}

/* ---------------------------------------------------------------- 1. the publisher's refusals */

/* Publishes the store key "registry.db" (the publisher's source) holding data; returns the code. */
static int publish_source(world *w, const void *data, size_t len, rs_publish_result *res, rs_error *e)
{
    put_key(w->s, "registry.db", data, len);
    return rs_publisher_publish(w->p, true, res, e);
}

/* A registry holding the first keep_pct percent of cur's keyed objects (singletons kept). */
static uint8_t *shrink(const uint8_t *b, size_t l, unsigned keep_pct, size_t *out_len)
{
    rs_registry *r;
    CU_ASSERT_EQUAL_FATAL(rs_registry_decode(b, l, NULL, &r, NULL), RS_OK);
    size_t keyed = 0;
    for (size_t i = 0; i < rs_registry_count(r); i++)
        if (!rs_kind_is_singleton(rs_registry_at(r, i)->kind))
            keyed++;
    size_t keep = keyed * keep_pct / 100, seen = 0;
    for (size_t i = 0; i < rs_registry_count(r);) {
        const rs_object *o = rs_registry_at(r, i);
        if (rs_kind_is_singleton(o->kind) || seen++ < keep) {
            i++;
            continue;
        }
        char project[512], name[512];
        snprintf(project, sizeof project, "%s", o->project);
        snprintf(name, sizeof name, "%s", o->name);
        CU_ASSERT_EQUAL_FATAL(rs_registry_delete(r, o->kind, project, name, o->ordinal, NULL), RS_OK);
    }
    uint8_t *out;
    CU_ASSERT_EQUAL_FATAL(rs_registry_encode(r, &out, out_len, NULL), RS_OK);
    rs_registry_free(r);
    return out;
}

static void test_publisher_refusals(void)
{
    world w;
    world_open(&w, "registry.db", 100, 11);
    rs_error e = {0};
    rs_publish_result res;
    CU_ASSERT_EQUAL_FATAL(publish_source(&w, w.cur, w.cur_len, &res, &e), RS_OK);
    CU_ASSERT_EQUAL(res.version, 1);
    char key2[64];
    rs_log_entry_key(2, key2);

    /* a 0-byte source (a truncated write) */
    int rc = publish_source(&w, "", 0, &res, &e);
    CU_ASSERT_EQUAL(rc, RS_EINVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "empty (0 bytes)"));
    CU_ASSERT(res.source_failed);
    /* the two bytes 0a 00: one entity without a name or project */
    rc = publish_source(&w, "\x0a\x00", 2, &res, &e);
    CU_ASSERT_EQUAL(rc, RS_EINVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "entities[0] has an empty name"));
    /* a file concatenated with itself: every object twice */
    uint8_t *twice = malloc(2 * w.cur_len);
    memcpy(twice, w.cur, w.cur_len);
    memcpy(twice + w.cur_len, w.cur, w.cur_len);
    rc = publish_source(&w, twice, 2 * w.cur_len, &res, &e);
    CU_ASSERT_EQUAL(rc, RS_EINVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "a second object with the key"));
    free(twice);
    /* deleting 70% of the objects, then all of them */
    size_t sl;
    uint8_t *small = shrink(w.cur, w.cur_len, 30, &sl);
    rc = publish_source(&w, small, sl, &res, &e);
    CU_ASSERT_EQUAL(rc, RS_EINVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "more than max_delete_fraction 0.50"));
    size_t el;
    uint8_t *none = shrink(w.cur, w.cur_len, 0, &el);
    rc = publish_source(&w, none, el, &res, &e);
    CU_ASSERT_EQUAL(rc, RS_EINVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "deletes all"));
    /* nothing was written by any of them */
    CU_ASSERT_EQUAL(head_version(w.s), 1);
    CU_ASSERT(!store_has(w.s, key2));
    /* an agent following meanwhile stays at version 1 */
    agent_opts ao = {.region = "guarded"};
    rs_agent *a = agent_open(&w, &ao, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(rs_agent_sync_once(a, &e), RS_OK);
    rs_agent_status st;
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 1);
    /* the operator says so, for one publish: the 70% deletion goes through ... */
    rs_publisher_allow_destructive_once(w.p);
    CU_ASSERT_EQUAL(publish_source(&w, small, sl, &res, &e), RS_OK);
    CU_ASSERT(res.changed);
    CU_ASSERT_EQUAL(res.version, 2);
    /* ... and the next destructive one is refused again */
    rc = publish_source(&w, none, el, &res, &e);
    CU_ASSERT_EQUAL(rc, RS_EINVALID);
    CU_ASSERT_EQUAL(head_version(w.s), 2);
    /* once allowed, an empty source publishes an empty registry */
    rs_publisher_allow_destructive_once(w.p);
    CU_ASSERT_EQUAL(publish_source(&w, "", 0, &res, &e), RS_OK);
    CU_ASSERT_EQUAL(res.version, 3);
    CU_ASSERT_EQUAL(rs_agent_sync_once(a, &e), RS_OK);
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 3);
    rs_agent_close(a);
    free(small);
    free(none);
    world_close(&w);
}

/* max_delete_fraction 1: any partial deletion passes, emptying the registry does not; a first
 * version may be anything Feast writes, even without objects. */
static void test_publisher_fraction_option(void)
{
    world w;
    world_open(&w, NULL, 100, 12);
    rs_publisher_close(w.p);
    rs_error e = {0};
    rs_publisher_opts po = {.max_delete_fraction = 1.0};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_open(w.s, NULL, NULL, &po, &w.p, &e), RS_OK);
    /* a registry without objects as version 1: nothing to delete, nothing refused */
    size_t el;
    uint8_t *none = shrink(w.cur, w.cur_len, 0, &el);
    rs_registry *r;
    CU_ASSERT_EQUAL_FATAL(rs_registry_decode(none, el, NULL, &r, NULL), RS_OK);
    rs_publish_result res;
    CU_ASSERT_EQUAL(rs_publisher_publish_registry(w.p, r, "t", &res, &e), RS_OK);
    CU_ASSERT_EQUAL(res.version, 1);
    rs_registry_free(r);
    w.version = 1;
    world_publish(&w, 0); /* the full registry */
    size_t sl;
    uint8_t *small = shrink(w.cur, w.cur_len, 10, &sl);
    CU_ASSERT_EQUAL_FATAL(rs_registry_decode(small, sl, NULL, &r, NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_publisher_publish_registry(w.p, r, "t", &res, &e), RS_OK); /* 90% deleted */
    CU_ASSERT_EQUAL(res.version, 3);
    rs_registry_free(r);
    CU_ASSERT_EQUAL_FATAL(rs_registry_decode(none, el, NULL, &r, NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_publisher_publish_registry(w.p, r, "t", &res, &e), RS_EINVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "deletes all"));
    rs_registry_free(r);
    CU_ASSERT_EQUAL(head_version(w.s), 3);
    free(small);
    free(none);
    world_close(&w);
}

/* ---------------------------------------------------------------- 2. failed writes */

static void report_of(world *w, const char *region, rs_region_report *rep)
{
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_drift_read_report(w->s, region, rep, &e), RS_OK);
}

/* The target path becomes a directory: the write fails. Nothing claims version 2 until the
 * target is writable again; then it is written by itself (backoff) or at once on a sync. */
static void test_failed_write_not_applied(void)
{
    world w;
    world_open(&w, NULL, 100, 13);
    world_publish(&w, 0);
    rs_error e = {0};
    agent_opts ao = {.region = "full-disk", .poll_ms = 300, .max_staleness_ms = 1000};
    rs_agent *a = agent_open(&w, &ao, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(rs_agent_sync_once(a, &e), RS_OK);
    char *target = agent_target("full-disk"), *state = agent_state("full-disk");
    CU_ASSERT_EQUAL_FATAL(unlink(target), 0);
    CU_ASSERT_EQUAL_FATAL(mkdir(target, 0755), 0);
    world_publish(&w, 3);
    bool changed = true;
    int rc = rs_agent_step(a, &changed, &e);
    CU_ASSERT_NOT_EQUAL(rc, RS_OK);
    CU_ASSERT(!changed);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, target));
    rs_agent_status st;
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 1);
    CU_ASSERT_EQUAL(st.head_version, 2);
    CU_ASSERT_STRING_EQUAL(st.state, "error");
    CU_ASSERT(st.error_current);
    CU_ASSERT_EQUAL(st.errors[2], 1); /* "target" */
    char d1[65];
    rs_hex(st.digest, RS_DIGEST_LEN, d1);
    CU_ASSERT_STRING_EQUAL(d1, w.digests[1]); /* the digest of what is applied, not of v2 */
    CU_ASSERT_EQUAL(journal_last_version(state), 1);
    /* the report says the same */
    rs_region_report rep;
    report_of(&w, "full-disk", &rep);
    CU_ASSERT_EQUAL(rep.applied_version, 1);
    CU_ASSERT_STRING_EQUAL(rep.state, "error");
    CU_ASSERT_EQUAL(rep.attempted_version, 2);
    rs_region_report_clear(&rep);
    /* backing off: a step now costs two conditional requests (HEAD, the region's control
     * record) and writes nothing */
    uint64_t r0 = requests(a);
    rc = rs_agent_step(a, &changed, &e);
    CU_ASSERT_EQUAL(requests(a) - r0, 2);
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 1);
    CU_ASSERT_STRING_EQUAL(st.state, "error");
    /* not ready once max_staleness (1s) passed without a successful step */
    usleep(1200000);
    rs_agent_step(a, NULL, &e);
    rs_agent_status_get(a, &st);
    CU_ASSERT(!st.ready);
    /* the disk is back: an explicit sync retries at once */
    CU_ASSERT_EQUAL_FATAL(rmdir(target), 0);
    rs_agent_wake(a);
    rc = rs_agent_step(a, &changed, &e);
    CU_ASSERT_EQUAL(rc, RS_OK);
    CU_ASSERT(changed);
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 2);
    CU_ASSERT_STRING_EQUAL(st.state, "following");
    CU_ASSERT(!st.error_current);
    CU_ASSERT(st.last_error[0] != '\0'); /* the last error stays visible */
    CU_ASSERT(st.ready);
    char got[65];
    file_hex(target, got);
    CU_ASSERT_STRING_EQUAL(got, w.digests[2]);
    CU_ASSERT_EQUAL(journal_last_version(state), 2);
    report_of(&w, "full-disk", &rep);
    CU_ASSERT_EQUAL(rep.applied_version, 2);
    CU_ASSERT_STRING_EQUAL(rep.state, "following");
    rs_region_report_clear(&rep);

    /* again, and this time it recovers by itself (backoff, no sync request); versions published
     * while it fails are all in the one write that succeeds */
    CU_ASSERT_EQUAL_FATAL(unlink(target), 0);
    CU_ASSERT_EQUAL_FATAL(mkdir(target, 0755), 0);
    world_publish(&w, 2);
    rs_agent_step(a, NULL, &e); /* notices the missing target, the rewrite fails */
    world_publish(&w, 2);
    rs_agent_step(a, NULL, &e);
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 2);
    CU_ASSERT_EQUAL(journal_last_version(state), 2);
    CU_ASSERT_EQUAL_FATAL(rmdir(target), 0);
    step_until_applied(a, 4, 10000, &st);
    CU_ASSERT_EQUAL(st.applied_version, 4);
    file_hex(target, got);
    CU_ASSERT_STRING_EQUAL(got, w.digests[4]);
    CU_ASSERT_EQUAL(journal_last_version(state), 4);
    rs_agent_close(a);
    free(target);
    free(state);
    world_close(&w);
}

/* A target deleted under the agent is rewritten at the next poll; the journal keeps one row. */
static void test_deleted_target_rewritten(void)
{
    world w;
    world_open(&w, NULL, 100, 14);
    world_publish(&w, 0);
    world_publish(&w, 2);
    rs_error e = {0};
    agent_opts ao = {.region = "deleted"};
    rs_agent *a = agent_open(&w, &ao, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(rs_agent_sync_once(a, &e), RS_OK);
    char *target = agent_target("deleted"), *state = agent_state("deleted");
    CU_ASSERT_EQUAL_FATAL(unlink(target), 0);
    bool changed = false;
    CU_ASSERT_EQUAL(rs_agent_step(a, &changed, &e), RS_OK);
    CU_ASSERT(changed);
    char got[65];
    file_hex(target, got);
    CU_ASSERT_STRING_EQUAL(got, w.digests[2]);
    rs_agent_status st;
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 2);
    CU_ASSERT(st.target_known);
    rs_journal *j;
    rs_journal_opts jo = {.readonly = true, .skip_integrity_check = true};
    CU_ASSERT_EQUAL_FATAL(rs_journal_open(state, &jo, &j, &e), RS_OK);
    rs_journal_entry *v;
    size_t n;
    CU_ASSERT_EQUAL(rs_journal_list(j, 0, 10, &v, &n, &e), RS_OK);
    CU_ASSERT_EQUAL(n, 1); /* the bootstrap to 2; the rewrite adds no version */
    rs_journal_entries_free(v, n);
    rs_journal_close(j);
    rs_agent_close(a);
    free(target);
    free(state);
    world_close(&w);
}

/* ---------------------------------------------------------------- 4. a lagging HEAD */

static void test_lagging_head_never_backwards(void)
{
    world w;
    world_open(&w, NULL, 100, 15);
    world_publish(&w, 0);
    size_t h1l;
    uint8_t *head1 = get_key(w.s, RS_KEY_HEAD, &h1l);
    world_publish(&w, 2);
    size_t hl;
    uint8_t *head2 = get_key(w.s, RS_KEY_HEAD, &hl);
    world_publish(&w, 2);
    rs_error e = {0};
    agent_opts ao = {.region = "lagging"};
    rs_agent *a = agent_open(&w, &ao, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(rs_agent_sync_once(a, &e), RS_OK);
    char *target = agent_target("lagging");
    rs_agent_status st;
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 3);
    uint64_t boots = st.bootstraps;
    /* HEAD restored from an old copy: it says 2 while log/3 exists */
    put_key(w.s, RS_KEY_HEAD, head2, hl);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(rs_agent_step(a, NULL, &e), RS_OK);
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 3);
    CU_ASSERT_EQUAL(st.bootstraps, boots);
    CU_ASSERT_EQUAL(st.head_version, 3);
    CU_ASSERT_STRING_EQUAL(st.state, "following");
    char got[65];
    file_hex(target, got);
    CU_ASSERT_STRING_EQUAL(got, w.digests[3]);
    /* a restart with HEAD lagging: the same */
    rs_agent_close(a);
    a = agent_open(&w, &ao, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(rs_agent_sync_once(a, &e), RS_OK);
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 3);
    file_hex(target, got);
    CU_ASSERT_STRING_EQUAL(got, w.digests[3]);
    /* the store reset behind the region (log/2 and log/3 gone, HEAD at 1): reported, never
     * followed */
    char key[64];
    rs_log_entry_key(3, key);
    CU_ASSERT_EQUAL(rs_storage_delete(w.s, key, &e), RS_OK);
    rs_log_entry_key(2, key);
    CU_ASSERT_EQUAL(rs_storage_delete(w.s, key, &e), RS_OK);
    put_key(w.s, RS_KEY_HEAD, head1, h1l);
    int rc = rs_agent_step(a, NULL, &e);
    CU_ASSERT_EQUAL(rc, RS_ECONFLICT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "reset"));
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 3);
    CU_ASSERT_STRING_EQUAL(st.state, "diverged");
    file_hex(target, got);
    CU_ASSERT_STRING_EQUAL(got, w.digests[3]);
    /* an explicit rollback does follow it */
    CU_ASSERT_EQUAL(rs_agent_rollback(a, 1, &e), RS_OK);
    rc = rs_agent_sync_once(a, &e);
    if (rc)
        fprintf(stderr, "rollback: %s\n", e.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 1);
    CU_ASSERT_STRING_EQUAL(st.state, "pinned");
    file_hex(target, got);
    CU_ASSERT_STRING_EQUAL(got, w.digests[1]);
    rs_agent_close(a);
    free(head1);
    free(head2);
    free(target);
    world_close(&w);
}

/* ---------------------------------------------------------------- 5. retries */

static void test_refused_entry_retried(void)
{
    world w;
    world_open(&w, NULL, 100, 16);
    world_publish(&w, 0);
    rs_error e = {0};
    agent_opts ao = {.region = "refused"};
    rs_agent *a = agent_open(&w, &ao, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(rs_agent_sync_once(a, &e), RS_OK);
    world_publish(&w, 2);
    world_publish(&w, 2);
    char key2[64];
    rs_log_entry_key(2, key2);
    size_t gl;
    uint8_t *good = get_key(w.s, key2, &gl);
    put_key(w.s, key2, "garbage, not a change", 21);
    int rc = rs_agent_step(a, NULL, &e);
    CU_ASSERT_EQUAL(rc, RS_ECORRUPT);
    rs_agent_status st;
    rs_agent_status_get(a, &st);
    CU_ASSERT_STRING_EQUAL(st.state, "diverged");
    CU_ASSERT_EQUAL(st.applied_version, 1);
    CU_ASSERT_EQUAL(st.attempted_version, 3);
    /* repaired in the store: the agent retries (backoff) and applies 2 and 3 by itself */
    put_key(w.s, key2, good, gl);
    step_until_applied(a, 3, 10000, &st);
    CU_ASSERT_EQUAL(st.applied_version, 3);
    CU_ASSERT_STRING_EQUAL(st.state, "following");
    char got[65];
    rs_hex(st.target_digest, RS_DIGEST_LEN, got);
    CU_ASSERT_STRING_EQUAL(got, w.digests[3]);
    rs_agent_close(a);
    free(good);
    world_close(&w);
}

/* A bad newest snapshot: bootstrap falls back to an older snapshot plus the log; with nothing to
 * fall back on, the agent backs off instead of downloading the bad snapshot at every poll. */
static void test_bad_snapshot_fallback(void)
{
    world w;
    world_open(&w, NULL, 2, 17); /* snapshots at 1, 2, 4 */
    for (int i = 0; i < 5; i++)
        world_publish(&w, i ? 2 : 0);
    char snap4[64], snap2[64];
    rs_log_snapshot_key(4, snap4);
    rs_log_snapshot_key(2, snap2);
    size_t l2;
    uint8_t *s2 = get_key(w.s, snap2, &l2);
    rs_error e = {0};
    rs_agent_status st;
    /* a snapshot that does not decode, then one that decodes but is another version */
    const char *what[] = {"garbage", "the snapshot of version 2"};
    for (int k = 0; k < 2; k++) {
        if (k == 0)
            put_key(w.s, snap4, "not a registry at all", 21);
        else
            put_key(w.s, snap4, s2, l2);
        char region[32];
        snprintf(region, sizeof region, "fallback-%d", k);
        agent_opts ao = {.region = region};
        rs_agent *a = agent_open(&w, &ao, &e);
        CU_ASSERT_PTR_NOT_NULL_FATAL(a);
        int rc = rs_agent_sync_once(a, &e);
        if (rc)
            fprintf(stderr, "snapshot 4 = %s: %s\n", what[k], e.msg);
        CU_ASSERT_EQUAL(rc, RS_OK);
        rs_agent_status_get(a, &st);
        CU_ASSERT_EQUAL(st.applied_version, 5);
        char got[65];
        rs_hex(st.target_digest, RS_DIGEST_LEN, got);
        CU_ASSERT_STRING_EQUAL(got, w.digests[5]);
        rs_agent_close(a);
    }
    /* nothing to fall back on: entries before 4 compacted away (HEAD says the log starts at 4) */
    put_key(w.s, snap4, "not a registry at all", 21);
    rs_head h;
    char etag[RS_ETAG_MAX];
    CU_ASSERT_EQUAL_FATAL(rs_log_read_head(w.s, NULL, &h, etag, &e), RS_OK);
    h.oldest_version = 4;
    CU_ASSERT_EQUAL_FATAL(rs_log_write_head(w.s, &h, etag, etag, &e), RS_OK);
    rs_head_clear(&h);
    agent_opts ao = {.region = "no-fallback", .poll_ms = 400};
    rs_agent *a = agent_open(&w, &ao, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_NOT_EQUAL(rs_agent_step(a, NULL, &e), RS_OK);
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 0);
    CU_ASSERT_STRING_EQUAL(st.state, "diverged");
    /* within the backoff (400 ms) a poll is two conditional requests, no snapshot download */
    uint64_t r0 = requests(a), b0 = st.store.bytes_in;
    for (int i = 0; i < 3; i++)
        rs_agent_step(a, NULL, &e);
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.store.requests - r0, 6);
    CU_ASSERT(st.store.bytes_in - b0 < 2048);
    rs_agent_close(a);
    free(s2);
    world_close(&w);
}

/* ---------------------------------------------------------------- 7. one agent per target */

static void test_target_lock(void)
{
    world w;
    world_open(&w, NULL, 100, 18);
    world_publish(&w, 0);
    rs_error e = {0};
    agent_opts ao = {.region = "holder"};
    rs_agent *a = agent_open(&w, &ao, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(rs_agent_sync_once(a, &e), RS_OK);
    char *target = agent_target("holder");
    /* a temp file of the holder, mid-write */
    char *tmp = rs_test_fmt("%s/.holder-%d.db.regsync-inflight", work, seq);
    CU_ASSERT_EQUAL(rs_test_write_file(tmp, "x", 1), 0);
    char *state2 = rs_test_fmt("%s/state-intruder-%d", work, seq);
    agent_opts bo = {.region = "intruder", .target = target, .state_dir = state2};
    rs_error be = {0};
    rs_agent *b = agent_open(&w, &bo, &be);
    CU_ASSERT_PTR_NULL(b);
    CU_ASSERT_EQUAL(be.code, RS_ECONFLICT);
    CU_ASSERT_PTR_NOT_NULL(strstr(be.msg, "already written by another regsync agent"));
    CU_ASSERT_PTR_NOT_NULL(strstr(be.msg, "region holder"));
    struct stat sb;
    CU_ASSERT_EQUAL(stat(tmp, &sb), 0); /* the refused agent removed nothing */
    rs_agent_close(b);
    rs_agent_close(a);
    /* the holder is gone: the next agent takes the target (and clears the stale temp file) */
    b = agent_open(&w, &bo, &be);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_NOT_EQUAL(stat(tmp, &sb), 0);
    CU_ASSERT_EQUAL(rs_agent_sync_once(b, &be), RS_OK);
    rs_agent_close(b);
    free(tmp);
    free(state2);
    free(target);
    world_close(&w);
}

/* ---------------------------------------------------------------- suites */

RS_STORE_TEST(test_publisher_refusals)
RS_STORE_TEST(test_publisher_fraction_option)
RS_STORE_TEST(test_failed_write_not_applied)
RS_STORE_TEST(test_deleted_target_rewritten)
RS_STORE_TEST(test_lagging_head_never_backwards)
RS_STORE_TEST(test_refused_entry_retried)
RS_STORE_TEST(test_bad_snapshot_fallback)
RS_STORE_TEST(test_target_lock)

static void add_all(CU_pSuite s)
{
    CU_add_test(s, "publisher refuses empty, nameless, duplicate and destructive sources", test_publisher_refusals_guarded);
    CU_add_test(s, "max_delete_fraction 1: only emptying is refused", test_publisher_fraction_option_guarded);
    CU_add_test(s, "a failed target write is not applied; retried; recovers", test_failed_write_not_applied_guarded);
    CU_add_test(s, "a deleted target is rewritten", test_deleted_target_rewritten_guarded);
    CU_add_test(s, "a lagging HEAD never takes a region backwards", test_lagging_head_never_backwards_guarded);
    CU_add_test(s, "a refused entry is retried once repaired", test_refused_entry_retried_guarded);
    CU_add_test(s, "a bad snapshot falls back; backoff while failing", test_bad_snapshot_fallback_guarded);
    CU_add_test(s, "one agent per target", test_target_lock_guarded);
}

int main(void)
{
    rs_log_configure(RS_LOG_OFF, false, 2);
    CU_initialize_registry();
    rs_test_store_suites("truth", &store_url, &work, add_all);
    return rs_test_run();
}
