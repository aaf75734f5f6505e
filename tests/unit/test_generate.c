/* test_generate.c: the registry generator, mutator and shuffler (gen/rs_generate.h).
 * Results are checked independently of the rest of registry/: by unpacking with protobuf-c. */
#include "rs_generate.h"
#include "rs_buf.h"
#include "rs_test.h"

#include "feast/core/Registry.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static uint8_t *gen(rs_gen_params *p, size_t *len, rs_gen_stats *st)
{
    uint8_t *b = NULL;
    rs_error e = {0};
    int rc = rs_generate_ex(p, &b, len, st, &e);
    if (rc)
        fprintf(stderr, "rs_generate: %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    return b;
}

static Feast__Core__Registry *unpack(const uint8_t *b, size_t n)
{
    Feast__Core__Registry *r = feast__core__registry__unpack(NULL, n, b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    return r;
}

/* ---------------------------------------------------------------- objects of a registry */

typedef struct tobj {
    uint32_t kind;
    char *key;          /* "kind/project/name" */
    uint8_t *full, *spec;
    size_t flen, slen;
} tobj;

typedef struct tset {
    tobj *v;
    size_t n;
} tset;

static const ProtobufCFieldDescriptor *fd(const ProtobufCMessage *m, const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
}

static void *fptr(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) { return (char *)m + f->offset; }

static uint8_t *pack(const ProtobufCMessage *m, size_t *n)
{
    *n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(*n + 1);
    protobuf_c_message_pack(m, b);
    return b;
}

static const char *sfield(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f = fd(m, name);
    return f ? *(char **)fptr(m, f) : "";
}

static int cmp_obj(const void *a, const void *b)
{
    const tobj *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    if (x->flen != y->flen)
        return x->flen < y->flen ? -1 : 1;
    return memcmp(x->full, y->full, x->flen);
}

/* every element of every repeated top-level field, with its key, sorted by key */
static tset collect(const uint8_t *b, size_t n)
{
    Feast__Core__Registry *r = unpack(b, n);
    tset s = {0};
    const ProtobufCMessageDescriptor *d = &feast__core__registry__descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->label != PROTOBUF_C_LABEL_REPEATED)
            continue;
        size_t cnt = *(size_t *)((char *)r + f->quantifier_offset);
        ProtobufCMessage **arr = *(ProtobufCMessage ***)((char *)r + f->offset);
        s.v = realloc(s.v, (s.n + cnt + 1) * sizeof *s.v);
        for (size_t j = 0; j < cnt; j++) {
            ProtobufCMessage *o = arr[j];
            tobj *t = &s.v[s.n++];
            t->kind = f->id;
            const char *name = "", *proj = "";
            if (f->id == 12) {
                name = sfield(o, "name");
                proj = sfield(o, "project");
            } else if (fd(o, "spec")) {
                ProtobufCMessage *spec = *(ProtobufCMessage **)fptr(o, fd(o, "spec"));
                if (spec) {
                    name = sfield(spec, "name");
                    proj = f->id == 17 ? name : sfield(spec, "project");
                }
            } else {
                proj = sfield(o, "project");
            }
            size_t kl = strlen(name) + strlen(proj) + 16;
            t->key = malloc(kl);
            snprintf(t->key, kl, "%02u/%s/%s", f->id, proj, name);
            t->full = pack(o, &t->flen);
            if (f->id == 12) {   /* a data source's spec is itself without meta */
                Feast__Core__DataSource *ds = (Feast__Core__DataSource *)o;
                void *meta = ds->meta;
                ds->meta = NULL;
                t->spec = pack(o, &t->slen);
                ds->meta = meta;
            } else if (fd(o, "spec")) {
                t->spec = pack(*(ProtobufCMessage **)fptr(o, fd(o, "spec")), &t->slen);
            } else {
                t->spec = pack(o, &t->slen);
            }
        }
    }
    feast__core__registry__free_unpacked(r, NULL);
    qsort(s.v, s.n, sizeof *s.v, cmp_obj);
    return s;
}

static void tset_free(tset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].key);
        free(s->v[i].full);
        free(s->v[i].spec);
    }
    free(s->v);
}

/* ---------------------------------------------------------------- tests */

static void test_deterministic(void)
{
    rs_gen_params p;
    rs_gen_defaults(&p);
    p.seed = 42;
    size_t l1, l2, l3;
    uint8_t *a = gen(&p, &l1, NULL), *b = gen(&p, &l2, NULL);
    CU_ASSERT_EQUAL(l1, l2);
    CU_ASSERT(l1 == l2 && memcmp(a, b, l1) == 0);
    p.seed = 43;
    uint8_t *c = gen(&p, &l3, NULL);
    CU_ASSERT(l3 != l1 || memcmp(a, c, l1) != 0);
    free(a);
    free(b);
    free(c);
    /* also when sizing for a target */
    p.target_bytes = 300000;
    a = gen(&p, &l1, NULL);
    b = gen(&p, &l2, NULL);
    CU_ASSERT(l1 == l2 && memcmp(a, b, l1) == 0);
    free(a);
    free(b);
}

static void test_sizes(void)
{
    static const size_t T[] = {100000, 1000000, 10000000};
    for (size_t i = 0; i < 3; i++) {
        rs_gen_params p;
        rs_gen_defaults(&p);
        p.seed = 7 + i;
        p.target_bytes = T[i];
        size_t l;
        rs_gen_stats st;
        uint8_t *b = gen(&p, &l, &st);
        fprintf(stderr, "\n  target %zu -> %zu bytes (%.1f%%), %u feature views per project\n", T[i], l,
                100.0 * ((double)l - (double)T[i]) / (double)T[i], st.feature_views);
        CU_ASSERT(l >= T[i] * 85 / 100 && l <= T[i] * 115 / 100);
        Feast__Core__Registry *r = unpack(b, l);
        CU_ASSERT_EQUAL(r->n_feature_views, (size_t)st.projects * st.feature_views);
        feast__core__registry__free_unpacked(r, NULL);
        free(b);
    }
}

static bool has_name(char **names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], s))
            return true;
    return false;
}

static void test_contents(void)
{
    rs_gen_params p;
    rs_gen_defaults(&p);
    p.seed = 5;
    p.projects = 2;
    p.entities = 3;
    p.data_sources = 9;
    p.feature_views = 14;
    p.on_demand_views = 4;
    p.stream_views = 3;
    p.feature_services = 5;
    p.permissions = 2;
    size_t l;
    rs_gen_stats st;
    uint8_t *b = gen(&p, &l, &st);
    Feast__Core__Registry *r = unpack(b, l);
    CU_ASSERT_EQUAL(st.projects, 2);
    CU_ASSERT_EQUAL(r->n_entities, 6);
    CU_ASSERT_EQUAL(r->n_data_sources, 18);
    CU_ASSERT_EQUAL(r->n_feature_views, 28);
    CU_ASSERT_EQUAL(r->n_on_demand_feature_views, 8);
    CU_ASSERT_EQUAL(r->n_stream_feature_views, 6);
    CU_ASSERT_EQUAL(r->n_feature_services, 10);
    CU_ASSERT_EQUAL(r->n_permissions, 4);
    CU_ASSERT_EQUAL(r->n_projects, 2);
    CU_ASSERT_EQUAL(r->n_project_metadata, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->infra);
    CU_ASSERT_EQUAL(r->infra->n_infra_objects, st.infra_objects);
    CU_ASSERT(st.infra_objects > 0);
    CU_ASSERT_STRING_EQUAL(r->registry_schema_version, "1");
    CU_ASSERT_EQUAL(strlen(r->version_id), 36);
    CU_ASSERT(r->last_updated && r->last_updated->seconds > 1700000000);

    /* data sources of every type, with their options */
    unsigned types[16] = {0};
    for (size_t i = 0; i < r->n_data_sources; i++) {
        Feast__Core__DataSource *d = r->data_sources[i];
        CU_ASSERT(d->type < 16);
        types[d->type & 15]++;
        CU_ASSERT(strlen(d->name) > 0 && strlen(d->project) > 0);
        CU_ASSERT_PTR_NOT_NULL(d->meta);
        switch (d->type) {
        case FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__BATCH_FILE:
            CU_ASSERT(d->options_case == FEAST__CORE__DATA_SOURCE__OPTIONS_FILE_OPTIONS &&
                      d->file_options->file_format->format_case == FEAST__CORE__FILE_FORMAT__FORMAT_PARQUET_FORMAT);
            break;
        case FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__BATCH_BIGQUERY:
            CU_ASSERT(d->options_case == FEAST__CORE__DATA_SOURCE__OPTIONS_BIGQUERY_OPTIONS);
            break;
        case FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__STREAM_KAFKA:
            CU_ASSERT(d->options_case == FEAST__CORE__DATA_SOURCE__OPTIONS_KAFKA_OPTIONS);
            CU_ASSERT(d->batch_source && !*d->batch_source->project);
            break;
        case FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__PUSH_SOURCE:
            CU_ASSERT_PTR_NOT_NULL(d->batch_source);
            break;
        case FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__REQUEST_SOURCE:
            CU_ASSERT(d->options_case == FEAST__CORE__DATA_SOURCE__OPTIONS_REQUEST_DATA_OPTIONS &&
                      d->request_data_options->n_schema > 0);
            break;
        default: CU_FAIL("unexpected data source type");
        }
    }
    CU_ASSERT(types[FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__BATCH_FILE] && types[FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__BATCH_BIGQUERY] &&
              types[FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__STREAM_KAFKA] && types[FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__PUSH_SOURCE] &&
              types[FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__REQUEST_SOURCE]);

    /* names of entities, sources, views of one project, to check references */
    const char *proj = "proj_01";
    char *ent[64], *src[64], *views[64];
    size_t ne = 0, ns = 0, nv = 0;
    for (size_t i = 0; i < r->n_entities; i++)
        if (!strcmp(r->entities[i]->spec->project, proj))
            ent[ne++] = r->entities[i]->spec->name;
    for (size_t i = 0; i < r->n_data_sources; i++)
        if (!strcmp(r->data_sources[i]->project, proj))
            src[ns++] = r->data_sources[i]->name;
    for (size_t i = 0; i < r->n_on_demand_feature_views; i++)
        if (!strcmp(r->on_demand_feature_views[i]->spec->project, proj))
            views[nv++] = r->on_demand_feature_views[i]->spec->name;
    uint64_t features = 0;
    for (size_t i = 0; i < r->n_feature_views; i++) {
        Feast__Core__FeatureViewSpec *s = r->feature_views[i]->spec;
        features += s->n_features;
        CU_ASSERT(s->n_features >= 1 && s->ttl && s->batch_source && s->n_entity_columns == s->n_entities);
        CU_ASSERT_STRING_EQUAL(s->batch_source->project, "");   /* embedded copies carry no project */
        CU_ASSERT_PTR_NOT_NULL(r->feature_views[i]->meta);
        if (strcmp(s->project, proj))
            continue;
        views[nv++] = s->name;
        for (size_t e = 0; e < s->n_entities; e++)
            CU_ASSERT(has_name(ent, ne, s->entities[e]));
        CU_ASSERT(has_name(src, ns, s->batch_source->name));
        if (s->stream_source)
            CU_ASSERT(has_name(src, ns, s->stream_source->name));
    }
    for (size_t i = 0; i < r->n_stream_feature_views; i++) {
        Feast__Core__StreamFeatureViewSpec *s = r->stream_feature_views[i]->spec;
        features += s->n_features;
        CU_ASSERT(s->stream_source && s->stream_source->type == FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__STREAM_KAFKA);
        CU_ASSERT(s->n_aggregations > 0 && s->feature_transformation);
        if (!strcmp(s->project, proj))
            CU_ASSERT(has_name(src, ns, s->stream_source->name));
    }
    CU_ASSERT_EQUAL(features, st.features);
    for (size_t i = 0; i < r->n_on_demand_feature_views; i++) {
        Feast__Core__OnDemandFeatureViewSpec *s = r->on_demand_feature_views[i]->spec;
        CU_ASSERT(s->n_sources > 0 && s->n_features > 0);
        CU_ASSERT_FATAL(s->feature_transformation && s->feature_transformation->transformation_case ==
                        FEAST__CORE__FEATURE_TRANSFORMATION_V2__TRANSFORMATION_USER_DEFINED_FUNCTION);
        size_t body = s->feature_transformation->user_defined_function->body.len;
        CU_ASSERT(body >= p.udf_bytes * 3 / 4 && body <= p.udf_bytes * 5 / 4);
        CU_ASSERT(s->feature_transformation->user_defined_function->body.data[0] == 0x80);
        if (!strcmp(s->project, proj))
            for (size_t k = 0; k < s->n_sources; k++)
                CU_ASSERT(has_name(views, nv, s->sources[k]->key) || has_name(src, ns, s->sources[k]->key));
    }
    for (size_t i = 0; i < r->n_feature_services; i++) {
        Feast__Core__FeatureServiceSpec *s = r->feature_services[i]->spec;
        CU_ASSERT(s->n_features > 0);
        if (!strcmp(s->project, proj))
            for (size_t k = 0; k < s->n_features; k++)
                CU_ASSERT(has_name(views, nv, s->features[k]->feature_view_name) && s->features[k]->n_feature_columns > 0);
    }
    for (size_t i = 0; i < r->n_permissions; i++)
        CU_ASSERT(r->permissions[i]->spec->n_types > 0 && r->permissions[i]->spec->n_actions > 0 &&
                  r->permissions[i]->spec->policy);
    feast__core__registry__free_unpacked(r, NULL);

    /* names unique per (kind, project) */
    tset s = collect(b, l);
    CU_ASSERT_EQUAL(s.n, 6 + 18 + 28 + 8 + 6 + 10 + 4 + 2 + 2);
    for (size_t i = 1; i < s.n; i++)
        if (!strcmp(s.v[i - 1].key, s.v[i].key)) {
            fprintf(stderr, "duplicate object %s\n", s.v[i].key);
            CU_FAIL("duplicate (kind, project, name)");
        }
    tset_free(&s);
    free(b);

    /* without registry fields */
    rs_gen_defaults(&p);
    p.registry_fields = false;
    b = gen(&p, &l, NULL);
    r = unpack(b, l);
    CU_ASSERT_STRING_EQUAL(r->version_id, "");
    CU_ASSERT_STRING_EQUAL(r->registry_schema_version, "");
    CU_ASSERT_PTR_NULL(r->last_updated);
    CU_ASSERT_EQUAL(r->n_projects, 3);
    feast__core__registry__free_unpacked(r, NULL);
    free(b);
}

static void test_bad_params(void)
{
    rs_gen_params p;
    rs_gen_defaults(&p);
    p.projects = 100000;
    uint8_t *b = (uint8_t *)1;
    size_t l;
    rs_error e = {0};
    CU_ASSERT_EQUAL(rs_generate(&p, &b, &l, &e), RS_EINVALID);
    CU_ASSERT_PTR_NULL(b);
    CU_ASSERT(strlen(e.msg) > 0);
    CU_ASSERT_EQUAL(rs_generate(NULL, &b, &l, NULL), RS_EINVALID);
}

/* compares two registries object by object and checks the summary against what changed */
static void check_mutation(const uint8_t *a, size_t al, const uint8_t *b, size_t bl, unsigned k,
                           const rs_mutation_summary *sum)
{
    tset x = collect(a, al), y = collect(b, bl);
    unsigned created = 0, deleted = 0, updated = 0, meta = 0, same = 0;
    size_t i = 0, j = 0;
    while (i < x.n || j < y.n) {
        int c = i == x.n ? 1 : j == y.n ? -1 : strcmp(x.v[i].key, y.v[j].key);
        if (c < 0) {
            deleted++;
            i++;
        } else if (c > 0) {
            created++;
            j++;
        } else {
            const tobj *o = &x.v[i++], *n = &y.v[j++];
            if (o->flen == n->flen && !memcmp(o->full, n->full, o->flen))
                same++;
            else if (o->slen == n->slen && !memcmp(o->spec, n->spec, o->slen))
                meta++;
            else
                updated++;
        }
    }
    CU_ASSERT_EQUAL(created, sum->created);
    CU_ASSERT_EQUAL(deleted, sum->deleted);
    CU_ASSERT_EQUAL(updated, sum->updated);
    CU_ASSERT_EQUAL(meta, sum->meta_only);
    CU_ASSERT_EQUAL(sum->created + sum->deleted + sum->updated + sum->meta_only, k);
    CU_ASSERT_EQUAL(same + updated + meta + deleted, x.n);
    if (created != sum->created || deleted != sum->deleted || updated != sum->updated || meta != sum->meta_only)
        fprintf(stderr, "k=%u seen c%u d%u u%u m%u; summary c%u d%u u%u m%u\n", k, created, deleted, updated, meta,
                sum->created, sum->deleted, sum->updated, sum->meta_only);
    tset_free(&x);
    tset_free(&y);
}

static void test_mutate(void)
{
    rs_gen_params p;
    rs_gen_defaults(&p);
    p.seed = 9;
    size_t l;
    uint8_t *b = gen(&p, &l, NULL);
    unsigned totals[4] = {0};
    for (unsigned k = 0; k <= 40; k += (k < 10 ? 1 : 10)) {
        for (uint64_t seed = 1; seed <= 4; seed++) {
            uint8_t *m = NULL, *m2 = NULL;
            size_t ml, m2l;
            rs_mutation_summary sum, sum2;
            rs_error e = {0};
            CU_ASSERT_EQUAL_FATAL(rs_mutate(b, l, seed, k, &m, &ml, &sum, &e), RS_OK);
            check_mutation(b, l, m, ml, k, &sum);
            totals[0] += sum.created;
            totals[1] += sum.updated;
            totals[2] += sum.deleted;
            totals[3] += sum.meta_only;
            /* deterministic */
            CU_ASSERT_EQUAL_FATAL(rs_mutate(b, l, seed, k, &m2, &m2l, &sum2, NULL), RS_OK);
            CU_ASSERT(ml == m2l && memcmp(m, m2, ml) == 0);
            /* version_id and last_updated refreshed */
            Feast__Core__Registry *r0 = unpack(b, l), *r1 = unpack(m, ml);
            CU_ASSERT(strcmp(r0->version_id, r1->version_id) != 0);
            CU_ASSERT(r1->last_updated && r1->last_updated->seconds > r0->last_updated->seconds);
            CU_ASSERT_STRING_EQUAL(r1->registry_schema_version, "1");
            feast__core__registry__free_unpacked(r0, NULL);
            feast__core__registry__free_unpacked(r1, NULL);
            /* a mutated registry mutates again */
            free(m2);
            CU_ASSERT_EQUAL_FATAL(rs_mutate(m, ml, seed + 100, k, &m2, &m2l, &sum2, NULL), RS_OK);
            check_mutation(m, ml, m2, m2l, k, &sum2);
            free(m);
            free(m2);
        }
    }
    /* every kind of change happened somewhere */
    CU_ASSERT(totals[0] && totals[1] && totals[2] && totals[3]);
    free(b);
}

static void test_mutate_edges(void)
{
    /* an empty registry only gets new objects */
    uint8_t *m;
    size_t ml;
    rs_mutation_summary sum;
    CU_ASSERT_EQUAL_FATAL(rs_mutate((const uint8_t *)"", 0, 3, 5, &m, &ml, &sum, NULL), RS_OK);
    CU_ASSERT_EQUAL(sum.created, 5);
    check_mutation((const uint8_t *)"", 0, m, ml, 5, &sum);
    free(m);

    /* more changes than objects: the rest are creations */
    rs_gen_params p;
    rs_gen_defaults(&p);
    p.projects = 1;
    p.entities = 1;
    p.data_sources = 5;
    p.feature_views = 1;
    p.on_demand_views = p.stream_views = p.feature_services = p.permissions = 1;
    size_t l;
    uint8_t *b = gen(&p, &l, NULL);
    CU_ASSERT_EQUAL_FATAL(rs_mutate(b, l, 4, 40, &m, &ml, &sum, NULL), RS_OK);
    check_mutation(b, l, m, ml, 40, &sum);
    CU_ASSERT(sum.created >= 40 - 12);
    free(m);

    /* unknown top-level fields (the removed request_feature_views = 9, a future field 40) survive */
    static const uint8_t extra[] = {0x4a, 0x05, 0x0a, 0x03, 'r', 'f', 'v', 0xc0, 0x02, 0x2a};
    uint8_t *b2 = malloc(l + sizeof extra);
    memcpy(b2, b, l);
    memcpy(b2 + l, extra, sizeof extra);
    CU_ASSERT_EQUAL_FATAL(rs_mutate(b2, l + sizeof extra, 8, 3, &m, &ml, &sum, NULL), RS_OK);
    CU_ASSERT_PTR_NOT_NULL(memmem(m, ml, extra, 7));
    CU_ASSERT_PTR_NOT_NULL(memmem(m, ml, extra + 7, 3));
    uint8_t *sh;
    size_t shl;
    CU_ASSERT_EQUAL_FATAL(rs_shuffle(b2, l + sizeof extra, 8, &sh, &shl, NULL), RS_OK);
    CU_ASSERT_PTR_NOT_NULL(memmem(sh, shl, extra, 7));
    CU_ASSERT_PTR_NOT_NULL(memmem(sh, shl, extra + 7, 3));
    free(sh);
    free(m);
    free(b2);

    /* garbage is refused */
    static const uint8_t junk[] = {0x0a, 0x10, 0x01};
    rs_error e = {0};
    CU_ASSERT_EQUAL(rs_mutate(junk, sizeof junk, 1, 1, &m, &ml, &sum, &e), RS_ECORRUPT);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_EQUAL(rs_shuffle(junk, sizeof junk, 1, &m, &ml, &e), RS_ECORRUPT);
    free(b);
}

/* ---------------------------------------------------------------- shuffle */

static int cmp_entry(const void *a, const void *b)
{
    const ProtobufCMessage *x = *(ProtobufCMessage *const *)a, *y = *(ProtobufCMessage *const *)b;
    return strcmp(*(char *const *)((const char *)x + x->descriptor->fields[0].offset),
                  *(char *const *)((const char *)y + y->descriptor->fields[0].offset));
}

static bool is_map_entry(const ProtobufCMessageDescriptor *d)
{
    size_t l = strlen(d->name);
    return l > 5 && !strcmp(d->name + l - 5, "Entry") && d->n_fields == 2 && !strcmp(d->fields[0].name, "key");
}

/* sorts every map's entries by key (all maps here have string keys) */
static void sort_maps(ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(size_t *)((char *)m + f->quantifier_offset);
            ProtobufCMessage **arr = *(ProtobufCMessage ***)fptr(m, f);
            if (n > 1 && is_map_entry(f->descriptor))
                qsort(arr, n, sizeof *arr, cmp_entry);
            for (size_t j = 0; j < n; j++)
                sort_maps(arr[j]);
        } else {
            if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(uint32_t *)((char *)m + f->quantifier_offset) != f->id)
                continue;
            ProtobufCMessage *s = *(ProtobufCMessage **)fptr(m, f);
            if (s)
                sort_maps(s);
        }
    }
}

static uint8_t *normalized(const uint8_t *b, size_t n, size_t *out)
{
    Feast__Core__Registry *r = unpack(b, n);
    sort_maps(&r->base);
    uint8_t *p = pack(&r->base, out);
    feast__core__registry__free_unpacked(r, NULL);
    return p;
}

static void test_shuffle(void)
{
    for (uint64_t seed = 1; seed <= 5; seed++) {
        rs_gen_params p;
        rs_gen_defaults(&p);
        p.seed = seed;
        p.target_bytes = 50000 * seed;
        size_t l, sl, sl2;
        uint8_t *b = gen(&p, &l, NULL), *s = NULL, *s2 = NULL;
        CU_ASSERT_EQUAL_FATAL(rs_shuffle(b, l, seed, &s, &sl, NULL), RS_OK);
        CU_ASSERT_EQUAL(sl, l);
        CU_ASSERT(sl == l && memcmp(b, s, l) != 0);
        CU_ASSERT_EQUAL_FATAL(rs_shuffle(b, l, seed, &s2, &sl2, NULL), RS_OK);
        CU_ASSERT(sl2 == sl && memcmp(s, s2, sl) == 0);
        /* same multiset of objects once map order is normalized */
        size_t nl, nsl;
        uint8_t *nb = normalized(b, l, &nl), *ns = normalized(s, sl, &nsl);
        tset x = collect(nb, nl), y = collect(ns, nsl);
        CU_ASSERT_EQUAL_FATAL(x.n, y.n);
        for (size_t i = 0; i < x.n; i++)
            CU_ASSERT(!strcmp(x.v[i].key, y.v[i].key) && x.v[i].flen == y.v[i].flen &&
                      !memcmp(x.v[i].full, y.v[i].full, x.v[i].flen));
        /* objects really moved, and maps really reordered */
        Feast__Core__Registry *ra = unpack(b, l), *rb = unpack(s, sl);
        bool moved = false, remapped = false;
        for (size_t i = 0; i < ra->n_feature_views; i++) {
            moved |= strcmp(ra->feature_views[i]->spec->name, rb->feature_views[i]->spec->name) != 0;
            for (size_t j = 0; j < rb->n_feature_views; j++)
                if (!strcmp(ra->feature_views[i]->spec->name, rb->feature_views[j]->spec->name) &&
                    ra->feature_views[i]->spec->n_tags > 1)
                    remapped |= strcmp(ra->feature_views[i]->spec->tags[0]->key, rb->feature_views[j]->spec->tags[0]->key) != 0;
        }
        CU_ASSERT(moved);
        CU_ASSERT(remapped);
        /* singular fields untouched */
        CU_ASSERT_STRING_EQUAL(ra->version_id, rb->version_id);
        CU_ASSERT_EQUAL(ra->infra->n_infra_objects, rb->infra->n_infra_objects);
        feast__core__registry__free_unpacked(ra, NULL);
        feast__core__registry__free_unpacked(rb, NULL);
        tset_free(&x);
        tset_free(&y);
        free(nb);
        free(ns);
        free(b);
        free(s);
        free(s2);
    }
}

/* ---------------------------------------------------------------- inflate */

/* the input key of an output key "kk/<project>_rNNNNN/<name>" (a Project's name carries it too) */
static void strip_copy(const char *key, char *out, size_t n, unsigned *copy)
{
    snprintf(out, n, "%s", key);
    *copy = ~0u;
    char *p = strstr(out, "_r");
    while (p) {
        if (strlen(p) >= 7 && strspn(p + 2, "0123456789") == 5 && (p[7] == '/' || p[7] == '\0')) {
            *copy = (unsigned)strtoul(p + 2, NULL, 10);
            memmove(p, p + 7, strlen(p + 7) + 1);
            if (strncmp(out, "17/", 3) == 0) /* a project: its name is the project too */
                continue;
            return;
        }
        p = strstr(p + 1, "_r");
    }
}

static void check_inflate(const char *what, const uint8_t *const *in, const size_t *len, size_t nin, size_t target)
{
    uint8_t *out = NULL, *again = NULL;
    size_t n = 0, n2 = 0;
    rs_inflate_stats st = {0};
    rs_error e = {0};
    int rc = rs_inflate(in, len, nin, target, &out, &n, &st, &e);
    if (rc)
        fprintf(stderr, "%s: rs_inflate: %s\n", what, e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    printf("  %s: %zu bytes (target %zu), %u copies, %zu objects\n", what, n, target, st.copies, st.objects);
    CU_ASSERT(n <= target || st.copies == 1);
    CU_ASSERT(n + st.copy_bytes > target);
    CU_ASSERT(st.copies >= 2);
    /* deterministic */
    CU_ASSERT_EQUAL(rs_inflate(in, len, nin, target, &again, &n2, NULL, &e), RS_OK);
    CU_ASSERT(n == n2 && again && memcmp(out, again, n) == 0);
    free(again);

    /* every input object appears once per copy under its renamed project, nothing else appears */
    tset o = collect(out, n);
    size_t expect = 0;
    for (size_t i = 0; i < nin; i++) {
        tset s = collect(in[i], len[i]);
        expect += s.n;
        for (size_t j = 0; j < s.n; j++) {
            unsigned seen = 0;
            for (size_t k = 0; k < o.n; k++) {
                char base[512];
                unsigned copy;
                strip_copy(o.v[k].key, base, sizeof base, &copy);
                if (strcmp(base, s.v[j].key) != 0)
                    continue;
                CU_ASSERT(copy < st.copies);
                /* the same shape: only the renamed strings grew */
                CU_ASSERT(o.v[k].flen >= s.v[j].flen && o.v[k].flen - s.v[j].flen <= 64);
                seen++;
            }
            /* objects sharing a key in the input share it in each copy too */
            size_t same = 0;
            for (size_t m = 0; m < s.n; m++)
                same += strcmp(s.v[m].key, s.v[j].key) == 0;
            CU_ASSERT_EQUAL(seen, same * st.copies);
        }
        tset_free(&s);
    }
    CU_ASSERT_EQUAL(o.n, expect * st.copies);
    CU_ASSERT_EQUAL(st.objects, o.n);
    /* distinct keys: as many as the inputs' distinct keys times the copies */
    size_t distinct = 0;
    for (size_t k = 0; k < o.n; k++)
        distinct += k == 0 || strcmp(o.v[k].key, o.v[k - 1].key) != 0;
    size_t in_distinct = 0;
    for (size_t i = 0; i < nin; i++) {
        tset s = collect(in[i], len[i]);
        for (size_t k = 0; k < s.n; k++)
            in_distinct += k == 0 || strcmp(s.v[k].key, s.v[k - 1].key) != 0;
        tset_free(&s);
    }
    CU_ASSERT_EQUAL(distinct, in_distinct * st.copies);
    tset_free(&o);
    free(out);
}

static void test_inflate(void)
{
    rs_gen_params p;
    rs_gen_defaults(&p);
    p.seed = 5;
    p.projects = 2;
    size_t glen;
    uint8_t *g = gen(&p, &glen, NULL);
    const uint8_t *in1[] = {g};
    check_inflate("generated", in1, &glen, 1, 4 * glen + glen / 2);

    uint8_t *out = NULL;
    size_t n;
    rs_error e = {0};
    const uint8_t junk[] = {0x0a, 0x05, 0x01};
    const uint8_t *bad[] = {junk};
    size_t badlen = sizeof junk;
    CU_ASSERT_EQUAL(rs_inflate(bad, &badlen, 1, 1000, &out, &n, NULL, &e), RS_ECORRUPT);
    CU_ASSERT_PTR_NULL(out);
    CU_ASSERT_EQUAL(rs_inflate(in1, &glen, 1, 0, &out, &n, NULL, &e), RS_EINVALID);

    const char *shared = rs_test_shared_dir();
    if (!shared) {
        rs_test_skip("inflate of real registries", "../shared/fixtures not found");
        free(g);
        return;
    }
    const char *names[] = {"Instawork__feast__data_registry.db", "feast-dev__feast__ui_public_registry.db"};
    uint8_t *fx[2] = {0};
    size_t fl[2] = {0};
    for (int i = 0; i < 2; i++) {
        char *path = rs_test_fmt("%s/fixtures/registries/%s", shared, names[i]);
        CU_ASSERT_EQUAL_FATAL(rs_read_file(path, 0, &fx[i], &fl[i], &e), RS_OK);
        free(path);
    }
    check_inflate("Instawork + feast ui fixtures", (const uint8_t *const *)fx, fl, 2, 300000);
    free(fx[0]);
    free(fx[1]);
    free(g);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("generate", NULL, NULL);
    CU_add_test(s, "same seed same bytes, other seed other bytes", test_deterministic);
    CU_add_test(s, "sizes within 15% of 100 KB, 1 MB, 10 MB", test_sizes);
    CU_add_test(s, "every kind present with the asked counts, references resolve, names unique", test_contents);
    CU_add_test(s, "bad parameters refused", test_bad_params);
    CU_add_test(s, "mutate changes exactly k objects, as summarized", test_mutate);
    CU_add_test(s, "mutate: empty input, k > objects, unknown fields kept, garbage refused", test_mutate_edges);
    CU_add_test(s, "shuffle keeps content, changes bytes", test_shuffle);
    CU_add_test(s, "inflate: copies under renamed projects, every object once per copy, deterministic", test_inflate);
    return rs_test_run();
}
