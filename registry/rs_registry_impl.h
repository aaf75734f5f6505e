/* rs_registry_impl.h (private to registry/): helpers shared by the registry sources. */
#ifndef RS_REGISTRY_IMPL_H
#define RS_REGISTRY_IMPL_H

#include "rs_buf.h"
#include "rs_registry.h"

/* Canonical form of one object's payload into out (appended). skip_field: a top-level field of
 * the object to leave out (its meta), 0 for none. base/root for error messages (may be NULL/""). */
int rs_obj_canon(uint32_t kind, const uint8_t *data, size_t len, const uint8_t *base, const char *root,
                 unsigned max_depth, uint32_t skip_field, rs_buf *out, rs_error *err);

/* SHA-256 of p[0..n) into out (RS_DIGEST_LEN bytes). OpenSSL 3's one-shot SHA256() looks the
 * algorithm up in its provider store on every call (some 270 ns, most of a small object's
 * hash); this fetches it once per process. Thread-safe. */
void rs_sha256(const void *p, size_t n, uint8_t *out);

/* The (project, name) of an object from its canonical bytes; caller frees both. */
int rs_obj_key_from_canon(uint32_t kind, const uint8_t *canon, size_t n, char **project, char **name, rs_error *err);

/* The index of o (an object of r) in r's order (encode order). O(1) after the first call following
 * a mutation. */
size_t rs_reg_index_of(const rs_registry *r, const rs_object *o);

/* rs_registry_put; append: a new object goes at the end of the registry (its place is about to be
 * set by rs_registry_set_positions) instead of after the last object of its kind. */
int rs_reg_put(rs_registry *r, uint32_t kind, const char *project, const char *name, uint32_t ordinal,
               const uint8_t *data, size_t len, bool append, rs_error *err);
/* Deletes k objects (positions ignored) in one pass over the order; RS_ENOTFOUND (nothing
 * deleted) when one is missing or listed twice. */
int rs_reg_delete_many(rs_registry *r, const rs_position *v, size_t k, rs_error *err);

#endif
