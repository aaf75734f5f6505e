/* rs_journal.h: the local SQLite journal of a regional agent, <state_dir>/journal.db.
 *
 * What it holds (docs/journal.md has the schema and the crash-recovery protocol):
 *   applied     one row per version that makes up what the target holds now (the lineage):
 *               times, digests, operation counts, source ETag, publisher, kind
 *   superseded  rows moved out of `applied` by a rollback, pin or bootstrap to an earlier version
 *   events      errors, bootstraps, rollbacks, drift, pause/resume, ... (ids never reused)
 *   state       small key/value facts: paused, pinned version, head ETag, what the agent last
 *               wrote to the target (digest, mtime, size, inode)
 *   pending     at most one entry: "the target is being replaced by version N" (set before the
 *               rename, cleared by rs_journal_record_apply) so that a restart can tell whether
 *               the rename happened
 * SQLite in WAL mode, synchronous=FULL (a commit survives power loss), busy_timeout, schema
 * versioned by PRAGMA user_version and migrated on open, application_id 'RSYJ'.
 *
 * Concurrency: one read-write handle per state_dir at a time (an flock on
 * <state_dir>/journal.lock; a second one gets RS_ECONFLICT); any number of read-only handles
 * (admin API, regsync-dump) read while it writes, in the writer's process or another: journal.db
 * is only ever opened through SQLite (an open()/close() beside it would drop the process's POSIX
 * locks), and a read-only handle never checkpoints or deletes the WAL when it closes. A handle is
 * used by one thread at a time.
 *
 * Ownership: the caller owns the handle (rs_journal_close, NULL ok). Entries, events and strings
 * returned through out-parameters are malloc'd and owned by the caller: rs_journal_entry_clear,
 * rs_journal_entries_free, rs_journal_events_free, rs_journal_counts_clear, free() for state
 * values. Inputs are borrowed for the call. Every function accepts a NULL err. Errors name the
 * journal path and the operation; a damaged file is RS_ECORRUPT.
 */
#ifndef RS_JOURNAL_H
#define RS_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_error.h"
#include "rs_log.h"

#define RS_JOURNAL_DIGEST_LEN 32
#define RS_JOURNAL_SCHEMA_VERSION 1
#define RS_JOURNAL_FILE "journal.db"

typedef struct rs_journal rs_journal;

typedef enum rs_journal_kind {
    RS_JOURNAL_APPLY = 0,     /* a log entry applied on top of the previous version */
    RS_JOURNAL_BOOTSTRAP = 1, /* the target written from a snapshot */
    RS_JOURNAL_ROLLBACK = 2,  /* the target set back to an earlier version */
    RS_JOURNAL_PIN = 3,       /* the target set to a pinned version */
} rs_journal_kind;

typedef struct rs_journal_entry {
    uint64_t version;             /* 1 .. INT64_MAX */
    rs_journal_kind kind;
    int64_t applied_at_ms;        /* wall clock; 0 on record: now */
    int64_t published_at_ms;      /* from the log entry; 0: unknown */
    int64_t duration_ms;          /* fetch + apply + write */
    bool has_parent_digest, has_result_digest, has_filtered_digest, has_target_digest;
    uint8_t parent_digest[RS_JOURNAL_DIGEST_LEN];   /* digest the change applies to */
    uint8_t result_digest[RS_JOURNAL_DIGEST_LEN];   /* the global registry after it */
    uint8_t filtered_digest[RS_JOURNAL_DIGEST_LEN]; /* this region's filtered view */
    uint8_t target_digest[RS_JOURNAL_DIGEST_LEN];   /* what was written to the target (filtered
                                                       view plus kept regional meta) */
    uint64_t ops_put, ops_delete;
    char *counts_by_kind;         /* a JSON object {"feature_views": 2, ...}, or NULL */
    char *source_etag;            /* or NULL */
    char *publisher;              /* or NULL */
} rs_journal_entry;

typedef struct rs_journal_event_rec {
    int64_t id;                   /* increasing, never reused */
    int64_t at_ms;
    rs_log_level level;
    char *kind;                   /* "error", "bootstrap", "rollback", "drift", "pause", ... */
    uint64_t version;             /* 0: none */
    char *message;
} rs_journal_event_rec;

/* Facts about the target file as the agent last wrote it (to notice local changes cheaply). */
typedef struct rs_journal_target {
    bool has_digest;
    uint8_t digest[RS_JOURNAL_DIGEST_LEN];
    int64_t mtime_ns;
    uint64_t size;
    uint64_t inode;
} rs_journal_target;

typedef struct rs_journal_opts {
    bool readonly;                /* no writes, no lock, no migration; the file must exist */
    int busy_timeout_ms;          /* 0: 5000 */
    size_t max_events;            /* older events are pruned; 0: 100000 */
    bool skip_integrity_check;    /* skip PRAGMA quick_check on open (it reads the whole file) */
} rs_journal_opts;

typedef struct rs_journal_counts {
    uint64_t applied;             /* rows in applied */
    uint64_t by_kind[4];          /* indexed by rs_journal_kind */
    uint64_t superseded;
    uint64_t events;              /* rows in events (after pruning) */
    uint64_t events_by_level[RS_LOG_OFF]; /* debug, info, warn, error */
    struct {
        char *kind;
        uint64_t n;
    } *event_kinds;               /* events per kind, sorted by kind */
    size_t n_event_kinds;
    uint64_t first_version, last_version;   /* 0 when empty */
    int64_t last_applied_at_ms;
} rs_journal_counts;

/* Well-known state keys. */
#define RS_JSTATE_PAUSED "paused"                 /* "1" / "0" */
#define RS_JSTATE_PINNED_VERSION "pinned_version" /* decimal; absent: not pinned */
#define RS_JSTATE_HEAD_ETAG "head_etag"
#define RS_JSTATE_MAX_EPOCH "max_epoch"           /* decimal: the highest HEAD epoch seen */
#define RS_JSTATE_TARGET_DIGEST "target_digest"   /* hex; written by rs_journal_target_set */
#define RS_JSTATE_TARGET_MTIME_NS "target_mtime_ns"
#define RS_JSTATE_TARGET_SIZE "target_size"
#define RS_JSTATE_TARGET_INODE "target_inode"

/* Opens (creating state_dir 0700 and the journal when absent, unless readonly) and migrates the
 * schema. RS_ECORRUPT when the file is not a journal or fails the integrity check (the message
 * names the path), RS_EUNSUPPORTED when its schema is newer than this build, RS_ECONFLICT when
 * another read-write handle holds the lock, RS_ENOTFOUND for a readonly open of a missing file. */
int rs_journal_open(const char *state_dir, const rs_journal_opts *opts, rs_journal **out, rs_error *err);
void rs_journal_close(rs_journal *j);
const char *rs_journal_path(const rs_journal *j);   /* borrowed */

/* Records a version in one transaction, and clears any pending entry. With target != NULL the
 * target facts are stored in the same transaction.
 *   APPLY: version must be above the last one (RS_ECONFLICT otherwise), except that recording
 *          the same version with the same result digest again is a no-op (idempotent).
 *   BOOTSTRAP, ROLLBACK, PIN: may go to any version; rows at or above it move to `superseded`.
 * RS_EINVALID for version 0 or above INT64_MAX, or counts_by_kind that is not a JSON object. */
int rs_journal_record_apply(rs_journal *j, const rs_journal_entry *e, rs_error *err);
int rs_journal_record_apply_ex(rs_journal *j, const rs_journal_entry *e, const rs_journal_target *target, rs_error *err);

/* The highest applied version (RS_ENOTFOUND when empty), one version, or a page newest first:
 * versions below `before` (0: from the newest), at most limit (0: 100). */
int rs_journal_last(rs_journal *j, rs_journal_entry *out, rs_error *err);
int rs_journal_get(rs_journal *j, uint64_t version, rs_journal_entry *out, rs_error *err);
int rs_journal_list(rs_journal *j, uint64_t before, size_t limit, rs_journal_entry **out, size_t *n, rs_error *err);
void rs_journal_entry_clear(rs_journal_entry *e);   /* frees the strings, zeroes; NULL ok */
void rs_journal_entries_free(rs_journal_entry *v, size_t n);

/* Events. The message is printf-formatted and cut at 4 KiB; never pass secrets. On failure the
 * reason is in rs_journal_errmsg. */
int rs_journal_event(rs_journal *j, rs_log_level level, const char *kind, uint64_t version, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Events with id > since_id, oldest first (for tailing), at most limit (0: 100). */
int rs_journal_events(rs_journal *j, int64_t since_id, size_t limit, rs_journal_event_rec **out, size_t *n, rs_error *err);
/* The newest events, newest first, of one kind (NULL: any), at most limit (0: 100). */
int rs_journal_events_recent(rs_journal *j, const char *kind, size_t limit, rs_journal_event_rec **out, size_t *n,
                             rs_error *err);
void rs_journal_events_free(rs_journal_event_rec *v, size_t n);
const char *rs_journal_errmsg(const rs_journal *j);  /* the last error of this handle; borrowed */

/* Key/value state. value NULL deletes. get: *value malloc'd (caller frees), RS_ENOTFOUND. */
int rs_journal_state_set(rs_journal *j, const char *key, const char *value, rs_error *err);
int rs_journal_state_get(rs_journal *j, const char *key, char **value, rs_error *err);
int rs_journal_state_set_i64(rs_journal *j, const char *key, int64_t value, rs_error *err);
int rs_journal_state_get_i64(rs_journal *j, const char *key, int64_t *value, rs_error *err);

/* The target facts as last stored (RS_ENOTFOUND when never written). */
int rs_journal_target_set(rs_journal *j, const rs_journal_target *t, rs_error *err);
int rs_journal_target_get(rs_journal *j, rs_journal_target *t, rs_error *err);

/* Crash consistency (docs/journal.md). The sync engine:
 *   1. writes and fsyncs the temp file,
 *   2. rs_journal_pending_set(entry N)          <- durable before the rename
 *   3. renames it over the target, fsyncs the directory,
 *   4. rs_journal_record_apply(entry N)         <- clears pending in the same transaction.
 * On start, rs_journal_recover with what the target holds now decides. */
int rs_journal_pending_set(rs_journal *j, const rs_journal_entry *e, rs_error *err);
int rs_journal_pending_get(rs_journal *j, rs_journal_entry *out, rs_error *err);   /* RS_ENOTFOUND */
int rs_journal_pending_clear(rs_journal *j, rs_error *err);

typedef enum rs_journal_recovery {
    RS_JOURNAL_CONSISTENT = 0, /* no pending entry; the target holds what the last entry says */
    RS_JOURNAL_COMMITTED = 1,  /* the rename happened: the pending entry was recorded as applied */
    RS_JOURNAL_DISCARDED = 2,  /* the rename did not happen: the pending entry was dropped */
    RS_JOURNAL_MISMATCH = 3,   /* the target matches neither (changed locally, or missing): any
                                  pending entry was dropped; the caller compares with the next log
                                  entry, applies its drift policy, or bootstraps */
} rs_journal_recovery;

/* observed: what the target holds now (digest, and the file's mtime/size/inode), NULL when the
 * target is missing. The digest is compared like the sync engine wrote it (an entry's
 * target_digest, else filtered_digest, else result_digest). When the target agrees with the
 * journal (CONSISTENT, COMMITTED, DISCARDED) the observed facts are stored as the target facts in
 * the same transaction; on MISMATCH they are left as they were (they describe what the agent
 * wrote). Records an event ("recovery") for COMMITTED, DISCARDED and MISMATCH. */
int rs_journal_recover(rs_journal *j, const rs_journal_target *observed, rs_journal_recovery *out, rs_error *err);
const char *rs_journal_recovery_name(rs_journal_recovery r);

/* Counts for metrics. Free with rs_journal_counts_clear. */
int rs_journal_counts_get(rs_journal *j, rs_journal_counts *out, rs_error *err);
void rs_journal_counts_clear(rs_journal_counts *c);

/* Deletes superseded rows and events older than before_ms (applied rows are kept: they are the
 * lineage). Returns the number of rows deleted in *n (may be NULL). */
int rs_journal_prune(rs_journal *j, int64_t before_ms, uint64_t *n, rs_error *err);

const char *rs_journal_kind_name(rs_journal_kind k);   /* "apply", ... */
int rs_journal_kind_parse(const char *s);               /* -1 when unknown */

#endif
