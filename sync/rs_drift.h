/* rs_drift.h: the cross-region picture. Reads every region's report (regsync/regions/<region>,
 * a regsync.v1.RegionStatus written by rs_agent_report), judges each region against the log, and
 * tells the object-level differences between two regions' copies. See docs/drift.md.
 *
 * States, in order of precedence (the first that applies wins):
 *   stale     no heartbeat within stale_after (or the report does not decode)
 *   paused    the agent is paused
 *   diverged  the agent says so, or its applied_digest is not what the log says the region's
 *             filtered view at applied_version digests to
 *   modified  its target changed locally (target_modified, or target_digest != written_digest
 *             beyond kept regional meta, or no readable target while it claims a version)
 *   behind    applied_version < HEAD
 *   in_sync   none of the above
 *
 * Ownership: rs_drift_read_reports returns an array the caller frees with
 * rs_region_reports_free; every string in a report is owned by it and never NULL ("" when
 * absent). rs_drift_compute returns a malloc'd array of rows (caller free()s it) whose `report`
 * pointers are borrowed from the reports passed in, and whose `state` points to a constant.
 * JSON values returned are new references (caller json_decref). A context borrows its storage
 * handle (which must outlive it); calls on one context are serialized by an internal lock and
 * the context is the only user of the handle while a call runs, so a handle given to a
 * context must not be used by another thread at the same time. Every function accepts a NULL
 * err; the free functions accept NULL.
 */
#ifndef RS_DRIFT_H
#define RS_DRIFT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_logproto.h"
#include "rs_storage.h"

#define RS_DRIFT_STALE "stale"
#define RS_DRIFT_PAUSED "paused"
#define RS_DRIFT_DIVERGED "diverged"
#define RS_DRIFT_MODIFIED "modified"
#define RS_DRIFT_BEHIND "behind"
#define RS_DRIFT_IN_SYNC "in_sync"

#define RS_DRIFT_DEFAULT_STALE_AFTER_MS 120000

/* One object key of a report (regsync.v1.ObjectKey). */
typedef struct rs_report_key {
    uint32_t kind;
    uint32_t ordinal;
    char *project;
    char *name;
} rs_report_key;

typedef struct rs_applied_at {
    uint64_t version;
    int64_t at_ms;
} rs_applied_at;

/* A decoded RegionStatus. Times are wall-clock ms since the epoch, 0 when absent. */
typedef struct rs_region_report {
    char *key;                    /* the storage key it was read from ("" when decoded from bytes) */
    char *region;                 /* the report's region; the key's last segment when it has none */
    char *error;                  /* NULL, or why it could not be read or decoded (the fields
                                     below are then zero / "") */
    size_t bytes;                 /* size of the stored report */
    uint64_t applied_version, head_version, pinned_version, attempted_version;
    bool has_applied_digest, has_applied_content_digest, has_target_digest, has_written_digest;
    uint8_t applied_digest[RS_DIGEST_LEN];  /* filtered global registry at applied_version */
    uint8_t applied_content_digest[RS_DIGEST_LEN];
    uint8_t target_digest[RS_DIGEST_LEN];   /* what the target really holds */
    uint8_t written_digest[RS_DIGEST_LEN];  /* what the agent wrote (filtered + kept regional meta) */
    int64_t heartbeat_ms, last_success_ms, applied_at_ms, last_error_at_ms, published_at_ms;
    char *last_error;
    bool paused;
    bool target_modified;
    char *state;                  /* the agent's own view: following, paused, pinned, diverged, ... */
    char *agent;
    char *log_store;
    char **include_projects;      /* the region's filter (globs); n == 0: everything */
    size_t n_include;
    char **exclude_projects;
    size_t n_exclude;
    rs_report_key *modified_objects;      /* local changes other than regional meta */
    size_t n_modified;
    rs_report_key *regional_meta_objects; /* objects whose regional materialization meta is kept */
    size_t n_regional_meta;
    /* format 2 (regsync/regions/<region>/<instance>); for a format-1 report (the region layout)
     * instance is "", follows/publishes are inferred (a publish-only agent says "publishing"
     * and applied nothing) and the rest is zero */
    char *instance;
    uint32_t format;
    bool follows, publishes;
    bool error_current;
    int64_t written_at_ms, started_at_ms, last_publish_at_ms;
    int64_t heartbeat_interval_ms;
    uint64_t last_published_version;
    rs_applied_at *recent;            /* oldest first */
    size_t n_recent;
    char *control;                    /* the region-wide control it obeys, "" */
    uint64_t epoch;                   /* the highest HEAD epoch the agent has seen */
    char *read_store;                 /* the store it reads (and reports) from, "" when not said */
    char *epoch_change;               /* its last "epoch change: from ... to ...", "" when none */
    int64_t epoch_change_at_ms;
    /* filled by readers from the store listing, not part of the message */
    int64_t mtime_ms;                 /* the store's time of the last write (0: unknown) */
    char etag[RS_ETAG_MAX];
} rs_region_report;

/* Decodes a RegionStatus into *out (which need not be initialized). On RS_ECORRUPT the report is
 * still filled (zeroed, error set) so it can be shown; the caller clears it either way with
 * rs_region_report_clear (after RS_ENOMEM it is already cleared; clearing again is harmless). */
int rs_region_report_decode(const uint8_t *p, size_t n, rs_region_report *out, rs_error *err);
/* Encodes a report back into a RegionStatus (key, error and bytes are not part of it). *out is
 * malloc'd (caller frees). Used by tools and tests that write reports. */
int rs_region_report_encode(const rs_region_report *r, uint8_t **out, size_t *len, rs_error *err);
void rs_region_report_clear(rs_region_report *r);

/* Lists regsync/regions/ and reads every report, sorted by key. A report that cannot be read
 * or decoded is returned with `error` set, not dropped. An error return means the listing
 * itself failed. */
int rs_drift_read_reports(rs_storage *s, rs_region_report **out, size_t *n, rs_error *err);
/* Reads one report: name is "region/instance", or "region" for that region's most recently
 * written instance report (or its region-layout report). RS_ENOTFOUND when there is none; a
 * report that does not decode is returned (RS_OK) with `error` set. */
int rs_drift_read_report(rs_storage *s, const char *name, rs_region_report *out, rs_error *err);
void rs_region_reports_free(rs_region_report *v, size_t n);

typedef struct rs_drift_opts {
    int64_t stale_after_ms;       /* 0: RS_DRIFT_DEFAULT_STALE_AFTER_MS */
    int64_t now_ms;               /* wall clock; 0: now */
} rs_drift_opts;

typedef enum rs_drift_check {
    RS_DRIFT_CHECK_SKIPPED = 0,   /* not needed (stale, paused, nothing applied) */
    RS_DRIFT_CHECK_OK = 1,        /* applied_digest matches the log */
    RS_DRIFT_CHECK_MISMATCH = 2,  /* it does not: diverged */
    RS_DRIFT_CHECK_UNKNOWN = 3,   /* the log cannot tell (compacted, store error): see reason */
} rs_drift_check;

typedef struct rs_drift_row {
    rs_region_report *report;     /* borrowed */
    const char *state;            /* one of RS_DRIFT_* (a constant) */
    uint64_t versions_behind;     /* HEAD - applied_version, 0 when at or past HEAD */
    double lag_seconds;           /* 0 when not behind; else now - publish time of the first
                                     version the region lacks */
    char reason[256];             /* one line: why this state ("" when in sync with nothing to say) */
    int64_t heartbeat_age_ms;     /* now - heartbeat; -1 without a heartbeat */
    rs_drift_check digest_check;
    uint8_t expected_digest[RS_DIGEST_LEN]; /* with OK / MISMATCH: the log's filtered digest */
} rs_drift_row;

typedef struct rs_drift_ctx rs_drift_ctx;

/* A context caches what the immutable log tells: the expected (filtered) digest per
 * (version, filter), the publish time per version, and the last rebuilt registry (so that
 * checking several regions costs one rebuild plus the entries between their versions). */
rs_drift_ctx *rs_drift_ctx_new(rs_storage *s);
void rs_drift_ctx_free(rs_drift_ctx *c);

/* The global registry at version (0: empty), a new registry the caller frees. Uses the
 * context's cache: rebuilding an increasing series of versions costs one snapshot plus the
 * entries in between. A version beyond HEAD is rebuilt when the log has it (the log is the
 * truth when HEAD lags). RS_ENOTFOUND when the version was compacted away or never existed. */
int rs_drift_materialize(rs_drift_ctx *c, const rs_head *head, uint64_t version, rs_registry **out, rs_error *err);

/* One row per report, in the order given. head: the current HEAD (version 0 or NULL: no log
 * yet). Store errors while checking digests or publish times do not fail the call: the row says
 * what could not be checked. Returns RS_ENOMEM / RS_EINVALID only. */
int rs_drift_compute(rs_drift_ctx *c, const rs_head *head, rs_region_report *reports, size_t n,
                     const rs_drift_opts *o, rs_drift_row **rows, rs_error *err);

/* {"head": {...} | null, "regions": [{"region", "state", "reason", "applied_version",
 *  "versions_behind", "lag_seconds", "heartbeat", "heartbeat_age_seconds", "last_error", ...}],
 *  "counts": {"in_sync": n, ...}}; the full shape is in docs/drift.md. */
json_t *rs_drift_to_json(const rs_drift_row *rows, size_t n, const rs_head *head);
/* One row as JSON (the region fields of rs_drift_to_json). */
json_t *rs_drift_row_json(const rs_drift_row *row);
/* The "head" member alone (also what `regsync-dump head` prints). */
json_t *rs_drift_head_json(const rs_head *head);

/* The object-level differences between two regions' copies at their versions: rebuilds each
 * region's view from the log (its applied version, its filter), diffs them (property detail and
 * classes spec/meta/registry), marks what one region's filter explains as expected
 * ("filtered"), and adds each region's reported regional meta objects (expected, "regional
 * meta kept") and local modifications (unexpected). Shape in docs/drift.md. RS_ENOTFOUND when a
 * version cannot be rebuilt (compacted), RS_EINVALID for a report that did not decode. */
int rs_drift_pair(rs_drift_ctx *c, const rs_head *head, const rs_region_report *x, const rs_region_report *y,
                  json_t **out, rs_error *err);

#endif
