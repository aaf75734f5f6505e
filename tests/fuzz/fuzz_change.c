/* libFuzzer target: the log-entry (regsync.v1.Change) decoder and applying what it accepts to a
 * small registry. */
#include "rs_change.h"
#include "rs_registry.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rs_change *c = NULL;
    if (rs_change_decode(data, size, &c, NULL) != RS_OK)
        return 0;
    uint8_t *enc = NULL;
    size_t el = 0;
    if (rs_change_encode(c, &enc, &el, NULL) != RS_OK)
        abort();
    rs_change *c2 = NULL;
    if (rs_change_decode(enc, el, &c2, NULL) != RS_OK)
        abort(); /* what we accept we can write back */
    rs_registry *r = rs_registry_new();
    (void)rs_change_apply(r, c, 0, NULL);
    rs_registry_free(r);
    rs_change_free(c);
    rs_change_free(c2);
    free(enc);
    return 0;
}
