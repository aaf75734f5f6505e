/* rs_index_impl.h (private to registry/): the registry's object index, shared by
 * rs_registry.c (index, decode, encode, mutation) and rs_digest.c (bucket digests). */
#ifndef RS_INDEX_IMPL_H
#define RS_INDEX_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "rs_registry.h"

#define NBUCKETS 1024

typedef struct obj {
    rs_object pub;
    size_t idx;         /* position in objs (valid while the registry's idx_dirty is false) */
    bool mark;          /* scratch flag for batch operations (always false between calls) */
    uint8_t *owned;     /* data when not pointing into the registry's input buffer */
    char *strs;         /* project NUL name NUL */
    uint8_t *key;       /* key encoding (see docs/digest.md) */
    size_t key_len;
    uint64_t key_hash;  /* FNV-1a 64 of key */
    uint32_t bucket_slot; /* index in its bucket vector */
} obj;

typedef struct bucket {
    obj **v;
    size_t n, cap;
    uint8_t digest[RS_DIGEST_LEN];
    bool dirty;
} bucket;

struct rs_registry {
    uint8_t *buf;                   /* owned input */
    obj **objs;                     /* all objects, in file (encode) order */
    size_t n, cap;
    bool idx_dirty;                 /* obj.idx needs renumbering */
    obj **table;                    /* open addressing by key_hash; (obj*)1 = tombstone */
    size_t tcap, tused;
    bucket buckets[NBUCKETS];
    size_t dirty_buckets;
    uint8_t content_root[RS_DIGEST_LEN];
    bool content_dirty;
};

#define TOMB ((obj *)1)


static inline void rs_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* rs_digest.c: buckets follow the objects (dirty until the next digest is asked for). */
int rs_reg_bucket_add(rs_registry *r, obj *o);
void rs_reg_bucket_remove(rs_registry *r, obj *o);
void rs_reg_buckets_free(rs_registry *r);
/* Byte order of key encodings (memcmp, then length). */
int rs_reg_key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl);
int rs_reg_cmp_obj_key(const void *a, const void *b);

#endif
