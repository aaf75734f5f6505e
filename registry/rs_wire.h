/* rs_wire.h (private to registry/): protobuf wire-format reading. */
#ifndef RS_WIRE_H
#define RS_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum { RS_WT_VARINT = 0, RS_WT_I64 = 1, RS_WT_LEN = 2, RS_WT_SGROUP = 3, RS_WT_EGROUP = 4, RS_WT_I32 = 5 };

/* One field as read from the wire. */
typedef struct rs_wfield {
    uint32_t num;
    uint8_t wt;
    uint64_t v;             /* varint / fixed value */
    const uint8_t *data;    /* LEN payload */
    size_t len;
    const uint8_t *raw;     /* the whole field, tag included */
    size_t raw_len;
} rs_wfield;

/* Reads a varint; returns bytes consumed, 0 on truncation or overlong (> 10 bytes). */
static inline size_t rs_wire_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < 10; i++) {
        if (p + i >= end)
            return 0;
        uint8_t b = p[i];
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i == 9 && b > 1)
                return 0;
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

/* Reads the next field at *p; advances *p. Returns 0, or -1 with *why set on malformed input.
 * Groups (wire types 3, 4) and wire types 6, 7 are reported as errors. */
int rs_wire_next(const uint8_t **p, const uint8_t *end, rs_wfield *f, const char **why);

/* Finds the last length-delimited occurrence of field num at the top level of a message.
 * Returns 1 found, 0 absent, -1 malformed. */
int rs_wire_find_len(const uint8_t *p, size_t n, uint32_t num, const uint8_t **data, size_t *len);

#endif
