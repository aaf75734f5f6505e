/* rs_generate.c: assembles a generated registry object by object.
 *
 * Objects are built one at a time in an arena, packed with protobuf-c straight into the output
 * (tag, length, message: what feast__core__registry__pack writes for a repeated field), and the
 * arena is reset: memory stays near the output size whatever the registry size. Fields come in
 * field-number order, as Feast (Python protobuf) writes them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_buf.h"
#include "rs_gen_impl.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

void rs_gen_defaults(rs_gen_params *p)
{
    memset(p, 0, sizeof *p);
    p->projects = 3;
    p->features_per_view = 20;
    p->tags_per_object = 4;
    p->udf_bytes = 2048;
    p->registry_fields = true;
}

typedef struct gstate {
    jmp_buf oom;
    gen_arena a;
    rs_buf out, infra;
    bool count_only;
    size_t size;          /* bytes produced (or counted) */
    rs_gen_stats st;
} gstate;

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void put_varint(uint8_t *p, size_t *i, uint64_t v)
{
    while (v >= 0x80) {
        p[(*i)++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[(*i)++] = (uint8_t)v;
}

/* appends field `field` holding message m to b (or only counts it) */
static void emit(gstate *s, rs_buf *b, uint32_t field, const void *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint64_t tag = ((uint64_t)field << 3) | 2;
    size_t total = varint_len(tag) + varint_len(n) + n;
    if (b == &s->out)
        s->size += total;
    if (s->count_only) {
        if (b != &s->out)
            b->len += total;
        return;
    }
    if (rs_buf_reserve(b, total) != RS_OK)
        longjmp(s->oom, 1);
    put_varint(b->data, &b->len, tag);
    put_varint(b->data, &b->len, n);
    b->len += protobuf_c_message_pack(m, b->data + b->len);
}

static void raw(gstate *s, const uint8_t *p, size_t n)
{
    s->size += n;
    if (s->count_only)
        return;
    if (rs_buf_append(&s->out, p, n) != RS_OK)
        longjmp(s->oom, 1);
}

static void set_project(gen_ctx *g, unsigned pi, char *name, size_t n)
{
    gen_project_name(pi, name, n);
    g->proj = pi;
    g->project = name;
}

/* the whole registry; called under setjmp(s->oom) */
static void build(gstate *s, const rs_gen_params *p, const gen_counts *c)
{
    gen_ctx g = {.a = &s->a, .seed = p->seed, .features_per_view = p->features_per_view,
                 .tags_per_object = p->tags_per_object, .udf_bytes = p->udf_bytes,
                 .t0 = gen_base_time(p->seed), .c = *c};
    char pname[32];
    unsigned P = p->projects;
    s->st.projects = P;
    s->st.entities = c->entities;
    s->st.data_sources = c->data_sources;
    s->st.feature_views = c->feature_views;
    s->st.on_demand_views = c->on_demand_views;
    s->st.stream_views = c->stream_views;
    s->st.feature_services = c->feature_services;
    s->st.permissions = c->permissions;

#define EACH(count, field, call)                                  \
    for (unsigned pi = 0; pi < P; pi++) {                         \
        set_project(&g, pi, pname, sizeof pname);                 \
        for (unsigned i = 0; i < (count); i++) {                  \
            ga_reset(&s->a);                                      \
            emit(s, &s->out, (field), (call));                    \
        }                                                         \
    }

    EACH(c->entities, 1, gen_entity(&g, i));

    if (p->registry_fields) {
        ga_reset(&s->a);
        Feast__Core__Registry r = FEAST__CORE__REGISTRY__INIT;
        gen_rng rr = gen_stream(p->seed, 4, 0, 0, GS_MAIN);
        char uuid[37];
        gen_uuid(&rr, uuid);
        r.registry_schema_version = "1";
        r.version_id = uuid;
        r.last_updated = gen_ts(&g, &rr, g.t0 + 90 * 86400 + (int64_t)gen_below(&rr, 86400));
        uint8_t buf[256];
        size_t n = feast__core__registry__get_packed_size(&r);
        if (n <= sizeof buf)
            raw(s, buf, feast__core__registry__pack(&r, buf));
    }

    for (unsigned pi = 0; pi < P; pi++) {
        set_project(&g, pi, pname, sizeof pname);
        for (unsigned i = 0; i < c->feature_views; i++) {
            ga_reset(&s->a);
            Feast__Core__FeatureView *fv = gen_feature_view(&g, i);
            s->st.features += fv->spec->n_features;
            emit(s, &s->out, 6, fv);
        }
    }
    EACH(c->feature_services, 7, gen_feature_service(&g, i));
    EACH(c->on_demand_views, 8, gen_odfv(&g, i));

    /* infra (10): one online-store table per online feature view */
    s->infra.len = 0;
    for (unsigned pi = 0; pi < P; pi++) {
        set_project(&g, pi, pname, sizeof pname);
        for (unsigned i = 0; i < c->feature_views; i++) {
            ga_reset(&s->a);
            Feast__Core__InfraObject *io = gen_infra_object(&g, i);
            if (io) {
                emit(s, &s->infra, 1, io);
                s->st.infra_objects++;
            }
        }
    }
    if (s->infra.len || c->feature_views) {
        uint8_t hdr[16];
        size_t h = 0;
        put_varint(hdr, &h, (10 << 3) | 2);
        put_varint(hdr, &h, s->infra.len);
        raw(s, hdr, h);
        if (s->count_only)
            s->size += s->infra.len;
        else
            raw(s, s->infra.data, s->infra.len);
    }
    rs_buf_free(&s->infra);

    EACH(c->data_sources, 12, gen_data_source(&g, i, false));
    for (unsigned pi = 0; pi < P; pi++) {
        set_project(&g, pi, pname, sizeof pname);
        for (unsigned i = 0; i < c->stream_views; i++) {
            ga_reset(&s->a);
            Feast__Core__StreamFeatureView *sv = gen_sfv(&g, i);
            s->st.features += sv->spec->n_features;
            emit(s, &s->out, 14, sv);
        }
    }
    EACH(1, 15, gen_project_metadata(&g));
    EACH(c->permissions, 16, gen_permission(&g, i));
    EACH(1, 17, gen_project(&g));
#undef EACH
}

/* runs build(); *s is owned by the caller (s->out on success) */
static int run(const rs_gen_params *p, const gen_counts *c, bool count_only, size_t reserve, gstate *s)
{
    memset(s, 0, sizeof *s);
    s->count_only = count_only;
    ga_init(&s->a, &s->oom);
    if (setjmp(s->oom)) {
        ga_free(&s->a);
        rs_buf_free(&s->out);
        rs_buf_free(&s->infra);
        return RS_ENOMEM;
    }
    if (!count_only && reserve && rs_buf_reserve(&s->out, reserve) != RS_OK)
        longjmp(s->oom, 1);
    build(s, p, c);
    ga_free(&s->a);
    return RS_OK;
}

#define DEF(v, d) ((v) ? (v) : (d))

static void counts_for(const rs_gen_params *p, unsigned F, gen_counts *c)
{
    if (!p->target_bytes) {
        c->entities = DEF(p->entities, 4);
        c->data_sources = DEF(p->data_sources, 10);
        c->feature_views = DEF(p->feature_views, 12);
        c->on_demand_views = DEF(p->on_demand_views, 3);
        c->stream_views = DEF(p->stream_views, 2);
        c->feature_services = DEF(p->feature_services, 4);
        c->permissions = DEF(p->permissions, 2);
    } else {
        c->feature_views = F;
        c->entities = DEF(p->entities, 2 + F / 8);
        c->data_sources = DEF(p->data_sources, 5 + F / 2);
        c->on_demand_views = DEF(p->on_demand_views, 1 + F / 8);
        c->stream_views = DEF(p->stream_views, 1 + F / 16);
        c->feature_services = DEF(p->feature_services, 1 + F / 5);
        c->permissions = DEF(p->permissions, 1 + F / 50);
    }
    if (c->feature_views || c->on_demand_views || c->stream_views) {
        if (c->data_sources < 5)
            c->data_sources = 5;
        if (c->entities < 1)
            c->entities = 1;
    }
}

static int size_for(const rs_gen_params *p, unsigned F, size_t *size)
{
    gen_counts c;
    gstate s;
    counts_for(p, F, &c);
    int rc = run(p, &c, true, 0, &s);
    *size = s.size;
    return rc;
}

#define MAX_COUNT 50000000u

/* the number of feature views per project whose registry is closest to p->target_bytes */
static int solve_views(const rs_gen_params *p, unsigned *F, size_t *expect, rs_error *err)
{
    const double T = (double)p->target_bytes;
    unsigned f1 = 4, f2 = 64;
    size_t s1, s2;
    int rc;
    if ((rc = size_for(p, f1, &s1)) || (rc = size_for(p, f2, &s2)))
        return rs_error_set(err, rc, "generate: out of memory while sizing");
    double slope = (double)(s2 - s1) / (f2 - f1);
    double est = f2 + (T - (double)s2) / slope;
    /* refine on a larger sample: the slope is exact up to per-object noise */
    if (est > 512) {
        unsigned f3 = 512;
        size_t s3;
        if ((rc = size_for(p, f3, &s3)))
            return rs_error_set(err, rc, "generate: out of memory while sizing");
        slope = (double)(s3 - s2) / (f3 - f2);
        f2 = f3;
        s2 = s3;
        est = f2 + (T - (double)s2) / slope;
    }
    /* exact counts are cheap up to some MB: a few secant steps */
    size_t sz = 0;
    for (int it = 0; it < 4; it++) {
        if (est < 1)
            est = 1;
        if (est > MAX_COUNT)
            return rs_error_set(err, RS_EINVALID, "generate: target of %zu bytes needs too many objects", p->target_bytes);
        unsigned f = (unsigned)llround(est);
        if (f * slope > 16e6 && it == 0) {   /* large: trust the slope */
            *F = f;
            *expect = (size_t)((double)s2 + slope * ((double)f - f2));
            return RS_OK;
        }
        if ((rc = size_for(p, f, &sz)))
            return rs_error_set(err, rc, "generate: out of memory while sizing");
        *F = f;
        *expect = sz;
        if (fabs((double)sz - T) <= T * 0.01)
            break;
        est = f + (T - (double)sz) / slope;
        if (est < 1)
            est = 1;
        if ((unsigned)llround(est) == f)
            break;
    }
    return RS_OK;
}

int rs_generate_ex(const rs_gen_params *p, uint8_t **out, size_t *len, rs_gen_stats *stats, rs_error *err)
{
    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (!p || !out || !len)
        return rs_error_set(err, RS_EINVALID, "generate: NULL argument");
    rs_gen_params q = *p;
    q.projects = DEF(q.projects, 3);
    unsigned cnts[] = {q.entities, q.data_sources, q.feature_views, q.on_demand_views, q.stream_views,
                       q.feature_services, q.permissions};
    for (size_t i = 0; i < sizeof cnts / sizeof cnts[0]; i++)
        if (cnts[i] > MAX_COUNT)
            return rs_error_set(err, RS_EINVALID, "generate: object count %u exceeds %u", cnts[i], MAX_COUNT);
    if (q.projects > 10000 || q.features_per_view > 100000 || q.tags_per_object > 1000 ||
        q.udf_bytes > (64u << 20) || q.target_bytes > ((size_t)16 << 30))
        return rs_error_set(err, RS_EINVALID,
                            "generate: parameter out of range (projects <= 10000, features_per_view <= 100000, "
                            "tags_per_object <= 1000, udf_bytes <= 64 MiB, target_bytes <= 16 GiB)");
    unsigned F = 0;
    size_t expect = 0;
    if (q.target_bytes) {
        int rc = solve_views(&q, &F, &expect, err);
        if (rc)
            return rc;
    }
    gen_counts c;
    counts_for(&q, F, &c);
    gstate s;
    int rc = run(&q, &c, false, expect ? expect + expect / 64 : 0, &s);
    if (rc)
        return rs_error_set(err, rc, "generate: out of memory");
    if (stats)
        *stats = s.st;
    *len = s.out.len;
    *out = rs_buf_take(&s.out, len);
    if (!*out) {   /* empty registry: still hand back a buffer */
        *out = malloc(1);
        if (!*out)
            return rs_error_set(err, RS_ENOMEM, "generate: out of memory");
    }
    return RS_OK;
}

int rs_generate(const rs_gen_params *p, uint8_t **out, size_t *len, rs_error *err)
{
    return rs_generate_ex(p, out, len, NULL, err);
}
