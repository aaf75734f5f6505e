/* rs_provider_fleet.c: the daemon's fleet view (sync/rs_fleet.h) and what the admin API answers
 * from it: GET /v1/drift, GET /v1/wait, the fleet metrics and region-wide control.
 *
 * One thread refreshes the view with its own store handle: every heartbeat_interval, and every
 * poll_interval while a /v1/wait is open (then waiters are re-checked at once). Requests read
 * the latest immutable snapshot and never touch the store; pair diffs (/v1/drift?region=&other=)
 * and other slow calls take a store handle of their own from a small pool, so slow calls run
 * side by side. */
#include "rs_buf.h"
#include "rs_control.h"
#include "rs_fleet.h"
#include "rs_log.h"
#include "rs_provider_impl.h"
#include "rs_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ the store pool */

int rs_provider_store_acquire(rs_provider *p, rs_storage **s, rs_error *err)
{
    pthread_mutex_lock(&p->pool_mu);
    if (p->n_pool) {
        *s = p->pool[--p->n_pool];
        pthread_mutex_unlock(&p->pool_mu);
        return RS_OK;
    }
    pthread_mutex_unlock(&p->pool_mu);
    rs_agent_config ac;
    rs_daemon_agent_config(p->cfg, &ac);
    return rs_storage_open(p->cfg->store, &ac.store_opts, s, err);
}

void rs_provider_store_release(rs_provider *p, rs_storage *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&p->pool_mu);
    if (p->n_pool < RS_PROVIDER_POOL) {
        p->pool[p->n_pool++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&p->pool_mu);
    rs_storage_close(s);
}

/* ------------------------------------------------------------ the refresher */

static void *fleet_thread(void *arg)
{
    rs_provider *p = arg;
    for (;;) {
        rs_error e = {0};
        if (rs_fleet_refresh(p->fleet, &e))
            RS_LOGW("fleet", "refresh failed (the view keeps its previous data) error=\"%s\"", e.msg);
        pthread_mutex_lock(&p->fleet_mu);
        /* open waits are re-checked against the new view; under fleet_mu, which
           rs_provider_set_admin(p, NULL) takes before the admin API is stopped and freed */
        if (p->admin)
            rs_admin_notify(p->admin);
        int64_t start = rs_mono_ms();
        for (;;) {
            if (p->fleet_stop)
                break;
            int64_t now = rs_mono_ms();
            bool waiting = now - __atomic_load_n(&p->last_wait_mono, __ATOMIC_RELAXED) < 2000;
            int64_t iv = waiting ? p->cfg->poll_interval_ms : p->cfg->heartbeat_interval_ms;
            if (p->fleet_wake || now - start >= iv)
                break;
            int64_t left = iv - (now - start);
            if (left > 200)
                left = 200; /* notice a new waiter soon */
            rs_cond_wait_ms(&p->fleet_cv, &p->fleet_mu, left);
        }
        bool stop = p->fleet_stop;
        p->fleet_wake = false;
        pthread_mutex_unlock(&p->fleet_mu);
        if (stop)
            break;
    }
    return NULL;
}

int rs_provider_fleet_start(rs_provider *p, rs_error *err)
{
    rs_agent_config ac;
    rs_daemon_agent_config(p->cfg, &ac);
    int rc = rs_storage_open(p->cfg->store, &ac.store_opts, &p->fleet_store, err);
    if (rc)
        return rc;
    /* agents report to the store they read from: the view merges the replicas' reports in */
    for (size_t i = 0; i < p->cfg->replicas.n && p->n_fleet_also < 64; i++) {
        const char *url = strchr(p->cfg->replicas.v[i], '=') + 1;
        rs_error oe = {0};
        if (rs_storage_open(url, &ac.store_opts, &p->fleet_also[p->n_fleet_also], &oe) == RS_OK)
            p->n_fleet_also++;
        else
            RS_LOGW("fleet", "replica %.*s cannot be opened: its reports are not in the fleet view error=\"%s\"",
                    (int)(strchr(p->cfg->replicas.v[i], '=') - p->cfg->replicas.v[i]), p->cfg->replicas.v[i], oe.msg);
    }
    rs_fleet_opts o = {.stale_after_ms = p->cfg->stale_after_ms,
                       .forget_after_ms = p->cfg->forget_after_ms,
                       .max_clock_skew_ms = p->cfg->max_clock_skew_ms,
                       .prune = true,
                       .also = p->fleet_also,
                       .n_also = p->n_fleet_also};
    p->fleet = rs_fleet_new(p->fleet_store, &o);
    if (!p->fleet)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    rs_cond_init_mono(&p->fleet_cv);
    pthread_mutex_init(&p->fleet_mu, NULL);
    p->fleet_sync_init = true;
    if (pthread_create(&p->fleet_th, NULL, fleet_thread, p) != 0)
        return rs_error_set(err, RS_EIO, "cannot start the fleet view thread");
    p->fleet_running = true;
    return RS_OK;
}

void rs_provider_fleet_stop(rs_provider *p)
{
    if (p->fleet_running) {
        pthread_mutex_lock(&p->fleet_mu);
        p->fleet_stop = true;
        pthread_cond_broadcast(&p->fleet_cv);
        pthread_mutex_unlock(&p->fleet_mu);
        pthread_join(p->fleet_th, NULL);
        p->fleet_running = false;
    }
    rs_fleet_free(p->fleet);
    p->fleet = NULL;
    rs_storage_close(p->fleet_store);
    p->fleet_store = NULL;
    for (size_t i = 0; i < p->n_fleet_also; i++)
        rs_storage_close(p->fleet_also[i]);
    p->n_fleet_also = 0;
    if (p->fleet_sync_init) {
        pthread_mutex_destroy(&p->fleet_mu);
        pthread_cond_destroy(&p->fleet_cv);
        p->fleet_sync_init = false;
    }
}

void rs_provider_fleet_wake(rs_provider *p)
{
    if (!p->fleet_running)
        return;
    pthread_mutex_lock(&p->fleet_mu);
    p->fleet_wake = true;
    pthread_cond_broadcast(&p->fleet_cv);
    pthread_mutex_unlock(&p->fleet_mu);
}

/* ------------------------------------------------------------ GET /v1/drift */

/* The pair view rebuilds two regions' copies from the log: its own store handle and context. */
static json_t *drift_pair(rs_provider *p, const char *x_name, const char *y_name, rs_error *err)
{
    rs_storage *s;
    if (rs_provider_store_acquire(p, &s, err))
        return NULL;
    json_t *out = NULL;
    rs_head h;
    int rc = rs_log_read_head(s, NULL, &h, NULL, err);
    if (rc == RS_ENOTFOUND) {
        memset(&h, 0, sizeof h);
        rc = RS_OK;
    }
    rs_region_report x, y;
    memset(&x, 0, sizeof x);
    memset(&y, 0, sizeof y);
    if (!rc)
        rc = rs_drift_read_report(s, x_name, &x, err);
    if (!rc)
        rc = rs_drift_read_report(s, y_name, &y, err);
    if (!rc) {
        rs_drift_ctx *c = rs_drift_ctx_new(s);
        if (!c)
            rs_error_set(err, RS_ENOMEM, "out of memory");
        else
            rs_drift_pair(c, &h, &x, &y, &out, err);
        rs_drift_ctx_free(c);
    }
    rs_region_report_clear(&x);
    rs_region_report_clear(&y);
    rs_head_clear(&h);
    rs_provider_store_release(p, s);
    return out;
}

json_t *rs_provider_drift(void *ctx, const char *region, const char *other, rs_error *err)
{
    rs_provider *p = ctx;
    if (region && other)
        return drift_pair(p, region, other, err);
    const rs_fleet_snap *s = rs_fleet_snapshot(p->fleet);
    if (!s) {
        rs_error_set(err, RS_EUNAVAILABLE, "the fleet view is being read for the first time; try again in a moment");
        return NULL;
    }
    json_t *out = rs_fleet_to_json(s);
    rs_fleet_snap_release(s);
    return out;
}

char *rs_provider_drift_text(void *ctx, size_t *len)
{
    rs_provider *p = ctx;
    const rs_fleet_snap *s = rs_fleet_snapshot(p->fleet);
    char *out = NULL;
    if (s && s->json) {
        out = malloc(s->json_len);
        if (out) {
            memcpy(out, s->json, s->json_len);
            *len = s->json_len;
        }
    }
    rs_fleet_snap_release(s);
    return out;
}

/* ------------------------------------------------------------ GET /v1/wait */

/* A wait naming a region the view does not know is refused (400) only once a view refreshed
 * well after the region was first found missing (two polls and a second) still lacks it: a
 * region that starts reporting a moment later is waited for, a typo is refused soon. */
static bool unknown_confirmed(rs_provider *p, const char *regions, int64_t refreshed_ms)
{
    int64_t now = rs_wall_ms();
    bool confirmed = false;
    pthread_mutex_lock(&p->pool_mu);
    int slot = -1, free_slot = -1;
    for (int i = 0; i < RS_PROVIDER_UNKNOWN; i++) {
        if (p->unknown[i].at_ms && now - p->unknown[i].at_ms > 60000)
            p->unknown[i].at_ms = 0; /* forget old ones */
        if (p->unknown[i].at_ms && strcmp(p->unknown[i].regions, regions) == 0)
            slot = i;
        else if (!p->unknown[i].at_ms && free_slot < 0)
            free_slot = i;
    }
    /* an agent that just started writes its first report after its first step: give it time */
    int64_t grace = 2 * p->cfg->poll_interval_ms + 1000;
    if (slot >= 0) {
        confirmed = refreshed_ms > p->unknown[slot].at_ms + grace;
        if (confirmed)
            p->unknown[slot].at_ms = 0;
    } else {
        int i = free_slot >= 0 ? free_slot : 0;
        snprintf(p->unknown[i].regions, sizeof p->unknown[i].regions, "%s", regions);
        p->unknown[i].at_ms = now;
    }
    pthread_mutex_unlock(&p->pool_mu);
    return confirmed;
}

int rs_provider_wait_check(void *ctx, uint64_t version, const char *regions, bool *done, json_t **detail, rs_error *err)
{
    rs_provider *p = ctx;
    *done = false;
    __atomic_store_n(&p->last_wait_mono, rs_mono_ms(), __ATOMIC_RELAXED);
    const rs_fleet_snap *s = rs_fleet_snapshot(p->fleet);
    json_t *d = json_object();
    json_object_set_new(d, "version", json_integer((json_int_t)version));
    if (!s) {
        json_object_set_new(d, "waiting", json_string("the fleet view is being read for the first time"));
        json_object_set_new(d, "done", json_false());
        *detail = d;
        return RS_OK;
    }
    json_t *waiting = NULL;
    rs_error we = {0};
    int rc = rs_fleet_wait_check(s, version, regions, done, &waiting, &we);
    if (rc == RS_ENOTFOUND && !unknown_confirmed(p, regions, s->refreshed_ms)) {
        /* a region the view has not seen: read the store again before calling it unknown (it may
         * have started a moment ago); a view refreshed after this moment decides */
        rs_fleet_snap_release(s);
        rs_provider_fleet_wake(p);
        json_object_set_new(d, "waiting", json_string(we.msg));
        json_object_set_new(d, "done", json_false());
        *detail = d;
        return RS_OK;
    }
    if (rc) {
        rs_fleet_snap_release(s);
        json_decref(d);
        return rc == RS_ENOTFOUND ? rs_error_set(err, RS_EINVALID, "%s", we.msg) : rs_error_set(err, rc, "%s", we.msg);
    }
    /* this instance's own position is fresher than the view's */
    rs_agent_status st;
    rs_agent_status_get(p->agent, &st);
    char self[200];
    snprintf(self, sizeof self, "%s/%s", st.region, st.instance);
    for (size_t i = 0; i < json_array_size(waiting); i++)
        if (strcmp(json_string_value(json_array_get(waiting, i)), self) == 0 && st.applied_version >= version) {
            json_array_remove(waiting, i);
            break;
        }
    size_t live = 0;
    json_t *regs = json_object();
    for (size_t i = 0; i < s->n_regions; i++) {
        const rs_fleet_region *g = &s->regions[i];
        json_object_set_new(regs, g->region, json_pack("{s:I, s:I, s:s}", "live", (json_int_t)g->n_live, "applied_version",
                                                       (json_int_t)g->min_applied, "summary", g->summary));
        live += g->n_live;
    }
    /* done: nobody below the version, and somebody was asked */
    *done = json_array_size(waiting) == 0 && live > 0;
    json_object_set_new(d, "regions", regs);
    json_object_set_new(d, "waiting", waiting);
    json_object_set_new(d, "done", json_boolean(*done));
    json_object_set_new(d, "view_refreshed", json_real((double)s->refreshed_ms / 1000.0));
    rs_fleet_snap_release(s);
    *detail = d;
    return RS_OK;
}

/* ------------------------------------------------------------ metrics */

static void lab(char *out, size_t n, const char *region, const char *instance, const char *state)
{
    rs_buf b = {0};
    rs_buf_printf(&b, "region=\"%s\"", region);
    if (instance)
        rs_buf_printf(&b, ",instance=\"%s\"", instance);
    if (state)
        rs_buf_printf(&b, ",state=\"%s\"", state);
    snprintf(out, n, "%.*s", (int)b.len, b.data ? (const char *)b.data : "");
    rs_buf_free(&b);
}

void rs_provider_fleet_metrics(rs_provider *p, rs_buf *out)
{
    const rs_fleet_snap *s = rs_fleet_snapshot(p->fleet);
    if (!s)
        return;
    char l[512];
    rs_prom_help(out, "regsync_fleet_region_state", "gauge", "Each region's state (1 for the current one), from its live instances.");
    for (size_t i = 0; i < s->n_regions; i++)
        for (int k = 0; k < 6; k++) {
            lab(l, sizeof l, s->regions[i].region, NULL, rs_fleet_state_names[k]);
            rs_prom_sample(out, "regsync_fleet_region_state", l, strcmp(s->regions[i].state, rs_fleet_state_names[k]) == 0);
        }
    rs_prom_help(out, "regsync_fleet_region_instances", "gauge", "Instances of each region by state (stale ones included).");
    for (size_t i = 0; i < s->n_regions; i++)
        for (int k = 0; k < 6; k++) {
            lab(l, sizeof l, s->regions[i].region, NULL, rs_fleet_state_names[k]);
            rs_prom_sample(out, "regsync_fleet_region_instances", l, (double)s->regions[i].counts[k]);
        }
    rs_prom_help(out, "regsync_fleet_region_live_instances", "gauge", "Instances of each region that report (not stale).");
    for (size_t i = 0; i < s->n_regions; i++) {
        lab(l, sizeof l, s->regions[i].region, NULL, NULL);
        rs_prom_sample(out, "regsync_fleet_region_live_instances", l, (double)s->regions[i].n_live);
    }
    rs_prom_help(out, "regsync_fleet_instance_applied_version", "gauge", "The version each follower instance applied.");
    for (size_t i = 0; i < s->n_instances; i++) {
        const rs_fleet_instance *in = &s->instances[i];
        if (in->superseded)
            continue;
        lab(l, sizeof l, in->report->region, in->report->instance[0] ? in->report->instance : "-", NULL);
        rs_prom_sample(out, "regsync_fleet_instance_applied_version", l, (double)in->report->applied_version);
    }
    rs_prom_help(out, "regsync_fleet_instance_versions_behind", "gauge", "Versions each live follower instance is behind HEAD.");
    rs_buf lag = {0};
    for (size_t i = 0; i < s->n_instances; i++) {
        const rs_fleet_instance *in = &s->instances[i];
        if (in->superseded || in->stale)
            continue;
        lab(l, sizeof l, in->report->region, in->report->instance[0] ? in->report->instance : "-", NULL);
        rs_prom_sample(out, "regsync_fleet_instance_versions_behind", l, (double)in->row.versions_behind);
        rs_prom_sample(&lag, "regsync_fleet_instance_lag_seconds", l, in->row.lag_seconds);
    }
    rs_prom_help(out, "regsync_fleet_instance_lag_seconds", "gauge", "Seconds each live follower instance lags the first version it lacks.");
    if (lag.len)
        rs_buf_append(out, lag.data, lag.len);
    rs_buf_free(&lag);
    rs_prom_help(out, "regsync_fleet_instance_age_seconds", "gauge",
                 "Seconds since each instance's report was last written (observed by this agent or by the store's clock).");
    for (size_t i = 0; i < s->n_instances; i++) {
        const rs_fleet_instance *in = &s->instances[i];
        lab(l, sizeof l, in->report->region, in->report->instance[0] ? in->report->instance : "-", NULL);
        rs_prom_sample(out, "regsync_fleet_instance_age_seconds", l, (double)in->age_ms / 1000.0);
    }
    rs_prom_help(out, "regsync_fleet_instance_clock_skew_seconds", "gauge",
                 "The writer's clock minus the store's, per instance (only where it could be measured).");
    for (size_t i = 0; i < s->n_instances; i++) {
        const rs_fleet_instance *in = &s->instances[i];
        if (!in->skew_known)
            continue;
        lab(l, sizeof l, in->report->region, in->report->instance[0] ? in->report->instance : "-", NULL);
        rs_prom_sample(out, "regsync_fleet_instance_clock_skew_seconds", l, (double)in->skew_ms / 1000.0);
    }
    rs_prom_help(out, "regsync_fleet_publishers", "gauge", "Publish-only agents by state (not regions: never counted in lag).");
    size_t live = 0, stale = 0;
    for (size_t i = 0; i < s->n_publishers; i++)
        s->publishers[i].stale ? stale++ : live++;
    rs_prom_sample(out, "regsync_fleet_publishers", "state=\"publishing\"", (double)live);
    rs_prom_sample(out, "regsync_fleet_publishers", "state=\"stale\"", (double)stale);
    rs_prom_help(out, "regsync_fleet_refresh_timestamp_seconds", "gauge", "Wall time of the fleet view's last refresh.");
    rs_prom_sample(out, "regsync_fleet_refresh_timestamp_seconds", NULL, (double)s->refreshed_ms / 1000.0);
    rs_prom_help(out, "regsync_fleet_refresh_requests", "gauge", "Store requests of the last fleet view refresh.");
    rs_prom_sample(out, "regsync_fleet_refresh_requests", NULL, (double)s->refresh_requests);
    rs_fleet_snap_release(s);
}

/* ------------------------------------------------------------ region-wide control */

json_t *rs_provider_region_control(rs_provider *p, const char *action, uint64_t version, const char *by, rs_error *err)
{
    int a = rs_control_action_parse(action);
    if (a < 0) {
        rs_error_set(err, RS_EINVALID, "action '%s' has no region scope (pause, resume, pin, unpin, rollback)", action);
        return NULL;
    }
    if (a == RS_CONTROL_ROLLBACK) {
        rs_agent_status st;
        rs_agent_status_get(p->agent, &st);
        if (st.head_version && version > st.head_version) {
            rs_error_set(err, RS_EINVALID, "rollback: version %" PRIu64 " is beyond the head (%" PRIu64 ")", version, st.head_version);
            return NULL;
        }
    }
    rs_storage *s;
    if (rs_provider_store_acquire(p, &s, err))
        return NULL;
    rs_region_control c;
    int rc = rs_control_apply(s, p->cfg->region, (rs_control_action)a, version, by, &c, err);
    rs_provider_store_release(p, s);
    if (rc)
        return NULL;
    RS_LOGI("admin", "region-wide control region=%s action=%s version=%" PRIu64 " by=\"%s\" serial=%" PRIu64, p->cfg->region,
            action, version, by, c.serial);
    json_t *o = json_object();
    char d[256];
    rs_control_describe(&c, d, sizeof d);
    json_object_set_new(o, "region", json_string(c.region));
    json_object_set_new(o, "paused", json_boolean(c.paused));
    json_object_set_new(o, "pinned_version", c.pinned_version ? json_integer((json_int_t)c.pinned_version) : json_null());
    json_object_set_new(o, "by", json_string(c.by));
    json_object_set_new(o, "serial", json_integer((json_int_t)c.serial));
    json_object_set_new(o, "in_force", json_string(d));
    return o;
}
