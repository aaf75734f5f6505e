/* libFuzzer target: the registry decoder, then everything that consumes a decoded registry
 * (encode, canonical form, digest, JSON, diff against the empty registry, apply). */
#include "rs_change.h"
#include "rs_diff.h"
#include "rs_registry.h"
#include "rs_registry_json.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rs_registry *r = NULL;
    rs_limits lim = {.max_registry_bytes = 1 << 22};
    if (rs_registry_decode(data, size, &lim, &r, NULL) != RS_OK)
        return 0;
    uint8_t *enc = NULL, *canon = NULL;
    size_t el = 0, cl = 0;
    if (rs_registry_encode(r, &enc, &el, NULL) != RS_OK)
        abort();
    /* what decodes must re-decode to the same digest */
    rs_registry *r2 = NULL;
    if (rs_registry_decode(enc, el, &lim, &r2, NULL) != RS_OK)
        abort();
    uint8_t d1[32], d2[32];
    rs_registry_digest(r, d1);
    rs_registry_digest(r2, d2);
    if (memcmp(d1, d2, 32) != 0)
        abort();
    if (rs_registry_canonical(r, &canon, &cl, NULL) != RS_OK)
        abort();
    json_t *j = rs_registry_dump_json(r, NULL, NULL);
    json_decref(j);
    rs_registry *empty = rs_registry_new();
    rs_change *c = NULL;
    if (rs_change_between(empty, r, &c, NULL) == RS_OK) {
        if (rs_change_apply(empty, c, RS_APPLY_CHECK_PARENT | RS_APPLY_CHECK_RESULT, NULL) != RS_OK)
            abort();
        rs_change_free(c);
    }
    rs_diff *d = NULL;
    if (rs_diff_compute(r2, empty, RS_DIFF_PROPS, &d, NULL) == RS_OK)
        rs_diff_free(d);
    rs_registry_free(empty);
    rs_registry_free(r);
    rs_registry_free(r2);
    free(enc);
    free(canon);
    return 0;
}
