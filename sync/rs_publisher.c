/* rs_publisher.c: see rs_publisher.h and docs/sync.md. */
#include "rs_publisher.h"
#include "rs_alloc.h"
#include "rs_log.h"
#include "rs_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rs_publisher {
    rs_storage *store;
    rs_source *source;
    rs_publisher_opts opts;
    char id[128];
    rs_registry *state;      /* the registry at state_version (NULL: not loaded) */
    uint64_t state_version;
    bool allow_once;         /* the next publish may be destructive */
};

void rs_publisher_allow_destructive_once(rs_publisher *p) { p->allow_once = true; }

static bool allowed_destructive(const rs_publisher *p) { return p->opts.allow_destructive || p->allow_once; }

/* Objects that are a registry's content: every keyed kind (not the singletons). */
static size_t keyed_count(const rs_registry *r)
{
    size_t n = 0;
    for (size_t i = 0; i < rs_registry_count(r); i++)
        if (!rs_kind_is_singleton(rs_registry_at(r, i)->kind))
            n++;
    return n;
}

int rs_publisher_check_source(const rs_registry *r, rs_error *err)
{
    size_t idx[64] = {0};
    for (size_t i = 0; i < rs_registry_count(r); i++) {
        const rs_object *o = rs_registry_at(r, i);
        if (rs_kind_is_singleton(o->kind))
            continue;
        size_t at = o->kind < 64 ? idx[o->kind]++ : 0;
        const char *kn = rs_kind_field_name(o->kind);
        char unk[24];
        if (!kn || !*kn) {
            snprintf(unk, sizeof unk, "field %u", o->kind);
            kn = unk;
        }
        /* project_metadata has no name of its own: its key is the project */
        if (!o->name[0] && o->kind != RS_KIND_PROJECT_METADATA)
            return rs_error_set(err, RS_EINVALID, "%s[%zu] has an empty name (project \"%s\"): Feast never writes one",
                                kn, at, o->project);
        if (!o->project[0])
            return rs_error_set(err, RS_EINVALID, "%s[%zu] \"%s\" has an empty project: Feast never writes one", kn, at,
                                o->name);
        if (o->ordinal)
            return rs_error_set(err, RS_EINVALID,
                                "%s[%zu]: a second object with the key (project \"%s\", name \"%s\"): Feast never writes "
                                "two (a file concatenated with itself?)",
                                kn, at, o->project, o->name);
    }
    return RS_OK;
}

/* Refuses a change that would delete more than the allowed fraction of the objects, or all of
 * them. before: the latest version; c: the change to it. */
static int guard_destructive(const rs_publisher *p, const rs_registry *before, const rs_registry *after,
                             const rs_change *c, rs_error *err)
{
    if (allowed_destructive(p))
        return RS_OK;
    size_t nb = keyed_count(before), na = keyed_count(after), dels = 0;
    for (size_t i = 0; i < c->n_ops; i++)
        if (c->ops[i].type == RS_OP_DELETE && !rs_kind_is_singleton(c->ops[i].kind))
            dels++;
    if (nb == 0 || dels == 0)
        return RS_OK;
    double frac = p->opts.max_delete_fraction > 0 ? p->opts.max_delete_fraction : 0.5;
    if (na == 0)
        return rs_error_set(err, RS_EINVALID,
                            "refusing to publish: the source deletes all %zu objects of version %" PRIu64
                            " (an empty registry); pass --allow-destructive (or POST /v1/publish with "
                            "{\"allow_destructive\": true}) if that is meant",
                            nb, p->state_version);
    if ((double)dels > frac * (double)nb)
        return rs_error_set(err, RS_EINVALID,
                            "refusing to publish: the source deletes %zu of the %zu objects of version %" PRIu64
                            " (%.0f%%, more than max_delete_fraction %.2f); pass --allow-destructive (or POST "
                            "/v1/publish with {\"allow_destructive\": true}) if that is meant",
                            dels, nb, p->state_version, 100.0 * (double)dels / (double)nb, frac);
    return RS_OK;
}

int rs_publisher_open(rs_storage *store, const char *source, const rs_storage_opts *store_opts,
                      const rs_publisher_opts *opts, rs_publisher **out, rs_error *err)
{
    *out = NULL;
    rs_publisher *p = calloc(1, sizeof *p);
    if (!p)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    p->store = store;
    if (opts)
        p->opts = *opts;
    if (!p->opts.snapshot_every)
        p->opts.snapshot_every = 100;
    if (p->opts.publisher_id && *p->opts.publisher_id) {
        snprintf(p->id, sizeof p->id, "%s", p->opts.publisher_id);
    } else {
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        snprintf(p->id, sizeof p->id, "%s/%d", host, (int)getpid());
    }
    p->opts.publisher_id = p->id;
    if (source) {
        int rc = rs_source_open(source, store, store_opts, &p->source, err);
        if (rc) {
            free(p);
            return rc;
        }
    }
    *out = p;
    return RS_OK;
}

void rs_publisher_close(rs_publisher *p)
{
    if (!p)
        return;
    rs_source_close(p->source);
    rs_registry_free(p->state);
    free(p);
}

/* Brings p->state to HEAD (and past it when the log runs ahead of HEAD). */
static int catch_up(rs_publisher *p, rs_head *h, char etag[RS_ETAG_MAX], bool *head_lags, rs_error *err)
{
    *head_lags = false;
    int rc = rs_log_read_head(p->store, NULL, h, etag, err);
    if (rc == RS_ENOTFOUND) {
        memset(h, 0, sizeof *h);
        etag[0] = '\0';
        rc = RS_OK;
    }
    if (rc)
        return rc;
    if (!p->state || p->state_version > h->version || (h->version && p->state_version + 1 < h->oldest_version)) {
        rs_registry_free(p->state);
        p->state = NULL;
        p->state_version = 0;
        if (h->version) {
            rc = rs_log_materialize(p->store, h, h->version, &p->state, err);
            if (rc)
                return rc;
            p->state_version = h->version;
        } else {
            p->state = rs_registry_new();
            if (!p->state)
                return rs_error_set(err, RS_ENOMEM, "out of memory");
        }
    }
    /* entries between our state and HEAD, then any beyond HEAD (HEAD lags after a crash) */
    while (p->state_version < h->version) {
        rs_change *c;
        rc = rs_log_read_entry(p->store, p->state_version + 1, &c, NULL, err);
        if (rc)
            return rc;
        rc = rs_change_apply(p->state, c, RS_APPLY_CHECK_PARENT | RS_APPLY_CHECK_RESULT, err);
        rs_change_free(c);
        if (rc)
            return rc;
        p->state_version++;
    }
    rs_change **extra;
    size_t n;
    rc = rs_log_probe_beyond(p->store, p->state_version, &extra, &n, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = rs_change_apply(p->state, extra[i], RS_APPLY_CHECK_PARENT | RS_APPLY_CHECK_RESULT, err);
        if (!rc)
            p->state_version = extra[i]->version;
    }
    rs_changes_free(extra, n);
    if (n)
        *head_lags = true;
    return rc;
}

static bool needs_snapshot(const rs_publisher *p, uint64_t v) { return v == 1 || v % p->opts.snapshot_every == 0; }

/* Moves HEAD to p->state_version (compare-and-swap, retried while HEAD is older). */
static int advance_head(rs_publisher *p, rs_head *h, char etag[RS_ETAG_MAX], bool snapshot_written, rs_error *err)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        if (h->version >= p->state_version && attempt > 0)
            return RS_OK; /* someone else moved it at least as far */
        rs_head nh;
        if (rs_head_copy(&nh, h))
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        nh.version = p->state_version;
        rs_registry_digest(p->state, nh.digest);
        rs_registry_content_digest(p->state, nh.content_digest);
        if (!nh.oldest_version)
            nh.oldest_version = 1;
        if (snapshot_written && nh.snapshot_version < p->state_version) {
            uint64_t *ns = realloc(nh.snapshots, (nh.n_snapshots + 1) * sizeof *ns);
            if (!ns) {
                rs_head_clear(&nh);
                return rs_error_set(err, RS_ENOMEM, "out of memory");
            }
            ns[nh.n_snapshots++] = p->state_version;
            nh.snapshots = ns;
            nh.snapshot_version = p->state_version;
        }
        snprintf(nh.publisher, sizeof nh.publisher, "%s", p->id);
        nh.updated_ms = rs_wall_ms();
        rs_error e2 = {0};
        int rc = rs_log_write_head(p->store, &nh, etag[0] ? etag : NULL, etag, &e2);
        rs_head_clear(&nh);
        if (rc == RS_OK)
            return RS_OK;
        if (rc != RS_ECONFLICT && !(e2.retryable && attempt < 5)) {
            if (err)
                *err = e2;
            return rc;
        }
        /* lost: re-read HEAD (it may already be past us) and try again */
        rs_head_clear(h);
        rc = rs_log_read_head(p->store, NULL, h, etag, err);
        if (rc == RS_ENOTFOUND) {
            memset(h, 0, sizeof *h);
            etag[0] = '\0';
        } else if (rc) {
            return rc;
        }
        if (h->version >= p->state_version)
            return RS_OK;
    }
    return rs_error_set(err, RS_ECONFLICT, "could not move HEAD to version %" PRIu64 " after 50 attempts", p->state_version);
}

static int publish_registry(rs_publisher *p, const rs_registry *src, const char *source_tag, rs_publish_result *res,
                            rs_error *err);

int rs_publisher_publish_registry(rs_publisher *p, const rs_registry *src, const char *source_tag, rs_publish_result *res,
                                  rs_error *err)
{
    int rc = publish_registry(p, src, source_tag, res, err);
    p->allow_once = false; /* one publish only, whatever its outcome */
    return rc;
}

static int publish_registry(rs_publisher *p, const rs_registry *src, const char *source_tag, rs_publish_result *res,
                            rs_error *err)
{
    memset(res, 0, sizeof *res);
    if (source_tag)
        snprintf(res->source_tag, sizeof res->source_tag, "%s", source_tag);
    int crc = rs_publisher_check_source(src, err);
    if (crc)
        return rs_error_prefix(err, "not published");
    for (int attempt = 0; attempt < 100; attempt++) {
        rs_head h;
        char etag[RS_ETAG_MAX];
        bool lags;
        int rc = catch_up(p, &h, etag, &lags, err);
        if (rc) {
            rs_head_clear(&h);
            return rc;
        }
        uint8_t a[RS_DIGEST_LEN], b[RS_DIGEST_LEN];
        if (p->opts.compare_full) {
            rs_registry_digest(p->state, a);
            rs_registry_digest(src, b);
        } else {
            rs_registry_content_digest(p->state, a);
            rs_registry_content_digest(src, b);
        }
        if (p->state_version && memcmp(a, b, RS_DIGEST_LEN) == 0) {
            /* nothing new; repair HEAD if the log ran ahead of it */
            res->version = p->state_version;
            if (lags) {
                rc = advance_head(p, &h, etag, false, err);
                res->repaired_head = rc == RS_OK;
            }
            rs_head_clear(&h);
            return rc;
        }
        if (lags) { /* repair first, so HEAD never falls more than one version behind */
            rc = advance_head(p, &h, etag, false, err);
            if (!rc)
                res->repaired_head = true;
            rs_head_clear(&h);
            if (rc)
                return rc;
            continue;
        }
        rs_change *c;
        rc = rs_change_between(p->state, src, &c, err);
        if (rc) {
            rs_head_clear(&h);
            return rc;
        }
        rc = guard_destructive(p, p->state, src, c, err);
        if (rc) {
            rs_change_free(c);
            rs_head_clear(&h);
            return rc;
        }
        c->version = p->state_version + 1;
        c->published_ms = rs_wall_ms();
        c->publisher = rs_xstrdup(p->id);
        c->source_etag = rs_xstrdup(source_tag ? source_tag : "");
        c->source = rs_xstrdup(p->source ? rs_source_describe(p->source) : "");
        size_t bytes = 0;
        rs_error e2 = {0};
        rc = rs_log_append_entry(p->store, c, &bytes, &e2);
        if (rc == RS_ECONFLICT) {
            /* another publisher appended this version first: catch up and diff again */
            res->conflicts++;
            rs_change_free(c);
            rs_head_clear(&h);
            continue;
        }
        if (rc) {
            if (err)
                *err = e2;
            rs_change_free(c);
            rs_head_clear(&h);
            return rc;
        }
        /* committed: the entry exists. Our state becomes the source. */
        rs_registry *next = rs_registry_clone(src);
        if (!next) {
            rs_change_free(c);
            rs_head_clear(&h);
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        }
        rs_registry_free(p->state);
        p->state = next;
        p->state_version = c->version;
        res->changed = true;
        res->version = c->version;
        res->ops = c->n_ops;
        res->entry_bytes = bytes;
        rs_change_free(c);
        bool snap = false;
        if (needs_snapshot(p, p->state_version)) {
            rc = rs_log_write_snapshot(p->store, p->state_version, p->state, err);
            if (rc) {
                rs_head_clear(&h);
                return rs_error_prefix(err, "version %" PRIu64 " was published, but its snapshot failed", res->version);
            }
            snap = true;
        }
        rc = advance_head(p, &h, etag, snap, err);
        rs_head_clear(&h);
        if (rc)
            return rs_error_prefix(err, "version %" PRIu64 " was published, but HEAD was not moved (readers follow the log; "
                                        "the next publish repairs HEAD)", res->version);
        RS_LOGI("publish", "published version=%" PRIu64 " ops=%zu bytes=%zu conflicts=%d", res->version, res->ops, bytes,
                res->conflicts);
        if (snap && p->opts.compact) {
            uint64_t deleted = 0;
            rs_error ce = {0};
            if (rs_log_compact(p->store, &p->opts.retention, &deleted, &ce))
                RS_LOGW("publish", "compaction failed error=\"%s\"", ce.msg);
        }
        return RS_OK;
    }
    return rs_error_set(err, RS_ECONFLICT, "gave up after 100 lost compare-and-swaps");
}

int rs_publisher_publish(rs_publisher *p, bool force, rs_publish_result *res, rs_error *err)
{
    memset(res, 0, sizeof *res);
    if (!p->source)
        return rs_error_set(err, RS_EINVALID, "this publisher has no source");
    uint8_t *data;
    size_t len;
    char tag[RS_ETAG_MAX] = "";
    int rc = rs_source_read(p->source, force, &data, &len, tag, err);
    if (rc == RS_ENOTMODIFIED) {
        res->version = p->state_version;
        return RS_OK;
    }
    if (rc) {
        res->source_failed = true;
        return rs_error_prefix(err, "source %s", rs_source_describe(p->source));
    }
    bool allow = allowed_destructive(p);
    if (len == 0 && !allow) {
        p->allow_once = false; /* one publish only, whatever its outcome */
        res->source_failed = true;
        free(data);
        rs_source_reset(p->source);
        return rs_error_set(err, RS_EINVALID,
                            "source %s is empty (0 bytes): refusing to publish a registry without objects (a truncated "
                            "write?); pass --allow-destructive if that is meant",
                            rs_source_describe(p->source));
    }
    rs_registry *r;
    rc = rs_registry_decode_take(data, len, NULL, &r, err);
    if (rc) {
        /* do not remember the tag: the same bad bytes are reported again next time */
        rs_source_reset(p->source);
        p->allow_once = false;
        res->source_failed = true;
        return rs_error_prefix(err, "source %s", rs_source_describe(p->source));
    }
    rc = rs_publisher_publish_registry(p, r, tag, res, err); /* consumes allow_once */
    rs_registry_free(r);
    if (rc == RS_EINVALID) { /* the source's content was refused */
        res->source_failed = true;
        rs_error_prefix(err, "source %s", rs_source_describe(p->source));
    }
    if (rc)
        rs_source_reset(p->source); /* retry the same content next time */
    return rc;
}
