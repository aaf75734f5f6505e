/* rs_fleet.c: the fleet view. See rs_fleet.h and docs/fleet.md. */
#include "rs_fleet.h"
#include "rs_alloc.h"
#include "rs_checked.h"
#include "rs_log.h"
#include "rs_logproto.h"
#include "rs_time.h"
#include "rs_json.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_FORGET_MS 3600000
#define DEFAULT_SKEW_MS 30000
#define DEFAULT_MAX_PRUNE 50

const char *const rs_fleet_state_names[6] = {RS_DRIFT_DIVERGED, RS_DRIFT_MODIFIED, RS_DRIFT_STALE,
                                             RS_DRIFT_BEHIND,   RS_DRIFT_PAUSED,   RS_DRIFT_IN_SYNC};

/* What the view remembers of one report between refreshes. */
typedef struct tracked {
    size_t src;                /* 0: the main store; i + 1: opts.also[i] */
    char *key;
    char etag[RS_ETAG_MAX];
    int64_t mtime_ms;          /* the store's time of the last write */
    uint8_t *data;             /* the body as last read */
    size_t len;
    char read_error[256];      /* the body could not be read ("" when it was) */
    int64_t first_seen_mono;
    int64_t first_age_ms;      /* its age by the store's clock when first seen */
    int64_t last_change_mono;  /* when this view saw its modification time move */
    bool seen_change;
    int64_t skew_ms;           /* written_at - mtime of the write that changed the content */
    bool skew_known;
} tracked;

struct rs_fleet {
    rs_storage *s;
    rs_fleet_opts o;
    rs_drift_ctx *drift;
    tracked *t;
    size_t n, cap;
    rs_head head;
    bool has_head;
    char head_etag[RS_ETAG_MAX];
    pthread_mutex_t mu;        /* guards snap only */
    rs_fleet_snap *snap;
    bool listed;               /* a listing succeeded before: a key new since then was written since */
};

rs_fleet *rs_fleet_new(rs_storage *s, const rs_fleet_opts *o)
{
    rs_fleet *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->s = s;
    if (o)
        f->o = *o;
    if (f->o.stale_after_ms <= 0)
        f->o.stale_after_ms = RS_DRIFT_DEFAULT_STALE_AFTER_MS;
    if (f->o.forget_after_ms <= 0)
        f->o.forget_after_ms = DEFAULT_FORGET_MS;
    if (f->o.max_clock_skew_ms <= 0)
        f->o.max_clock_skew_ms = DEFAULT_SKEW_MS;
    if (!f->o.max_prune)
        f->o.max_prune = DEFAULT_MAX_PRUNE;
    f->drift = rs_drift_ctx_new(s);
    if (!f->drift) {
        free(f);
        return NULL;
    }
    pthread_mutex_init(&f->mu, NULL);
    return f;
}

static void tracked_clear(tracked *t)
{
    free(t->key);
    free(t->data);
    memset(t, 0, sizeof *t);
}

static void snap_free(rs_fleet_snap *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_instances; i++) {
        rs_region_report_clear(s->instances[i].report);
        free(s->instances[i].report);
    }
    for (size_t i = 0; i < s->n_publishers; i++) {
        rs_region_report_clear(s->publishers[i].report);
        free(s->publishers[i].report);
    }
    free(s->instances);
    free(s->publishers);
    free(s->regions);
    free(s->json);
    rs_head_clear(&s->head);
    free(s);
}

void rs_fleet_snap_release(const rs_fleet_snap *cs)
{
    rs_fleet_snap *s = (rs_fleet_snap *)cs;
    if (!s)
        return;
    if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
        snap_free(s);
}

const rs_fleet_snap *rs_fleet_snapshot(rs_fleet *f)
{
    pthread_mutex_lock(&f->mu);
    rs_fleet_snap *s = f->snap;
    if (s)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&f->mu);
    return s;
}

void rs_fleet_free(rs_fleet *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        tracked_clear(&f->t[i]);
    free(f->t);
    rs_head_clear(&f->head);
    rs_drift_ctx_free(f->drift);
    rs_fleet_snap_release(f->snap);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* ------------------------------------------------------------ refresh: the store */

static tracked *find_tracked(rs_fleet *f, size_t src, const char *key)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->t[i].src == src && strcmp(f->t[i].key, key) == 0)
            return &f->t[i];
    return NULL;
}

static rs_storage *store_of(const rs_fleet *f, size_t src)
{
    return src == 0 ? f->s : f->o.also[src - 1];
}

/* Reads a report body whose ETag moved; remembers the skew of its writer's clock. In this view's
 * first listing (`unsure`) a report's modification time may be that of a heartbeat long after the
 * write that composed it (a heartbeat rewrites the same bytes; written_at stays), so written_at -
 * mtime only bounds the writer's lead from below: a writer ahead (or less than a heartbeat behind)
 * is measured, one further behind is not until its report changes (an old report looks just like
 * a slow clock). A report that appeared, or changed, since a listing was written since then. */
static void read_body(rs_fleet *f, tracked *t, const rs_list_entry *le, bool unsure)
{
    uint8_t *d = NULL;
    size_t l = 0;
    char etag[RS_ETAG_MAX] = "";
    rs_error e = {0};
    int rc = rs_storage_get(store_of(f, t->src), t->key, NULL, &d, &l, etag, &e);
    if (rc) {
        snprintf(t->read_error, sizeof t->read_error, "cannot read: %.200s", e.msg);
        return;
    }
    free(t->data);
    t->data = d;
    t->len = l;
    t->read_error[0] = '\0';
    snprintf(t->etag, sizeof t->etag, "%s", etag[0] ? etag : le->etag);
    /* the writer's clock against the store's, for the write that changed the content */
    rs_region_report r;
    t->skew_known = false;
    if (rs_region_report_decode(d, l, &r, NULL) == RS_OK && r.written_at_ms && le->mtime_ms &&
        (!unsure || rs_i64_sub_sat(r.written_at_ms, le->mtime_ms) >= -(int64_t)r.heartbeat_interval_ms)) {
        t->skew_ms = rs_i64_sub_sat(r.written_at_ms, le->mtime_ms); /* written_at is untrusted */
        t->skew_known = true;
    }
    rs_region_report_clear(&r);
}

/* The listing of regsync/regions/: new, changed and vanished reports. */
static int sync_tracked(rs_fleet *f, size_t src, const rs_list_entry *le, size_t n, int64_t now_mono, int64_t now_wall,
                        rs_error *err)
{
    /* drop what is gone (from this store) */
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++) {
        bool there = f->t[i].src != src;
        for (size_t j = 0; j < n && !there; j++)
            there = strcmp(le[j].key, f->t[i].key) == 0;
        if (there)
            f->t[k++] = f->t[i];
        else
            tracked_clear(&f->t[i]);
    }
    f->n = k;
    for (size_t j = 0; j < n; j++) {
        const char *rest = le[j].key + strlen(RS_PREFIX_REGIONS);
        if (!*rest || strchr(rest, '/') != strrchr(rest, '/'))
            continue; /* region/instance or region only */
        tracked *t = find_tracked(f, src, le[j].key);
        if (!t) {
            if (f->n == f->cap) {
                size_t nc = f->cap ? f->cap * 2 : 16;
                tracked *nv = realloc(f->t, nc * sizeof *nv);
                if (!nv)
                    return rs_error_set(err, RS_ENOMEM, "out of memory");
                f->t = nv;
                f->cap = nc;
            }
            t = &f->t[f->n++];
            memset(t, 0, sizeof *t);
            t->src = src;
            t->key = rs_xstrdup(le[j].key);
            if (!t->key) {
                f->n--;
                return rs_error_set(err, RS_ENOMEM, "out of memory");
            }
            t->first_seen_mono = now_mono;
            t->first_age_ms = le[j].mtime_ms && now_wall > le[j].mtime_ms ? rs_i64_sub_sat(now_wall, le[j].mtime_ms) : 0;
            t->mtime_ms = le[j].mtime_ms;
            read_body(f, t, &le[j], !f->listed);
            continue;
        }
        if (le[j].mtime_ms != t->mtime_ms || strcmp(le[j].etag, t->etag) != 0) {
            t->last_change_mono = now_mono;
            t->seen_change = true;
        }
        t->mtime_ms = le[j].mtime_ms;
        if (strcmp(le[j].etag, t->etag) != 0 || t->read_error[0])
            read_body(f, t, &le[j], !t->data && !t->seen_change);
    }
    f->listed = true;
    return RS_OK;
}

static int64_t age_of(const tracked *t, int64_t now_mono)
{
    if (t->seen_change)
        return now_mono - t->last_change_mono;
    return t->first_age_ms + (now_mono - t->first_seen_mono);
}

/* ------------------------------------------------------------ refresh: the snapshot */

static int state_rank(const char *st)
{
    for (int i = 0; i < 6; i++)
        if (strcmp(st, rs_fleet_state_names[i]) == 0)
            return i;
    return 5;
}

static int cmp_instance(const void *a, const void *b)
{
    const rs_fleet_instance *x = a, *y = b;
    int c = strcmp(x->report->region, y->report->region);
    if (c)
        return c;
    return strcmp(x->report->instance, y->report->instance);
}

/* Another store holds a newer report of the same instance (same key): newest write wins. */
static bool shadowed(const rs_fleet *f, const tracked *t, int64_t now_mono)
{
    int64_t age = age_of(t, now_mono);
    for (size_t i = 0; i < f->n; i++) {
        const tracked *o = &f->t[i];
        if (o == t || o->src == t->src || strcmp(o->key, t->key) != 0)
            continue;
        int64_t oa = age_of(o, now_mono);
        if (oa < age || (oa == age && o->src < t->src))
            return true;
    }
    return false;
}

/* Decodes every tracked report into a new snapshot's instances and publishers. */
static int build_instances(rs_fleet *f, rs_fleet_snap *s, int64_t now_mono, int64_t now_wall, rs_error *err)
{
    s->instances = calloc(f->n ? f->n : 1, sizeof *s->instances);
    s->publishers = calloc(f->n ? f->n : 1, sizeof *s->publishers);
    if (!s->instances || !s->publishers)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    for (size_t i = 0; i < f->n; i++) {
        tracked *t = &f->t[i];
        if (shadowed(f, t, now_mono))
            continue; /* the same instance's newer report from another store is shown */
        rs_region_report *r = calloc(1, sizeof *r);
        if (!r)
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        if (t->data) {
            if (rs_region_report_decode(t->data, t->len, r, NULL) == RS_ENOMEM) {
                free(r);
                return rs_error_set(err, RS_ENOMEM, "out of memory");
            }
        } else {
            memset(r, 0, sizeof *r);
            r->error = rs_xstrdup(t->read_error[0] ? t->read_error : "unreadable");
        }
        /* key, region and instance from the key when the report has none */
        const char *rest = t->key + strlen(RS_PREFIX_REGIONS);
        const char *slash = strchr(rest, '/');
        free(r->key);
        r->key = rs_xstrdup(t->key);
        if (!r->region || !r->region[0]) {
            free(r->region);
            r->region = slash ? rs_xstrndup(rest, (size_t)(slash - rest)) : rs_xstrdup(rest);
        }
        free(r->instance);
        r->instance = rs_xstrdup(slash ? slash + 1 : "");
        if (!r->last_error)
            r->last_error = rs_xstrdup("");
        if (!r->state)
            r->state = rs_xstrdup("");
        if (!r->agent)
            r->agent = rs_xstrdup("");
        if (!r->log_store)
            r->log_store = rs_xstrdup("");
        if (!r->control)
            r->control = rs_xstrdup("");
        if (!r->read_store)
            r->read_store = rs_xstrdup("");
        if (!r->epoch_change)
            r->epoch_change = rs_xstrdup("");
        if (!r->key || !r->region || !r->instance || !r->last_error || !r->state || !r->agent || !r->log_store ||
            !r->control || !r->read_store || !r->epoch_change) {
            rs_region_report_clear(r);
            free(r);
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        }
        if (r->error)
            r->follows = true; /* unreadable: shown among the followers (stale, with the error) */
        r->mtime_ms = t->mtime_ms;
        snprintf(r->etag, sizeof r->etag, "%s", t->etag);
        int64_t age = age_of(t, now_mono);
        /* the reader-derived time of the last write; the drift judgement reads it as the heartbeat */
        r->heartbeat_ms = now_wall - age;
        rs_fleet_instance in = {.report = r,
                                .age_ms = age,
                                .observed = t->seen_change,
                                .stale = age > f->o.stale_after_ms,
                                .legacy = !slash,
                                .skew_ms = t->skew_ms,
                                .skew_known = t->skew_known};
        int64_t hb = r->heartbeat_interval_ms > 0 ? r->heartbeat_interval_ms : 0;
        in.skew_warning = t->skew_known && (t->skew_ms > f->o.max_clock_skew_ms || t->skew_ms < -(f->o.max_clock_skew_ms + hb));
        if (r->follows || r->error)
            s->instances[s->n_instances++] = in;
        else {
            in.state = in.stale ? RS_DRIFT_STALE : "publishing";
            s->publishers[s->n_publishers++] = in;
        }
    }
    qsort(s->instances, s->n_instances, sizeof *s->instances, cmp_instance);
    qsort(s->publishers, s->n_publishers, sizeof *s->publishers, cmp_instance);
    return RS_OK;
}

static int judge_all(rs_fleet *f, rs_fleet_snap *s, int64_t now_wall, rs_error *err)
{
    if (!s->n_instances)
        return RS_OK;
    /* rs_drift_compute takes an array of reports: judge copies side by side, then keep rows */
    rs_region_report *reps = calloc(s->n_instances, sizeof *reps);
    if (!reps)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->n_instances; i++)
        reps[i] = *s->instances[i].report; /* shallow: the rows point into reps, fixed below */
    rs_drift_opts o = {.stale_after_ms = f->o.stale_after_ms, .now_ms = now_wall};
    rs_drift_row *rows = NULL;
    int rc = rs_drift_compute(f->drift, s->has_head ? &s->head : NULL, reps, s->n_instances, &o, &rows, err);
    if (!rc) {
        for (size_t i = 0; i < s->n_instances; i++) {
            s->instances[i].row = rows[i];
            s->instances[i].row.report = s->instances[i].report;
            s->instances[i].state = rows[i].state;
        }
    }
    free(rows);
    free(reps); /* shallow copies: the strings belong to the instances */
    return rc;
}

static void aggregate(rs_fleet_snap *s)
{
    /* a legacy report that went stale beside live instances of its region: superseded */
    for (size_t i = 0; i < s->n_instances; i++) {
        rs_fleet_instance *in = &s->instances[i];
        if (!in->legacy || !in->stale)
            continue;
        for (size_t j = 0; j < s->n_instances; j++)
            if (j != i && !s->instances[j].legacy && !s->instances[j].stale &&
                strcmp(s->instances[j].report->region, in->report->region) == 0)
                in->superseded = true;
    }
    s->regions = calloc(s->n_instances ? s->n_instances : 1, sizeof *s->regions);
    if (!s->regions)
        return;
    for (size_t i = 0; i < s->n_instances;) {
        rs_fleet_region *g = &s->regions[s->n_regions++];
        g->region = s->instances[i].report->region;
        g->first = i;
        size_t j = i;
        int worst = 5;
        while (j < s->n_instances && strcmp(s->instances[j].report->region, g->region) == 0) {
            const rs_fleet_instance *in = &s->instances[j];
            g->n_instances++;
            if (!in->superseded) {
                g->counts[state_rank(in->state)]++;
                if (!in->stale) {
                    g->n_live++;
                    int r = state_rank(in->state);
                    if (r < worst)
                        worst = r;
                    uint64_t v = in->report->applied_version;
                    if (g->n_live == 1 || v < g->min_applied)
                        g->min_applied = v;
                    if (v > g->max_applied)
                        g->max_applied = v;
                }
            }
            j++;
        }
        if (!g->n_live) {
            g->state = RS_DRIFT_STALE;
            g->n_in_state = 0;
        } else {
            g->state = rs_fleet_state_names[worst];
            for (size_t k = i; k < j; k++)
                if (!s->instances[k].superseded && !s->instances[k].stale && strcmp(s->instances[k].state, g->state) == 0)
                    g->n_in_state++;
        }
        size_t listed = g->n_instances;
        for (size_t k = i; k < j; k++)
            if (s->instances[k].superseded)
                listed--;
        snprintf(g->summary, sizeof g->summary, "%s %zu/%zu", g->state, g->n_in_state, g->n_live ? g->n_live : listed);
        i = j;
    }
}

/* Removes reports silent for forget_after (conditional on the ETag this view read), and legacy
 * reports superseded by live instances of their region. */
static size_t prune(rs_fleet *f, const rs_fleet_snap *s, int64_t now_mono)
{
    if (!f->o.prune)
        return 0;
    size_t done = 0;
    for (size_t i = 0; i < f->n && done < f->o.max_prune;) {
        tracked *t = &f->t[i];
        bool forget = age_of(t, now_mono) > f->o.forget_after_ms;
        if (!forget && !strchr(t->key + strlen(RS_PREFIX_REGIONS), '/')) {
            for (size_t k = 0; k < s->n_instances; k++)
                if (s->instances[k].superseded && strcmp(s->instances[k].report->key, t->key) == 0)
                    forget = true;
        }
        if (!forget || !t->etag[0]) {
            i++;
            continue;
        }
        rs_error e = {0};
        int rc = rs_storage_delete_if(store_of(f, t->src), t->key, t->etag, t->mtime_ms, &e);
        if (rc == RS_OK) {
            RS_LOGI("fleet", "forgot a silent instance key=%s silent_for=%" PRId64 "s", t->key, age_of(t, now_mono) / 1000);
            tracked_clear(t);
            f->t[i] = f->t[--f->n];
            done++;
            continue;
        }
        if (rc != RS_ECONFLICT)
            RS_LOGW("fleet", "cannot forget key=%s error=\"%s\"", t->key, e.msg);
        i++; /* rewritten meanwhile (alive after all), or a store error: keep it */
    }
    return done;
}

int rs_fleet_refresh(rs_fleet *f, rs_error *err)
{
    int64_t t0 = rs_mono_ms(), now_wall = rs_wall_ms();
    rs_storage_stats st0;
    rs_storage_get_stats(f->s, &st0);
    rs_error e = {0};
    rs_head h;
    char etag[RS_ETAG_MAX] = "";
    int rc = rs_log_read_head(f->s, f->head_etag[0] ? f->head_etag : NULL, &h, etag, &e);
    if (rc == RS_OK) {
        rs_head_clear(&f->head);
        f->head = h;
        f->has_head = true;
        snprintf(f->head_etag, sizeof f->head_etag, "%s", etag);
    } else if (rc == RS_ENOTFOUND) {
        rs_head_clear(&f->head);
        memset(&f->head, 0, sizeof f->head);
        f->has_head = false;
        f->head_etag[0] = '\0';
        rc = RS_OK;
    } else if (rc == RS_ENOTMODIFIED) {
        rc = RS_OK;
    }
    rs_list_entry *le = NULL;
    size_t n = 0;
    if (!rc)
        rc = rs_storage_list(f->s, RS_PREFIX_REGIONS, &le, &n, &e);
    int64_t now_mono = rs_mono_ms();
    if (!rc)
        rc = sync_tracked(f, 0, le, n, now_mono, now_wall, &e);
    rs_storage_list_free(le, n);
    for (size_t i = 0; !rc && i < f->o.n_also; i++) {
        rs_error ae = {0};
        le = NULL;
        n = 0;
        if (rs_storage_list(f->o.also[i], RS_PREFIX_REGIONS, &le, &n, &ae) == RS_OK)
            rc = sync_tracked(f, i + 1, le, n, now_mono, now_wall, &e);
        else
            RS_LOGW("fleet", "cannot list the reports of %s (its last ones are kept) error=\"%s\"",
                    rs_storage_url(f->o.also[i]), ae.msg);
        rs_storage_list_free(le, n);
    }
    rs_fleet_snap *s = NULL;
    if (!rc) {
        s = calloc(1, sizeof *s);
        if (!s)
            rc = rs_error_set(&e, RS_ENOMEM, "out of memory");
    }
    if (!rc && f->has_head) {
        if (rs_head_copy(&s->head, &f->head))
            rc = rs_error_set(&e, RS_ENOMEM, "out of memory");
        else
            s->has_head = true;
    }
    if (!rc)
        rc = build_instances(f, s, now_mono, now_wall, &e);
    if (!rc)
        rc = judge_all(f, s, now_wall, &e);
    if (!rc) {
        aggregate(s);
        if (!s->regions && s->n_instances)
            rc = rs_error_set(&e, RS_ENOMEM, "out of memory");
    }
    if (rc) {
        snap_free(s);
        /* keep the previous view, say why it is not fresher */
        pthread_mutex_lock(&f->mu);
        if (f->snap)
            snprintf(f->snap->error, sizeof f->snap->error, "%s", e.msg);
        pthread_mutex_unlock(&f->mu);
        if (err)
            *err = e;
        return rc;
    }
    s->pruned = prune(f, s, now_mono);
    rs_storage_stats st1;
    rs_storage_get_stats(f->s, &st1);
    s->refreshed_ms = now_wall;
    s->refresh_ms = rs_mono_ms() - t0;
    s->refresh_requests = st1.requests - st0.requests;
    s->refresh_bytes = st1.bytes_in - st0.bytes_in;
    s->stale_after_ms = f->o.stale_after_ms;
    s->forget_after_ms = f->o.forget_after_ms;
    /* serialized once here, so that readers of a large fleet copy bytes instead of rebuilding */
    json_t *j = rs_fleet_to_json(s);
    char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (txt) {
        size_t tl = strlen(txt);
        char *t = realloc(txt, tl + 2);
        if (t) {
            t[tl] = '\n';
            t[tl + 1] = '\0';
            s->json = t;
            s->json_len = tl + 1;
        } else {
            free(txt);
        }
    }
    s->refs = 1;
    pthread_mutex_lock(&f->mu);
    rs_fleet_snap *old = f->snap;
    f->snap = s;
    pthread_mutex_unlock(&f->mu);
    rs_fleet_snap_release(old);
    return RS_OK;
}

/* ------------------------------------------------------------ readers */

const rs_fleet_region *rs_fleet_find_region(const rs_fleet_snap *s, const char *region)
{
    for (size_t i = 0; s && i < s->n_regions; i++)
        if (strcmp(s->regions[i].region, region) == 0)
            return &s->regions[i];
    return NULL;
}

static bool list_has(const char *list, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        while (l && *p == ' ') {
            p++;
            l--;
        }
        while (l && p[l - 1] == ' ')
            l--;
        if (l == nl && strncmp(p, name, l) == 0)
            return true;
        if (!c)
            break;
        p = c + 1;
    }
    return false;
}

int rs_fleet_wait_check(const rs_fleet_snap *s, uint64_t version, const char *regions, bool *done, json_t **waiting,
                        rs_error *err)
{
    *done = false;
    if (waiting)
        *waiting = NULL;
    bool all = !regions || !*regions || strcmp(regions, "all") == 0;
    if (!all) {
        /* every named region must be known */
        for (const char *p = regions; *p;) {
            const char *c = strchr(p, ',');
            size_t l = c ? (size_t)(c - p) : strlen(p);
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(l < sizeof name ? l : sizeof name - 1), p);
            char *t = name;
            while (*t == ' ')
                t++;
            size_t tl = strlen(t);
            while (tl && t[tl - 1] == ' ')
                t[--tl] = '\0';
            if (*t && !rs_fleet_find_region(s, t))
                return rs_error_set(err, RS_ENOTFOUND, "no region '%s' reports to this store (regions: see /v1/drift)", t);
            if (!c)
                break;
            p = c + 1;
        }
    }
    json_t *w = json_array();
    for (size_t i = 0; i < s->n_instances; i++) {
        const rs_fleet_instance *in = &s->instances[i];
        if (in->stale || in->superseded)
            continue; /* live followers only */
        if (!all && !list_has(regions, in->report->region))
            continue;
        if (in->report->applied_version < version) {
            char id[200];
            snprintf(id, sizeof id, "%s%s%s", in->report->region, in->report->instance[0] ? "/" : "", in->report->instance);
            json_array_append_new(w, json_string(id));
        }
    }
    *done = json_array_size(w) == 0;
    if (waiting)
        *waiting = w;
    else
        json_decref(w);
    return RS_OK;
}

static json_t *instance_json(const rs_fleet_instance *in, bool follower)
{
    const rs_region_report *r = in->report;
    json_t *o = follower ? rs_drift_row_json(&in->row) : json_object();
    json_object_set_new(o, "region", json_string(r->region));
    json_object_set_new(o, "instance", json_string(r->instance));
    json_object_set_new(o, "state", json_string(in->superseded ? "superseded" : in->state));
    json_object_set_new(o, "role", json_string(r->follows && r->publishes ? "follow+publish" : r->follows ? "follow" : "publish"));
    json_object_set_new(o, "live", json_boolean(!in->stale));
    json_object_set_new(o, "age_seconds", json_real((double)in->age_ms / 1000.0));
    json_object_set_new(o, "age_from", json_string(in->observed ? "observed" : "store_time"));
    json_object_set_new(o, "last_write", rs_json_time_ms(r->mtime_ms));
    json_object_set_new(o, "written_at", rs_json_time_ms(r->written_at_ms));
    json_object_set_new(o, "started_at", rs_json_time_ms(r->started_at_ms));
    if (in->skew_known) {
        json_t *k = json_object();
        json_object_set_new(k, "seconds", json_real((double)in->skew_ms / 1000.0));
        json_object_set_new(k, "warning", json_boolean(in->skew_warning));
        json_object_set_new(o, "clock_skew", k);
    } else {
        json_object_set_new(o, "clock_skew", json_null());
    }
    json_object_set_new(o, "legacy_layout", json_boolean(in->legacy));
    json_object_set_new(o, "control", json_string(r->control ? r->control : ""));
    json_object_set_new(o, "epoch", json_integer((json_int_t)r->epoch));
    json_object_set_new(o, "read_store", json_string(r->read_store ? r->read_store : ""));
    if (r->epoch_change && r->epoch_change[0]) {
        json_t *ec = json_object();
        json_object_set_new(ec, "time", rs_json_time_ms(r->epoch_change_at_ms));
        json_object_set_new(ec, "message", json_string(r->epoch_change));
        json_object_set_new(o, "epoch_change", ec);
    } else {
        json_object_set_new(o, "epoch_change", json_null());
    }
    json_t *rec = json_array();
    for (size_t i = 0; i < r->n_recent; i++) {
        json_t *x = json_object();
        json_object_set_new(x, "version", json_integer((json_int_t)r->recent[i].version));
        json_object_set_new(x, "at", rs_json_time_ms(r->recent[i].at_ms));
        json_array_append_new(rec, x);
    }
    json_object_set_new(o, "recent_applies", rec);
    if (!follower) {
        json_object_set_new(o, "agent", json_string(r->agent));
        json_object_set_new(o, "last_published_version", json_integer((json_int_t)r->last_published_version));
        json_object_set_new(o, "last_publish", rs_json_time_ms(r->last_publish_at_ms));
        json_object_set_new(o, "head_version", json_integer((json_int_t)r->head_version));
        if (r->last_error[0]) {
            json_t *le = json_object();
            json_object_set_new(le, "time", rs_json_time_ms(r->last_error_at_ms));
            json_object_set_new(le, "message", json_string(r->last_error));
            json_object_set_new(o, "last_error", le);
        } else {
            json_object_set_new(o, "last_error", json_null());
        }
        json_object_set_new(o, "report_error", r->error ? json_string(r->error) : json_null());
    }
    return o;
}

json_t *rs_fleet_to_json(const rs_fleet_snap *s)
{
    json_t *root = json_object();
    json_object_set_new(root, "head", s->has_head && s->head.version ? rs_drift_head_json(&s->head) : json_null());
    json_t *regions = json_array(), *counts = json_object(), *icounts = json_object();
    for (int k = 0; k < 6; k++) {
        json_object_set_new(counts, rs_fleet_state_names[k], json_integer(0));
        json_object_set_new(icounts, rs_fleet_state_names[k], json_integer(0));
    }
    for (size_t i = 0; i < s->n_regions; i++) {
        const rs_fleet_region *g = &s->regions[i];
        json_t *o = json_object();
        json_object_set_new(o, "region", json_string(g->region));
        json_object_set_new(o, "state", json_string(g->state));
        json_object_set_new(o, "summary", json_string(g->summary));
        json_object_set_new(o, "live", json_integer((json_int_t)g->n_live));
        json_object_set_new(o, "instances_total", json_integer((json_int_t)g->n_instances));
        json_object_set_new(o, "in_state", json_integer((json_int_t)g->n_in_state));
        json_object_set_new(o, "applied_version", json_integer((json_int_t)g->min_applied));
        json_object_set_new(o, "max_applied_version", json_integer((json_int_t)g->max_applied));
        /* the worst live instance says why */
        const char *reason = "";
        uint64_t behind = 0;
        double lag = 0;
        for (size_t k = g->first; k < g->first + g->n_instances; k++) {
            const rs_fleet_instance *in = &s->instances[k];
            if (in->superseded || (g->n_live && in->stale))
                continue;
            if (strcmp(in->state, g->state) == 0 && !reason[0])
                reason = in->row.reason;
            if (in->row.versions_behind > behind)
                behind = in->row.versions_behind;
            if (in->row.lag_seconds > lag)
                lag = in->row.lag_seconds;
        }
        json_object_set_new(o, "reason", json_string(reason));
        json_object_set_new(o, "versions_behind", json_integer((json_int_t)behind));
        json_object_set_new(o, "lag_seconds", json_real(lag));
        json_t *sc = json_object();
        for (int k = 0; k < 6; k++) {
            json_object_set_new(sc, rs_fleet_state_names[k], json_integer((json_int_t)g->counts[k]));
            json_t *c = json_object_get(icounts, rs_fleet_state_names[k]);
            json_integer_set(c, json_integer_value(c) + (json_int_t)g->counts[k]);
        }
        json_object_set_new(o, "counts", sc);
        json_t *insts = json_array();
        for (size_t k = g->first; k < g->first + g->n_instances; k++)
            json_array_append_new(insts, instance_json(&s->instances[k], true));
        json_object_set_new(o, "instances", insts);
        json_array_append_new(regions, o);
        json_t *c = json_object_get(counts, g->state);
        if (c)
            json_integer_set(c, json_integer_value(c) + 1);
    }
    json_object_set_new(root, "regions", regions);
    json_t *pubs = json_array();
    for (size_t i = 0; i < s->n_publishers; i++)
        json_array_append_new(pubs, instance_json(&s->publishers[i], false));
    json_object_set_new(root, "publishers", pubs);
    json_object_set_new(root, "counts", counts);
    json_object_set_new(root, "instance_counts", icounts);
    json_object_set_new(root, "refreshed", rs_json_time_ms(s->refreshed_ms));
    json_object_set_new(root, "refresh", json_pack("{s:I, s:I, s:I, s:I}", "duration_ms", (json_int_t)s->refresh_ms, "requests",
                                                   (json_int_t)s->refresh_requests, "bytes_in", (json_int_t)s->refresh_bytes,
                                                   "pruned", (json_int_t)s->pruned));
    json_object_set_new(root, "stale_after_seconds", json_real((double)s->stale_after_ms / 1000.0));
    json_object_set_new(root, "forget_after_seconds", json_real((double)s->forget_after_ms / 1000.0));
    json_object_set_new(root, "error", s->error[0] ? json_string(s->error) : json_null());
    return root;
}
