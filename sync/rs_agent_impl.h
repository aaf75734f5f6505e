/* rs_agent_impl.h (private to sync/): the agent's state, shared by rs_agent.c and rs_follow.c. */
#ifndef RS_AGENT_IMPL_H
#define RS_AGENT_IMPL_H

#include <pthread.h>

#include "rs_agent.h"
#include "rs_control.h"
#include "rs_journal.h"
#include "rs_publisher.h"
#include "rs_target.h"

#define RS_MAX_FETCH 8

enum { EK_STORE, EK_CORRUPT, EK_TARGET, EK_JOURNAL, EK_SOURCE, EK_CONFLICT, EK_LOCAL, EK_OTHER };

typedef struct rs_applied_at_t {
    uint64_t version;
    int64_t at_ms;
} rs_applied_at_t;

typedef struct rs_key_list {
    uint32_t *kind;
    char **project, **name;
    size_t n;
} rs_key_list;

struct rs_agent {
    rs_agent_config cfg;          /* strings below are owned copies */
    char **inc, **exc;
    char *region, *store_url, *source, *target_url, *state_dir, *publisher_id;
    char instance[64];
    int64_t started_ms;
    char *store_desc;

    rs_storage *store;            /* agent thread */
    rs_storage *fetch[RS_MAX_FETCH];
    rs_storage *watch;            /* push notifications (own handle), NULL without RS_CAP_WATCH */
    rs_journal *journal;
    rs_target *target;
    rs_publisher *pub;

    /* follower state: agent thread only */
    rs_registry *state;           /* global registry at state_version; NULL: none */
    uint64_t state_version;
    int64_t state_published_ms;
    rs_registry *written;         /* what was written to the target; NULL: same as state */
    rs_target_stamp written_stamp;
    uint8_t written_digest[RS_DIGEST_LEN];
    bool have_written;
    rs_head head;
    char head_etag[RS_ETAG_MAX];
    uint64_t bad_version;         /* a log entry that failed; wait for a snapshot at or past it */
    rs_key_list modified;         /* local changes other than regional meta */
    rs_key_list regional;         /* objects whose regional meta is kept (keys of regional_objs) */
    rs_registry *regional_objs;   /* the target's own copies of those objects */
    bool target_unreadable;       /* the target does not decode */
    int64_t last_target_check_mono;
    int64_t last_heartbeat_mono;
    int64_t last_compact_mono;
    bool saved_paused;            /* control state as last written to the journal */
    uint64_t saved_pinned;

    /* the durable position: what the target and the journal both hold. It moves only after the
     * target was written (fsync, rename, directory fsync) and the journal recorded it; status,
     * reports, readiness and drift are derived from it, never from `state` */
    uint64_t applied_version;
    int64_t applied_published_ms;
    uint8_t applied_digest[RS_DIGEST_LEN];    /* global registry at applied_version */
    uint8_t applied_filtered[RS_DIGEST_LEN];  /* this region's filtered view of it */
    bool write_pending;           /* `state` is not (all) in the target: write it (again) */
    struct rs_apply_info *pending_info; /* what the pending write will journal (merged) */
    int fail_kind;                /* EK_* of the last failure inside the follower, -1: none */
    int last_fail_rc;             /* its code, returned again while backing off */
    /* backoff for failed writes, refused entries and failed bootstraps: no retry before
     * retry_at_mono (0: none scheduled); the delay doubles from the poll interval to 1 min */
    int64_t retry_at_mono;
    int64_t retry_delay_ms;
    bool last_step_failed;        /* the previous step failed: report a change of state at once */

    /* reports (format 2): a heartbeat rewrites the same bytes; written_at moves only with content */
    uint8_t *report_content;      /* the last report packed without written_at */
    size_t report_content_len;
    uint8_t *report_bytes;        /* ... and as written */
    size_t report_bytes_len;
    bool legacy_checked;          /* the region-layout report was looked at once */
    rs_applied_at_t recent[10];   /* the last versions applied (oldest first) */
    size_t n_recent;

    /* the region-wide control record: agent thread only */
    rs_region_control rctl;
    bool have_rctl;
    char rctl_etag[RS_ETAG_MAX];
    uint64_t rctl_serial_seen;    /* journaled up to this serial */
    struct rs_target_lock *lock;  /* held while the agent may write the target */

    /* shared: under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, wake, paused, publish_req;
    bool sync_req;                /* an explicit sync (POST /v1/sync): retry now, skip backoff */
    bool publish_allow_destructive; /* the requested publish may delete more than the guard */
    uint64_t pinned;
    rs_agent_status st;
    void (*on_change)(void *);
    void *on_change_ctx;
};

/* rs_agent.c */
/* The EK_* counter of an error from its origin (set where it was made: store, source, target,
 * journal); fallback when the origin does not say (NONE, DATA, CONFIG). */
int rs_agent_error_kind(const rs_error *err, int fallback);
void rs_agent_record_error(rs_agent *a, int kind, uint64_t version, const rs_error *err);
void rs_agent_set_state(rs_agent *a, const char *state);
void rs_key_list_clear(rs_key_list *l);
int rs_key_list_add(rs_key_list *l, uint32_t kind, const char *project, const char *name);

#endif
