/* rs_registry_json.c: see rs_registry_json.h. */
#include "rs_registry_json.h"
#include "rs_feast_dict.h"
#include "rs_json.h"
#include "rs_kinds.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "feast/core/Registry.pb-c.h"

const uint32_t rs_registry_dump_kinds[] = {RS_KIND_DATA_SOURCES,          RS_KIND_ENTITIES,
                                           RS_KIND_FEATURE_VIEWS,         RS_KIND_FEATURE_SERVICES,
                                           RS_KIND_ON_DEMAND_FEATURE_VIEWS, RS_KIND_STREAM_FEATURE_VIEWS,
                                           RS_KIND_LABEL_VIEWS,           RS_KIND_SAVED_DATASETS,
                                           RS_KIND_INFRA,                 RS_KIND_PERMISSIONS,
                                           RS_KIND_PROJECT_METADATA,      0};

static json_t *b64(const uint8_t *p, size_t n)
{
    char *o = malloc(4 * ((n + 2) / 3) + 1);
    if (!o)
        return NULL;
    EVP_EncodeBlock((unsigned char *)o, p, (int)n);
    json_t *j = json_string(o);
    free(o);
    return j;
}

json_t *rs_object_to_json(const rs_object *o, rs_error *err)
{
    const rs_kind_info *ki = rs_kind_info_get(o->kind);
    if (ki && ki->desc)
        return rs_json_from_bytes(ki->desc, o->data, o->len, RS_JSON_UNKNOWN, err);
    if (ki)
        return json_stringn((const char *)o->data, o->len);
    json_t *j = json_object();
    json_object_set_new(j, "field", json_integer(o->kind));
    json_object_set_new(j, "bytes", b64(o->data, o->len));
    return j;
}

json_t *rs_registry_to_json_full(const rs_registry *r, rs_error *err)
{
    uint8_t *buf;
    size_t len;
    if (rs_registry_encode(r, &buf, &len, err))
        return NULL;
    json_t *j = rs_json_from_bytes(&feast__core__registry__descriptor, buf, len, RS_JSON_UNKNOWN, err);
    free(buf);
    return j;
}

typedef struct named {
    const char *key; /* the name Feast sorts by (borrowed from j) */
    size_t idx;      /* file order: Python's sort is stable */
    json_t *j;
} named;

static int cmp_named(const void *a, const void *b)
{
    const named *x = a, *y = b;
    int r = strcmp(x->key, y->key);
    if (r)
        return r;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* One project as Feast's BaseRegistry.to_dict(project) builds it: every rule is in
 * rs_feast_dict.c; this only selects, converts (unknown fields dropped) and sorts. */
static json_t *project_dict(const rs_registry *r, const char *project, const rs_dump_filter *f, rs_error *err)
{
    json_t *d = json_object();
    json_object_set_new(d, "project", json_string(project));
    size_t n = rs_registry_count(r);
    named *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) {
        json_decref(d);
        rs_error_set(err, RS_ENOMEM, "out of memory");
        return NULL;
    }
    for (const uint32_t *k = rs_registry_dump_kinds; *k; k++) {
        if (f->kind && f->kind != *k)
            continue;
        const rs_kind_info *ki = rs_kind_info_get(*k);
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            const rs_object *o = rs_registry_at(r, i);
            if (o->kind != *k)
                continue;
            /* infra is not per project: Feast prints all of it for every project */
            if (!rs_kind_is_singleton(o->kind) && strcmp(o->project, project) != 0)
                continue;
            if (f->name && strcmp(o->name, f->name) != 0)
                continue;
            json_t *stored = rs_json_from_bytes(ki->desc, o->data, o->len, 0, err);
            if (!stored) {
                rs_error_prefix(err, "%s %s", rs_kind_plan_name(*k), o->kind == RS_KIND_PROJECT_METADATA ? o->project : o->name);
                goto fail;
            }
            if (*k == RS_KIND_INFRA) {
                json_t *objs = rs_feast_dict_infra(stored);
                json_decref(stored);
                if (!objs)
                    goto nomem;
                if (json_array_size(objs))
                    json_object_set_new(d, "infra", objs);
                else
                    json_decref(objs); /* an empty infra: no key, as in Feast */
                continue;
            }
            bool skip = false;
            json_t *j = rs_feast_dict_object(*k, stored, &skip);
            json_decref(stored);
            if (skip)
                continue;
            if (!j)
                goto nomem;
            v[m].j = j;
            v[m].key = rs_feast_dict_sort_key(*k, j);
            v[m].idx = i;
            m++;
        }
        if (*k == RS_KIND_INFRA || !m)
            continue;
        qsort(v, m, sizeof *v, cmp_named);
        json_t *arr = json_array();
        for (size_t i = 0; i < m; i++)
            json_array_append_new(arr, v[i].j);
        json_object_set_new(d, rs_kind_json_name(*k), arr);
        continue;
    nomem:
        rs_error_set(err, RS_ENOMEM, "out of memory");
    fail:
        for (size_t i = 0; i < m; i++)
            json_decref(v[i].j);
        json_decref(d);
        free(v);
        return NULL;
    }
    free(v);
    return d;
}

json_t *rs_registry_dump_json(const rs_registry *r, const rs_dump_filter *fin, rs_error *err)
{
    rs_dump_filter f = {0};
    if (fin)
        f = *fin;
    if (f.project)
        return project_dict(r, f.project, &f, err);
    size_t np;
    const char **projects = rs_registry_projects(r, &np);
    if (!projects) {
        rs_error_set(err, RS_ENOMEM, "out of memory");
        return NULL;
    }
    json_t *arr = json_array();
    /* objects without a project (old registries) are listed under the project "" */
    bool orphans = false;
    for (size_t i = 0; i < rs_registry_count(r) && !orphans; i++) {
        const rs_object *o = rs_registry_at(r, i);
        orphans = !rs_kind_is_singleton(o->kind) && !o->project[0];
    }
    if (orphans) {
        json_t *d = project_dict(r, "", &f, err);
        if (!d)
            goto fail;
        json_array_append_new(arr, d);
    }
    for (size_t i = 0; i < np; i++) {
        json_t *d = project_dict(r, projects[i], &f, err);
        if (!d)
            goto fail;
        json_array_append_new(arr, d);
    }
    free(projects);
    return arr;
fail:
    free(projects);
    json_decref(arr);
    return NULL;
}
