/* rs_gen_util.c: the generator's PRNG, arena, vocabulary and small message helpers (tags,
 * features, timestamps), and the top-level wire scanner. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_gen_impl.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* ---------------------------------------------------------------- PRNG */

uint64_t gen_next(gen_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint32_t gen_below(gen_rng *r, uint32_t n)
{
    if (n == 0)
        return 0;
    return (uint32_t)(((gen_next(r) >> 32) * (uint64_t)n) >> 32);
}

bool gen_chance(gen_rng *r, unsigned percent) { return gen_below(r, 100) < percent; }

static uint64_t mix(uint64_t h, uint64_t v)
{
    gen_rng r = {h ^ (v * 0xD6E8FEB86659FD93ULL)};
    return gen_next(&r);
}

gen_rng gen_stream(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    uint64_t h = mix(mix(mix(mix(mix(0x5EED5EED5EED5EEDULL, seed), a), b), c), d);
    return (gen_rng){h};
}

/* ---------------------------------------------------------------- arena */

struct gen_chunk {
    gen_chunk *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

#define GA_CHUNK (256u * 1024u)

static void *pc_alloc(void *data, size_t n) { return ga_alloc(data, n); }
static void pc_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

void ga_init(gen_arena *a, jmp_buf *oom)
{
    memset(a, 0, sizeof *a);
    a->oom = oom;
    a->pc.alloc = pc_alloc;
    a->pc.free = pc_free;
    a->pc.allocator_data = a;
}

void *ga_alloc(gen_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    gen_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > GA_CHUNK ? n : GA_CHUNK;
        c = malloc(sizeof *c + cap);
        if (!c)
            longjmp(*a->oom, 1);
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *ga_strdup(gen_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = ga_alloc(a, n);
    memcpy(d, s, n);
    return d;
}

char *ga_printf(gen_arena *a, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof tmp)
        return ga_strdup(a, tmp);
    char *d = ga_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

void *ga_msg(gen_arena *a, const ProtobufCMessageDescriptor *d)
{
    void *m = ga_alloc(a, d->sizeof_message);
    protobuf_c_message_init(d, m);
    return m;
}

void ga_reset(gen_arena *a)
{
    gen_chunk *keep = NULL;
    for (gen_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        if (!keep && c->cap == GA_CHUNK) {
            keep = c;
            keep->used = 0;
            keep->next = NULL;
        } else {
            free(c);
        }
    }
    a->head = keep;
}

void ga_free(gen_arena *a)
{
    for (gen_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
}

void gen_project_name(unsigned idx, char *buf, size_t n) { snprintf(buf, n, "proj_%02u", idx); }

int64_t gen_base_time(uint64_t seed)
{
    gen_rng r = gen_stream(seed, 0, 0, 0, 99);
    return 1704067200 + (int64_t)gen_below(&r, 365u * 86400u);   /* during 2024 */
}

void gen_uuid(gen_rng *r, char *buf)
{
    uint64_t a = gen_next(r), b = gen_next(r);
    snprintf(buf, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
             (unsigned)a & 0xfff, (unsigned)(0x8000 | ((b >> 48) & 0x3fff)),
             (unsigned long long)(b & 0xffffffffffffULL));
}

/* ---------------------------------------------------------------- values */

static const char *const PEOPLE[] = {"alice", "bob", "carol", "dmitri", "erin", "farah",
                                     "gopal", "hana", "ines", "jonas"};
const char *const GEN_TEAMS[GEN_NTEAMS] = {"risk", "growth", "mlops", "pricing", "marketplace",
                                    "search"};
static const char *const TAG_KEYS[] = {"owner", "team", "tier", "pii", "domain", "cost_center",
                                       "stage", "experiments", "access_group", "date_added",
                                       "sla", "source_system"};

Google__Protobuf__Timestamp *gen_ts(gen_ctx *g, gen_rng *r, int64_t t)
{
    Google__Protobuf__Timestamp *ts = NEW(Google__Protobuf__Timestamp, google__protobuf__timestamp__descriptor);
    ts->seconds = t;
    ts->nanos = (int32_t)gen_below(r, 1000000) * 1000;
    return ts;
}

Google__Protobuf__Duration *gen_duration(gen_ctx *g, int64_t s)
{
    Google__Protobuf__Duration *d = NEW(Google__Protobuf__Duration, google__protobuf__duration__descriptor);
    d->seconds = s;
    return d;
}

static char *tag_value(gen_ctx *g, gen_rng *r, const char *key)
{
    if (!strcmp(key, "owner"))
        return ga_printf(g->a, "%s@example.com", PICK(r, PEOPLE));
    if (!strcmp(key, "team"))
        return ga_strdup(g->a, PICK(r, GEN_TEAMS));
    if (!strcmp(key, "tier")) {
        static const char *const v[] = {"gold", "silver", "bronze"};
        return ga_strdup(g->a, PICK(r, v));
    }
    if (!strcmp(key, "pii"))
        return ga_strdup(g->a, gen_chance(r, 20) ? "true" : "false");
    if (!strcmp(key, "domain")) {
        static const char *const v[] = {"payments", "mobility", "ads", "logistics", "identity"};
        return ga_strdup(g->a, PICK(r, v));
    }
    if (!strcmp(key, "cost_center"))
        return ga_printf(g->a, "cc-%04u", gen_below(r, 10000));
    if (!strcmp(key, "stage")) {
        static const char *const v[] = {"prod", "staging", "dev"};
        return ga_strdup(g->a, PICK(r, v));
    }
    if (!strcmp(key, "experiments"))
        return ga_printf(g->a, "experiment-%c,experiment-%c", 'A' + (int)gen_below(r, 13),
                         'N' + (int)gen_below(r, 13));
    if (!strcmp(key, "access_group"))
        return ga_printf(g->a, "%s-team@example.com", PICK(r, GEN_TEAMS));
    if (!strcmp(key, "date_added"))
        return ga_printf(g->a, "2023-%02u-%02u", 1 + gen_below(r, 12), 1 + gen_below(r, 28));
    if (!strcmp(key, "sla")) {
        static const char *const v[] = {"15m", "1h", "24h"};
        return ga_strdup(g->a, PICK(r, v));
    }
    static const char *const v[] = {"snowflake", "bigquery", "kafka", "postgres", "s3"};
    return ga_strdup(g->a, PICK(r, v));
}

/* n tags with distinct keys around `mean`; returns the entry array (cast by the caller). */
void *gen_tags(gen_ctx *g, gen_rng *r, const ProtobufCMessageDescriptor *ed, unsigned mean,
                       size_t *n)
{
    *n = 0;
    if (mean == 0 || ed->sizeof_message != sizeof(kv_entry))
        return NULL;
    unsigned cnt = mean / 2 + gen_below(r, mean + 1);
    if (cnt == 0)
        return NULL;
    kv_entry **v = ga_alloc(g->a, cnt * sizeof *v);
    unsigned start = gen_below(r, COUNT(TAG_KEYS));
    for (unsigned i = 0; i < cnt; i++) {
        v[i] = ga_msg(g->a, ed);
        if (i < COUNT(TAG_KEYS)) {
            const char *k = TAG_KEYS[(start + i) % COUNT(TAG_KEYS)];
            v[i]->key = ga_strdup(g->a, k);
            v[i]->value = tag_value(g, r, k);
        } else {
            v[i]->key = ga_printf(g->a, "label_%02u", i);
            v[i]->value = ga_printf(g->a, "value_%u", gen_below(r, 1000));
        }
    }
    *n = cnt;
    return v;
}

static vtype feature_type(gen_rng *r)
{
    static const struct {
        vtype t;
        unsigned w;
    } T[] = {{FEAST__TYPES__VALUE_TYPE__ENUM__INT64, 30},
             {FEAST__TYPES__VALUE_TYPE__ENUM__FLOAT, 20},
             {FEAST__TYPES__VALUE_TYPE__ENUM__DOUBLE, 20},
             {FEAST__TYPES__VALUE_TYPE__ENUM__STRING, 10},
             {FEAST__TYPES__VALUE_TYPE__ENUM__INT32, 8},
             {FEAST__TYPES__VALUE_TYPE__ENUM__BOOL, 5},
             {FEAST__TYPES__VALUE_TYPE__ENUM__UNIX_TIMESTAMP, 2},
             {FEAST__TYPES__VALUE_TYPE__ENUM__FLOAT_LIST, 3},
             {FEAST__TYPES__VALUE_TYPE__ENUM__STRING_LIST, 2}};
    unsigned x = gen_below(r, 100);
    for (size_t i = 0; i < COUNT(T); i++) {
        if (x < T[i].w)
            return T[i].t;
        x -= T[i].w;
    }
    return FEAST__TYPES__VALUE_TYPE__ENUM__INT64;
}

Feast__Core__FeatureSpecV2 *gen_plain_feature(gen_ctx *g, const char *name, vtype t)
{
    Feast__Core__FeatureSpecV2 *f = NEW(Feast__Core__FeatureSpecV2, feast__core__feature_spec_v2__descriptor);
    f->name = ga_strdup(g->a, name);
    f->value_type = t;
    return f;
}

Feast__Core__FeatureSpecV2 *gen_feature(gen_ctx *g, gen_rng *r, const char *name)
{
    Feast__Core__FeatureSpecV2 *f = gen_plain_feature(g, name, feature_type(r));
    if (gen_chance(r, 10)) {
        f->description = ga_printf(g->a, "%s, computed daily", name);
        TAGS(f, feast__core__feature_spec_v2__tags_entry__descriptor, 2);
    } else if (gen_chance(r, 1)) {
        f->value_type = FEAST__TYPES__VALUE_TYPE__ENUM__FLOAT_LIST;
        f->vector_index = 1;
        f->vector_length = 384;
        f->vector_search_metric = ga_strdup(g->a, "COSINE");
    }
    return f;
}

char *gen_owner(gen_ctx *g, gen_rng *r) { return ga_printf(g->a, "%s@example.com", PICK(r, PEOPLE)); }

/* created/last_updated pair: created within the 60 days after t0, updated up to 10 days later */
void gen_meta_times(gen_ctx *g, gen_rng *r, Google__Protobuf__Timestamp **created,
                       Google__Protobuf__Timestamp **updated, int64_t *cr)
{
    int64_t c = g->t0 + (int64_t)gen_below(r, 60u * 86400u);
    int64_t u = gen_chance(r, 50) ? c : c + (int64_t)gen_below(r, 10u * 86400u);
    *created = gen_ts(g, r, c);
    *updated = gen_ts(g, r, u);
    if (u == c)
        (*updated)->nanos = (*created)->nanos;
    if (cr)
        *cr = c;
}

/* ---------------------------------------------------------------- wire */

static bool get_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*i >= n)
            return false;
        uint8_t b = p[(*i)++];
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* one field at p[*i]; fills f (offsets relative to p) */
static bool next_field(const uint8_t *p, size_t n, size_t *i, wfield *f)
{
    uint64_t tag, v;
    f->off = *i;
    if (!get_varint(p, n, i, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
        return false;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (uint32_t)(tag & 7);
    f->poff = f->plen = 0;
    switch (f->wt) {
    case 0:
        if (!get_varint(p, n, i, &v))
            return false;
        break;
    case 1:
        if (n - *i < 8)
            return false;
        *i += 8;
        break;
    case 2:
        if (!get_varint(p, n, i, &v) || v > n - *i)
            return false;
        f->poff = *i;
        f->plen = (size_t)v;
        *i += (size_t)v;
        break;
    case 5:
        if (n - *i < 4)
            return false;
        *i += 4;
        break;
    default:
        return false;   /* groups (3, 4) and invalid wire types */
    }
    f->end = *i;
    return true;
}

int rsg_wire_scan(const uint8_t *p, size_t n, wfield **out, size_t *nf, rs_error *err)
{
    *out = NULL;
    *nf = 0;
    size_t cap = 0, i = 0;
    wfield *v = NULL;
    while (i < n) {
        if (*nf == cap) {
            cap = cap ? cap * 2 : 256;
            wfield *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                free(v);
                return rs_error_set(err, RS_ENOMEM, "registry scan: out of memory");
            }
            v = nv;
        }
        if (!next_field(p, n, &i, &v[*nf])) {
            free(v);
            *nf = 0;
            return rs_error_set(err, RS_ECORRUPT, "registry: malformed top-level field at byte %zu", i);
        }
        (*nf)++;
    }
    *out = v;
    return RS_OK;
}

bool rsg_wire_find(const uint8_t *p, size_t n, uint32_t num, const uint8_t **val, size_t *vlen)
{
    size_t i = 0;
    bool found = false;
    wfield f;
    while (i < n) {
        if (!next_field(p, n, &i, &f))
            return found;
        if (f.num == num && f.wt == 2) {
            *val = p + f.poff;
            *vlen = f.plen;
            found = true;
        }
    }
    return found;
}

const ProtobufCMessageDescriptor *gen_kind_desc(uint32_t num)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(&feast__core__registry__descriptor, num);
    if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return NULL;
    return f->descriptor;
}
