/* rs_drift.c: drift states: the context and its caches, the region's view through its filter,
 * the expected digest, and judging each region report. Reading and writing reports is in
 * rs_drift_report.c; JSON and the pair diff in rs_drift_pair.c. See rs_drift.h and docs/drift.md. */
#include "rs_drift.h"
#include "rs_checked.h"
#include "rs_agent.h"
#include "rs_buf.h"
#include "rs_diff.h"
#include "rs_time.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsync/v1/log.pb-c.h"
#include "rs_json.h"
#include "rs_drift_impl.h"

#define DRIFT_CACHE_MAX 4096   /* entries per cache; the cache starts over when full */
#define DRIFT_ADVANCE_MAX 512  /* entries applied to the cached registry before rebuilding instead */

/* ================================================================ context */

rs_drift_ctx *rs_drift_ctx_new(rs_storage *s)
{
    rs_drift_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->s = s;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void digest_cache_clear(rs_drift_ctx *c)
{
    for (size_t i = 0; i < c->ndig; i++)
        free(c->dig[i].filter);
    c->ndig = 0;
}

void rs_drift_ctx_free(rs_drift_ctx *c)
{
    if (!c)
        return;
    digest_cache_clear(c);
    free(c->dig);
    free(c->ent);
    rs_registry_free(c->reg);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void entry_remember(rs_drift_ctx *c, const rs_change *ch)
{
    for (size_t i = 0; i < c->nent; i++)
        if (c->ent[i].version == ch->version)
            return;
    if (c->nent >= DRIFT_CACHE_MAX)
        c->nent = 0;
    if (c->nent == c->capent) {
        size_t cap = c->capent ? c->capent * 2 : 16;
        entry_info *v = realloc(c->ent, cap * sizeof *v);
        if (!v)
            return; /* a cache: forgetting is fine */
        c->ent = v;
        c->capent = cap;
    }
    entry_info *e = &c->ent[c->nent++];
    e->version = ch->version;
    e->published_ms = ch->published_ms;
    memcpy(e->result, ch->result_digest, RS_DIGEST_LEN);
}

/* Publish time and result digest of one log entry (cached: entries are immutable). */
static int entry_get(rs_drift_ctx *c, uint64_t version, entry_info *out, rs_error *err)
{
    for (size_t i = 0; i < c->nent; i++)
        if (c->ent[i].version == version) {
            *out = c->ent[i];
            return RS_OK;
        }
    rs_change *ch;
    int rc = rs_log_read_entry(c->s, version, &ch, NULL, err);
    if (rc)
        return rc;
    out->version = version;
    out->published_ms = ch->published_ms;
    memcpy(out->result, ch->result_digest, RS_DIGEST_LEN);
    entry_remember(c, ch);
    rs_change_free(ch);
    return RS_OK;
}

/* The global registry at version (borrowed from the context, valid until the next rebuild).
 * Moves the cached registry forward entry by entry when that is cheaper than a rebuild. */
static int rebuild_at(rs_drift_ctx *c, const rs_head *head, uint64_t version, const rs_registry **out, rs_error *err)
{
    *out = NULL;
    if (c->reg && c->reg_version == version) {
        *out = c->reg;
        return RS_OK;
    }
    if (c->reg && c->reg_version < version && version - c->reg_version <= DRIFT_ADVANCE_MAX) {
        int rc = RS_OK;
        for (uint64_t v = c->reg_version + 1; v <= version && !rc; v++) {
            rs_change *ch;
            rc = rs_log_read_entry(c->s, v, &ch, NULL, NULL);
            if (!rc) {
                rc = rs_change_apply(c->reg, ch, RS_APPLY_CHECK_PARENT | RS_APPLY_CHECK_RESULT, NULL);
                if (!rc) {
                    entry_remember(c, ch);
                    c->reg_version = v;
                }
                rs_change_free(ch);
            }
        }
        if (!rc) {
            *out = c->reg;
            return RS_OK;
        }
        /* a gap or a refused entry: start over from a snapshot */
        rs_registry_free(c->reg);
        c->reg = NULL;
    }
    rs_head tmp;
    const rs_head *h = head;
    if (version > head->version) {
        /* HEAD lags the log (a publisher died between its two writes): the log is the truth */
        entry_info ei;
        int rc = entry_get(c, version, &ei, err);
        if (rc == RS_ENOTFOUND)
            return rs_error_set(err, RS_ENOTFOUND, "version %" PRIu64 " is not in the log (HEAD is at %" PRIu64 ")", version,
                                head->version);
        if (rc)
            return rc;
        tmp = *head;
        tmp.version = version;
        memcpy(tmp.digest, ei.result, RS_DIGEST_LEN);
        h = &tmp;
    }
    rs_registry *r;
    int rc = rs_log_materialize(c->s, h, version, &r, err);
    if (rc)
        return rc;
    rs_registry_free(c->reg);
    c->reg = r;
    c->reg_version = version;
    *out = r;
    return RS_OK;
}

/* ================================================================ filters */

filter_ref dr_report_filter(const rs_region_report *r)
{
    return (filter_ref){r->include_projects, r->n_include, r->exclude_projects, r->n_exclude};
}

/* No filter, or one that lets every project through. */
static bool filter_trivial(const filter_ref *f)
{
    if (f->nexc)
        return false;
    if (!f->ninc)
        return true;
    for (size_t i = 0; i < f->ninc; i++)
        if (strcmp(f->inc[i], "*") == 0)
            return true;
    return false;
}

bool dr_filter_allows(const filter_ref *f, const char *project)
{
    rs_agent_config cfg = {.include_projects = (const char *const *)f->inc,
                           .n_include = f->ninc,
                           .exclude_projects = (const char *const *)f->exc,
                           .n_exclude = f->nexc};
    return rs_agent_project_allowed(&cfg, project);
}

static bool keep_cb(const char *project, void *ctx) { return dr_filter_allows(ctx, project); }

/* A canonical string for the cache key: "" for a trivial filter. */
static char *filter_key(const filter_ref *f)
{
    rs_buf b = {0};
    if (!filter_trivial(f)) {
        for (size_t i = 0; i < f->ninc; i++)
            rs_buf_printf(&b, "+%s%c", f->inc[i], 0x1f);
        for (size_t i = 0; i < f->nexc; i++)
            rs_buf_printf(&b, "-%s%c", f->exc[i], 0x1f);
    }
    if (rs_buf_cstr(&b))
        return NULL;
    return (char *)rs_buf_take(&b, NULL);
}

static void filter_describe(const filter_ref *f, char *out, size_t n)
{
    rs_buf b = {0};
    if (f->ninc) {
        rs_buf_printf(&b, "include");
        for (size_t i = 0; i < f->ninc; i++)
            rs_buf_printf(&b, "%s%s", i ? "," : " ", f->inc[i]);
    }
    if (f->nexc) {
        rs_buf_printf(&b, "%sexclude", b.len ? "; " : "");
        for (size_t i = 0; i < f->nexc; i++)
            rs_buf_printf(&b, "%s%s", i ? "," : " ", f->exc[i]);
    }
    snprintf(out, n, "%.*s", (int)b.len, b.data ? (const char *)b.data : "");
    rs_buf_free(&b);
}

/* The region's view at version: the global registry filtered by its filter. New registry. */
int dr_view_at(rs_drift_ctx *c, const rs_head *head, uint64_t version, const filter_ref *f, rs_registry **out,
               rs_error *err)
{
    *out = NULL;
    if (version == 0) {
        *out = rs_registry_new();
        return *out ? RS_OK : rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    const rs_registry *g;
    int rc = rebuild_at(c, head, version, &g, err);
    if (rc)
        return rc;
    if (filter_trivial(f)) {
        *out = rs_registry_clone(g);
        return *out ? RS_OK : rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    return rs_registry_filter(g, keep_cb, (void *)f, out, err);
}

int rs_drift_materialize(rs_drift_ctx *c, const rs_head *head, uint64_t version, rs_registry **out, rs_error *err)
{
    *out = NULL;
    if (!c)
        return rs_error_set(err, RS_EINVALID, "drift: no context");
    rs_head empty = {0};
    if (!head)
        head = &empty;
    filter_ref none = {0};
    pthread_mutex_lock(&c->mu);
    int rc = dr_view_at(c, head, version, &none, out, err);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* What the log says the digest of the region's view at version is. */
int dr_expected_digest(rs_drift_ctx *c, const rs_head *head, uint64_t version, const filter_ref *f,
                       uint8_t out[RS_DIGEST_LEN], rs_error *err)
{
    char *key = filter_key(f);
    if (!key)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->ndig; i++)
        if (c->dig[i].version == version && strcmp(c->dig[i].filter, key) == 0) {
            memcpy(out, c->dig[i].digest, RS_DIGEST_LEN);
            free(key);
            return RS_OK;
        }
    int rc;
    if (!key[0] && version == head->version) {
        memcpy(out, head->digest, RS_DIGEST_LEN);
        rc = RS_OK;
    } else if (!key[0]) {
        entry_info ei;
        rc = entry_get(c, version, &ei, err);
        if (!rc)
            memcpy(out, ei.result, RS_DIGEST_LEN);
    } else {
        rs_registry *v;
        rc = dr_view_at(c, head, version, f, &v, err);
        if (!rc) {
            rs_registry_digest(v, out);
            rs_registry_free(v);
        }
    }
    if (rc) {
        free(key);
        return rc;
    }
    if (c->ndig >= DRIFT_CACHE_MAX)
        digest_cache_clear(c);
    if (c->ndig == c->capdig) {
        size_t cap = c->capdig ? c->capdig * 2 : 16;
        digest_entry *nv = realloc(c->dig, cap * sizeof *nv);
        if (!nv) {
            free(key);
            return RS_OK; /* not cached, still right */
        }
        c->dig = nv;
        c->capdig = cap;
    }
    c->dig[c->ndig].version = version;
    c->dig[c->ndig].filter = key;
    memcpy(c->dig[c->ndig].digest, out, RS_DIGEST_LEN);
    c->ndig++;
    return RS_OK;
}

/* ================================================================ states */

static void short_hex(const uint8_t *d, char out[13])
{
    char h[2 * RS_DIGEST_LEN + 1];
    rs_hex(d, RS_DIGEST_LEN, h);
    memcpy(out, h, 12);
    out[12] = 0;
}

static void fmt_duration(int64_t ms, char *out, size_t n)
{
    if (ms < 0)
        ms = 0;
    int64_t s = ms / 1000;
    if (s < 120) {
        int64_t tenths = (ms + 50) / 100;
        snprintf(out, n, "%" PRId64 ".%01" PRId64 " s", tenths / 10, tenths % 10);
    } else if (s < 7200) {
        snprintf(out, n, "%" PRId64 " min", s / 60);
    } else if (s < 172800) {
        snprintf(out, n, "%" PRId64 " h", s / 3600);
    } else {
        snprintf(out, n, "%" PRId64 " d", s / 86400);
    }
}

static void key_text(const rs_report_key *k, char *out, size_t n)
{
    const char *kn = rs_kind_plan_name(k->kind);
    snprintf(out, n, "%s %s%s%s", kn && *kn ? kn : "object", k->project && *k->project ? k->project : "",
             k->project && *k->project ? "/" : "", k->name);
}

static bool publisher_only(const rs_region_report *r)
{
    if (r->format >= 2)
        return !r->follows;
    return r->applied_version == 0 && strcmp(r->state, "publishing") == 0;
}

/* Lag: now minus the publish time of the first version the region lacks. */
static double lag_of(rs_drift_ctx *c, const rs_head *head, uint64_t applied, int64_t now, bool *approx)
{
    *approx = false;
    uint64_t first = applied + 1;
    if (head->oldest_version > first) {
        first = head->oldest_version; /* compacted: the region lacks even older versions */
        *approx = true;
    }
    entry_info ei;
    int64_t t = 0;
    if (entry_get(c, first, &ei, NULL) == RS_OK)
        t = ei.published_ms;
    if (!t) {
        t = head->updated_ms; /* a lower bound */
        *approx = true;
    }
    if (!t || now <= t)
        return 0.0;
    return (double)rs_i64_sub_sat(now, t) / 1000.0; /* t is untrusted: may be near INT64_MIN */
}

static void judge(rs_drift_ctx *c, const rs_head *head, int64_t now, int64_t stale_after, rs_region_report *r,
                  rs_drift_row *row)
{
    memset(row, 0, sizeof *row);
    row->report = r;
    row->state = RS_DRIFT_IN_SYNC;
    /* a region whose clock runs ahead reports heartbeats from the future: age 0 */
    row->heartbeat_age_ms = !r->heartbeat_ms ? -1 : now > r->heartbeat_ms ? rs_i64_sub_sat(now, r->heartbeat_ms) : 0;
    if (r->error) {
        row->state = RS_DRIFT_STALE;
        snprintf(row->reason, sizeof row->reason, "report unreadable: %s", r->error);
        return;
    }
    bool pub_only = publisher_only(r);
    row->versions_behind = !pub_only && head->version > r->applied_version ? head->version - r->applied_version : 0;
    bool lag_approx = false;
    if (row->versions_behind)
        row->lag_seconds = lag_of(c, head, r->applied_version, now, &lag_approx);
    char lag[32], age[32];
    /* a lag from an untrusted time can reach 2^63 ms, which no int64 holds */
    fmt_duration(row->lag_seconds * 1000.0 < 9.2e18 ? (int64_t)(row->lag_seconds * 1000.0) : INT64_MAX, lag, sizeof lag);
    char behind[96] = "";
    if (row->versions_behind)
        snprintf(behind, sizeof behind, "%" PRIu64 " version(s) behind, lag %s%s", row->versions_behind,
                 lag_approx ? "at least " : "", lag);

    /* stale */
    if (!r->heartbeat_ms || rs_i64_sub_sat(now, r->heartbeat_ms) > stale_after) {
        row->state = RS_DRIFT_STALE;
        char lim[32];
        fmt_duration(stale_after, lim, sizeof lim);
        if (!r->heartbeat_ms) {
            snprintf(row->reason, sizeof row->reason, "the report has no heartbeat");
        } else {
            fmt_duration(rs_i64_sub_sat(now, r->heartbeat_ms), age, sizeof age);
            snprintf(row->reason, sizeof row->reason, "no heartbeat for %s (limit %s); last seen %s at version %" PRIu64 "%s%s",
                     age, lim, r->state[0] ? r->state : "reporting", r->applied_version, behind[0] ? "; " : "", behind);
        }
        return;
    }
    /* paused */
    if (r->paused || strcmp(r->state, "paused") == 0) {
        row->state = RS_DRIFT_PAUSED;
        snprintf(row->reason, sizeof row->reason, "paused at version %" PRIu64 "%s%s", r->applied_version,
                 behind[0] ? "; " : "", behind);
        return;
    }
    /* diverged: the agent's word, or the digest against the log */
    filter_ref f = dr_report_filter(r);
    char digest_note[200] = "";
    if (r->applied_version && r->has_applied_digest && !pub_only) {
        rs_error de = {0};
        if (dr_expected_digest(c, head, r->applied_version, &f, row->expected_digest, &de) == RS_OK) {
            row->digest_check = memcmp(row->expected_digest, r->applied_digest, RS_DIGEST_LEN) == 0 ? RS_DRIFT_CHECK_OK
                                                                                                 : RS_DRIFT_CHECK_MISMATCH;
        } else {
            row->digest_check = RS_DRIFT_CHECK_UNKNOWN;
            snprintf(digest_note, sizeof digest_note, "digest not verified: %.160s", de.msg);
        }
    }
    if (strcmp(r->state, "diverged") == 0) {
        row->state = RS_DRIFT_DIVERGED;
        if (r->attempted_version)
            snprintf(row->reason, sizeof row->reason, "the agent reports diverged at version %" PRIu64 ": %.180s",
                     r->attempted_version, r->last_error[0] ? r->last_error : "no error recorded");
        else
            snprintf(row->reason, sizeof row->reason, "the agent reports diverged: %.200s",
                     r->last_error[0] ? r->last_error : "no error recorded");
        return;
    }
    if (row->digest_check == RS_DRIFT_CHECK_MISMATCH) {
        row->state = RS_DRIFT_DIVERGED;
        char a[13], e[13];
        short_hex(r->applied_digest, a);
        short_hex(row->expected_digest, e);
        snprintf(row->reason, sizeof row->reason,
                 "applied_digest %s.. differs from the log's %sdigest %s.. at version %" PRIu64, a,
                 filter_trivial(&f) ? "" : "filtered ", e, r->applied_version);
        return;
    }
    /* modified */
    bool digests_differ = r->has_target_digest && r->has_written_digest &&
                          memcmp(r->target_digest, r->written_digest, RS_DIGEST_LEN) != 0;
    if (r->target_modified || (digests_differ && r->n_regional_meta == 0)) {
        row->state = RS_DRIFT_MODIFIED;
        if (r->n_modified) {
            char k[160];
            key_text(&r->modified_objects[0], k, sizeof k);
            snprintf(row->reason, sizeof row->reason, "target changed locally: %zu object(s)%s, first %s", r->n_modified,
                     r->n_modified >= 100 ? " or more" : "", k);
        } else {
            char t[13], w[13];
            short_hex(r->target_digest, t);
            short_hex(r->written_digest, w);
            if (r->has_target_digest)
                snprintf(row->reason, sizeof row->reason, "target digest %s.. differs from what the agent wrote (%s..)", t, w);
            else
                snprintf(row->reason, sizeof row->reason, "the target changed locally and does not decode");
        }
        return;
    }
    if (r->applied_version && !r->has_target_digest && !pub_only) {
        row->state = RS_DRIFT_MODIFIED;
        snprintf(row->reason, sizeof row->reason, "the agent cannot read its target (missing or not a registry)");
        return;
    }
    /* behind */
    if (row->versions_behind) {
        row->state = RS_DRIFT_BEHIND;
        if (r->pinned_version && r->pinned_version <= r->applied_version)
            snprintf(row->reason, sizeof row->reason, "%s; pinned at version %" PRIu64, behind, r->pinned_version);
        else if (r->last_error[0] && r->attempted_version)
            snprintf(row->reason, sizeof row->reason, "%s; version %" PRIu64 " failed: %.120s", behind,
                     r->attempted_version, r->last_error);
        else
            snprintf(row->reason, sizeof row->reason, "%s", behind);
        return;
    }
    /* in sync: say what is worth knowing */
    if (pub_only)
        snprintf(row->reason, sizeof row->reason, "publishes only; holds no regional copy");
    else if (digest_note[0])
        snprintf(row->reason, sizeof row->reason, "%s", digest_note);
    else if (r->n_regional_meta)
        snprintf(row->reason, sizeof row->reason, "regional meta kept on %zu object(s)%s", r->n_regional_meta,
                 digests_differ ? " (not yet rewritten by the agent)" : "");
    else if (!filter_trivial(&f)) {
        char fd[200];
        filter_describe(&f, fd, sizeof fd);
        snprintf(row->reason, sizeof row->reason, "filtered view (%s)", fd);
    }
}

typedef struct order_item {
    uint64_t version;
    size_t index;
} order_item;

static int cmp_order(const void *a, const void *b)
{
    const order_item *x = a, *y = b;
    if (x->version != y->version)
        return x->version < y->version ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

int rs_drift_compute(rs_drift_ctx *c, const rs_head *head, rs_region_report *reports, size_t n,
                     const rs_drift_opts *o, rs_drift_row **rows, rs_error *err)
{
    *rows = NULL;
    if (!c || (n && !reports))
        return rs_error_set(err, RS_EINVALID, "drift: no context or reports");
    rs_drift_row *v = calloc(n ? n : 1, sizeof *v);
    order_item *ord = calloc(n ? n : 1, sizeof *ord);
    if (!v || !ord) {
        free(v);
        free(ord);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    int64_t now = o && o->now_ms ? o->now_ms : rs_wall_ms();
    int64_t stale_after = o && o->stale_after_ms > 0 ? o->stale_after_ms : RS_DRIFT_DEFAULT_STALE_AFTER_MS;
    rs_head empty = {0};
    if (!head)
        head = &empty;
    /* ascending versions: the cached registry moves forward instead of being rebuilt */
    for (size_t i = 0; i < n; i++)
        ord[i] = (order_item){reports[i].applied_version, i};
    qsort(ord, n, sizeof *ord, cmp_order);
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n; i++)
        judge(c, head, now, stale_after, &reports[ord[i].index], &v[ord[i].index]);
    pthread_mutex_unlock(&c->mu);
    free(ord);
    *rows = v;
    return RS_OK;
}

/* ================================================================ JSON */
