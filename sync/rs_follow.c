/* rs_follow.c: the follower: HEAD poll, fetch, verified apply, bootstrap, rollback, composing
 * the regional copy (filters, regional meta, local changes) and writing it atomically with the
 * journal. Runs on the agent's thread only. See docs/sync.md. */
#include "rs_agent_impl.h"
#include "rs_follow_impl.h"
#include "rs_buf.h"
#include "rs_diff.h"
#include "rs_log.h"
#include "rs_time.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ local files */

static void state_path(const rs_agent *a, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", a->state_dir, name);
}

/* Atomic write of a file in the state dir. */
static int write_state_file(rs_agent *a, const char *name, const rs_registry *r, rs_error *err)
{
    char path[4096], tmp[4200];
    state_path(a, name, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    uint8_t *d;
    size_t l;
    int rc = rs_registry_encode(r, &d, &l, err);
    if (rc)
        return rc;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(d);
        return rs_error_set(err, RS_EIO, "%s: %s", tmp, strerror(errno));
    }
    size_t off = 0;
    while (off < l) {
        ssize_t w = write(fd, d + off, l - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = rs_error_set(err, RS_EIO, "%s: write: %s", tmp, strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    free(d);
    if (!rc && fsync(fd) != 0)
        rc = rs_error_set(err, RS_EIO, "%s: fsync: %s", tmp, strerror(errno));
    close(fd);
    if (!rc && rename(tmp, path) != 0)
        rc = rs_error_set(err, RS_EIO, "%s: rename: %s", path, strerror(errno));
    if (rc)
        unlink(tmp);
    else {
        int dfd = open(a->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return rc;
}

static void remove_state_file(rs_agent *a, const char *name)
{
    char path[4096];
    state_path(a, name, path, sizeof path);
    unlink(path);
}

static int load_state_file(rs_agent *a, const char *name, rs_registry **out, rs_error *err)
{
    char path[4096];
    state_path(a, name, path, sizeof path);
    return rs_registry_load_file(path, NULL, out, err);
}

/* ------------------------------------------------------------ helpers */

static bool filtered(const rs_agent *a) { return a->cfg.n_include || a->cfg.n_exclude; }

static bool keep_project(const char *project, void *ctx) { return rs_agent_project_allowed(&((rs_agent *)ctx)->cfg, project); }

static int filter_state(rs_agent *a, const rs_registry *r, rs_registry **out, rs_error *err)
{
    return rs_registry_filter(r, keep_project, a, out, err);
}

/* The status follows the durable position (applied_*), never the in-memory state: a version
 * is "applied" only once the target and the journal hold it. */
static void publish_status(rs_agent *a)
{
    pthread_mutex_lock(&a->mu);
    a->st.applied_version = a->applied_version;
    a->st.has_state = a->applied_version > 0 || a->have_written;
    memcpy(a->st.digest, a->applied_digest, RS_DIGEST_LEN);
    a->st.applied_published_ms = a->applied_published_ms;
    a->st.head_version = a->head.version > a->st.head_version ? a->head.version : a->st.head_version;
    if (a->applied_version > a->st.head_version)
        a->st.head_version = a->applied_version;
    a->st.head_updated_ms = a->head.updated_ms;
    memcpy(a->st.written_digest, a->written_digest, RS_DIGEST_LEN);
    a->st.n_modified = a->modified.n;
    a->st.n_regional_meta = a->regional.n;
    a->st.target_modified = a->modified.n > 0;
    pthread_mutex_unlock(&a->mu);
}

/* The failure backoff: the next retry of a failed write, refused entry or failed bootstrap
 * waits poll_interval, then twice that, ... up to one minute (or the poll interval when it is
 * longer), with +-10% jitter. A new HEAD or an explicit sync retries at once. */
static void schedule_retry(rs_agent *a)
{
    int64_t cap = a->cfg.poll_interval_ms > 60000 ? a->cfg.poll_interval_ms : 60000;
    int64_t d = a->retry_delay_ms ? a->retry_delay_ms * 2 : a->cfg.poll_interval_ms;
    if (d > cap)
        d = cap;
    a->retry_delay_ms = d;
    int64_t j = d / 10 ? (int64_t)((uint64_t)rs_mono_ns() % (uint64_t)(d / 5 + 1)) - d / 10 : 0;
    a->retry_at_mono = rs_mono_ms() + d + j;
}

static void clear_retry(rs_agent *a)
{
    a->retry_at_mono = 0;
    a->retry_delay_ms = 0;
}

/* ------------------------------------------------------------ fetching */

typedef struct fetch_job {
    rs_agent *a;
    rs_storage *s;
    uint64_t first, last, stride, offset;
    rs_change **out;      /* indexed by version - first */
    int rc;
    rs_error err;
    uint64_t failed_version;
} fetch_job;

static void *fetch_worker(void *arg)
{
    fetch_job *j = arg;
    for (uint64_t v = j->first + j->offset; v <= j->last; v += j->stride) {
        int rc = rs_log_read_entry(j->s, v, &j->out[v - j->first], NULL, &j->err);
        if (rc) {
            j->rc = rc;
            j->failed_version = v;
            break;
        }
    }
    return NULL;
}

/* Fetches log entries first..last with up to cfg.fetch_parallel requests in flight. On error,
 * *failed is the first version that could not be read; entries before it are returned. */
static int fetch_range(rs_agent *a, uint64_t first, uint64_t last, rs_change ***out, uint64_t *failed, rs_error *err)
{
    size_t n = (size_t)(last - first + 1);
    rs_change **v = calloc(n, sizeof *v);
    *out = v;
    *failed = 0;
    if (!v)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    unsigned par = a->cfg.fetch_parallel ? a->cfg.fetch_parallel : 4;
    if (par > RS_MAX_FETCH)
        par = RS_MAX_FETCH;
    if (par > n)
        par = (unsigned)n;
    fetch_job jobs[RS_MAX_FETCH];
    pthread_t th[RS_MAX_FETCH];
    memset(jobs, 0, sizeof jobs);
    for (unsigned k = 0; k < par; k++) {
        jobs[k] = (fetch_job){.a = a, .first = first, .last = last, .stride = par, .offset = k, .out = v};
        if (k == 0) {
            jobs[k].s = a->store;
        } else {
            if (!a->fetch[k]) {
                rs_error e2 = {0};
                if (rs_storage_open(a->store_url, &a->cfg.store_opts, &a->fetch[k], &e2)) {
                    par = k; /* fewer in flight */
                    break;
                }
            }
            jobs[k].s = a->fetch[k];
        }
    }
    for (unsigned k = 1; k < par; k++)
        if (pthread_create(&th[k], NULL, fetch_worker, &jobs[k]) != 0) {
            jobs[k].rc = RS_EIO;
            jobs[k].failed_version = first + k;
            rs_error_set(&jobs[k].err, RS_EIO, "cannot start a fetch thread");
            th[k] = 0;
        }
    if (par)
        fetch_worker(&jobs[0]);
    for (unsigned k = 1; k < par; k++)
        if (th[k])
            pthread_join(th[k], NULL);
    int rc = RS_OK;
    uint64_t first_fail = 0;
    for (unsigned k = 0; k < par; k++)
        if (jobs[k].rc && (!first_fail || jobs[k].failed_version < first_fail)) {
            first_fail = jobs[k].failed_version;
            rc = jobs[k].rc;
            if (err)
                *err = jobs[k].err;
        }
    /* the extra handles' counters reach the status through snapshot_store_stats (rs_agent.c) */
    *failed = first_fail;
    return rc;
}

/* ------------------------------------------------------------ composing */

static void rebuild_regional_keys(rs_agent *a)
{
    rs_key_list_clear(&a->regional);
    if (!a->regional_objs)
        return;
    for (size_t i = 0; i < rs_registry_count(a->regional_objs); i++) {
        const rs_object *o = rs_registry_at(a->regional_objs, i);
        rs_key_list_add(&a->regional, o->kind, o->project, o->name);
    }
}

/* Builds what to write for the current state: the filtered view with kept regional meta.
 * *out is base itself when nothing is spliced (then *owned is false). */
static int compose(rs_agent *a, rs_registry *base, bool base_owned, rs_registry **out, bool *owned, rs_error *err)
{
    *out = base;
    *owned = base_owned;
    if (!a->regional_objs || rs_registry_count(a->regional_objs) == 0)
        return RS_OK;
    rs_registry *r = base_owned ? base : rs_registry_clone(base);
    if (!r)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    rs_registry *keep = rs_registry_new();
    for (size_t i = 0; keep && i < rs_registry_count(a->regional_objs); i++) {
        const rs_object *lo = rs_registry_at(a->regional_objs, i);
        const rs_object *go = rs_registry_find(r, lo->kind, lo->project, lo->name, lo->ordinal);
        uint32_t mf = rs_kind_meta_field(lo->kind);
        if (!go || !mf)
            continue; /* deleted globally: the regional fact goes with it */
        uint8_t *sp;
        size_t spl;
        if (rs_object_splice_field(go->data, go->len, lo->data, lo->len, mf, &sp, &spl, err) == RS_OK) {
            char project[1024], name[1024];
            snprintf(project, sizeof project, "%s", lo->project);
            snprintf(name, sizeof name, "%s", lo->name);
            if (rs_registry_put(r, lo->kind, project, name, lo->ordinal, sp, spl, err) == RS_OK)
                rs_registry_put(keep, lo->kind, lo->project, lo->name, lo->ordinal, lo->data, lo->len, NULL);
            free(sp);
        }
    }
    rs_registry_free(a->regional_objs);
    a->regional_objs = keep;
    rebuild_regional_keys(a);
    *out = r;
    *owned = true;
    return RS_OK;
}

/* Compares what the target holds with what we wrote; records regional meta and local changes.
 * force: read even when the file's stamp did not change. */
int rs_follow_check_target(rs_agent *a, bool force, rs_error *err)
{
    if (!a->target)
        return RS_OK;
    a->last_target_check_mono = rs_mono_ms();
    rs_target_stamp st;
    int rc = rs_target_stat(a->target, &st, err);
    if (rc)
        return rc;
    if (!force && a->have_written && rs_target_stamp_equal(&st, &a->written_stamp))
        return RS_OK;
    if (!st.exists) {
        pthread_mutex_lock(&a->mu);
        a->st.target_known = false;
        pthread_mutex_unlock(&a->mu);
        if (a->have_written && a->state && !a->write_pending) {
            /* deleted under us: write the current version again at this step */
            RS_LOGW("follow", "target missing, rewriting it path=\"%s\" version=%" PRIu64, rs_target_describe(a->target),
                    a->state_version);
            rs_journal_event(a->journal, RS_LOG_WARN, "drift", a->state_version, "the target was deleted; rewriting version %" PRIu64,
                             a->state_version);
            a->write_pending = true;
        }
        return RS_OK;
    }
    uint8_t *data;
    size_t len;
    rs_target_stamp rst;
    rc = rs_target_read(a->target, &data, &len, &rst, err);
    if (rc == RS_ENOTFOUND)
        return RS_OK;
    if (rc)
        return rc;
    rs_registry *cur;
    rs_error de = {0};
    rc = rs_registry_decode_take(data, len, NULL, &cur, &de);
    if (rc) {
        a->target_unreadable = true;
        rs_key_list_clear(&a->modified);
        rs_key_list_add(&a->modified, 0, "", "(the whole target: it does not decode)");
        pthread_mutex_lock(&a->mu);
        a->st.target_known = false;
        pthread_mutex_unlock(&a->mu);
        rs_journal_event(a->journal, RS_LOG_WARN, "drift", a->state_version, "target does not decode: %s", de.msg);
        a->written_stamp = rst;
        publish_status(a);
        return RS_OK;
    }
    a->target_unreadable = false;
    uint8_t td[RS_DIGEST_LEN];
    rs_registry_digest(cur, td);
    pthread_mutex_lock(&a->mu);
    memcpy(a->st.target_digest, td, RS_DIGEST_LEN);
    a->st.target_known = true;
    pthread_mutex_unlock(&a->mu);
    const rs_registry *written = a->written ? a->written : a->state;
    if (!a->have_written || !written) {
        rs_registry_free(cur);
        return RS_OK;
    }
    if (memcmp(td, a->written_digest, RS_DIGEST_LEN) == 0) {
        /* same content (maybe rewritten by Feast in place): nothing local */
        size_t had = a->modified.n;
        rs_key_list_clear(&a->modified);
        a->written_stamp = rst;
        if (had)
            rs_journal_event(a->journal, RS_LOG_INFO, "drift", a->state_version, "target matches what regsync wrote again");
        rs_registry_free(cur);
        publish_status(a);
        return RS_OK;
    }
    rs_diff *d;
    rc = rs_diff_compute(written, cur, 0, &d, err);
    if (rc) {
        rs_registry_free(cur);
        return rc;
    }
    size_t had = a->modified.n;
    rs_key_list_clear(&a->modified);
    size_t new_regional = 0;
    for (size_t i = 0; i < d->n; i++) {
        const rs_obj_change *c = &d->items[i];
        /* Feast rewrites version_id and last_updated on every write (a regional `feast
         * materialize` too): not a local modification, and replaced by the next write */
        if (c->classes == RS_CLASS_REGISTRY)
            continue;
        bool meta_only = c->type == RS_CHANGE_UPDATED && c->classes == RS_CLASS_META && rs_kind_meta_field(c->kind);
        if (meta_only && a->cfg.on_local_change == RS_POLICY_KEEP_REGIONAL_META) {
            if (!a->regional_objs)
                a->regional_objs = rs_registry_new();
            if (a->regional_objs &&
                rs_registry_put(a->regional_objs, c->kind, c->project, c->name, c->ordinal, c->b->data, c->b->len, NULL) == RS_OK)
                new_regional++;
            continue;
        }
        rs_key_list_add(&a->modified, c->kind, c->project, c->name);
    }
    rs_diff_free(d);
    rs_registry_free(cur);
    rebuild_regional_keys(a);
    if (new_regional) {
        RS_LOGI("follow", "regional meta kept objects=%zu", new_regional);
        rs_journal_event(a->journal, RS_LOG_INFO, "regional_meta", a->state_version,
                         "kept regional meta of %zu object(s) written in the target by this region", new_regional);
        if (a->regional_objs)
            write_state_file(a, "regional.db", a->regional_objs, NULL);
    }
    if (a->modified.n && a->modified.n != had) {
        RS_LOGW("follow", "local changes in the target objects=%zu policy=%s", a->modified.n,
                rs_local_policy_name(a->cfg.on_local_change));
        rs_journal_event(a->journal, RS_LOG_WARN, "drift", a->state_version,
                         "the target was changed locally: %zu object(s) differ from what regsync wrote (policy %s)",
                         a->modified.n, rs_local_policy_name(a->cfg.on_local_change));
    }
    /* the stamp is remembered so the same local state is not re-read; the modified list stays
     * until the next write replaces the target (or the edit is undone) */
    a->written_stamp = rst;
    publish_status(a);
    return RS_OK;
}

/* ------------------------------------------------------------ writing */

typedef struct rs_apply_info {
    rs_journal_kind kind;
    int64_t published_ms;
    uint8_t parent[RS_DIGEST_LEN];
    bool has_parent;
    uint64_t puts, deletes;
    size_t per_kind[64];
    char source_etag[RS_ETAG_MAX];
    char publisher[128];
    int64_t started_mono;
} apply_info;

static char *counts_json(const size_t per_kind[64])
{
    rs_buf b = {0};
    rs_buf_putc(&b, '{');
    bool first = true;
    for (uint32_t k = 1; k < 64; k++) {
        if (!per_kind[k])
            continue;
        const char *n = rs_kind_field_name(k);
        char unk[32];
        if (!n) {
            snprintf(unk, sizeof unk, "field_%u", k);
            n = unk;
        }
        rs_buf_printf(&b, "%s\"%s\":%zu", first ? "" : ",", n, per_kind[k]);
        first = false;
    }
    rs_buf_putc(&b, '}');
    rs_buf_cstr(&b);
    return (char *)rs_buf_take(&b, NULL);
}

/* A write that failed is retried with what it was about, merged with whatever was applied in
 * memory meanwhile: the journal entry of the retry covers every version since the durable one. */
static void merge_pending(apply_info *p, const apply_info *info)
{
    if (info->kind != RS_JOURNAL_APPLY) {
        *p = *info; /* rebuilt from a snapshot: the previous target is not its parent */
        return;
    }
    p->puts += info->puts;
    p->deletes += info->deletes;
    for (int k = 0; k < 64; k++)
        p->per_kind[k] += info->per_kind[k];
    p->published_ms = info->published_ms;
    memcpy(p->source_etag, info->source_etag, sizeof p->source_etag);
    memcpy(p->publisher, info->publisher, sizeof p->publisher);
}

static void keep_pending(rs_agent *a, const apply_info *info)
{
    if (a->pending_info == info)
        return;
    if (a->pending_info) {
        merge_pending(a->pending_info, info);
        return;
    }
    a->pending_info = malloc(sizeof *a->pending_info);
    if (a->pending_info)
        *a->pending_info = *info;
}

/* Writes the regional copy for the current state, then records it in the journal. Only when
 * both are durable does the durable position (applied_*) move; on any failure the previous
 * position stays, the write is remembered as pending and retried (schedule_retry). */
static int write_version(rs_agent *a, const apply_info *info_in, bool *written_now, rs_error *err)
{
    *written_now = false;
    if (a->pending_info && info_in != a->pending_info)
        merge_pending(a->pending_info, info_in);
    const apply_info *info = a->pending_info ? a->pending_info : info_in;
    rs_registry *base = a->state;
    bool base_owned = false;
    rs_registry *out = NULL;
    bool out_owned = false;
    rs_journal_entry e = {0};
    int rc;
    int fk = EK_OTHER; /* what failed, for the error counters */
    if (filtered(a)) {
        rc = filter_state(a, a->state, &base, err);
        if (rc)
            goto fail;
        base_owned = true;
    }
    uint8_t fd[RS_DIGEST_LEN];
    rs_registry_digest(base, fd);
    if (a->modified.n && a->cfg.on_local_change == RS_POLICY_STOP) {
        if (base_owned)
            rs_registry_free(base);
        rs_agent_set_state(a, "stopped");
        a->fail_kind = EK_LOCAL;
        a->write_pending = true;
        keep_pending(a, info);
        return rs_error_set(err, RS_ECONFLICT,
                            "version %" PRIu64 " not written: the target has %zu local change(s) and on_local_change is stop",
                            a->state_version, a->modified.n);
    }
    rc = compose(a, base, base_owned, &out, &out_owned, err);
    if (rc)
        goto fail; /* out is base then, owned as base was */
    uint8_t od[RS_DIGEST_LEN];
    rs_registry_digest(out, od);
    /* persist the global state when the target cannot stand for it */
    bool state_is_target = out == a->state;
    fk = EK_JOURNAL;
    if (!state_is_target) {
        rc = write_state_file(a, "state.db", a->state, err);
        if (rc)
            goto fail;
    } else {
        remove_state_file(a, "state.db");
    }
    e.version = a->state_version;
    e.kind = info->kind;
    e.published_at_ms = info->published_ms;
    e.has_parent_digest = info->has_parent;
    memcpy(e.parent_digest, info->parent, RS_DIGEST_LEN);
    e.has_result_digest = true;
    rs_registry_digest(a->state, e.result_digest);
    e.has_filtered_digest = true;
    memcpy(e.filtered_digest, fd, RS_DIGEST_LEN);
    e.has_target_digest = true;
    memcpy(e.target_digest, od, RS_DIGEST_LEN);
    e.ops_put = info->puts;
    e.ops_delete = info->deletes;
    e.counts_by_kind = counts_json(info->per_kind);
    e.source_etag = info->source_etag[0] ? (char *)info->source_etag : NULL;
    e.publisher = info->publisher[0] ? (char *)info->publisher : NULL;
    rc = rs_journal_pending_set(a->journal, &e, err);
    if (rc)
        goto fail;
    rs_target_stamp stamp;
    /* written from the objects' bytes (writev), not from an encoded copy of the registry */
    rc = rs_target_write_registry(a->target, out, &stamp, err);
    if (rc) {
        rs_journal_pending_clear(a->journal, NULL);
        goto fail;
    }
    e.duration_ms = rs_mono_ms() - info->started_mono;
    /* from now on the target holds `out` */
    if (a->written && a->written != out)
        rs_registry_free(a->written);
    a->written = state_is_target ? NULL : out;
    out_owned = false;
    a->written_stamp = stamp;
    memcpy(a->written_digest, od, RS_DIGEST_LEN);
    a->have_written = true;
    size_t overwritten = a->modified.n;
    rs_key_list_clear(&a->modified);
    a->target_unreadable = false;
    pthread_mutex_lock(&a->mu);
    memcpy(a->st.target_digest, od, RS_DIGEST_LEN);
    a->st.target_known = true;
    pthread_mutex_unlock(&a->mu);
    *written_now = true;
    rs_journal_target jt = {.has_digest = true, .mtime_ns = stamp.mtime_ns, .size = stamp.size, .inode = stamp.inode};
    memcpy(jt.digest, od, RS_DIGEST_LEN);
    rc = rs_journal_record_apply_ex(a->journal, &e, &jt, err);
    if (rc)
        goto fail; /* the target holds it but the journal does not: not applied; retried (and a
                      restart settles it through the pending entry) */
    /* durable: the target and the journal hold state_version */
    if (a->applied_version != a->state_version) {
        size_t cap = sizeof a->recent / sizeof a->recent[0];
        if (a->n_recent == cap) {
            memmove(a->recent, a->recent + 1, (cap - 1) * sizeof a->recent[0]);
            a->n_recent--;
        }
        a->recent[a->n_recent++] = (rs_applied_at_t){a->state_version, rs_wall_ms()};
    }
    a->applied_version = a->state_version;
    a->applied_published_ms = a->state_published_ms;
    rs_registry_digest(a->state, a->applied_digest);
    memcpy(a->applied_filtered, fd, RS_DIGEST_LEN);
    a->write_pending = false;
    pthread_mutex_lock(&a->mu);
    memcpy(a->st.filtered_digest, fd, RS_DIGEST_LEN);
    a->st.last_apply_ms = rs_wall_ms();
    snprintf(a->st.source_etag, sizeof a->st.source_etag, "%s", info->source_etag);
    pthread_mutex_unlock(&a->mu);
    free(a->pending_info); /* info may be it: not used below */
    a->pending_info = NULL;
    info = NULL;
    free(e.counts_by_kind);
    if (overwritten)
        rs_journal_event(a->journal, RS_LOG_WARN, "drift", a->state_version,
                         "overwrote %zu locally changed object(s) (policy %s)", overwritten,
                         rs_local_policy_name(a->cfg.on_local_change));
    return RS_OK;
fail:
    free(e.counts_by_kind);
    if (out_owned && out != a->state)
        rs_registry_free(out);
    a->write_pending = true;
    /* the journal and the target say so in err->origin; state.db is written here (fk) */
    a->fail_kind = rs_agent_error_kind(err, fk);
    keep_pending(a, info);
    rs_agent_set_state(a, "error");
    return rc;
}

/* ------------------------------------------------------------ following */

static int bootstrap(rs_agent *a, uint64_t want, rs_change **extra, size_t nextra, rs_journal_kind kind, bool *changed,
                     rs_error *err)
{
    uint64_t upto = want < a->head.version ? want : a->head.version;
    int64_t t0 = rs_mono_ms();
    rs_registry *r;
    int rc = rs_log_materialize(a->store, &a->head, upto, &r, err);
    if (rc)
        return rc;
    int64_t published = upto == a->head.version ? a->head.updated_ms : 0;
    for (size_t i = 0; i < nextra && !rc; i++) {
        if (extra[i]->version <= upto || extra[i]->version > want)
            continue;
        rc = rs_change_apply(r, extra[i], RS_APPLY_CHECK_PARENT | RS_APPLY_CHECK_RESULT, err);
        if (!rc) {
            upto = extra[i]->version;
            published = extra[i]->published_ms;
        }
    }
    if (rc) {
        rs_registry_free(r);
        return rc;
    }
    uint64_t from = a->state_version;
    rs_registry_free(a->state);
    a->state = r;
    a->state_version = upto;
    a->state_published_ms = published;
    a->bad_version = 0;
    apply_info info = {.kind = kind, .published_ms = published, .started_mono = t0};
    bool written;
    rc = write_version(a, &info, &written, err);
    if (written)
        *changed = true;
    pthread_mutex_lock(&a->mu);
    if (kind == RS_JOURNAL_ROLLBACK)
        a->st.rollbacks++;
    else
        a->st.bootstraps++;
    pthread_mutex_unlock(&a->mu);
    rs_journal_event(a->journal, RS_LOG_INFO, kind == RS_JOURNAL_ROLLBACK ? "rollback" : "bootstrap", upto,
                     "%s from version %" PRIu64 " to %" PRIu64 " (snapshot and log)",
                     kind == RS_JOURNAL_ROLLBACK ? "rolled back" : kind == RS_JOURNAL_PIN ? "pinned" : "bootstrapped", from,
                     upto);
    RS_LOGI("follow", "%s version=%" PRIu64 " from=%" PRIu64, rs_journal_kind_name(kind), upto, from);
    return rc;
}

static int apply_entries(rs_agent *a, uint64_t want, rs_change **extra, size_t nextra, bool *changed, rs_error *err)
{
    int64_t t0 = rs_mono_ms();
    uint64_t first = a->state_version + 1, last_in_head = want < a->head.version ? want : a->head.version;
    rs_change **got = NULL;
    uint64_t failed = 0;
    int rc = RS_OK, fetch_rc = RS_OK;
    rs_error fetch_err = {0};
    if (first <= last_in_head)
        fetch_rc = fetch_range(a, first, last_in_head, &got, &failed, &fetch_err);
    uint64_t applied_to = a->state_version;
    apply_info info = {.kind = RS_JOURNAL_APPLY, .started_mono = t0};
    rs_registry_digest(a->state, info.parent);
    info.has_parent = true;
    for (uint64_t v = first; v <= want; v++) {
        rs_change *c = NULL;
        if (v <= last_in_head)
            c = got ? got[v - first] : NULL;
        else
            for (size_t i = 0; i < nextra; i++)
                if (extra[i]->version == v)
                    c = extra[i];
        if (!c) {
            if (fetch_rc && failed == v) {
                rc = fetch_rc;
                if (err)
                    *err = fetch_err;
            } else {
                rc = rs_error_set(err, RS_ENOTFOUND, "log entry %" PRIu64 " is missing", v);
            }
            break;
        }
        uint8_t before[RS_DIGEST_LEN];
        rs_registry_digest(a->state, before);
        rc = rs_change_apply(a->state, c, RS_APPLY_CHECK_PARENT | RS_APPLY_CHECK_RESULT, err);
        if (rc) {
            uint8_t after[RS_DIGEST_LEN];
            rs_registry_digest(a->state, after);
            if (memcmp(before, after, RS_DIGEST_LEN) != 0) {
                /* applied but the result is wrong: this in-memory state is unusable */
                rs_registry_free(a->state);
                a->state = NULL;
            }
            break;
        }
        size_t puts, dels, per[64];
        rs_change_counts(c, &puts, &dels, per);
        info.puts += puts;
        info.deletes += dels;
        for (int k = 0; k < 64; k++)
            info.per_kind[k] += per[k];
        info.published_ms = c->published_ms;
        snprintf(info.source_etag, sizeof info.source_etag, "%s", c->source_etag ? c->source_etag : "");
        snprintf(info.publisher, sizeof info.publisher, "%s", c->publisher ? c->publisher : "");
        applied_to = v;
        a->state_version = v;
        a->state_published_ms = c->published_ms;
        pthread_mutex_lock(&a->mu);
        a->st.applies++;
        pthread_mutex_unlock(&a->mu);
    }
    if (got) {
        for (uint64_t v = first; v <= last_in_head; v++)
            rs_change_free(got[v - first]);
        free(got);
    }
    if (rc && (rc == RS_ECORRUPT || rc == RS_ENOTFOUND || rc == RS_ECONFLICT)) {
        uint64_t bad = applied_to + 1;
        a->bad_version = bad;
        pthread_mutex_lock(&a->mu);
        a->st.attempted_version = bad;
        pthread_mutex_unlock(&a->mu);
        rs_agent_set_state(a, "diverged");
        rs_journal_event(a->journal, RS_LOG_ERROR, "error", bad, "log entry %" PRIu64 " refused: %s", bad,
                         err && err->msg[0] ? err->msg : "failed");
        RS_LOGE("follow", "refused version=%" PRIu64 " error=\"%s\"", bad, err ? err->msg : "");
    }
    if (a->state && applied_to > first - 1) {
        rs_error we = {0};
        bool written;
        int wrc = write_version(a, &info, &written, &we);
        if (written)
            *changed = true;
        if (wrc && !rc) {
            rc = wrc;
            if (err)
                *err = we;
        }
    } else if (!a->state) {
        a->state_version = 0;
    }
    return rc;
}

/* true when a snapshot at or after version (and at or before upto) is listed in HEAD */
static bool snapshot_after(const rs_head *h, uint64_t version, uint64_t upto)
{
    for (size_t i = 0; i < h->n_snapshots; i++)
        if (h->snapshots[i] >= version && h->snapshots[i] <= upto)
            return true;
    return false;
}

/* HEAD says less than this region holds. The log is the truth: when it still holds our version
 * (with our digest), HEAD merely lags (a publisher died between appending and moving HEAD, or
 * HEAD was restored from an old copy) and we keep our version; *latest is the newest entry.
 * When the log does not hold our version, the store was reset or rolled back behind us: never
 * follow it backwards on our own (only a pin or rollback does that). */
static int check_lagging_head(rs_agent *a, uint64_t *latest, rs_error *err)
{
    rs_change *c = NULL;
    rs_error e2 = {0};
    int rc = rs_log_read_entry(a->store, a->state_version, &c, NULL, &e2);
    if (rc == RS_OK) {
        uint8_t d[RS_DIGEST_LEN];
        rs_registry_digest(a->state, d);
        bool same = memcmp(d, c->result_digest, RS_DIGEST_LEN) == 0;
        rs_change_free(c);
        if (same) {
            *latest = a->state_version;
            RS_LOGW("follow", "HEAD lags the log head_version=%" PRIu64 " log_version=%" PRIu64 ": keeping version %" PRIu64,
                    a->head.version, a->state_version, a->state_version);
            return RS_OK;
        }
        return rs_error_set(err, RS_ECONFLICT,
                            "the global log's version %" PRIu64 " is not the one this region holds (HEAD says %" PRIu64
                            "): the store was reset or rewritten; keeping version %" PRIu64
                            " (pin or roll back to follow the store's history)",
                            a->state_version, a->head.version, a->state_version);
    }
    if (rc != RS_ENOTFOUND) {
        if (err)
            *err = e2;
        return rc;
    }
    if (a->n_stores > 1) {
        /* several stores: one that lags (a replica the mirror has not reached yet) is only
         * behind; keep this version and wait */
        *latest = a->state_version;
        if (!a->st.store_behind)
            RS_LOGW("follow", "store %s is behind head_version=%" PRIu64 " local_version=%" PRIu64 ": keeping version %" PRIu64,
                    a->stores[a->cur].name, a->head.version, a->state_version, a->state_version);
        pthread_mutex_lock(&a->mu);
        a->st.store_behind = true;
        pthread_mutex_unlock(&a->mu);
        return RS_OK;
    }
    return rs_error_set(err, RS_ECONFLICT,
                        "HEAD says version %" PRIu64 " and the log has no version %" PRIu64
                        ", which this region holds: the store was reset or rolled back; keeping version %" PRIu64
                        " (pin or roll back to follow it)",
                        a->head.version, a->state_version, a->state_version);
}

int rs_follow(rs_agent *a, uint64_t pinned, bool *changed, rs_error *err)
{
    *changed = false;
    rs_error te = {0};
    if (rs_follow_check_target(a, false, &te))
        RS_LOGW("follow", "cannot check the target error=\"%s\"", te.msg);
    pthread_mutex_lock(&a->mu);
    bool sync_req = a->sync_req;
    a->sync_req = false;
    pthread_mutex_unlock(&a->mu);
    bool failing = a->bad_version || a->write_pending || a->retry_at_mono;
    uint64_t want = 0;
    a->fail_kind = -1;
    bool due = !a->retry_at_mono || rs_mono_ms() >= a->retry_at_mono || sync_req;
    rs_head h;
    char etag[RS_ETAG_MAX] = "";
    /* a retry re-reads HEAD in full: whatever failed may have been repaired in the store */
    const char *inm = (a->state && a->head_etag[0] && !(failing && due)) ? a->head_etag : NULL;
    int rc = rs_log_read_head(a->store, inm, &h, etag, err);
    pthread_mutex_lock(&a->mu);
    a->st.polls++;
    if (rc == RS_ENOTMODIFIED)
        a->st.polls_unchanged++;
    pthread_mutex_unlock(&a->mu);
    bool head_changed = false;
    if (rc == RS_ENOTMODIFIED) {
        rc = RS_OK;
    } else if (rc == RS_ENOTFOUND && (a->state_version || a->have_written)) {
        /* a log this region already follows cannot vanish: the store is unreachable (a file://
         * directory unmounted or moved) or was emptied. Not a successful poll: keep serving the
         * local copy and report it, so /readyz turns stale. */
        rc = rs_error_set(err, RS_ENOTFOUND,
                          "%s is missing from the global store, which this region followed to version %" PRIu64
                          " (store unreachable or emptied); keeping the local copy",
                          RS_KEY_HEAD, a->state_version);
        rs_agent_record_error(a, EK_STORE, 0, err);
        a->store_failed = true;
        return rc;
    } else if (rc == RS_ENOTFOUND) {
        rs_agent_set_state(a, "waiting");
        pthread_mutex_lock(&a->mu);
        a->st.last_success_ms = rs_wall_ms();
        pthread_mutex_unlock(&a->mu);
        return RS_OK;
    } else if (rc) {
        rs_agent_record_error(a, EK_STORE, 0, err);
        a->store_failed = true;
        return rc;
    } else if (h.epoch < a->max_epoch) {
        /* the fence: a HEAD of an older epoch is a former primary's (or a replica not yet
         * mirrored since the promotion): never followed */
        rc = rs_error_set(err, RS_ECONFLICT,
                          "store %s: HEAD is at epoch %" PRIu64 " (version %" PRIu64 "), older than epoch %" PRIu64
                          " already seen: a former primary; ignored",
                          a->stores[a->cur].name, h.epoch, h.version, a->max_epoch);
        rs_head_clear(&h);
        rs_agent_record_error(a, EK_STORE, 0, err);
        a->store_fenced = true;
        return rc;
    } else {
        if (h.epoch > a->max_epoch && a->state && !a->epoch_change) {
            /* a promotion: is this region's version on the new epoch's history? Its entry in the
             * new primary's log must have our digest; otherwise the versions since were lost
             * with the old primary and the region re-bootstraps from the new one */
            rs_change *c = NULL;
            uint8_t d[RS_DIGEST_LEN];
            rs_registry_digest(a->state, d);
            rs_error ce = {0};
            int crc = rs_log_read_entry(a->store, a->state_version, &c, NULL, &ce);
            bool on_chain = crc == RS_OK && memcmp(c->result_digest, d, RS_DIGEST_LEN) == 0;
            rs_change_free(c);
            if (crc && crc != RS_ENOTFOUND) {
                rs_head_clear(&h);
                if (err)
                    *err = ce;
                rs_agent_record_error(a, EK_STORE, 0, err);
                a->store_failed = true;
                return crc;
            }
            if (!on_chain) {
                RS_LOGW("follow", "epoch change: version %" PRIu64 " (epoch %" PRIu64 ") is not on epoch %" PRIu64
                                  "'s history; re-bootstrapping from store %s",
                        a->state_version, a->max_epoch, h.epoch, a->stores[a->cur].name);
                a->epoch_change = true;
                a->epoch_from_version = a->state_version;
                a->epoch_from_epoch = a->max_epoch;
                rs_registry_free(a->state);
                a->state = NULL;
                a->state_version = 0;
                a->bad_version = 0;
                clear_retry(a);
            }
        }
        head_changed = !a->head_etag[0] || strcmp(etag, a->head_etag) != 0 || h.version != a->head.version;
        rs_head_clear(&a->head);
        a->head = h;
        snprintf(a->head_etag, sizeof a->head_etag, "%s", etag);
    }
    if (head_changed)
        due = true; /* something new in the store: try at once */
    bool retrying = failing && due;
    uint64_t latest = a->head.version;
    rs_change **extra = NULL;
    size_t nextra = 0;
    if (a->state && a->head.version < a->state_version && (!pinned || pinned >= a->state_version) &&
        (head_changed || retrying)) {
        /* never backwards on our own: HEAD lags (or the store went back in time) */
        rc = check_lagging_head(a, &latest, err);
        if (rc)
            goto failed;
    }
    if (a->state && latest < a->state_version)
        latest = a->state_version;
    if ((head_changed || retrying) && !pinned) {
        rs_error pe = {0};
        if (rs_log_probe_beyond(a->store, latest, &extra, &nextra, &pe) == RS_OK && nextra)
            latest = extra[nextra - 1]->version;
    }
    pthread_mutex_lock(&a->mu);
    if (latest > a->st.head_version || head_changed)
        a->st.head_version = latest;
    a->st.head_updated_ms = a->head.updated_ms;
    pthread_mutex_unlock(&a->mu);
    want = pinned && pinned < latest ? pinned : latest;
    if (failing && !due) {
        /* backing off after a failure: nothing new in the store, not time to retry yet. Still
         * failing (not a success: readiness and the current error stay), nothing new to record */
        rs_changes_free(extra, nextra);
        publish_status(a);
        pthread_mutex_lock(&a->mu);
        rc = rs_error_set(err, a->last_fail_rc ? a->last_fail_rc : RS_EIO, "%s (next retry in %lld ms)",
                          a->st.last_error, (long long)(a->retry_at_mono - rs_mono_ms()));
        pthread_mutex_unlock(&a->mu);
        return rc;
    }
    if (a->state && a->state_version == want && !a->bad_version) {
        if (!a->have_written || a->write_pending) {
            /* the target lacks the current version: a failed write (retried with what it was
             * about), a deleted target (the same version again: the journal keeps its entry), or
             * a first write after a restart with a new filter */
            apply_info info = {.kind = a->have_written ? RS_JOURNAL_APPLY : RS_JOURNAL_BOOTSTRAP,
                               .published_ms = a->state_published_ms,
                               .started_mono = rs_mono_ms()};
            bool written;
            rc = write_version(a, a->pending_info ? a->pending_info : &info, &written, err);
            *changed = written;
        }
    } else if (want == 0) {
        rc = RS_OK;
    } else if (!a->state || want < a->state_version || a->state_version + 1 < a->head.oldest_version) {
        rs_journal_kind kind = !a->state ? RS_JOURNAL_BOOTSTRAP
                               : want < a->state_version ? (pinned ? RS_JOURNAL_ROLLBACK : RS_JOURNAL_BOOTSTRAP)
                                                         : RS_JOURNAL_BOOTSTRAP;
        rc = bootstrap(a, want, extra, nextra, kind, changed, err);
    } else {
        /* also the retry of a refused entry: it may have been repaired in the store */
        uint64_t was_bad = a->bad_version;
        a->bad_version = 0;
        rc = apply_entries(a, want, extra, nextra, changed, err);
        if (rc && a->bad_version && a->state && snapshot_after(&a->head, a->bad_version, want)) {
            /* a snapshot covers the refused entry: recover from it now */
            rs_error be = {0};
            int brc = bootstrap(a, want, extra, nextra, RS_JOURNAL_BOOTSTRAP, changed, &be);
            if (brc == RS_OK) {
                a->bad_version = 0;
                rc = RS_OK;
            }
        }
        if (rc && !a->bad_version && was_bad && a->state_version < was_bad)
            a->bad_version = was_bad;
    }
    rs_changes_free(extra, nextra);
    if (rc)
        goto failed;
    clear_retry(a);
    a->fail_kind = -1;
    if (a->head.epoch > a->max_epoch && (a->state || !a->epoch_change)) {
        /* remembered only once this region stands on the new epoch's history */
        if (a->epoch_change) {
            rs_journal_event(a->journal, RS_LOG_WARN, "epoch", a->state_version,
                             "epoch change: from version %" PRIu64 " (epoch %" PRIu64 ") to version %" PRIu64 " (epoch %" PRIu64 ")",
                             a->epoch_from_version, a->epoch_from_epoch, a->state_version, a->head.epoch);
            RS_LOGW("follow", "epoch change: from version %" PRIu64 " (epoch %" PRIu64 ") to version %" PRIu64 " (epoch %" PRIu64 ")",
                    a->epoch_from_version, a->epoch_from_epoch, a->state_version, a->head.epoch);
            /* and in the region report (rs_agent_report): the drift view and regsync-dump regions */
            pthread_mutex_lock(&a->mu);
            snprintf(a->st.epoch_change, sizeof a->st.epoch_change,
                     "epoch change: from version %" PRIu64 " (epoch %" PRIu64 ") to version %" PRIu64 " (epoch %" PRIu64 ")",
                     a->epoch_from_version, a->epoch_from_epoch, a->state_version, a->head.epoch);
            a->st.epoch_change_ms = rs_wall_ms();
            pthread_mutex_unlock(&a->mu);
        } else if (a->state) {
            rs_journal_event(a->journal, RS_LOG_INFO, "epoch", a->state_version,
                             "epoch %" PRIu64 " (store %s promoted); version %" PRIu64 " is on its history", a->head.epoch,
                             a->stores[a->cur].name, a->state_version);
        }
        rs_error je = {0};
        if (rs_journal_state_set_i64(a->journal, RS_JSTATE_MAX_EPOCH, (int64_t)a->head.epoch, &je) == RS_OK) {
            a->max_epoch = a->head.epoch;
            a->epoch_change = false;
        } else {
            RS_LOGW("follow", "cannot record epoch %" PRIu64 " in the journal error=\"%s\"", a->head.epoch, je.msg);
        }
    }
    pthread_mutex_lock(&a->mu);
    a->st.epoch = a->max_epoch;
    a->st.store_behind = a->n_stores > 1 && a->head.version < a->state_version;
    a->st.last_success_ms = rs_wall_ms();
    a->st.attempted_version = 0;
    pthread_mutex_unlock(&a->mu);
    rs_agent_set_state(a, a->modified.n && a->cfg.on_local_change == RS_POLICY_STOP ? "stopped"
                          : pinned                                                   ? "pinned"
                                                                                     : "following");
    publish_status(a);
    return rc;
failed:
    {
        /* a failed write says what failed; otherwise the error code does */
        int kind = a->fail_kind;
        if (kind < 0)
            kind = rc == RS_ECORRUPT || rc == RS_ENOTFOUND ? EK_CORRUPT
                   : rc == RS_ECONFLICT                     ? (a->modified.n ? EK_LOCAL : EK_CONFLICT)
                   : rc == RS_ENOMEM || rc == RS_EINVALID   ? EK_OTHER
                                                            : rs_agent_error_kind(err, EK_STORE);
        rs_agent_record_error(a, kind, want > a->applied_version ? want : 0, err);
        a->last_fail_rc = rc;
        if (kind == EK_LOCAL && a->cfg.on_local_change == RS_POLICY_STOP)
            rs_agent_set_state(a, "stopped");
        else if (a->bad_version || kind == EK_CONFLICT || kind == EK_CORRUPT)
            rs_agent_set_state(a, "diverged");
        else if (kind != EK_STORE)
            rs_agent_set_state(a, "error");
        /* store errors (unreachable, timeouts) keep the state and are paced by the poll
         * interval; everything else backs off */
        if (kind != EK_STORE)
            schedule_retry(a);
    }
    publish_status(a);
    return rc;
}

/* ------------------------------------------------------------ restart */

int rs_follow_load_local(rs_agent *a, rs_error *err)
{
    if (!a->target)
        return RS_OK;
    uint8_t *data = NULL;
    size_t len = 0;
    rs_target_stamp tstamp;
    rs_registry *cur = NULL;
    uint8_t td[RS_DIGEST_LEN];
    int rc = rs_target_read(a->target, &data, &len, &tstamp, err);
    if (rc && rc != RS_ENOTFOUND)
        return rc;
    if (!rc) {
        rs_error de = {0};
        if (rs_registry_decode_take(data, len, NULL, &cur, &de) == RS_OK)
            rs_registry_digest(cur, td);
        else
            RS_LOGW("follow", "target does not decode path=\"%s\" error=\"%s\"", rs_target_describe(a->target), de.msg);
    }
    bool target_decoded = cur != NULL; /* td is its digest (cur may become the state below) */
    rs_journal_recovery rec;
    rs_journal_target obs = {.has_digest = true, .mtime_ns = tstamp.mtime_ns, .size = tstamp.size, .inode = tstamp.inode};
    if (cur)
        memcpy(obs.digest, td, RS_DIGEST_LEN);
    rc = rs_journal_recover(a->journal, cur ? &obs : NULL, &rec, err);
    if (rc) {
        rs_registry_free(cur);
        return rc;
    }
    if (rec != RS_JOURNAL_CONSISTENT)
        RS_LOGW("follow", "journal recovery result=%s", rs_journal_recovery_name(rec));
    rs_journal_entry last = {0};
    bool have_last = rs_journal_last(a->journal, &last, NULL) == RS_OK;
    rs_registry *regional = NULL;
    if (load_state_file(a, "regional.db", &regional, NULL) == RS_OK)
        a->regional_objs = regional;
    rebuild_regional_keys(a);
    rs_registry *st = NULL;
    if (have_last && last.has_result_digest) {
        if (load_state_file(a, "state.db", &st, NULL) == RS_OK) {
            uint8_t d[RS_DIGEST_LEN];
            rs_registry_digest(st, d);
            if (memcmp(d, last.result_digest, RS_DIGEST_LEN) != 0) {
                rs_registry_free(st);
                st = NULL;
            }
        }
        if (!st && cur && memcmp(td, last.result_digest, RS_DIGEST_LEN) == 0) {
            st = cur; /* the target is the global state (no filter, no regional meta) */
            cur = NULL;
        }
    }
    if (st) {
        a->state = st;
        a->state_version = last.version;
        a->state_published_ms = last.published_at_ms;
        /* the journal's last entry, which recovery just checked against the target */
        a->applied_version = last.version;
        a->applied_published_ms = last.published_at_ms;
        memcpy(a->applied_digest, last.result_digest, RS_DIGEST_LEN);
        /* what we wrote: recompute it */
        rs_registry *base = a->state;
        bool base_owned = false;
        if (filtered(a) && filter_state(a, a->state, &base, NULL) == RS_OK)
            base_owned = true;
        rs_registry *out;
        bool owned;
        if (compose(a, base, base_owned, &out, &owned, NULL) == RS_OK) {
            a->written = out == a->state ? NULL : out;
            rs_registry_digest(out, a->written_digest);
            a->have_written = true;
            uint8_t fd[RS_DIGEST_LEN];
            rs_registry_digest(base == out ? out : base, fd);
            pthread_mutex_lock(&a->mu);
            memcpy(a->st.filtered_digest, last.has_filtered_digest ? last.filtered_digest : fd, RS_DIGEST_LEN);
            pthread_mutex_unlock(&a->mu);
            if (base_owned && base != out)
                rs_registry_free(base);
        }
        if (target_decoded && memcmp(td, a->written_digest, RS_DIGEST_LEN) == 0) {
            a->written_stamp = tstamp; /* unchanged since we wrote it */
        } else if (target_decoded && last.has_target_digest && memcmp(td, last.target_digest, RS_DIGEST_LEN) == 0) {
            /* the target is exactly what we last wrote, but this configuration composes something
             * else (the project filter changed): not a local change; the first step rewrites it */
            a->have_written = false;
            RS_LOGI("follow", "the configuration changed this region's view; rewriting the target version=%" PRIu64,
                    a->state_version);
        } else {
            memset(&a->written_stamp, 0, sizeof a->written_stamp); /* check it at the first step */
        }
        RS_LOGI("follow", "resumed version=%" PRIu64 " recovery=%s", a->state_version, rs_journal_recovery_name(rec));
    } else if (cur || have_last) {
        RS_LOGW("follow", "no verified local state; the first step bootstraps from the store (the target keeps serving)");
    }
    if (cur || st) {
        pthread_mutex_lock(&a->mu);
        if (cur || a->have_written) {
            memcpy(a->st.target_digest, cur ? td : a->written_digest, RS_DIGEST_LEN);
            a->st.target_known = true;
        }
        pthread_mutex_unlock(&a->mu);
    }
    rs_registry_free(cur);
    rs_journal_entry_clear(&last);
    publish_status(a);
    return RS_OK;
}
