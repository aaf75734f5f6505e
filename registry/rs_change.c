/* rs_change.c: see rs_change.h. */
#include "rs_change.h"
#include "rs_canon.h"
#include "rs_checked.h"
#include "rs_diff.h"
#include "rs_registry_impl.h"
#include "rs_time.h"

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
    for (size_t i = 0; i < c->n_moves; i++) {
        free(c->moves[i].project);
        free(c->moves[i].name);
    }
    free(c->moves);
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

/* Longest strictly increasing subsequence of v[0..n): sets keep[i] for its members. */
static int lis(const size_t *v, size_t n, bool *keep)
{
    size_t *tail = malloc((n ? n : 1) * sizeof *tail), *prev = malloc((n ? n : 1) * sizeof *prev);
    if (!tail || !prev) {
        free(tail);
        free(prev);
        return RS_ENOMEM;
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t lo = 0, hi = len; /* first tail whose value >= v[i] */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (v[tail[mid]] < v[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        prev[i] = lo ? tail[lo - 1] : SIZE_MAX;
        tail[lo] = i;
        if (lo == len)
            len++;
    }
    for (size_t i = len ? tail[len - 1] : SIZE_MAX; i != SIZE_MAX; i = prev[i])
        keep[i] = true;
    free(tail);
    free(prev);
    return RS_OK;
}

static bool same_bytes(const rs_object *x, const rs_object *y)
{
    return x->len == y->len && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
}

int rs_change_between(const rs_registry *a, const rs_registry *b, rs_change **out, rs_error *err)
{
    *out = NULL;
    rs_diff *d;
    int rc = rs_diff_compute(a, b, 0, &d, err);
    if (rc)
        return rc;
    size_t na = rs_registry_count(a), nb = rs_registry_count(b);
    rs_change *c = calloc(1, sizeof *c);
    const rs_object **put_obj = calloc(d->n + nb + 1, sizeof *put_obj); /* the b object of each PUT */
    bool *is_put = calloc(nb + 1, sizeof *is_put), *keep = calloc(nb + 1, sizeof *keep);
    size_t *kept = malloc((nb + 1) * sizeof *kept), *kept_ai = malloc((nb + 1) * sizeof *kept_ai);
    if (!c || !put_obj || !is_put || !keep || !kept || !kept_ai || !(c->ops = calloc(d->n + nb + 1, sizeof *c->ops))) {
        rc = RS_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < d->n; i++) {
        const rs_obj_change *oc = &d->items[i];
        if (oc->type == RS_CHANGE_DELETED) {
            rc = op_from(&c->ops[c->n_ops++], RS_OP_DELETE, oc->a);
        } else {
            put_obj[c->n_ops] = oc->b;
            rc = op_from(&c->ops[c->n_ops++], RS_OP_PUT, oc->b);
        }
        if (rc)
            goto fail;
    }
    /* the same canonical form written with other bytes (field order, map order, ...): a PUT too,
     * so that the result has b's bytes; it does not change any digest */
    for (size_t i = 0; i < nb; i++) {
        const rs_object *ob = rs_registry_at(b, i);
        const rs_object *oa = rs_registry_find(a, ob->kind, ob->project, ob->name, ob->ordinal);
        if (!oa || memcmp(oa->hash, ob->hash, RS_DIGEST_LEN) != 0 || same_bytes(oa, ob))
            continue;
        put_obj[c->n_ops] = ob;
        rc = op_from(&c->ops[c->n_ops++], RS_OP_PUT, ob);
        if (rc)
            goto fail;
    }
    /* positions: every PUT says where it is in b */
    for (size_t i = 0; i < c->n_ops; i++) {
        if (c->ops[i].type != RS_OP_PUT)
            continue;
        size_t bi = rs_reg_index_of(b, put_obj[i]);
        c->ops[i].position = (uint32_t)(bi + 1);
        is_put[bi] = true;
    }
    /* the objects left alone keep their relative order, unless b reordered them: those off the
     * longest run that is in order in both move */
    size_t nk = 0;
    for (size_t i = 0; i < nb; i++) {
        if (is_put[i])
            continue;
        const rs_object *ob = rs_registry_at(b, i);
        const rs_object *oa = rs_registry_find(a, ob->kind, ob->project, ob->name, ob->ordinal);
        if (!oa) { /* cannot happen: an object of b not put is in a */
            rc = RS_ECORRUPT;
            goto fail;
        }
        kept[nk] = i;
        kept_ai[nk++] = rs_reg_index_of(a, oa);
    }
    (void)na;
    if (lis(kept_ai, nk, keep)) {
        rc = RS_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < nk; i++) {
        if (keep[i])
            continue;
        rs_move *mv = realloc(c->moves, (c->n_moves + 1) * sizeof *mv);
        if (!mv) {
            rc = RS_ENOMEM;
            goto fail;
        }
        c->moves = mv;
        const rs_object *ob = rs_registry_at(b, kept[i]);
        mv = &c->moves[c->n_moves++];
        mv->kind = ob->kind;
        mv->ordinal = ob->ordinal;
        mv->position = (uint32_t)(kept[i] + 1);
        mv->project = strdup(ob->project);
        mv->name = strdup(ob->name);
        if (!mv->project || !mv->name) {
            rc = RS_ENOMEM;
            goto fail;
        }
    }
    rs_diff_free(d);
    free(put_obj);
    free(is_put);
    free(keep);
    free(kept);
    free(kept_ai);
    rs_registry_digest(a, c->parent_digest);
    rs_registry_digest(b, c->result_digest);
    rs_registry_content_digest(a, c->parent_content_digest);
    rs_registry_content_digest(b, c->result_content_digest);
    *out = c;
    return RS_OK;
fail:
    rs_diff_free(d);
    free(put_obj);
    free(is_put);
    free(keep);
    free(kept);
    free(kept_ai);
    rs_change_free(c);
    return rc == RS_ECORRUPT ? rs_error_set(err, rc, "change: inconsistent registries")
                             : rs_error_set(err, RS_ENOMEM, "out of memory");
}

typedef struct kref {
    uint32_t kind, ordinal;
    const char *project, *name;
} kref;

static int cmp_kref(const void *x, const void *y)
{
    const kref *a = x, *b = y;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->ordinal != b->ordinal)
        return a->ordinal < b->ordinal ? -1 : 1;
    int r = strcmp(a->project, b->project);
    return r ? r : strcmp(a->name, b->name);
}

static bool kref_has(const kref *v, size_t n, uint32_t kind, uint32_t ordinal, const char *project, const char *name)
{
    kref k = {kind, ordinal, project, name};
    return n && bsearch(&k, v, n, sizeof *v, cmp_kref) != NULL;
}

/* Checks the order information of c against r before anything changes: no object deleted or put
 * twice, PUT positions and moves distinct and inside the result, moves only of objects the change
 * leaves alone. Fills pos (PUT positions, then moves) for rs_registry_set_positions. */
static int check_order(const rs_registry *r, const rs_change *c, rs_position *pos, size_t *npos, rs_error *err)
{
    size_t nd = 0, np = 0, creates = 0;
    kref *dels = malloc((c->n_ops + 1) * sizeof *dels), *puts = malloc((c->n_ops + 1) * sizeof *puts);
    uint8_t *taken = NULL;
    int rc = RS_OK;
    *npos = 0;
    if (!dels || !puts) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < c->n_ops; i++) {
        const rs_op *op = &c->ops[i];
        kref k = {op->kind, op->ordinal, op->project, op->name};
        if (op->type == RS_OP_DELETE)
            dels[nd++] = k;
        else
            puts[np++] = k;
    }
    qsort(dels, nd, sizeof *dels, cmp_kref);
    qsort(puts, np, sizeof *puts, cmp_kref);
    for (int pass = 0; pass < 2; pass++) {
        const kref *v = pass ? puts : dels;
        size_t n = pass ? np : nd;
        for (size_t i = 1; i < n; i++)
            if (cmp_kref(&v[i - 1], &v[i]) == 0) {
                rc = rs_error_set(err, RS_ECORRUPT, "version %llu: %s %s %s/%s twice", (unsigned long long)c->version,
                                  pass ? "puts" : "deletes", rs_kind_plan_name(v[i].kind), v[i].project, v[i].name);
                goto out;
            }
    }
    for (size_t i = 0; i < np; i++)
        if (!rs_registry_find(r, puts[i].kind, puts[i].project, puts[i].name, puts[i].ordinal) ||
            kref_has(dels, nd, puts[i].kind, puts[i].ordinal, puts[i].project, puts[i].name))
            creates++;
    size_t total = rs_registry_count(r) - nd + creates;
    taken = calloc(total + 1, 1);
    if (!taken) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < c->n_ops + c->n_moves; i++) {
        bool is_move = i >= c->n_ops;
        const rs_op *op = is_move ? NULL : &c->ops[i];
        const rs_move *mv = is_move ? &c->moves[i - c->n_ops] : NULL;
        if (op && (op->type != RS_OP_PUT || op->position == 0))
            continue;
        rs_position p = {op ? op->kind : mv->kind, op ? op->project : mv->project, op ? op->name : mv->name,
                         op ? op->ordinal : mv->ordinal, op ? op->position : mv->position};
        if (mv && (!rs_registry_find(r, p.kind, p.project, p.name, p.ordinal) ||
                   kref_has(dels, nd, p.kind, p.ordinal, p.project, p.name) ||
                   kref_has(puts, np, p.kind, p.ordinal, p.project, p.name))) {
            rc = rs_error_set(err, RS_ECORRUPT, "version %llu move %zu: %s %s/%s is not an object the change leaves alone",
                              (unsigned long long)c->version, i - c->n_ops, rs_kind_plan_name(p.kind), p.project, p.name);
            goto out;
        }
        if (p.position == 0 || p.position > total || taken[p.position]) {
            rc = rs_error_set(err, RS_ECORRUPT, "version %llu: position %u of %s %s/%s is %s (the result has %zu objects)",
                              (unsigned long long)c->version, p.position, rs_kind_plan_name(p.kind), p.project, p.name,
                              p.position == 0 || p.position > total ? "outside the registry" : "taken twice", total);
            goto out;
        }
        taken[p.position] = 1;
        pos[(*npos)++] = p;
    }
out:
    free(dels);
    free(puts);
    free(taken);
    return rc;
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
        rs_sha256(canon.data, canon.len, h);
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
    rs_position *pos = malloc((c->n_ops + c->n_moves + 1) * sizeof *pos);
    size_t npos = 0;
    if (!pos)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    int orc = check_order(r, c, pos, &npos, err);
    if (orc) {
        free(pos);
        return orc;
    }
    /* deletes first (one pass over the order), then puts (so that ordinals line up), then the
     * order */
    rs_position *dels = malloc((c->n_ops + 1) * sizeof *dels);
    size_t nd = 0;
    if (!dels) {
        free(pos);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < c->n_ops; i++)
        if (c->ops[i].type == RS_OP_DELETE)
            dels[nd++] = (rs_position){c->ops[i].kind, c->ops[i].project, c->ops[i].name, c->ops[i].ordinal, 0};
    int drc = rs_reg_delete_many(r, dels, nd, err);
    free(dels);
    if (drc) {
        free(pos);
        return drc;
    }
    for (size_t i = 0; i < c->n_ops; i++) {
        const rs_op *op = &c->ops[i];
        if (op->type != RS_OP_PUT)
            continue;
        int rc = rs_reg_put(r, op->kind, op->project, op->name, op->ordinal, op->data, op->len, op->position != 0, err);
        if (rc) {
            free(pos);
            return rc;
        }
    }
    int prc = rs_registry_set_positions(r, pos, npos, err);
    free(pos);
    if (prc)
        return rs_error_prefix(err, "version %llu", (unsigned long long)c->version);
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
            ops[i].position = op->position;
        }
        opp[i] = &ops[i];
    }
    m.n_ops = c->n_ops;
    m.ops = opp;
    Regsync__V1__Move *mvs = calloc(c->n_moves ? c->n_moves : 1, sizeof *mvs);
    Regsync__V1__Move **mvp = calloc(c->n_moves ? c->n_moves : 1, sizeof *mvp);
    Regsync__V1__ObjectKey *mkeys = calloc(c->n_moves ? c->n_moves : 1, sizeof *mkeys);
    if (!mvs || !mvp || !mkeys) {
        free(ops);
        free(opp);
        free(keys);
        free(mvs);
        free(mvp);
        free(mkeys);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < c->n_moves; i++) {
        regsync__v1__move__init(&mvs[i]);
        regsync__v1__object_key__init(&mkeys[i]);
        mkeys[i].kind = c->moves[i].kind;
        mkeys[i].project = c->moves[i].project;
        mkeys[i].name = c->moves[i].name;
        mkeys[i].ordinal = c->moves[i].ordinal;
        mvs[i].key = &mkeys[i];
        mvs[i].position = c->moves[i].position;
        mvp[i] = &mvs[i];
    }
    m.n_moves = c->n_moves;
    m.moves = mvp;
    size_t n = regsync__v1__change__get_packed_size(&m);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf)
        regsync__v1__change__pack(&m, buf);
    free(ops);
    free(opp);
    free(keys);
    free(mvs);
    free(mvp);
    free(mkeys);
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
    /* wire-level validation first: protobuf-c's unpack is lenient and recursive. It unpacks the
       canonical form, which holds the same message: each singular field once (protobuf-c would
       allocate and merge every occurrence) and no unknown fields (it would copy each one). */
    rs_buf canon = {0};
    rs_canon_ctx cx;
    rs_canon_init(&cx, p, "change", 16, err);
    cx.drop_unknown = true;
    int rc = rs_canon(&cx, &regsync__v1__change__descriptor, p, n, &canon);
    if (rc) {
        rs_buf_free(&canon);
        return rc;
    }
    Regsync__V1__Change *m = regsync__v1__change__unpack(NULL, canon.len, canon.data ? canon.data : (const uint8_t *)"");
    rs_buf_free(&canon);
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
        /* untrusted: a time beyond what int64 milliseconds hold is no time (0), as an absent one */
        c->published_ms = m->published ? rs_ts_to_ms_or_zero(m->published->seconds, m->published->nanos) : 0;
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
            op->position = o->position;
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
    if (!rc && m->n_moves && !(c->moves = calloc(m->n_moves, sizeof *c->moves)))
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < m->n_moves; i++) {
        const Regsync__V1__Move *o = m->moves[i];
        rs_move *mv = &c->moves[i];
        c->n_moves = i + 1;
        if (!o->key || o->key->kind == 0 || o->key->kind > 0x1fffffff || o->position == 0) {
            rc = rs_error_set(err, RS_ECORRUPT, "change version %llu move %zu: missing key or position",
                              (unsigned long long)m->version, i);
            break;
        }
        mv->kind = o->key->kind;
        mv->ordinal = o->key->ordinal;
        mv->position = o->position;
        mv->project = strdup(o->key->project ? o->key->project : "");
        mv->name = strdup(o->key->name ? o->key->name : "");
        if (!mv->project || !mv->name)
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        else if (has_nul(mv->project, 4096) || has_nul(mv->name, 4096))
            rc = rs_error_set(err, RS_ECORRUPT, "change move %zu: name or project longer than 4096 bytes", i);
    }
    regsync__v1__change__free_unpacked(m, NULL);
    if (rc) {
        rs_change_free(c);
        return rc;
    }
    *out = c;
    return RS_OK;
}
