/* libFuzzer target: a region report (regsync.v1.RegionStatus) as read from
 * regsync/regions/<region>/<instance> (any agent of the fleet writes them). What decodes must
 * encode and decode back to the same report. */
#include "rs_drift.h"

#include <stdlib.h>
#include <string.h>

static int same_str(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rs_region_report r, r2;
    if (rs_region_report_decode(data, size, &r, NULL) != RS_OK) {
        rs_region_report_clear(&r);
        return 0;
    }
    uint8_t *enc = NULL;
    size_t el = 0;
    if (rs_region_report_encode(&r, &enc, &el, NULL) != RS_OK)
        abort();
    if (rs_region_report_decode(enc, el, &r2, NULL) != RS_OK)
        abort();
    if (r2.applied_version != r.applied_version || r2.head_version != r.head_version ||
        r2.heartbeat_ms != r.heartbeat_ms || r2.n_include != r.n_include || r2.n_modified != r.n_modified ||
        r2.n_recent != r.n_recent || !same_str(r2.region, r.region) || !same_str(r2.instance, r.instance) ||
        !same_str(r2.state, r.state))
        abort();
    rs_region_report_clear(&r);
    rs_region_report_clear(&r);  /* documented: clearing twice is harmless */
    rs_region_report_clear(&r2);
    free(enc);
    return 0;
}
