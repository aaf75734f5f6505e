#include "rs_bench_support.h"
#include "rs_registry_impl.h"

#include <openssl/sha.h>
#include <stdlib.h>

#include "feast/core/Registry.pb-c.h"

void *rs_raw_unpack(const uint8_t *p, size_t n) { return feast__core__registry__unpack(NULL, n, p); }

size_t rs_raw_pack(const void *msg, uint8_t **out)
{
    const Feast__Core__Registry *m = msg;
    size_t n = feast__core__registry__get_packed_size(m);
    *out = malloc(n ? n : 1);
    if (!*out)
        return 0;
    return feast__core__registry__pack(m, *out);
}

void rs_raw_free(void *msg)
{
    if (msg)
        feast__core__registry__free_unpacked(msg, NULL);
}
