/* rs_replica.h: replicas of the global store (docs/operations.md, "Disaster recovery").
 *
 * A replica is another store (any backend) holding a copy of the primary's log: the same
 * regsync/log/<N> entries and regsync/snapshots/<N>.db byte for byte, and a HEAD that is the
 * primary's HEAD, copied last, so a replica's HEAD never names something the replica lacks.
 * A replica that lags is a valid prefix of the primary's log.
 *
 * HEAD carries an epoch (rs_head.epoch, 0 before the first promotion). Promotion writes epoch
 * e+1 on the promoted store with a conditional write; readers ignore HEADs of lower epochs and a
 * publisher refuses to publish to a store whose epoch is lower than a replica's (the fence).
 *
 * Ownership: every function borrows the storage handles it is given; nothing is kept between
 * calls. Not thread-safe per handle (as rs_storage).
 */
#ifndef RS_REPLICA_H
#define RS_REPLICA_H

#include "rs_logproto.h"

typedef struct rs_replica_result {
    uint64_t src_version;        /* the source's HEAD version (0: nothing published) */
    uint64_t src_epoch;
    uint64_t dst_version_before; /* the replica's HEAD version before (0: none) */
    uint64_t dst_version;        /* ... and after */
    uint64_t entries_copied;     /* log entries written (entries already present are skipped) */
    uint64_t entries_skipped;    /* present with the same bytes (a resumed copy) */
    uint64_t snapshots_copied;
    uint64_t entries_deleted;    /* rejoin: the old epoch's entries past the source's HEAD */
    bool head_written;
    bool rejoined;               /* the replica held an older epoch (a former primary) and was
                                    rewritten to the source's history */
} rs_replica_result;

/* Brings dst in step with src: copies the log entries dst lacks (create-only; an entry already
 * there with the same bytes is skipped, so a copy killed at any point resumes), the snapshots
 * src's HEAD lists that dst's does not, and then src's HEAD itself (compare-and-swap on dst's).
 * Idempotent: nothing to do costs two GETs.
 * Refuses (RS_ECONFLICT, nothing written) when dst's epoch is newer than src's (src is an old
 * primary: the fence), or when dst at the same epoch is not a prefix of src (ahead of it, or its
 * HEAD digest is not src's at that version). A dst of an older epoch (an old primary brought
 * back as a replica) is rewritten: differing entries replaced, its entries past src's HEAD
 * deleted, then HEAD. */
int rs_replica_sync(rs_storage *src, rs_storage *dst, rs_replica_result *res, rs_error *err);

/* The fence of a publisher: RS_ECONFLICT naming the replica when one of them (reachable) has a
 * HEAD epoch above `epoch`. Unreachable replicas are skipped (logged). names may be NULL. */
int rs_replica_check_fence(uint64_t epoch, rs_storage *const *replicas, const char *const *names, size_t n,
                           rs_error *err);

/* `regsyncd promote`: writes store's HEAD again with epoch = 1 + the highest epoch of store and
 * of every reachable other store, only if store's HEAD is unchanged since read (If-Match).
 * RS_ENOTFOUND when store has no HEAD (nothing to promote). by: recorded as HEAD's publisher. */
int rs_replica_promote(rs_storage *store, rs_storage *const *others, size_t n_others, const char *by,
                       uint64_t *epoch_out, uint64_t *version_out, rs_error *err);

#endif
