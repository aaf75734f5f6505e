/* rs_diff.c: see rs_diff.h. */
#include "rs_diff.h"
#include "rs_json.h"
#include "rs_kinds.h"
#include "rs_registry_impl.h"
#include "rs_wire.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int cmp_objp(const void *x, const void *y)
{
    const rs_object *a = *(const rs_object *const *)x, *b = *(const rs_object *const *)y;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    int r = strcmp(a->project, b->project);
    if (r)
        return r;
    r = strcmp(a->name, b->name);
    if (r)
        return r;
    return a->ordinal < b->ordinal ? -1 : (a->ordinal > b->ordinal);
}

static const rs_object **sorted(const rs_registry *r, size_t *n)
{
    *n = rs_registry_count(r);
    const rs_object **v = malloc((*n ? *n : 1) * sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < *n; i++)
        v[i] = rs_registry_at(r, i);
    if (*n > 1)
        qsort(v, *n, sizeof *v, cmp_objp);
    return v;
}

/* ------------------------------------------------------------ properties */

typedef struct props {
    rs_prop_change *v;
    size_t n, cap;
    int rc;
} props;

static char *render(const json_t *j)
{
    if (!j)
        return NULL;
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
}

static void add_prop(props *p, const char *path, const json_t *a, const json_t *b, unsigned cls)
{
    if (p->rc)
        return;
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 8;
        rs_prop_change *nv = realloc(p->v, nc * sizeof *nv);
        if (!nv) {
            p->rc = RS_ENOMEM;
            return;
        }
        p->v = nv;
        p->cap = nc;
    }
    rs_prop_change *c = &p->v[p->n++];
    c->path = strdup(path);
    c->old_val = render(a);
    c->new_val = render(b);
    c->cls = cls;
}

static unsigned class_of_path(const char *path, unsigned kind_class)
{
    if (kind_class)
        return kind_class;
    if (strncmp(path, "meta", 4) == 0 && (path[4] == '.' || path[4] == '\0' || path[4] == '['))
        return RS_CLASS_META;
    return RS_CLASS_SPEC;
}

/* Arrays whose elements are objects with distinct "name" strings are matched by name. */
static bool named_array(const json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(arr, i);
        if (!json_is_object(e) || !json_is_string(json_object_get(e, "name")))
            return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(json_string_value(json_object_get(json_array_get(arr, j), "name")),
                       json_string_value(json_object_get(e, "name"))) == 0)
                return false;
    }
    return true;
}

static const json_t *find_named(const json_t *arr, const char *name)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *e = json_array_get(arr, i);
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
            return e;
    }
    return NULL;
}

static void diff_json(props *p, char *path, size_t plen, size_t pcap, const json_t *a, const json_t *b,
                      unsigned kind_class)
{
    if (p->rc || (a && b && json_equal((json_t *)a, (json_t *)b)))
        return;
    if (json_is_object(a) && json_is_object(b)) {
        /* union of keys, sorted */
        size_t na = json_object_size(a), nb = json_object_size(b), k = 0;
        const char **keys = malloc((na + nb + 1) * sizeof *keys);
        if (!keys) {
            p->rc = RS_ENOMEM;
            return;
        }
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)a, key, v) keys[k++] = key;
        json_object_foreach((json_t *)b, key, v) if (!json_object_get(a, key)) keys[k++] = key;
        for (size_t i = 1; i < k; i++)
            for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
                const char *t = keys[j];
                keys[j] = keys[j - 1];
                keys[j - 1] = t;
            }
        for (size_t i = 0; i < k; i++) {
            int w = snprintf(path + plen, pcap - plen, "%s%s", plen ? "." : "", keys[i]);
            size_t nl = plen + (size_t)(w > 0 ? w : 0);
            if (nl >= pcap)
                nl = pcap - 1;
            diff_json(p, path, nl, pcap, json_object_get(a, keys[i]), json_object_get(b, keys[i]), kind_class);
            path[plen] = '\0';
        }
        free(keys);
        return;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (named_array(a) && named_array(b)) {
            for (int pass = 0; pass < 2; pass++) {
                const json_t *src = pass == 0 ? a : b, *other = pass == 0 ? b : a;
                for (size_t i = 0; i < json_array_size(src); i++) {
                    const json_t *e = json_array_get(src, i);
                    const char *nm = json_string_value(json_object_get(e, "name"));
                    const json_t *o = find_named(other, nm);
                    if (pass == 1 && o)
                        continue; /* already compared */
                    int w = snprintf(path + plen, pcap - plen, "[%s]", nm);
                    size_t nl = plen + (size_t)(w > 0 ? w : 0);
                    if (nl >= pcap)
                        nl = pcap - 1;
                    if (pass == 0)
                        diff_json(p, path, nl, pcap, e, o, kind_class);
                    else
                        diff_json(p, path, nl, pcap, NULL, e, kind_class);
                    path[plen] = '\0';
                }
            }
            /* a pure reordering of named elements is a change too */
            if (!p->rc && json_array_size(a) == json_array_size(b)) {
                bool same_set = true, same_order = true;
                for (size_t i = 0; i < json_array_size(a) && same_set; i++) {
                    const char *na = json_string_value(json_object_get(json_array_get(a, i), "name"));
                    const char *nb = json_string_value(json_object_get(json_array_get(b, i), "name"));
                    if (!find_named(b, na))
                        same_set = false;
                    if (strcmp(na, nb) != 0)
                        same_order = false;
                }
                if (same_set && !same_order) {
                    json_t *oa = json_array(), *ob = json_array();
                    for (size_t i = 0; i < json_array_size(a); i++) {
                        json_array_append(oa, json_object_get(json_array_get(a, i), "name"));
                        json_array_append(ob, json_object_get(json_array_get(b, i), "name"));
                    }
                    char tmp[16];
                    snprintf(tmp, sizeof tmp, "%s", "(order)");
                    size_t nl = plen + strlen(tmp);
                    if (nl < pcap) {
                        memcpy(path + plen, tmp, strlen(tmp) + 1);
                        add_prop(p, path, oa, ob, class_of_path(path, kind_class));
                        path[plen] = '\0';
                    }
                    json_decref(oa);
                    json_decref(ob);
                }
            }
            return;
        }
        size_t na = json_array_size(a), nb = json_array_size(b), n = na > nb ? na : nb;
        for (size_t i = 0; i < n; i++) {
            int w = snprintf(path + plen, pcap - plen, "[%zu]", i);
            size_t nl = plen + (size_t)(w > 0 ? w : 0);
            if (nl >= pcap)
                nl = pcap - 1;
            diff_json(p, path, nl, pcap, i < na ? json_array_get(a, i) : NULL, i < nb ? json_array_get(b, i) : NULL,
                      kind_class);
            path[plen] = '\0';
        }
        return;
    }
    add_prop(p, plen ? path : "(value)", a, b, class_of_path(path, kind_class));
}

static json_t *object_json(const rs_object *o, rs_error *err)
{
    const rs_kind_info *ki = rs_kind_info_get(o->kind);
    if (ki && ki->desc)
        return rs_json_from_bytes(ki->desc, o->data, o->len, RS_JSON_UNKNOWN, err);
    if (ki) /* string singleton */
        return json_stringn((const char *)o->data, o->len);
    /* opaque: its bytes as base64 through a bytes-typed wrapper is overkill; show length */
    json_t *j = json_object();
    json_object_set_new(j, "opaqueBytes", json_integer((json_int_t)o->len));
    return j;
}

static int prop_diff(const rs_object *a, const rs_object *b, unsigned kind_class, rs_obj_change *c, rs_error *err)
{
    json_t *ja = object_json(a, err), *jb = ja ? object_json(b, err) : NULL;
    if (!ja || !jb) {
        json_decref(ja);
        json_decref(jb);
        return err && err->code ? err->code : RS_ECORRUPT;
    }
    props p = {0};
    char path[1024] = "";
    if (!json_is_object(ja) || !json_is_object(jb))
        add_prop(&p, "(value)", ja, jb, kind_class ? kind_class : RS_CLASS_SPEC);
    else
        diff_json(&p, path, 0, sizeof path, ja, jb, kind_class);
    json_decref(ja);
    json_decref(jb);
    c->props = p.v;
    c->nprops = p.n;
    if (p.rc)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    return RS_OK;
}

/* ------------------------------------------------------------ classes */

static int meta_bytes(const rs_object *o, uint32_t meta_field, rs_buf *full, const uint8_t **m, size_t *ml, rs_error *err)
{
    rs_buf_reset(full);
    int rc = rs_obj_canon(o->kind, o->data, o->len, NULL, "", 0, 0, full, err);
    if (rc)
        return rc;
    *m = NULL;
    *ml = 0;
    if (rs_wire_find_len(full->data ? full->data : (const uint8_t *)"", full->len, meta_field, m, ml) < 0)
        return rs_error_set(err, RS_ECORRUPT, "malformed object");
    return RS_OK;
}

static int classify(const rs_object *a, const rs_object *b, unsigned *classes, rs_error *err)
{
    const rs_kind_info *ki = rs_kind_info_get(a->kind);
    if (ki && ki->registry_level) {
        *classes = RS_CLASS_REGISTRY;
        return RS_OK;
    }
    if (!ki || !ki->meta_field) {
        *classes = RS_CLASS_SPEC;
        return RS_OK;
    }
    rs_buf sa = {0}, sb = {0}, fa = {0}, fb = {0};
    int rc = rs_obj_canon(a->kind, a->data, a->len, NULL, "", 0, ki->meta_field, &sa, err);
    if (!rc)
        rc = rs_obj_canon(b->kind, b->data, b->len, NULL, "", 0, ki->meta_field, &sb, err);
    unsigned cls = 0;
    if (!rc && (sa.len != sb.len || (sa.len && memcmp(sa.data, sb.data, sa.len) != 0)))
        cls |= RS_CLASS_SPEC;
    const uint8_t *ma = NULL, *mb = NULL;
    size_t mal = 0, mbl = 0;
    if (!rc)
        rc = meta_bytes(a, ki->meta_field, &fa, &ma, &mal, err);
    if (!rc)
        rc = meta_bytes(b, ki->meta_field, &fb, &mb, &mbl, err);
    if (!rc && (mal != mbl || (mal && memcmp(ma, mb, mal) != 0)))
        cls |= RS_CLASS_META;
    rs_buf_free(&sa);
    rs_buf_free(&sb);
    rs_buf_free(&fa);
    rs_buf_free(&fb);
    *classes = cls ? cls : RS_CLASS_SPEC;
    return rc;
}

/* ------------------------------------------------------------ compute */

int rs_diff_compute(const rs_registry *ra, const rs_registry *rb, unsigned flags, rs_diff **out, rs_error *err)
{
    *out = NULL;
    size_t na, nb;
    const rs_object **a = sorted(ra, &na), **b = sorted(rb, &nb);
    rs_diff *d = calloc(1, sizeof *d);
    int rc = RS_OK;
    size_t cap = 0;
    if (!a || !b || !d) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto out;
    }
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        int c = i >= na ? 1 : j >= nb ? -1 : cmp_objp(&a[i], &b[j]);
        if (c == 0 && memcmp(a[i]->hash, b[j]->hash, RS_DIGEST_LEN) == 0) {
            i++;
            j++;
            continue;
        }
        if (d->n == cap) {
            cap = cap ? cap * 2 : 16;
            rs_obj_change *nv = realloc(d->items, cap * sizeof *nv);
            if (!nv) {
                rc = rs_error_set(err, RS_ENOMEM, "out of memory");
                goto out;
            }
            d->items = nv;
        }
        rs_obj_change *ch = &d->items[d->n++];
        memset(ch, 0, sizeof *ch);
        const rs_object *o = c <= 0 ? a[i] : b[j];
        ch->kind = o->kind;
        ch->ordinal = o->ordinal;
        ch->project = o->project;
        ch->name = o->name;
        unsigned kind_class = rs_kind_is_registry_level(o->kind) ? RS_CLASS_REGISTRY : 0;
        if (c < 0) {
            ch->type = RS_CHANGE_DELETED;
            ch->a = a[i++];
            ch->classes = kind_class ? kind_class : RS_CLASS_SPEC;
        } else if (c > 0) {
            ch->type = RS_CHANGE_CREATED;
            ch->b = b[j++];
            ch->classes = kind_class ? kind_class : RS_CLASS_SPEC;
        } else {
            ch->type = RS_CHANGE_UPDATED;
            ch->a = a[i++];
            ch->b = b[j++];
            rc = classify(ch->a, ch->b, &ch->classes, err);
            if (!rc && (flags & RS_DIFF_PROPS))
                rc = prop_diff(ch->a, ch->b, kind_class, ch, err);
            if (rc) {
                rs_error_prefix(err, "diff %s %s", rs_kind_plan_name(ch->kind), ch->name);
                goto out;
            }
        }
    }
out:
    free(a);
    free(b);
    if (rc) {
        rs_diff_free(d);
        return rc;
    }
    *out = d;
    return RS_OK;
}

void rs_diff_free(rs_diff *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        for (size_t k = 0; k < d->items[i].nprops; k++) {
            free(d->items[i].props[k].path);
            free(d->items[i].props[k].old_val);
            free(d->items[i].props[k].new_val);
        }
        free(d->items[i].props);
    }
    free(d->items);
    free(d);
}

/* ------------------------------------------------------------ printing */

static bool shown(const rs_obj_change *c, unsigned show) { return (c->classes & show) != 0; }

size_t rs_diff_count(const rs_diff *d, unsigned show)
{
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++)
        if (shown(&d->items[i], show))
            k++;
    return k;
}

/* Feast skips pickled UDF bytes in its plan; we show their size instead of base64. */
static bool is_blob_path(const char *path)
{
    static const char *sfx[] = {"userDefinedFunction.body", "substraitPlan", "ibisFunction", "featureViewProto",
                                "configuration", "expectationSuite", "profiler.body", "customInfra.field"};
    size_t pl = strlen(path);
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        size_t l = strlen(sfx[i]);
        if (pl >= l && strcmp(path + pl - l, sfx[i]) == 0)
            return true;
    }
    return false;
}

static void print_val(FILE *f, const char *path, const char *v)
{
    if (!v) {
        fputs("(none)", f);
        return;
    }
    if (is_blob_path(path) && v[0] == '"') {
        size_t l = strlen(v) - 2, pad = 0;
        if (l >= 2 && v[l] == '=')
            pad++;
        if (l >= 2 && v[l - 1] == '=')
            pad++;
        fprintf(f, "<%zu bytes>", l / 4 * 3 - pad);
        return;
    }
    fputs(v, f);
}

static bool plan_prop(const rs_prop_change *p, unsigned show)
{
    if (!(p->cls & show))
        return false;
    /* like Feast: the project field is not a property change worth showing */
    return strcmp(p->path, "spec.project") != 0 && strcmp(p->path, "project") != 0;
}

int rs_diff_print_plan(const rs_diff *d, unsigned show, FILE *f)
{
    /* projects are named only when the diff spans several */
    const char *first = NULL;
    bool multi = false;
    for (size_t i = 0; i < d->n; i++) {
        if (!shown(&d->items[i], show) || !d->items[i].project[0])
            continue;
        if (!first)
            first = d->items[i].project;
        else if (strcmp(first, d->items[i].project) != 0)
            multi = true;
    }
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++) {
        const rs_obj_change *c = &d->items[i];
        if (!shown(c, show))
            continue;
        k++;
        const char *verb = c->type == RS_CHANGE_CREATED ? "Created" : c->type == RS_CHANGE_DELETED ? "Deleted" : "Updated";
        const char *kn = rs_kind_plan_name(c->kind);
        char unknown[48];
        if (!rs_kind_is_known(c->kind)) {
            snprintf(unknown, sizeof unknown, "unknown field %u", c->kind);
            kn = unknown;
        }
        fprintf(f, "%s %s", verb, kn);
        if (c->name[0])
            fprintf(f, " %s", c->name);
        else if (c->project[0] && c->kind == RS_KIND_PROJECT_METADATA)
            fprintf(f, " %s", c->project);
        if (c->ordinal)
            fprintf(f, " (#%u)", c->ordinal + 1);
        if (multi && c->project[0] && c->kind != RS_KIND_PROJECTS)
            fprintf(f, " (project %s)", c->project);
        fputc('\n', f);
        for (size_t p = 0; p < c->nprops; p++) {
            const rs_prop_change *pc = &c->props[p];
            if (!plan_prop(pc, show))
                continue;
            const char *path = pc->path;
            if (strncmp(path, "spec.", 5) == 0)
                path += 5;
            fprintf(f, "\t%s: ", path);
            print_val(f, pc->path, pc->old_val);
            fputs(" -> ", f);
            print_val(f, pc->path, pc->new_val);
            fputc('\n', f);
        }
    }
    if (k == 0)
        fputs("No changes to registry\n", f);
    return ferror(f) ? RS_EIO : RS_OK;
}

static json_t *class_list(unsigned cls)
{
    json_t *a = json_array();
    if (cls & RS_CLASS_SPEC)
        json_array_append_new(a, json_string("spec"));
    if (cls & RS_CLASS_META)
        json_array_append_new(a, json_string("meta"));
    if (cls & RS_CLASS_REGISTRY)
        json_array_append_new(a, json_string("registry"));
    return a;
}

static const char *class_name(unsigned cls)
{
    return cls & RS_CLASS_REGISTRY ? "registry" : cls & RS_CLASS_META ? "meta" : "spec";
}

json_t *rs_diff_to_json(const rs_diff *d, unsigned show)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < d->n; i++) {
        const rs_obj_change *c = &d->items[i];
        if (!shown(c, show))
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "type", json_string(c->type == RS_CHANGE_CREATED ? "created"
                                                   : c->type == RS_CHANGE_DELETED ? "deleted" : "updated"));
        json_object_set_new(o, "kind", json_integer(c->kind));
        json_object_set_new(o, "kindName", json_string(rs_kind_field_name(c->kind) ? rs_kind_field_name(c->kind) : "unknown"));
        json_object_set_new(o, "project", json_string(c->project));
        json_object_set_new(o, "name", json_string(c->name));
        if (c->ordinal)
            json_object_set_new(o, "ordinal", json_integer(c->ordinal));
        json_object_set_new(o, "classes", class_list(c->classes));
        if (c->nprops) {
            json_t *ps = json_array();
            for (size_t p = 0; p < c->nprops; p++) {
                const rs_prop_change *pc = &c->props[p];
                if (!(pc->cls & show))
                    continue;
                json_t *po = json_object();
                json_object_set_new(po, "path", json_string(pc->path));
                json_object_set_new(po, "class", json_string(class_name(pc->cls)));
                json_object_set_new(po, "old", pc->old_val ? json_loads(pc->old_val, JSON_DECODE_ANY, NULL) : json_null());
                json_object_set_new(po, "new", pc->new_val ? json_loads(pc->new_val, JSON_DECODE_ANY, NULL) : json_null());
                json_array_append_new(ps, po);
            }
            json_object_set_new(o, "properties", ps);
        }
        json_array_append_new(arr, o);
    }
    json_t *root = json_object();
    json_object_set_new(root, "changes", arr);
    return root;
}

int rs_diff_print_json(const rs_diff *d, unsigned show, FILE *f)
{
    json_t *root = rs_diff_to_json(d, show);
    int rc = json_dumpf(root, f, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    fputc('\n', f);
    json_decref(root);
    return rc ? RS_EIO : RS_OK;
}
