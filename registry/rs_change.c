/* rs_change.c: see rs_change.h. */
#include "rs_change.h"
#include "rs_canon.h"
#include "rs_diff.h"
#include "rs_registry_impl.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsync/v1/log.pb-c.h"

void rs_change_free(rs_change *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_ops; i++) {
        free(c->ops[i].project);
        free(c->ops[i].name);
        free(c->ops[i].data);
    }
    free(c->ops);
    free(c->publisher);
    free(c->source_etag);
    free(c->source);
    free(c);
}

static int op_from(rs_op *op, rs_op_type t, const rs_object *o)
{
    memset(op, 0, sizeof *op);
    op->type = t;
    op->kind = o->kind;
    op->ordinal = o->ordinal;
    op->project = strdup(o->project);
    op->name = strdup(o->name);
    if (!op->project || !op->name)
        return RS_ENOMEM;
    if (t == RS_OP_PUT) {
        op->data = malloc(o->len ? o->len : 1);
        if (!op->data)
            return RS_ENOMEM;
        memcpy(op->data, o->data, o->len);
        op->len = o->len;
        memcpy(op->hash, o->hash, RS_DIGEST_LEN);
    }
    return RS_OK;
}

int rs_change_between(const rs_registry *a, const rs_registry *b, rs_change **out, rs_error *err)
{
    *out = NULL;
    rs_diff *d;
    int rc = rs_diff_compute(a, b, 0, &d, err);
    if (rc)
        return rc;
    rs_change *c = calloc(1, sizeof *c);
    if (!c || (d->n && !(c->ops = calloc(d->n, sizeof *c->ops)))) {
        rs_diff_free(d);
        free(c);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < d->n; i++) {
        const rs_obj_change *oc = &d->items[i];
        rc = oc->type == RS_CHANGE_DELETED ? op_from(&c->ops[i], RS_OP_DELETE, oc->a) : op_from(&c->ops[i], RS_OP_PUT, oc->b);
        c->n_ops = i + 1;
        if (rc) {
            rs_diff_free(d);
            rs_change_free(c);
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        }
    }
    rs_diff_free(d);
    rs_registry_digest(a, c->parent_digest);
    rs_registry_digest(b, c->result_digest);
    rs_registry_content_digest(a, c->parent_content_digest);
    rs_registry_content_digest(b, c->result_content_digest);
    *out = c;
    return RS_OK;
}

static void hex8(const uint8_t *d, char *out) { rs_hex(d, 8, out); }

int rs_change_apply(rs_registry *r, const rs_change *c, unsigned flags, rs_error *err)
{
    uint8_t d[RS_DIGEST_LEN];
    char h1[17], h2[17];
    if (flags & RS_APPLY_CHECK_PARENT) {
        rs_registry_digest(r, d);
        if (memcmp(d, c->parent_digest, RS_DIGEST_LEN) != 0) {
            hex8(d, h1);
            hex8(c->parent_digest, h2);
            return rs_error_set(err, RS_ECONFLICT,
                                "version %llu: parent digest %s... does not match the local state %s...",
                                (unsigned long long)c->version, h2, h1);
        }
    }
    /* validate every operation before touching r */
    rs_buf canon = {0};
    for (size_t i = 0; i < c->n_ops; i++) {
        const rs_op *op = &c->ops[i];
        if (op->type == RS_OP_DELETE) {
            if (!rs_registry_find(r, op->kind, op->project, op->name, op->ordinal)) {
                rs_buf_free(&canon);
                return rs_error_set(err, RS_ECONFLICT, "version %llu op %zu: delete %s %s/%s: no such object",
                                    (unsigned long long)c->version, i, rs_kind_plan_name(op->kind), op->project, op->name);
            }
            continue;
        }
        rs_buf_reset(&canon);
        char root[96];
        snprintf(root, sizeof root, "version %llu op %zu", (unsigned long long)c->version, i);
        int rc = rs_obj_canon(op->kind, op->data, op->len, op->data, root, 0, 0, &canon, err);
        if (rc) {
            rs_buf_free(&canon);
            return rc;
        }
        uint8_t h[RS_DIGEST_LEN];
        SHA256(canon.data ? canon.data : (const uint8_t *)"", canon.len, h);
        if (memcmp(h, op->hash, RS_DIGEST_LEN) != 0) {
            rs_buf_free(&canon);
            return rs_error_set(err, RS_ECORRUPT, "%s: object hash does not match its bytes (%s %s/%s)", root,
                                rs_kind_plan_name(op->kind), op->project, op->name);
        }
        char *p = NULL, *n = NULL;
        rc = rs_obj_key_from_canon(op->kind, canon.data ? canon.data : (const uint8_t *)"", canon.len, &p, &n, err);
        if (rc) {
            rs_buf_free(&canon);
            return rc;
        }
        bool same = strcmp(p, op->project) == 0 && strcmp(n, op->name) == 0;
        free(p);
        free(n);
        if (!same) {
            rs_buf_free(&canon);
            return rs_error_set(err, RS_ECORRUPT, "%s: the object's own key differs from the operation's (%s/%s)", root,
                                op->project, op->name);
        }
    }
    rs_buf_free(&canon);
    /* deletes first, then puts (so that ordinals line up) */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < c->n_ops; i++) {
            const rs_op *op = &c->ops[i];
            int rc;
            if (pass == 0 && op->type == RS_OP_DELETE)
                rc = rs_registry_delete(r, op->kind, op->project, op->name, op->ordinal, err);
            else if (pass == 1 && op->type == RS_OP_PUT)
                rc = rs_registry_put(r, op->kind, op->project, op->name, op->ordinal, op->data, op->len, err);
            else
                continue;
            if (rc)
                return rc;
        }
    }
    if (flags & RS_APPLY_CHECK_RESULT) {
        rs_registry_digest(r, d);
        if (memcmp(d, c->result_digest, RS_DIGEST_LEN) != 0) {
            hex8(d, h1);
            hex8(c->result_digest, h2);
            return rs_error_set(err, RS_ECORRUPT, "version %llu: result digest after applying is %s..., the log says %s...",
                                (unsigned long long)c->version, h1, h2);
        }
    }
    return RS_OK;
}

void rs_change_counts(const rs_change *c, size_t *puts, size_t *deletes, size_t per_kind[64])
{
    size_t p = 0, d = 0;
    if (per_kind)
        memset(per_kind, 0, 64 * sizeof *per_kind);
    for (size_t i = 0; i < c->n_ops; i++) {
        if (c->ops[i].type == RS_OP_PUT)
            p++;
        else
            d++;
        if (per_kind && c->ops[i].kind < 64)
            per_kind[c->ops[i].kind]++;
    }
    if (puts)
        *puts = p;
    if (deletes)
        *deletes = d;
}

/* ------------------------------------------------------------ protobuf */

int rs_change_encode(const rs_change *c, uint8_t **out, size_t *len, rs_error *err)
{
    Regsync__V1__Change m = REGSYNC__V1__CHANGE__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    m.version = c->version;
    m.parent_digest = (ProtobufCBinaryData){RS_DIGEST_LEN, (uint8_t *)c->parent_digest};
    m.result_digest = (ProtobufCBinaryData){RS_DIGEST_LEN, (uint8_t *)c->result_digest};
    m.parent_content_digest = (ProtobufCBinaryData){RS_DIGEST_LEN, (uint8_t *)c->parent_content_digest};
    m.result_content_digest = (ProtobufCBinaryData){RS_DIGEST_LEN, (uint8_t *)c->result_content_digest};
    ts.seconds = c->published_ms / 1000;
    ts.nanos = (int32_t)(c->published_ms % 1000) * 1000000;
    m.published = &ts;
    m.publisher = c->publisher ? c->publisher : (char *)"";
    m.source_etag = c->source_etag ? c->source_etag : (char *)"";
    m.source = c->source ? c->source : (char *)"";
    Regsync__V1__Operation *ops = calloc(c->n_ops ? c->n_ops : 1, sizeof *ops);
    Regsync__V1__Operation **opp = calloc(c->n_ops ? c->n_ops : 1, sizeof *opp);
    Regsync__V1__ObjectKey *keys = calloc(c->n_ops ? c->n_ops : 1, sizeof *keys);
    if (!ops || !opp || !keys) {
        free(ops);
        free(opp);
        free(keys);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < c->n_ops; i++) {
        const rs_op *op = &c->ops[i];
        regsync__v1__operation__init(&ops[i]);
        regsync__v1__object_key__init(&keys[i]);
        keys[i].kind = op->kind;
        keys[i].project = op->project;
        keys[i].name = op->name;
        keys[i].ordinal = op->ordinal;
        ops[i].key = &keys[i];
        ops[i].type = op->type == RS_OP_PUT ? REGSYNC__V1__OPERATION__TYPE__PUT : REGSYNC__V1__OPERATION__TYPE__DELETE;
        if (op->type == RS_OP_PUT) {
            ops[i].object = (ProtobufCBinaryData){op->len, op->data};
            ops[i].object_hash = (ProtobufCBinaryData){RS_DIGEST_LEN, (uint8_t *)op->hash};
        }
        opp[i] = &ops[i];
    }
    m.n_ops = c->n_ops;
    m.ops = opp;
    size_t n = regsync__v1__change__get_packed_size(&m);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf)
        regsync__v1__change__pack(&m, buf);
    free(ops);
    free(opp);
    free(keys);
    if (!buf)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    *out = buf;
    *len = n;
    return RS_OK;
}

static int digest_field(const ProtobufCBinaryData *b, uint8_t out[RS_DIGEST_LEN], const char *what, bool required, rs_error *err)
{
    if (b->len == 0 && !required) {
        memset(out, 0, RS_DIGEST_LEN);
        return RS_OK;
    }
    if (b->len != RS_DIGEST_LEN)
        return rs_error_set(err, RS_ECORRUPT, "change: %s is %zu bytes, expected %d", what, b->len, RS_DIGEST_LEN);
    memcpy(out, b->data, RS_DIGEST_LEN);
    return RS_OK;
}

static bool has_nul(const char *s, size_t maxlen)
{
    return strnlen(s, maxlen + 1) > maxlen;
}

int rs_change_decode(const uint8_t *p, size_t n, rs_change **out, rs_error *err)
{
    *out = NULL;
    /* wire-level validation first: protobuf-c's unpack is lenient and recursive */
    rs_buf canon = {0};
    rs_canon_ctx cx;
    rs_canon_init(&cx, p, "change", 16, err);
    int rc = rs_canon(&cx, &regsync__v1__change__descriptor, p, n, &canon);
    rs_buf_free(&canon);
    if (rc)
        return rc;
    Regsync__V1__Change *m = regsync__v1__change__unpack(NULL, n, p);
    if (!m)
        return rs_error_set(err, RS_ECORRUPT, "change: not a regsync.v1.Change message");
    rs_change *c = calloc(1, sizeof *c);
    if (!c) {
        regsync__v1__change__free_unpacked(m, NULL);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    c->version = m->version;
    if (m->version == 0)
        rc = rs_error_set(err, RS_ECORRUPT, "change: version 0 is not a valid version");
    if (!rc)
        rc = digest_field(&m->parent_digest, c->parent_digest, "parent_digest", true, err);
    if (!rc)
        rc = digest_field(&m->result_digest, c->result_digest, "result_digest", true, err);
    if (!rc)
        rc = digest_field(&m->parent_content_digest, c->parent_content_digest, "parent_content_digest", false, err);
    if (!rc)
        rc = digest_field(&m->result_content_digest, c->result_content_digest, "result_content_digest", false, err);
    if (!rc) {
        c->published_ms = m->published ? m->published->seconds * 1000 + m->published->nanos / 1000000 : 0;
        c->publisher = strdup(m->publisher ? m->publisher : "");
        c->source_etag = strdup(m->source_etag ? m->source_etag : "");
        c->source = strdup(m->source ? m->source : "");
        c->ops = calloc(m->n_ops ? m->n_ops : 1, sizeof *c->ops);
        if (!c->publisher || !c->source_etag || !c->source || !c->ops)
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; !rc && i < m->n_ops; i++) {
        const Regsync__V1__Operation *o = m->ops[i];
        rs_op *op = &c->ops[i];
        c->n_ops = i + 1;
        if (!o->key || o->key->kind == 0 || o->key->kind > 0x1fffffff) {
            rc = rs_error_set(err, RS_ECORRUPT, "change version %llu op %zu: missing or invalid object key",
                              (unsigned long long)m->version, i);
            break;
        }
        if (o->type == REGSYNC__V1__OPERATION__TYPE__PUT) {
            op->type = RS_OP_PUT;
            if (o->object_hash.len != RS_DIGEST_LEN) {
                rc = rs_error_set(err, RS_ECORRUPT, "change version %llu op %zu: PUT without a 32-byte object hash",
                                  (unsigned long long)m->version, i);
                break;
            }
            memcpy(op->hash, o->object_hash.data, RS_DIGEST_LEN);
            op->data = malloc(o->object.len ? o->object.len : 1);
            if (!op->data) {
                rc = rs_error_set(err, RS_ENOMEM, "out of memory");
                break;
            }
            if (o->object.len)
                memcpy(op->data, o->object.data, o->object.len);
            op->len = o->object.len;
        } else if (o->type == REGSYNC__V1__OPERATION__TYPE__DELETE) {
            op->type = RS_OP_DELETE;
            if (o->object.len) {
                rc = rs_error_set(err, RS_ECORRUPT, "change version %llu op %zu: DELETE carries object bytes",
                                  (unsigned long long)m->version, i);
                break;
            }
        } else {
            rc = rs_error_set(err, RS_ECORRUPT, "change version %llu op %zu: unknown operation type %d",
                              (unsigned long long)m->version, i, (int)o->type);
            break;
        }
        op->kind = o->key->kind;
        op->ordinal = o->key->ordinal;
        op->project = strdup(o->key->project ? o->key->project : "");
        op->name = strdup(o->key->name ? o->key->name : "");
        if (!op->project || !op->name)
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        else if (has_nul(op->project, 4096) || has_nul(op->name, 4096))
            rc = rs_error_set(err, RS_ECORRUPT, "change op %zu: name or project longer than 4096 bytes", i);
    }
    regsync__v1__change__free_unpacked(m, NULL);
    if (rc) {
        rs_change_free(c);
        return rc;
    }
    *out = c;
    return RS_OK;
}
