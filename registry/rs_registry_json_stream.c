/* rs_registry_json_stream.c: rs_registry_write_json_full and rs_registry_write_dump_json
 * (rs_registry_json.h): the JSON of a whole registry written as it is produced, one object at a
 * time, byte for byte what rs_json_dump_file prints for rs_registry_to_json_full /
 * rs_registry_dump_json (tests/unit/test_json.c compares them).
 *
 * --full: the members of the Registry message in JSON key order. A repeated field's objects are
 * unpacked and written one by one, a singular message (infra, the version history) likewise; a
 * string field, and an unknown one (whose object holds its tagged occurrences), is unpacked as a
 * Registry of that one field and printed, and its member cut out of the braces.
 *
 * Project mode: one pass sorts references to the printed objects by (project, kind, name, file
 * order); each project's dict is then written member by member, each object converted, rebuilt
 * the way Feast's class writes it (rs_feast_dict.h), written and freed. The name an object sorts
 * by is its index name, which is what Feast sorts by, except a data source whose class takes its
 * name from a custom configuration (PostgreSQL): a kind of a project that holds a custom data
 * source is converted first and sorted by the rebuilt names (a tree of that list only). infra,
 * printed whole in every project's dict as Feast does, is converted and printed once. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "feast/core/DataSource.pb-c.h"
#include "feast/core/Registry.pb-c.h"
#include "rs_feast_dict.h"
#include "rs_json.h"
#include "rs_kinds.h"
#include "rs_registry_json.h"

/* ------------------------------------------------------------------------------ --full */

typedef struct fmember {
    char key[64];
    uint32_t kind;
    bool repeated; /* objects written one by one */
} fmember;

static int by_key(const void *a, const void *b) { return strcmp(((const fmember *)a)->key, ((const fmember *)b)->key); }

/* The text of one singular or unknown member ("\n  \"key\": value", from the printer's own
 * output of a Registry holding only it) appended to out; nothing when it prints nothing (an
 * empty string). */
static int small_member(const rs_object *o, const ProtobufCFieldDescriptor *fd, rs_buf *out, rs_error *err)
{
    rs_buf wire = {0}, text = {0};
    int rc = RS_OK;
    if (fd) { /* known singular: tag, length, payload, as rs_registry_encode writes it */
        if (rs_buf_varint(&wire, ((uint64_t)o->kind << 3) | 2) || rs_buf_varint(&wire, o->len) ||
            rs_buf_append(&wire, o->data, o->len))
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
    } else if (rs_buf_append(&wire, o->data, o->len)) { /* opaque: the tagged occurrences */
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    ProtobufCMessage *m = NULL;
    if (rc == RS_OK) {
        static const uint8_t empty[1];
        m = protobuf_c_message_unpack(&feast__core__registry__descriptor, NULL, wire.len, wire.len ? wire.data : empty);
        if (!m)
            rc = rs_error_set(err, RS_ECORRUPT, "feast.core.Registry: field %" PRIu32 ": does not parse", o->kind);
    }
    if (rc == RS_OK)
        rc = rs_json_append_message(m, RS_JSON_UNKNOWN, 0, &text, err);
    /* "{\n  \"k\": v\n}" -> "\n  \"k\": v"; "{}" -> nothing */
    if (rc == RS_OK && text.len > 4 && rs_buf_append(out, text.data + 1, text.len - 3))
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    rs_buf_free(&wire);
    rs_buf_free(&text);
    return rc;
}

int rs_registry_write_json_full(const rs_registry *r, FILE *f, rs_error *err)
{
    const ProtobufCMessageDescriptor *rd = &feast__core__registry__descriptor;
    size_t n = rs_registry_count(r);
    fmember mem[128];
    size_t nm = 0;
    /* the kinds present, in JSON key order */
    for (size_t i = 0; i < n; i++) {
        const rs_object *o = rs_registry_at(r, i);
        bool seen = false;
        for (size_t k = 0; k < nm && !seen; k++)
            seen = mem[k].kind == o->kind;
        if (seen)
            continue;
        if (nm == sizeof mem / sizeof mem[0])
            return rs_error_set(err, RS_ETOOBIG, "more than %zu top-level fields", nm);
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(rd, o->kind);
        const rs_kind_info *ki = rs_kind_info_get(o->kind);
        fmember *m = &mem[nm++];
        m->kind = o->kind;
        m->repeated = fd && ki && ki->desc && !ki->singleton && fd->label == PROTOBUF_C_LABEL_REPEATED &&
                      fd->type == PROTOBUF_C_TYPE_MESSAGE && fd->descriptor == ki->desc;
        if (fd && ki)
            rs_json_name(fd->name, m->key, sizeof m->key);
        else
            snprintf(m->key, sizeof m->key, "%" PRIu32, o->kind);
    }
    qsort(mem, nm, sizeof *mem, by_key);

    rs_json_writer *w = rs_json_writer_new(f, RS_JSON_UNKNOWN);
    if (!w)
        return rs_error_set(err, f ? RS_ENOMEM : RS_EINVALID, "rs_registry_write_json_full: %s", f ? "out of memory" : "no file");
    int rc = RS_OK;
    bool any = false;
    rs_buf text = {0};
    rs_json_writer_raw(w, "{", 1);
    for (size_t k = 0; k < nm && rc == RS_OK; k++) {
        const fmember *m = &mem[k];
        if (!m->repeated) {
            const rs_object *o = NULL;
            for (size_t i = 0; i < n && !o; i++)
                if (rs_registry_at(r, i)->kind == m->kind)
                    o = rs_registry_at(r, i);
            text.len = 0;
            const ProtobufCFieldDescriptor *fd = rs_kind_info_get(m->kind) ? protobuf_c_message_descriptor_get_field(rd, m->kind) : NULL;
            if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE && fd->label != PROTOBUF_C_LABEL_REPEATED &&
                fd->descriptor == rs_kind_info_get(m->kind)->desc) {
                /* a singular message (infra, the version history: megabytes in a large registry)
                 * is written as it is converted, like the objects */
                static const uint8_t empty[1];
                ProtobufCMessage *msg = protobuf_c_message_unpack(fd->descriptor, NULL, o->len, o->len ? o->data : empty);
                if (!msg) {
                    rc = rs_error_set(err, RS_ECORRUPT, "feast.core.Registry: %s: %zu bytes do not parse", fd->name, o->len);
                    break;
                }
                if (any)
                    rs_json_writer_raw(w, ",", 1);
                any = true;
                rs_json_writer_indent(w, 1);
                rs_json_writer_string(w, m->key, strlen(m->key));
                rs_json_writer_raw(w, ": ", 2);
                rc = rs_json_writer_message(w, msg, 1, err);
                if (rc)
                    rs_error_prefix(err, "feast.core.Registry: %s", fd->name);
                protobuf_c_message_free_unpacked(msg, NULL);
                continue;
            }
            if ((rc = small_member(o, fd, &text, err)) != RS_OK || text.len == 0)
                continue;
            if (any)
                rs_json_writer_raw(w, ",", 1);
            rs_json_writer_raw(w, (const char *)text.data, text.len);
            any = true;
            continue;
        }
        const rs_kind_info *ki = rs_kind_info_get(m->kind);
        if (any)
            rs_json_writer_raw(w, ",", 1);
        any = true;
        rs_json_writer_indent(w, 1);
        rs_json_writer_string(w, m->key, strlen(m->key));
        rs_json_writer_raw(w, ": [", 3);
        size_t idx = 0;
        for (size_t i = 0; i < n && rc == RS_OK; i++) {
            const rs_object *o = rs_registry_at(r, i);
            if (o->kind != m->kind)
                continue;
            static const uint8_t empty[1];
            ProtobufCMessage *msg = protobuf_c_message_unpack(ki->desc, NULL, o->len, o->len ? o->data : empty);
            if (!msg) {
                rc = rs_error_set(err, RS_ECORRUPT, "feast.core.Registry: %s[%zu]: %zu bytes do not parse as %s",
                                  ki->field, idx, o->len, ki->desc->name);
                break;
            }
            if (idx)
                rs_json_writer_raw(w, ",", 1);
            rs_json_writer_indent(w, 2);
            rc = rs_json_writer_message(w, msg, 2, err);
            if (rc)
                rs_error_prefix(err, "feast.core.Registry: %s[%zu]", ki->field, idx);
            protobuf_c_message_free_unpacked(msg, NULL);
            idx++;
        }
        rs_json_writer_indent(w, 1);
        rs_json_writer_raw(w, "]", 1);
    }
    if (any)
        rs_json_writer_indent(w, 0);
    rs_json_writer_raw(w, "}", 1);
    rs_buf_free(&text);
    int wr = rs_json_writer_finish(w);
    if (rc == RS_OK && wr)
        rc = rs_error_set(err, wr, "%s", wr == RS_EIO ? "write failed" : "out of memory");
    return rc;
}

/* -------------------------------------------------------------------------- project mode */

typedef struct pref {
    const char *project; /* borrowed from r */
    const char *key;     /* what Feast sorts by: the name (project metadata: the project) */
    uint32_t kind;
    size_t idx;          /* file order */
} pref;

static int pref_cmp(const void *a, const void *b)
{
    const pref *x = a, *y = b;
    int c = strcmp(x->project, y->project);
    if (c)
        return c;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if ((c = strcmp(x->key, y->key)) != 0)
        return c;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

typedef struct dnamed {
    const char *key;
    size_t idx;
    json_t *j;
} dnamed;

static int dnamed_cmp(const void *a, const void *b)
{
    const dnamed *x = a, *y = b;
    int r = strcmp(x->key, y->key);
    return r ? r : (x->idx < y->idx ? -1 : (x->idx > y->idx));
}

typedef struct dctx {
    const rs_registry *r;
    rs_json_writer *w;
    rs_error *err;
    const rs_buf *infra;  /* the infra list's text at the members' level, or empty */
    int level;            /* of the project dicts */
    const uint32_t *kinds; /* the kinds to print, sorted by JSON name */
    size_t nkinds;
} dctx;

/* The object as to_dict prints it (NULL with *skip, or on error). */
static json_t *dict_of(dctx *c, const rs_object *o, bool *skip)
{
    const rs_kind_info *ki = rs_kind_info_get(o->kind);
    json_t *stored = rs_json_from_bytes(ki->desc, o->data, o->len, 0, c->err);
    *skip = false;
    if (!stored) {
        rs_error_prefix(c->err, "%s %s", rs_kind_plan_name(o->kind), o->kind == RS_KIND_PROJECT_METADATA ? o->project : o->name);
        return NULL;
    }
    json_t *j = rs_feast_dict_object(o->kind, stored, skip);
    json_decref(stored);
    if (!j && !*skip)
        rs_error_set(c->err, RS_ENOMEM, "out of memory");
    return j;
}

/* a data source whose class may take its name from elsewhere (a custom source) */
static bool custom_source(const rs_object *o)
{
    Feast__Core__DataSource *ds = feast__core__data_source__unpack(NULL, o->len, o->data);
    if (!ds)
        return true; /* let the conversion report it */
    bool c = ds->type == FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__CUSTOM_SOURCE || ds->custom_options;
    feast__core__data_source__free_unpacked(ds, NULL);
    return c;
}

static void open_member(dctx *c, bool *any, const char *key)
{
    if (*any)
        rs_json_writer_raw(c->w, ",", 1);
    *any = true;
    rs_json_writer_indent(c->w, c->level + 1);
    rs_json_writer_string(c->w, key, strlen(key));
    rs_json_writer_raw(c->w, ": ", 2);
}

/* One kind's list in one project: v[0..n) sorted by (key, file order). */
static int write_kind(dctx *c, uint32_t kind, const pref *v, size_t n, bool *any)
{
    const char *key = rs_kind_json_name(kind);
    int el = c->level + 2;
    bool custom = false;
    for (size_t i = 0; kind == RS_KIND_DATA_SOURCES && i < n && !custom; i++)
        custom = custom_source(rs_registry_at(c->r, v[i].idx));
    if (custom) { /* sorted by the rebuilt names: the list converted first */
        dnamed *d = malloc(n * sizeof *d);
        size_t m = 0;
        int rc = d ? RS_OK : rs_error_set(c->err, RS_ENOMEM, "out of memory");
        for (size_t i = 0; i < n && rc == RS_OK; i++) {
            bool skip;
            json_t *j = dict_of(c, rs_registry_at(c->r, v[i].idx), &skip);
            if (!j && !skip)
                rc = c->err->code;
            else if (j)
                d[m++] = (dnamed){rs_feast_dict_sort_key(kind, j), v[i].idx, j};
        }
        if (rc == RS_OK && m) {
            qsort(d, m, sizeof *d, dnamed_cmp);
            open_member(c, any, key);
            rs_json_writer_raw(c->w, "[", 1);
            for (size_t i = 0; i < m; i++) {
                if (i)
                    rs_json_writer_raw(c->w, ",", 1);
                rs_json_writer_indent(c->w, el);
                rs_json_writer_value(c->w, d[i].j, el);
            }
            rs_json_writer_indent(c->w, c->level + 1);
            rs_json_writer_raw(c->w, "]", 1);
        }
        for (size_t i = 0; i < m; i++)
            json_decref(d[i].j);
        free(d);
        return rc;
    }
    size_t written = 0;
    for (size_t i = 0; i < n; i++) {
        bool skip;
        json_t *j = dict_of(c, rs_registry_at(c->r, v[i].idx), &skip);
        if (!j) {
            if (skip)
                continue;
            return c->err->code;
        }
        const char *k = rs_feast_dict_sort_key(kind, j);
        if (strcmp(k, v[i].key) != 0) { /* the order written so far would be wrong */
            json_decref(j);
            return rs_error_set(c->err, RS_EINVALID, "%s %s: printed name %s differs from the registry's", rs_kind_plan_name(kind),
                                v[i].key, k);
        }
        if (!written) {
            open_member(c, any, key);
            rs_json_writer_raw(c->w, "[", 1);
        } else {
            rs_json_writer_raw(c->w, ",", 1);
        }
        rs_json_writer_indent(c->w, el);
        rs_json_writer_value(c->w, j, el);
        json_decref(j);
        written++;
    }
    if (written) {
        rs_json_writer_indent(c->w, c->level + 1);
        rs_json_writer_raw(c->w, "]", 1);
    }
    return RS_OK;
}

/* One project's dict; v[0..n) are its objects sorted by (kind, key, file order). */
static int write_project(dctx *c, const char *project, const pref *v, size_t n)
{
    bool any = false;
    rs_json_writer_raw(c->w, "{", 1);
    /* members in key order: "project" among the kinds' JSON names */
    bool project_done = false;
    for (size_t k = 0; k <= c->nkinds; k++) {
        const char *name = k < c->nkinds ? rs_kind_json_name(c->kinds[k]) : NULL;
        if (!project_done && (!name || strcmp("project", name) < 0)) {
            open_member(c, &any, "project");
            rs_json_writer_string(c->w, project, strlen(project));
            project_done = true;
        }
        if (!name)
            break;
        uint32_t kind = c->kinds[k];
        if (kind == RS_KIND_INFRA) {
            if (c->infra->len) {
                open_member(c, &any, "infra");
                rs_json_writer_raw(c->w, (const char *)c->infra->data, c->infra->len);
            }
            continue;
        }
        size_t a = 0;
        while (a < n && v[a].kind != kind)
            a++;
        size_t b = a;
        while (b < n && v[b].kind == kind)
            b++;
        if (b > a) {
            int rc = write_kind(c, kind, v + a, b - a, &any);
            if (rc)
                return rc;
        }
    }
    rs_json_writer_indent(c->w, c->level);
    rs_json_writer_raw(c->w, "}", 1);
    return RS_OK;
}

static int kind_name_cmp(const void *a, const void *b)
{
    return strcmp(rs_kind_json_name(*(const uint32_t *)a), rs_kind_json_name(*(const uint32_t *)b));
}

/* infra's list as to_dict prints it, at level `level` (empty when Feast prints no infra) */
static int infra_text(const rs_registry *r, int level, rs_buf *out, rs_error *err)
{
    for (size_t i = 0; i < rs_registry_count(r); i++) {
        const rs_object *o = rs_registry_at(r, i);
        if (o->kind != RS_KIND_INFRA)
            continue;
        json_t *stored = rs_json_from_bytes(rs_kind_info_get(o->kind)->desc, o->data, o->len, 0, err);
        if (!stored)
            return rs_error_prefix(err, "infra");
        json_t *objs = rs_feast_dict_infra(stored);
        json_decref(stored);
        if (!objs)
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        int rc = json_array_size(objs) ? rs_json_append_value(objs, level, out) : RS_OK;
        json_decref(objs);
        if (rc)
            return rs_error_set(err, rc, "out of memory");
        /* the old path kept the last infra object seen; a registry holds one */
    }
    return RS_OK;
}

int rs_registry_write_dump_json(const rs_registry *r, const rs_dump_filter *fin, FILE *f, rs_error *err)
{
    rs_dump_filter flt = {0};
    rs_error local = {0};
    if (fin)
        flt = *fin;
    if (!f)
        return rs_error_set(err, RS_EINVALID, "rs_registry_write_dump_json: no file");
    uint32_t kinds[32];
    size_t nk = 0;
    for (const uint32_t *k = rs_registry_dump_kinds; *k && nk < 32; k++)
        if (!flt.kind || flt.kind == *k)
            kinds[nk++] = *k;
    qsort(kinds, nk, sizeof *kinds, kind_name_cmp);
    bool want_infra = false;
    for (size_t k = 0; k < nk; k++)
        want_infra |= kinds[k] == RS_KIND_INFRA && (!flt.name || !flt.name[0]); /* infra's name is "" */

    size_t n = rs_registry_count(r), nv = 0;
    pref *v = malloc((n ? n : 1) * sizeof *v);
    size_t np = 0;
    const char **projects = flt.project ? NULL : rs_registry_projects(r, &np);
    rs_buf infra = {0};
    rs_json_writer *w = NULL;
    int rc = RS_OK;
    if (!v || (!flt.project && !projects)) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto done;
    }
    bool orphans = false;
    for (size_t i = 0; i < n; i++) {
        const rs_object *o = rs_registry_at(r, i);
        if (rs_kind_is_singleton(o->kind))
            continue;
        orphans |= !o->project[0];
        bool printed = false;
        for (size_t k = 0; k < nk && !printed; k++)
            printed = kinds[k] == o->kind;
        if (!printed || (flt.project && strcmp(o->project, flt.project) != 0) || (flt.name && strcmp(o->name, flt.name) != 0))
            continue;
        v[nv++] = (pref){o->project, o->kind == RS_KIND_PROJECT_METADATA ? o->project : o->name, o->kind, i};
    }
    qsort(v, nv, sizeof *v, pref_cmp);
    int level = flt.project ? 0 : 1;
    if (want_infra && (rc = infra_text(r, level + 1, &infra, err)) != RS_OK)
        goto done;
    w = rs_json_writer_new(f, 0);
    if (!w) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto done;
    }
    dctx c = {.r = r, .w = w, .err = err ? err : &local, .infra = &infra, .level = level, .kinds = kinds, .nkinds = nk};
    if (flt.project) {
        rc = write_project(&c, flt.project, v, nv);
        goto done;
    }
    /* every project (objects without one first, under ""), v sorted by project the same way */
    size_t at = 0, shown = 0;
    rs_json_writer_raw(w, "[", 1);
    for (size_t p = orphans ? 0 : 1; p <= np && rc == RS_OK; p++) {
        const char *name = p == 0 ? "" : projects[p - 1];
        while (at < nv && strcmp(v[at].project, name) < 0)
            at++;
        size_t end = at;
        while (end < nv && strcmp(v[end].project, name) == 0)
            end++;
        if (shown++)
            rs_json_writer_raw(w, ",", 1);
        rs_json_writer_indent(w, 1);
        rc = write_project(&c, name, v + at, end - at);
        at = end;
    }
    if (shown)
        rs_json_writer_indent(w, 0);
    rs_json_writer_raw(w, "]", 1);
done:
    if (w) {
        int wr = rs_json_writer_finish(w);
        if (rc == RS_OK && wr)
            rc = rs_error_set(err, wr, "%s", wr == RS_EIO ? "write failed" : "out of memory");
    }
    rs_buf_free(&infra);
    free(projects);
    free(v);
    return rc;
}
