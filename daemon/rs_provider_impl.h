/* rs_provider_impl.h (private to daemon/): the provider's state. */
#ifndef RS_PROVIDER_IMPL_H
#define RS_PROVIDER_IMPL_H

#include <pthread.h>

#include "rs_daemon.h"
#include "rs_drift.h"
#include "rs_journal.h"

struct rs_provider {
    rs_agent *agent;          /* borrowed */
    const rs_config *cfg;     /* borrowed */
    rs_admin *admin;          /* borrowed */
    pthread_mutex_t mu;       /* guards store and journal */
    rs_storage *store;
    rs_journal *journal;
    rs_drift_ctx *drift;      /* caches expected digests across calls */
    pthread_mutex_t step_mu;  /* guards steps */
    pthread_cond_t step_cv;   /* signalled after every agent step */
    uint64_t steps;           /* agent steps completed since the provider was made */
};

int rs_provider_store(rs_provider *p, rs_storage **s, rs_error *err);
/* GET /v1/drift (rs_provider_drift.c) */
json_t *rs_provider_drift(void *ctx, const char *region, const char *other, rs_error *err);

#endif
