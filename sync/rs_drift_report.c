/* rs_drift_report.c: region reports: decode and encode (regsync.v1.RegionStatus), and reading
 * them from the store. See rs_drift.h. */
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

/* ================================================================ reports */

bool dr_digest_is_zero(const uint8_t *d)
{
    for (size_t i = 0; i < RS_DIGEST_LEN; i++)
        if (d[i])
            return false;
    return true;
}

/* untrusted input: a time beyond what int64 milliseconds hold is no time */
static int64_t ts_ms(const Google__Protobuf__Timestamp *t)
{
    return t ? rs_ts_to_ms_or_zero(t->seconds, t->nanos) : 0;
}

static char *dupz(const char *s, bool *oom)
{
    char *d = strdup(s ? s : "");
    if (!d)
        *oom = true;
    return d;
}

static void keys_free(rs_report_key *k, size_t n)
{
    if (!k)
        return;
    for (size_t i = 0; i < n; i++) {
        free(k[i].project);
        free(k[i].name);
    }
    free(k);
}

static void strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void rs_region_report_clear(rs_region_report *r)
{
    if (!r)
        return;
    free(r->key);
    free(r->region);
    free(r->error);
    free(r->last_error);
    free(r->state);
    free(r->agent);
    free(r->log_store);
    free(r->instance);
    free(r->control);
    free(r->read_store);
    free(r->epoch_change);
    free(r->recent);
    strv_free(r->include_projects, r->n_include);
    strv_free(r->exclude_projects, r->n_exclude);
    keys_free(r->modified_objects, r->n_modified);
    keys_free(r->regional_meta_objects, r->n_regional_meta);
    memset(r, 0, sizeof *r);
}

void rs_region_reports_free(rs_region_report *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        rs_region_report_clear(&v[i]);
    free(v);
}

/* Every string non-NULL ("" when absent). */
static int fill_empty(rs_region_report *r)
{
    bool oom = false;
    char **s[] = {&r->key,      &r->region,   &r->last_error, &r->state,       &r->agent,
                  &r->log_store, &r->instance, &r->control,    &r->read_store, &r->epoch_change};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (!*s[i])
            *s[i] = dupz("", &oom);
    return oom ? RS_ENOMEM : RS_OK;
}

static int copy_digest(const ProtobufCBinaryData *b, const char *what, bool *has, uint8_t out[RS_DIGEST_LEN],
                       rs_error *err)
{
    *has = false;
    if (b->len == 0)
        return RS_OK;
    if (b->len != RS_DIGEST_LEN)
        return rs_error_set(err, RS_ECORRUPT, "%s has %zu bytes, not %d", what, b->len, RS_DIGEST_LEN);
    memcpy(out, b->data, RS_DIGEST_LEN);
    /* the agent sends 32 zero bytes when it has nothing to report */
    *has = !dr_digest_is_zero(out);
    return RS_OK;
}

static int copy_keys(Regsync__V1__ObjectKey *const *src, size_t n, rs_report_key **out, size_t *nout, bool *oom)
{
    *out = NULL;
    *nout = 0;
    if (!n)
        return RS_OK;
    rs_report_key *k = calloc(n, sizeof *k);
    if (!k) {
        *oom = true;
        return RS_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        k[i].kind = src[i]->kind;
        k[i].ordinal = src[i]->ordinal;
        k[i].project = dupz(src[i]->project, oom);
        k[i].name = dupz(src[i]->name, oom);
    }
    *out = k;
    *nout = n;
    return *oom ? RS_ENOMEM : RS_OK;
}

static int copy_strv(char *const *src, size_t n, char ***out, size_t *nout, bool *oom)
{
    *out = NULL;
    *nout = 0;
    if (!n)
        return RS_OK;
    char **v = calloc(n, sizeof *v);
    if (!v) {
        *oom = true;
        return RS_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = dupz(src[i], oom);
    *out = v;
    *nout = n;
    return *oom ? RS_ENOMEM : RS_OK;
}

static int from_message(const Regsync__V1__RegionStatus *m, rs_region_report *r, rs_error *err)
{
    int rc;
    if ((rc = copy_digest(&m->applied_digest, "applied_digest", &r->has_applied_digest, r->applied_digest, err)) ||
        (rc = copy_digest(&m->applied_content_digest, "applied_content_digest", &r->has_applied_content_digest,
                          r->applied_content_digest, err)) ||
        (rc = copy_digest(&m->target_digest, "target_digest", &r->has_target_digest, r->target_digest, err)) ||
        (rc = copy_digest(&m->written_digest, "written_digest", &r->has_written_digest, r->written_digest, err)))
        return rc;
    bool oom = false;
    if (m->region && *m->region) {
        free(r->region);
        r->region = dupz(m->region, &oom);
    }
    r->applied_version = m->applied_version;
    r->head_version = m->head_version;
    r->pinned_version = m->pinned_version;
    r->attempted_version = m->attempted_version;
    r->heartbeat_ms = ts_ms(m->heartbeat);
    r->last_success_ms = ts_ms(m->last_success);
    r->applied_at_ms = ts_ms(m->applied_at);
    r->last_error_at_ms = ts_ms(m->last_error_at);
    r->published_at_ms = ts_ms(m->published_at);
    r->last_error = dupz(m->last_error, &oom);
    r->paused = m->paused;
    r->target_modified = m->target_modified;
    r->state = dupz(m->state, &oom);
    r->agent = dupz(m->agent, &oom);
    r->log_store = dupz(m->log_store, &oom);
    if (m->filter) {
        copy_strv(m->filter->include_projects, m->filter->n_include_projects, &r->include_projects, &r->n_include, &oom);
        copy_strv(m->filter->exclude_projects, m->filter->n_exclude_projects, &r->exclude_projects, &r->n_exclude, &oom);
    }
    copy_keys(m->modified_objects, m->n_modified_objects, &r->modified_objects, &r->n_modified, &oom);
    copy_keys(m->regional_meta_objects, m->n_regional_meta_objects, &r->regional_meta_objects, &r->n_regional_meta, &oom);
    free(r->instance);
    r->instance = dupz(m->instance, &oom);
    r->control = dupz(m->control, &oom);
    r->epoch = m->epoch;
    r->read_store = dupz(m->read_store, &oom);
    r->epoch_change = dupz(m->epoch_change, &oom);
    r->epoch_change_at_ms = ts_ms(m->epoch_change_at);
    r->format = m->format;
    r->error_current = m->error_current;
    r->written_at_ms = ts_ms(m->written_at);
    r->started_at_ms = ts_ms(m->started_at);
    r->last_publish_at_ms = ts_ms(m->last_publish_at);
    r->heartbeat_interval_ms = m->heartbeat_interval_ms > INT64_MAX ? 0 : (int64_t)m->heartbeat_interval_ms;
    r->last_published_version = m->last_published_version;
    if (m->format >= 2) {
        r->follows = m->follows;
        r->publishes = m->publishes;
    } else {
        /* the region layout said "publishing" for an agent without a target */
        bool pub_only = m->applied_version == 0 && m->state && strcmp(m->state, "publishing") == 0;
        r->follows = !pub_only;
        r->publishes = pub_only;
    }
    if (m->n_recent_applies) {
        size_t n = m->n_recent_applies > 64 ? 64 : m->n_recent_applies;
        r->recent = calloc(n, sizeof *r->recent);
        if (!r->recent)
            oom = true;
        for (size_t i = 0; r->recent && i < n; i++) {
            r->recent[i].version = m->recent_applies[i]->version;
            r->recent[i].at_ms = ts_ms(m->recent_applies[i]->at);
        }
        r->n_recent = r->recent ? n : 0;
    }
    return oom ? rs_error_set(err, RS_ENOMEM, "out of memory") : RS_OK;
}

/* Keeps key, region and bytes; zeroes the rest; sets error. */
static int mark_unreadable(rs_region_report *r, const char *msg)
{
    char *key = r->key, *region = r->region, *instance = r->instance;
    size_t bytes = r->bytes;
    int64_t mtime = r->mtime_ms;
    char etag[RS_ETAG_MAX];
    memcpy(etag, r->etag, sizeof etag);
    r->key = r->region = r->instance = NULL;
    rs_region_report_clear(r);
    r->key = key;
    r->region = region;
    r->instance = instance;
    r->bytes = bytes;
    r->mtime_ms = mtime;
    memcpy(r->etag, etag, sizeof etag);
    r->error = strdup(msg && *msg ? msg : "unreadable");
    if (!r->error)
        return RS_ENOMEM;
    return fill_empty(r);
}

int rs_region_report_decode(const uint8_t *p, size_t n, rs_region_report *out, rs_error *err)
{
    memset(out, 0, sizeof *out);
    out->bytes = n;
    rs_error e = {0};
    int rc;
    Regsync__V1__RegionStatus *m = regsync__v1__region_status__unpack(NULL, n, p);
    if (!m)
        rc = rs_error_set(&e, RS_ECORRUPT, "not a regsync.v1.RegionStatus message (%zu bytes)", n);
    else
        rc = from_message(m, out, &e);
    if (m)
        regsync__v1__region_status__free_unpacked(m, NULL);
    if (rc == RS_ECORRUPT && mark_unreadable(out, e.msg))
        rc = rs_error_set(&e, RS_ENOMEM, "out of memory");
    else if (rc == RS_OK && fill_empty(out))
        rc = rs_error_set(&e, RS_ENOMEM, "out of memory");
    if (rc == RS_ENOMEM)
        rs_region_report_clear(out);
    if (rc && err)
        *err = e;
    return rc;
}

static void set_ts(Google__Protobuf__Timestamp *ts, int64_t ms, Google__Protobuf__Timestamp **slot)
{
    if (!ms)
        return;
    google__protobuf__timestamp__init(ts);
    ts->seconds = ms / 1000;
    ts->nanos = (int32_t)(ms % 1000) * 1000000;
    *slot = ts;
}

static Regsync__V1__ObjectKey **keys_to_msg(const rs_report_key *k, size_t n, Regsync__V1__ObjectKey **store)
{
    Regsync__V1__ObjectKey *v = calloc(n ? n : 1, sizeof *v);
    Regsync__V1__ObjectKey **p = calloc(n ? n : 1, sizeof *p);
    if (!v || !p) {
        free(v);
        free(p);
        *store = NULL;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        regsync__v1__object_key__init(&v[i]);
        v[i].kind = k[i].kind;
        v[i].ordinal = k[i].ordinal;
        v[i].project = k[i].project ? k[i].project : (char *)"";
        v[i].name = k[i].name ? k[i].name : (char *)"";
        p[i] = &v[i];
    }
    *store = v;
    return p;
}

int rs_region_report_encode(const rs_region_report *r, uint8_t **out, size_t *len, rs_error *err)
{
    *out = NULL;
    *len = 0;
    Regsync__V1__RegionStatus m = REGSYNC__V1__REGION_STATUS__INIT;
    Regsync__V1__ProjectFilter f = REGSYNC__V1__PROJECT_FILTER__INIT;
    Google__Protobuf__Timestamp t[5];
    m.region = r->region ? r->region : (char *)"";
    m.applied_version = r->applied_version;
    m.head_version = r->head_version;
    m.pinned_version = r->pinned_version;
    m.attempted_version = r->attempted_version;
    if (r->has_applied_digest)
        m.applied_digest = (ProtobufCBinaryData){RS_DIGEST_LEN, (uint8_t *)r->applied_digest};
    if (r->has_applied_content_digest)
        m.applied_content_digest = (ProtobufCBinaryData){RS_DIGEST_LEN, (uint8_t *)r->applied_content_digest};
    if (r->has_target_digest)
        m.target_digest = (ProtobufCBinaryData){RS_DIGEST_LEN, (uint8_t *)r->target_digest};
    if (r->has_written_digest)
        m.written_digest = (ProtobufCBinaryData){RS_DIGEST_LEN, (uint8_t *)r->written_digest};
    set_ts(&t[0], r->heartbeat_ms, &m.heartbeat);
    set_ts(&t[1], r->last_success_ms, &m.last_success);
    set_ts(&t[2], r->applied_at_ms, &m.applied_at);
    set_ts(&t[3], r->last_error_at_ms, &m.last_error_at);
    set_ts(&t[4], r->published_at_ms, &m.published_at);
    m.last_error = r->last_error ? r->last_error : (char *)"";
    m.paused = r->paused;
    m.target_modified = r->target_modified;
    m.state = r->state ? r->state : (char *)"";
    m.agent = r->agent ? r->agent : (char *)"";
    m.log_store = r->log_store ? r->log_store : (char *)"";
    m.instance = r->instance ? r->instance : (char *)"";
    m.control = r->control ? r->control : (char *)"";
    m.epoch = r->epoch;
    m.read_store = r->read_store ? r->read_store : (char *)"";
    m.epoch_change = r->epoch_change ? r->epoch_change : (char *)"";
    Google__Protobuf__Timestamp ect;
    set_ts(&ect, r->epoch_change_at_ms, &m.epoch_change_at);
    m.format = r->format;
    m.follows = r->follows;
    m.publishes = r->publishes;
    m.error_current = r->error_current;
    Google__Protobuf__Timestamp t2[3];
    set_ts(&t2[0], r->written_at_ms, &m.written_at);
    set_ts(&t2[1], r->started_at_ms, &m.started_at);
    set_ts(&t2[2], r->last_publish_at_ms, &m.last_publish_at);
    m.heartbeat_interval_ms = r->heartbeat_interval_ms > 0 ? (uint64_t)r->heartbeat_interval_ms : 0;
    m.last_published_version = r->last_published_version;
    Regsync__V1__AppliedAt rec[64], *recp[64];
    Google__Protobuf__Timestamp rect[64];
    size_t nrec = r->n_recent < 64 ? r->n_recent : 64;
    for (size_t i = 0; i < nrec; i++) {
        regsync__v1__applied_at__init(&rec[i]);
        rec[i].version = r->recent[i].version;
        set_ts(&rect[i], r->recent[i].at_ms, &rec[i].at);
        recp[i] = &rec[i];
    }
    m.n_recent_applies = nrec;
    m.recent_applies = nrec ? recp : NULL;
    f.n_include_projects = r->n_include;
    f.include_projects = r->include_projects;
    f.n_exclude_projects = r->n_exclude;
    f.exclude_projects = r->exclude_projects;
    m.filter = &f;
    Regsync__V1__ObjectKey *mk_store, *rk_store;
    Regsync__V1__ObjectKey **mk = keys_to_msg(r->modified_objects, r->n_modified, &mk_store);
    Regsync__V1__ObjectKey **rk = keys_to_msg(r->regional_meta_objects, r->n_regional_meta, &rk_store);
    int rc = RS_OK;
    if (!mk || !rk) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto done;
    }
    m.n_modified_objects = r->n_modified;
    m.modified_objects = mk;
    m.n_regional_meta_objects = r->n_regional_meta;
    m.regional_meta_objects = rk;
    size_t n = regsync__v1__region_status__get_packed_size(&m);
    *out = malloc(n ? n : 1);
    if (!*out) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto done;
    }
    *len = regsync__v1__region_status__pack(&m, *out);
done:
    free(mk);
    free(mk_store);
    free(rk);
    free(rk_store);
    return rc;
}

/* Sets key, and region from the key when the report names none. */
/* Sets key, and region and instance from the key when the report names none:
 * regsync/regions/<region>/<instance> (format 2) or regsync/regions/<region> (format 1). */
static int name_report(rs_region_report *out, const char *key)
{
    size_t pl = strlen(RS_PREFIX_REGIONS);
    const char *name = key + (strncmp(key, RS_PREFIX_REGIONS, pl) == 0 ? pl : 0);
    const char *slash = strchr(name, '/');
    free(out->key);
    out->key = strdup(key);
    if (!out->region || !out->region[0]) {
        free(out->region);
        out->region = slash ? strndup(name, (size_t)(slash - name)) : strdup(name);
    }
    if (!out->instance || !out->instance[0]) {
        free(out->instance);
        out->instance = strdup(slash ? slash + 1 : "");
    }
    return out->key && out->region && out->instance ? RS_OK : RS_ENOMEM;
}

static int read_one(rs_storage *s, const char *key, rs_region_report *out, rs_error *err)
{
    memset(out, 0, sizeof *out);
    uint8_t *d;
    size_t l;
    rs_error ge = {0};
    int rc = rs_storage_get(s, key, NULL, &d, &l, NULL, &ge);
    if (rc == RS_ENOTFOUND) {
        if (err)
            *err = ge;
        return rc;
    }
    if (rc) {
        char msg[RS_ERROR_MSG_MAX + 32];
        snprintf(msg, sizeof msg, "cannot read: %s", ge.msg);
        if (name_report(out, key) || mark_unreadable(out, msg)) {
            rs_region_report_clear(out);
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        }
        return RS_OK;
    }
    rs_error de = {0};
    rc = rs_region_report_decode(d, l, out, &de); /* RS_ECORRUPT: kept, with its error string */
    free(d);
    if (rc == RS_ENOMEM || name_report(out, key)) {
        rs_region_report_clear(out);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    return RS_OK;
}

static bool name_ok(const char *s, size_t n)
{
    if (!n || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

int rs_drift_read_report(rs_storage *s, const char *name, rs_region_report *out, rs_error *err)
{
    memset(out, 0, sizeof *out);
    const char *slash = name ? strchr(name, '/') : NULL;
    if (!name || !(slash ? name_ok(name, (size_t)(slash - name)) && name_ok(slash + 1, strlen(slash + 1)) : name_ok(name, strlen(name))))
        return rs_error_set(err, RS_EINVALID, "'%s' is not a region or region/instance name ([a-z0-9-]+)", name ? name : "");
    char key[512];
    if (slash) {
        snprintf(key, sizeof key, RS_PREFIX_REGIONS "%s", name);
    } else {
        /* a region: its most recently written instance report, else the region-layout report */
        char prefix[256];
        snprintf(prefix, sizeof prefix, RS_PREFIX_REGIONS "%s/", name);
        rs_list_entry *e;
        size_t n;
        int rc = rs_storage_list(s, prefix, &e, &n, err);
        if (rc)
            return rc;
        size_t best = n;
        for (size_t i = 0; i < n; i++)
            if (best == n || e[i].mtime_ms > e[best].mtime_ms)
                best = i;
        if (best < n)
            snprintf(key, sizeof key, "%s", e[best].key);
        else
            rs_log_region_key(name, key, sizeof key);
        rs_storage_list_free(e, n);
    }
    int rc = read_one(s, key, out, err);
    if (rc == RS_ENOTFOUND)
        return rs_error_set(err, RS_ENOTFOUND, "no report from '%s' (%s)", name, key);
    return rc;
}

int rs_drift_read_reports(rs_storage *s, rs_region_report **out, size_t *nout, rs_error *err)
{
    *out = NULL;
    *nout = 0;
    rs_list_entry *e;
    size_t n;
    int rc = rs_storage_list(s, RS_PREFIX_REGIONS, &e, &n, err);
    if (rc)
        return rc;
    rs_region_report *v = calloc(n ? n : 1, sizeof *v);
    if (!v) {
        rs_storage_list_free(e, n);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rest = e[i].key + strlen(RS_PREFIX_REGIONS);
        if (strlen(e[i].key) <= strlen(RS_PREFIX_REGIONS) || strchr(rest, '/') != strrchr(rest, '/'))
            continue;
        rc = read_one(s, e[i].key, &v[k], err);
        if (rc == RS_ENOTFOUND) { /* deleted between list and get */
            rc = RS_OK;
            continue;
        }
        if (rc)
            break;
        v[k].mtime_ms = e[i].mtime_ms;
        snprintf(v[k].etag, sizeof v[k].etag, "%s", e[i].etag);
        /* a format-2 report carries no heartbeat: its last write is the store's modification time
         * (the store's clock, not the writer's); rs_fleet does better by observing it change */
        if (!v[k].heartbeat_ms)
            v[k].heartbeat_ms = e[i].mtime_ms;
        k++;
    }
    rs_storage_list_free(e, n);
    if (rc) {
        rs_region_reports_free(v, k);
        return rc;
    }
    *out = v;
    *nout = k;
    return RS_OK;
}
