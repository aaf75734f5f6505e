/* libFuzzer target: a region control record (regsync.v1.RegionControl) as read from
 * regsync/control/<region>. What decodes must encode and decode back to the same record. */
#include "rs_control.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rs_region_control c, c2;
    if (rs_control_decode(data, size, &c, NULL) != RS_OK)
        return 0;
    char line[512];
    rs_control_describe(&c, line, sizeof line);
    (void)rs_control_active(&c);
    (void)rs_control_action_parse(c.action);
    uint8_t *enc = NULL;
    size_t el = 0;
    if (rs_control_encode(&c, &enc, &el, NULL) != RS_OK)
        abort();
    if (rs_control_decode(enc, el, &c2, NULL) != RS_OK)
        abort();
    if (c2.paused != c.paused || c2.pinned_version != c.pinned_version || c2.serial != c.serial ||
        strcmp(c2.region, c.region) != 0 || strcmp(c2.by, c.by) != 0 || strcmp(c2.action, c.action) != 0)
        abort();
    free(enc);
    return 0;
}
