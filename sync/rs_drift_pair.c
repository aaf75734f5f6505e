/* rs_drift_pair.c: drift rows and the head as JSON, and the pairwise difference of two regions
 * (rs_drift_pair). See rs_drift.h. */
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

static json_t *hex_or_null(bool has, const uint8_t *d)
{
    if (!has)
        return json_null();
    char h[2 * RS_DIGEST_LEN + 1];
    rs_hex(d, RS_DIGEST_LEN, h);
    return json_string(h);
}

static json_t *strv_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *key_json(const rs_report_key *k)
{
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_integer(k->kind));
    const char *kn = rs_kind_field_name(k->kind);
    json_object_set_new(o, "kindName", json_string(kn ? kn : "unknown"));
    json_object_set_new(o, "project", json_string(k->project ? k->project : ""));
    json_object_set_new(o, "name", json_string(k->name ? k->name : ""));
    if (k->ordinal)
        json_object_set_new(o, "ordinal", json_integer(k->ordinal));
    return o;
}

static json_t *keys_json(const rs_report_key *k, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, key_json(&k[i]));
    return a;
}

static json_t *filter_json(const rs_region_report *r)
{
    json_t *f = json_object();
    json_object_set_new(f, "include_projects", strv_json(r->include_projects, r->n_include));
    json_object_set_new(f, "exclude_projects", strv_json(r->exclude_projects, r->n_exclude));
    return f;
}

json_t *rs_drift_head_json(const rs_head *h)
{
    if (!h)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "version", json_integer((json_int_t)h->version));
    json_object_set_new(o, "digest", hex_or_null(h->version != 0, h->digest));
    json_object_set_new(o, "content_digest", hex_or_null(h->version != 0 && !dr_digest_is_zero(h->content_digest), h->content_digest));
    json_object_set_new(o, "oldest_version", json_integer((json_int_t)h->oldest_version));
    json_object_set_new(o, "snapshot_version", json_integer((json_int_t)h->snapshot_version));
    json_t *s = json_array();
    for (size_t i = 0; i < h->n_snapshots; i++)
        json_array_append_new(s, json_integer((json_int_t)h->snapshots[i]));
    json_object_set_new(o, "snapshots", s);
    json_object_set_new(o, "publisher", json_string(h->publisher));
    json_object_set_new(o, "updated", rs_json_time_ms(h->updated_ms));
    json_object_set_new(o, "format", json_integer(h->format));
    json_object_set_new(o, "epoch", json_integer((json_int_t)h->epoch));
    return o;
}

static const char *check_name(rs_drift_check c)
{
    switch (c) {
    case RS_DRIFT_CHECK_OK: return "ok";
    case RS_DRIFT_CHECK_MISMATCH: return "mismatch";
    case RS_DRIFT_CHECK_UNKNOWN: return "unknown";
    default: return "skipped";
    }
}

json_t *rs_drift_row_json(const rs_drift_row *row)
{
    const rs_region_report *r = row->report;
    json_t *o = json_object();
    json_object_set_new(o, "region", json_string(r->region));
    json_object_set_new(o, "state", json_string(row->state));
    json_object_set_new(o, "reason", json_string(row->reason));
    json_object_set_new(o, "applied_version", json_integer((json_int_t)r->applied_version));
    json_object_set_new(o, "versions_behind", json_integer((json_int_t)row->versions_behind));
    json_object_set_new(o, "lag_seconds", json_real(row->lag_seconds));
    json_object_set_new(o, "heartbeat", rs_json_time_ms(r->heartbeat_ms));
    json_object_set_new(o, "heartbeat_age_seconds",
                        row->heartbeat_age_ms >= 0 ? json_real((double)row->heartbeat_age_ms / 1000.0) : json_null());
    if (r->last_error[0] || r->last_error_at_ms) {
        json_t *le = json_object();
        json_object_set_new(le, "time", rs_json_time_ms(r->last_error_at_ms));
        json_object_set_new(le, "message", json_string(r->last_error));
        json_object_set_new(o, "last_error", le);
    } else {
        json_object_set_new(o, "last_error", json_null());
    }
    json_object_set_new(o, "agent_state", json_string(r->state));
    json_object_set_new(o, "head_version", json_integer((json_int_t)r->head_version));
    json_object_set_new(o, "paused", json_boolean(r->paused));
    json_object_set_new(o, "pinned_version", r->pinned_version ? json_integer((json_int_t)r->pinned_version) : json_null());
    json_object_set_new(o, "attempted_version",
                        r->attempted_version ? json_integer((json_int_t)r->attempted_version) : json_null());
    json_object_set_new(o, "last_success", rs_json_time_ms(r->last_success_ms));
    json_object_set_new(o, "applied_at", rs_json_time_ms(r->applied_at_ms));
    json_object_set_new(o, "published_at", rs_json_time_ms(r->published_at_ms));
    json_object_set_new(o, "filter", filter_json(r));
    json_object_set_new(o, "applied_digest", hex_or_null(r->has_applied_digest, r->applied_digest));
    json_object_set_new(o, "digest_check", json_string(check_name(row->digest_check)));
    json_object_set_new(o, "expected_digest",
                        hex_or_null(row->digest_check == RS_DRIFT_CHECK_OK || row->digest_check == RS_DRIFT_CHECK_MISMATCH,
                                    row->expected_digest));
    json_object_set_new(o, "target_digest", hex_or_null(r->has_target_digest, r->target_digest));
    json_object_set_new(o, "written_digest", hex_or_null(r->has_written_digest, r->written_digest));
    json_object_set_new(o, "target_modified", json_boolean(r->target_modified));
    json_object_set_new(o, "modified_objects", keys_json(r->modified_objects, r->n_modified));
    json_object_set_new(o, "regional_meta_objects", keys_json(r->regional_meta_objects, r->n_regional_meta));
    json_object_set_new(o, "agent", json_string(r->agent));
    json_object_set_new(o, "log_store", json_string(r->log_store));
    json_object_set_new(o, "report_error", r->error ? json_string(r->error) : json_null());
    return o;
}

json_t *rs_drift_to_json(const rs_drift_row *rows, size_t n, const rs_head *head)
{
    static const char *const states[] = {RS_DRIFT_IN_SYNC, RS_DRIFT_BEHIND, RS_DRIFT_MODIFIED,
                                         RS_DRIFT_DIVERGED, RS_DRIFT_PAUSED, RS_DRIFT_STALE};
    json_t *root = json_object();
    json_object_set_new(root, "head", head && head->version ? rs_drift_head_json(head) : json_null());
    json_t *regions = json_array();
    json_t *counts = json_object();
    for (size_t s = 0; s < sizeof states / sizeof states[0]; s++)
        json_object_set_new(counts, states[s], json_integer(0));
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(regions, rs_drift_row_json(&rows[i]));
        json_t *cnt = json_object_get(counts, rows[i].state);
        if (cnt)
            json_integer_set(cnt, json_integer_value(cnt) + 1);
    }
    json_object_set_new(root, "regions", regions);
    json_object_set_new(root, "counts", counts);
    return root;
}

/* ================================================================ pairs */

static const char *primary_class(unsigned cls)
{
    return cls & RS_CLASS_SPEC ? "spec" : cls & RS_CLASS_META ? "meta" : cls & RS_CLASS_REGISTRY ? "registry" : "spec";
}

static json_t *pair_region_json(const rs_region_report *r, const rs_registry *view)
{
    json_t *o = json_object();
    json_object_set_new(o, "region", json_string(r->region));
    json_object_set_new(o, "applied_version", json_integer((json_int_t)r->applied_version));
    json_object_set_new(o, "agent_state", json_string(r->state));
    json_object_set_new(o, "filter", filter_json(r));
    uint8_t d[RS_DIGEST_LEN];
    rs_registry_digest(view, d);
    json_object_set_new(o, "view_digest", hex_or_null(true, d));
    json_object_set_new(o, "applied_digest", hex_or_null(r->has_applied_digest, r->applied_digest));
    json_object_set_new(o, "digest_matches_log",
                        r->has_applied_digest && r->applied_version ? json_boolean(memcmp(d, r->applied_digest, RS_DIGEST_LEN) == 0)
                                                                    : json_null());
    json_object_set_new(o, "target_modified", json_boolean(r->target_modified));
    json_object_set_new(o, "target_matches_written",
                        r->has_target_digest && r->has_written_digest
                            ? json_boolean(memcmp(r->target_digest, r->written_digest, RS_DIGEST_LEN) == 0)
                            : json_null());
    return o;
}

static void add_reported(json_t *arr, const rs_region_report *r, const rs_report_key *k, size_t n, bool expected,
                         const char *reason, const char *cls)
{
    for (size_t i = 0; i < n; i++) {
        json_t *o = key_json(&k[i]);
        json_object_set_new(o, "region", json_string(r->region));
        if (cls)
            json_object_set_new(o, "class", json_string(cls));
        json_object_set_new(o, "expected", json_boolean(expected));
        json_object_set_new(o, "reason", json_string(reason));
        json_array_append_new(arr, o);
    }
}

int rs_drift_pair(rs_drift_ctx *c, const rs_head *head, const rs_region_report *x, const rs_region_report *y,
                  json_t **out, rs_error *err)
{
    *out = NULL;
    if (!c || !x || !y)
        return rs_error_set(err, RS_EINVALID, "drift pair: missing argument");
    if (x->error)
        return rs_error_set(err, RS_EINVALID, "the report of region '%s' is unreadable: %s", x->region, x->error);
    if (y->error)
        return rs_error_set(err, RS_EINVALID, "the report of region '%s' is unreadable: %s", y->region, y->error);
    rs_head empty = {0};
    if (!head)
        head = &empty;
    filter_ref fx = dr_report_filter(x), fy = dr_report_filter(y);
    rs_registry *vx = NULL, *vy = NULL;
    rs_diff *d = NULL;
    pthread_mutex_lock(&c->mu);
    /* the lower version first: the cached registry then moves forward */
    bool x_first = x->applied_version <= y->applied_version;
    int rc = dr_view_at(c, head, x_first ? x->applied_version : y->applied_version, x_first ? &fx : &fy, x_first ? &vx : &vy, err);
    if (rc)
        rs_error_prefix(err, "region '%s' at version %" PRIu64, x_first ? x->region : y->region,
                        x_first ? x->applied_version : y->applied_version);
    else if ((rc = dr_view_at(c, head, x_first ? y->applied_version : x->applied_version, x_first ? &fy : &fx,
                           x_first ? &vy : &vx, err)))
        rs_error_prefix(err, "region '%s' at version %" PRIu64, x_first ? y->region : x->region,
                        x_first ? y->applied_version : x->applied_version);
    pthread_mutex_unlock(&c->mu);
    if (!rc)
        rc = rs_diff_compute(vx, vy, RS_DIFF_PROPS, &d, err);
    if (rc) {
        rs_registry_free(vx);
        rs_registry_free(vy);
        return rc;
    }
    const unsigned all = RS_CLASS_SPEC | RS_CLASS_META | RS_CLASS_REGISTRY;
    json_t *dj = rs_diff_to_json(d, all);
    json_t *changes = json_object_get(dj, "changes");
    json_t *diffs = json_array();
    size_t n_spec = 0, n_meta = 0, n_registry = 0, n_filtered = 0, n_expected = 0, n_unexpected = 0, n_skew = 0;
    size_t ji = 0;
    bool same_version = x->applied_version == y->applied_version;
    for (size_t i = 0; i < d->n; i++) {
        const rs_obj_change *oc = &d->items[i];
        if (!(oc->classes & all))
            continue; /* rs_diff_to_json leaves these out too */
        json_t *o = json_array_get(changes, ji++);
        if (!o)
            break;
        json_incref(o);
        const char *cls = primary_class(oc->classes);
        json_object_set_new(o, "class", json_string(cls));
        bool expected = false;
        char reason[160];
        const rs_region_report *lacks = NULL, *has = NULL;
        if (oc->type == RS_CHANGE_CREATED) {
            lacks = x;
            has = y;
        } else if (oc->type == RS_CHANGE_DELETED) {
            lacks = y;
            has = x;
        }
        if (has)
            json_object_set_new(o, "only_in", json_string(has->region));
        const filter_ref *fl = lacks == x ? &fx : &fy;
        if (lacks && oc->project[0] && !dr_filter_allows(fl, oc->project)) {
            expected = true;
            snprintf(reason, sizeof reason, "filtered");
            json_object_set_new(o, "filtered_by", json_string(lacks->region));
            n_filtered++;
        } else if (!same_version) {
            n_skew++;
            snprintf(reason, sizeof reason, "versions differ (%s at %" PRIu64 ", %s at %" PRIu64 ")", x->region,
                     x->applied_version, y->region, y->applied_version);
        } else {
            snprintf(reason, sizeof reason, "differs at the same version");
        }
        json_object_set_new(o, "expected", json_boolean(expected));
        json_object_set_new(o, "reason", json_string(reason));
        if (expected)
            n_expected++;
        else
            n_unexpected++;
        if (strcmp(cls, "spec") == 0)
            n_spec++;
        else if (strcmp(cls, "meta") == 0)
            n_meta++;
        else
            n_registry++;
        json_array_append_new(diffs, o);
    }
    json_t *regional = json_array();
    add_reported(regional, x, x->regional_meta_objects, x->n_regional_meta, true, "regional meta kept", "meta");
    add_reported(regional, y, y->regional_meta_objects, y->n_regional_meta, true, "regional meta kept", "meta");
    json_t *local = json_array();
    add_reported(local, x, x->modified_objects, x->n_modified, false, "modified locally", NULL);
    add_reported(local, y, y->modified_objects, y->n_modified, false, "modified locally", NULL);
    size_t n_regional = json_array_size(regional), n_local = json_array_size(local);

    json_t *root = json_object();
    json_t *regs = json_array();
    json_array_append_new(regs, pair_region_json(x, vx));
    json_array_append_new(regs, pair_region_json(y, vy));
    json_object_set_new(root, "regions", regs);
    json_object_set_new(root, "same_version", json_boolean(same_version));
    json_object_set_new(root, "differences", diffs);
    json_object_set_new(root, "regional_meta", regional);
    json_object_set_new(root, "local_modifications", local);
    json_t *sum = json_object();
    json_object_set_new(sum, "differences", json_integer((json_int_t)(n_expected + n_unexpected)));
    json_object_set_new(sum, "spec", json_integer((json_int_t)n_spec));
    json_object_set_new(sum, "meta", json_integer((json_int_t)n_meta));
    json_object_set_new(sum, "registry", json_integer((json_int_t)n_registry));
    json_object_set_new(sum, "filtered", json_integer((json_int_t)n_filtered));
    json_object_set_new(sum, "versions_differ", json_integer((json_int_t)n_skew));
    json_object_set_new(sum, "regional_meta", json_integer((json_int_t)n_regional));
    json_object_set_new(sum, "local_modifications", json_integer((json_int_t)n_local));
    json_object_set_new(sum, "expected", json_integer((json_int_t)(n_expected + n_regional)));
    json_object_set_new(sum, "unexpected", json_integer((json_int_t)(n_unexpected + n_local)));
    json_object_set_new(root, "summary", sum);
    json_decref(dj);
    rs_diff_free(d);
    rs_registry_free(vx);
    rs_registry_free(vy);
    *out = root;
    return RS_OK;
}
