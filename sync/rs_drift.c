/* rs_drift.c: region reports, drift states and pairwise differences. See rs_drift.h and
 * docs/drift.md. */
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

#define DRIFT_CACHE_MAX 4096   /* entries per cache; the cache starts over when full */
#define DRIFT_ADVANCE_MAX 512  /* entries applied to the cached registry before rebuilding instead */

/* ================================================================ reports */

static bool digest_is_zero(const uint8_t *d)
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
    *has = !digest_is_zero(out);
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

/* ================================================================ context */

typedef struct digest_entry {
    uint64_t version;
    char *filter;          /* canonical filter key; "" for none */
    uint8_t digest[RS_DIGEST_LEN];
} digest_entry;

typedef struct entry_info {
    uint64_t version;
    int64_t published_ms;
    uint8_t result[RS_DIGEST_LEN];
} entry_info;

struct rs_drift_ctx {
    rs_storage *s;
    pthread_mutex_t mu;
    digest_entry *dig;
    size_t ndig, capdig;
    entry_info *ent;
    size_t nent, capent;
    rs_registry *reg;      /* the global registry at reg_version, the last one rebuilt */
    uint64_t reg_version;
};

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

typedef struct filter_ref {
    char *const *inc;
    size_t ninc;
    char *const *exc;
    size_t nexc;
} filter_ref;

static filter_ref report_filter(const rs_region_report *r)
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

static bool filter_allows(const filter_ref *f, const char *project)
{
    rs_agent_config cfg = {.include_projects = (const char *const *)f->inc,
                           .n_include = f->ninc,
                           .exclude_projects = (const char *const *)f->exc,
                           .n_exclude = f->nexc};
    return rs_agent_project_allowed(&cfg, project);
}

static bool keep_cb(const char *project, void *ctx) { return filter_allows(ctx, project); }

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
static int view_at(rs_drift_ctx *c, const rs_head *head, uint64_t version, const filter_ref *f, rs_registry **out,
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
    int rc = view_at(c, head, version, &none, out, err);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* What the log says the digest of the region's view at version is. */
static int expected_digest(rs_drift_ctx *c, const rs_head *head, uint64_t version, const filter_ref *f,
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
        rc = view_at(c, head, version, f, &v, err);
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
    filter_ref f = report_filter(r);
    char digest_note[200] = "";
    if (r->applied_version && r->has_applied_digest && !pub_only) {
        rs_error de = {0};
        if (expected_digest(c, head, r->applied_version, &f, row->expected_digest, &de) == RS_OK) {
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
    json_object_set_new(o, "content_digest", hex_or_null(h->version != 0 && !digest_is_zero(h->content_digest), h->content_digest));
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
    filter_ref fx = report_filter(x), fy = report_filter(y);
    rs_registry *vx = NULL, *vy = NULL;
    rs_diff *d = NULL;
    pthread_mutex_lock(&c->mu);
    /* the lower version first: the cached registry then moves forward */
    bool x_first = x->applied_version <= y->applied_version;
    int rc = view_at(c, head, x_first ? x->applied_version : y->applied_version, x_first ? &fx : &fy, x_first ? &vx : &vy, err);
    if (rc)
        rs_error_prefix(err, "region '%s' at version %" PRIu64, x_first ? x->region : y->region,
                        x_first ? x->applied_version : y->applied_version);
    else if ((rc = view_at(c, head, x_first ? y->applied_version : x->applied_version, x_first ? &fy : &fx,
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
        if (lacks && oc->project[0] && !filter_allows(fl, oc->project)) {
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
