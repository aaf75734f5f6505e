/* test_sync.c: the log protocol, publisher and follower in one process, on a real store:
 * always file:// (a temp dir), and the real S3 and PostgreSQL servers when scripts/test.sh
 * started them (RS_TEST_S3_URL, RS_TEST_PG_URL; a loud SKIP otherwise). End-to-end tests with
 * separate regsyncd processes are in tests/cli/. */
#include "rs_test.h"

#include "rs_agent.h"
#include "rs_buf.h"
#include "rs_log.h"
#include "rs_generate.h"
#include "rs_journal.h"
#include "rs_logproto.h"
#include "rs_publisher.h"
#include "rs_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *store_url;   /* the store of the current suite */
static char *work;        /* temp dir for targets and state */
static int seq;


static uint8_t *gen_bytes(uint64_t seed, size_t size, size_t *len)
{
    rs_gen_params p;
    rs_gen_defaults(&p);
    p.seed = seed;
    p.target_bytes = size;
    uint8_t *b;
    CU_ASSERT_EQUAL_FATAL(rs_generate(&p, &b, len, NULL), RS_OK);
    return b;
}

static rs_registry *decode(const uint8_t *b, size_t l)
{
    rs_registry *r;
    CU_ASSERT_EQUAL_FATAL(rs_registry_decode(b, l, NULL, &r, NULL), RS_OK);
    return r;
}

/* A fresh sub-store for one test: a new prefix (S3, file) or table prefix (Postgres). */
/* a new sub-store per test; seq also names the test's targets and state dirs */
static char *fresh_store(void)
{
    seq++;
    return rs_test_fresh_store(store_url, work, "rs");
}

static rs_agent *open_agent(const char *store, const char *region, const char *const *inc, size_t ninc, rs_error *e)
{
    char *target = rs_test_fmt("%s/%s-%d.db", work, region, seq);
    char *state = rs_test_fmt("%s/state-%s-%d", work, region, seq);
    rs_agent_config c = {.region = region, .store_url = store, .target = target, .state_dir = state,
                         .include_projects = inc, .n_include = ninc, .poll_interval_ms = 100};
    rs_agent *a = NULL;
    int rc = rs_agent_open(&c, &a, e);
    if (rc)
        fprintf(stderr, "agent open: %s\n", e->msg);
    free(target);
    free(state);
    return a;
}

static void target_digest(rs_agent *a, char out[65])
{
    rs_agent_status s;
    rs_agent_status_get(a, &s);
    rs_hex(s.target_digest, RS_DIGEST_LEN, out);
}

static void reg_digest(const rs_registry *r, char out[65])
{
    uint8_t d[RS_DIGEST_LEN];
    rs_registry_digest(r, d);
    rs_hex(d, RS_DIGEST_LEN, out);
}

/* ---------------------------------------------------------------- tests */

static void test_publish_and_follow(void)
{
    char *store = fresh_store();
    rs_storage *s;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(store, NULL, &s, &e), RS_OK);
    rs_publisher *p;
    rs_publisher_opts po = {.publisher_id = "test-publisher", .snapshot_every = 3};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_open(s, NULL, NULL, &po, &p, &e), RS_OK);
    size_t l;
    uint8_t *b = gen_bytes(1, 60000, &l);
    rs_registry *r = decode(b, l);
    rs_publish_result res;
    CU_ASSERT_EQUAL_FATAL(rs_publisher_publish_registry(p, r, "etag-1", &res, &e), RS_OK);
    CU_ASSERT(res.changed);
    CU_ASSERT_EQUAL(res.version, 1);
    /* the same content again (a new version_id alone) is not a new version */
    uint8_t *m0;
    size_t m0l;
    CU_ASSERT_EQUAL_FATAL(rs_mutate(b, l, 5, 0, &m0, &m0l, NULL, NULL), RS_OK); /* k=0: only version_id/last_updated move */
    rs_registry *r0 = decode(m0, m0l);
    CU_ASSERT_EQUAL(rs_publisher_publish_registry(p, r0, "etag-1b", &res, &e), RS_OK);
    CU_ASSERT(!res.changed);
    CU_ASSERT_EQUAL(res.version, 1);
    rs_agent *a = open_agent(store, "eu-central-1", NULL, 0, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(rs_agent_sync_once(a, &e), RS_OK);
    char want[65], got[65];
    reg_digest(r, want);
    target_digest(a, got);
    CU_ASSERT_STRING_EQUAL(got, want);
    /* five more versions */
    uint8_t *cur = b;
    size_t cl = l;
    rs_registry *last = NULL;
    for (int i = 0; i < 5; i++) {
        uint8_t *m;
        size_t ml;
        CU_ASSERT_EQUAL_FATAL(rs_mutate(cur, cl, 100 + (uint64_t)i, 3, &m, &ml, NULL, NULL), RS_OK);
        if (cur != b)
            free(cur);
        cur = m;
        cl = ml;
        rs_registry_free(last);
        last = decode(m, ml);
        CU_ASSERT_EQUAL_FATAL(rs_publisher_publish_registry(p, last, "etag", &res, &e), RS_OK);
        CU_ASSERT(res.changed);
        CU_ASSERT_EQUAL(res.version, 2 + (uint64_t)i);
    }
    CU_ASSERT_EQUAL(rs_agent_sync_once(a, &e), RS_OK);
    rs_agent_status st;
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 6);
    reg_digest(last, want);
    target_digest(a, got);
    CU_ASSERT_STRING_EQUAL(got, want);
    /* the target file is the registry */
    char *tpath = rs_test_fmt("%s/eu-central-1-%d.db", work, seq);
    rs_registry *onfile;
    CU_ASSERT_EQUAL_FATAL(rs_registry_load_file(tpath, NULL, &onfile, &e), RS_OK);
    reg_digest(onfile, got);
    CU_ASSERT_STRING_EQUAL(got, want);
    rs_registry_free(onfile);
    /* an idle poll is two small requests: HEAD and the region-wide control record, both
     * conditional (not modified) */
    rs_storage_stats s0, s1;
    rs_agent_status_get(a, &st);
    s0 = st.store;
    bool changed = true;
    CU_ASSERT_EQUAL(rs_agent_step(a, &changed, &e), RS_OK);
    CU_ASSERT(!changed);
    rs_agent_status_get(a, &st);
    s1 = st.store;
    printf("\n  idle poll: %" PRIu64 " request(s), %" PRIu64 " bytes in\n", s1.requests - s0.requests, s1.bytes_in - s0.bytes_in);
    CU_ASSERT_EQUAL(s1.requests - s0.requests, 2);
    CU_ASSERT(s1.bytes_in - s0.bytes_in < 1024);
    /* restart: resumes from the journal without fetching the log again */
    rs_agent_close(a);
    a = open_agent(store, "eu-central-1", NULL, 0, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 6);
    s0 = st.store;
    CU_ASSERT_EQUAL(rs_agent_step(a, &changed, &e), RS_OK);
    CU_ASSERT(!changed);
    rs_agent_status_get(a, &st);
    /* HEAD (its ETag is not kept across restarts), one probe past it, the control record and the
     * first heartbeat report (one look at the region layout's report): no log entry or snapshot is
     * fetched again */
    CU_ASSERT(st.store.requests - s0.requests <= 5);
    CU_ASSERT(st.store.bytes_in - s0.bytes_in < 1024);
    CU_ASSERT_EQUAL(st.bootstraps, 0);
    rs_agent_close(a);
    free(tpath);
    if (cur != b)
        free(cur);
    free(b);
    free(m0);
    rs_registry_free(r);
    rs_registry_free(r0);
    rs_registry_free(last);
    rs_publisher_close(p);
    rs_storage_close(s);
    free(store);
}

static void test_filters_and_bootstrap_after_compaction(void)
{
    char *store = fresh_store();
    rs_storage *s;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(store, NULL, &s, &e), RS_OK);
    rs_publisher *p;
    rs_publisher_opts po = {.snapshot_every = 4, .retention = {.versions = 2, .age_ms = 1}, .compact = true};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_open(s, NULL, NULL, &po, &p, &e), RS_OK);
    size_t l;
    uint8_t *b = gen_bytes(2, 50000, &l), *cur = b;
    rs_registry *last = NULL;
    rs_publish_result res;
    for (int i = 0; i < 9; i++) {
        uint8_t *m;
        size_t ml;
        CU_ASSERT_EQUAL_FATAL(rs_mutate(cur, l, 200 + (uint64_t)i, 2, &m, &ml, NULL, NULL), RS_OK);
        if (cur != b)
            free(cur);
        cur = m;
        l = ml;
        rs_registry_free(last);
        last = decode(m, ml);
        CU_ASSERT_EQUAL_FATAL(rs_publisher_publish_registry(p, last, "t", &res, &e), RS_OK);
    }
    CU_ASSERT_EQUAL(res.version, 9);
    usleep(5000);
    uint64_t deleted = 0;
    rs_retention ret = {.versions = 2, .age_ms = 1};
    CU_ASSERT_EQUAL(rs_log_compact(s, &ret, &deleted, &e), RS_OK);
    rs_head h;
    CU_ASSERT_EQUAL_FATAL(rs_log_read_head(s, NULL, &h, NULL, &e), RS_OK);
    CU_ASSERT_EQUAL(h.version, 9);
    CU_ASSERT_EQUAL(h.snapshot_version, 8);
    CU_ASSERT(h.oldest_version > 1);
    CU_ASSERT(h.oldest_version <= 9);
    rs_change *c;
    CU_ASSERT_EQUAL(rs_log_read_entry(s, 1, &c, NULL, &e), RS_ENOTFOUND); /* compacted */
    rs_head_clear(&h);
    /* a new region with a project filter bootstraps from the snapshot */
    const char *inc[] = {"proj_01"};
    rs_agent *a = open_agent(store, "us-west-2", inc, 1, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(rs_agent_sync_once(a, &e), RS_OK);
    rs_agent_status st;
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 9);
    CU_ASSERT_EQUAL(st.bootstraps, 1);
    char *tpath = rs_test_fmt("%s/us-west-2-%d.db", work, seq);
    rs_registry *onfile;
    CU_ASSERT_EQUAL_FATAL(rs_registry_load_file(tpath, NULL, &onfile, &e), RS_OK);
    size_t np;
    const char **projects = rs_registry_projects(onfile, &np);
    CU_ASSERT_EQUAL(np, 1);
    if (np)
        CU_ASSERT_STRING_EQUAL(projects[0], "proj_01");
    free(projects);
    /* the filtered digest is what the region reports, and the target holds it */
    char fd[65], td[65];
    rs_hex(st.filtered_digest, RS_DIGEST_LEN, fd);
    reg_digest(onfile, td);
    CU_ASSERT_STRING_EQUAL(fd, td);
    rs_registry_free(onfile);
    rs_agent_close(a);
    free(tpath);
    if (cur != b)
        free(cur);
    free(b);
    rs_registry_free(last);
    rs_publisher_close(p);
    rs_storage_close(s);
    free(store);
}

/* A corrupted log entry is refused, the last good copy stays, the region says diverged, and it
 * recovers from the next snapshot. */
static void test_corrupt_entry_recovery(void)
{
    char *store = fresh_store();
    rs_storage *s;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(store, NULL, &s, &e), RS_OK);
    rs_publisher *p;
    rs_publisher_opts po = {.snapshot_every = 5};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_open(s, NULL, NULL, &po, &p, &e), RS_OK);
    size_t l;
    uint8_t *b = gen_bytes(3, 40000, &l), *cur = b;
    rs_registry *reg = decode(b, l);
    rs_publish_result res;
    CU_ASSERT_EQUAL_FATAL(rs_publisher_publish_registry(p, reg, "t", &res, &e), RS_OK);
    rs_agent *a = open_agent(store, "ap-south-1", NULL, 0, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(rs_agent_sync_once(a, &e), RS_OK);
    char good[65];
    target_digest(a, good);
    /* version 2 published, then its log entry replaced by garbage */
    uint8_t *m;
    size_t ml;
    CU_ASSERT_EQUAL_FATAL(rs_mutate(cur, l, 300, 3, &m, &ml, NULL, NULL), RS_OK);
    rs_registry *r2 = decode(m, ml);
    CU_ASSERT_EQUAL_FATAL(rs_publisher_publish_registry(p, r2, "t", &res, &e), RS_OK);
    char key[64];
    rs_log_entry_key(2, key);
    CU_ASSERT_EQUAL(rs_storage_put(s, key, (const uint8_t *)"garbage, not a change", 21, RS_PUT_ALWAYS, NULL, NULL, &e), RS_OK);
    bool changed;
    int rc = rs_agent_step(a, &changed, &e);
    CU_ASSERT_EQUAL(rc, RS_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "00000000000000000002"));
    rs_agent_status st;
    rs_agent_status_get(a, &st);
    CU_ASSERT_STRING_EQUAL(st.state, "diverged");
    CU_ASSERT_EQUAL(st.applied_version, 1);
    CU_ASSERT_EQUAL(st.attempted_version, 2);
    char now[65];
    target_digest(a, now);
    CU_ASSERT_STRING_EQUAL(now, good); /* the last good copy is still served */
    /* publish up to the next snapshot (version 5): the region recovers from it */
    rs_registry *lastr = NULL;
    uint8_t *c2 = m;
    size_t c2l = ml;
    for (int i = 0; i < 3; i++) {
        uint8_t *mm;
        size_t mml;
        CU_ASSERT_EQUAL_FATAL(rs_mutate(c2, c2l, 400 + (uint64_t)i, 2, &mm, &mml, NULL, NULL), RS_OK);
        if (c2 != m)
            free(c2);
        c2 = mm;
        c2l = mml;
        rs_registry_free(lastr);
        lastr = decode(mm, mml);
        CU_ASSERT_EQUAL_FATAL(rs_publisher_publish_registry(p, lastr, "t", &res, &e), RS_OK);
    }
    CU_ASSERT_EQUAL(res.version, 5);
    rc = rs_agent_sync_once(a, &e);
    if (rc)
        fprintf(stderr, "recovery: %s\n", e.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 5);
    CU_ASSERT_STRING_EQUAL(st.state, "following");
    char want[65];
    reg_digest(lastr, want);
    target_digest(a, now);
    CU_ASSERT_STRING_EQUAL(now, want);
    rs_agent_close(a);
    if (c2 != m)
        free(c2);
    free(m);
    free(b);
    rs_registry_free(reg);
    rs_registry_free(r2);
    rs_registry_free(lastr);
    rs_publisher_close(p);
    rs_storage_close(s);
    free(store);
}

/* pin, rollback, unpin */
static void test_pin_rollback(void)
{
    char *store = fresh_store();
    rs_storage *s;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(store, NULL, &s, &e), RS_OK);
    rs_publisher *p;
    rs_publisher_opts po = {.snapshot_every = 100};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_open(s, NULL, NULL, &po, &p, &e), RS_OK);
    size_t l;
    uint8_t *b = gen_bytes(4, 30000, &l), *cur = b;
    char digests[5][65];
    rs_publish_result res;
    for (int i = 0; i < 4; i++) {
        uint8_t *m;
        size_t ml;
        CU_ASSERT_EQUAL_FATAL(rs_mutate(cur, l, 500 + (uint64_t)i, 2, &m, &ml, NULL, NULL), RS_OK);
        if (cur != b)
            free(cur);
        cur = m;
        l = ml;
        rs_registry *r = decode(m, ml);
        reg_digest(r, digests[i + 1]);
        CU_ASSERT_EQUAL_FATAL(rs_publisher_publish_registry(p, r, "t", &res, &e), RS_OK);
        rs_registry_free(r);
    }
    rs_agent *a = open_agent(store, "sa-east-1", NULL, 0, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(rs_agent_pin(a, 2, &e), RS_OK);
    CU_ASSERT_EQUAL(rs_agent_sync_once(a, &e), RS_OK);
    rs_agent_status st;
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 2);
    char got[65];
    target_digest(a, got);
    CU_ASSERT_STRING_EQUAL(got, digests[2]);
    rs_agent_unpin(a);
    CU_ASSERT_EQUAL(rs_agent_sync_once(a, &e), RS_OK);
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 4);
    CU_ASSERT_EQUAL(rs_agent_rollback(a, 6, &e), RS_EINVALID);
    CU_ASSERT_EQUAL(rs_agent_rollback(a, 1, &e), RS_OK);
    CU_ASSERT_EQUAL(rs_agent_sync_once(a, &e), RS_OK);
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 1);
    CU_ASSERT_EQUAL(st.rollbacks, 1);
    target_digest(a, got);
    CU_ASSERT_STRING_EQUAL(got, digests[1]);
    CU_ASSERT_STRING_EQUAL(st.state, "pinned");
    /* the pin survives a restart (the journal keeps it): the agent stays at version 1 */
    rs_agent_close(a);
    a = open_agent(store, "sa-east-1", NULL, 0, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.pinned_version, 1);
    CU_ASSERT_EQUAL(rs_agent_sync_once(a, &e), RS_OK);
    rs_agent_status_get(a, &st);
    CU_ASSERT_EQUAL(st.applied_version, 1);
    rs_agent_close(a);
    if (cur != b)
        free(cur);
    free(b);
    rs_publisher_close(p);
    rs_storage_close(s);
    free(store);
}

/* ------------------------------------------------- region bytes == source bytes */

typedef struct src_bytes {
    uint8_t *b;
    size_t l;
} src_bytes;

static bool file_is(const char *path, const uint8_t *want, size_t wl)
{
    uint8_t *got;
    size_t gl;
    rs_error e = {0};
    if (rs_read_file(path, 0, &got, &gl, &e)) {
        fprintf(stderr, "read %s: %s\n", path, e.msg);
        return false;
    }
    bool same = gl == wl && (wl == 0 || memcmp(got, want, wl) == 0);
    free(got);
    return same;
}

/* The source's bytes without the objects a region's project filter leaves out. */
static void filtered_source(const rs_agent_config *cfg, const uint8_t *b, size_t l, uint8_t **out, size_t *ol)
{
    rs_registry *r = decode(b, l);
    rs_registry *kept = rs_registry_new();
    for (size_t i = 0; i < rs_registry_count(r); i++) {
        const rs_object *o = rs_registry_at(r, i);
        if (!o->project[0] || rs_agent_project_allowed(cfg, o->project))
            CU_ASSERT_EQUAL(rs_registry_put(kept, o->kind, o->project, o->name, o->ordinal, o->data, o->len, NULL), RS_OK);
    }
    /* rs_registry_put places new objects by kind; the source's order is the decoded order */
    rs_position *pos = calloc(rs_registry_count(kept) + 1, sizeof *pos);
    size_t k = 0;
    for (size_t i = 0; i < rs_registry_count(r); i++) {
        const rs_object *o = rs_registry_at(r, i);
        if (!o->project[0] || rs_agent_project_allowed(cfg, o->project)) {
            pos[k] = (rs_position){o->kind, o->project, o->name, o->ordinal, (uint32_t)(k + 1)};
            k++;
        }
    }
    CU_ASSERT_EQUAL(rs_registry_set_positions(kept, pos, k, NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_registry_encode(kept, out, ol, NULL), RS_OK);
    free(pos);
    rs_registry_free(kept);
    rs_registry_free(r);
}

/* An Eulerian circuit of the complete directed graph on n vertices: every ordered pair (i, j),
 * i != j, is one step. Returns the vertex sequence (n*(n-1)+1 entries, malloc'd). */
static size_t *all_pairs_walk(size_t n, size_t *len)
{
    size_t edges = n * (n - 1), top = 0, k = 0;
    size_t *stack = malloc((edges + 2) * sizeof *stack), *walk = malloc((edges + 2) * sizeof *walk);
    size_t *next = calloc(n ? n : 1, sizeof *next);
    stack[top++] = 0;
    while (top) {
        size_t v = stack[top - 1];
        while (next[v] < n && next[v] == v)
            next[v]++;
        if (next[v] < n)
            stack[top++] = next[v]++;
        else
            walk[k++] = stack[--top];
    }
    for (size_t i = 0; i < k / 2; i++) {
        size_t t = walk[i];
        walk[i] = walk[k - 1 - i];
        walk[k - 1 - i] = t;
    }
    free(stack);
    free(next);
    *len = k;
    return walk;
}

/* Publishes the sources in sequence; after each new version an unfiltered region's file must be
 * the published source byte for byte, a filtered region's file the source minus the filtered
 * objects, and a region that joins later (snapshot bootstrap, then the log) the same bytes. */
static void publish_sequence_check_bytes(const char *what, src_bytes *v, const size_t *seqv, size_t nseq, size_t *matched,
                                         size_t *versions)
{
    char *store = fresh_store();
    rs_storage *s;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_storage_open(store, NULL, &s, &e), RS_OK);
    rs_publisher *p;
    /* whole-registry replacements are the point: past the destructive-change guard */
    rs_publisher_opts po = {.publisher_id = "bytes", .snapshot_every = 5, .allow_destructive = true};
    CU_ASSERT_EQUAL_FATAL(rs_publisher_open(s, NULL, NULL, &po, &p, &e), RS_OK);
    static const char *inc[] = {"*e*"};
    rs_agent *whole = open_agent(store, "whole", NULL, 0, &e);
    rs_agent *part = open_agent(store, "part", inc, 1, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(whole);
    CU_ASSERT_PTR_NOT_NULL_FATAL(part);
    char *wpath = rs_test_fmt("%s/whole-%d.db", work, seq), *ppath = rs_test_fmt("%s/part-%d.db", work, seq);
    rs_agent_config pcfg = {.include_projects = inc, .n_include = 1};
    size_t last = SIZE_MAX, bad = 0;
    for (size_t i = 0; i < nseq; i++) {
        src_bytes *x = &v[seqv[i]];
        rs_registry *r = decode(x->b, x->l);
        rs_publish_result res;
        int rc = rs_publisher_publish_registry(p, r, "t", &res, &e);
        rs_registry_free(r);
        if (rc)
            fprintf(stderr, "%s: step %zu: publish: %s\n", what, i, e.msg);
        CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
        if (!res.changed)
            continue; /* the same content: the regions keep the version they have */
        last = seqv[i];
        (*versions)++;
        CU_ASSERT_EQUAL_FATAL(rs_agent_sync_once(whole, &e), RS_OK);
        CU_ASSERT_EQUAL_FATAL(rs_agent_sync_once(part, &e), RS_OK);
        bool ok = file_is(wpath, x->b, x->l);
        uint8_t *fb;
        size_t fl;
        filtered_source(&pcfg, x->b, x->l, &fb, &fl);
        bool fok = file_is(ppath, fb, fl);
        free(fb);
        if (ok)
            (*matched)++;
        if ((!ok || !fok) && bad++ < 5)
            fprintf(stderr, "%s: step %zu (version %" PRIu64 "): %s region is not the source's bytes\n", what, i,
                    res.version, ok ? "the filtered" : "the unfiltered");
        CU_ASSERT(ok);
        CU_ASSERT(fok);
    }
    /* a region that joins now bootstraps from the newest snapshot and follows the log */
    rs_agent *late = open_agent(store, "late", NULL, 0, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(late);
    CU_ASSERT_EQUAL(rs_agent_sync_once(late, &e), RS_OK);
    char *lpath = rs_test_fmt("%s/late-%d.db", work, seq);
    if (last != SIZE_MAX)
        CU_ASSERT(file_is(lpath, v[last].b, v[last].l));
    rs_agent_close(late);
    rs_agent_close(whole);
    rs_agent_close(part);
    free(lpath);
    free(wpath);
    free(ppath);
    rs_publisher_close(p);
    rs_storage_close(s);
    free(store);
}

static bool remote_store(void) { return strncmp(store_url, "file://", 7) != 0; }

/* A sanitizer build runs several times slower: the byte tests keep every check and fewer steps. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* Every ordered pair of fixtures on file:// and PostgreSQL; on S3 (and on PostgreSQL in a sanitizer
 * build) every fixture after every other in one pass forward and one backward, to keep the run
 * short. */
static void test_region_bytes_fixture_pairs(void)
{
    const char *sh = rs_test_shared_dir();
    if (!sh) {
        rs_test_skip("fixture registries", "../shared/fixtures not found (set RS_SHARED_DIR)");
        CU_ASSERT(!rs_test_servers_required());
        return;
    }
    char *dir = rs_test_fmt("%s/fixtures/registries", sh);
    size_t n;
    char **files = rs_test_list_dir(dir, ".db", &n);
    free(dir);
    CU_ASSERT_FATAL(n > 1);
    src_bytes *v = calloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL_FATAL(rs_read_file(files[i], 0, &v[i].b, &v[i].l, NULL), RS_OK);
    size_t nseq, *walk;
    if (strncmp(store_url, "file://", 7) == 0 || (!SANITIZED && strncmp(store_url, "postgresql://", 13) == 0)) {
        walk = all_pairs_walk(n, &nseq);
    } else {
        nseq = 2 * n - 1;
        walk = malloc(nseq * sizeof *walk);
        for (size_t i = 0; i < n; i++)
            walk[i] = i;
        for (size_t i = 1; i < n; i++)
            walk[n - 1 + i] = n - 1 - i;
    }
    size_t matched = 0, versions = 0;
    publish_sequence_check_bytes("fixtures", v, walk, nseq, &matched, &versions);
    printf("\n  fixture sequence of %zu steps: %zu versions published, %zu regional copies equal to the source\n", nseq,
           versions, matched);
    CU_ASSERT_EQUAL(matched, versions);
    for (size_t i = 0; i < n; i++)
        free(v[i].b);
    free(v);
    free(walk);
    rs_test_free_list(files, n);
}

/* protobuf varint at *p (bounded by end); 0 on a malformed one */
static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int sh = 0; *p < end && sh < 64; sh += 7) {
        uint8_t c = *(*p)++;
        *v |= (uint64_t)(c & 0x7f) << sh;
        if (!(c & 0x80))
            return 1;
    }
    return 0;
}

static void put_varint(rs_buf *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            c |= 0x80;
        rs_buf_append(b, &c, 1);
    } while (v);
}

/* The object's bytes with spec(1).name(1) set to name (wire level: the test does not use the
 * registry's own code to make its input). Every other field is copied as it is. */
static int renamed_spec(const uint8_t *p, size_t n, const char *name, rs_buf *out)
{
    const uint8_t *end = p + n;
    while (p < end) {
        const uint8_t *f0 = p;
        uint64_t tag, len;
        if (!get_varint(&p, end, &tag))
            return -1;
        if ((tag & 7) != 2) { /* varints (and fixed) in a spec's top level: copy */
            if ((tag & 7) == 0) {
                if (!get_varint(&p, end, &len))
                    return -1;
            } else if ((tag & 7) == 1) {
                p += 8;
            } else if ((tag & 7) == 5) {
                p += 4;
            } else {
                return -1;
            }
            rs_buf_append(out, f0, (size_t)(p - f0));
            continue;
        }
        if (!get_varint(&p, end, &len) || len > (uint64_t)(end - p))
            return -1;
        if (tag >> 3 == 1) {
            put_varint(out, tag);
            put_varint(out, strlen(name));
            rs_buf_append(out, name, strlen(name));
        } else {
            rs_buf_append(out, f0, (size_t)(p + len - f0));
        }
        p += len;
    }
    return 0;
}

/* A source in which some entities and feature views were renamed where they stand (a delete and
 * a creation in the middle of their kind's list). */
static uint8_t *rename_some(const uint8_t *b, size_t l, uint64_t seed, size_t *out_len)
{
    rs_registry *r = decode(b, l);
    rs_registry *x = rs_registry_clone(r);
    size_t k = 0;
    for (size_t i = 0; i < rs_registry_count(r); i++) {
        const rs_object *o = rs_registry_at(r, i);
        if ((o->kind != 1 && o->kind != 6) || (i + seed) % 3 != 0)
            continue;
        /* the object is spec(1) then meta(2)...: rewrite spec.name */
        rs_buf nb = {0}, spec = {0};
        const uint8_t *p = o->data, *end = o->data + o->len;
        bool ok = true;
        while (p < end && ok) {
            const uint8_t *f0 = p;
            uint64_t tag, len;
            ok = get_varint(&p, end, &tag) && (tag & 7) == 2 && get_varint(&p, end, &len) && len <= (uint64_t)(end - p);
            if (!ok)
                break;
            if (tag >> 3 == 1) {
                char nm[256];
                snprintf(nm, sizeof nm, "%s_renamed_%zu", o->name, k);
                rs_buf_reset(&spec);
                ok = renamed_spec(p, (size_t)len, nm, &spec) == 0;
                put_varint(&nb, tag);
                put_varint(&nb, spec.len);
                rs_buf_append(&nb, spec.data, spec.len);
            } else {
                rs_buf_append(&nb, f0, (size_t)(p + len - f0));
            }
            p += len;
        }
        if (ok) {
            char nm[256];
            snprintf(nm, sizeof nm, "%s_renamed_%zu", o->name, k);
            CU_ASSERT_EQUAL(rs_registry_delete(x, o->kind, o->project, o->name, o->ordinal, NULL), RS_OK);
            CU_ASSERT_EQUAL(rs_registry_put(x, o->kind, o->project, nm, 0, nb.data, nb.len, NULL), RS_OK);
            rs_position pos = {o->kind, o->project, nm, 0, (uint32_t)(i + 1)};
            CU_ASSERT_EQUAL(rs_registry_set_positions(x, &pos, 1, NULL), RS_OK);
            k++;
        }
        rs_buf_free(&nb);
        rs_buf_free(&spec);
    }
    uint8_t *out;
    CU_ASSERT_EQUAL(rs_registry_encode(x, &out, out_len, NULL), RS_OK);
    rs_registry_free(x);
    rs_registry_free(r);
    return out;
}

/* Generated change chains: Feast-like edits, reorders, renames in place (creations in the middle
 * of each kind's list), and a whole-registry replacement by another generated registry. */
static void test_region_bytes_generated_chains(void)
{
    size_t chains = remote_store() ? 20 : SANITIZED ? 50 : 200, per = 6, matched = 0, versions = 0;
    if (SANITIZED)
        printf("\n  (sanitizer build: %zu chains)", chains);
    src_bytes *v = calloc(chains * per, sizeof *v);
    size_t *seqv = malloc(chains * per * sizeof *seqv);
    for (size_t c = 0; c < chains; c++) {
        src_bytes *x = &v[c * per];
        x[0].b = gen_bytes(7000 + c, 4000 + (c % 5) * 2000, &x[0].l);
        CU_ASSERT_EQUAL_FATAL(rs_mutate(x[0].b, x[0].l, c * 3 + 1, 1 + (unsigned)(c % 6), &x[1].b, &x[1].l, NULL, NULL), RS_OK);
        CU_ASSERT_EQUAL_FATAL(rs_shuffle(x[1].b, x[1].l, c * 5 + 2, &x[2].b, &x[2].l, NULL), RS_OK);
        CU_ASSERT_EQUAL_FATAL(rs_mutate(x[2].b, x[2].l, c * 7 + 3, 2 + (unsigned)(c % 4), &x[3].b, &x[3].l, NULL, NULL), RS_OK);
        CU_ASSERT_EQUAL_FATAL(rs_shuffle(x[3].b, x[3].l, c * 11 + 4, &x[4].b, &x[4].l, NULL), RS_OK);
        x[5].b = rename_some(x[4].b, x[4].l, c, &x[5].l);
    }
    for (size_t i = 0; i < chains * per; i++)
        seqv[i] = i; /* chain c+1 replaces chain c's last registry whole */
    publish_sequence_check_bytes("generated", v, seqv, chains * per, &matched, &versions);
    printf("\n  %zu generated chains: %zu versions published, %zu regional copies equal to the source\n", chains, versions,
           matched);
    CU_ASSERT_EQUAL(matched, versions);
    for (size_t i = 0; i < chains * per; i++)
        free(v[i].b);
    free(v);
    free(seqv);
}

/* ---------------------------------------------------------------- suites */

RS_STORE_TEST(test_publish_and_follow)
RS_STORE_TEST(test_filters_and_bootstrap_after_compaction)
RS_STORE_TEST(test_corrupt_entry_recovery)
RS_STORE_TEST(test_pin_rollback)
RS_STORE_TEST(test_region_bytes_fixture_pairs)
RS_STORE_TEST(test_region_bytes_generated_chains)

static void add_all(CU_pSuite s)
{
    CU_add_test(s, "publish, follow, idle poll, restart", test_publish_and_follow_guarded);
    CU_add_test(s, "project filter, bootstrap after compaction", test_filters_and_bootstrap_after_compaction_guarded);
    CU_add_test(s, "corrupted entry refused, recovery from snapshot", test_corrupt_entry_recovery_guarded);
    CU_add_test(s, "pin, unpin, rollback", test_pin_rollback_guarded);
    CU_add_test(s, "region file == source bytes: fixture pairs", test_region_bytes_fixture_pairs_guarded);
    CU_add_test(s, "region file == source bytes: generated chains", test_region_bytes_generated_chains_guarded);
}

int main(void)
{
    rs_log_configure(RS_LOG_WARN, false, 2);
    CU_initialize_registry();
    rs_test_store_suites("sync", &store_url, &work, add_all);
    return rs_test_run();
}
