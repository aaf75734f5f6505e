/* rs_agent.h: one region's regsync agent: follows the log into the regional copy (and, when
 * configured, publishes the source first), keeps the journal, reports its position to
 * regsync/regions/<region>, and answers pause/resume/pin/rollback.
 *
 * Threading: the agent's storage, journal and target are used by one thread at a time: the
 * thread that calls rs_agent_step/sync_once/publish_once, or the thread inside rs_agent_run.
 * rs_agent_status, rs_agent_wake, rs_agent_stop and the control calls (pause, resume, pin,
 * unpin, rollback) are thread-safe and never block on I/O: control calls take effect at the
 * next step, which they trigger.
 *
 * Ownership: the agent copies what it needs from the config; the caller owns the agent
 * (rs_agent_close) and every buffer returned.
 */
#ifndef RS_AGENT_H
#define RS_AGENT_H

#include "rs_logproto.h"
#include "rs_storage.h"

typedef enum rs_local_policy {
    RS_POLICY_KEEP_REGIONAL_META = 0, /* keep regional meta (materialization intervals); overwrite other local changes */
    RS_POLICY_OVERWRITE = 1,          /* overwrite every local change */
    RS_POLICY_STOP = 2,               /* stop writing the target while it has local changes */
} rs_local_policy;

const char *rs_local_policy_name(rs_local_policy p);
int rs_local_policy_parse(const char *s, rs_local_policy *out);

typedef struct rs_agent_config {
    const char *region;             /* required */
    const char *instance;           /* this agent within the region; NULL/"": $POD_NAME, else the host
                                       name, made [a-z0-9-]+ (rs_agent_default_instance) */
    const char *store_url;          /* required */
    const char *source;             /* publishers: key in the store or URL */
    const char *target;             /* NULL: publish-only agent */
    const char *state_dir;          /* required */
    bool publish;
    const char *const *include_projects; /* globs; NULL/0: everything */
    size_t n_include;
    const char *const *exclude_projects;
    size_t n_exclude;
    rs_local_policy on_local_change;
    uint64_t snapshot_every;        /* 0: 100 */
    double max_delete_fraction;     /* publishers: the destructive-change guard; 0: 0.5 */
    bool allow_destructive;         /* publishers: no guard (publish --once --allow-destructive) */
    rs_retention retention;
    int64_t poll_interval_ms;       /* 0: 5000 */
    int64_t heartbeat_interval_ms;  /* 0: 30000 */
    int64_t stale_after_ms;         /* 0: 120000 */
    int64_t forget_after_ms;        /* 0: 3600000 (the fleet view prunes reports silent this long) */
    int64_t max_clock_skew_ms;      /* 0: 30000 */
    int64_t max_staleness_ms;       /* 0: 300000 */
    const char *publisher_id;       /* NULL: region/host/pid */
    bool compare_full;
    bool no_watch;                  /* poll only: no push (LISTEN) handle even where the store has one */
    unsigned fetch_parallel;        /* log entries fetched at once; 0: 4 */
    rs_storage_opts store_opts;
    /* Disaster recovery (docs/operations.md). replicas: "name=url" items. A publisher copies
     * each version to every replica; a follower reads the stores in read_from order (names:
     * "primary" for store_url, replica names; none: primary then the replicas as listed), moves
     * to the next after failover_after_ms of failed polls (0: at the first), and returns to the
     * first when it answers again. */
    const char *const *replicas;
    size_t n_replicas;
    const char *const *read_from;
    size_t n_read_from;
    int64_t failover_after_ms;
} rs_agent_config;

typedef struct rs_agent rs_agent;

#define RS_ERRKINDS 8
extern const char *const rs_errkind_names[RS_ERRKINDS]; /* "store", "corrupt", "target", "journal", "source", "conflict", "local_change", "other" */

typedef struct rs_agent_status {
    char region[64];
    char instance[64];
    char state[48];                 /* starting, waiting, following, publishing, paused, pinned,
                                       diverged, stopped, error (a target or journal write failed) */
    uint64_t applied_version;       /* what the target and the journal durably hold */
    uint64_t head_version;
    uint64_t attempted_version;     /* last tried when it failed; 0 otherwise */
    uint64_t pinned_version;        /* in force: the region-wide pin, else this instance's */
    bool paused;                    /* in force: this instance or the region is paused */
    bool instance_paused;           /* this instance's own controls (POST /v1/pause) */
    uint64_t instance_pinned;
    bool region_paused;             /* the region-wide control record (regsync/control/<region>) */
    uint64_t region_pinned;
    char control[256];              /* the region-wide control obeyed, "" when none */
    bool has_state;                 /* a local copy exists */
    uint8_t digest[RS_DIGEST_LEN];          /* global registry at applied_version */
    uint8_t filtered_digest[RS_DIGEST_LEN]; /* this region's filtered view */
    uint8_t written_digest[RS_DIGEST_LEN];  /* what the agent wrote */
    uint8_t target_digest[RS_DIGEST_LEN];   /* what the target holds (re-read) */
    bool target_known;
    bool target_modified;
    char source_etag[RS_ETAG_MAX];
    int64_t last_success_ms;        /* last successful poll (wall) */
    int64_t last_apply_ms;
    int64_t applied_published_ms;   /* publish time of applied_version */
    int64_t head_updated_ms;
    int64_t last_error_ms;
    char last_error[RS_ERROR_MSG_MAX];
    bool error_current;             /* last_error is still current: no successful step since */
    uint64_t polls, polls_unchanged, applies, bootstraps, rollbacks, publishes, heartbeats;
    uint64_t errors[RS_ERRKINDS];
    uint64_t last_published_version;
    int64_t last_publish_ms;
    rs_storage_stats store;         /* every handle of the agent, as of its last step */
    size_t n_modified, n_regional_meta;
    bool publish;
    bool ready;                     /* local copy present and fresh (max_staleness) */
    char read_store[64];            /* the store this agent reads from ("primary" or a replica) */
    size_t n_stores;                /* stores in its read order */
    uint64_t store_failovers;       /* moves to the next store after failed polls */
    uint64_t store_returns;         /* moves back to the preferred store */
    uint64_t epoch;                 /* the highest HEAD epoch seen (persisted in the journal) */
    char epoch_change[160];         /* the last "epoch change: from version N (epoch e) to version
                                       M (epoch e+1)" of this process, "" when none */
    int64_t epoch_change_ms;        /* when (wall), 0 when none */
    bool store_behind;              /* the store read from lags this agent's version */
    struct {                        /* publishers: their replicas (the first 8) */
        char name[64];
        uint64_t version, copies, failures;
        bool behind;
    } replicas[8];
    size_t n_replica_stats;
} rs_agent_status;

int rs_agent_open(const rs_agent_config *cfg, rs_agent **out, rs_error *err);
void rs_agent_close(rs_agent *a);

/* One cycle: publish (publishers), follow, report. *changed: a version was applied. */
int rs_agent_step(rs_agent *a, bool *changed, rs_error *err);
/* Follows until the target holds the latest (or pinned) version; for `regsyncd sync --once`. */
int rs_agent_sync_once(rs_agent *a, rs_error *err);
/* Publishes the source once if it changed; for `regsyncd publish --once`. */
int rs_agent_publish_once(rs_agent *a, uint64_t *version, bool *changed, rs_error *err);
/* Writes this region's report now. */
int rs_agent_report(rs_agent *a, rs_error *err);

/* The loop: steps every poll interval (jittered), on wake-ups, and on push notifications
 * (backends with watch); reports a heartbeat every heartbeat interval. Returns after stop. */
void rs_agent_run(rs_agent *a);
void rs_agent_stop(rs_agent *a);
void rs_agent_wake(rs_agent *a);

void rs_agent_status_get(rs_agent *a, rs_agent_status *out);
/* Called (from the agent's thread) after every step; e.g. to notify admin long-polls. */
void rs_agent_on_change(rs_agent *a, void (*fn)(void *ctx), void *ctx);

void rs_agent_pause(rs_agent *a);
void rs_agent_resume(rs_agent *a);
int rs_agent_pin(rs_agent *a, uint64_t version, rs_error *err);   /* follow up to version only */
void rs_agent_unpin(rs_agent *a);
int rs_agent_rollback(rs_agent *a, uint64_t version, rs_error *err); /* pin + go back to version */
/* Asks for a publish at the next step (publishers only); allow_destructive lets that one publish
 * past the destructive-change guard. */
int rs_agent_request_publish(rs_agent *a, rs_error *err);
int rs_agent_request_publish_ex(rs_agent *a, bool allow_destructive, rs_error *err);

/* The agent's configuration (borrowed). */
const rs_agent_config *rs_agent_config_get(const rs_agent *a);
/* The default instance name: $POD_NAME, else the host name, lower-cased with every character
 * outside [a-z0-9-] made '-', at most 63 characters ("agent" when nothing is left). */
void rs_agent_default_instance(char *out, size_t n);

/* Whether a project passes this region's filter. */
bool rs_agent_project_allowed(const rs_agent_config *cfg, const char *project);

#endif
