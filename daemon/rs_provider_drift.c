/* rs_provider_drift.c: GET /v1/drift for the admin API, on the drift engine (sync/rs_drift.h).
 * Runs on an admin worker thread with the provider's own store handle. */
#include "rs_drift.h"
#include "rs_provider_impl.h"

#include <stdlib.h>
#include <string.h>

json_t *rs_provider_drift(void *ctx, const char *region, const char *other, rs_error *err)
{
    rs_provider *p = ctx;
    json_t *out = NULL;
    pthread_mutex_lock(&p->mu);
    rs_storage *s;
    if (rs_provider_store(p, &s, err))
        goto done;
    if (!p->drift)
        p->drift = rs_drift_ctx_new(s);
    if (!p->drift) {
        rs_error_set(err, RS_ENOMEM, "out of memory");
        goto done;
    }
    rs_head h;
    int rc = rs_log_read_head(s, NULL, &h, NULL, err);
    if (rc == RS_ENOTFOUND) {
        memset(&h, 0, sizeof h); /* nothing published yet: regions can still be listed */
        rc = RS_OK;
    }
    if (rc)
        goto done;
    rs_region_report *reps = NULL;
    size_t n = 0;
    if (rs_drift_read_reports(s, &reps, &n, err) == RS_OK) {
        if (region && other) {
            const rs_region_report *x = NULL, *y = NULL;
            for (size_t i = 0; i < n; i++) {
                if (strcmp(reps[i].region, region) == 0)
                    x = &reps[i];
                if (strcmp(reps[i].region, other) == 0)
                    y = &reps[i];
            }
            if (!x || !y)
                rs_error_set(err, RS_ENOTFOUND, "no report from region '%s'", !x ? region : other);
            else
                rs_drift_pair(p->drift, &h, x, y, &out, err);
        } else {
            rs_drift_opts o = {.stale_after_ms = p->cfg->stale_after_ms};
            rs_drift_row *rows = NULL;
            if (rs_drift_compute(p->drift, &h, reps, n, &o, &rows, err) == RS_OK) {
                out = rs_drift_to_json(rows, n, h.version ? &h : NULL);
                free(rows);
            }
        }
        rs_region_reports_free(reps, n);
    }
    rs_head_clear(&h);
done:
    pthread_mutex_unlock(&p->mu);
    return out;
}
