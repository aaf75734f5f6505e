/* rs_agent.c: agent lifecycle, the run loop, control, status and region reports. The follower
 * itself is in rs_follow.c. See docs/sync.md. */
#include "rs_agent_impl.h"
#include "rs_follow_impl.h"
#include "rs_alloc.h"
#include "rs_buf.h"
#include "rs_log.h"
#include "rs_time.h"
#include "rs_url.h"

#include <ctype.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "regsync/v1/log.pb-c.h"

const char *const rs_errkind_names[RS_ERRKINDS] = {"store", "corrupt", "target", "journal",
                                                  "source", "conflict", "local_change", "other"};

const char *rs_local_policy_name(rs_local_policy p)
{
    switch (p) {
    case RS_POLICY_OVERWRITE: return "overwrite";
    case RS_POLICY_STOP: return "stop";
    default: return "keep-regional-meta";
    }
}

int rs_local_policy_parse(const char *s, rs_local_policy *out)
{
    if (strcmp(s, "keep-regional-meta") == 0)
        *out = RS_POLICY_KEEP_REGIONAL_META;
    else if (strcmp(s, "overwrite") == 0)
        *out = RS_POLICY_OVERWRITE;
    else if (strcmp(s, "stop") == 0)
        *out = RS_POLICY_STOP;
    else
        return RS_EINVALID;
    return RS_OK;
}

bool rs_agent_project_allowed(const rs_agent_config *cfg, const char *project)
{
    bool in = cfg->n_include == 0;
    for (size_t i = 0; i < cfg->n_include && !in; i++)
        if (fnmatch(cfg->include_projects[i], project, 0) == 0)
            in = true;
    if (!in)
        return false;
    for (size_t i = 0; i < cfg->n_exclude; i++)
        if (fnmatch(cfg->exclude_projects[i], project, 0) == 0)
            return false;
    return true;
}

void rs_agent_default_instance(char *out, size_t n)
{
    char raw[256] = "";
    const char *pod = getenv("POD_NAME");
    if (pod && *pod)
        snprintf(raw, sizeof raw, "%s", pod);
    else
        gethostname(raw, sizeof raw - 1);
    size_t o = 0;
    for (const char *p = raw; *p && o + 1 < n && o < 63; p++) {
        char c = (char)tolower((unsigned char)*p);
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            c = '-';
        if (c == '-' && (o == 0 || out[o - 1] == '-'))
            continue; /* no leading or doubled dashes */
        out[o++] = c;
    }
    while (o && out[o - 1] == '-')
        o--;
    out[o] = '\0';
    if (!o)
        snprintf(out, n, "agent");
}

void rs_key_list_clear(rs_key_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->project[i]);
        free(l->name[i]);
    }
    free(l->kind);
    free(l->project);
    free(l->name);
    memset(l, 0, sizeof *l);
}

int rs_key_list_add(rs_key_list *l, uint32_t kind, const char *project, const char *name)
{
    uint32_t *k = realloc(l->kind, (l->n + 1) * sizeof *k);
    if (!k)
        return RS_ENOMEM;
    l->kind = k;
    char **p = realloc(l->project, (l->n + 1) * sizeof *p);
    if (!p)
        return RS_ENOMEM;
    l->project = p;
    char **n = realloc(l->name, (l->n + 1) * sizeof *n);
    if (!n)
        return RS_ENOMEM;
    l->name = n;
    l->kind[l->n] = kind;
    l->project[l->n] = rs_xstrdup(project);
    l->name[l->n] = rs_xstrdup(name);
    l->n++;
    return RS_OK;
}

void rs_agent_set_state(rs_agent *a, const char *state)
{
    pthread_mutex_lock(&a->mu);
    snprintf(a->st.state, sizeof a->st.state, "%s", state);
    pthread_mutex_unlock(&a->mu);
}

int rs_agent_error_kind(const rs_error *err, int fallback)
{
    switch (err ? err->origin : RS_ORIGIN_NONE) {
    case RS_ORIGIN_STORE: return EK_STORE;
    case RS_ORIGIN_SOURCE: return EK_SOURCE;
    case RS_ORIGIN_TARGET: return EK_TARGET;
    case RS_ORIGIN_JOURNAL: return EK_JOURNAL;
    default: return fallback;
    }
}

void rs_agent_record_error(rs_agent *a, int kind, uint64_t version, const rs_error *err)
{
    const char *msg = err && err->msg[0] ? err->msg : "failed";
    pthread_mutex_lock(&a->mu);
    if (kind < 0 || kind >= RS_ERRKINDS)
        kind = EK_OTHER;
    a->st.errors[kind]++;
    a->st.last_error_ms = rs_wall_ms();
    snprintf(a->st.last_error, sizeof a->st.last_error, "%s", msg);
    a->st.error_current = true;
    if (version)
        a->st.attempted_version = version;
    pthread_mutex_unlock(&a->mu);
    RS_LOGE("agent", "error kind=%s version=%" PRIu64 " message=\"%s\"", rs_errkind_names[kind], version, msg);
    if (a->journal)
        rs_journal_event(a->journal, RS_LOG_ERROR, "error", version, "%s: %s", rs_errkind_names[kind], msg);
}

static char **dup_list(const char *const *v, size_t n)
{
    char **out = rs_xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = rs_xstrdup(v[i]);
    return out;
}

static void free_list(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char *sdup(const char *s) { return rs_xstrdup(s); }

/* The store counters of every handle this agent uses (main, parallel fetch, watch), copied into
 * the status by the agent's own thread: the handles' counters are not shared with readers. */
static void snapshot_store_stats(rs_agent *a)
{
    rs_storage_stats sum = {0}, one;
    rs_storage *hs[RS_MAX_FETCH + 2];
    size_t n = 0;
    hs[n++] = a->watch;
    for (int i = 0; i < RS_MAX_FETCH; i++)
        hs[n++] = a->fetch[i];
    for (size_t i = 0; i < n + a->n_stores; i++) {
        rs_storage *h = i < n ? hs[i] : a->stores[i - n].h;
        if (!h)
            continue;
        rs_storage_get_stats(h, &one);
        sum.requests += one.requests;
        sum.bytes_in += one.bytes_in;
        sum.bytes_out += one.bytes_out;
        sum.retries += one.retries;
        sum.errors += one.errors;
        sum.not_modified += one.not_modified;
    }
    pthread_mutex_lock(&a->mu);
    a->st.store = sum;
    pthread_mutex_unlock(&a->mu);
}

int rs_agent_open(const rs_agent_config *cfg, rs_agent **out, rs_error *err)
{
    *out = NULL;
    if (!cfg->region || !*cfg->region || !cfg->store_url || !cfg->state_dir)
        return rs_error_set(err, RS_EINVALID, "agent: region, store and state_dir are required");
    if (!cfg->target && !cfg->publish)
        return rs_error_set(err, RS_EINVALID, "agent: neither a target to follow into nor publishing");
    if (cfg->publish && (!cfg->source || !*cfg->source))
        return rs_error_set(err, RS_EINVALID, "agent: publish is on but there is no source");
    rs_agent *a = calloc(1, sizeof *a);
    if (!a)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    pthread_mutex_init(&a->mu, NULL);
    /* rs_agent_run waits until a CLOCK_MONOTONIC deadline: the condvar must use that clock (the
     * default, CLOCK_REALTIME, makes every wait time out at once and the loop spin) */
    rs_cond_init_mono(&a->cv);
    a->cfg = *cfg;
    a->region = sdup(cfg->region);
    a->store_url = sdup(cfg->store_url);
    a->source = sdup(cfg->source);
    a->target_url = sdup(cfg->target);
    a->state_dir = sdup(cfg->state_dir);
    a->inc = dup_list(cfg->include_projects, cfg->n_include);
    a->exc = dup_list(cfg->exclude_projects, cfg->n_exclude);
    char pid[160];
    if (cfg->publisher_id && *cfg->publisher_id)
        snprintf(pid, sizeof pid, "%s", cfg->publisher_id);
    else {
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        snprintf(pid, sizeof pid, "%s/%s/%d", cfg->region, host, (int)getpid());
    }
    a->publisher_id = rs_xstrdup(pid);
    if (cfg->instance && *cfg->instance)
        snprintf(a->instance, sizeof a->instance, "%s", cfg->instance);
    else
        rs_agent_default_instance(a->instance, sizeof a->instance);
    a->cfg.instance = a->instance;
    a->started_ms = rs_wall_ms();
    a->cfg.region = a->region;
    a->cfg.store_url = a->store_url;
    a->cfg.source = a->source;
    a->cfg.target = a->target_url;
    a->cfg.state_dir = a->state_dir;
    a->cfg.include_projects = (const char *const *)a->inc;
    a->cfg.exclude_projects = (const char *const *)a->exc;
    a->cfg.publisher_id = a->publisher_id;
    if (!a->cfg.poll_interval_ms)
        a->cfg.poll_interval_ms = 5000;
    if (!a->cfg.heartbeat_interval_ms)
        a->cfg.heartbeat_interval_ms = 30000;
    if (!a->cfg.stale_after_ms)
        a->cfg.stale_after_ms = 120000;
    if (!a->cfg.max_staleness_ms)
        a->cfg.max_staleness_ms = 300000;
    if (!a->cfg.snapshot_every)
        a->cfg.snapshot_every = 100;
    snprintf(a->st.region, sizeof a->st.region, "%s", a->region);
    snprintf(a->st.instance, sizeof a->st.instance, "%s", a->instance);
    snprintf(a->st.state, sizeof a->st.state, "starting");
    a->st.publish = cfg->publish;
    int rc = rs_stores_open(a, cfg, err);
    if (rc)
        goto fail;
    if ((rs_storage_caps(a->store) & RS_CAP_WATCH) && !cfg->no_watch) {
        rs_error we = {0};
        if (rs_storage_open(a->store_url, &a->cfg.store_opts, &a->watch, &we))
            RS_LOGW("agent", "no push notifications error=\"%s\"", we.msg);
    }
    rc = rs_journal_open(a->state_dir, NULL, &a->journal, err);
    if (rc)
        goto fail;
    if (cfg->target) {
        rc = rs_target_open(cfg->target, &a->cfg.store_opts, &a->target, err);
        if (rc)
            goto fail;
        /* one agent per target: a second one would overwrite (and misjudge) the first's writes */
        char owner[256];
        snprintf(owner, sizeof owner, "region %s, state_dir %s", a->region, a->state_dir);
        rs_error le = {0};
        rc = rs_target_lock(a->target, owner, &le);
        if (rc == RS_ECONFLICT) {
            if (err)
                *err = le;
            goto fail;
        }
        if (rc)
            RS_LOGW("agent", "target not locked yet (retried before each write) error=\"%s\"", le.msg);
        rc = RS_OK;
    }
    if (cfg->publish) {
        rs_publisher_opts po = {.publisher_id = a->publisher_id,
                                .snapshot_every = a->cfg.snapshot_every,
                                .retention = a->cfg.retention,
                                .compare_full = a->cfg.compare_full,
                                .compact = true,
                                .max_delete_fraction = a->cfg.max_delete_fraction,
                                .allow_destructive = a->cfg.allow_destructive};
        const char *rn[64], *ru[64];
        size_t nr = 0;
        for (size_t j = 0; j < cfg->n_replicas && nr < 64; j++) {
            const char *eq = strchr(cfg->replicas[j], '=');
            if (!eq)
                continue;
            rn[nr] = strndup(cfg->replicas[j], (size_t)(eq - cfg->replicas[j]));
            ru[nr++] = eq + 1;
        }
        po.replica_names = rn;
        po.replica_urls = ru;
        po.n_replicas = nr;
        rc = rs_publisher_open(a->primary, a->source, &a->cfg.store_opts, &po, &a->pub, err);
        for (size_t j = 0; j < nr; j++)
            free((char *)rn[j]);
        if (rc)
            goto fail;
    }
    /* persisted control state */
    char *v = NULL;
    if (rs_journal_state_get(a->journal, RS_JSTATE_PAUSED, &v, NULL) == RS_OK && v && strcmp(v, "1") == 0)
        a->paused = true;
    free(v);
    int64_t pin = 0;
    if (rs_journal_state_get_i64(a->journal, RS_JSTATE_PINNED_VERSION, &pin, NULL) == RS_OK && pin > 0)
        a->pinned = (uint64_t)pin;
    a->st.paused = a->paused;
    a->st.pinned_version = a->pinned;
    a->saved_paused = a->paused;
    a->saved_pinned = a->pinned;
    int64_t ep = 0;
    if (rs_journal_state_get_i64(a->journal, RS_JSTATE_MAX_EPOCH, &ep, NULL) == RS_OK && ep > 0)
        a->max_epoch = (uint64_t)ep;
    a->st.epoch = a->max_epoch;
    rc = rs_follow_load_local(a, err);
    if (rc)
        goto fail;
    /* the versions applied lately, for the fleet's timeline (newest last) */
    rs_journal_entry *jv;
    size_t jn;
    if (rs_journal_list(a->journal, 0, 10, &jv, &jn, NULL) == RS_OK) {
        for (size_t i = jn; i-- > 0;)
            a->recent[a->n_recent++] = (rs_applied_at_t){jv[i].version, jv[i].applied_at_ms};
        rs_journal_entries_free(jv, jn);
    }
    snapshot_store_stats(a);
    *out = a;
    return RS_OK;
fail:
    rs_agent_close(a);
    return rc;
}

void rs_agent_close(rs_agent *a)
{
    if (!a)
        return;
    rs_publisher_close(a->pub);
    rs_target_close(a->target);
    rs_journal_close(a->journal);
    for (int i = 0; i < RS_MAX_FETCH; i++)
        rs_storage_close(a->fetch[i]);
    rs_storage_close(a->watch);
    for (size_t i = 0; a->stores && i < a->n_stores + a->n_primary_extra; i++) {
        rs_storage_close(a->stores[i].h);
        free(a->stores[i].name);
        free(a->stores[i].url);
    }
    free(a->stores);
    if (a->written && a->written != a->state)
        rs_registry_free(a->written);
    rs_registry_free(a->state);
    rs_registry_free(a->regional_objs);
    rs_head_clear(&a->head);
    free(a->pending_info);
    free(a->report_content);
    free(a->report_bytes);
    rs_key_list_clear(&a->modified);
    rs_key_list_clear(&a->regional);
    free_list(a->inc, a->cfg.n_include);
    free_list(a->exc, a->cfg.n_exclude);
    free(a->region);
    free(a->store_url);
    free(a->source);
    free(a->target_url);
    free(a->state_dir);
    free(a->publisher_id);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}

const rs_agent_config *rs_agent_config_get(const rs_agent *a) { return &a->cfg; }

/* ------------------------------------------------------------ reports */

static void set_ts(Google__Protobuf__Timestamp *ts, int64_t ms)
{
    google__protobuf__timestamp__init(ts);
    ts->seconds = ms / 1000;
    ts->nanos = (int32_t)(ms % 1000) * 1000000;
}

/* The region-layout report (regsync/regions/<region>, written by regsync before instances) goes
 * once this instance reports in the instance layout, when it was this host's own (an agent
 * upgraded in place). Reports of other hosts stay: the fleet view reads them while they live
 * and removes them once they are stale beside live instances of the region (docs/fleet.md). */
static void drop_own_legacy_report(rs_agent *a)
{
    a->legacy_checked = true;
    char key[256];
    rs_log_region_key(a->region, key, sizeof key);
    uint8_t *d;
    size_t l;
    char etag[RS_ETAG_MAX];
    if (rs_storage_get(a->store, key, NULL, &d, &l, etag, NULL) != RS_OK)
        return;
    Regsync__V1__RegionStatus *m = regsync__v1__region_status__unpack(NULL, l, d);
    free(d);
    if (!m)
        return;
    char host[128] = "";
    gethostname(host, sizeof host - 1);
    size_t hl = strlen(host);
    bool ours = m->agent && hl && strncmp(m->agent, host, hl) == 0 && m->agent[hl] == '/';
    regsync__v1__region_status__free_unpacked(m, NULL);
    if (!ours)
        return;
    rs_error e = {0};
    if (rs_storage_delete_if(a->store, key, etag, 0, &e) == RS_OK)
        RS_LOGI("agent", "removed this host's report in the region layout key=%s (now %s/%s)", key, a->region, a->instance);
}

int rs_agent_report(rs_agent *a, rs_error *err)
{
    rs_agent_status s;
    rs_agent_status_get(a, &s);
    Regsync__V1__RegionStatus m = REGSYNC__V1__REGION_STATUS__INIT;
    Regsync__V1__ProjectFilter f = REGSYNC__V1__PROJECT_FILTER__INIT;
    Google__Protobuf__Timestamp ap, le, pub, wr, st, lp;
    char agent_id[256];
    m.region = a->region;
    m.instance = a->instance;
    m.format = 2;
    m.follows = a->target != NULL;
    m.publishes = a->pub != NULL;
    m.applied_version = s.applied_version;
    m.applied_digest = (ProtobufCBinaryData){RS_DIGEST_LEN, s.filtered_digest};
    m.target_digest = (ProtobufCBinaryData){s.target_known ? RS_DIGEST_LEN : 0, s.target_digest};
    m.written_digest = (ProtobufCBinaryData){RS_DIGEST_LEN, s.written_digest};
    m.head_version = s.head_version;
    /* no heartbeat nor last_success in the body: a heartbeat rewrites the same bytes, and
     * readers take liveness from the store's modification time (docs/fleet.md) */
    if (s.last_apply_ms) {
        set_ts(&ap, s.last_apply_ms);
        m.applied_at = &ap;
    }
    if (s.applied_published_ms) {
        set_ts(&pub, s.applied_published_ms);
        m.published_at = &pub;
    }
    m.last_error = s.last_error;
    if (s.last_error_ms) {
        set_ts(&le, s.last_error_ms);
        m.last_error_at = &le;
    }
    m.error_current = s.error_current;
    m.epoch = s.epoch;
    m.read_store = s.read_store;
    m.epoch_change = s.epoch_change;
    Google__Protobuf__Timestamp ec;
    if (s.epoch_change_ms) {
        set_ts(&ec, s.epoch_change_ms);
        m.epoch_change_at = &ec;
    }
    m.paused = s.paused;
    m.pinned_version = s.pinned_version;
    m.control = s.control;
    f.n_include_projects = a->cfg.n_include;
    f.include_projects = a->inc;
    f.n_exclude_projects = a->cfg.n_exclude;
    f.exclude_projects = a->exc;
    m.filter = &f;
    m.state = s.state;
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(agent_id, sizeof agent_id, "%s/%d regsync " RS_VERSION_STRING, host, (int)getpid());
    m.agent = agent_id;
    m.target_modified = s.target_modified;
    m.attempted_version = s.attempted_version;
    m.log_store = (char *)rs_storage_url(a->store);
    set_ts(&st, a->started_ms);
    m.started_at = &st;
    m.heartbeat_interval_ms = (uint64_t)a->cfg.heartbeat_interval_ms;
    m.last_published_version = s.last_published_version;
    if (s.last_publish_ms) {
        set_ts(&lp, s.last_publish_ms);
        m.last_publish_at = &lp;
    }
    Regsync__V1__AppliedAt rec[10], *recp[10];
    Google__Protobuf__Timestamp rect[10];
    for (size_t i = 0; i < a->n_recent; i++) {
        regsync__v1__applied_at__init(&rec[i]);
        rec[i].version = a->recent[i].version;
        set_ts(&rect[i], a->recent[i].at_ms);
        rec[i].at = &rect[i];
        recp[i] = &rec[i];
    }
    m.n_recent_applies = a->n_recent;
    m.recent_applies = a->n_recent ? recp : NULL;
    /* object keys: local changes and kept regional meta (first 100 each) */
    size_t nm = a->modified.n < 100 ? a->modified.n : 100, nr = a->regional.n < 100 ? a->regional.n : 100;
    Regsync__V1__ObjectKey *keys = calloc(nm + nr + 1, sizeof *keys);
    Regsync__V1__ObjectKey **mk = calloc(nm + 1, sizeof *mk), **rk = calloc(nr + 1, sizeof *rk);
    uint8_t *content = NULL, *full = NULL;
    int rc = RS_OK;
    if (!keys || !mk || !rk) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nm; i++) {
        regsync__v1__object_key__init(&keys[i]);
        keys[i].kind = a->modified.kind[i];
        keys[i].project = a->modified.project[i];
        keys[i].name = a->modified.name[i];
        mk[i] = &keys[i];
    }
    for (size_t i = 0; i < nr; i++) {
        regsync__v1__object_key__init(&keys[nm + i]);
        keys[nm + i].kind = a->regional.kind[i];
        keys[nm + i].project = a->regional.project[i];
        keys[nm + i].name = a->regional.name[i];
        rk[i] = &keys[nm + i];
    }
    m.n_modified_objects = nm;
    m.modified_objects = mk;
    m.n_regional_meta_objects = nr;
    m.regional_meta_objects = rk;
    /* the content without written_at: unchanged content is written as the same bytes again */
    size_t cn = regsync__v1__region_status__get_packed_size(&m);
    content = malloc(cn ? cn : 1);
    if (!content) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto done;
    }
    regsync__v1__region_status__pack(&m, content);
    const uint8_t *body = a->report_bytes;
    size_t blen = a->report_bytes_len;
    bool same = a->report_bytes && a->report_content_len == cn && memcmp(a->report_content, content, cn) == 0;
    if (!same) {
        set_ts(&wr, rs_wall_ms());
        m.written_at = &wr;
        size_t fn = regsync__v1__region_status__get_packed_size(&m);
        full = malloc(fn ? fn : 1);
        if (!full) {
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
            goto done;
        }
        regsync__v1__region_status__pack(&m, full);
        body = full;
        blen = fn;
    }
    char key[256];
    rs_log_instance_key(a->region, a->instance, key, sizeof key);
    rc = rs_storage_put(a->store, key, body, blen, RS_PUT_ALWAYS, NULL, NULL, err);
    if (rc && !a->legacy_checked && strcmp(rs_storage_scheme(a->store), "file") == 0) {
        /* a file:// store cannot hold regions/<region> as a file (the region layout) and as the
         * directory of this region's instances: the old report makes way (docs/fleet.md) */
        char lkey[256], etag[RS_ETAG_MAX];
        rs_log_region_key(a->region, lkey, sizeof lkey);
        uint8_t *d;
        size_t l;
        if (rs_storage_get(a->store, lkey, NULL, &d, &l, etag, NULL) == RS_OK) {
            free(d);
            if (rs_storage_delete_if(a->store, lkey, etag, 0, NULL) == RS_OK) {
                RS_LOGW("agent", "removed the region-layout report key=%s: a file store cannot keep it beside %s", lkey, key);
                rc = rs_storage_put(a->store, key, body, blen, RS_PUT_ALWAYS, NULL, NULL, err);
            }
        }
    }
    if (!rc && !same) {
        free(a->report_content);
        free(a->report_bytes);
        a->report_content = content;
        a->report_content_len = cn;
        a->report_bytes = full;
        a->report_bytes_len = blen;
        content = full = NULL;
    }
done:
    free(content);
    free(full);
    free(keys);
    free(mk);
    free(rk);
    if (!rc) {
        pthread_mutex_lock(&a->mu);
        a->st.heartbeats++;
        pthread_mutex_unlock(&a->mu);
        a->last_heartbeat_mono = rs_mono_ms();
        if (!a->legacy_checked)
            drop_own_legacy_report(a);
    }
    return rc;
}

/* ------------------------------------------------------------ steps */

/* Control calls come from other threads; the journal is this thread's: persist pause and pin
 * here so that they survive a restart. */
static void persist_control(rs_agent *a, bool paused, uint64_t pinned)
{
    if (paused != a->saved_paused) {
        if (rs_journal_state_set(a->journal, RS_JSTATE_PAUSED, paused ? "1" : "0", NULL) == RS_OK) {
            a->saved_paused = paused;
            rs_journal_event(a->journal, RS_LOG_INFO, paused ? "pause" : "resume", a->state_version, "%s",
                             paused ? "paused" : "resumed");
        }
    }
    if (pinned != a->saved_pinned) {
        if (rs_journal_state_set_i64(a->journal, RS_JSTATE_PINNED_VERSION, (int64_t)pinned, NULL) == RS_OK) {
            a->saved_pinned = pinned;
            if (pinned)
                rs_journal_event(a->journal, RS_LOG_INFO, "pin", pinned, "pinned at version %" PRIu64, pinned);
            else
                rs_journal_event(a->journal, RS_LOG_INFO, "unpin", 0, "unpinned");
        }
    }
}

/* The region-wide control record, with a conditional GET at every step of a follower. A store
 * error keeps what was last read (a hiccup must not lift a region-wide pause). */
static int poll_region_control(rs_agent *a, rs_error *err)
{
    rs_region_control c;
    char etag[RS_ETAG_MAX] = "";
    rs_error e = {0};
    int rc = rs_control_read(a->store, a->region, a->rctl_etag[0] ? a->rctl_etag : NULL, &c, etag, &e);
    if (rc == RS_ENOTMODIFIED)
        return RS_OK;
    if (rc == RS_ENOTFOUND) {
        if (a->have_rctl && rs_control_active(&a->rctl)) {
            rs_journal_event(a->journal, RS_LOG_INFO, "control", 0, "the region-wide control record is gone: none in force");
            RS_LOGI("agent", "region-wide control removed region=%s", a->region);
        }
        a->have_rctl = false;
        a->rctl_etag[0] = '\0';
        memset(&a->rctl, 0, sizeof a->rctl);
        return RS_OK;
    }
    if (rc == RS_ECORRUPT) {
        if (etag[0] && strcmp(etag, a->rctl_etag) != 0) {
            snprintf(a->rctl_etag, sizeof a->rctl_etag, "%s", etag); /* said once, not at every poll */
            RS_LOGW("agent", "region-wide control record ignored (keeping the last one) error=\"%s\"", e.msg);
            rs_journal_event(a->journal, RS_LOG_WARN, "control", 0, "unreadable region-wide control record: %s", e.msg);
        }
        return RS_OK;
    }
    if (rc) {
        /* the store does not answer: this step cannot follow either; say so now, not after a
         * second timeout on HEAD */
        if (err)
            *err = e;
        return rc;
    }
    bool changed = !a->have_rctl || c.serial != a->rctl.serial || c.paused != a->rctl.paused ||
                   c.pinned_version != a->rctl.pinned_version;
    a->rctl = c;
    a->have_rctl = true;
    snprintf(a->rctl_etag, sizeof a->rctl_etag, "%s", etag);
    if (changed) {
        char d[256];
        rs_control_describe(&c, d, sizeof d);
        RS_LOGI("agent", "region-wide control action=%s by=\"%s\" now=\"%s\"", c.action, c.by, d);
        rs_journal_event(a->journal, RS_LOG_INFO, "control", c.pinned_version, "obeying the region-wide control: %s (%s, serial %" PRIu64 ")",
                         d, c.action, c.serial);
    }
    return RS_OK;
}

int rs_agent_step(rs_agent *a, bool *changed, rs_error *err)
{
    bool ch = false;
    rs_stores_probe_preferred(a);
    int64_t step_started = rs_mono_ms();
    if (a->target && a->n_stores > 1 && a->store_fail_since_mono &&
        step_started - a->store_fail_since_mono >= a->cfg.failover_after_ms) {
        /* due already: do not spend one more failing poll on this store */
        char why[96];
        snprintf(why, sizeof why, "its polls failed for %lld ms", (long long)(step_started - a->store_fail_since_mono));
        rs_stores_switch(a, (a->cur + 1) % a->n_stores, true, why);
    }
    a->store_failed = a->store_fenced = false;
    rs_error ce = {0};
    int crc = a->target ? poll_region_control(a, &ce) : RS_OK;
    if (crc) {
        rs_agent_record_error(a, EK_STORE, 0, &ce);
        a->store_failed = true;
    }
    pthread_mutex_lock(&a->mu);
    bool own_paused = a->paused, publish_req = a->publish_req, allow = a->publish_allow_destructive;
    uint64_t own_pinned = a->pinned;
    a->publish_req = false;
    a->publish_allow_destructive = false;
    /* what is in force: paused when this instance or its region says so; the region's pin wins */
    bool rp = a->have_rctl && a->rctl.paused;
    uint64_t rpin = a->have_rctl ? a->rctl.pinned_version : 0;
    bool paused = own_paused || rp;
    uint64_t pinned = rpin ? rpin : own_pinned;
    a->st.region_paused = rp;
    a->st.region_pinned = rpin;
    if (a->have_rctl && rs_control_active(&a->rctl))
        rs_control_describe(&a->rctl, a->st.control, sizeof a->st.control);
    else
        a->st.control[0] = '\0';
    pthread_mutex_unlock(&a->mu);
    persist_control(a, own_paused, own_pinned);
    int rc = RS_OK;
    if (a->pub) {
        rs_publish_result res;
        rs_error pe = {0};
        if (publish_req && allow)
            rs_publisher_allow_destructive_once(a->pub);
        int prc = rs_publisher_publish(a->pub, publish_req, &res, &pe);
        size_t nrs;
        const rs_publisher_replica_stats *rs = rs_publisher_replicas(a->pub, &nrs);
        pthread_mutex_lock(&a->mu);
        a->st.n_replica_stats = nrs < 8 ? nrs : 8;
        for (size_t i = 0; i < a->st.n_replica_stats; i++) {
            snprintf(a->st.replicas[i].name, sizeof a->st.replicas[i].name, "%s", rs[i].name);
            a->st.replicas[i].version = rs[i].version;
            a->st.replicas[i].copies = rs[i].copies;
            a->st.replicas[i].failures = rs[i].failures;
            a->st.replicas[i].behind = rs[i].behind;
        }
        pthread_mutex_unlock(&a->mu);
        if (prc) {
            rs_agent_record_error(a, res.source_failed ? EK_SOURCE : EK_STORE, 0, &pe);
            rc = prc;
            if (err)
                *err = pe;
        } else if (res.changed) {
            pthread_mutex_lock(&a->mu);
            a->st.publishes++;
            a->st.last_published_version = res.version;
            a->st.last_publish_ms = rs_wall_ms();
            pthread_mutex_unlock(&a->mu);
            rs_journal_event(a->journal, RS_LOG_INFO, "publish", res.version, "published version %" PRIu64 " (%zu operations)",
                             res.version, res.ops);
        }
        if (!a->target) {
            pthread_mutex_lock(&a->mu);
            if (!prc) {
                a->st.last_success_ms = rs_wall_ms();
                snprintf(a->st.state, sizeof a->st.state, "publishing");
            }
            if (res.version > a->st.head_version)
                a->st.head_version = res.version;
            pthread_mutex_unlock(&a->mu);
        }
    }
    if (a->target && crc) {
        /* the store did not answer the control read: no follow step against it now */
        if (!rc) {
            rc = crc;
            if (err)
                *err = ce;
        }
    } else if (a->target) {
        if (paused) {
            rs_agent_set_state(a, "paused");
            /* still look at the head so that lag is reported while paused */
            rs_head h;
            char etag[RS_ETAG_MAX];
            rs_error he = {0};
            int hrc = rs_log_read_head(a->store, a->head_etag[0] ? a->head_etag : NULL, &h, etag, &he);
            if (hrc == RS_OK) {
                rs_head_clear(&a->head);
                a->head = h;
                snprintf(a->head_etag, sizeof a->head_etag, "%s", etag);
                pthread_mutex_lock(&a->mu);
                a->st.head_version = h.version;
                a->st.head_updated_ms = h.updated_ms;
                pthread_mutex_unlock(&a->mu);
            }
            if (hrc == RS_OK || hrc == RS_ENOTMODIFIED) {
                /* a successful poll: paused on purpose is not cut off (/readyz stays ready) */
                pthread_mutex_lock(&a->mu);
                a->st.last_success_ms = rs_wall_ms();
                pthread_mutex_unlock(&a->mu);
            }
            rs_follow_check_target(a, false, NULL);
        } else {
            rs_error fe = {0};
            int frc = rs_follow(a, pinned, &ch, &fe);
            if (frc && !rc) {
                rc = frc;
                if (err)
                    *err = fe;
            }
        }
    }
    if (a->target)
        rs_stores_check_failover(a, step_started);
    /* a step that succeeds ends the current error (last_error stays, with its time); a change
     * between failing and working is reported at once, not at the next heartbeat */
    bool failed_now = rc != RS_OK;
    bool flipped = failed_now != a->last_step_failed;
    a->last_step_failed = failed_now;
    if (!failed_now) {
        pthread_mutex_lock(&a->mu);
        a->st.error_current = false;
        pthread_mutex_unlock(&a->mu);
    }
    int64_t now = rs_mono_ms();
    /* a report goes to the store read from: not to one that just failed (with several stores the
     * next step may read another) */
    bool report_due = ch || flipped || now - a->last_heartbeat_mono >= a->cfg.heartbeat_interval_ms || a->last_heartbeat_mono == 0;
    if (report_due && a->n_stores > 1 && (a->store_failed || a->store_fenced))
        report_due = false;
    if (report_due) {
        if (a->target && now - a->last_target_check_mono >= a->cfg.heartbeat_interval_ms)
            rs_follow_check_target(a, false, NULL);
        rs_error re = {0};
        if (rs_agent_report(a, &re))
            rs_agent_record_error(a, EK_STORE, 0, &re);
    }
    if (changed)
        *changed = ch;
    snapshot_store_stats(a);
    void (*fn)(void *);
    void *ctx;
    pthread_mutex_lock(&a->mu);
    fn = a->on_change;
    ctx = a->on_change_ctx;
    pthread_mutex_unlock(&a->mu);
    if (fn)
        fn(ctx);
    return rc;
}

int rs_agent_sync_once(rs_agent *a, rs_error *err)
{
    /* a step may apply part of the way (entries fetched in batches): repeat while it moves */
    for (int i = 0; i < 1000; i++) {
        bool changed;
        int rc = rs_agent_step(a, &changed, err);
        if (rc)
            return rc;
        rs_agent_status s;
        rs_agent_status_get(a, &s);
        uint64_t want = s.pinned_version && s.pinned_version < s.head_version ? s.pinned_version : s.head_version;
        if (!a->target || (s.applied_version >= want && s.has_state) || s.paused)
            return RS_OK;
        if (!changed && s.head_version == 0)
            return RS_OK;
        if (!changed)
            return rs_error_set(err, RS_EIO, "sync stopped at version %" PRIu64 " of %" PRIu64, s.applied_version, want);
    }
    return RS_OK;
}

int rs_agent_publish_once(rs_agent *a, uint64_t *version, bool *changed, rs_error *err)
{
    if (!a->pub)
        return rs_error_set(err, RS_EINVALID, "this agent does not publish (publish: false)");
    rs_publish_result res;
    int rc = rs_publisher_publish(a->pub, false, &res, err);
    if (rc)
        return rc;
    if (version)
        *version = res.version;
    if (changed)
        *changed = res.changed;
    if (res.changed)
        rs_journal_event(a->journal, RS_LOG_INFO, "publish", res.version, "published version %" PRIu64 " (%zu operations)",
                         res.version, res.ops);
    return RS_OK;
}

/* ------------------------------------------------------------ loop */

void rs_agent_run(rs_agent *a)
{
    uint64_t seed = (uint64_t)rs_mono_ns() ^ (uint64_t)getpid();
    while (1) {
        pthread_mutex_lock(&a->mu);
        bool stop = a->stop;
        pthread_mutex_unlock(&a->mu);
        if (stop)
            break;
        rs_error e = {0};
        rs_agent_step(a, NULL, &e);
        /* wait: the poll interval with +-10% jitter, cut short by wake-ups and push */
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t iv = a->cfg.poll_interval_ms;
        int64_t jitter = iv / 10 ? (int64_t)((seed >> 33) % (uint64_t)(iv / 5 + 1)) - iv / 10 : 0;
        int64_t deadline = rs_mono_ms() + iv + jitter;
        if (a->watch) {
            /* push: wait on the store's notifications for up to the interval */
            char **keys = NULL;
            size_t nk = 0;
            rs_error we = {0};
            int64_t left = deadline - rs_mono_ms();
            while (left > 0) {
                int slice = left > 500 ? 500 : (int)left;
                int wrc = rs_storage_watch(a->watch, "regsync/", slice, &keys, &nk, &we);
                bool hit = false;
                for (size_t i = 0; i < nk; i++)
                    if (strcmp(keys[i], RS_KEY_HEAD) == 0 || strncmp(keys[i], RS_PREFIX_LOG, strlen(RS_PREFIX_LOG)) == 0 ||
                        (a->source && strcmp(keys[i], a->source) == 0))
                        hit = true;
                rs_storage_keys_free(keys, nk);
                keys = NULL;
                nk = 0;
                pthread_mutex_lock(&a->mu);
                bool wake = a->wake || a->stop;
                a->wake = false;
                pthread_mutex_unlock(&a->mu);
                if (hit || wake || wrc)
                    break;
                left = deadline - rs_mono_ms();
            }
            continue;
        }
        pthread_mutex_lock(&a->mu);
        while (!a->stop && !a->wake) {
            int64_t left = deadline - rs_mono_ms();
            if (left <= 0)
                break;
            rs_cond_wait_ms(&a->cv, &a->mu, left);
        }
        a->wake = false;
        pthread_mutex_unlock(&a->mu);
    }
    /* controls changed since the last step (a pause or unpin just before SIGTERM) are kept, then a
     * last report so others see we stopped on purpose */
    pthread_mutex_lock(&a->mu);
    bool paused = a->paused;
    uint64_t pinned = a->pinned;
    pthread_mutex_unlock(&a->mu);
    persist_control(a, paused, pinned);
    rs_agent_set_state(a, "stopped");
    rs_agent_report(a, NULL);
}

void rs_agent_stop(rs_agent *a)
{
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

void rs_agent_wake(rs_agent *a)
{
    pthread_mutex_lock(&a->mu);
    a->wake = true;
    a->sync_req = true; /* an explicit request: retry a failed write or entry now */
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

void rs_agent_on_change(rs_agent *a, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&a->mu);
    a->on_change = fn;
    a->on_change_ctx = ctx;
    pthread_mutex_unlock(&a->mu);
}

void rs_agent_status_get(rs_agent *a, rs_agent_status *out)
{
    pthread_mutex_lock(&a->mu);
    *out = a->st;
    out->instance_paused = a->paused;
    out->instance_pinned = a->pinned;
    out->paused = a->paused || a->st.region_paused;
    out->pinned_version = a->st.region_pinned ? a->st.region_pinned : a->pinned;
    pthread_mutex_unlock(&a->mu);
    int64_t now = rs_wall_ms();
    out->ready = out->has_state && out->last_success_ms && now - out->last_success_ms <= a->cfg.max_staleness_ms;
    if (!a->target)
        out->ready = out->last_success_ms && now - out->last_success_ms <= a->cfg.max_staleness_ms;
}

/* ------------------------------------------------------------ control */


void rs_agent_pause(rs_agent *a)
{
    pthread_mutex_lock(&a->mu);
    a->paused = true;
    a->st.paused = true;
    a->wake = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

void rs_agent_resume(rs_agent *a)
{
    pthread_mutex_lock(&a->mu);
    a->paused = false;
    a->st.paused = false;
    a->wake = true;
    a->sync_req = true; /* a new intent: retry at once, whatever the backoff */
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

int rs_agent_pin(rs_agent *a, uint64_t version, rs_error *err)
{
    if (!version)
        return rs_error_set(err, RS_EINVALID, "pin: version must be a positive integer");
    pthread_mutex_lock(&a->mu);
    a->pinned = version;
    a->st.pinned_version = version;
    a->wake = true;
    a->sync_req = true; /* a new intent: retry at once, whatever the backoff */
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    return RS_OK;
}

void rs_agent_unpin(rs_agent *a)
{
    pthread_mutex_lock(&a->mu);
    a->pinned = 0;
    a->st.pinned_version = 0;
    a->wake = true;
    a->sync_req = true; /* a new intent: retry at once, whatever the backoff */
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

int rs_agent_rollback(rs_agent *a, uint64_t version, rs_error *err)
{
    rs_agent_status s;
    rs_agent_status_get(a, &s);
    if (!version)
        return rs_error_set(err, RS_EINVALID, "rollback: version must be a positive integer");
    if (s.has_state && version > s.applied_version)
        return rs_error_set(err, RS_EINVALID, "rollback: version %" PRIu64 " is not earlier than the applied version %" PRIu64,
                            version, s.applied_version);
    return rs_agent_pin(a, version, err);
}

int rs_agent_request_publish(rs_agent *a, rs_error *err) { return rs_agent_request_publish_ex(a, false, err); }

int rs_agent_request_publish_ex(rs_agent *a, bool allow_destructive, rs_error *err)
{
    if (!a->cfg.publish)
        return rs_error_set(err, RS_EUNSUPPORTED, "this agent does not publish (publish: false)");
    pthread_mutex_lock(&a->mu);
    a->publish_req = true;
    a->publish_allow_destructive = a->publish_allow_destructive || allow_destructive;
    a->wake = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    return RS_OK;
}
