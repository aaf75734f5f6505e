#include "rs_wire.h"

int rs_wire_next(const uint8_t **pp, const uint8_t *end, rs_wfield *f, const char **why)
{
    const uint8_t *p = *pp;
    uint64_t tag;
    size_t k = rs_wire_varint(p, end, &tag);
    if (!k) {
        *why = "truncated or overlong field tag";
        return -1;
    }
    if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) {
        *why = "field number 0 or out of range";
        return -1;
    }
    f->raw = p;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (uint8_t)(tag & 7);
    f->data = NULL;
    f->len = 0;
    f->v = 0;
    p += k;
    switch (f->wt) {
    case RS_WT_VARINT:
        k = rs_wire_varint(p, end, &f->v);
        if (!k) {
            *why = "truncated varint";
            return -1;
        }
        p += k;
        break;
    case RS_WT_I64:
        if (end - p < 8) {
            *why = "truncated 64-bit value";
            return -1;
        }
        for (int i = 7; i >= 0; i--)
            f->v = (f->v << 8) | p[i];
        p += 8;
        break;
    case RS_WT_I32:
        if (end - p < 4) {
            *why = "truncated 32-bit value";
            return -1;
        }
        f->v = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
        p += 4;
        break;
    case RS_WT_LEN: {
        uint64_t n;
        k = rs_wire_varint(p, end, &n);
        if (!k) {
            *why = "truncated length";
            return -1;
        }
        p += k;
        if (n > (uint64_t)(end - p)) {
            *why = "length runs past the end of the data";
            return -1;
        }
        f->data = p;
        f->len = (size_t)n;
        p += n;
        break;
    }
    case RS_WT_SGROUP:
    case RS_WT_EGROUP:
        *why = "group wire type (3/4), which Feast never writes";
        return -1;
    default:
        *why = "invalid wire type 6 or 7";
        return -1;
    }
    f->raw_len = (size_t)(p - f->raw);
    *pp = p;
    return 0;
}

int rs_wire_find_len(const uint8_t *p, size_t n, uint32_t num, const uint8_t **data, size_t *len)
{
    const uint8_t *end = p + n;
    int found = 0;
    while (p < end) {
        rs_wfield f;
        const char *why;
        if (rs_wire_next(&p, end, &f, &why))
            return -1;
        if (f.num == num && f.wt == RS_WT_LEN) {
            *data = f.data;
            *len = f.len;
            found = 1;
        }
    }
    return found;
}
