/* rs_provider_impl.h (private to daemon/): the provider's state. */
#ifndef RS_PROVIDER_IMPL_H
#define RS_PROVIDER_IMPL_H

#include <pthread.h>

#include "rs_buf.h"
#include "rs_daemon.h"
#include "rs_drift.h"
#include "rs_fleet.h"
#include "rs_journal.h"

#define RS_PROVIDER_POOL 4
#define RS_PROVIDER_UNKNOWN 8

struct rs_provider {
    rs_agent *agent;          /* borrowed */
    const rs_config *cfg;     /* borrowed */
    rs_admin *admin;          /* borrowed */
    pthread_mutex_t mu;       /* guards journal */
    rs_journal *journal;
    pthread_mutex_t step_mu;  /* guards steps */
    pthread_cond_t step_cv;   /* signalled after every agent step */
    uint64_t steps;           /* agent steps completed since the provider was made */
    /* store handles for slow calls, one per call at a time (rs_provider_store_acquire) */
    pthread_mutex_t pool_mu;
    rs_storage *pool[RS_PROVIDER_POOL];
    size_t n_pool;
    /* the fleet view (rs_provider_fleet.c) */
    rs_fleet *fleet;
    rs_storage *fleet_store;  /* the refresher thread's own handle */
    rs_storage *fleet_also[64]; /* ... and one per replica that could be opened (their reports) */
    size_t n_fleet_also;
    pthread_t fleet_th;
    bool fleet_running, fleet_stop, fleet_wake, fleet_sync_init;
    pthread_mutex_t fleet_mu;
    pthread_cond_t fleet_cv;
    int64_t last_wait_mono;   /* a /v1/wait was checked then (atomic) */
    struct {
        char regions[256];
        int64_t at_ms;        /* first found unknown (wall); 0: free slot */
    } unknown[RS_PROVIDER_UNKNOWN]; /* under pool_mu */
};

/* A store handle of the provider's pool (opened when none is free); give it back with release. */
int rs_provider_store_acquire(rs_provider *p, rs_storage **s, rs_error *err);
void rs_provider_store_release(rs_provider *p, rs_storage *s);

/* rs_provider_fleet.c */
int rs_provider_fleet_start(rs_provider *p, rs_error *err);
void rs_provider_fleet_stop(rs_provider *p);
void rs_provider_fleet_wake(rs_provider *p);
json_t *rs_provider_drift(void *ctx, const char *region, const char *other, rs_error *err);
char *rs_provider_drift_text(void *ctx, size_t *len);
int rs_provider_wait_check(void *ctx, uint64_t version, const char *regions, bool *done, json_t **detail, rs_error *err);
void rs_provider_fleet_metrics(rs_provider *p, rs_buf *out);
json_t *rs_provider_region_control(rs_provider *p, const char *action, uint64_t version, const char *by, rs_error *err);

#endif
