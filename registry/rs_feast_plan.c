/* rs_feast_plan.c: `feast plan`'s registry text between two registries (see rs_feast_plan.h and
 * docs/json.md). Objects are compared the way Feast's diff_registry_objects compares them: each
 * side round-tripped through its class (rs_feast_round_trip), then field by field of the spec in
 * the order Feast's .proto declares them; values are printed as Python's str() prints them
 * (protobuf text format for messages, list and dict reprs for containers). */
#include "rs_feast_plan.h"
#include "rs_buf.h"
#include "rs_feast_dict.h"
#include "rs_json.h"
#include "rs_kinds.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* FeastObjectType, in Feast's order, with the spec fields in the order Feast's .proto files
 * declare them (DESCRIPTOR.fields), read from feast-dev/feast protos/feast/core, 2026-08. */
typedef struct plan_type {
    const char *label;
    uint32_t kind;
    const char *const *fields;
} plan_type;

static const char *const PROJECT_F[] = {"name", "description", "tags", "owner", NULL};
static const char *const ENTITY_F[] = {"name", "project", "value_type", "description", "join_key", "tags", "owner", NULL};
static const char *const FV_F[] = {"name", "project", "entities", "features", "tags", "ttl", "batch_source", "online",
                                   "stream_source", "description", "owner", "entity_columns", "offline", "source_views",
                                   "feature_transformation", "mode", "enable_validation", "version", "org", "disabled",
                                   NULL};
static const char *const ODFV_F[] = {"name", "project", "features", "sources", "user_defined_function",
                                     "feature_transformation", "description", "tags", "owner", "mode",
                                     "write_to_online_store", "entities", "entity_columns", "singleton", "aggregations",
                                     "version", "org", "disabled", NULL};
static const char *const SFV_F[] = {"name", "project", "entities", "features", "entity_columns", "description", "tags",
                                    "owner", "ttl", "batch_source", "stream_source", "online", "user_defined_function",
                                    "mode", "aggregations", "timestamp_field", "feature_transformation", "enable_tiling",
                                    "tiling_hop_size", "enable_validation", "version", "org", "disabled", NULL};
static const char *const LV_F[] = {"name", "project", "entities", "features", "tags", "ttl", "source", "online",
                                   "description", "owner", "entity_columns", "labeler_field", "conflict_policy",
                                   "retain_history", "reference_feature_view", NULL};
static const char *const FS_F[] = {"name", "project", "features", "tags", "description", "owner", "logging_config",
                                   "precompute_online", NULL};
static const char *const PERM_F[] = {"name", "project", "types", "name_patterns", "required_tags", "actions", "policy",
                                     "tags", NULL};

static const plan_type TYPES[] = {
    {"project", RS_KIND_PROJECTS, PROJECT_F},
    {"data source", RS_KIND_DATA_SOURCES, NULL}, /* computed by Feast, never printed */
    {"entity", RS_KIND_ENTITIES, ENTITY_F},
    {"feature view", RS_KIND_FEATURE_VIEWS, FV_F},
    {"on demand feature view", RS_KIND_ON_DEMAND_FEATURE_VIEWS, ODFV_F},
    {"stream feature view", RS_KIND_STREAM_FEATURE_VIEWS, SFV_F},
    {"label view", RS_KIND_LABEL_VIEWS, LV_F},
    {"feature service", RS_KIND_FEATURE_SERVICES, FS_F},
    {"permission", RS_KIND_PERMISSIONS, PERM_F},
};

#define DUMMY_ENTITY_NAME "__dummy"

/* ------------------------------------------------------------ Python text */

static void out(rs_buf *b, const char *s) { rs_buf_append(b, (const uint8_t *)s, strlen(s)); }

#define outf rs_buf_printf

/* protobuf text format's CEscape (as_utf8=False): strings go out as their UTF-8 bytes */
static void c_escape(rs_buf *b, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        switch (c) {
        case '\n': out(b, "\\n"); break;
        case '\r': out(b, "\\r"); break;
        case '\t': out(b, "\\t"); break;
        case '"': out(b, "\\\""); break;
        case '\'': out(b, "\\'"); break;
        case '\\': out(b, "\\\\"); break;
        default:
            if (c < 0x20 || c >= 0x7f)
                outf(b, "\\%03o", c);
            else
                rs_buf_append(b, &c, 1);
        }
    }
}

/* Python repr() of a str (printable non-ASCII kept, C1 controls and NBSP escaped) or bytes */
static void py_repr(rs_buf *b, const uint8_t *p, size_t n, bool bytes)
{
    bool has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    if (bytes)
        out(b, "b");
    rs_buf_append(b, (const uint8_t *)&q, 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '\\')
            out(b, "\\\\");
        else if (c == (uint8_t)q)
            outf(b, "\\%c", q);
        else if (c == '\n')
            out(b, "\\n");
        else if (c == '\r')
            out(b, "\\r");
        else if (c == '\t')
            out(b, "\\t");
        else if (c < 0x20 || c == 0x7f || (bytes && c >= 0x80))
            outf(b, "\\x%02x", c);
        else if (!bytes && c == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0xa0) {
            outf(b, "\\x%02x", p[i + 1]); /* U+0080..U+00A0 are not printable */
            i++;
        } else
            rs_buf_append(b, &c, 1);
    }
    rs_buf_append(b, (const uint8_t *)&q, 1);
}

static uint8_t *b64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    uint8_t *raw = malloc(n / 4 * 3 + 4);
    if (!raw)
        return NULL;
    int l = EVP_DecodeBlock(raw, (const unsigned char *)s, (int)n);
    if (l < 0) {
        free(raw);
        return NULL;
    }
    while (l > 0 && n > 0 && s[n - 1] == '=') {
        l--;
        n--;
    }
    *len = (size_t)l;
    return raw;
}

static bool is_wkt(const ProtobufCMessageDescriptor *d, const char *name) { return strcmp(d->name, name) == 0; }

/* "2024-11-20T16:10:12.908567Z" / "86400s" back to seconds and nanos */
static void parse_fraction(const char *dot, int32_t *nanos)
{
    char digits[10] = "000000000";
    for (int i = 0; i < 9 && dot && dot[1 + i] >= '0' && dot[1 + i] <= '9'; i++)
        digits[i] = dot[1 + i];
    *nanos = (int32_t)strtol(digits, NULL, 10);
}

static void parse_timestamp(const char *s, int64_t *sec, int32_t *nanos)
{
    struct tm tm = {0};
    int Y = 1970, M = 1, D = 1, h = 0, m = 0, S = 0;
    sscanf(s, "%d-%d-%dT%d:%d:%d", &Y, &M, &D, &h, &m, &S);
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = S;
    *sec = (int64_t)timegm(&tm);
    parse_fraction(strchr(s, '.'), nanos);
}

static void parse_duration(const char *s, int64_t *sec, int32_t *nanos)
{
    bool neg = s[0] == '-';
    *sec = strtoll(s, NULL, 10);
    parse_fraction(strchr(s, '.'), nanos);
    if (neg)
        *nanos = -*nanos;
}

static void tf_message(rs_buf *b, const ProtobufCMessageDescriptor *d, const json_t *v, int indent);

static void pad(rs_buf *b, int indent)
{
    for (int i = 0; i < indent; i++)
        out(b, " ");
}

/* one scalar as text format writes it */
static void tf_scalar(rs_buf *b, const ProtobufCFieldDescriptor *f, const json_t *v)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        out(b, "\"");
        c_escape(b, (const uint8_t *)json_string_value(v), json_string_length(v));
        out(b, "\"");
        break;
    case PROTOBUF_C_TYPE_BYTES: {
        size_t n = 0;
        uint8_t *raw = b64_decode(json_is_string(v) ? json_string_value(v) : "", &n);
        out(b, "\"");
        if (raw)
            c_escape(b, raw, n);
        free(raw);
        out(b, "\"");
        break;
    }
    case PROTOBUF_C_TYPE_ENUM:
        if (json_is_string(v))
            out(b, json_string_value(v));
        else
            outf(b, "%lld", (long long)json_integer_value(v));
        break;
    case PROTOBUF_C_TYPE_BOOL: out(b, json_is_true(v) ? "true" : "false"); break;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        char tmp[64];
        rs_json_repr_double(json_number_value(v), tmp, sizeof tmp);
        out(b, tmp);
        break;
    }
    default: /* integers (64-bit ones are JSON strings) */
        if (json_is_string(v))
            out(b, json_string_value(v));
        else
            outf(b, "%lld", (long long)json_integer_value(v));
    }
}

static const ProtobufCFieldDescriptor *field_named(const ProtobufCMessageDescriptor *d, const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(d, name);
}

static bool is_map(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessageDescriptor *e = f->descriptor;
    size_t l = strlen(e->short_name);
    return l > 5 && strcmp(e->short_name + l - 5, "Entry") == 0 && e->n_fields == 2 && field_named(e, "key") &&
           field_named(e, "value");
}

static int cmp_keys(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* the keys of a JSON object, sorted (map entries print sorted by key) */
static const char **sorted_keys(const json_t *o, size_t *n)
{
    *n = json_object_size(o);
    const char **k = malloc((*n ? *n : 1) * sizeof *k);
    if (!k)
        return NULL;
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) k[i++] = key;
    qsort(k, *n, sizeof *k, cmp_keys);
    return k;
}

static void tf_value(rs_buf *b, const ProtobufCFieldDescriptor *f, const char *name, const json_t *v, int indent)
{
    pad(b, indent);
    out(b, name);
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        out(b, " {\n");
        tf_message(b, f->descriptor, v, indent + 2);
        pad(b, indent);
        out(b, "}\n");
    } else {
        out(b, ": ");
        tf_scalar(b, f, v);
        out(b, "\n");
    }
}

static int cmp_field_num(const void *a, const void *b)
{
    const ProtobufCFieldDescriptor *x = *(const ProtobufCFieldDescriptor *const *)a,
                                   *y = *(const ProtobufCFieldDescriptor *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* text_format.MessageToString of a message given as its proto3 JSON tree */
static void tf_message(rs_buf *b, const ProtobufCMessageDescriptor *d, const json_t *v, int indent)
{
    if (is_wkt(d, "google.protobuf.Timestamp") || is_wkt(d, "google.protobuf.Duration")) {
        int64_t sec = 0;
        int32_t nanos = 0;
        if (json_is_string(v)) {
            if (is_wkt(d, "google.protobuf.Timestamp"))
                parse_timestamp(json_string_value(v), &sec, &nanos);
            else
                parse_duration(json_string_value(v), &sec, &nanos);
        }
        if (sec) {
            pad(b, indent);
            outf(b, "seconds: %lld\n", (long long)sec);
        }
        if (nanos) {
            pad(b, indent);
            outf(b, "nanos: %d\n", nanos);
        }
        return;
    }
    if (strncmp(d->name, "google.protobuf.", 16) == 0 && field_named(d, "value") && !json_is_object(v)) {
        const ProtobufCFieldDescriptor *f = field_named(d, "value"); /* a wrapper: the bare value */
        bool dflt = (json_is_string(v) && json_string_length(v) == 0) || json_is_false(v) ||
                    (json_is_number(v) && json_number_value(v) == 0);
        if (!dflt)
            tf_value(b, f, "value", v, indent);
        return;
    }
    const ProtobufCFieldDescriptor **fs = malloc((d->n_fields ? d->n_fields : 1) * sizeof *fs);
    if (!fs)
        return;
    for (unsigned i = 0; i < d->n_fields; i++)
        fs[i] = &d->fields[i];
    qsort(fs, d->n_fields, sizeof *fs, cmp_field_num);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = fs[i];
        char jn[128];
        rs_json_name(f->name, jn, sizeof jn);
        const json_t *x = json_object_get(v, jn);
        if (!x)
            continue;
        if (is_map(f)) {
            const ProtobufCMessageDescriptor *e = f->descriptor;
            size_t n;
            const char **keys = sorted_keys(x, &n);
            for (size_t k = 0; keys && k < n; k++) {
                pad(b, indent);
                outf(b, "%s {\n", f->name);
                json_t *kv = json_string(keys[k]);
                tf_value(b, field_named(e, "key"), "key", kv, indent + 2);
                json_decref(kv);
                tf_value(b, field_named(e, "value"), "value", json_object_get(x, keys[k]), indent + 2);
                pad(b, indent);
                out(b, "}\n");
            }
            free(keys);
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t k;
            const json_t *e;
            json_array_foreach(x, k, e) tf_value(b, f, f->name, e, indent);
        } else {
            tf_value(b, f, f->name, x, indent);
        }
    }
    free(fs);
}

/* Python str()/repr() of one scalar of field f (repr: inside a list or dict) */
static void py_scalar(rs_buf *b, const ProtobufCFieldDescriptor *f, const json_t *v, bool repr)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        size_t n = json_is_string(v) ? json_string_length(v) : 0;
        if (repr)
            py_repr(b, (const uint8_t *)s, n, false);
        else
            rs_buf_append(b, (const uint8_t *)s, n);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        size_t n = 0;
        uint8_t *raw = b64_decode(json_is_string(v) ? json_string_value(v) : "", &n);
        py_repr(b, raw ? raw : (const uint8_t *)"", raw ? n : 0, true);
        free(raw);
        break;
    }
    case PROTOBUF_C_TYPE_ENUM: { /* an int in Python */
        int num = 0;
        if (json_is_string(v)) {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, json_string_value(v));
            num = ev ? ev->value : 0;
        } else if (json_is_integer(v)) {
            num = (int)json_integer_value(v);
        }
        outf(b, "%d", num);
        break;
    }
    case PROTOBUF_C_TYPE_BOOL: out(b, json_is_true(v) ? "True" : "False"); break;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        char tmp[64];
        rs_json_repr_double(json_is_number(v) ? json_number_value(v) : 0.0, tmp, sizeof tmp);
        out(b, tmp);
        break;
    }
    default:
        if (json_is_string(v))
            out(b, json_string_value(v));
        else
            outf(b, "%lld", (long long)(json_is_integer(v) ? json_integer_value(v) : 0));
    }
}

/* f"{getattr(spec, field)}": what Feast's plan prints for a property value */
static void py_value(rs_buf *b, const ProtobufCFieldDescriptor *f, const json_t *v)
{
    if (is_map(f)) {
        const ProtobufCMessageDescriptor *e = f->descriptor;
        size_t n = 0;
        const char **keys = sorted_keys(v, &n);
        out(b, "{");
        for (size_t k = 0; keys && k < n; k++) {
            if (k)
                out(b, ", ");
            json_t *kv = json_string(keys[k]);
            py_scalar(b, field_named(e, "key"), kv, true);
            json_decref(kv);
            out(b, ": ");
            const ProtobufCFieldDescriptor *vf = field_named(e, "value");
            if (vf->type == PROTOBUF_C_TYPE_MESSAGE)
                tf_message(b, vf->descriptor, json_object_get(v, keys[k]), 0);
            else
                py_scalar(b, vf, json_object_get(v, keys[k]), true);
        }
        free(keys);
        out(b, "}");
        return;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        out(b, "[");
        size_t k;
        const json_t *e;
        json_array_foreach(v, k, e)
        {
            if (k)
                out(b, ", ");
            if (f->type == PROTOBUF_C_TYPE_MESSAGE)
                tf_message(b, f->descriptor, e, 0);
            else
                py_scalar(b, f, e, true);
        }
        out(b, "]");
        return;
    }
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        if (v)
            tf_message(b, f->descriptor, v, 0);
        return;
    }
    py_scalar(b, f, v, false);
}

/* ------------------------------------------------------------ objects */

typedef struct pobj {
    const char *name;
    size_t idx;
    json_t *j; /* the round trip: {"spec": ..., "meta": ...} */
} pobj;

typedef struct side {
    pobj *v;
    size_t n;
} side;

static int cmp_pobj(const void *a, const void *b)
{
    const pobj *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    return r ? r : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

static void side_free(side *s)
{
    for (size_t i = 0; i < s->n; i++)
        json_decref(s->v[i].j);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* The objects of one FeastObjectType in project, named, round-tripped, sorted by name (first of a
 * name wins, as Feast keeps one object per name). */
static int collect(const rs_registry *r, const plan_type *t, const char *project, side *s, rs_error *err)
{
    const rs_kind_info *ki = rs_kind_info_get(t->kind);
    size_t n = rs_registry_count(r);
    s->v = calloc(n + 1, sizeof *s->v);
    s->n = 0;
    if (!s->v)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    bool have_project = false;
    for (size_t i = 0; i < n; i++) {
        const rs_object *o = rs_registry_at(r, i);
        if (o->kind != t->kind || strcmp(o->project, project) != 0 || !o->name[0])
            continue;
        json_t *stored = rs_json_from_bytes(ki->desc, o->data, o->len, 0, err);
        if (!stored)
            return rs_error_prefix(err, "%s %s", t->label, o->name);
        json_t *j = rs_feast_round_trip(t->kind, stored);
        json_decref(stored);
        if (!j)
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        s->v[s->n++] = (pobj){o->name, i, j};
        have_project = true;
    }
    /* Feast's Registry adds a bare Project for a project known only from project_metadata */
    if (t->kind == RS_KIND_PROJECTS && !have_project) {
        for (size_t i = 0; i < n; i++) {
            const rs_object *o = rs_registry_at(r, i);
            if (o->kind == RS_KIND_PROJECT_METADATA && strcmp(o->project, project) == 0) {
                json_t *j = json_pack("{s{ss}s{}}", "spec", "name", project, "meta");
                if (!j)
                    return rs_error_set(err, RS_ENOMEM, "out of memory");
                s->v[s->n++] = (pobj){o->project, i, j};
                break;
            }
        }
    }
    qsort(s->v, s->n, sizeof *s->v, cmp_pobj);
    size_t u = 0; /* one per name */
    for (size_t i = 0; i < s->n; i++) {
        if (u && strcmp(s->v[u - 1].name, s->v[i].name) == 0) {
            json_decref(s->v[i].j);
            continue;
        }
        s->v[u++] = s->v[i];
    }
    s->n = u;
    return RS_OK;
}

static const pobj *find(const side *s, const char *name)
{
    pobj k = {name, 0, NULL};
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].name, k.name) == 0)
            return &s->v[i];
    return NULL;
}

/* getattr(spec, f) != getattr(spec2, f): unset and default are the same in protobuf */
static bool same_value(const ProtobufCFieldDescriptor *f, const json_t *a, const json_t *b)
{
    if (!a && !b)
        return true;
    json_t *da = NULL, *db = NULL;
    if (!a || !b) {
        json_t *empty = f->label == PROTOBUF_C_LABEL_REPEATED ? (is_map(f) ? json_object() : json_array())
                        : f->type == PROTOBUF_C_TYPE_MESSAGE ? json_object()
                                                             : NULL;
        if (!a)
            a = da = empty;
        else
            b = db = empty;
        if (!empty)
            return false;
    }
    bool eq = json_equal((json_t *)a, (json_t *)b);
    json_decref(da);
    json_decref(db);
    return eq;
}

static void prop_line(rs_buf *b, const char *name, const ProtobufCFieldDescriptor *f, const json_t *old, const json_t *new)
{
    out(b, "\t");
    out(b, name);
    out(b, ": ");
    py_value(b, f, old);
    out(b, " -> ");
    py_value(b, f, new);
    out(b, "\n");
}

/* diff_registry_objects: the property lines of an update (none: unchanged) */
static size_t properties(rs_buf *b, const plan_type *t, const json_t *ja, const json_t *jb)
{
    const ProtobufCMessageDescriptor *od = rs_kind_info_get(t->kind)->desc;
    const ProtobufCMessageDescriptor *sd = field_named(od, "spec")->descriptor;
    const json_t *sa = json_object_get(ja, "spec"), *sb = json_object_get(jb, "spec");
    size_t k = 0;
    for (const char *const *fn = t->fields; *fn; fn++) {
        if (strcmp(*fn, "project") == 0) /* FIELDS_TO_IGNORE */
            continue;
        const ProtobufCFieldDescriptor *f = field_named(sd, *fn);
        if (!f)
            continue;
        char jn[128];
        rs_json_name(f->name, jn, sizeof jn);
        const json_t *va = json_object_get(sa, jn), *vb = json_object_get(sb, jn);
        if (same_value(f, va, vb))
            continue;
        if (strcmp(*fn, "feature_transformation") == 0) {
            /* only the UDF's fields other than its pickled body */
            const ProtobufCMessageDescriptor *ud = field_named(f->descriptor, "user_defined_function")->descriptor;
            const json_t *ua = json_object_get(va, "userDefinedFunction"), *ub = json_object_get(vb, "userDefinedFunction");
            static const char *const uf[] = {"name", "body", "body_text", "mode", NULL};
            for (const char *const *u = uf; *u; u++) {
                const ProtobufCFieldDescriptor *g = field_named(ud, *u);
                if (!g || strcmp(*u, "body") == 0)
                    continue;
                char gj[64];
                rs_json_name(g->name, gj, sizeof gj);
                const json_t *x = json_object_get(ua, gj), *y = json_object_get(ub, gj);
                if (same_value(g, x, y))
                    continue;
                char pn[160];
                snprintf(pn, sizeof pn, "%s.%s", *fn, *u);
                prop_line(b, pn, g, x, y);
                k++;
            }
            continue;
        }
        prop_line(b, *fn, f, va, vb);
        k++;
    }
    return k;
}

int rs_feast_plan(const rs_registry *a, const rs_registry *b, const char *project, char **outp, size_t *changes,
                  rs_error *err)
{
    rs_buf o = {0}, props = {0};
    size_t listed = 0;
    int rc = RS_OK;
    *outp = NULL;
    for (size_t t = 0; t < sizeof TYPES / sizeof TYPES[0] && !rc; t++) {
        const plan_type *pt = &TYPES[t];
        if (!pt->fields) /* data sources: "Print statements out starting in Feast 0.24" */
            continue;
        side sa = {0}, sb = {0};
        rc = collect(a, pt, project, &sa, err);
        if (!rc)
            rc = collect(b, pt, project, &sb, err);
        /* created, deleted, then updated; each by name (Feast iterates sets: no fixed order) */
        for (int pass = 0; pass < 3 && !rc; pass++) {
            const side *src = pass == 1 ? &sa : &sb, *other = pass == 1 ? &sb : &sa;
            for (size_t i = 0; i < src->n; i++) {
                const pobj *x = &src->v[i];
                const pobj *y = find(other, x->name);
                if ((pass < 2) == (y != NULL))
                    continue;
                if (strcmp(x->name, DUMMY_ENTITY_NAME) == 0)
                    continue;
                if (pass < 2) {
                    outf(&o, "%s %s ", pass == 0 ? "Created" : "Deleted", pt->label);
                    out(&o, x->name);
                    out(&o, "\n");
                    listed++;
                    continue;
                }
                rs_buf_reset(&props);
                if (properties(&props, pt, y->j, x->j) == 0)
                    continue; /* the same definition: unchanged */
                outf(&o, "Updated %s ", pt->label);
                out(&o, json_string_value(json_object_get(json_object_get(x->j, "spec"), "name"))
                            ? json_string_value(json_object_get(json_object_get(x->j, "spec"), "name"))
                            : x->name);
                out(&o, "\n");
                rs_buf_append(&o, props.data, props.len);
                listed++;
            }
        }
        side_free(&sa);
        side_free(&sb);
    }
    rs_buf_free(&props);
    if (rc) {
        rs_buf_free(&o);
        return rc;
    }
    if (listed == 0)
        out(&o, "No changes to registry");
    out(&o, "\n"); /* click.echo's newline */
    if (rs_buf_cstr(&o)) {
        rs_buf_free(&o);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    size_t len;
    *outp = (char *)rs_buf_take(&o, &len);
    *changes = listed;
    return *outp ? RS_OK : rs_error_set(err, RS_ENOMEM, "out of memory");
}
