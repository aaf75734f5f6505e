/* rs_json_walk.c: the walker over any protobuf-c message through its descriptor: per-descriptor
 * facts (JSON names, order, maps), fields, maps, unknown fields. See rs_json.h. */
#include "rs_json.h"
#include "rs_time.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rs_buf.h"
#include "rs_json_impl.h"

/* Descriptor facts                                                                           */

/* protoc's map entry convention: a repeated message field "foo_bar" whose type is the nested
 * message "<Parent>.FooBarEntry" with exactly key = 1 and value = 2. */
static bool is_map_field(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *fd)
{
    if (fd->label != PROTOBUF_C_LABEL_REPEATED || fd->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessageDescriptor *e = fd->descriptor;
    if (!e || e->n_fields != 2 || e->fields[0].id != 1 || e->fields[1].id != 2 ||
        strcmp(e->fields[0].name, "key") != 0 || strcmp(e->fields[1].name, "value") != 0 ||
        e->fields[0].label == PROTOBUF_C_LABEL_REPEATED || e->fields[1].label == PROTOBUF_C_LABEL_REPEATED ||
        e->fields[0].type == PROTOBUF_C_TYPE_MESSAGE || e->fields[0].type == PROTOBUF_C_TYPE_BYTES ||
        e->fields[0].type == PROTOBUF_C_TYPE_FLOAT || e->fields[0].type == PROTOBUF_C_TYPE_DOUBLE ||
        e->fields[0].type == PROTOBUF_C_TYPE_ENUM)
        return false;
    char want[256];
    size_t k = 0;
    bool cap = true;
    for (const char *s = fd->name; *s && k + 6 < sizeof want; s++) {
        if (*s == '_') {
            cap = true;
        } else {
            want[k++] = cap && *s >= 'a' && *s <= 'z' ? (char)(*s - 'a' + 'A') : *s;
            cap = false;
        }
    }
    memcpy(want + k, "Entry", 6);
    if (strcmp(e->short_name, want) != 0)
        return false;
    size_t pl = strlen(parent->name);
    return strncmp(e->name, parent->name, pl) == 0 && e->name[pl] == '.' && strcmp(e->name + pl + 1, want) == 0;
}

static void dinfo_free(dinfo *di)
{
    if (!di)
        return;
    if (di->names)
        for (unsigned i = 0; i < di->d->n_fields; i++)
            free(di->names[i]);
    free(di->names);
    free(di->name_len);
    free(di->order);
    free(di->is_map);
    free(di);
}

static int by_json_name(const void *a, const void *b, void *arg)
{
    const dinfo *di = arg;
    return strcmp(di->names[*(const unsigned *)a], di->names[*(const unsigned *)b]);
}

static dinfo *dinfo_build(const ProtobufCMessageDescriptor *d)
{
    unsigned n = d->n_fields;
    dinfo *di = calloc(1, sizeof *di);
    if (!di)
        return NULL;
    di->d = d;
    di->order = calloc(n + 1, sizeof *di->order);
    di->names = calloc(n + 1, sizeof *di->names);
    di->name_len = calloc(n + 1, sizeof *di->name_len);
    di->is_map = calloc(n + 1, sizeof *di->is_map);
    if (!di->order || !di->names || !di->name_len || !di->is_map)
        goto rsj_fail;
    for (unsigned i = 0; i < n; i++) {
        size_t len = rs_json_name(d->fields[i].name, NULL, 0);
        di->names[i] = malloc(len + 1);
        if (!di->names[i])
            goto rsj_fail;
        rs_json_name(d->fields[i].name, di->names[i], len + 1);
        di->name_len[i] = len;
        di->order[i] = i;
        di->is_map[i] = is_map_field(d, &d->fields[i]);
    }
    qsort_r(di->order, n, sizeof *di->order, by_json_name, di);
    return di;
rsj_fail:
    dinfo_free(di);
    return NULL;
}

static const dinfo *dinfo_get(conv *c, const ProtobufCMessageDescriptor *d)
{
    dcache *dc = &c->cache;
    if (dc->count * 2 >= dc->cap) {
        size_t ncap = dc->cap ? dc->cap * 2 : 64;
        dinfo **ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return NULL;
        for (size_t i = 0; i < dc->cap; i++) {
            dinfo *di = dc->slot[i];
            if (!di)
                continue;
            size_t h = ((uintptr_t)di->d >> 4) * 0x9e3779b97f4a7c15u & (ncap - 1);
            while (ns[h])
                h = (h + 1) & (ncap - 1);
            ns[h] = di;
        }
        free(dc->slot);
        dc->slot = ns;
        dc->cap = ncap;
    }
    size_t h = ((uintptr_t)d >> 4) * 0x9e3779b97f4a7c15u & (dc->cap - 1);
    while (dc->slot[h]) {
        if (dc->slot[h]->d == d)
            return dc->slot[h];
        h = (h + 1) & (dc->cap - 1);
    }
    dinfo *di = dinfo_build(d);
    if (!di)
        return NULL;
    dc->slot[h] = di;
    dc->count++;
    return di;
}

void rsj_dcache_free(dcache *dc)
{
    for (size_t i = 0; i < dc->cap; i++)
        dinfo_free(dc->slot[i]);
    free(dc->slot);
}

/* ------------------------------------------------------------------------------------------ */
/* The walker                                                                                 */

static size_t elt_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 4;
    }
}

/* One value of field fd stored at p (not presence-filtered). */
static int emit_value(conv *c, const ProtobufCFieldDescriptor *fd, const void *p)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return rsj_e_int(c, *(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return rsj_e_int(c, *(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return rsj_emit_i64(c, *(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return rsj_emit_u64(c, *(const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return rsj_e_real(c, rs_json_shortest_float(*(const float *)p));
    case PROTOBUF_C_TYPE_DOUBLE:
        return rsj_e_real(c, *(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return rsj_e_bool(c, *(const protobuf_c_boolean *)p != 0);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = fd->descriptor ? protobuf_c_enum_descriptor_get_value(fd->descriptor, v) : NULL;
        return ev ? rsj_e_plain(c, ev->name, strlen(ev->name)) : rsj_e_int(c, v);
    }
    case PROTOBUF_C_TYPE_STRING:
        return rsj_emit_string(c, *(const char *const *)p);
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return rsj_emit_base64(c, b->data, b->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)p;
        if (sub)
            return rsj_emit_message(c, sub);
        /* absent but required here (a map value): the default instance, as Python prints it */
        const ProtobufCMessageDescriptor *d = fd->descriptor;
        if (!d || d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
            return rsj_fail(c, RS_EINVALID, "field has no message descriptor");
        ProtobufCMessage *tmp = calloc(1, d->sizeof_message);
        if (!tmp)
            return rsj_oom(c);
        if (d->message_init)
            d->message_init(tmp);
        else
            tmp->descriptor = d;
        int r = rsj_emit_message(c, tmp);
        free(tmp);
        return r;
    }
    }
    return rsj_fail(c, RS_EINVALID, "unsupported field type %d", (int)fd->type);
}

/* Is the value at p different from the proto3 default (implicit presence)? Floats compare by
 * bits, so -0.0 counts as set, as C++ and upb list it. */
static bool nondefault(const ProtobufCFieldDescriptor *fd, const void *p)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)p != 0;
    case PROTOBUF_C_TYPE_DOUBLE: {
        uint64_t u;
        memcpy(&u, p, sizeof u);
        return u != 0;
    }
    case PROTOBUF_C_TYPE_FLOAT: {
        uint32_t u;
        memcpy(&u, p, sizeof u);
        return u != 0;
    }
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)p != 0;
    case PROTOBUF_C_TYPE_ENUM:
        return *(const int *)p != 0;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        return s && *s;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len > 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(const void *const *)p != NULL;
    default:
        return *(const uint32_t *)p != 0;
    }
}

/* Whether a singular field is present, mirroring what protobuf-c would pack. */
static bool present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd)
{
    const void *p = rsj_field_ptr(m, fd);
    bool ptr_type = fd->type == PROTOBUF_C_TYPE_STRING || fd->type == PROTOBUF_C_TYPE_MESSAGE;
    if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t which = *(const uint32_t *)((const char *)m + fd->quantifier_offset);
        if (which != fd->id)
            return false;
        return !ptr_type || *(const void *const *)p != NULL;
    }
    switch (fd->label) {
    case PROTOBUF_C_LABEL_REQUIRED:
        return !ptr_type || *(const void *const *)p != NULL;
    case PROTOBUF_C_LABEL_OPTIONAL:
        if (ptr_type) {
            const void *v = *(const void *const *)p;
            return v != NULL && v != fd->default_value;
        }
        return *(const protobuf_c_boolean *)((const char *)m + fd->quantifier_offset) != 0;
    default: /* PROTOBUF_C_LABEL_NONE: proto3 implicit presence */
        return nondefault(fd, p);
    }
}

/* A map or unknown-field key: text in s (borrowed) or, when s is NULL, in buf. Sorting moves
 * these structs, so never point s at buf. */
typedef struct {
    const char *s;
    size_t n;
    size_t idx;
    char buf[24];
} mkey;

static const char *mkey_text(const mkey *k) { return k->s ? k->s : k->buf; }

static bool mkey_same(const mkey *x, const mkey *y)
{
    return x->n == y->n && memcmp(mkey_text(x), mkey_text(y), x->n) == 0;
}

/* by key bytes (= code point order for UTF-8, as Python sorts), then by position */
static int mkey_cmp(const void *a, const void *b)
{
    const mkey *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int r = memcmp(mkey_text(x), mkey_text(y), n);
    if (!r)
        r = (x->n > y->n) - (x->n < y->n);
    return r ? r : (x->idx > y->idx) - (x->idx < y->idx);
}

/* A map as an object: keys as strings, sorted; for a repeated key the last entry wins. */
static int emit_map(conv *c, const ProtobufCFieldDescriptor *fd, size_t n, const ProtobufCMessage *const *entries)
{
    const ProtobufCMessageDescriptor *e = fd->descriptor;
    const ProtobufCFieldDescriptor *kf = &e->fields[0], *vf = &e->fields[1];
    mkey *keys = malloc(n * sizeof *keys);
    if (!keys)
        return rsj_oom(c);
    size_t nk = 0;
    int r = 0;
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessage *en = entries[i];
        if (!en)
            continue;
        mkey *k = &keys[nk++];
        const void *kp = rsj_field_ptr(en, kf);
        k->idx = i;
        k->s = NULL;
        switch (kf->type) {
        case PROTOBUF_C_TYPE_STRING:
            k->s = *(const char *const *)kp ? *(const char *const *)kp : "";
            k->n = strlen(k->s);
            if (!rsj_utf8_valid((const unsigned char *)k->s, k->n)) {
                rsj_path_top(c)->idx = i;
                rsj_path_top(c)->key = k->s;
                r = rsj_fail(c, RS_ECORRUPT, "map key is not valid UTF-8");
                goto out;
            }
            continue;
        case PROTOBUF_C_TYPE_BOOL:
            k->s = *(const protobuf_c_boolean *)kp ? "true" : "false";
            k->n = strlen(k->s);
            continue;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
            k->n = (size_t)snprintf(k->buf, sizeof k->buf, "%" PRId64, *(const int64_t *)kp);
            continue;
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
            k->n = (size_t)snprintf(k->buf, sizeof k->buf, "%" PRIu64, *(const uint64_t *)kp);
            continue;
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
            k->n = (size_t)snprintf(k->buf, sizeof k->buf, "%" PRIu32, *(const uint32_t *)kp);
            continue;
        default:
            k->n = (size_t)snprintf(k->buf, sizeof k->buf, "%" PRId32, *(const int32_t *)kp);
            continue;
        }
    }
    qsort(keys, nk, sizeof *keys, mkey_cmp);
    if ((r = rsj_e_open(c, true)) != 0)
        goto out;
    for (size_t i = 0; i < nk; i++) {
        if (i + 1 < nk && mkey_same(&keys[i + 1], &keys[i]))
            continue; /* a later entry has the same key */
        const mkey *k = &keys[i];
        rsj_path_top(c)->idx = k->idx;
        rsj_path_top(c)->key = mkey_text(k);
        rsj_e_key(c, mkey_text(k), k->n);
        if ((r = emit_value(c, vf, rsj_field_ptr(entries[k->idx], vf))) != 0)
            goto out;
    }
    rsj_path_top(c)->key = NULL;
    rsj_path_top(c)->idx = SIZE_MAX;
    r = rsj_e_close(c);
out:
    free(keys);
    return r;
}

static uint64_t read_varint(const uint8_t *p, size_t n, size_t *used)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < n && i < 10; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            i++;
            break;
        }
    }
    *used = i;
    return v;
}

static uint64_t read_le(const uint8_t *p, size_t n, size_t width)
{
    uint64_t v = 0;
    for (size_t i = 0; i < width && i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* protobuf-c keeps each unknown field as tag, wire type and the raw value bytes; for a
 * length-delimited field those bytes begin with the length varint. */
static int emit_unknown_value(conv *c, const ProtobufCMessageUnknownField *u)
{
    size_t used;
    switch (u->wire_type) {
    case PROTOBUF_C_WIRE_TYPE_VARINT:
        return rsj_emit_u64(c, read_varint(u->data, u->len, &used));
    case PROTOBUF_C_WIRE_TYPE_64BIT:
        return rsj_emit_u64(c, read_le(u->data, u->len, 8));
    case PROTOBUF_C_WIRE_TYPE_32BIT:
        return rsj_e_int(c, (int64_t)read_le(u->data, u->len, 4));
    case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED: {
        uint64_t plen = read_varint(u->data, u->len, &used);
        if (used > 0 && used <= u->len && plen == u->len - used)
            return rsj_emit_base64(c, u->data + used, (size_t)plen);
        return rsj_emit_base64(c, u->data, u->len); /* not prefixed after all: the bytes as they are */
    }
    default:
        return rsj_emit_base64(c, u->data, u->len);
    }
}

/* Unknown fields as "<number>": [values in wire order], numbers sorted as strings. JSON names
 * start with a letter, so these keys sort before every known field's. */
static int emit_unknown(conv *c, const ProtobufCMessage *m)
{
    unsigned n = m->n_unknown_fields;
    mkey *keys = malloc(n * sizeof *keys);
    if (!keys)
        return rsj_oom(c);
    for (unsigned i = 0; i < n; i++) {
        keys[i].idx = i;
        keys[i].s = NULL;
        keys[i].n = (size_t)snprintf(keys[i].buf, sizeof keys[i].buf, "%" PRIu32, m->unknown_fields[i].tag);
    }
    qsort(keys, n, sizeof *keys, mkey_cmp);
    int r = 0;
    for (unsigned i = 0; i < n && r == 0; i++) {
        const char *key = mkey_text(&keys[i]);
        rsj_path_push(c, key);
        if (i == 0 || !mkey_same(&keys[i], &keys[i - 1])) {
            rsj_e_key(c, key, keys[i].n);
            r = rsj_e_open(c, false);
        }
        if (r == 0)
            r = emit_unknown_value(c, &m->unknown_fields[keys[i].idx]);
        if (r == 0 && (i + 1 == n || !mkey_same(&keys[i + 1], &keys[i])))
            r = rsj_e_close(c);
        rsj_path_pop(c);
    }
    free(keys);
    return r;
}

static int emit_fields(conv *c, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const dinfo *di = dinfo_get(c, d);
    if (!di)
        return rsj_oom(c);
    int r = rsj_e_open(c, true);
    if (r)
        return r;
    if ((c->flags & RS_JSON_UNKNOWN) && m->n_unknown_fields > 0 && (r = emit_unknown(c, m)) != 0)
        return r;
    for (unsigned oi = 0; oi < d->n_fields; oi++) {
        unsigned i = di->order[oi];
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + fd->quantifier_offset);
            const char *arr = *(const char *const *)rsj_field_ptr(m, fd);
            if (n == 0 || !arr)
                continue;
            rsj_path_push(c, fd->name);
            rsj_e_key(c, di->names[i], di->name_len[i]);
            if (di->is_map[i]) {
                r = emit_map(c, fd, n, (const ProtobufCMessage *const *)arr);
            } else if ((r = rsj_e_open(c, false)) == 0) {
                size_t es = elt_size(fd->type);
                for (size_t k = 0; k < n && r == 0; k++) {
                    rsj_path_top(c)->idx = k;
                    r = emit_value(c, fd, arr + k * es);
                }
                if (r == 0)
                    r = rsj_e_close(c);
            }
            rsj_path_pop(c);
        } else {
            if (!present(m, fd))
                continue;
            rsj_path_push(c, fd->name);
            rsj_e_key(c, di->names[i], di->name_len[i]);
            r = emit_value(c, fd, rsj_field_ptr(m, fd));
            rsj_path_pop(c);
        }
        if (r)
            return r;
    }
    return rsj_e_close(c);
}

int rsj_emit_message(conv *c, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (!d || d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
        return rsj_fail(c, RS_EINVALID, "not a protobuf-c message (bad descriptor)");
    if (c->depth >= RS_JSON_MAX_DEPTH)
        return rsj_fail(c, RS_ETOOBIG, "messages nested deeper than %d", RS_JSON_MAX_DEPTH);
    c->depth++;
    int r;
    if (strncmp(d->name, "google.protobuf.", 16) == 0 && strcmp(d->name + 16, "Timestamp") == 0)
        r = rsj_emit_timestamp(c, m);
    else if (strncmp(d->name, "google.protobuf.", 16) == 0 && strcmp(d->name + 16, "Duration") == 0)
        r = rsj_emit_duration(c, m);
    else if (strncmp(d->name, "google.protobuf.", 16) == 0 && rsj_is_wrapper(d->name + 16) && d->n_fields == 1 &&
             d->fields[0].id == 1)
        r = emit_value(c, &d->fields[0], rsj_field_ptr(m, &d->fields[0]));
    else
        r = emit_fields(c, m);
    c->depth--;
    return r;
}
