/* rs_publisher.h: turns each new registry.db written by `feast apply` into the next version of
 * the log, with compare-and-swap so racing publishers never fork or lose a version.
 *
 * Ownership: the publisher borrows the store handle (which must outlive it) and owns its source
 * and its in-memory copy of the registry at the latest version. Not thread-safe.
 */
#ifndef RS_PUBLISHER_H
#define RS_PUBLISHER_H

#include "rs_logproto.h"
#include "rs_source.h"

typedef struct rs_publisher rs_publisher;

typedef struct rs_publisher_opts {
    const char *publisher_id;   /* recorded in each entry; NULL: host/pid */
    uint64_t snapshot_every;    /* 0: 100 */
    rs_retention retention;
    bool compare_full;          /* true: a new version_id/last_updated alone is a change */
    bool compact;               /* run compaction after each snapshot (default on via the daemon) */
    /* The destructive-change guard: a publish is refused (RS_EINVALID, nothing written) when it
     * would delete more than this fraction of the latest version's objects, or all of them (an
     * empty registry), and a source of 0 bytes is refused; unless allow_destructive, or
     * rs_publisher_allow_destructive_once for the next publish. 0: 0.5; 1: only emptying the
     * registry is refused. */
    double max_delete_fraction;
    bool allow_destructive;
    /* Replicas of the store (docs/operations.md, "Disaster recovery"): after each version is
     * appended and HEAD moved, its entry, snapshot and then HEAD are copied to each replica
     * (rs_replica_sync). A failed copy is logged and counted, never fails the publish, and is
     * repaired by the next publish (the whole missing range). Before appending, a replica with
     * a newer epoch than the store refuses the publish (RS_ECONFLICT: the fence). The publisher
     * opens (and owns) one handle per replica URL; names and URLs are copied. */
    const char *const *replica_names;
    const char *const *replica_urls;
    size_t n_replicas;
} rs_publisher_opts;

typedef struct rs_publisher_replica_stats {
    const char *name;           /* borrowed from the publisher */
    uint64_t version;           /* the replica's HEAD version after the last successful copy */
    uint64_t copies, failures;  /* copies attempted that moved it / failed */
    uint64_t entries_copied, snapshots_copied;
    bool behind;                /* the last copy failed: repaired at the next publish */
    char last_error[RS_ERROR_MSG_MAX];
} rs_publisher_replica_stats;

typedef struct rs_publish_result {
    bool changed;               /* a new version was appended */
    uint64_t version;           /* the new version, or the latest when unchanged */
    size_t ops;
    size_t entry_bytes;
    int conflicts;              /* lost compare-and-swaps retried */
    bool repaired_head;         /* HEAD lagged the log and was moved forward */
    char source_tag[RS_ETAG_MAX];
    bool source_failed;         /* on error: the source could not be read or was refused */
    int replica_failures;       /* replicas whose copy failed this time (logged; repaired later) */
    bool fenced;                /* on error: a replica has a newer epoch (this store is a former primary) */
} rs_publish_result;

int rs_publisher_open(rs_storage *store, const char *source, const rs_storage_opts *store_opts,
                      const rs_publisher_opts *opts, rs_publisher **out, rs_error *err);
void rs_publisher_close(rs_publisher *p);

/* Reads the source (conditionally unless force) and publishes it when its content differs from
 * the latest version. A source that does not decode, or that holds an object without a name or
 * project, or two objects with one key, is refused (RS_EINVALID / RS_ECORRUPT, nothing written),
 * as is a destructive change (see rs_publisher_opts). */
int rs_publisher_publish(rs_publisher *p, bool force, rs_publish_result *res, rs_error *err);

/* Lets the next publish (only) past the destructive-change guard: `publish --once
 * --allow-destructive`, POST /v1/publish {"allow_destructive": true}. */
void rs_publisher_allow_destructive_once(rs_publisher *p);

/* Checks that every keyed object of r has a name and a project, and that no two objects share a
 * key (Feast never writes either; a bad source does). RS_EINVALID naming the first offender. */
int rs_publisher_check_source(const rs_registry *r, rs_error *err);

/* Publishes the given registry as the next version (used by tests and `regsyncd publish`).
 * The same checks and guard as rs_publisher_publish apply. */
int rs_publisher_publish_registry(rs_publisher *p, const rs_registry *r, const char *source_tag,
                                  rs_publish_result *res, rs_error *err);

/* Copies what each replica lacks now (also done by every publish). Returns the number of
 * replicas whose copy failed. */
int rs_publisher_sync_replicas(rs_publisher *p);
/* Per-replica counters; *n replicas. The array is the publisher's (valid until it closes). */
const rs_publisher_replica_stats *rs_publisher_replicas(const rs_publisher *p, size_t *n);



#endif
