/* rs_canon.c: see rs_canon.h for the canonical form. */
#include "rs_canon.h"
#include "rs_wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    rs_wfield f;
    const ProtobufCFieldDescriptor *fd; /* NULL: unknown field */
    uint32_t pos;                       /* original position */
    uint8_t dropped;
} entry;

void rs_canon_init(rs_canon_ctx *c, const uint8_t *base, const char *root, unsigned max_depth, rs_error *err)
{
    memset(c, 0, sizeof *c);
    c->base = base;
    c->root = root ? root : "";
    c->max_depth = max_depth ? max_depth : 64;
    c->err = err;
}

bool rs_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* fast path: 8 ASCII bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ULL)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) {
            k = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (p[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

static int fail(rs_canon_ctx *c, const uint8_t *at, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(rs_canon_ctx *c, const uint8_t *at, const char *field, const char *fmt, ...)
{
    if (!c->err)
        return RS_ECORRUPT;
    char path[300];
    size_t n = (size_t)snprintf(path, sizeof path, "%s", c->root);
    for (unsigned i = 0; i < c->depth && i < RS_CANON_MAX_PATH && n < sizeof path; i++) {
        if (c->path[i].idx >= 0)
            n += (size_t)snprintf(path + n, sizeof path - n, "%s%s[%ld]", n ? "." : "", c->path[i].name,
                                  c->path[i].idx);
        else
            n += (size_t)snprintf(path + n, sizeof path - n, "%s%s", n ? "." : "", c->path[i].name);
    }
    if (field && n < sizeof path)
        snprintf(path + n, sizeof path - n, "%s%s", n ? "." : "", field);
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rs_error_set(c->err, RS_ECORRUPT, "%s: %s (byte offset %td)", path[0] ? path : "message", msg,
                 c->base ? at - c->base : (ptrdiff_t)0);
    return RS_ECORRUPT;
}

static inline int wt_for_type(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_BOOL:
    case PROTOBUF_C_TYPE_ENUM:
        return RS_WT_VARINT;
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return RS_WT_I32;
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return RS_WT_I64;
    default:
        return RS_WT_LEN;
    }
}

static const char *wt_name(int wt)
{
    static const char *n[] = {"varint", "64-bit", "length-delimited", "start-group", "end-group", "32-bit",
                              "invalid(6)", "invalid(7)"};
    return n[wt & 7];
}

static uint64_t norm_scalar(ProtobufCType t, uint64_t v)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_ENUM:
        return (uint64_t)(int64_t)(int32_t)(uint32_t)v;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_SINT32:
        return v & 0xffffffffu;
    case PROTOBUF_C_TYPE_BOOL:
        return v != 0;
    default:
        return v;
    }
}

static int put_tag(rs_buf *out, uint32_t num, int wt) { return rs_buf_varint(out, (uint64_t)num << 3 | (unsigned)wt); }

static int put_fixed(rs_buf *out, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return rs_buf_append(out, b, (size_t)bytes);
}

static int put_value(rs_buf *out, int wt, uint64_t v)
{
    if (wt == RS_WT_VARINT)
        return rs_buf_varint(out, v);
    return put_fixed(out, v, wt == RS_WT_I64 ? 8 : 4);
}

static size_t varint_len(uint64_t v)
{
    size_t k = 1;
    while (v >= 0x80) {
        v >>= 7;
        k++;
    }
    return k;
}

/* Writes the length prefix of the bytes appended after the `reserved` bytes at start. The caller
 * reserves the size of the input's prefix, which is the size needed whenever the canonical form
 * is as long as the input (already canonical input, the usual case), so the bytes move only when
 * canonicalization crossed a varint size: without this, every level of nesting moved everything
 * under it, depth times per byte. */
static int close_len(rs_buf *out, size_t start, size_t reserved)
{
    size_t n = out->len - start - reserved;
    size_t k = varint_len(n);
    if (k != reserved) {
        if (k > reserved && rs_buf_reserve(out, k - reserved))
            return RS_ENOMEM;
        memmove(out->data + start + k, out->data + start + reserved, n);
        out->len = out->len + k - reserved;
    }
    uint8_t *v = out->data + start;
    uint64_t x = n;
    while (x >= 0x80) {
        *v++ = (uint8_t)(x | 0x80);
        x >>= 7;
    }
    *v = (uint8_t)x;
    return RS_OK;
}

static bool is_map_entry(const ProtobufCFieldDescriptor *fd)
{
    if (fd->type != PROTOBUF_C_TYPE_MESSAGE || fd->label != PROTOBUF_C_LABEL_REPEATED)
        return false;
    const ProtobufCMessageDescriptor *m = fd->descriptor;
    size_t l = strlen(m->name);
    return m->n_fields == 2 && m->fields[0].id == 1 && m->fields[1].id == 2 && l > 5 &&
           strcmp(m->name + l - 5, "Entry") == 0 && strcmp(m->fields[0].name, "key") == 0;
}

/* Orders entries by field number, keeping the original order within a number (stable), in time
 * linear in the entries: an LSD radix sort of entry indices, one counting pass per byte of the
 * field number that varies (field numbers are small, so usually one), then the entries are put in
 * place by following the permutation's cycles. Only the 4-byte indices need memory (a comparison
 * sort is n log n with a call per comparison). */
/* noinline: its 2 KiB of counters would otherwise sit in every recursive canon_msg frame */
__attribute__((noinline)) static int sort_entries(entry *es, size_t ne)
{
    uint32_t all_or = 0, all_and = UINT32_MAX;
    for (size_t i = 0; i < ne; i++) {
        all_or |= es[i].f.num;
        all_and &= es[i].f.num;
    }
    uint32_t *idx = malloc(2 * ne * sizeof *idx);
    if (!idx)
        return RS_ENOMEM;
    uint32_t *src = idx, *dst = idx + ne;
    for (size_t i = 0; i < ne; i++)
        src[i] = (uint32_t)i;
    for (unsigned shift = 0; shift < 32; shift += 8) {
        if ((((all_or ^ all_and) >> shift) & 0xff) == 0)
            continue; /* this byte is the same in every entry */
        size_t count[257] = {0};
        for (size_t i = 0; i < ne; i++)
            count[((es[src[i]].f.num >> shift) & 0xff) + 1]++;
        for (size_t b = 0; b < 256; b++)
            count[b + 1] += count[b];
        for (size_t i = 0; i < ne; i++)
            dst[count[(es[src[i]].f.num >> shift) & 0xff]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    /* src[k]: the entry that belongs at k. Follow each cycle once, marking done slots. */
    for (size_t k = 0; k < ne; k++) {
        if (src[k] == (uint32_t)k || src[k] == UINT32_MAX)
            continue;
        entry hold = es[k];
        size_t at = k;
        while (src[at] != (uint32_t)k) {
            size_t from = src[at];
            es[at] = es[from];
            src[at] = UINT32_MAX;
            at = from;
        }
        es[at] = hold;
        src[at] = UINT32_MAX;
    }
    free(idx);
    return RS_OK;
}

static int canon_msg(rs_canon_ctx *c, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, rs_buf *out,
                     unsigned level);

/* Records one path level for error messages; levels past the array are counted, not named. */
static void push(rs_canon_ctx *c, const char *name, long idx)
{
    if (c->depth < RS_CANON_MAX_PATH) {
        c->path[c->depth].name = name;
        c->path[c->depth].idx = idx;
    }
    c->depth++;
}

/* Canonicalizes a nested message payload and appends tag + length + bytes. */
static int emit_message(rs_canon_ctx *c, uint32_t num, const ProtobufCFieldDescriptor *fd, long idx,
                        const uint8_t *p, size_t n, rs_buf *out, unsigned level)
{
    if (level + 1 > c->max_depth)
        return fail(c, p, fd->name, "messages nested deeper than the limit of %u", c->max_depth);
    size_t reserved = varint_len(n);
    if (put_tag(out, num, RS_WT_LEN) || rs_buf_reserve(out, reserved))
        return RS_ENOMEM;
    size_t start = out->len;
    out->len += reserved;
    push(c, fd->name, idx);
    int rc = canon_msg(c, fd->descriptor, p, n, out, level + 1);
    c->depth--;
    if (rc)
        return rc;
    return close_len(out, start, reserved);
}

typedef struct map_item {
    const uint8_t *key;
    size_t key_len;
    size_t off, len;   /* canonical entry bytes in the scratch buffer */
    uint32_t pos;
} map_item;

static int cmp_map_item(const void *a, const void *b)
{
    const map_item *x = a, *y = b;
    size_t m = x->key_len < y->key_len ? x->key_len : y->key_len;
    int r = m ? memcmp(x->key, y->key, m) : 0;
    if (r)
        return r;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

/* A map field: entries canonicalized, sorted by key, last duplicate wins. */
__attribute__((noinline)) static int emit_map(rs_canon_ctx *c, const ProtobufCFieldDescriptor *fd, entry *es, size_t ne, rs_buf *out,
                    unsigned level)
{
    rs_buf scratch = {0};
    map_item *items = malloc(ne * sizeof *items);
    int rc = RS_OK;
    if (!items)
        return RS_ENOMEM;
    for (size_t i = 0; i < ne; i++) {
        size_t before = scratch.len;
        if (level + 1 > c->max_depth) {
            rc = fail(c, es[i].f.raw, fd->name, "messages nested deeper than the limit of %u", c->max_depth);
            goto out;
        }
        push(c, fd->name, (long)i);
        rc = canon_msg(c, fd->descriptor, es[i].f.data, es[i].f.len, &scratch, level + 1);
        c->depth--;
        if (rc)
            goto out;
        items[i].off = before;
        items[i].len = scratch.len - before;
        items[i].pos = (uint32_t)i;
        items[i].key = NULL;
        items[i].key_len = 0;
    }
    /* keys are found after the scratch buffer stopped moving */
    for (size_t i = 0; i < ne; i++) {
        if (items[i].len == 0)
            continue; /* an empty entry has no key (and scratch.data may still be NULL) */
        const uint8_t *e = scratch.data + items[i].off, *end = e + items[i].len;
        if (e < end) {
            rs_wfield f;
            const char *why;
            const uint8_t *q = e;
            if (rs_wire_next(&q, end, &f, &why) == 0 && f.num == 1) {
                if (f.wt == RS_WT_LEN) {
                    items[i].key = f.data;
                    items[i].key_len = f.len;
                } else {
                    items[i].key = f.raw;
                    items[i].key_len = f.raw_len;
                }
            }
        }
    }
    qsort(items, ne, sizeof *items, cmp_map_item);
    for (size_t i = 0; i < ne; i++) {
        if (i + 1 < ne && items[i].key_len == items[i + 1].key_len &&
            (items[i].key_len == 0 || memcmp(items[i].key, items[i + 1].key, items[i].key_len) == 0))
            continue; /* a later duplicate wins */
        if (put_tag(out, fd->id, RS_WT_LEN) || rs_buf_varint(out, items[i].len) ||
            (items[i].len && rs_buf_append(out, scratch.data + items[i].off, items[i].len))) {
            rc = RS_ENOMEM;
            goto out;
        }
    }
out:
    free(items);
    rs_buf_free(&scratch);
    return rc;
}

/* Reads all values of a repeated numeric field (packed or not) into a packed canonical buffer. */
__attribute__((noinline)) static int emit_packed(rs_canon_ctx *c, const ProtobufCFieldDescriptor *fd, entry *es, size_t ne, rs_buf *out)
{
    int wt = wt_for_type(fd->type);
    rs_buf vals = {0};
    size_t count = 0;
    for (size_t i = 0; i < ne; i++) {
        if (es[i].f.wt == RS_WT_LEN) {
            const uint8_t *q = es[i].f.data, *end = q + es[i].f.len;
            while (q < end) {
                uint64_t v = 0;
                if (wt == RS_WT_VARINT) {
                    size_t k = rs_wire_varint(q, end, &v);
                    if (!k) {
                        rs_buf_free(&vals);
                        return fail(c, q, fd->name, "bad varint in packed field");
                    }
                    q += k;
                } else {
                    size_t w = wt == RS_WT_I64 ? 8 : 4;
                    if ((size_t)(end - q) < w) {
                        rs_buf_free(&vals);
                        return fail(c, q, fd->name, "packed field length is not a multiple of %zu", w);
                    }
                    for (size_t b = w; b-- > 0;)
                        v = v << 8 | q[b];
                    q += w;
                }
                if (put_value(&vals, wt, norm_scalar(fd->type, v))) {
                    rs_buf_free(&vals);
                    return RS_ENOMEM;
                }
                count++;
            }
        } else {
            if (put_value(&vals, wt, norm_scalar(fd->type, es[i].f.v))) {
                rs_buf_free(&vals);
                return RS_ENOMEM;
            }
            count++;
        }
    }
    int rc = RS_OK;
    if (count)
        rc = (put_tag(out, fd->id, RS_WT_LEN) || rs_buf_varint(out, vals.len) || rs_buf_append(out, vals.data, vals.len))
                 ? RS_ENOMEM
                 : RS_OK;
    rs_buf_free(&vals);
    return rc;
}

static bool packable(ProtobufCType t) { return t != PROTOBUF_C_TYPE_STRING && t != PROTOBUF_C_TYPE_BYTES && t != PROTOBUF_C_TYPE_MESSAGE; }

static int emit_group(rs_canon_ctx *c, const ProtobufCFieldDescriptor *fd, entry *es, size_t ne, rs_buf *out,
                      unsigned level)
{
    if (!fd && c->drop_unknown)
        return RS_OK;
    if (!fd) { /* unknown: byte for byte */
        for (size_t i = 0; i < ne; i++)
            if (rs_buf_append(out, es[i].f.raw, es[i].f.raw_len))
                return RS_ENOMEM;
        return RS_OK;
    }
    bool oneof = (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
        if (packable(fd->type))
            return emit_packed(c, fd, es, ne, out);
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            if (is_map_entry(fd))
                return emit_map(c, fd, es, ne, out, level);
            for (size_t i = 0; i < ne; i++) {
                int rc = emit_message(c, fd->id, fd, (long)i, es[i].f.data, es[i].f.len, out, level);
                if (rc)
                    return rc;
            }
            return RS_OK;
        }
        for (size_t i = 0; i < ne; i++) {
            if (fd->type == PROTOBUF_C_TYPE_STRING && !rs_utf8_valid(es[i].f.data, es[i].f.len))
                return fail(c, es[i].f.raw, fd->name, "string is not valid UTF-8");
            if (put_tag(out, fd->id, RS_WT_LEN) || rs_buf_varint(out, es[i].f.len) ||
                rs_buf_append(out, es[i].f.data, es[i].f.len))
                return RS_ENOMEM;
        }
        return RS_OK;
    }
    /* singular */
    if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
        if (ne == 1)
            return emit_message(c, fd->id, fd, -1, es[0].f.data, es[0].f.len, out, level);
        rs_buf merged = {0};
        for (size_t i = 0; i < ne; i++)
            if (rs_buf_append(&merged, es[i].f.data, es[i].f.len)) {
                rs_buf_free(&merged);
                return RS_ENOMEM;
            }
        /* offsets in errors inside a merged message are relative to the merge; name the first */
        int rc = emit_message(c, fd->id, fd, -1, merged.data ? merged.data : (const uint8_t *)"", merged.len, out, level);
        rs_buf_free(&merged);
        return rc;
    }
    const entry *last = &es[ne - 1];
    if (fd->type == PROTOBUF_C_TYPE_STRING || fd->type == PROTOBUF_C_TYPE_BYTES) {
        if (fd->type == PROTOBUF_C_TYPE_STRING && !rs_utf8_valid(last->f.data, last->f.len))
            return fail(c, last->f.raw, fd->name, "string is not valid UTF-8");
        if (last->f.len == 0 && !oneof && fd->label != PROTOBUF_C_LABEL_OPTIONAL)
            return RS_OK;
        if (put_tag(out, fd->id, RS_WT_LEN) || rs_buf_varint(out, last->f.len) ||
            rs_buf_append(out, last->f.data, last->f.len))
            return RS_ENOMEM;
        return RS_OK;
    }
    int wt = wt_for_type(fd->type);
    uint64_t v = norm_scalar(fd->type, last->f.v);
    if (last->f.wt == RS_WT_LEN) /* packed encoding of a singular field: not valid */
        return fail(c, last->f.raw, fd->name, "length-delimited value for a scalar field");
    if (v == 0 && !oneof && fd->label != PROTOBUF_C_LABEL_OPTIONAL)
        return RS_OK;
    if (put_tag(out, fd->id, wt) || put_value(out, wt, v))
        return RS_ENOMEM;
    return RS_OK;
}

/* Protobuf parsers clear a oneof when another member arrives, so an occurrence survives only when
 * no member of a different field of the same oneof comes after it (several occurrences of the
 * winning field itself all survive: a message member merges them). One pass finds, per oneof,
 * the field whose occurrence is last and the last position of any other member; a second pass
 * marks the losers. Linear in the entries (times the message's oneof count, a schema constant). */
typedef struct oneof_state {
    unsigned qoff;                          /* quantifier_offset: names the oneof */
    const ProtobufCFieldDescriptor *last;   /* field of the last occurrence */
    uint32_t last_pos;
    uint32_t other_pos;                     /* last position of another field (UINT32_MAX: none) */
} oneof_state;

static oneof_state *oneof_find(oneof_state *st, size_t *n, unsigned qoff)
{
    for (size_t i = 0; i < *n; i++)
        if (st[i].qoff == qoff)
            return &st[i];
    st[*n].qoff = qoff;
    st[*n].last = NULL;
    st[*n].last_pos = 0;
    st[*n].other_pos = UINT32_MAX;
    return &st[(*n)++];
}

static bool is_oneof(const entry *e) { return e->fd && (e->fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF); }

__attribute__((noinline)) static int drop_oneof_losers(entry *es, size_t ne, const ProtobufCMessageDescriptor *d)
{
    oneof_state stack_st[8];
    oneof_state *st = stack_st;
    size_t nst = 0;
    if (d->n_fields > 8 && !(st = malloc(d->n_fields * sizeof *st)))
        return RS_ENOMEM;
    /* pass 1: the last occurrence of each oneof (es is sorted by field, so positions are not) */
    for (size_t i = 0; i < ne; i++) {
        if (!is_oneof(&es[i]))
            continue;
        oneof_state *o = oneof_find(st, &nst, es[i].fd->quantifier_offset);
        if (!o->last || es[i].pos > o->last_pos) {
            o->last = es[i].fd;
            o->last_pos = es[i].pos;
        }
    }
    /* pass 2: the last occurrence of a member other than the winner */
    for (size_t i = 0; i < ne; i++) {
        if (!is_oneof(&es[i]))
            continue;
        oneof_state *o = oneof_find(st, &nst, es[i].fd->quantifier_offset);
        if (es[i].fd != o->last && (o->other_pos == UINT32_MAX || es[i].pos > o->other_pos))
            o->other_pos = es[i].pos;
    }
    /* a loser: another field's member comes after it */
    for (size_t i = 0; i < ne; i++) {
        if (!is_oneof(&es[i]))
            continue;
        oneof_state *o = oneof_find(st, &nst, es[i].fd->quantifier_offset);
        if (es[i].fd != o->last || (o->other_pos != UINT32_MAX && es[i].pos < o->other_pos))
            es[i].dropped = 1;
    }
    if (st != stack_st)
        free(st);
    return RS_OK;
}

static int canon_msg(rs_canon_ctx *c, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, rs_buf *out,
                     unsigned level)
{
    entry stack_es[4];
    entry *es = stack_es;
    size_t ne = 0, cap = sizeof stack_es / sizeof stack_es[0];
    const uint8_t *q = p, *end = p + n;
    bool sorted = true;
    uint32_t prev = 0;
    int rc = RS_OK;
    bool has_oneof = false;
    /* Singular fields keep one entry however often they occur (the first 64 fields of the
     * descriptor; later ones, if any, get an entry per occurrence as before): a scalar's later
     * occurrence replaces it, a message's is appended to a merge buffer. An adversary repeating
     * one field then costs no memory per occurrence. slot[i]/mslot[i] are valid where seen/mbits
     * has bit i. */
    uint64_t seen = 0, mbits = 0;
    uint32_t slot[64];
    uint8_t mslot[64];
    rs_buf *mb = NULL;         /* merge buffers */
    size_t nmb = 0, mbcap = 0;
    struct {
        unsigned qoff;
        size_t fi;             /* the member that occurred last */
    } cur[8];
    size_t ncur = 0;
    uint32_t occ = 0;          /* occurrences read */
    while (q < end) {
        if (ne == cap) {
            size_t ncap = cap * 2;
            entry *nes = es == stack_es ? malloc(ncap * sizeof *nes) : realloc(es, ncap * sizeof *nes);
            if (!nes) {
                rc = RS_ENOMEM;
                goto out;
            }
            if (es == stack_es)
                memcpy(nes, stack_es, sizeof stack_es);
            es = nes;
            cap = ncap;
        }
        entry *e = &es[ne];
        const char *why;
        const uint8_t *at = q;
        if (rs_wire_next(&q, end, &e->f, &why)) {
            rc = fail(c, at, NULL, "%s", why);
            goto out;
        }
        e->fd = protobuf_c_message_descriptor_get_field(d, e->f.num);
        e->pos = occ++;
        e->dropped = 0;
        if (level == 0 && c->skip_field && e->f.num == c->skip_field)
            continue;
        if (e->fd) {
            int want = wt_for_type(e->fd->type);
            bool ok = e->f.wt == want ||
                      (e->fd->label == PROTOBUF_C_LABEL_REPEATED && packable(e->fd->type) && e->f.wt == RS_WT_LEN);
            if (!ok) {
                rc = fail(c, at, e->fd->name, "wire type %d (%s), but the schema says %s (%s)", e->f.wt, wt_name(e->f.wt),
                          wt_name(want), d->name);
                goto out;
            }
            if (e->fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
                has_oneof = true;
            size_t fi = (size_t)(e->fd - d->fields);
            if (e->fd->label != PROTOBUF_C_LABEL_REPEATED && fi < 64) {
                uint64_t bit = (uint64_t)1 << fi;
                bool slotted = true;
                if (e->fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                    /* another member was current: its entry stays and loses to this one
                     * (drop_oneof_losers); when it occurs again it starts a new entry */
                    size_t k;
                    for (k = 0; k < ncur && cur[k].qoff != e->fd->quantifier_offset; k++)
                        ;
                    if (k == ncur && ncur < sizeof cur / sizeof cur[0]) {
                        cur[k].qoff = e->fd->quantifier_offset;
                        cur[k].fi = fi;
                        ncur++;
                    } else if (k == ncur) {
                        slotted = false; /* more oneofs than tracked: an entry per occurrence */
                    } else if (cur[k].fi != fi) {
                        seen &= ~((uint64_t)1 << cur[k].fi);
                        cur[k].fi = fi;
                    }
                }
                if (slotted && (seen & bit)) {
                    entry *sl = &es[slot[fi]];
                    if (e->fd->type == PROTOBUF_C_TYPE_MESSAGE) {
                        if (!(mbits & bit)) {
                            if (nmb == mbcap) {
                                size_t nc = mbcap ? mbcap * 2 : 4;
                                rs_buf *nv = realloc(mb, nc * sizeof *nv);
                                if (!nv) {
                                    rc = RS_ENOMEM;
                                    goto out;
                                }
                                mb = nv;
                                mbcap = nc;
                            }
                            memset(&mb[nmb], 0, sizeof mb[nmb]);
                            if (rs_buf_append(&mb[nmb], sl->f.data, sl->f.len)) {
                                rs_buf_free(&mb[nmb]);
                                rc = RS_ENOMEM;
                                goto out;
                            }
                            mslot[fi] = (uint8_t)nmb++;
                            mbits |= bit;
                        }
                        rs_buf *m = &mb[mslot[fi]];
                        if (rs_buf_append(m, e->f.data, e->f.len)) {
                            rc = RS_ENOMEM;
                            goto out;
                        }
                        /* offsets in errors inside a merged message are relative to the merge */
                        sl->f.data = m->data ? m->data : (const uint8_t *)"";
                        sl->f.len = m->len;
                    } else {
                        sl->f = e->f; /* last value wins */
                    }
                    sl->pos = e->pos;
                    continue;
                }
                if (slotted) {
                    seen |= bit;
                    mbits &= ~bit;
                    slot[fi] = (uint32_t)ne;
                }
            }
        }
        if (e->f.num < prev)
            sorted = false;
        prev = e->f.num;
        ne++;
    }
    if (!sorted && (rc = sort_entries(es, ne)) != RS_OK)
        goto out;
    if (has_oneof && (rc = drop_oneof_losers(es, ne, d)) != RS_OK)
        goto out;
    for (size_t i = 0; i < ne;) {
        size_t j = i;
        while (j < ne && es[j].f.num == es[i].f.num)
            j++;
        /* drop oneof losers inside the group */
        size_t k = j;
        if (has_oneof) {
            k = i;
            for (size_t m = i; m < j; m++)
                if (!es[m].dropped) {
                    if (k != m)
                        es[k] = es[m];
                    k++;
                }
        }
        if (k > i) {
            rc = emit_group(c, es[i].fd, es + i, k - i, out, level);
            if (rc)
                goto out;
        }
        i = j;
    }
out:
    if (es != stack_es)
        free(es);
    for (size_t i = 0; i < nmb; i++)
        rs_buf_free(&mb[i]);
    free(mb);
    if (rc == RS_ENOMEM)
        rs_error_set(c->err, RS_ENOMEM, "out of memory while reading %s", d->name);
    return rc;
}

int rs_canon(rs_canon_ctx *c, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, rs_buf *out)
{
    c->depth = 0;
    return canon_msg(c, d, p, n, out, 0);
}
