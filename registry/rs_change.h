/* rs_change.h: a versioned change (one log entry): operations that turn the registry with
 * parent_digest into the registry with result_digest; its protobuf form is regsync.v1.Change.
 *
 * Ownership: an rs_change owns every string and buffer it points to; rs_change_free frees it
 * (accepts NULL). rs_change_decode validates its input completely before returning it.
 */
#ifndef RS_CHANGE_H
#define RS_CHANGE_H

#include "rs_registry.h"

typedef enum { RS_OP_PUT = 1, RS_OP_DELETE = 2 } rs_op_type;

typedef struct rs_op {
    rs_op_type type;
    uint32_t kind;
    uint32_t ordinal;
    char *project;
    char *name;
    uint8_t *data;                  /* PUT: the object bytes */
    size_t len;
    uint8_t hash[RS_DIGEST_LEN];    /* PUT: SHA-256 of the canonical form */
    uint32_t position;              /* PUT: 1-based place in the result's order; 0: not given */
} rs_op;

/* An unchanged object that moves to a new place (1-based) in the result's order. */
typedef struct rs_move {
    uint32_t kind;
    uint32_t ordinal;
    char *project;
    char *name;
    uint32_t position;
} rs_move;

typedef struct rs_change {
    uint64_t version;
    uint8_t parent_digest[RS_DIGEST_LEN];
    uint8_t result_digest[RS_DIGEST_LEN];
    uint8_t parent_content_digest[RS_DIGEST_LEN];
    uint8_t result_content_digest[RS_DIGEST_LEN];
    int64_t published_ms;   /* wall clock, ms since the epoch */
    char *publisher;
    char *source_etag;
    char *source;
    rs_op *ops;
    size_t n_ops;
    rs_move *moves;
    size_t n_moves;
} rs_change;

/* The change from a to b (every object-level difference, registry-level fields included), with
 * both registries' digests. version/publisher/... are left for the caller to fill. An object whose
 * bytes differ but whose canonical form (hash) is the same is PUT too, and every PUT carries its
 * position in b, plus moves for unchanged objects b reordered: applying the change to a gives
 * b's objects in b's order with b's bytes (rs_registry_encode of the result == of b). */
int rs_change_between(const rs_registry *a, const rs_registry *b, rs_change **out, rs_error *err);

enum {
    RS_APPLY_CHECK_PARENT = 1u << 0,  /* refuse unless r's digest == parent_digest */
    RS_APPLY_CHECK_RESULT = 1u << 1,  /* after applying, r's digest must == result_digest */
};
/* Applies c to r. Every operation is validated first (keys, hashes, presence of what is deleted,
 * positions and moves); a change that fails validation leaves r untouched (RS_ECORRUPT /
 * RS_ECONFLICT). Deletes, then puts, then the PUT positions and moves are applied (a PUT without
 * a position: a new object goes after the last of its kind, a replaced one keeps its place). With
 * RS_APPLY_CHECK_RESULT a mismatch after applying returns RS_ECORRUPT and r holds the applied
 * state: callers apply to a clone or keep the bytes of the last good state. */
int rs_change_apply(rs_registry *r, const rs_change *c, unsigned flags, rs_error *err);

/* Counts of operations: puts, deletes, and per kind (array indexed by kind, size 64, may be NULL). */
void rs_change_counts(const rs_change *c, size_t *puts, size_t *deletes, size_t per_kind[64]);

int rs_change_encode(const rs_change *c, uint8_t **out, size_t *len, rs_error *err);
int rs_change_decode(const uint8_t *p, size_t n, rs_change **out, rs_error *err);
void rs_change_free(rs_change *c);

#endif
