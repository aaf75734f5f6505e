/* test_dr.c: disaster recovery on real stores (docs/operations.md, "Disaster recovery"):
 * a publisher copying each version to its replicas (and repairing a replica that missed some),
 * a failed replica copy that never fails the primary publish, `mirror` resuming a copy that was
 * cut off, and fenced promotion (epochs): the old primary's publisher refused, an agent that
 * applied a lost version re-bootstrapping onto the new epoch, an agent never following a HEAD of
 * an older epoch, and the old primary rejoining as a replica. Primary and replica are two fresh
 * stores of the suite's backend: directories (file://), prefixes (S3, RGW), table prefixes
 * (PostgreSQL, MySQL). The unreachable replica is a PostgreSQL URL on a closed TCP port (a real refused connection). */
#include "rs_test.h"

#include "rs_agent.h"
#include "rs_drift.h"
#include "rs_generate.h"
#include "rs_journal.h"
#include "rs_log.h"
#include "rs_logproto.h"
#include "rs_publisher.h"
#include "rs_replica.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *store_url;
static char *work;
static int seq;

/* a new sub-store per test; seq also names the test's targets and state dirs */
static char *fresh_store(void)
{
    seq++;
    return rs_test_fresh_store(store_url, work, "dr");
}

static rs_storage *open_store(const char *url)
{
    rs_storage *s = NULL;
    rs_error e = {0};
    int rc = rs_storage_open(url, NULL, &s, &e);
    if (rc)
        fprintf(stderr, "open %s: %s\n", url, e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    return s;
}

/* A chain of registries: gen(seed) then mutations; versions[i] is the i-th content. */
typedef struct chain {
    uint8_t *bytes;
    size_t len;
} chain;

static void chain_start(chain *c, uint64_t seed)
{
    rs_gen_params p;
    rs_gen_defaults(&p);
    p.seed = seed;
    p.target_bytes = 30000;
    CU_ASSERT_EQUAL_FATAL(rs_generate(&p, &c->bytes, &c->len, NULL), RS_OK);
}

static rs_registry *chain_next(chain *c, uint64_t seed)
{
    uint8_t *m;
    size_t ml;
    CU_ASSERT_EQUAL_FATAL(rs_mutate(c->bytes, c->len, seed, 3, &m, &ml, NULL, NULL), RS_OK);
    free(c->bytes);
    c->bytes = m;
    c->len = ml;
    rs_registry *r;
    CU_ASSERT_EQUAL_FATAL(rs_registry_decode(m, ml, NULL, &r, NULL), RS_OK);
    return r;
}

static uint64_t publish(rs_publisher *p, chain *c, uint64_t seed, rs_publish_result *res)
{
    rs_registry *r = chain_next(c, seed);
    rs_error e = {0};
    int rc = rs_publisher_publish_registry(p, r, "t", res, &e);
    if (rc)
        fprintf(stderr, "publish: %s\n", e.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    rs_registry_free(r);
    return res->version;
}

static rs_head read_head(rs_storage *s)
{
    rs_head h;
    char etag[RS_ETAG_MAX];
    int rc = rs_log_read_head(s, NULL, &h, etag, NULL);
    CU_ASSERT_EQUAL(rc, RS_OK);
    if (rc)
        memset(&h, 0, sizeof h);
    return h;
}

static bool same_object(rs_storage *a, rs_storage *b, const char *key)
{
    uint8_t *x = NULL, *y = NULL;
    size_t xl = 0, yl = 0;
    bool ok = rs_storage_get(a, key, NULL, &x, &xl, NULL, NULL) == RS_OK && rs_storage_get(b, key, NULL, &y, &yl, NULL, NULL) == RS_OK &&
              xl == yl && memcmp(x, y, xl) == 0;
    free(x);
    free(y);
    return ok;
}

static bool has_key(rs_storage *s, const char *key)
{
    uint8_t *x = NULL;
    size_t xl;
    bool ok = rs_storage_get(s, key, NULL, &x, &xl, NULL, NULL) == RS_OK;
    free(x);
    return ok;
}

/* ---------------------------------------------------------------- replicas */

static void test_publisher_copies_to_replicas(void)
{
    char *purl = fresh_store(), *rurl = fresh_store();
    rs_storage *ps = open_store(purl), *rs = open_store(rurl);
    chain c;
    chain_start(&c, 11);
    rs_error e = {0};
    /* versions 1-3 before the replica existed (a replica added later, or down all along) */
    rs_publisher *p0;
    rs_publisher_opts o0 = {.publisher_id = "p0", .snapshot_every = 2};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_open(ps, NULL, NULL, &o0, &p0, &e), RS_OK);
    rs_publish_result res;
    for (int i = 0; i < 3; i++)
        publish(p0, &c, 100 + (uint64_t)i, &res);
    CU_ASSERT_EQUAL(res.version, 3);
    rs_publisher_close(p0);
    CU_ASSERT(!has_key(rs, RS_KEY_HEAD));
    /* a publisher with the replica and a second one nobody answers at (a closed port) */
    const char *names[] = {"r1", "dead"};
    const char *urls[] = {rurl, "postgresql://nobody@127.0.0.1:1/none"};
    rs_publisher *p;
    rs_publisher_opts o = {.publisher_id = "p1", .snapshot_every = 2, .replica_names = names, .replica_urls = urls, .n_replicas = 2};
    rs_storage_opts so = {.max_retries = -1, .connect_timeout_ms = 500, .timeout_ms = 2000};
    int orc = rs_publisher_open(ps, NULL, &so, &o, &p, &e);
    if (orc)
        fprintf(stderr, "publisher open: %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(orc, RS_OK);
    CU_ASSERT_EQUAL(publish(p, &c, 200, &res), 4);
    CU_ASSERT(res.changed);
    CU_ASSERT_EQUAL(res.replica_failures, 1); /* the dead one: counted, the publish succeeded */
    size_t n;
    const rs_publisher_replica_stats *st = rs_publisher_replicas(p, &n);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(st[0].version, 4);
    CU_ASSERT(!st[0].behind);
    CU_ASSERT_EQUAL(st[1].failures, 1);
    CU_ASSERT(st[1].behind);
    CU_ASSERT(strstr(st[1].last_error, "127.0.0.1") != NULL || st[1].last_error[0]);
    /* the replica got the whole missing range 1-4, the snapshots, and HEAD byte for byte */
    for (uint64_t v = 1; v <= 4; v++) {
        char key[64];
        rs_log_entry_key(v, key);
        CU_ASSERT(same_object(ps, rs, key));
    }
    char sk[64];
    rs_log_snapshot_key(2, sk);
    CU_ASSERT(same_object(ps, rs, sk));
    rs_log_snapshot_key(4, sk);
    CU_ASSERT(same_object(ps, rs, sk));
    CU_ASSERT(same_object(ps, rs, RS_KEY_HEAD));
    /* each later version is copied too */
    CU_ASSERT_EQUAL(publish(p, &c, 201, &res), 5);
    CU_ASSERT_EQUAL(res.replica_failures, 1);
    CU_ASSERT(same_object(ps, rs, RS_KEY_HEAD));
    rs_head rh = read_head(rs);
    CU_ASSERT_EQUAL(rh.version, 5);
    CU_ASSERT_EQUAL(rh.epoch, 0);
    rs_head_clear(&rh);
    /* an agent reading only the replica reaches the primary's digest */
    char *target = rs_test_fmt("%s/copy-%d.db", work, seq), *state = rs_test_fmt("%s/copy-state-%d", work, seq);
    rs_agent_config ac = {.region = "r1", .store_url = rurl, .target = target, .state_dir = state, .poll_interval_ms = 100};
    rs_agent *a;
    CU_ASSERT_EQUAL_FATAL(rs_agent_open(&ac, &a, &e), RS_OK);
    CU_ASSERT_EQUAL(rs_agent_sync_once(a, &e), RS_OK);
    rs_agent_status as;
    rs_agent_status_get(a, &as);
    rs_head ph = read_head(ps);
    CU_ASSERT_EQUAL(as.applied_version, 5);
    CU_ASSERT_EQUAL(memcmp(as.digest, ph.digest, RS_DIGEST_LEN), 0);
    rs_head_clear(&ph);
    rs_agent_close(a);
    rs_publisher_close(p);
    rs_storage_close(ps);
    rs_storage_close(rs);
    free(c.bytes);
    free(target);
    free(state);
    free(purl);
    free(rurl);
}

static void test_mirror_resumes(void)
{
    char *purl = fresh_store(), *rurl = fresh_store(), *r2url = fresh_store();
    rs_storage *ps = open_store(purl), *rs = open_store(rurl), *r2 = open_store(r2url);
    chain c;
    chain_start(&c, 12);
    rs_error e = {0};
    rs_publisher *p;
    rs_publisher_opts o = {.publisher_id = "p", .snapshot_every = 3};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_open(ps, NULL, NULL, &o, &p, &e), RS_OK);
    rs_publish_result res;
    for (int i = 0; i < 7; i++)
        publish(p, &c, 300 + (uint64_t)i, &res);
    CU_ASSERT_EQUAL(res.version, 7);
    rs_replica_result rr;
    CU_ASSERT_EQUAL(rs_replica_sync(ps, rs, &rr, &e), RS_OK);
    CU_ASSERT_EQUAL(rr.entries_copied, 7);
    CU_ASSERT_EQUAL(rr.snapshots_copied, 3); /* 1, 3, 6 */
    CU_ASSERT(rr.head_written);
    CU_ASSERT(same_object(ps, rs, RS_KEY_HEAD));
    /* idempotent: nothing to do */
    CU_ASSERT_EQUAL(rs_replica_sync(ps, rs, &rr, &e), RS_OK);
    CU_ASSERT(!rr.head_written);
    CU_ASSERT_EQUAL(rr.entries_copied, 0);
    /* a mirror cut off after four entries (no HEAD yet): the next run skips what is there */
    for (uint64_t v = 1; v <= 4; v++) {
        char key[64];
        rs_log_entry_key(v, key);
        uint8_t *d;
        size_t l;
        CU_ASSERT_EQUAL_FATAL(rs_storage_get(ps, key, NULL, &d, &l, NULL, NULL), RS_OK);
        CU_ASSERT_EQUAL(rs_storage_put(r2, key, d, l, RS_PUT_IF_ABSENT, NULL, NULL, NULL), RS_OK);
        free(d);
    }
    CU_ASSERT(!has_key(r2, RS_KEY_HEAD));
    CU_ASSERT_EQUAL(rs_replica_sync(ps, r2, &rr, &e), RS_OK);
    CU_ASSERT_EQUAL(rr.entries_skipped, 4);
    CU_ASSERT_EQUAL(rr.entries_copied, 3);
    CU_ASSERT(same_object(ps, r2, RS_KEY_HEAD));
    /* two more versions: only they are copied */
    publish(p, &c, 310, &res);
    publish(p, &c, 311, &res);
    CU_ASSERT_EQUAL(rs_replica_sync(ps, r2, &rr, &e), RS_OK);
    CU_ASSERT_EQUAL(rr.dst_version_before, 7);
    CU_ASSERT_EQUAL(rr.entries_copied, 2);
    CU_ASSERT_EQUAL(rr.entries_skipped, 0);
    /* a replica holding another history is refused, nothing written */
    char k9[64];
    rs_log_entry_key(9, k9);
    uint8_t *d8;
    size_t l8;
    char k8[64];
    rs_log_entry_key(8, k8);
    CU_ASSERT_EQUAL_FATAL(rs_storage_get(ps, k8, NULL, &d8, &l8, NULL, NULL), RS_OK);
    publish(p, &c, 312, &res); /* 10 */
    CU_ASSERT_EQUAL(res.version, 10);
    char k10[64];
    rs_log_entry_key(10, k10);
    /* r2 gets a foreign log/10 (entry 8's bytes would not even be version 10: use a copy of
     * version 10 from a different history instead: a fresh publisher elsewhere) */
    char *furl = fresh_store();
    rs_storage *fs = open_store(furl);
    rs_publisher *fp;
    rs_publisher_opts fo = {.publisher_id = "foreign"};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_open(fs, NULL, NULL, &fo, &fp, &e), RS_OK);
    chain c2;
    chain_start(&c2, 99);
    for (int i = 0; i < 10; i++)
        publish(fp, &c2, 900 + (uint64_t)i, &res);
    uint8_t *fd;
    size_t fl;
    CU_ASSERT_EQUAL_FATAL(rs_storage_get(fs, k10, NULL, &fd, &fl, NULL, NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(r2, k10, fd, fl, RS_PUT_IF_ABSENT, NULL, NULL, NULL), RS_OK);
    free(fd);
    int rc = rs_replica_sync(ps, r2, &rr, &e);
    CU_ASSERT_EQUAL(rc, RS_ECONFLICT);
    CU_ASSERT(strstr(e.msg, "differs") != NULL);
    rs_head h2 = read_head(r2);
    CU_ASSERT_EQUAL(h2.version, 9); /* HEAD not moved past what it holds */
    rs_head_clear(&h2);
    free(d8);
    rs_publisher_close(fp);
    rs_storage_close(fs);
    free(c2.bytes);
    free(furl);
    rs_publisher_close(p);
    rs_storage_close(ps);
    rs_storage_close(rs);
    rs_storage_close(r2);
    free(c.bytes);
    free(purl);
    free(rurl);
    free(r2url);
}

/* ---------------------------------------------------------------- epochs */

static rs_agent *open_dr_agent(const char *purl, const char *rurl, const char *name, bool replica_first, rs_error *e)
{
    char *target = rs_test_fmt("%s/%s-%d.db", work, name, seq), *state = rs_test_fmt("%s/%s-state-%d", work, name, seq);
    char *rep = rs_test_fmt("r=%s", rurl);
    const char *reps[] = {rep};
    const char *order_p[] = {"primary", "r"}, *order_r[] = {"r", "primary"};
    rs_agent_config ac = {.region = name, .store_url = purl, .target = target, .state_dir = state, .poll_interval_ms = 100,
                          .replicas = reps, .n_replicas = 1, .read_from = replica_first ? order_r : order_p, .n_read_from = 2,
                          .failover_after_ms = 0};
    rs_agent *a = NULL;
    int rc = rs_agent_open(&ac, &a, e);
    if (rc)
        fprintf(stderr, "agent open: %s\n", e->msg);
    free(target);
    free(state);
    free(rep);
    return a;
}

/* Writes a's region report now and reads it back from store s (decoded). */
static int report_of(rs_agent *a, rs_storage *s, rs_region_report *out)
{
    rs_error e = {0};
    memset(out, 0, sizeof *out);
    if (rs_agent_report(a, &e)) {
        fprintf(stderr, "report: %s\n", e.msg);
        return RS_EIO;
    }
    rs_agent_status st;
    rs_agent_status_get(a, &st);
    char key[256];
    rs_log_instance_key(st.region, st.instance, key, sizeof key);
    uint8_t *d = NULL;
    size_t l = 0;
    int rc = rs_storage_get(s, key, NULL, &d, &l, NULL, &e);
    if (rc == RS_OK)
        rc = rs_region_report_decode(d, l, out, &e);
    if (rc)
        fprintf(stderr, "report %s: %s\n", key, e.msg);
    free(d);
    return rc;
}

static bool journal_has_event(rs_agent *a, const char *kind, const char *needle)
{
    const rs_agent_config *cfg = rs_agent_config_get(a);
    rs_journal *j;
    rs_journal_opts jo = {.readonly = true};
    rs_error je = {0};
    if (rs_journal_open(cfg->state_dir, &jo, &j, &je)) {
        fprintf(stderr, "journal %s: %s\n", cfg->state_dir, je.msg);
        return false;
    }
    rs_journal_event_rec *ev;
    size_t n;
    bool found = false;
    if (rs_journal_events_recent(j, kind, 50, &ev, &n, NULL) == RS_OK) {
        for (size_t i = 0; i < n; i++)
            if (strstr(ev[i].message, needle)) {
                printf("\n  journal: %s\n", ev[i].message);
                found = true;
            }
        rs_journal_events_free(ev, n);
    }
    rs_journal_close(j);
    return found;
}

static void test_epoch_fencing(void)
{
    char *purl = fresh_store(), *rurl = fresh_store();
    rs_storage *ps = open_store(purl), *rs = open_store(rurl);
    chain c;
    chain_start(&c, 13);
    rs_error e = {0};
    const char *names[] = {"r"};
    const char *urls[] = {rurl};
    rs_publisher *p;
    rs_publisher_opts o = {.publisher_id = "old", .snapshot_every = 2, .replica_names = names, .replica_urls = urls, .n_replicas = 1};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_open(ps, NULL, NULL, &o, &p, &e), RS_OK);
    rs_publish_result res;
    for (int i = 0; i < 3; i++)
        publish(p, &c, 400 + (uint64_t)i, &res);
    CU_ASSERT_EQUAL(res.replica_failures, 0);
    /* version 4 reaches only the primary (its mirroring was blocked): the lost tail */
    rs_publisher *pn;
    rs_publisher_opts on = {.publisher_id = "old-unmirrored", .snapshot_every = 2};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_open(ps, NULL, NULL, &on, &pn, &e), RS_OK);
    CU_ASSERT_EQUAL(publish(pn, &c, 403, &res), 4);
    rs_publisher_close(pn);
    /* agent A applies it (primary first); agent B reads the replica (version 3) */
    rs_agent *a = open_dr_agent(purl, rurl, "lost", false, &e);
    rs_agent *b = open_dr_agent(purl, rurl, "kept", true, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(rs_agent_sync_once(a, &e), RS_OK);
    CU_ASSERT_EQUAL(rs_agent_sync_once(b, &e), RS_OK);
    rs_agent_status as, bs;
    rs_agent_status_get(a, &as);
    rs_agent_status_get(b, &bs);
    CU_ASSERT_EQUAL(as.applied_version, 4);
    CU_ASSERT_STRING_EQUAL(as.read_store, "primary");
    CU_ASSERT_EQUAL(bs.applied_version, 3);
    CU_ASSERT_STRING_EQUAL(bs.read_store, "r");
    /* the primary is lost: promote the replica */
    uint64_t epoch = 0, version = 0;
    rs_storage *others[] = {ps};
    CU_ASSERT_EQUAL(rs_replica_promote(rs, others, 1, "test", &epoch, &version, &e), RS_OK);
    CU_ASSERT_EQUAL(epoch, 1);
    CU_ASSERT_EQUAL(version, 3);
    /* the new primary publishes 4' and 5' (another content than the lost 4) */
    rs_publisher *np;
    rs_publisher_opts no = {.publisher_id = "new", .snapshot_every = 2};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_open(rs, NULL, NULL, &no, &np, &e), RS_OK);
    chain c2 = {.bytes = malloc(c.len), .len = c.len};
    memcpy(c2.bytes, c.bytes, c.len);
    CU_ASSERT_EQUAL(publish(np, &c2, 500, &res), 4); /* 4': not the lost 4 */
    CU_ASSERT_EQUAL(publish(np, &c2, 501, &res), 5);
    rs_head rh = read_head(rs);
    CU_ASSERT_EQUAL(rh.epoch, 1); /* publishing keeps the epoch */
    uint64_t final_version = rh.version;
    uint8_t final_digest[RS_DIGEST_LEN];
    memcpy(final_digest, rh.digest, RS_DIGEST_LEN);
    rs_head_clear(&rh);
    /* the old primary's publisher is fenced: refused, nothing appended */
    rs_head before = read_head(ps);
    e = (rs_error){0};
    rs_registry *r = chain_next(&c, 600);
    int rc = rs_publisher_publish_registry(p, r, "t", &res, &e);
    rs_registry_free(r);
    CU_ASSERT_EQUAL(rc, RS_ECONFLICT);
    CU_ASSERT(res.fenced);
    CU_ASSERT(strstr(e.msg, "refusing to publish") && strstr(e.msg, "epoch 1"));
    printf("\n  old publisher: %s\n", e.msg);
    rs_head after = read_head(ps);
    CU_ASSERT_EQUAL(after.version, before.version);
    rs_head_clear(&before);
    rs_head_clear(&after);
    /* nor can the old primary be mirrored onto the new one */
    rs_replica_result rr;
    CU_ASSERT_EQUAL(rs_replica_sync(ps, rs, &rr, &e), RS_ECONFLICT);
    CU_ASSERT(strstr(e.msg, "fenced") != NULL);
    /* agents are pointed at the new primary (replica first): A's version 4 is not on epoch 1's
     * history: it re-bootstraps and says so; B's version 3 is */
    rs_agent_close(a);
    rs_agent_close(b);
    a = open_dr_agent(purl, rurl, "lost", true, &e);
    b = open_dr_agent(purl, rurl, "kept", true, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(rs_agent_sync_once(a, &e), RS_OK);
    CU_ASSERT_EQUAL(rs_agent_sync_once(b, &e), RS_OK);
    rs_agent_status_get(a, &as);
    rs_agent_status_get(b, &bs);
    CU_ASSERT_EQUAL(as.applied_version, final_version);
    CU_ASSERT_EQUAL(bs.applied_version, final_version);
    CU_ASSERT_EQUAL(memcmp(as.digest, final_digest, RS_DIGEST_LEN), 0);
    CU_ASSERT_EQUAL(memcmp(bs.digest, final_digest, RS_DIGEST_LEN), 0);
    CU_ASSERT_EQUAL(as.epoch, 1);
    CU_ASSERT_EQUAL(bs.epoch, 1);
    CU_ASSERT(as.bootstraps >= 1);
    CU_ASSERT_EQUAL(bs.bootstraps, 0);
    char want[160];
    snprintf(want, sizeof want, "epoch change: from version 4 (epoch 0) to version %" PRIu64 " (epoch 1)", final_version);
    CU_ASSERT(journal_has_event(a, "epoch", want));
    CU_ASSERT(!journal_has_event(b, "epoch", "epoch change: from"));
    /* the region reports (in the store each reads from, r) carry the epoch, the store and the
       epoch change: what /v1/drift and regsync-dump regions show */
    rs_region_report ra, rb;
    CU_ASSERT_EQUAL_FATAL(report_of(a, rs, &ra), RS_OK);
    CU_ASSERT_EQUAL_FATAL(report_of(b, rs, &rb), RS_OK);
    CU_ASSERT_EQUAL(ra.epoch, 1);
    CU_ASSERT_STRING_EQUAL(ra.read_store, "r");
    CU_ASSERT_STRING_EQUAL(ra.epoch_change, want);
    CU_ASSERT(ra.epoch_change_at_ms > 0);
    CU_ASSERT_EQUAL(rb.epoch, 1);
    CU_ASSERT_STRING_EQUAL(rb.read_store, "r");
    CU_ASSERT_STRING_EQUAL(rb.epoch_change, ""); /* B's version 3 is on epoch 1's history */
    /* and they survive an encode/decode round trip (tools and tests that write reports) */
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    rs_region_report rt;
    CU_ASSERT_EQUAL_FATAL(rs_region_report_encode(&ra, &enc, &enc_len, &e), RS_OK);
    CU_ASSERT_EQUAL_FATAL(rs_region_report_decode(enc, enc_len, &rt, &e), RS_OK);
    CU_ASSERT_EQUAL(rt.epoch, 1);
    CU_ASSERT_STRING_EQUAL(rt.read_store, "r");
    CU_ASSERT_STRING_EQUAL(rt.epoch_change, want);
    CU_ASSERT_EQUAL(rt.epoch_change_at_ms, ra.epoch_change_at_ms);
    free(enc);
    rs_region_report_clear(&rt);
    rs_region_report_clear(&ra);
    rs_region_report_clear(&rb);
    /* back to primary-first: the old primary (epoch 0) answers but is never followed */
    rs_agent_close(a);
    a = open_dr_agent(purl, rurl, "lost", false, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    rs_agent_status_get(a, &as);
    CU_ASSERT_EQUAL(as.epoch, 1); /* remembered in the journal */
    bool changed;
    rc = rs_agent_step(a, &changed, &e);
    CU_ASSERT_EQUAL(rc, RS_ECONFLICT);
    CU_ASSERT(strstr(e.msg, "older than epoch 1") != NULL);
    rs_agent_status_get(a, &as);
    CU_ASSERT_STRING_EQUAL(as.read_store, "r"); /* failover_after 0: moved at once */
    CU_ASSERT_EQUAL(as.store_failovers, 1);
    CU_ASSERT_EQUAL(rs_agent_step(a, &changed, &e), RS_OK);
    rs_agent_status_get(a, &as);
    CU_ASSERT_EQUAL(as.applied_version, final_version);
    CU_ASSERT_EQUAL(memcmp(as.digest, final_digest, RS_DIGEST_LEN), 0);
    /* the old primary comes back as a replica: rewritten to epoch 1's history */
    CU_ASSERT_EQUAL(rs_replica_sync(rs, ps, &rr, &e), RS_OK);
    CU_ASSERT(rr.rejoined);
    CU_ASSERT(same_object(rs, ps, RS_KEY_HEAD));
    char k4[64];
    rs_log_entry_key(4, k4);
    CU_ASSERT(same_object(rs, ps, k4));
    rs_head oh = read_head(ps);
    CU_ASSERT_EQUAL(oh.epoch, 1);
    rs_head_clear(&oh);
    /* and now the agent may return to it */
    rs_agent_close(a);
    rs_agent_close(b);
    rs_publisher_close(np);
    rs_publisher_close(p);
    rs_storage_close(ps);
    rs_storage_close(rs);
    free(c.bytes);
    free(c2.bytes);
    free(purl);
    free(rurl);
}

RS_STORE_TEST(test_publisher_copies_to_replicas)
RS_STORE_TEST(test_mirror_resumes)
RS_STORE_TEST(test_epoch_fencing)

static void add_all(CU_pSuite s)
{
    CU_add_test(s, "publisher copies each version to its replicas; a dead one is counted", test_publisher_copies_to_replicas_guarded);
    CU_add_test(s, "mirror: idempotent, resumes a cut-off copy, refuses another history", test_mirror_resumes_guarded);
    CU_add_test(s, "promotion: epochs fence the old primary; lost tail re-bootstraps", test_epoch_fencing_guarded);
}

int main(void)
{
    rs_log_configure(RS_LOG_WARN, false, 2);
    CU_initialize_registry();
    rs_test_store_suites("dr", &store_url, &work, add_all);
    return rs_test_run();
}
