/* rs_canon.h (private to registry/): validating canonicalizer of protobuf messages.
 *
 * rs_canon() reads a serialized message of type d, checks its wire format against the schema
 * (wire types, lengths, nesting depth, UTF-8 strings) and writes its canonical form to out:
 *   - fields in ascending field-number order (unknown fields kept byte for byte, in place);
 *   - proto3 implicit-presence scalars equal to their default omitted (oneof members kept);
 *   - last value wins for singular scalars, occurrences of a singular message merged;
 *   - only the last member of a oneof kept;
 *   - packable repeated scalars packed; varints minimal; bools 0/1; int32 sign-extended;
 *   - map entries canonical, sorted by key, duplicate keys resolved to the last;
 *   - repeated fields otherwise keep their order (order of features is meaningful).
 * Two encodings of equal content give equal bytes, and the output parses to the same message.
 */
#ifndef RS_CANON_H
#define RS_CANON_H

#include <protobuf-c/protobuf-c.h>

#include "rs_buf.h"
#include "rs_error.h"

#define RS_CANON_MAX_PATH 128

typedef struct rs_canon_ctx {
    unsigned max_depth;
    const uint8_t *base;       /* offsets in errors are counted from here */
    rs_error *err;
    uint32_t skip_field;       /* omit this field of the outermost message (0: none) */
    bool drop_unknown;         /* omit fields the schema does not know (at every level) */
    const char *root;          /* path prefix for errors, e.g. "feature_views[3]" */
    unsigned depth;
    struct {
        const char *name;
        long idx;              /* -1: singular */
    } path[RS_CANON_MAX_PATH];
} rs_canon_ctx;

void rs_canon_init(rs_canon_ctx *c, const uint8_t *base, const char *root, unsigned max_depth, rs_error *err);

/* Returns RS_OK or RS_ECORRUPT (err names the field path and byte offset) / RS_ENOMEM. */
int rs_canon(rs_canon_ctx *c, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, rs_buf *out);

/* true when p[0..n) is valid UTF-8 */
bool rs_utf8_valid(const uint8_t *p, size_t n);

#endif
