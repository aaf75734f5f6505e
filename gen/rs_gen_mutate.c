/* rs_gen_mutate.c: rs_mutate and rs_shuffle.
 *
 * Both work on the top-level fields of the registry at wire level and unpack (protobuf-c, into
 * an arena) only the objects they change, so untouched objects and unknown fields stay byte for
 * byte and memory stays near the input size. The output is built as a list of items
 * (field number, sequence, bytes) sorted by (field number, sequence): fields come out grouped by
 * number, and a changed object (sequence after every original one) lands at the end of its list,
 * as Feast does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_buf.h"
#include "rs_gen_impl.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* ---------------------------------------------------------------- output items */

typedef struct item {
    uint32_t num;
    size_t seq;
    size_t entry;         /* index into the scanned fields, or SIZE_MAX */
    const uint8_t *bytes; /* framed bytes when entry == SIZE_MAX (or a replacement) */
    size_t len;
} item;

static int item_cmp(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->num != y->num)
        return x->num < y->num ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* appends field num holding message m to b, framed; RS_ENOMEM on failure */
static int frame_msg(rs_buf *b, uint32_t num, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    if (rs_buf_reserve(b, n + 20) || rs_buf_varint(b, ((uint64_t)num << 3) | 2) || rs_buf_varint(b, n))
        return RS_ENOMEM;
    b->len += protobuf_c_message_pack(m, b->data + b->len);
    return RS_OK;
}

/* ---------------------------------------------------------------- descriptor helpers */

static const ProtobufCFieldDescriptor *fd(const ProtobufCMessage *m, const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
}

static void *fptr(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) { return (char *)m + f->offset; }
static size_t *fcount(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) { return (size_t *)((char *)m + f->quantifier_offset); }

/* the message in singular field `name`, created when absent; NULL when m has no such field */
static ProtobufCMessage *sub(gen_arena *a, ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f = fd(m, name);
    if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    ProtobufCMessage **pp = fptr(m, f);
    if (!*pp)
        *pp = ga_msg(a, f->descriptor);
    return *pp;
}

static void set_ts(gen_arena *a, ProtobufCMessage *m, const char *name, int64_t s, int32_t ns)
{
    const ProtobufCFieldDescriptor *f = fd(m, name);
    if (!f)
        return;
    Google__Protobuf__Timestamp *ts = ga_msg(a, &google__protobuf__timestamp__descriptor);
    ts->seconds = s;
    ts->nanos = ns;
    *(Google__Protobuf__Timestamp **)fptr(m, f) = ts;
}

/* repeated message field: appends x */
static void push(gen_arena *a, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, void *x)
{
    size_t *n = fcount(m, f);
    void ***arr = fptr(m, f);
    void **nv = ga_alloc(a, (*n + 1) * sizeof *nv);
    if (*n)
        memcpy(nv, *arr, *n * sizeof *nv);
    nv[(*n)++] = x;
    *arr = nv;
}

/* ---------------------------------------------------------------- object keys */

static bool is_mut_kind(uint32_t k) { return k == 1 || k == 6 || k == 7 || k == 8 || k == 12 || k == 14 || k == 16 || k == 17; }

typedef struct okey {
    const uint8_t *proj, *name;
    size_t plen, nlen;
} okey;

static void obj_key(uint32_t kind, const uint8_t *p, size_t n, okey *k)
{
    static const uint8_t empty[1] = {0};
    k->proj = k->name = empty;
    k->plen = k->nlen = 0;
    if (kind == 12) {
        rsg_wire_find(p, n, 20, &k->name, &k->nlen);
        rsg_wire_find(p, n, 21, &k->proj, &k->plen);
        return;
    }
    const uint8_t *spec;
    size_t slen;
    if (!rsg_wire_find(p, n, 1, &spec, &slen))
        return;
    rsg_wire_find(spec, slen, 1, &k->name, &k->nlen);
    if (kind == 17) {
        k->proj = k->name;
        k->plen = k->nlen;
    } else {
        rsg_wire_find(spec, slen, kind == 1 ? 9 : 2, &k->proj, &k->plen);
    }
}

static uint64_t key_hash(uint32_t kind, const uint8_t *proj, size_t plen, const uint8_t *name, size_t nlen)
{
    uint64_t h = 1469598103934665603ULL ^ kind;
    for (size_t i = 0; i < plen; i++)
        h = (h ^ proj[i]) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (size_t i = 0; i < nlen; i++)
        h = (h ^ name[i]) * 1099511628211ULL;
    return h ? h : 1;
}

/* set of (kind, project, name) hashes; a hash collision only makes a created name skip a
 * candidate, never a duplicate */
typedef struct keyset {
    uint64_t *v;
    size_t cap, n;
} keyset;

static int ks_add(keyset *s, uint64_t h)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint64_t *nv = calloc(cap, sizeof *nv);
        if (!nv)
            return RS_ENOMEM;
        for (size_t i = 0; i < s->cap; i++)
            if (s->v[i])
                for (size_t j = s->v[i] & (cap - 1);; j = (j + 1) & (cap - 1))
                    if (!nv[j]) {
                        nv[j] = s->v[i];
                        break;
                    }
        free(s->v);
        s->v = nv;
        s->cap = cap;
    }
    for (size_t j = h & (s->cap - 1);; j = (j + 1) & (s->cap - 1)) {
        if (s->v[j] == h)
            return RS_OK;
        if (!s->v[j]) {
            s->v[j] = h;
            s->n++;
            return RS_OK;
        }
    }
}

static bool ks_has(const keyset *s, uint64_t h)
{
    if (!s->cap)
        return false;
    for (size_t j = h & (s->cap - 1); s->v[j]; j = (j + 1) & (s->cap - 1))
        if (s->v[j] == h)
            return true;
    return false;
}

/* ---------------------------------------------------------------- mutations */

enum { OP_UPDATE, OP_META, OP_CREATE, OP_DELETE };

typedef struct mstate {
    jmp_buf oom;
    gen_arena a;
    gen_rng r;
    int64_t now;
    int32_t now_ns;
} mstate;

static uint32_t kind_slot(uint32_t kind)
{
    static const uint32_t K[] = {1, 6, 7, 8, 12, 14, 16};
    for (uint32_t i = 0; i < 7; i++)
        if (K[i] == kind)
            return i;
    return 7;
}

/* a spec change that really changes the spec */
static void change_spec(mstate *m, ProtobufCMessage *spec)
{
    gen_arena *a = &m->a;
    enum { C_TTL, C_ADD, C_REMOVE, C_TAG, C_DESC };
    int ops[5], nops = 0;
    const ProtobufCFieldDescriptor *ttl = fd(spec, "ttl"), *feat = fd(spec, "features"),
                                   *tags = fd(spec, "tags"), *desc = fd(spec, "description");
    if (ttl && ttl->type == PROTOBUF_C_TYPE_MESSAGE)
        ops[nops++] = C_TTL;
    if (feat && feat->descriptor == &feast__core__feature_spec_v2__descriptor) {
        ops[nops++] = C_ADD;
        if (*fcount(spec, feat) > 1)
            ops[nops++] = C_REMOVE;
    }
    if (tags && ((const ProtobufCMessageDescriptor *)tags->descriptor)->sizeof_message == sizeof(kv_entry))
        ops[nops++] = C_TAG;
    if (desc && desc->type == PROTOBUF_C_TYPE_STRING)
        ops[nops++] = C_DESC;
    if (!nops)
        return;
    uint32_t tok = (uint32_t)gen_next(&m->r);
    switch (ops[gen_below(&m->r, (uint32_t)nops)]) {
    case C_TTL: {
        static const int64_t T[] = {3600, 86400, 2 * 86400, 7 * 86400, 30 * 86400, 90 * 86400, 365 * 86400, 14 * 86400};
        Google__Protobuf__Duration **d = fptr(spec, ttl);
        int64_t old = *d ? (*d)->seconds : -1, s;
        do
            s = T[gen_below(&m->r, 8)];
        while (s == old);
        *d = ga_msg(a, &google__protobuf__duration__descriptor);
        (*d)->seconds = s;
        break;
    }
    case C_ADD: {
        gen_ctx g = {.a = a, .seed = gen_next(&m->r), .tags_per_object = 2};
        char name[64];
        snprintf(name, sizeof name, "new_feature_%08x", tok);
        push(a, spec, feat, gen_feature(&g, &m->r, name));
        break;
    }
    case C_REMOVE: {
        size_t *n = fcount(spec, feat);
        void **arr = *(void ***)fptr(spec, feat);
        size_t i = gen_below(&m->r, (uint32_t)*n);
        memmove(arr + i, arr + i + 1, (*n - i - 1) * sizeof *arr);
        (*n)--;
        break;
    }
    case C_TAG: {
        size_t n = *fcount(spec, tags);
        kv_entry **arr = *(kv_entry ***)fptr(spec, tags);
        char *val = ga_printf(a, "changed-%08x", tok);
        if (n && gen_chance(&m->r, 70)) {
            kv_entry *e = arr[gen_below(&m->r, (uint32_t)n)];
            if (!strcmp(e->value, val))
                val = ga_printf(a, "changed-%08x-2", tok);
            e->value = val;
        } else {
            char *key = ga_printf(a, "changed_%08x", tok);
            for (size_t i = 0; i < n; i++)
                if (!strcmp(arr[i]->key, key))
                    key = ga_printf(a, "changed_%08x_%zu", tok, i);
            kv_entry *e = ga_msg(a, tags->descriptor);
            e->key = key;
            e->value = val;
            push(a, spec, tags, e);
        }
        break;
    }
    default: {
        char **d = fptr(spec, desc);
        char *nd = ga_printf(a, "Updated definition (rev %08x)", tok);
        if (*d && !strcmp(*d, nd))
            nd = ga_printf(a, "Updated definition (rev %08x, again)", tok);
        *d = nd;
        break;
    }
    }
}

/* last_updated_timestamp = now; feature views also record a new materialization interval */
static void touch_meta(mstate *m, uint32_t kind, ProtobufCMessage *obj, bool materialize)
{
    ProtobufCMessage *meta = sub(&m->a, obj, "meta");
    if (!meta)
        return;
    set_ts(&m->a, meta, "last_updated_timestamp", m->now, m->now_ns);
    if (!materialize || kind != 6)
        return;
    Feast__Core__FeatureViewMeta *fm = (Feast__Core__FeatureViewMeta *)meta;
    Feast__Core__MaterializationInterval *mi = ga_msg(&m->a, &feast__core__materialization_interval__descriptor);
    Google__Protobuf__Timestamp *start = ga_msg(&m->a, &google__protobuf__timestamp__descriptor);
    if (fm->n_materialization_intervals && fm->materialization_intervals[fm->n_materialization_intervals - 1]->end_time)
        *start = *fm->materialization_intervals[fm->n_materialization_intervals - 1]->end_time;
    else
        start->seconds = m->now - 86400;
    mi->start_time = start;
    mi->end_time = ga_msg(&m->a, &google__protobuf__timestamp__descriptor);
    mi->end_time->seconds = m->now;
    mi->end_time->nanos = m->now_ns;
    push(&m->a, meta, fd(meta, "materialization_intervals"), mi);
}

/* a new object of `kind` in project (pi, name), named uniquely; framed into b */
static int create_object(mstate *m, uint32_t kind, const char *project, unsigned proj_idx,
                         const unsigned *counts, keyset *keys, rs_buf *b)
{
    gen_ctx g = {.a = &m->a, .seed = gen_next(&m->r), .features_per_view = 20, .tags_per_object = 4,
                 .udf_bytes = 2048, .t0 = m->now - 60 * 86400, .proj = proj_idx, .project = project};
    g.c.entities = counts[0] ? counts[0] : 1;
    g.c.feature_views = counts[1];
    g.c.feature_services = counts[2];
    g.c.on_demand_views = counts[3];
    g.c.data_sources = counts[4] < 5 ? 5 : counts[4];
    g.c.stream_views = counts[5];
    g.c.permissions = counts[6];
    unsigned idx = counts[kind_slot(kind)] + gen_below(&m->r, 1000);
    for (;; idx++) {
        ProtobufCMessage *o;
        switch (kind) {
        case 1: o = &gen_entity(&g, idx)->base; break;
        case 6: o = &gen_feature_view(&g, idx)->base; break;
        case 7: o = &gen_feature_service(&g, idx)->base; break;
        case 8: o = &gen_odfv(&g, idx)->base; break;
        case 12:
            /* sources are typed by index: keep request/push/kafka sources referable only */
            o = &gen_data_source(&g, idx, false)->base;
            break;
        case 14: o = &gen_sfv(&g, idx)->base; break;
        default: o = &gen_permission(&g, idx)->base; break;
        }
        ProtobufCMessage *spec = kind == 12 ? o : sub(&m->a, o, "spec");
        const char *name = *(char **)fptr(spec, fd(spec, "name"));
        const char *proj = *(char **)fptr(spec, fd(spec, "project"));
        uint64_t h = key_hash(kind, (const uint8_t *)proj, strlen(proj), (const uint8_t *)name, strlen(name));
        if (ks_has(keys, h))
            continue;
        /* a new object: created == last updated == now */
        ProtobufCMessage *meta = sub(&m->a, o, "meta");
        if (meta) {
            set_ts(&m->a, meta, "created_timestamp", m->now, m->now_ns);
            set_ts(&m->a, meta, "last_updated_timestamp", m->now, m->now_ns);
        }
        if (ks_add(keys, h) || frame_msg(b, kind, o))
            return RS_ENOMEM;
        return RS_OK;
    }
}

typedef struct projinfo {
    const uint8_t *name;
    size_t len;
    unsigned counts[8];
} projinfo;

/* the wall-clock second of the input's last_updated, or 0 */
static int64_t input_time(const uint8_t *in, size_t n)
{
    const uint8_t *ts;
    size_t tl;
    if (!rsg_wire_find(in, n, 5, &ts, &tl))
        return 0;
    size_t i = 0;
    while (i < tl) {
        uint64_t tag = ts[i++], v = 0;
        if (tag != 0x08)
            return 0;
        for (unsigned sh = 0; i < tl && sh < 64; sh += 7) {
            v |= (uint64_t)(ts[i] & 0x7f) << sh;
            if (!(ts[i++] & 0x80))
                break;
        }
        return (int64_t)v;
    }
    return 0;
}

typedef struct mctx {
    mstate m;
    const uint8_t *in;
    size_t n;
    wfield *f;
    size_t nf;
    uint8_t *state;          /* per field: 0 keep, 1 replaced, 2 deleted */
    size_t *elig, nelig;     /* fields holding objects that may change */
    projinfo *projs;
    size_t nproj;
    keyset keys;
    rs_buf changed;          /* framed replaced/created objects, back to back */
    size_t *chg_off;         /* per change: offset in `changed` (one extra at the end) */
    uint32_t *chg_kind;
    size_t nchg;
    item *items;
    rs_buf ob;
    rs_mutation_summary s;
} mctx;

static void index_objects(mctx *c, rs_error *err, int *rc)
{
    for (size_t i = 0; i < c->nf; i++) {
        const wfield *w = &c->f[i];
        if (!is_mut_kind(w->num) || w->wt != 2)
            continue;
        okey ok;
        obj_key(w->num, c->in + w->poff, w->plen, &ok);
        if (ks_add(&c->keys, key_hash(w->num, ok.proj, ok.plen, ok.name, ok.nlen))) {
            *rc = rs_error_set(err, RS_ENOMEM, "mutate: out of memory");
            return;
        }
        c->elig[c->nelig++] = i;
        size_t p = 0;
        while (p < c->nproj && !(c->projs[p].len == ok.plen && !memcmp(c->projs[p].name, ok.proj, ok.plen)))
            p++;
        if (p == c->nproj && ok.plen) {
            c->projs[p].name = ok.proj;
            c->projs[c->nproj++].len = ok.plen;
        }
        if (p < c->nproj)
            c->projs[p].counts[kind_slot(w->num)]++;
    }
}

static int do_create(mctx *c)
{
    mstate *m = &c->m;
    static const struct {
        uint32_t kind, w;
    } W[] = {{6, 35}, {12, 15}, {1, 10}, {7, 15}, {8, 10}, {14, 8}, {16, 7}};
    unsigned y = gen_below(&m->r, 100);
    uint32_t kind = 6;
    for (size_t i = 0; i < 7; i++) {
        if (y < W[i].w) {
            kind = W[i].kind;
            break;
        }
        y -= W[i].w;
    }
    char pname[256] = "proj_00";
    unsigned zero[8] = {0}, *counts = zero, pidx = 0;
    if (c->nproj) {
        pidx = gen_below(&m->r, (uint32_t)c->nproj);
        size_t l = c->projs[pidx].len < sizeof pname - 1 ? c->projs[pidx].len : sizeof pname - 1;
        memcpy(pname, c->projs[pidx].name, l);
        pname[l] = 0;
        counts = c->projs[pidx].counts;
    }
    c->chg_kind[c->nchg] = kind;
    return create_object(m, kind, pname, pidx, counts, &c->keys, &c->changed);
}

/* update (spec and meta) or meta-only change of field `target` */
static int do_change(mctx *c, size_t target, bool spec_change, rs_error *err)
{
    mstate *m = &c->m;
    const wfield *w = &c->f[target];
    ProtobufCMessage *o = protobuf_c_message_unpack(gen_kind_desc(w->num), &m->a.pc, w->plen, c->in + w->poff);
    if (!o)
        return rs_error_set(err, RS_ECORRUPT, "mutate: object at byte %zu (field %u) does not parse", w->off, w->num);
    if (spec_change) {
        ProtobufCMessage *spec = w->num == 12 ? o : sub(&m->a, o, "spec");
        if (spec)
            change_spec(m, spec);
    }
    touch_meta(m, w->num, o, !spec_change);
    size_t start = c->changed.len, old = w->end - w->off;
    if (frame_msg(&c->changed, w->num, o))
        return rs_error_set(err, RS_ENOMEM, "mutate: out of memory");
    if (c->changed.len - start == old && !memcmp(c->changed.data + start, c->in + w->off, old)) {
        /* same bytes (its timestamp already said "now"): move the clock by a microsecond */
        m->now_ns = (m->now_ns + 1000) % 1000000000;
        c->changed.len = start;
        touch_meta(m, w->num, o, false);
        if (frame_msg(&c->changed, w->num, o))
            return rs_error_set(err, RS_ENOMEM, "mutate: out of memory");
    }
    c->chg_kind[c->nchg] = w->num;
    return RS_OK;
}

/* runs under setjmp(c->m.oom) */
static int mutate_body(mctx *c, uint64_t seed, unsigned k, rs_error *err)
{
    mstate *m = &c->m;
    int rc = RS_OK;
    m->r = gen_stream(seed, 0x6d757461, k, 0, 0);
    int64_t t = input_time(c->in, c->n);
    m->now = (t ? t : gen_base_time(seed) + 90 * 86400) + 1 + gen_below(&m->r, 3600);
    m->now_ns = (int32_t)gen_below(&m->r, 1000000) * 1000;
    index_objects(c, err, &rc);
    if (rc)
        return rc;

    for (unsigned i = 0; i < k; i++) {
        unsigned x = gen_below(&m->r, 100);
        int op = x < 40 ? OP_UPDATE : x < 65 ? OP_META : x < 85 ? OP_CREATE : OP_DELETE;
        size_t target = SIZE_MAX;
        if (op != OP_CREATE && c->nelig) {
            size_t start = gen_next(&m->r) % c->nelig;
            for (size_t j = 0; j < c->nelig; j++) {
                size_t e = c->elig[(start + j) % c->nelig];
                if (!c->state[e] && !(op == OP_DELETE && c->f[e].num == 17)) {
                    target = e;
                    break;
                }
            }
        }
        if (target == SIZE_MAX)
            op = OP_CREATE;
        ga_reset(&m->a);
        if (op == OP_DELETE) {
            c->state[target] = 2;
            c->s.deleted++;
            continue;
        }
        c->chg_off[c->nchg] = c->changed.len;
        if (op == OP_CREATE) {
            if (do_create(c))
                return rs_error_set(err, RS_ENOMEM, "mutate: out of memory");
            c->s.created++;
        } else {
            if ((rc = do_change(c, target, op == OP_UPDATE, err)))
                return rc;
            c->state[target] = 1;
            if (op == OP_UPDATE)
                c->s.updated++;
            else
                c->s.meta_only++;
        }
        c->nchg++;
    }
    c->chg_off[c->nchg] = c->changed.len;

    /* registry-level fields: a new version_id and last_updated, as on every Feast write */
    char uuid[37];
    gen_uuid(&m->r, uuid);
    Feast__Core__Registry reg = FEAST__CORE__REGISTRY__INIT;
    Google__Protobuf__Timestamp lu = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    lu.seconds = m->now;
    lu.nanos = m->now_ns;
    reg.version_id = uuid;
    reg.last_updated = &lu;
    uint8_t regbuf[128];
    size_t reglen = feast__core__registry__pack(&reg, regbuf);

    /* assemble: untouched fields in place, changed and created objects at the end of their list */
    size_t ni = 0;
    for (size_t i = 0; i < c->nf; i++)
        if (!c->state[i] && c->f[i].num != 4 && c->f[i].num != 5)
            c->items[ni++] = (item){c->f[i].num, i, i, c->in + c->f[i].off, c->f[i].end - c->f[i].off};
    for (size_t i = 0; i < c->nchg; i++)
        c->items[ni++] = (item){c->chg_kind[i], c->nf + i, SIZE_MAX, c->changed.data + c->chg_off[i],
                                c->chg_off[i + 1] - c->chg_off[i]};
    c->items[ni++] = (item){4, 0, SIZE_MAX, regbuf, reglen};
    qsort(c->items, ni, sizeof *c->items, item_cmp);
    if (rs_buf_reserve(&c->ob, c->n + c->changed.len + reglen + 1))
        return rs_error_set(err, RS_ENOMEM, "mutate: out of memory");
    for (size_t i = 0; i < ni; i++)
        rs_buf_append(&c->ob, c->items[i].bytes, c->items[i].len);   /* reserved above */
    return RS_OK;
}

int rs_mutate(const uint8_t *in, size_t n, uint64_t seed, unsigned k, uint8_t **out, size_t *outlen,
              rs_mutation_summary *sum, rs_error *err)
{
    if (out)
        *out = NULL;
    if (outlen)
        *outlen = 0;
    if (sum)
        memset(sum, 0, sizeof *sum);
    if ((!in && n) || !out || !outlen)
        return rs_error_set(err, RS_EINVALID, "mutate: NULL argument");
    mctx *c = calloc(1, sizeof *c);
    if (!c)
        return rs_error_set(err, RS_ENOMEM, "mutate: out of memory");
    c->in = in;
    c->n = n;
    int rc = rsg_wire_scan(in, n, &c->f, &c->nf, err);
    if (rc)
        goto done;
    size_t nf = c->nf, kk = (size_t)k + 1;
    if (!(c->state = calloc(nf + 1, 1)) || !(c->elig = malloc((nf + 1) * sizeof *c->elig)) ||
        !(c->projs = calloc(nf + 1, sizeof *c->projs)) || !(c->chg_off = malloc(kk * sizeof *c->chg_off)) ||
        !(c->chg_kind = malloc(kk * sizeof *c->chg_kind)) || !(c->items = malloc((nf + kk + 1) * sizeof *c->items))) {
        rc = rs_error_set(err, RS_ENOMEM, "mutate: out of memory");
        goto done;
    }
    ga_init(&c->m.a, &c->m.oom);
    if (setjmp(c->m.oom))
        rc = rs_error_set(err, RS_ENOMEM, "mutate: out of memory");
    else
        rc = mutate_body(c, seed, k, err);
    if (rc == RS_OK) {
        *outlen = c->ob.len;
        *out = rs_buf_take(&c->ob, outlen);
        if (sum)
            *sum = c->s;
    }
done:
    ga_free(&c->m.a);
    free(c->f);
    free(c->state);
    free(c->elig);
    free(c->projs);
    free(c->keys.v);
    free(c->chg_off);
    free(c->chg_kind);
    free(c->items);
    rs_buf_free(&c->changed);
    rs_buf_free(&c->ob);
    free(c);
    return rc;
}

/* ---------------------------------------------------------------- shuffle */

static bool is_map_entry(const ProtobufCMessageDescriptor *d)
{
    size_t l = strlen(d->name);
    return l > 5 && !strcmp(d->name + l - 5, "Entry") && d->n_fields == 2 && d->fields[0].id == 1 &&
           d->fields[1].id == 2 && !strcmp(d->fields[0].name, "key") && !strcmp(d->fields[1].name, "value");
}

/* permutes the entries of every map reachable from msg */
static void shuffle_maps(ProtobufCMessage *msg, gen_rng *r, unsigned depth)
{
    if (depth > 200)
        return;
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *fcount(msg, f);
            ProtobufCMessage **arr = *(ProtobufCMessage ***)fptr(msg, f);
            if (n > 1 && is_map_entry(f->descriptor))
                for (size_t j = n - 1; j > 0; j--) {
                    size_t x = gen_below(r, (uint32_t)(j + 1));
                    ProtobufCMessage *t = arr[j];
                    arr[j] = arr[x];
                    arr[x] = t;
                }
            for (size_t j = 0; j < n; j++)
                shuffle_maps(arr[j], r, depth + 1);
        } else {
            if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(const uint32_t *)((const char *)msg + f->quantifier_offset) != f->id)
                continue;
            ProtobufCMessage *s = *(ProtobufCMessage **)fptr(msg, f);
            if (s)
                shuffle_maps(s, r, depth + 1);
        }
    }
}

typedef struct sctx {
    mstate m;
    const uint8_t *in;
    size_t n;
    wfield *f;
    size_t nf;
    item *items;
    rs_buf ob;
} sctx;

/* runs under setjmp(c->m.oom) */
static int shuffle_body(sctx *c, uint64_t seed, rs_error *err)
{
    gen_rng *r = &c->m.r;
    *r = gen_stream(seed, 0x73687566, 0, 0, 0);
    size_t nf = c->nf;
    for (size_t i = 0; i < nf; i++)
        c->items[i] = (item){c->f[i].num, i, i, c->in + c->f[i].off, c->f[i].end - c->f[i].off};
    qsort(c->items, nf, sizeof *c->items, item_cmp);
    /* permute the run of each repeated message field */
    for (size_t i = 0; i < nf;) {
        size_t j = i;
        while (j < nf && c->items[j].num == c->items[i].num)
            j++;
        const ProtobufCFieldDescriptor *fdsc =
            protobuf_c_message_descriptor_get_field(&feast__core__registry__descriptor, c->items[i].num);
        if (fdsc && fdsc->label == PROTOBUF_C_LABEL_REPEATED && fdsc->type == PROTOBUF_C_TYPE_MESSAGE)
            for (size_t a = j - 1; a > i; a--) {
                size_t b = i + gen_below(r, (uint32_t)(a - i + 1));
                item t = c->items[a];
                c->items[a] = c->items[b];
                c->items[b] = t;
            }
        i = j;
    }
    if (rs_buf_reserve(&c->ob, c->n + c->n / 64 + 64))
        return rs_error_set(err, RS_ENOMEM, "shuffle: out of memory");
    for (size_t i = 0; i < nf; i++) {
        const wfield *w = &c->f[c->items[i].entry];
        const ProtobufCMessageDescriptor *d = gen_kind_desc(w->num);
        if (!d || w->wt != 2) {   /* scalars and unknown fields: as they are */
            if (rs_buf_append(&c->ob, c->items[i].bytes, c->items[i].len))
                return rs_error_set(err, RS_ENOMEM, "shuffle: out of memory");
            continue;
        }
        ga_reset(&c->m.a);
        ProtobufCMessage *o = protobuf_c_message_unpack(d, &c->m.a.pc, w->plen, c->in + w->poff);
        if (!o)
            return rs_error_set(err, RS_ECORRUPT, "shuffle: object at byte %zu (field %u) does not parse", w->off, w->num);
        shuffle_maps(o, r, 0);
        if (frame_msg(&c->ob, w->num, o))
            return rs_error_set(err, RS_ENOMEM, "shuffle: out of memory");
    }
    return RS_OK;
}

int rs_shuffle(const uint8_t *in, size_t n, uint64_t seed, uint8_t **out, size_t *outlen, rs_error *err)
{
    if (out)
        *out = NULL;
    if (outlen)
        *outlen = 0;
    if ((!in && n) || !out || !outlen)
        return rs_error_set(err, RS_EINVALID, "shuffle: NULL argument");
    sctx *c = calloc(1, sizeof *c);
    if (!c)
        return rs_error_set(err, RS_ENOMEM, "shuffle: out of memory");
    c->in = in;
    c->n = n;
    int rc = rsg_wire_scan(in, n, &c->f, &c->nf, err);
    if (rc)
        goto done;
    if (!(c->items = malloc((c->nf + 1) * sizeof *c->items))) {
        rc = rs_error_set(err, RS_ENOMEM, "shuffle: out of memory");
        goto done;
    }
    ga_init(&c->m.a, &c->m.oom);
    if (setjmp(c->m.oom))
        rc = rs_error_set(err, RS_ENOMEM, "shuffle: out of memory");
    else
        rc = shuffle_body(c, seed, err);
    if (rc == RS_OK) {
        *outlen = c->ob.len;
        *out = rs_buf_take(&c->ob, outlen);
        if (!*out && !(*out = malloc(1)))
            rc = rs_error_set(err, RS_ENOMEM, "shuffle: out of memory");
    }
done:
    ga_free(&c->m.a);
    free(c->f);
    free(c->items);
    rs_buf_free(&c->ob);
    free(c);
    return rc;
}
