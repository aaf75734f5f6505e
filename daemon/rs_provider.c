/* rs_provider.c: the admin API provider backed by a running agent. FAST calls read the agent's
 * status snapshot; SLOW calls (admin worker threads) use the provider's own store handle and a
 * read-only journal handle (an SQLite connection of its own beside the agent's: nothing here
 * opens journal.db outside SQLite, see docs/journal.md), each behind a mutex. */
#include "rs_daemon.h"
#include "rs_buf.h"
#include "rs_diff.h"
#include "rs_journal.h"
#include "rs_journal_json.h"
#include "rs_log.h"
#include "rs_logproto.h"
#include "rs_provider_impl.h"
#include "rs_registry_json.h"
#include "rs_time.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "regsync/v1/log.pb-c.h"
#include "rs_json.h"

/* The agent's on_change hook (its own thread, after every step): counts the step for control
 * answers and wakes the admin API's long polls. */
static void step_done(void *ctx)
{
    rs_provider *p = ctx;
    pthread_mutex_lock(&p->step_mu);
    p->steps++;
    pthread_cond_broadcast(&p->step_cv);
    /* under step_mu: rs_provider_set_admin(NULL) before the admin stops waits for this */
    if (p->admin)
        rs_admin_notify(p->admin);
    pthread_mutex_unlock(&p->step_mu);
}

int rs_provider_new(rs_agent *a, const rs_config *cfg, rs_provider **out, rs_error *err)
{
    *out = NULL;
    rs_provider *p = calloc(1, sizeof *p);
    if (!p)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    p->agent = a;
    p->cfg = cfg;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->pool_mu, NULL);
    pthread_mutex_init(&p->step_mu, NULL);
    rs_cond_init_mono(&p->step_cv);
    rs_agent_on_change(a, step_done, p);
    int rc = rs_provider_fleet_start(p, err);
    if (rc) {
        rs_provider_free(p);
        return rc;
    }
    *out = p;
    return RS_OK;
}

void rs_provider_free(rs_provider *p)
{
    if (!p)
        return;
    rs_agent_on_change(p->agent, NULL, NULL);
    rs_provider_fleet_stop(p);
    for (size_t i = 0; i < p->n_pool; i++)
        rs_storage_close(p->pool[i]);
    rs_journal_close(p->journal);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->pool_mu);
    pthread_cond_destroy(&p->step_cv);
    pthread_mutex_destroy(&p->step_mu);
    free(p);
}

void rs_provider_set_admin(rs_provider *p, rs_admin *admin)
{
    /* the fleet thread notifies the admin under fleet_mu, the agent's step hook (step_done)
     * under step_mu: NULL here before the admin stops means neither touches it afterwards */
    if (p->fleet_sync_init)
        pthread_mutex_lock(&p->fleet_mu);
    pthread_mutex_lock(&p->step_mu);
    p->admin = admin;
    pthread_mutex_unlock(&p->step_mu);
    if (p->fleet_sync_init)
        pthread_mutex_unlock(&p->fleet_mu);
}

static int journal(rs_provider *p, rs_journal **j, rs_error *err)
{
    if (!p->journal) {
        rs_journal_opts o = {.readonly = true, .skip_integrity_check = true};
        int rc = rs_journal_open(p->cfg->state_dir, &o, &p->journal, err);
        if (rc)
            return rc;
    }
    *j = p->journal;
    return RS_OK;
}

/* ------------------------------------------------------------ helpers */

static json_t *hex_json(const uint8_t *d, bool have)
{
    if (!have)
        return json_null();
    char h[2 * RS_DIGEST_LEN + 1];
    rs_hex(d, RS_DIGEST_LEN, h);
    return json_string(h);
}

static json_t *strlist_json(const rs_strlist *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->v[i]));
    return a;
}

static double lag_seconds(const rs_agent_status *s)
{
    if (s->applied_version >= s->head_version || !s->head_updated_ms)
        return 0;
    double l = (double)(rs_wall_ms() - s->head_updated_ms) / 1000.0;
    return l > 0 ? l : 0;
}

/* ------------------------------------------------------------ FAST */

static json_t *p_status(void *ctx)
{
    rs_provider *p = ctx;
    rs_agent_status s;
    rs_agent_status_get(p->agent, &s);
    json_t *o = json_object();
    json_object_set_new(o, "region", json_string(s.region));
    json_object_set_new(o, "instance", json_string(s.instance));
    json_object_set_new(o, "role", json_string(s.publish && p->cfg->target && *p->cfg->target ? "follow+publish"
                                               : s.publish                                  ? "publish"
                                                                                            : "follow"));
    json_object_set_new(o, "state", json_string(s.state));
    json_object_set_new(o, "applied_version", json_integer((json_int_t)s.applied_version));
    json_object_set_new(o, "head_version", json_integer((json_int_t)s.head_version));
    json_object_set_new(o, "read_store", json_string(s.read_store));
    json_object_set_new(o, "stores", json_integer((json_int_t)s.n_stores));
    json_object_set_new(o, "store_failovers", json_integer((json_int_t)s.store_failovers));
    json_object_set_new(o, "store_returns", json_integer((json_int_t)s.store_returns));
    json_object_set_new(o, "store_behind", json_boolean(s.store_behind));
    json_object_set_new(o, "epoch", json_integer((json_int_t)s.epoch));
    if (s.n_replica_stats) {
        json_t *ra = json_array();
        for (size_t i = 0; i < s.n_replica_stats; i++) {
            json_t *r = json_object();
            json_object_set_new(r, "name", json_string(s.replicas[i].name));
            json_object_set_new(r, "version", json_integer((json_int_t)s.replicas[i].version));
            json_object_set_new(r, "copies", json_integer((json_int_t)s.replicas[i].copies));
            json_object_set_new(r, "failures", json_integer((json_int_t)s.replicas[i].failures));
            json_object_set_new(r, "behind", json_boolean(s.replicas[i].behind));
            json_array_append_new(ra, r);
        }
        json_object_set_new(o, "replicas", ra);
    }
    json_object_set_new(o, "versions_behind",
                        json_integer(s.head_version > s.applied_version ? (json_int_t)(s.head_version - s.applied_version) : 0));
    json_object_set_new(o, "lag_seconds", json_real(lag_seconds(&s)));
    json_object_set_new(o, "attempted_version", s.attempted_version ? json_integer((json_int_t)s.attempted_version) : json_null());
    json_object_set_new(o, "digest", hex_json(s.digest, s.has_state));
    json_object_set_new(o, "filtered_digest", hex_json(s.filtered_digest, s.has_state));
    json_object_set_new(o, "written_digest", hex_json(s.written_digest, s.has_state));
    json_object_set_new(o, "target_digest", hex_json(s.target_digest, s.target_known));
    json_object_set_new(o, "target_modified", json_boolean(s.target_modified));
    json_object_set_new(o, "source_etag", s.source_etag[0] ? json_string(s.source_etag) : json_null());
    json_object_set_new(o, "last_success", rs_json_time_ms(s.last_success_ms));
    json_object_set_new(o, "last_success_ms", json_integer((json_int_t)s.last_success_ms));
    if (s.last_error_ms) {
        json_t *e = json_object();
        json_object_set_new(e, "time", rs_json_time_ms(s.last_error_ms));
        json_object_set_new(e, "message", json_string(s.last_error));
        json_object_set_new(o, "last_error", e);
    } else {
        json_object_set_new(o, "last_error", json_null());
    }
    /* the error that is still current (no successful step since); null once the agent recovered,
     * while last_error keeps the last one with its time */
    if (s.last_error_ms && s.error_current) {
        json_t *e = json_object();
        json_object_set_new(e, "time", rs_json_time_ms(s.last_error_ms));
        json_object_set_new(e, "message", json_string(s.last_error));
        json_object_set_new(o, "error", e);
    } else {
        json_object_set_new(o, "error", json_null());
    }
    json_object_set_new(o, "paused", json_boolean(s.paused));
    json_object_set_new(o, "pinned_version", s.pinned_version ? json_integer((json_int_t)s.pinned_version) : json_null());
    /* what is in force comes from this instance's own controls and the region-wide record */
    json_t *ctl = json_object();
    json_object_set_new(ctl, "instance_paused", json_boolean(s.instance_paused));
    json_object_set_new(ctl, "instance_pinned_version", s.instance_pinned ? json_integer((json_int_t)s.instance_pinned) : json_null());
    json_object_set_new(ctl, "region_paused", json_boolean(s.region_paused));
    json_object_set_new(ctl, "region_pinned_version", s.region_pinned ? json_integer((json_int_t)s.region_pinned) : json_null());
    json_object_set_new(ctl, "region_control", s.control[0] ? json_string(s.control) : json_null());
    json_object_set_new(o, "controls", ctl);
    /* this region as the fleet view sees it */
    const rs_fleet_snap *fs = rs_fleet_snapshot(p->fleet);
    const rs_fleet_region *fr = fs ? rs_fleet_find_region(fs, s.region) : NULL;
    if (fr && p->cfg->target && *p->cfg->target) {
        json_t *rg = json_object();
        json_object_set_new(rg, "state", json_string(fr->state));
        json_object_set_new(rg, "summary", json_string(fr->summary));
        json_object_set_new(rg, "live_instances", json_integer((json_int_t)fr->n_live));
        json_object_set_new(o, "region_view", rg);
    } else {
        json_object_set_new(o, "region_view", json_null());
    }
    rs_fleet_snap_release(fs);
    json_t *f = json_object();
    json_object_set_new(f, "include_projects", strlist_json(&p->cfg->filters.include_projects));
    json_object_set_new(f, "exclude_projects", strlist_json(&p->cfg->filters.exclude_projects));
    json_object_set_new(o, "filters", f);
    json_object_set_new(o, "publish", json_boolean(s.publish));
    json_object_set_new(o, "ready", json_boolean(s.ready));
    json_object_set_new(o, "modified_objects", json_integer((json_int_t)s.n_modified));
    json_object_set_new(o, "regional_meta_objects", json_integer((json_int_t)s.n_regional_meta));
    json_object_set_new(o, "on_local_change", json_string(rs_on_local_change_name(p->cfg->on_local_change)));
    json_object_set_new(o, "version", json_string(RS_VERSION_STRING));
    return o;
}

static json_t *check(const char *name, bool ok, const char *detail)
{
    json_t *c = json_object();
    json_object_set_new(c, "name", json_string(name));
    json_object_set_new(c, "ok", json_boolean(ok));
    json_object_set_new(c, "detail", json_string(detail));
    return c;
}

static bool p_ready(void *ctx, json_t **checks)
{
    rs_provider *p = ctx;
    rs_agent_status s;
    rs_agent_status_get(p->agent, &s);
    json_t *a = json_array();
    char d[256];
    bool is_follower = p->cfg->target && *p->cfg->target;
    bool ok = true;
    if (is_follower) {
        snprintf(d, sizeof d, s.has_state ? "version %" PRIu64 " is in the target" : "no local copy yet", s.applied_version);
        json_array_append_new(a, check("local_copy", s.has_state, d));
        ok = ok && s.has_state;
    }
    int64_t age = s.last_success_ms ? rs_wall_ms() - s.last_success_ms : -1;
    bool fresh = age >= 0 && age <= p->cfg->max_staleness_ms;
    if (age < 0)
        snprintf(d, sizeof d, "no successful poll of the global store yet");
    else
        snprintf(d, sizeof d, "last successful poll %.1f s ago (limit %.0f s)", (double)age / 1000.0,
                 (double)p->cfg->max_staleness_ms / 1000.0);
    json_array_append_new(a, check("fresh", fresh, d));
    ok = ok && fresh;
    if (checks)
        *checks = a;
    else
        json_decref(a);
    return ok;
}

static void sample_u(rs_buf *out, const char *name, const char *type, const char *help, double v)
{
    rs_prom_help(out, name, type, help);
    rs_prom_sample(out, name, NULL, v);
}

static void p_metrics(void *ctx, rs_buf *out)
{
    rs_provider *p = ctx;
    rs_agent_status s;
    rs_agent_status_get(p->agent, &s);
    char labels[256];
    sample_u(out, "regsync_applied_version", "gauge", "Version of the global log applied to this region's copy.", (double)s.applied_version);
    sample_u(out, "regsync_head_version", "gauge", "Latest version of the global log seen.", (double)s.head_version);
    if (p->cfg->target && *p->cfg->target) {
        /* followers only: a publish-only agent holds no copy, so it has no lag to alert on */
        sample_u(out, "regsync_lag_versions", "gauge", "Versions this instance's copy is behind the head.",
                 s.head_version > s.applied_version ? (double)(s.head_version - s.applied_version) : 0);
        sample_u(out, "regsync_lag_seconds", "gauge", "Seconds since the head moved past the applied version (0 when in sync).",
                 lag_seconds(&s));
    }
    sample_u(out, "regsync_last_success_timestamp_seconds", "gauge", "Wall time of the last successful poll.",
             (double)s.last_success_ms / 1000.0);
    sample_u(out, "regsync_last_apply_timestamp_seconds", "gauge", "Wall time the target was last written.", (double)s.last_apply_ms / 1000.0);
    sample_u(out, "regsync_polls_total", "counter", "Polls of the global HEAD.", (double)s.polls);
    sample_u(out, "regsync_polls_unchanged_total", "counter", "Polls answered 'not modified'.", (double)s.polls_unchanged);
    sample_u(out, "regsync_applies_total", "counter", "Log entries applied.", (double)s.applies);
    sample_u(out, "regsync_bootstraps_total", "counter", "Bootstraps from a snapshot.", (double)s.bootstraps);
    sample_u(out, "regsync_rollbacks_total", "counter", "Rollbacks.", (double)s.rollbacks);
    sample_u(out, "regsync_publishes_total", "counter", "Versions this agent published.", (double)s.publishes);
    sample_u(out, "regsync_heartbeats_total", "counter", "Region reports written.", (double)s.heartbeats);
    sample_u(out, "regsync_store_failovers_total", "counter", "Moves to the next store of read_from after failed polls.",
             (double)s.store_failovers);
    sample_u(out, "regsync_store_returns_total", "counter", "Moves back to the preferred store.", (double)s.store_returns);
    sample_u(out, "regsync_epoch", "gauge", "Highest HEAD epoch seen (promotions).", (double)s.epoch);
    if (s.n_replica_stats) {
        rs_prom_help(out, "regsync_replica_copy_failures_total", "counter", "Failed copies of a version to a replica.");
        for (size_t i = 0; i < s.n_replica_stats; i++) {
            snprintf(labels, sizeof labels, "replica=\"%s\"", s.replicas[i].name);
            rs_prom_sample(out, "regsync_replica_copy_failures_total", labels, (double)s.replicas[i].failures);
        }
        rs_prom_help(out, "regsync_mirror_lag_versions", "gauge", "Versions a replica's HEAD is behind the last published.");
        for (size_t i = 0; i < s.n_replica_stats; i++) {
            snprintf(labels, sizeof labels, "replica=\"%s\"", s.replicas[i].name);
            rs_prom_sample(out, "regsync_mirror_lag_versions", labels,
                           s.last_published_version > s.replicas[i].version ? (double)(s.last_published_version - s.replicas[i].version) : 0);
        }
    }
    rs_prom_help(out, "regsync_errors_total", "counter", "Errors by kind.");
    for (int k = 0; k < RS_ERRKINDS; k++) {
        snprintf(labels, sizeof labels, "kind=\"%s\"", rs_errkind_names[k]);
        rs_prom_sample(out, "regsync_errors_total", labels, (double)s.errors[k]);
    }
    sample_u(out, "regsync_store_requests_total", "counter", "Requests to the global store.", (double)s.store.requests);
    rs_prom_help(out, "regsync_store_bytes_total", "counter", "Payload bytes to and from the global store.");
    rs_prom_sample(out, "regsync_store_bytes_total", "direction=\"in\"", (double)s.store.bytes_in);
    rs_prom_sample(out, "regsync_store_bytes_total", "direction=\"out\"", (double)s.store.bytes_out);
    sample_u(out, "regsync_store_retries_total", "counter", "Retried store requests.", (double)s.store.retries);
    rs_prom_help(out, "regsync_drift_objects", "gauge", "Objects of this region's copy that differ from what regsync wrote, by class.");
    rs_prom_sample(out, "regsync_drift_objects", "class=\"modified\"", (double)s.n_modified);
    rs_prom_sample(out, "regsync_drift_objects", "class=\"regional_meta\"", (double)s.n_regional_meta);
    rs_prom_help(out, "regsync_state", "gauge", "The agent's own state (1 for the current one).");
    static const char *const states[] = {"starting", "waiting", "following", "paused", "pinned",
                                         "diverged", "stopped", "publishing", "error"};
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        snprintf(labels, sizeof labels, "state=\"%s\"", states[i]);
        rs_prom_sample(out, "regsync_state", labels, strcmp(s.state, states[i]) == 0 ? 1 : 0);
    }
    sample_u(out, "regsync_paused", "gauge", "1 when following is paused.", s.paused ? 1 : 0);
    sample_u(out, "regsync_pinned_version", "gauge", "Pinned version (0: not pinned).", (double)s.pinned_version);
    sample_u(out, "regsync_ready", "gauge", "1 when /readyz answers 200.", p_ready(p, NULL) ? 1 : 0);
    rs_prom_help(out, "regsync_build_info", "gauge", "Build information.");
    snprintf(labels, sizeof labels, "version=\"%s\",region=\"%s\",instance=\"%s\",role=\"%s\"", RS_VERSION_STRING, s.region,
             s.instance, p->cfg->target && *p->cfg->target ? (s.publish ? "follow+publish" : "follow") : "publish");
    rs_prom_sample(out, "regsync_build_info", labels, 1);
    rs_provider_fleet_metrics(p, out);
}

/* ------------------------------------------------------------ SLOW */

static json_t *p_versions(void *ctx, uint64_t before, unsigned limit, rs_error *err)
{
    rs_provider *p = ctx;
    pthread_mutex_lock(&p->mu);
    rs_journal *j;
    json_t *out = NULL;
    if (journal(p, &j, err) == RS_OK) {
        rs_journal_entry *v;
        size_t n;
        if (rs_journal_list(j, before, limit ? limit : 100, &v, &n, err) == RS_OK) {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, rs_journal_entry_json(&v[i]));
            rs_journal_entries_free(v, n);
            out = json_object();
            json_object_set_new(out, "versions", arr);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return out;
}

/* Rebuilds two versions from the store and diffs them (a pooled store handle of its own). */
static int diff_versions(rs_provider *p, uint64_t from, uint64_t to, rs_diff **d, rs_registry **ra, rs_registry **rb,
                         rs_error *err)
{
    rs_storage *s;
    int rc = rs_provider_store_acquire(p, &s, err);
    if (rc)
        return rc;
    rs_head h;
    *ra = *rb = NULL;
    rc = rs_log_read_head(s, NULL, &h, NULL, err);
    if (!rc) {
        rc = from ? rs_log_materialize(s, &h, from, ra, err) : ((*ra = rs_registry_new()) ? RS_OK : RS_ENOMEM);
        if (!rc)
            rc = rs_log_materialize(s, &h, to, rb, err);
        rs_head_clear(&h);
    }
    rs_provider_store_release(p, s);
    if (!rc)
        rc = rs_diff_compute(*ra, *rb, RS_DIFF_PROPS, d, err);
    if (rc) {
        rs_registry_free(*ra);
        rs_registry_free(*rb);
        *ra = *rb = NULL;
    }
    return rc;
}

static json_t *p_version(void *ctx, uint64_t n, rs_error *err)
{
    rs_provider *p = ctx;
    pthread_mutex_lock(&p->mu);
    json_t *out = NULL;
    rs_journal *j;
    rs_journal_entry e = {0};
    int jrc = journal(p, &j, err);
    if (!jrc)
        jrc = rs_journal_get(j, n, &e, err);
    pthread_mutex_unlock(&p->mu); /* the store part below runs without it */
    if (!jrc) {
        {
            out = rs_journal_entry_json(&e);
            rs_journal_entry_clear(&e);
            /* the version's operations and property-level changes, from the store's log */
            rs_diff *d;
            rs_registry *ra, *rb;
            rs_error de = {0};
            if (diff_versions(p, n - 1, n, &d, &ra, &rb, &de) == RS_OK) {
                json_t *dj = rs_diff_to_json(d, RS_CLASS_SPEC | RS_CLASS_META | RS_CLASS_REGISTRY);
                json_object_set(out, "changes", json_object_get(dj, "changes"));
                json_decref(dj);
                rs_diff_free(d);
                rs_registry_free(ra);
                rs_registry_free(rb);
            } else {
                json_object_set_new(out, "changes_unavailable", json_string(de.msg));
            }
        }
    }
    return out;
}

static json_t *p_diff(void *ctx, uint64_t from, uint64_t to, bool plan, rs_error *err)
{
    rs_provider *p = ctx;
    json_t *out = NULL;
    rs_diff *d;
    rs_registry *ra, *rb;
    if (diff_versions(p, from, to, &d, &ra, &rb, err) == RS_OK) {
        if (plan) {
            char *txt = NULL;
            size_t tl = 0;
            FILE *f = open_memstream(&txt, &tl);
            if (f) {
                rs_diff_print_plan(d, RS_CLASS_SPEC, f);
                fclose(f);
            }
            out = json_object();
            json_object_set_new(out, "from", json_integer((json_int_t)from));
            json_object_set_new(out, "to", json_integer((json_int_t)to));
            json_object_set_new(out, "plan", json_string(txt ? txt : ""));
            free(txt);
        } else {
            out = rs_diff_to_json(d, RS_CLASS_SPEC | RS_CLASS_META | RS_CLASS_REGISTRY);
            json_object_set_new(out, "from", json_integer((json_int_t)from));
            json_object_set_new(out, "to", json_integer((json_int_t)to));
        }
        rs_diff_free(d);
        rs_registry_free(ra);
        rs_registry_free(rb);
    }
    return out;
}

/* ------------------------------------------------------------ infra of a project
 *
 * The registry's infra (Registry field 10) is one registry-wide list of online-store tables, and
 * `feast registry-dump` prints all of it with every project. The admin API's project views show a
 * project only its own tables, where the table says whose it is (docs/admin-api.md):
 *   - a DatastoreTable names its Feast project;
 *   - a SqliteTable is named "<project>_<view>" by Feast: it belongs to the project that has a
 *     feature view, stream feature view or on-demand feature view of that name; failing that, to
 *     the longest project name that is followed by "_" at the start of the table name;
 *   - anything else (custom infra, a table that names no project) cannot be attributed and is
 *     shown with every project, as before. */

static bool has_view(const rs_registry *r, const char *project, const char *view)
{
    static const uint32_t kinds[] = {RS_KIND_FEATURE_VIEWS, RS_KIND_STREAM_FEATURE_VIEWS, RS_KIND_ON_DEMAND_FEATURE_VIEWS};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (rs_registry_find(r, kinds[i], project, view, 0))
            return true;
    return false;
}

/* The project an infra object (its JSON) belongs to, written into out; false when unknown. */
static bool infra_owner(const rs_registry *r, const char **projects, size_t np, json_t *obj, char *out, size_t n)
{
    /* Feast's to_dict prints each InfraObject as its table object (docs/json.md): a Datastore
     * table carries its project, an SQLite table only {name, path}. */
    const char *dp = json_string_value(json_object_get(obj, "project"));
    if (dp && *dp) {
        snprintf(out, n, "%s", dp);
        return true;
    }
    const char *t = json_string_value(json_object_get(obj, "name"));
    if (!t || !*t)
        return false;
    size_t tl = strlen(t);
    for (size_t i = 1; i + 1 < tl; i++) {
        if (t[i] != '_' || i >= n)
            continue;
        memcpy(out, t, i);
        out[i] = '\0';
        if (has_view(r, out, t + i + 1))
            return true;
    }
    size_t best = 0;
    for (size_t i = 0; i < np; i++) {
        size_t pl = strlen(projects[i]);
        if (pl > best && pl < tl && pl < n && strncmp(t, projects[i], pl) == 0 && t[pl] == '_') {
            best = pl;
            snprintf(out, n, "%s", projects[i]);
        }
    }
    return best > 0;
}

/* Keeps in one project's dict (rs_registry_dump_json) the infra objects of that project and those
 * that cannot be attributed. */
static void filter_infra(const rs_registry *r, const char **projects, size_t np, json_t *dict)
{
    const char *project = json_string_value(json_object_get(dict, "project"));
    json_t *infra = json_object_get(dict, "infra");
    if (!project || !json_is_array(infra))
        return;
    char owner[512];
    for (size_t i = json_array_size(infra); i-- > 0;)
        if (infra_owner(r, projects, np, json_array_get(infra, i), owner, sizeof owner) && strcmp(owner, project) != 0)
            json_array_remove(infra, i);
    if (json_array_size(infra) == 0)
        json_object_del(dict, "infra");
}

static json_t *p_registry(void *ctx, const char *project, const char *kind, const char *name, rs_error *err)
{
    rs_provider *p = ctx;
    if (!p->cfg->target || !*p->cfg->target) {
        rs_error_set(err, RS_ENOTFOUND, "this agent has no target (publish-only)");
        return NULL;
    }
    rs_dump_filter f = {.project = project, .name = name};
    if (kind) {
        f.kind = rs_kind_from_name(kind);
        if (!f.kind) {
            rs_error_set(err, RS_EINVALID, "kind '%s' is not a Registry field (entities, feature_views, data_sources, ...)", kind);
            return NULL;
        }
    }
    const char *path = strncmp(p->cfg->target, "file://", 7) == 0 ? p->cfg->target + 7 : p->cfg->target;
    rs_registry *r;
    if (path[0] == '/') {
        if (rs_registry_load_file(path, NULL, &r, err))
            return NULL;
    } else {
        rs_error_set(err, RS_EUNSUPPORTED, "reading a non-file target through the admin API is not supported; use regsync-dump json");
        return NULL;
    }
    json_t *j = rs_registry_dump_json(r, &f, err);
    size_t np = 0;
    const char **projects = j ? rs_registry_projects(r, &np) : NULL;
    if (j && json_is_object(j)) {
        filter_infra(r, projects, np, j);
    } else if (j) {
        size_t i;
        json_t *d;
        json_array_foreach(j, i, d) filter_infra(r, projects, np, d);
    }
    free(projects);
    rs_registry_free(r);
    return j;
}

static uint64_t steps_now(rs_provider *p)
{
    pthread_mutex_lock(&p->step_mu);
    uint64_t n = p->steps;
    pthread_mutex_unlock(&p->step_mu);
    return n;
}

/* Waits until the agent's step count reaches n or the monotonic deadline passes; true when it did. */
static bool wait_steps(rs_provider *p, uint64_t n, int64_t deadline_ms)
{
    pthread_mutex_lock(&p->step_mu);
    while (p->steps < n) {
        int64_t left = deadline_ms - rs_mono_ms();
        if (left <= 0)
            break;
        rs_cond_wait_ms(&p->step_cv, &p->step_mu, left);
    }
    bool done = p->steps >= n;
    pthread_mutex_unlock(&p->step_mu);
    return done;
}

/* After a control call: waits for an agent step that began after it, so that the answer shows the
 * state after the action. The step in flight when the call came may have read the controls
 * before; so: wait for the next completion, wake the agent again (an idle agent would otherwise
 * sleep a poll interval first), and wait for one more. Bounded by 70% of the admin request
 * timeout; false when that was not enough (the action still takes effect). */
static bool wait_for_action(rs_provider *p, uint64_t base)
{
    int64_t limit = p->cfg->admin.request_timeout_ms > 0 ? p->cfg->admin.request_timeout_ms * 7 / 10 : 7000;
    int64_t deadline = rs_mono_ms() + limit;
    if (!wait_steps(p, base + 1, deadline))
        return false;
    rs_agent_wake(p->agent);
    return wait_steps(p, base + 2, deadline);
}

static json_t *p_control(void *ctx, const char *action, const json_t *body, rs_error *err)
{
    rs_provider *p = ctx;
    uint64_t v = body && json_is_integer(json_object_get(body, "version"))
                     ? (uint64_t)json_integer_value(json_object_get(body, "version"))
                     : 0;
    const char *scope = body ? json_string_value(json_object_get(body, "scope")) : NULL;
    if (scope && strcmp(scope, "region") == 0) {
        /* region-wide: a control record every instance of this region obeys (docs/fleet.md) */
        rs_agent_status st;
        rs_agent_status_get(p->agent, &st);
        const char *by = body ? json_string_value(json_object_get(body, "by")) : NULL;
        char who[512]; /* room for "by", region and instance: no truncation (-Wformat-truncation in Debug builds) */
        snprintf(who, sizeof who, "%.120s%s%s/%s (admin API)", by && *by ? by : "", by && *by ? " via " : "", st.region,
                 st.instance);
        json_t *rc_json = rs_provider_region_control(p, action, v, who, err);
        if (!rc_json)
            return NULL;
        rs_agent_wake(p->agent); /* this instance obeys at once; the others within one poll */
        rs_provider_fleet_wake(p);
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_true());
        json_object_set_new(o, "action", json_string(action));
        json_object_set_new(o, "scope", json_string("region"));
        if (v)
            json_object_set_new(o, "version", json_integer((json_int_t)v));
        json_object_set_new(o, "control", rc_json);
        json_object_set_new(o, "status", p_status(p));
        return o;
    }
    if (scope && strcmp(scope, "instance") != 0) {
        rs_error_set(err, RS_EINVALID, "scope must be \"instance\" (the default) or \"region\", not \"%.60s\"", scope);
        return NULL;
    }
    uint64_t base = steps_now(p);
    int rc = RS_OK;
    if (strcmp(action, "sync") == 0)
        rs_agent_wake(p->agent);
    else if (strcmp(action, "pause") == 0)
        rs_agent_pause(p->agent);
    else if (strcmp(action, "resume") == 0)
        rs_agent_resume(p->agent);
    else if (strcmp(action, "pin") == 0)
        rc = rs_agent_pin(p->agent, v, err);
    else if (strcmp(action, "unpin") == 0)
        rs_agent_unpin(p->agent);
    else if (strcmp(action, "rollback") == 0)
        rc = rs_agent_rollback(p->agent, v, err);
    else if (strcmp(action, "publish") == 0)
        rc = rs_agent_request_publish_ex(p->agent, body && json_is_true(json_object_get(body, "allow_destructive")), err);
    else
        rc = rs_error_set(err, RS_ENOTFOUND, "unknown action '%s'", action);
    if (rc)
        return NULL;
    RS_LOGI("admin", "control action=%s version=%" PRIu64, action, v);
    bool done = wait_for_action(p, base);
    json_t *o = json_object();
    json_object_set_new(o, "ok", json_true());
    json_object_set_new(o, "action", json_string(action));
    if (v)
        json_object_set_new(o, "version", json_integer((json_int_t)v));
    /* done: status below is from after a step that saw the action */
    json_object_set_new(o, "done", json_boolean(done));
    json_object_set_new(o, "status", p_status(p));
    return o;
}

/* POST /v1/promote: the same promotion as `regsyncd promote` (rs_daemon_promote), limited to the
 * stores the configuration names (never a URL from the request). */
static json_t *p_promote(void *ctx, const char *store, rs_error *err)
{
    rs_provider *p = ctx;
    uint64_t epoch = 0, version = 0;
    if (rs_daemon_promote(p->cfg, store, false, "admin API", &epoch, &version, err))
        return NULL;
    RS_LOGW("promote", "promoted store=%s epoch=%" PRIu64 " version=%" PRIu64 " via=admin", store, epoch, version);
    rs_agent_wake(p->agent); /* this agent sees the new epoch at its next poll, now */
    rs_provider_fleet_wake(p);
    json_t *o = json_object();
    json_object_set_new(o, "ok", json_true());
    json_object_set_new(o, "action", json_string("promote"));
    json_object_set_new(o, "store", json_string(store));
    json_object_set_new(o, "epoch", json_integer((json_int_t)epoch));
    json_object_set_new(o, "version", json_integer((json_int_t)version));
    return o;
}

void rs_provider_fill(rs_provider *p, rs_admin_provider *out)
{
    memset(out, 0, sizeof *out);
    out->ctx = p;
    out->status = p_status;
    out->ready = p_ready;
    out->metrics = p_metrics;
    out->versions = p_versions;
    out->version = p_version;
    out->diff = p_diff;
    out->registry = p_registry;
    out->drift = rs_provider_drift;
    out->drift_text = rs_provider_drift_text;
    out->control = p_control;
    out->promote = p_promote;
    out->wait_check = rs_provider_wait_check;
}
