/* rs_drift_impl.h: private to sync/ (docs/architecture.md): what the pieces of the drift view
 * share: the context with its caches, a region's project filter, and the helpers one piece defines
 * for the others (the region's view and its expected digest). The public interface is rs_drift.h. */
#ifndef RS_DRIFT_IMPL_H
#define RS_DRIFT_IMPL_H

#include "rs_drift.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct digest_entry {
    uint64_t version;
    char *filter;          /* canonical filter key; "" for none */
    uint8_t digest[RS_DIGEST_LEN];
} digest_entry;

typedef struct entry_info {
    uint64_t version;
    int64_t published_ms;
    uint8_t result[RS_DIGEST_LEN];
} entry_info;

struct rs_drift_ctx {
    rs_storage *s;
    pthread_mutex_t mu;
    digest_entry *dig;
    size_t ndig, capdig;
    entry_info *ent;
    size_t nent, capent;
    rs_registry *reg;      /* the global registry at reg_version, the last one rebuilt */
    uint64_t reg_version;
};

typedef struct filter_ref {
    char *const *inc;
    size_t ninc;
    char *const *exc;
    size_t nexc;
} filter_ref;

/* rs_drift.c */
filter_ref dr_report_filter(const rs_region_report *r);
bool dr_filter_allows(const filter_ref *f, const char *project);
int dr_view_at(rs_drift_ctx *c, const rs_head *head, uint64_t version, const filter_ref *f, rs_registry **out,
               rs_error *err);
int dr_expected_digest(rs_drift_ctx *c, const rs_head *head, uint64_t version, const filter_ref *f,
                       uint8_t out[RS_DIGEST_LEN], rs_error *err);
/* rs_drift_report.c */
bool dr_digest_is_zero(const uint8_t *d);

#endif
