/* rs_replica.c: copying the log to a replica, the publisher's fence, promotion. See rs_replica.h. */
#include "rs_replica.h"
#include "rs_log.h"
#include "rs_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* HEAD as bytes and decoded. *found false when the store has none. */
static int read_head_raw(rs_storage *s, uint8_t **bytes, size_t *len, rs_head *h, char etag[RS_ETAG_MAX], bool *found,
                         rs_error *err)
{
    *bytes = NULL;
    *len = 0;
    *found = false;
    memset(h, 0, sizeof *h);
    etag[0] = '\0';
    int rc = rs_storage_get(s, RS_KEY_HEAD, NULL, bytes, len, etag, err);
    if (rc == RS_ENOTFOUND)
        return RS_OK;
    if (rc)
        return rs_error_prefix(err, "%s", rs_storage_url(s));
    rc = rs_head_decode(*bytes, *len, h, err);
    if (rc) {
        free(*bytes);
        *bytes = NULL;
        return rs_error_prefix(err, "%s", rs_storage_url(s));
    }
    *found = true;
    return RS_OK;
}

/* Copies one key's bytes; create-only unless overwrite. An existing object with the same bytes
 * counts as copied before (*skipped). A different one: RS_ECONFLICT unless overwrite. */
static int copy_key(rs_storage *src, rs_storage *dst, const char *key, bool is_entry, uint64_t version, bool overwrite,
                    bool *skipped, rs_error *err)
{
    *skipped = false;
    uint8_t *d;
    size_t l;
    int rc = rs_storage_get(src, key, NULL, &d, &l, NULL, err);
    if (rc)
        return rs_error_prefix(err, "source %s", rs_storage_url(src));
    if (is_entry) {
        /* never copy something a reader would refuse: it must be the entry it claims to be */
        rs_change *c;
        rc = rs_change_decode(d, l, &c, err);
        if (!rc && c->version != version)
            rc = rs_error_set(err, RS_ECORRUPT, "holds version %" PRIu64, c->version);
        if (!rc)
            rs_change_free(c);
        if (rc) {
            free(d);
            return rs_error_prefix(err, "source %s: %s", rs_storage_url(src), key);
        }
    }
    rs_error pe = {0};
    rc = rs_storage_put(dst, key, d, l, overwrite ? RS_PUT_ALWAYS : RS_PUT_IF_ABSENT, NULL, NULL, &pe);
    if (rc == RS_ECONFLICT) {
        uint8_t *e;
        size_t el;
        rc = rs_storage_get(dst, key, NULL, &e, &el, NULL, err);
        if (!rc) {
            if (el == l && memcmp(e, d, l) == 0) {
                *skipped = true;
            } else {
                rc = rs_error_set(err, RS_ECONFLICT,
                                  "replica %s: %s differs from the source's: the replica holds another history "
                                  "(not a prefix of the source's log)",
                                  rs_storage_url(dst), key);
            }
            free(e);
        }
    } else if (rc) {
        if (err)
            *err = pe;
        rs_error_prefix(err, "replica %s", rs_storage_url(dst));
    }
    free(d);
    return rc;
}

static bool listed(const rs_head *h, uint64_t v)
{
    for (size_t i = 0; i < h->n_snapshots; i++)
        if (h->snapshots[i] == v)
            return true;
    return false;
}

int rs_replica_sync(rs_storage *src, rs_storage *dst, rs_replica_result *res, rs_error *err)
{
    memset(res, 0, sizeof *res);
    uint8_t *sb = NULL, *db = NULL;
    size_t sl = 0, dl = 0;
    rs_head sh, dh;
    char setag[RS_ETAG_MAX], detag[RS_ETAG_MAX];
    bool sfound, dfound;
    int rc = read_head_raw(src, &sb, &sl, &sh, setag, &sfound, err);
    if (rc)
        return rc;
    memset(&dh, 0, sizeof dh);
    if (!sfound)
        return RS_OK; /* nothing published: nothing to copy */
    res->src_version = sh.version;
    res->src_epoch = sh.epoch;
    rc = read_head_raw(dst, &db, &dl, &dh, detag, &dfound, err);
    if (rc)
        goto out;
    res->dst_version_before = res->dst_version = dh.version;
    if (dfound && dh.epoch > sh.epoch) {
        rc = rs_error_set(err, RS_ECONFLICT,
                          "fenced: replica %s is at epoch %" PRIu64 " (version %" PRIu64 "), newer than the source %s (epoch %" PRIu64
                          "): the source is a former primary; nothing copied (docs/operations.md, \"Bringing the old "
                          "primary back\")",
                          rs_storage_url(dst), dh.epoch, dh.version, rs_storage_url(src), sh.epoch);
        goto out;
    }
    bool rejoin = dfound && dh.epoch < sh.epoch;
    res->rejoined = rejoin;
    if (dfound && !rejoin) {
        if (dh.version > sh.version) {
            rc = rs_error_set(err, RS_ECONFLICT,
                              "replica %s is at version %" PRIu64 ", past the source %s (version %" PRIu64
                              ", same epoch %" PRIu64 "): not a replica of it; nothing copied",
                              rs_storage_url(dst), dh.version, rs_storage_url(src), sh.version, sh.epoch);
            goto out;
        }
        if (dl == sl && memcmp(db, sb, sl) == 0)
            goto out; /* in step */
        if (dh.version >= sh.oldest_version) {
            rs_change *c;
            rc = rs_log_read_entry(src, dh.version, &c, NULL, err);
            if (rc) {
                rs_error_prefix(err, "source %s", rs_storage_url(src));
                goto out;
            }
            bool same = memcmp(c->result_digest, dh.digest, RS_DIGEST_LEN) == 0;
            rs_change_free(c);
            if (!same) {
                rc = rs_error_set(err, RS_ECONFLICT,
                                  "replica %s: its version %" PRIu64 " is not the source's (digests differ): another "
                                  "history; nothing copied",
                                  rs_storage_url(dst), dh.version);
                goto out;
            }
        }
    }
    uint64_t start = sh.oldest_version ? sh.oldest_version : 1;
    if (dfound && !rejoin && dh.version + 1 > start)
        start = dh.version + 1;
    /* snapshots first (a reader bootstraps from them), then the entries, HEAD last */
    for (size_t i = 0; i < sh.n_snapshots; i++) {
        uint64_t v = sh.snapshots[i];
        if (dfound && !rejoin && listed(&dh, v))
            continue;
        char key[64];
        rs_log_snapshot_key(v, key);
        bool skipped;
        /* a snapshot's bytes are the same whoever writes them: overwrite */
        rc = copy_key(src, dst, key, false, v, true, &skipped, err);
        if (rc == RS_ENOTFOUND) {
            /* compacted on the source meanwhile: HEAD will not list it either on the next run */
            RS_LOGW("replica", "snapshot %" PRIu64 " vanished from the source while copying", v);
            rc = RS_OK;
            continue;
        }
        if (rc)
            goto out;
        res->snapshots_copied++;
    }
    for (uint64_t v = start; v <= sh.version; v++) {
        char key[64];
        rs_log_entry_key(v, key);
        bool skipped;
        rc = copy_key(src, dst, key, true, v, false, &skipped, err);
        if (rc == RS_ECONFLICT && rejoin)
            rc = copy_key(src, dst, key, true, v, true, &skipped, err);
        if (rc)
            goto out;
        if (skipped)
            res->entries_skipped++;
        else
            res->entries_copied++;
    }
    if (rejoin) {
        /* the old epoch's tail (versions the old primary published but never mirrored) */
        for (uint64_t v = sh.version + 1;; v++) {
            char key[64];
            rs_log_entry_key(v, key);
            uint8_t *d;
            size_t l;
            int grc = rs_storage_get(dst, key, NULL, &d, &l, NULL, NULL);
            if (grc == RS_ENOTFOUND)
                break;
            if (grc == RS_OK)
                free(d);
            rc = rs_storage_delete(dst, key, err);
            if (rc)
                goto out;
            res->entries_deleted++;
        }
    }
    rc = rs_storage_put(dst, RS_KEY_HEAD, sb, sl, dfound ? RS_PUT_IF_MATCH : RS_PUT_IF_ABSENT, dfound ? detag : NULL, NULL, err);
    if (rc) {
        rs_error_prefix(err, "replica %s: HEAD", rs_storage_url(dst));
        goto out;
    }
    res->head_written = true;
    res->dst_version = sh.version;
out:
    free(sb);
    free(db);
    rs_head_clear(&sh);
    rs_head_clear(&dh);
    return rc;
}

int rs_replica_check_fence(uint64_t epoch, rs_storage *const *replicas, const char *const *names, size_t n, rs_error *err)
{
    for (size_t i = 0; i < n; i++) {
        rs_head h;
        char etag[RS_ETAG_MAX];
        rs_error e = {0};
        if (!replicas[i]) {
            RS_LOGW("replica", "cannot read the epoch of replica %s: not reachable", names ? names[i] : "?");
            continue;
        }
        int rc = rs_log_read_head(replicas[i], NULL, &h, etag, &e);
        if (rc == RS_ENOTFOUND)
            continue;
        if (rc) {
            RS_LOGW("replica", "cannot read the epoch of replica %s error=\"%s\"", names ? names[i] : "?",
                    e.msg);
            continue;
        }
        uint64_t re = h.epoch, rv = h.version;
        rs_head_clear(&h);
        if (re > epoch)
            return rs_error_set(err, RS_ECONFLICT,
                                "refusing to publish: replica %s (%s) is at epoch %" PRIu64 " (version %" PRIu64
                                "), newer than this store's epoch %" PRIu64
                                ": it was promoted and this store is a former primary. Point `store` at the promoted "
                                "store (docs/operations.md, \"Promoting a replica\")",
                                names ? names[i] : "?", rs_storage_url(replicas[i]), re, rv, epoch);
    }
    return RS_OK;
}

int rs_replica_promote(rs_storage *store, rs_storage *const *others, size_t n_others, const char *by, uint64_t *epoch_out,
                       uint64_t *version_out, rs_error *err)
{
    rs_head h;
    char etag[RS_ETAG_MAX];
    int rc = rs_log_read_head(store, NULL, &h, etag, err);
    if (rc == RS_ENOTFOUND)
        return rs_error_set(err, RS_ENOTFOUND, "%s has no %s: nothing to promote (mirror to it first)", rs_storage_url(store),
                            RS_KEY_HEAD);
    if (rc)
        return rs_error_prefix(err, "%s", rs_storage_url(store));
    uint64_t top = h.epoch;
    for (size_t i = 0; i < n_others; i++) {
        rs_head o;
        char oe[RS_ETAG_MAX];
        rs_error e = {0};
        if (rs_log_read_head(others[i], NULL, &o, oe, &e) == RS_OK) {
            if (o.epoch > top)
                top = o.epoch;
            rs_head_clear(&o);
        }
    }
    h.epoch = top + 1;
    snprintf(h.publisher, sizeof h.publisher, "promoted by %s", by && *by ? by : "regsyncd promote");
    h.updated_ms = rs_wall_ms();
    rc = rs_log_write_head(store, &h, etag, NULL, err);
    if (rc == RS_ECONFLICT)
        rs_error_set(err, RS_ECONFLICT, "%s: HEAD changed while promoting (a publisher or mirror is writing it): try again",
                     rs_storage_url(store));
    else if (rc)
        rs_error_prefix(err, "%s", rs_storage_url(store));
    if (!rc) {
        if (epoch_out)
            *epoch_out = h.epoch;
        if (version_out)
            *version_out = h.version;
    }
    rs_head_clear(&h);
    return rc;
}
