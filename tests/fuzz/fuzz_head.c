/* libFuzzer target: HEAD (regsync.v1.Head) as read from the store. What decodes must encode and
 * decode back to the same head. */
#include "rs_logproto.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rs_head h, h2;
    if (rs_head_decode(data, size, &h, NULL) != RS_OK) {
        rs_head_clear(&h);
        return 0;
    }
    uint8_t *enc = NULL;
    size_t el = 0;
    if (rs_head_encode(&h, &enc, &el, NULL) != RS_OK)
        abort();
    if (rs_head_decode(enc, el, &h2, NULL) != RS_OK)
        abort(); /* what we accept we can write back */
    if (h2.version != h.version || h2.oldest_version != h.oldest_version || h2.snapshot_version != h.snapshot_version ||
        h2.n_snapshots != h.n_snapshots || memcmp(h2.digest, h.digest, sizeof h.digest) != 0 ||
        strcmp(h2.publisher, h.publisher) != 0)
        abort();
    rs_head copy;
    if (rs_head_copy(&copy, &h) == RS_OK)
        rs_head_clear(&copy);
    rs_head_clear(&h);
    rs_head_clear(&h2);
    free(enc);
    return 0;
}
