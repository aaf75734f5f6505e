/* rs_bench_support.h: hooks for bench/ that need the generated Feast code (which only registry/
 * includes). Not for production use. */
#ifndef RS_BENCH_SUPPORT_H
#define RS_BENCH_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "rs_registry.h"

/* protobuf-c's own unpack of a Registry (the baseline); NULL on failure. */
void *rs_raw_unpack(const uint8_t *p, size_t n);
/* protobuf-c's own pack; *out malloc'd. */
size_t rs_raw_pack(const void *msg, uint8_t **out);
void rs_raw_free(void *msg);

/* Recomputes every object's canonical hash and the whole digest from scratch (what a digest
 * costs without the per-object cache). */
void rs_registry_full_rehash(rs_registry *r, uint8_t out[RS_DIGEST_LEN]);

#endif
