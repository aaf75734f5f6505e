/* rs_fleet.h: the fleet view: every agent's report (regsync/regions/<region>/<instance>, and the
 * older regsync/regions/<region>), judged against the log, grouped by region, with liveness that
 * never trusts a writer's clock. See docs/fleet.md.
 *
 * A refresh costs one LIST of regsync/regions/ and one GET per report whose ETag moved (a
 * heartbeat rewrites the same bytes, so only a change of content is read), plus a conditional GET
 * of HEAD and the log reads drift needs (cached: entries are immutable). Liveness: an instance is
 * as old as the last change of its report's modification time that this view observed (the
 * reader's own monotonic clock); on first sight, as old as the store's modification time says
 * (the store's clock). A report's written_at (the writer's clock) is only compared with the
 * store's time, to flag clock skew.
 *
 * Roles: followers (with a target) make up regions; publish-only agents are listed apart and
 * never counted by region states, waits or lag. A region's state is derived from its live
 * followers: in_sync only when every one is; otherwise the worst state with a count ("paused
 * 1/3"); stale when none is live. Instances silent for forget_after are pruned from the store
 * (opts.prune) with a conditional delete, so a report rewritten meanwhile is never lost.
 *
 * Threading: rs_fleet_refresh runs on one thread at a time (it uses the storage handle, which the
 * fleet borrows and must be used by nobody else meanwhile). rs_fleet_snapshot and everything that
 * reads a snapshot may run on any thread at any time and never touch the store: a snapshot is
 * immutable and reference-counted (rs_fleet_snap_release).
 *
 * Ownership: the caller owns the fleet (rs_fleet_free); every pointer inside a snapshot is owned
 * by the snapshot. JSON returned is a new reference (json_decref). Every function accepts a NULL
 * err; the free/release functions accept NULL.
 */
#ifndef RS_FLEET_H
#define RS_FLEET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_drift.h"

typedef struct rs_fleet rs_fleet;

typedef struct rs_fleet_opts {
    int64_t stale_after_ms;     /* 0: RS_DRIFT_DEFAULT_STALE_AFTER_MS */
    int64_t forget_after_ms;    /* 0: 1 h */
    int64_t max_clock_skew_ms;  /* 0: 30 s */
    bool prune;                 /* remove reports silent for forget_after (agents do; a one-shot
                                   reader like regsync-dump does not) */
    size_t max_prune;           /* deletions per refresh at most; 0: 50 */
    /* More stores whose reports are merged in (replicas: agents report to the store they read
       from). Borrowed like the main store, used only by rs_fleet_refresh. An instance reported in
       several stores is shown once, from the store with its newest write (the smallest age as
       this view knows it; ties: the earlier store). A store that cannot be listed keeps what the
       view last read from it (the refresh does not fail). The HEAD and the log are the main
       store's. */
    rs_storage *const *also;
    size_t n_also;
} rs_fleet_opts;

typedef struct rs_fleet_instance {
    rs_region_report *report;  /* owned by the snapshot; heartbeat_ms is set to the reader-derived
                                  time of the last write (now - age), never the writer's clock */
    rs_drift_row row;          /* the judgement (followers); row.report == report */
    const char *state;         /* followers: RS_DRIFT_*; publishers: "publishing" or "stale" */
    int64_t age_ms;            /* since its report was last written, as this reader knows it */
    bool observed;             /* age comes from a write this view saw happen (else the store's time) */
    bool stale;
    bool legacy;               /* a report in the region layout (no instance) */
    bool superseded;           /* a stale legacy report beside live instances: not counted */
    int64_t skew_ms;           /* written_at - the store's time of that write; 0 when unknown */
    bool skew_known, skew_warning;
} rs_fleet_instance;

typedef struct rs_fleet_region {
    const char *region;
    const char *state;         /* RS_DRIFT_*: the worst state of its live followers; stale when none */
    size_t n_instances;        /* followers listed (live, stale and superseded) */
    size_t n_live;             /* not stale */
    size_t n_in_state;         /* live followers in `state` */
    size_t counts[6];          /* followers per state, in rs_fleet_state_names order */
    char summary[64];          /* "in_sync 3/3", "paused 1/3", "stale 0/2" */
    uint64_t min_applied, max_applied; /* over live followers (0 when none) */
    size_t first;              /* its followers are instances[first .. first + n_instances) */
} rs_fleet_region;

typedef struct rs_fleet_snap {
    bool has_head;
    rs_head head;
    rs_fleet_instance *instances;  /* followers, by region then instance */
    size_t n_instances;
    rs_fleet_region *regions;      /* by name */
    size_t n_regions;
    rs_fleet_instance *publishers; /* publish-only agents */
    size_t n_publishers;
    int64_t refreshed_ms;          /* wall clock of the refresh */
    int64_t refresh_ms;            /* how long it took */
    uint64_t refresh_requests, refresh_bytes; /* store round trips and bytes in of that refresh */
    size_t pruned;                 /* reports removed by that refresh */
    int64_t stale_after_ms, forget_after_ms;
    char error[RS_ERROR_MSG_MAX];  /* why the refresh failed ("" when it did not): the view is the
                                      previous one's data */
    char *json;                    /* rs_fleet_to_json of this snapshot, compact, with a newline;
                                      made once by the refresh (NULL if that failed) */
    size_t json_len;
    int refs;                      /* private */
} rs_fleet_snap;

/* States in order of severity (the worst first) for region aggregation: diverged, modified,
 * stale, behind, paused, in_sync. */
extern const char *const rs_fleet_state_names[6];

rs_fleet *rs_fleet_new(rs_storage *s, const rs_fleet_opts *o);
void rs_fleet_free(rs_fleet *f);

/* One refresh (see above). On error the previous snapshot stays in place, marked with the error. */
int rs_fleet_refresh(rs_fleet *f, rs_error *err);

/* The latest snapshot (a new reference), NULL before the first refresh. */
const rs_fleet_snap *rs_fleet_snapshot(rs_fleet *f);
void rs_fleet_snap_release(const rs_fleet_snap *s);

/* The region of that name in a snapshot, or NULL. */
const rs_fleet_region *rs_fleet_find_region(const rs_fleet_snap *s, const char *region);

/* /v1/drift: {"head", "regions": [{"region", "state", "summary", "instances": [...], ...}],
 * "publishers": [...], "counts": {...}, "refreshed", ...}; the shape is in docs/drift.md. */
json_t *rs_fleet_to_json(const rs_fleet_snap *s);

/* /v1/wait: have every live follower of the named regions ("all" or NULL: every region; else a
 * comma list of regions) applied at least version? *waiting (may be NULL) receives a new array
 * of "region/instance" still below it. RS_ENOTFOUND (message naming it) for a region this
 * snapshot does not know; RS_OK otherwise, with *done. */
int rs_fleet_wait_check(const rs_fleet_snap *s, uint64_t version, const char *regions, bool *done, json_t **waiting,
                        rs_error *err);

#endif
