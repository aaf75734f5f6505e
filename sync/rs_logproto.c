/* rs_logproto.c: see rs_logproto.h and docs/sync.md. */
#define RS_ERROR_ORIGIN RS_ORIGIN_DATA /* the errors this file makes (common/rs_error.h) */
#include "rs_logproto.h"
#include "rs_checked.h"
#include "rs_log.h"
#include "rs_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsync/v1/log.pb-c.h"

void rs_head_clear(rs_head *h)
{
    if (!h)
        return;
    free(h->snapshots);
    memset(h, 0, sizeof *h);
}

int rs_head_copy(rs_head *dst, const rs_head *src)
{
    *dst = *src;
    dst->snapshots = NULL;
    if (src->n_snapshots) {
        dst->snapshots = malloc(src->n_snapshots * sizeof *dst->snapshots);
        if (!dst->snapshots)
            return RS_ENOMEM;
        memcpy(dst->snapshots, src->snapshots, src->n_snapshots * sizeof *dst->snapshots);
    }
    return RS_OK;
}

void rs_log_entry_key(uint64_t version, char *out) { snprintf(out, 64, RS_PREFIX_LOG "%020" PRIu64, version); }
void rs_log_snapshot_key(uint64_t version, char *out) { snprintf(out, 64, RS_PREFIX_SNAPSHOTS "%020" PRIu64 ".db", version); }
void rs_log_region_key(const char *region, char *out, size_t n) { snprintf(out, n, RS_PREFIX_REGIONS "%s", region); }
void rs_log_instance_key(const char *region, const char *instance, char *out, size_t n)
{
    snprintf(out, n, RS_PREFIX_REGIONS "%s/%s", region, instance);
}
void rs_log_control_key(const char *region, char *out, size_t n) { snprintf(out, n, RS_PREFIX_CONTROL "%s", region); }

int rs_head_encode(const rs_head *h, uint8_t **out, size_t *len, rs_error *err)
{
    Regsync__V1__Head m = REGSYNC__V1__HEAD__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    m.version = h->version;
    m.digest = (ProtobufCBinaryData){RS_DIGEST_LEN, (uint8_t *)h->digest};
    m.content_digest = (ProtobufCBinaryData){RS_DIGEST_LEN, (uint8_t *)h->content_digest};
    m.oldest_version = h->oldest_version;
    m.snapshot_version = h->snapshot_version;
    m.n_snapshots = h->n_snapshots;
    m.snapshots = h->snapshots;
    m.publisher = (char *)h->publisher;
    ts.seconds = h->updated_ms / 1000;
    ts.nanos = (int32_t)(h->updated_ms % 1000) * 1000000;
    m.updated = &ts;
    m.format = RS_LOG_FORMAT;
    m.epoch = h->epoch;
    size_t n = regsync__v1__head__get_packed_size(&m);
    *out = malloc(n ? n : 1);
    if (!*out)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    *len = regsync__v1__head__pack(&m, *out);
    return RS_OK;
}

int rs_head_decode(const uint8_t *p, size_t n, rs_head *out, rs_error *err)
{
    memset(out, 0, sizeof *out);
    /* A publisher writes HEAD only after a version exists, so an empty object (protobuf would
       decode it as "version 0": nothing published) is a damaged store, never a fresh one. */
    if (n == 0)
        return rs_error_set(err, RS_ECORRUPT,
                            "%s is empty (0 bytes): the store's HEAD object was truncated or overwritten; agents keep "
                            "their copies and publishing stops until it is restored (docs/operations.md, \"A damaged HEAD\")",
                            RS_KEY_HEAD);
    Regsync__V1__Head *m = regsync__v1__head__unpack(NULL, n, p);
    if (!m)
        return rs_error_set(err, RS_ECORRUPT, "%s: not a regsync.v1.Head message", RS_KEY_HEAD);
    int rc = RS_OK;
    if (m->version == 0)
        rc = rs_error_set(err, RS_ECORRUPT, "%s names no version (%zu bytes without a version field): damaged (docs/operations.md, \"A damaged HEAD\")", RS_KEY_HEAD, n);
    else if (m->format > RS_LOG_FORMAT)
        rc = rs_error_set(err, RS_EUNSUPPORTED, "%s: log format %u is newer than this build's (%d); upgrade regsync",
                          RS_KEY_HEAD, m->format, RS_LOG_FORMAT);
    else if (m->version && (m->digest.len != RS_DIGEST_LEN || (m->content_digest.len && m->content_digest.len != RS_DIGEST_LEN)))
        rc = rs_error_set(err, RS_ECORRUPT, "%s: digest of %zu bytes", RS_KEY_HEAD, m->digest.len);
    if (!rc) {
        out->version = m->version;
        if (m->digest.len == RS_DIGEST_LEN)
            memcpy(out->digest, m->digest.data, RS_DIGEST_LEN);
        if (m->content_digest.len == RS_DIGEST_LEN)
            memcpy(out->content_digest, m->content_digest.data, RS_DIGEST_LEN);
        out->oldest_version = m->oldest_version;
        out->snapshot_version = m->snapshot_version;
        snprintf(out->publisher, sizeof out->publisher, "%s", m->publisher ? m->publisher : "");
        /* untrusted: a time beyond what int64 milliseconds hold is no time (0) */
        out->updated_ms = m->updated ? rs_ts_to_ms_or_zero(m->updated->seconds, m->updated->nanos) : 0;
        out->format = m->format;
        out->epoch = m->epoch;
        if (m->n_snapshots) {
            out->snapshots = malloc(m->n_snapshots * sizeof *out->snapshots);
            if (!out->snapshots)
                rc = rs_error_set(err, RS_ENOMEM, "out of memory");
            else {
                memcpy(out->snapshots, m->snapshots, m->n_snapshots * sizeof *out->snapshots);
                out->n_snapshots = m->n_snapshots;
            }
        }
    }
    regsync__v1__head__free_unpacked(m, NULL);
    return rc;
}

int rs_log_read_head(rs_storage *s, const char *if_none_match, rs_head *out, char etag[RS_ETAG_MAX], rs_error *err)
{
    uint8_t *d;
    size_t l;
    memset(out, 0, sizeof *out);
    int rc = rs_storage_get(s, RS_KEY_HEAD, if_none_match, &d, &l, etag, err);
    if (rc)
        return rc;
    rc = rs_head_decode(d, l, out, err);
    free(d);
    return rc;
}

int rs_log_write_head(rs_storage *s, const rs_head *h, const char *if_match, char etag_out[RS_ETAG_MAX], rs_error *err)
{
    uint8_t *d = NULL;
    size_t l = 0;
    int rc = rs_head_encode(h, &d, &l, err);
    if (rc)
        return rc;
    rc = rs_storage_put(s, RS_KEY_HEAD, d, l, if_match ? RS_PUT_IF_MATCH : RS_PUT_IF_ABSENT, if_match, etag_out, err);
    free(d);
    return rc;
}

int rs_log_read_entry(rs_storage *s, uint64_t version, rs_change **out, size_t *bytes, rs_error *err)
{
    char key[64];
    rs_log_entry_key(version, key);
    uint8_t *d;
    size_t l;
    *out = NULL;
    int rc = rs_storage_get(s, key, NULL, &d, &l, NULL, err);
    if (rc)
        return rc;
    if (bytes)
        *bytes = l;
    rc = rs_change_decode(d, l, out, err);
    free(d);
    if (rc)
        return rs_error_prefix(err, "%s", key);
    if ((*out)->version != version) {
        rc = rs_error_set(err, RS_ECORRUPT, "%s: holds version %" PRIu64 ", not %" PRIu64, key, (*out)->version, version);
        rs_change_free(*out);
        *out = NULL;
    }
    return rc;
}

int rs_log_append_entry(rs_storage *s, const rs_change *c, size_t *bytes, rs_error *err)
{
    char key[64];
    rs_log_entry_key(c->version, key);
    uint8_t *d;
    size_t l;
    int rc = rs_change_encode(c, &d, &l, err);
    if (rc)
        return rc;
    if (bytes)
        *bytes = l;
    rc = rs_storage_put(s, key, d, l, RS_PUT_IF_ABSENT, NULL, NULL, err);
    free(d);
    return rc;
}

int rs_log_write_snapshot(rs_storage *s, uint64_t version, const rs_registry *r, rs_error *err)
{
    char key[64];
    rs_log_snapshot_key(version, key);
    uint8_t *d;
    size_t l;
    int rc = rs_registry_encode(r, &d, &l, err);
    if (rc)
        return rc;
    /* the bytes of a version's snapshot are the same whoever writes them: unconditional */
    rc = rs_storage_put(s, key, d, l, RS_PUT_ALWAYS, NULL, NULL, err);
    free(d);
    return rc;
}

int rs_log_read_snapshot(rs_storage *s, uint64_t version, rs_registry **out, size_t *bytes, rs_error *err)
{
    char key[64];
    rs_log_snapshot_key(version, key);
    uint8_t *d;
    size_t l;
    *out = NULL;
    int rc = rs_storage_get(s, key, NULL, &d, &l, NULL, err);
    if (rc)
        return rc;
    if (bytes)
        *bytes = l;
    rc = rs_registry_decode_take(d, l, NULL, out, err);
    if (rc)
        rs_error_prefix(err, "%s", key);
    return rc;
}

void rs_changes_free(rs_change **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        rs_change_free(v[i]);
    free(v);
}

int rs_log_probe_beyond(rs_storage *s, uint64_t from, rs_change ***extra, size_t *n, rs_error *err)
{
    *extra = NULL;
    *n = 0;
    size_t cap = 0;
    for (uint64_t v = from + 1;; v++) {
        rs_change *c;
        rs_error e2 = {0};
        int rc = rs_log_read_entry(s, v, &c, NULL, &e2);
        if (rc == RS_ENOTFOUND)
            return RS_OK;
        if (rc) {
            if (err)
                *err = e2;
            rs_changes_free(*extra, *n);
            *extra = NULL;
            *n = 0;
            return rc;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            rs_change **nv = realloc(*extra, cap * sizeof *nv);
            if (!nv) {
                rs_change_free(c);
                rs_changes_free(*extra, *n);
                *extra = NULL;
                *n = 0;
                return rs_error_set(err, RS_ENOMEM, "out of memory");
            }
            *extra = nv;
        }
        (*extra)[(*n)++] = c;
    }
}

/* What a snapshot at `base` must digest to, when the store can tell without reading much: HEAD's
 * digest when base is HEAD's version, else the parent digest of entry base+1 or the result digest
 * of entry base (entries are usually small; the first one holds everything, so it is the last
 * resort). false when nothing retained can tell. */
static bool snapshot_expected(rs_storage *s, const rs_head *h, uint64_t base, uint8_t out[RS_DIGEST_LEN])
{
    if (base == h->version) {
        memcpy(out, h->digest, RS_DIGEST_LEN);
        return true;
    }
    rs_change *c;
    if (rs_log_read_entry(s, base + 1, &c, NULL, NULL) == RS_OK) {
        memcpy(out, c->parent_digest, RS_DIGEST_LEN);
        rs_change_free(c);
        return true;
    }
    if (base >= h->oldest_version && rs_log_read_entry(s, base, &c, NULL, NULL) == RS_OK) {
        memcpy(out, c->result_digest, RS_DIGEST_LEN);
        rs_change_free(c);
        return true;
    }
    return false;
}

/* Rebuilds `version` from the snapshot at base (0: the empty registry) and the entries after
 * it. *snapshot_bad: the failure is the snapshot's (it does not decode, or it is not the
 * registry the log says it is), so an older snapshot may do. */
static int materialize_from(rs_storage *s, const rs_head *h, uint64_t base, uint64_t version, rs_registry **out,
                            bool *snapshot_bad, rs_error *err)
{
    *snapshot_bad = false;
    rs_registry *r;
    int rc;
    if (base) {
        rc = rs_log_read_snapshot(s, base, &r, NULL, err);
        if (rc) {
            *snapshot_bad = rc == RS_ECORRUPT;
            return rc;
        }
        uint8_t want[RS_DIGEST_LEN], got[RS_DIGEST_LEN];
        if (base < version) {
            /* checked against entry base+1's parent digest below, when it is applied */
        } else if (snapshot_expected(s, h, base, want)) {
            rs_registry_digest(r, got);
            if (memcmp(got, want, RS_DIGEST_LEN) != 0) {
                rs_registry_free(r);
                *snapshot_bad = true;
                char key[64];
                rs_log_snapshot_key(base, key);
                return rs_error_set(err, RS_ECORRUPT, "%s is not version %" PRIu64 " (its digest differs from the log's)", key,
                                    base);
            }
        }
    } else {
        r = rs_registry_new();
        if (!r)
            return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    for (uint64_t v = base + 1; v <= version; v++) {
        rs_change *c;
        rc = rs_log_read_entry(s, v, &c, NULL, err);
        if (!rc && v == base + 1 && base) {
            uint8_t got[RS_DIGEST_LEN];
            rs_registry_digest(r, got);
            if (memcmp(got, c->parent_digest, RS_DIGEST_LEN) != 0) {
                rs_change_free(c);
                rs_registry_free(r);
                *snapshot_bad = true;
                char key[64];
                rs_log_snapshot_key(base, key);
                return rs_error_set(err, RS_ECORRUPT,
                                    "%s is not version %" PRIu64 " (entry %" PRIu64 " does not apply to it)", key, base, v);
            }
        }
        if (!rc) {
            rc = rs_change_apply(r, c, RS_APPLY_CHECK_PARENT | RS_APPLY_CHECK_RESULT, err);
            rs_change_free(c);
        }
        if (rc) {
            rs_registry_free(r);
            return rc;
        }
    }
    if (version == h->version) {
        uint8_t d[RS_DIGEST_LEN];
        rs_registry_digest(r, d);
        if (memcmp(d, h->digest, RS_DIGEST_LEN) != 0) {
            rs_registry_free(r);
            return rs_error_set(err, RS_ECORRUPT, "the registry rebuilt at version %" PRIu64 " does not match HEAD's digest", version);
        }
    }
    *out = r;
    return RS_OK;
}

int rs_log_materialize(rs_storage *s, const rs_head *h, uint64_t version, rs_registry **out, rs_error *err)
{
    *out = NULL;
    if (version > h->version)
        return rs_error_set(err, RS_ENOTFOUND, "version %" PRIu64 " is newer than HEAD (%" PRIu64 ")", version, h->version);
    /* candidate bases, newest first: every listed snapshot at or before version, then the empty
     * registry when the log still starts at 1. A bad snapshot falls back to the next one. */
    uint64_t tried_below = UINT64_MAX;
    int first_rc = RS_OK;
    rs_error first = {0};
    size_t attempts = 0;
    for (;;) {
        uint64_t base = 0;
        bool found = false;
        for (size_t i = 0; i < h->n_snapshots; i++)
            if (h->snapshots[i] <= version && h->snapshots[i] < tried_below && (!found || h->snapshots[i] > base)) {
                base = h->snapshots[i];
                found = true;
            }
        if (!found) {
            if (tried_below == 0)
                break;
            base = 0;
        }
        tried_below = base;
        if (base == 0 && h->oldest_version > 1) {
            if (!attempts)
                return rs_error_set(err, RS_ENOTFOUND,
                                    "version %" PRIu64 " cannot be rebuilt: no snapshot at or before it and the log starts at %" PRIu64,
                                    version, h->oldest_version);
            break;
        }
        if (base + 1 < h->oldest_version && base < version) {
            if (!attempts)
                return rs_error_set(err, RS_ENOTFOUND,
                                    "version %" PRIu64 " cannot be rebuilt: entries after snapshot %" PRIu64
                                    " were compacted (log starts at %" PRIu64 ")",
                                    version, base, h->oldest_version);
            break; /* older snapshots are further behind the compacted log */
        }
        attempts++;
        bool bad;
        rs_error e = {0};
        int rc = materialize_from(s, h, base, version, out, &bad, &e);
        if (rc == RS_OK) {
            if (first_rc)
                RS_LOGW("log", "rebuilt version %" PRIu64 " from snapshot %" PRIu64 " because a newer one is unusable: %s", version,
                        base, first.msg);
            return RS_OK;
        }
        if (!first_rc) {
            first_rc = rc;
            first = e;
        }
        if (!bad || base == 0)
            break;
        RS_LOGW("log", "snapshot %" PRIu64 " unusable, trying an older one error=\"%s\"", base, e.msg);
    }
    if (err)
        *err = first;
    return first_rc ? first_rc : rs_error_set(err, RS_ENOTFOUND, "version %" PRIu64 " cannot be rebuilt", version);
}

static uint64_t parse_version_key(const char *key, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(key, prefix, pl) != 0)
        return 0;
    const char *p = key + pl;
    if (strlen(p) < 20)
        return 0;
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    if (end != p + 20)
        return 0;
    return v;
}

int rs_log_compact(rs_storage *s, const rs_retention *ret_in, uint64_t *deleted, rs_error *err)
{
    rs_retention ret = {1000, 7LL * 86400 * 1000};
    if (ret_in && ret_in->versions)
        ret.versions = ret_in->versions;
    if (ret_in && ret_in->age_ms)
        ret.age_ms = ret_in->age_ms;
    if (deleted)
        *deleted = 0;
    rs_list_entry *e = NULL;
    size_t n = 0;
    rs_head h;
    char etag[RS_ETAG_MAX];
    int rc;
    for (int attempt = 0;; attempt++) {
        rc = rs_log_read_head(s, NULL, &h, etag, err);
        if (rc == RS_ENOTFOUND)
            return RS_OK;
        if (rc)
            return rc;
        if (!h.snapshot_version) { /* nothing to bootstrap from: keep everything */
            rs_head_clear(&h);
            return RS_OK;
        }
        rc = rs_storage_list(s, RS_PREFIX_LOG, &e, &n, err);
        if (rc) {
            rs_head_clear(&h);
            return rc;
        }
        uint64_t by_count = h.version >= ret.versions ? h.version - ret.versions + 1 : 1;
        int64_t cutoff = rs_wall_ms() - ret.age_ms;
        uint64_t by_age = h.version + 1;
        for (size_t i = 0; i < n; i++) {
            uint64_t v = parse_version_key(e[i].key, RS_PREFIX_LOG);
            if (v && e[i].mtime_ms && e[i].mtime_ms >= cutoff && v < by_age)
                by_age = v;
            if (v && !e[i].mtime_ms && v < by_age)
                by_age = v; /* unknown age: keep */
        }
        uint64_t keep = by_count < by_age ? by_count : by_age;
        if (keep > h.snapshot_version + 1)
            keep = h.snapshot_version + 1;
        if (keep <= h.oldest_version || keep <= 1) {
            rs_storage_list_free(e, n);
            rs_head_clear(&h);
            return RS_OK;
        }
        /* record the new oldest version first */
        rs_head nh;
        rs_head_copy(&nh, &h);
        nh.oldest_version = keep;
        size_t k = 0;
        for (size_t i = 0; i < h.n_snapshots; i++)
            if (h.snapshots[i] + 1 >= keep || h.snapshots[i] == h.snapshot_version)
                nh.snapshots[k++] = h.snapshots[i];
        nh.n_snapshots = k;
        rc = rs_log_write_head(s, &nh, etag, NULL, err);
        rs_head_clear(&nh);
        if (rc == RS_ECONFLICT && attempt < 5) {
            rs_storage_list_free(e, n);
            e = NULL;
            n = 0;
            rs_head_clear(&h);
            continue; /* HEAD moved: start over */
        }
        if (rc) {
            rs_storage_list_free(e, n);
            rs_head_clear(&h);
            return rc;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t v = parse_version_key(e[i].key, RS_PREFIX_LOG);
            if (v && v < keep) {
                if (rs_storage_delete(s, e[i].key, NULL) == RS_OK && deleted)
                    (*deleted)++;
            }
        }
        rs_storage_list_free(e, n);
        e = NULL;
        n = 0;
        if (rs_storage_list(s, RS_PREFIX_SNAPSHOTS, &e, &n, NULL) == RS_OK) {
            for (size_t i = 0; i < n; i++) {
                uint64_t v = parse_version_key(e[i].key, RS_PREFIX_SNAPSHOTS);
                if (v && v + 1 < keep && v != h.snapshot_version) {
                    if (rs_storage_delete(s, e[i].key, NULL) == RS_OK && deleted)
                        (*deleted)++;
                }
            }
            rs_storage_list_free(e, n);
        }
        RS_LOGI("log", "compacted oldest_version=%" PRIu64 " head=%" PRIu64, keep, h.version);
        rs_head_clear(&h);
        return RS_OK;
    }
}
