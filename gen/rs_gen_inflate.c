/* rs_gen_inflate.c: rs_inflate (rs_generate.h): a registry of a target size made of copies of
 * real registries, every copy's projects renamed.
 *
 * Each input is split into its top-level fields (rsg_wire_scan). For copy k the objects of every
 * repeated field are unpacked with protobuf-c, every project reference is renamed (see rename_msg)
 * and the object is packed again; infra and the feature-view version history (singular messages)
 * get the same treatment and their copies are concatenated into one occurrence (the protobuf merge
 * of a singular message is the concatenation of its occurrences: their repeated fields append).
 * registry_schema_version, version_id and last_updated come from the first input once; unknown
 * top-level fields from every input once. The output is written grouped by field number, as
 * Feast's Python writer does. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_buf.h"
#include "rs_gen_impl.h"

#define INFLATE_MAX_FIELD 64
#define INFLATE_MAX_COPIES 99999u
#define RS_GEN_INFRA_FIELD 10u   /* Registry.infra */
#define RS_GEN_HISTORY_FIELD 18u /* Registry.feature_view_version_history */

typedef struct inflate_ctx {
    char suffix[16];        /* "_r00042" */
    const char **projects;  /* project names seen in the input being copied (borrowed, sorted by length desc) */
    size_t nprojects;
    int rc;                 /* RS_OK or RS_ENOMEM */
} inflate_ctx;

static char *with_suffix(inflate_ctx *c, const char *s)
{
    size_t a = strlen(s), b = strlen(c->suffix);
    char *o = malloc(a + b + 1);
    if (!o) {
        c->rc = RS_ENOMEM;
        return NULL;
    }
    memcpy(o, s, a);
    memcpy(o + a, c->suffix, b + 1);
    return o;
}

/* An infra table is named "<project>_<view>": the renamed project plus the rest when the name
 * starts with one of the input's projects, else the name plus the suffix (distinct either way). */
static char *table_name(inflate_ctx *c, const char *s)
{
    for (size_t i = 0; i < c->nprojects; i++) {
        size_t n = strlen(c->projects[i]);
        if (n && strncmp(s, c->projects[i], n) == 0 && s[n] == '_') {
            size_t b = strlen(c->suffix), rest = strlen(s + n);
            char *o = malloc(n + b + rest + 1);
            if (!o) {
                c->rc = RS_ENOMEM;
                return NULL;
            }
            memcpy(o, s, n);
            memcpy(o + n, c->suffix, b);
            memcpy(o + n + b, s + n, rest + 1);
            return o;
        }
    }
    return with_suffix(c, s);
}

/* Which string fields name a project: `project` and `project_id` anywhere, a Project's own name,
 * and an infra table's name (which starts with its project). */
static int string_role(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
    if (!strcmp(f->name, "project") || !strcmp(f->name, "project_id"))
        return 1;
    if (!strcmp(f->name, "name") && !strcmp(d->name, "feast.core.ProjectSpec"))
        return 1;
    if (!strcmp(f->name, "name") && (!strcmp(d->name, "feast.core.SqliteTable") || !strcmp(d->name, "feast.core.DatastoreTable")))
        return 2;
    return 0;
}

/* Renames every project reference in m, recursively (strings allocated with malloc, as
 * protobuf-c's default allocator does, so protobuf_c_message_free_unpacked frees them). */
static void rename_msg(inflate_ctx *c, ProtobufCMessage *m, unsigned depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (depth > 100)
        return;
    for (unsigned i = 0; i < d->n_fields && c->rc == RS_OK; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *base = (char *)m + f->offset;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which = *(uint32_t *)((char *)m + f->quantifier_offset);
            if (which != f->id)
                continue;
        }
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                size_t n = *(size_t *)((char *)m + f->quantifier_offset);
                ProtobufCMessage **v = *(ProtobufCMessage ***)base;
                for (size_t k = 0; k < n; k++)
                    if (v[k])
                        rename_msg(c, v[k], depth + 1);
            } else if (*(ProtobufCMessage **)base) {
                rename_msg(c, *(ProtobufCMessage **)base, depth + 1);
            }
        } else if (f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED) {
            int role = string_role(d, f);
            char **s = (char **)base;
            if (!role || !*s || !**s)
                continue;
            char *n = role == 1 ? with_suffix(c, *s) : table_name(c, *s);
            if (!n)
                return;
            free(*s);
            *s = n;
        }
    }
}

/* Collects the values of project fields (to rename infra table names by prefix). */
static void collect_projects(ProtobufCMessage *m, const char ***v, size_t *n, unsigned depth, int *rc)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (depth > 100 || *rc)
        return;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *base = (char *)m + f->offset;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF && *(uint32_t *)((char *)m + f->quantifier_offset) != f->id)
            continue;
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED) {
            if (*(ProtobufCMessage **)base)
                collect_projects(*(ProtobufCMessage **)base, v, n, depth + 1, rc);
        } else if (f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED &&
                   string_role(d, f) == 1) {
            const char *s = *(char **)base;
            if (!s || !*s)
                continue;
            for (size_t k = 0; k < *n; k++)
                if (!strcmp((*v)[k], s))
                    return;
            const char **nv = realloc(*v, (*n + 1) * sizeof *nv);
            char *dup = strdup(s);
            if (!nv || !dup) {
                free(dup);
                if (nv)
                    *v = nv;
                *rc = RS_ENOMEM;
                return;
            }
            *v = nv;
            (*v)[(*n)++] = dup;
        }
    }
}

static int by_len_desc(const void *a, const void *b)
{
    size_t x = strlen(*(const char *const *)a), y = strlen(*(const char *const *)b);
    return (x < y) - (x > y);
}

static int put_field(rs_buf *b, uint32_t num, const uint8_t *p, size_t n)
{
    int rc = rs_buf_varint(b, ((uint64_t)num << 3) | 2);
    if (!rc)
        rc = rs_buf_varint(b, n);
    if (!rc)
        rc = rs_buf_append(b, p, n);
    return rc;
}

typedef struct inflate_in {
    const uint8_t *p;
    size_t n;
    wfield *f;
    size_t nf;
    const char **projects;
    size_t nprojects;
} inflate_in;

/* Appends copy `copy` of input `in` to the per-field buffers. */
static int copy_input(inflate_in *in, unsigned copy, bool first_input, rs_buf *fields, size_t *objects, rs_error *err)
{
    inflate_ctx c = {.projects = in->projects, .nprojects = in->nprojects};
    snprintf(c.suffix, sizeof c.suffix, "_r%05u", copy);
    for (size_t i = 0; i < in->nf; i++) {
        const wfield *w = &in->f[i];
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field(&feast__core__registry__descriptor, w->num);
        bool singular_msg = fd && fd->type == PROTOBUF_C_TYPE_MESSAGE && fd->label != PROTOBUF_C_LABEL_REPEATED &&
                            (w->num == RS_GEN_INFRA_FIELD || w->num == RS_GEN_HISTORY_FIELD);
        bool object = fd && fd->type == PROTOBUF_C_TYPE_MESSAGE && fd->label == PROTOBUF_C_LABEL_REPEATED;
        if (!object && !singular_msg) {
            /* registry-level fields from the first input, unknown fields from every input, once */
            bool take = copy == 0 && (fd ? first_input : true);
            if (take && rs_buf_append(&fields[w->num], in->p + w->off, w->end - w->off))
                return rs_error_set(err, RS_ENOMEM, "out of memory");
            continue;
        }
        if (w->wt != 2)
            return rs_error_set(err, RS_ECORRUPT, "field %" PRIu32 " is not length-delimited", w->num);
        ProtobufCMessage *m = protobuf_c_message_unpack(fd->descriptor, NULL, w->plen, in->p + w->poff);
        if (!m)
            return rs_error_set(err, RS_ECORRUPT, "field %" PRIu32 " at byte %zu does not parse as %s", w->num, w->off,
                                ((const ProtobufCMessageDescriptor *)fd->descriptor)->name);
        rename_msg(&c, m, 0);
        int rc = c.rc;
        if (rc == RS_OK) {
            size_t n = protobuf_c_message_get_packed_size(m);
            uint8_t *b = malloc(n ? n : 1);
            if (!b) {
                rc = RS_ENOMEM;
            } else {
                protobuf_c_message_pack(m, b);
                /* singular messages: the payloads of all copies concatenate (merged by the caller) */
                rc = singular_msg ? rs_buf_append(&fields[w->num], b, n) : put_field(&fields[w->num], w->num, b, n);
                free(b);
                if (object)
                    (*objects)++;
            }
        }
        protobuf_c_message_free_unpacked(m, NULL);
        if (rc)
            return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    return RS_OK;
}

static size_t total_len(const rs_buf *fields)
{
    size_t t = 0;
    for (uint32_t f = 1; f <= INFLATE_MAX_FIELD; f++) {
        size_t n = fields[f].len;
        if (n && (f == RS_GEN_INFRA_FIELD || f == RS_GEN_HISTORY_FIELD)) {
            t += 2; /* tag + the first length byte */
            for (size_t v = n >> 7; v; v >>= 7)
                t++;
        }
        t += n;
    }
    return t;
}

int rs_inflate(const uint8_t *const *in, const size_t *in_len, size_t nin, size_t target_bytes, uint8_t **out,
               size_t *outlen, rs_inflate_stats *stats, rs_error *err)
{
    *out = NULL;
    *outlen = 0;
    if (!in || !in_len || nin == 0 || target_bytes == 0)
        return rs_error_set(err, RS_EINVALID, "rs_inflate: needs at least one input and a target size");
    int rc = RS_OK;
    inflate_in *ins = calloc(nin, sizeof *ins);
    rs_buf fields[INFLATE_MAX_FIELD + 1];
    memset(fields, 0, sizeof fields);
    size_t objects = 0, base = 0, per_copy = 0;
    unsigned copies = 0;
    if (!ins) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nin; i++) {
        ins[i].p = in[i];
        ins[i].n = in_len[i];
        if ((rc = rsg_wire_scan(in[i], in_len[i], &ins[i].f, &ins[i].nf, err)) != RS_OK) {
            rs_error_prefix(err, "input %zu", i + 1);
            goto done;
        }
        for (size_t k = 0; k < ins[i].nf; k++) {
            const wfield *w = &ins[i].f[k];
            if (w->num > INFLATE_MAX_FIELD) {
                rc = rs_error_set(err, RS_ECORRUPT, "input %zu: top-level field %" PRIu32 " (above %d): not a registry",
                                  i + 1, w->num, INFLATE_MAX_FIELD);
                goto done;
            }
            const ProtobufCFieldDescriptor *fd =
                protobuf_c_message_descriptor_get_field(&feast__core__registry__descriptor, w->num);
            if (!fd || fd->type != PROTOBUF_C_TYPE_MESSAGE || fd->label != PROTOBUF_C_LABEL_REPEATED || w->wt != 2)
                continue;
            ProtobufCMessage *m = protobuf_c_message_unpack(fd->descriptor, NULL, w->plen, in[i] + w->poff);
            if (!m) {
                rc = rs_error_set(err, RS_ECORRUPT, "input %zu: field %" PRIu32 " at byte %zu does not parse", i + 1,
                                  w->num, w->off);
                goto done;
            }
            collect_projects(m, &ins[i].projects, &ins[i].nprojects, 0, &rc);
            protobuf_c_message_free_unpacked(m, NULL);
            if (rc) {
                rs_error_set(err, rc, "out of memory");
                goto done;
            }
        }
        if (ins[i].nprojects)
            qsort(ins[i].projects, ins[i].nprojects, sizeof *ins[i].projects, by_len_desc);
    }
    /* copy 0 tells the size of one copy; every copy has the same size (fixed-width suffix) */
    for (size_t i = 0; i < nin && rc == RS_OK; i++)
        rc = copy_input(&ins[i], 0, i == 0, fields, &objects, err);
    if (rc)
        goto done;
    copies = 1;
    {
        size_t fixed = 0;
        for (size_t i = 0; i < nin; i++)
            for (size_t k = 0; k < ins[i].nf; k++) {
                const wfield *w = &ins[i].f[k];
                const ProtobufCFieldDescriptor *fd =
                    protobuf_c_message_descriptor_get_field(&feast__core__registry__descriptor, w->num);
                bool copied = fd && fd->type == PROTOBUF_C_TYPE_MESSAGE &&
                              (fd->label == PROTOBUF_C_LABEL_REPEATED || w->num == RS_GEN_INFRA_FIELD ||
                               w->num == RS_GEN_HISTORY_FIELD);
                if (!copied && (fd ? i == 0 : true))
                    fixed += w->end - w->off;
            }
        size_t t0 = total_len(fields);
        base = fixed;
        per_copy = t0 > fixed ? t0 - fixed : 0;
    }
    while (per_copy > 0 && total_len(fields) + per_copy <= target_bytes) {
        if (copies >= INFLATE_MAX_COPIES) {
            rc = rs_error_set(err, RS_ETOOBIG, "rs_inflate: more than %u copies needed for %zu bytes", INFLATE_MAX_COPIES,
                              target_bytes);
            goto done;
        }
        for (size_t i = 0; i < nin && rc == RS_OK; i++)
            rc = copy_input(&ins[i], copies, i == 0, fields, &objects, err);
        if (rc)
            goto done;
        copies++;
    }
    {
        rs_buf o = {0};
        for (uint32_t f = 1; f <= INFLATE_MAX_FIELD && rc == RS_OK; f++) {
            if (!fields[f].len)
                continue;
            if (f == RS_GEN_INFRA_FIELD || f == RS_GEN_HISTORY_FIELD)
                rc = put_field(&o, f, fields[f].data, fields[f].len);
            else
                rc = rs_buf_append(&o, fields[f].data, fields[f].len);
            rs_buf_free(&fields[f]);
        }
        if (rc == RS_OK && o.len == 0)
            rc = rs_buf_append(&o, "", 0);
        if (rc) {
            rs_buf_free(&o);
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
            goto done;
        }
        *out = rs_buf_take(&o, outlen);
        if (!*out) {
            *out = malloc(1);
            if (!*out)
                rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        }
    }
    if (stats) {
        stats->copies = copies;
        stats->objects = objects;
        stats->copy_bytes = per_copy;
        stats->base_bytes = base;
        stats->projects_per_copy = 0;
        for (size_t i = 0; i < nin; i++)
            stats->projects_per_copy += (unsigned)ins[i].nprojects;
    }
done:
    for (uint32_t f = 0; f <= INFLATE_MAX_FIELD; f++)
        rs_buf_free(&fields[f]);
    for (size_t i = 0; ins && i < nin; i++) {
        free(ins[i].f);
        for (size_t k = 0; k < ins[i].nprojects; k++)
            free((char *)ins[i].projects[k]);
        free(ins[i].projects);
    }
    free(ins);
    return rc;
}
