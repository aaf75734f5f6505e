/* rs_registry.c: the object index, decode, encode and mutation. The digest is in rs_digest.c. */
#include "rs_registry.h"
#include "rs_canon.h"
#include "rs_kinds.h"
#include "rs_registry_impl.h"
#include "rs_index_impl.h"
#include "rs_wire.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---------------------------------------------------------------- keys */

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* key = be32 kind | be32 ordinal | be32 len(project) | project | be32 len(name) | name */
static uint8_t *make_key(uint32_t kind, uint32_t ordinal, const char *project, const char *name, size_t *len)
{
    size_t pl = strlen(project), nl = strlen(name);
    uint8_t *k = malloc(16 + pl + nl);
    if (!k)
        return NULL;
    rs_be32(k, kind);
    rs_be32(k + 4, ordinal);
    rs_be32(k + 8, (uint32_t)pl);
    memcpy(k + 12, project, pl);
    rs_be32(k + 12 + pl, (uint32_t)nl);
    memcpy(k + 16 + pl, name, nl);
    *len = 16 + pl + nl;
    return k;
}

/* ---------------------------------------------------------------- hash table */

static int table_grow(rs_registry *r)
{
    size_t ncap = r->tcap ? r->tcap * 2 : 64;
    obj **nt = calloc(ncap, sizeof *nt);
    if (!nt)
        return RS_ENOMEM;
    for (size_t i = 0; i < r->tcap; i++) {
        obj *o = r->table[i];
        if (!o || o == TOMB)
            continue;
        size_t j = o->key_hash & (ncap - 1);
        while (nt[j])
            j = (j + 1) & (ncap - 1);
        nt[j] = o;
    }
    free(r->table);
    r->table = nt;
    r->tcap = ncap;
    r->tused = r->n;
    return RS_OK;
}

static obj **table_slot(const rs_registry *r, const uint8_t *key, size_t kl, uint64_t h)
{
    if (!r->tcap)
        return NULL;
    size_t j = h & (r->tcap - 1);
    for (size_t probes = 0; probes < r->tcap; probes++) {
        obj *o = r->table[j];
        if (!o)
            return NULL;
        if (o != TOMB && o->key_hash == h && o->key_len == kl && memcmp(o->key, key, kl) == 0)
            return &r->table[j];
        j = (j + 1) & (r->tcap - 1);
    }
    return NULL;
}

static int table_insert(rs_registry *r, obj *o)
{
    if ((r->tused + 1) * 10 >= r->tcap * 7) {
        int rc = table_grow(r);
        if (rc)
            return rc;
    }
    size_t j = o->key_hash & (r->tcap - 1);
    while (r->table[j] && r->table[j] != TOMB)
        j = (j + 1) & (r->tcap - 1);
    if (!r->table[j])
        r->tused++;
    r->table[j] = o;
    return RS_OK;
}

/* ---------------------------------------------------------------- objects */

static void obj_free(obj *o)
{
    if (!o)
        return;
    free(o->owned);
    free(o->strs);
    free(o->key);
    free(o);
}

rs_registry *rs_registry_new(void)
{
    rs_registry *r = calloc(1, sizeof *r);
    if (r)
        r->content_dirty = true;
    return r;
}

void rs_registry_free(rs_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        obj_free(r->objs[i]);
    free(r->objs);
    free(r->table);
    rs_reg_buckets_free(r);
    free(r->buf);
    free(r);
}

/* Sets every object's idx to its position in objs, when some mutation left them stale. */
static void renumber(const rs_registry *cr)
{
    rs_registry *r = (rs_registry *)cr;
    if (!r->idx_dirty)
        return;
    for (size_t i = 0; i < r->n; i++)
        r->objs[i]->idx = i;
    r->idx_dirty = false;
}

/* The place of o in objs by pointer comparison alone: the O(n) loops of a change touch only the
 * contiguous array, never the objects (a cache miss each on a large registry). */
static size_t find_slot(const rs_registry *r, const obj *o)
{
    if (!r->idx_dirty && o->idx < r->n && r->objs[o->idx] == o)
        return o->idx;
    for (size_t i = 0; i < r->n; i++)
        if (r->objs[i] == o)
            return i;
    return r->n;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

/* membership in a sorted array of pointers */
static bool in_set(obj *const *set, size_t k, const obj *o)
{
    size_t lo = 0, hi = k;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if ((uintptr_t)set[mid] < (uintptr_t)o)
            lo = mid + 1;
        else if (set[mid] == o)
            return true;
        else
            hi = mid;
    }
    return false;
}

size_t rs_reg_index_of(const rs_registry *r, const rs_object *o)
{
    renumber(r);
    return ((const obj *)o)->idx;
}

size_t rs_registry_count(const rs_registry *r) { return r->n; }

const rs_object *rs_registry_at(const rs_registry *r, size_t i) { return i < r->n ? &r->objs[i]->pub : NULL; }

const rs_object *rs_registry_find(const rs_registry *r, uint32_t kind, const char *project, const char *name,
                                  uint32_t ordinal)
{
    size_t kl;
    uint8_t *k = make_key(kind, ordinal, project ? project : "", name ? name : "", &kl);
    if (!k)
        return NULL;
    obj **s = table_slot(r, k, kl, fnv1a(k, kl));
    free(k);
    return s ? &(*s)->pub : NULL;
}

/* Links a new object into the registry at index `at` of the order (r->n: the end); takes
 * ownership of o. */
static int link_obj(rs_registry *r, obj *o, size_t at)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 64;
        obj **nv = realloc(r->objs, nc * sizeof *nv);
        if (!nv)
            return RS_ENOMEM;
        r->objs = nv;
        r->cap = nc;
    }
    int rc = table_insert(r, o);
    if (rc)
        return rc;
    rc = rs_reg_bucket_add(r, o);
    if (rc)
        return rc; /* left in the table: the caller frees the registry on ENOMEM */
    if (at > r->n)
        at = r->n;
    if (at < r->n) {
        memmove(r->objs + at + 1, r->objs + at, (r->n - at) * sizeof *r->objs);
        r->idx_dirty = true;
    }
    r->objs[at] = o;
    o->idx = at;
    r->n++;
    return RS_OK;
}

static void unlink_obj(rs_registry *r, obj *o)
{
    obj **s = table_slot(r, o->key, o->key_len, o->key_hash);
    if (s)
        *s = TOMB;
    rs_reg_bucket_remove(r, o);
    size_t i = find_slot(r, o);
    if (i < r->n) {
        memmove(r->objs + i, r->objs + i + 1, (r->n - i - 1) * sizeof *r->objs);
        r->n--;
        if (i < r->n)
            r->idx_dirty = true;
    }
}

/* Where a new object of `kind` goes when no position is given: after the last object of the same
 * or a lower kind (Feast's field order; objects of fields this build does not know are passed
 * over, since Python writes those last). */
static size_t kind_end(const rs_registry *r, uint32_t kind)
{
    bool known = rs_kind_is_known(kind);
    size_t i = r->n;
    while (i > 0) {
        uint32_t k = r->objs[i - 1]->pub.kind;
        if (k <= kind && (rs_kind_is_known(k) || !known))
            break;
        i--;
    }
    return i;
}

/* ------------------------------------------------------------ validation */

static int str_field(const uint8_t *p, size_t n, uint32_t num, char **out)
{
    const uint8_t *d = NULL;
    size_t l = 0;
    int f = rs_wire_find_len(p, n, num, &d, &l);
    if (f < 0)
        return -1;
    if (f == 0) {
        *out = strdup("");
        return *out ? 0 : -1;
    }
    if (memchr(d, 0, l))
        return -2;
    *out = strndup((const char *)d, l);
    return *out ? 0 : -1;
}

int rs_obj_key_from_canon(uint32_t kind, const uint8_t *canon, size_t n, char **project, char **name, rs_error *err)
{
    const rs_kind_info *ki = rs_kind_info_get(kind);
    *project = *name = NULL;
    const uint8_t *p = canon;
    size_t pn = n;
    int rc = 0;
    if (!ki || ki->key == RS_KEY_NONE) {
        *project = strdup("");
        *name = strdup("");
        goto done;
    }
    if (ki->key == RS_KEY_SPEC || ki->key == RS_KEY_PROJECT_SELF) {
        const uint8_t *d = NULL;
        size_t l = 0;
        int f = rs_wire_find_len(canon, n, 1, &d, &l);
        if (f < 0)
            return rs_error_set(err, RS_ECORRUPT, "%s: malformed spec", ki->field);
        p = f ? d : (const uint8_t *)"";
        pn = f ? l : 0;
    }
    switch (ki->key) {
    case RS_KEY_SPEC:
    case RS_KEY_FLAT:
        rc = str_field(p, pn, ki->name_field, name);
        if (!rc)
            rc = str_field(p, pn, ki->project_field, project);
        break;
    case RS_KEY_PROJECT_ONLY:
        *name = strdup("");
        rc = str_field(p, pn, ki->project_field, project);
        break;
    case RS_KEY_PROJECT_SELF:
        rc = str_field(p, pn, ki->name_field, name);
        if (!rc)
            *project = strdup(*name);
        break;
    default:
        break;
    }
done:
    if (rc == -2 || (rc == 0 && (!*project || !*name))) {
        free(*project);
        free(*name);
        *project = *name = NULL;
        return rc == -2 ? rs_error_set(err, RS_ECORRUPT, "%s: name or project contains a NUL character", ki ? ki->field : "object")
                        : rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    if (rc) {
        free(*project);
        free(*name);
        *project = *name = NULL;
        return rs_error_set(err, RS_ECORRUPT, "%s: malformed name or project", ki ? ki->field : "object");
    }
    return RS_OK;
}

int rs_obj_canon(uint32_t kind, const uint8_t *data, size_t len, const uint8_t *base, const char *root,
                 unsigned max_depth, uint32_t skip_field, rs_buf *out, rs_error *err)
{
    const rs_kind_info *ki = rs_kind_info_get(kind);
    if (!ki) /* opaque: the bytes are the canonical form */
        return rs_buf_append(out, data, len) ? rs_error_set(err, RS_ENOMEM, "out of memory") : RS_OK;
    if (!ki->desc) { /* a string singleton */
        if (!rs_utf8_valid(data, len))
            return rs_error_set(err, RS_ECORRUPT, "%s: string is not valid UTF-8 (byte offset %td)", ki->field,
                                base ? data - base : (ptrdiff_t)0);
        return rs_buf_append(out, data, len) ? rs_error_set(err, RS_ENOMEM, "out of memory") : RS_OK;
    }
    rs_canon_ctx c;
    rs_canon_init(&c, base, root, max_depth, err);
    c.skip_field = skip_field;
    return rs_canon(&c, ki->desc, data, len, out);
}

/* Builds an object: canonicalizes (validating), hashes, extracts the key. data is borrowed unless
 * owned != NULL (then o takes it). */
static int make_obj(uint32_t kind, const uint8_t *data, size_t len, uint8_t *owned, const uint8_t *base,
                    const char *root, unsigned max_depth, rs_buf *scratch, obj **out, rs_error *err)
{
    *out = NULL;
    rs_buf_reset(scratch);
    int rc = rs_obj_canon(kind, data, len, base, root, max_depth, 0, scratch, err);
    if (rc) {
        free(owned);
        return rc;
    }
    obj *o = calloc(1, sizeof *o);
    if (!o) {
        free(owned);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    o->owned = owned;
    o->pub.kind = kind;
    o->pub.data = owned ? owned : data;
    o->pub.len = len;
    rs_sha256(scratch->data, scratch->len, o->pub.hash);
    char *project = NULL, *name = NULL;
    rc = rs_obj_key_from_canon(kind, scratch->data ? scratch->data : (const uint8_t *)"", scratch->len, &project,
                               &name, err);
    if (rc) {
        rs_error_prefix(err, "%s", root);
        obj_free(o);
        return rc;
    }
    size_t pl = strlen(project), nl = strlen(name);
    o->strs = malloc(pl + nl + 2);
    if (!o->strs) {
        free(project);
        free(name);
        obj_free(o);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    memcpy(o->strs, project, pl + 1);
    memcpy(o->strs + pl + 1, name, nl + 1);
    o->pub.project = o->strs;
    o->pub.name = o->strs + pl + 1;
    free(project);
    free(name);
    *out = o;
    return RS_OK;
}

/* Gives o its key with the lowest free ordinal (or the requested one). */
static int give_key(rs_registry *r, obj *o, long want_ordinal, rs_error *err)
{
    for (uint32_t ord = want_ordinal >= 0 ? (uint32_t)want_ordinal : 0;; ord++) {
        free(o->key);
        o->key = make_key(o->pub.kind, ord, o->pub.project, o->pub.name, &o->key_len);
        if (!o->key)
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        o->key_hash = fnv1a(o->key, o->key_len);
        o->pub.ordinal = ord;
        if (!table_slot(r, o->key, o->key_len, o->key_hash))
            return RS_OK;
        if (want_ordinal >= 0)
            return rs_error_set(err, RS_ECONFLICT, "object exists");
    }
}

/* Gives o its key with the lowest free ordinal (or the requested one) and links it at index
 * `at` of the order. */
static int place(rs_registry *r, obj *o, long want_ordinal, size_t at, rs_error *err)
{
    int rc = give_key(r, o, want_ordinal, err);
    if (rc)
        return rc;
    rc = link_obj(r, o, at);
    return rc ? rs_error_set(err, rc, "out of memory") : RS_OK;
}

/* Puts o where old is (same key), in O(1): old leaves the index and is freed. */
static int replace_in_slot(rs_registry *r, obj *old, obj *o, rs_error *err)
{
    size_t at = find_slot(r, old);
    obj **s = table_slot(r, old->key, old->key_len, old->key_hash);
    if (s)
        *s = TOMB;
    rs_reg_bucket_remove(r, old);
    int rc = give_key(r, o, (long)old->pub.ordinal, err);
    if (!rc && (table_insert(r, o) || rs_reg_bucket_add(r, o)))
        rc = rs_error_set(err, RS_ENOMEM, "out of memory"); /* the caller frees the registry on ENOMEM */
    if (rc)
        return rc;
    r->objs[at] = o;
    o->idx = at;
    obj_free(old);
    return RS_OK;
}

/* ---------------------------------------------------------------- decode */

/* Decode gives each object the lowest free ordinal of its (kind, project, name). Decoding starts
 * from an empty registry and only adds, so that ordinal is the number of objects with the same
 * base key placed so far: a count per base key keeps k duplicates linear (give_key's search from
 * ordinal 0 would try 1 + 2 + ... + k keys). */
typedef struct ord_slot {
    uint64_t h;
    const obj *first; /* NULL: free slot */
    uint32_t count;
} ord_slot;

typedef struct ord_counts {
    ord_slot *v;
    size_t cap, used;
} ord_counts;

static uint64_t base_key_hash(const obj *o)
{
    uint8_t k[4];
    rs_be32(k, o->pub.kind);
    uint64_t h = fnv1a(k, 4);
    h = h * 31 + fnv1a((const uint8_t *)o->pub.project, strlen(o->pub.project) + 1);
    return h * 31 + fnv1a((const uint8_t *)o->pub.name, strlen(o->pub.name) + 1);
}

static bool same_base_key(const obj *a, const obj *b)
{
    return a->pub.kind == b->pub.kind && strcmp(a->pub.project, b->pub.project) == 0 &&
           strcmp(a->pub.name, b->pub.name) == 0;
}

/* The next ordinal for o's base key (counted as taken); -1 when out of memory. */
static long ord_next(ord_counts *t, const obj *o)
{
    if ((t->used + 1) * 10 >= t->cap * 7) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        ord_slot *nv = calloc(ncap, sizeof *nv);
        if (!nv)
            return -1;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->v[i].first)
                continue;
            size_t j = t->v[i].h & (ncap - 1);
            while (nv[j].first)
                j = (j + 1) & (ncap - 1);
            nv[j] = t->v[i];
        }
        free(t->v);
        t->v = nv;
        t->cap = ncap;
    }
    uint64_t h = base_key_hash(o);
    size_t j = h & (t->cap - 1);
    while (t->v[j].first && !(t->v[j].h == h && same_base_key(t->v[j].first, o)))
        j = (j + 1) & (t->cap - 1);
    if (!t->v[j].first) {
        t->v[j].h = h;
        t->v[j].first = o;
        t->v[j].count = 0;
        t->used++;
    }
    return (long)t->v[j].count++;
}

static void limits_or_default(const rs_limits *in, rs_limits *out)
{
    rs_limits d = {0};
    if (in)
        d = *in;
    if (!d.max_registry_bytes)
        d.max_registry_bytes = (size_t)1 << 30;
    if (!d.max_object_bytes)
        d.max_object_bytes = (size_t)256 << 20;
    if (!d.max_depth)
        d.max_depth = 64;
    if (!d.max_unknown_field)
        d.max_unknown_field = 64;
    *out = d;
}

static bool has_bytes(const uint8_t *p, size_t n, const char *s)
{
    size_t l = strlen(s);
    for (size_t i = 0; l && i + l <= n; i++)
        if (p[i] == (uint8_t)s[0] && memcmp(p + i, s, l) == 0)
            return true;
    return false;
}

/* An SQLite file keeps its schema (the CREATE TABLE text) in sqlite_master, stored as plain text:
 * Feast's SQL registry (registry_type: sql) has the tables feast_metadata, feature_views and
 * managed_infra among others. */
static bool sqlite_has_feast_tables(const uint8_t *p, size_t n)
{
    return has_bytes(p, n, "CREATE TABLE") && has_bytes(p, n, "feast_metadata") && has_bytes(p, n, "feature_views") &&
           has_bytes(p, n, "managed_infra");
}

/* Names what a file that is not a registry looks like, for a friendlier error. */
static const char *sniff(const uint8_t *p, size_t n)
{
    if (n >= 16 && memcmp(p, "SQLite format 3", 16) == 0) {
        if (sqlite_has_feast_tables(p, n))
            return "an SQLite database holding Feast's SQL registry tables (registry_type: sql), not a registry.db "
                   "file; regsync reads a SQL registry from PostgreSQL only (a postgresql:// URL), so publish from "
                   "the PostgreSQL registry or from a file registry";
        return "an SQLite database without Feast's SQL registry tables: not a Feast registry in any form";
    }
    if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
        return "gzip-compressed data; decompress it first";
    if (n >= 4 && memcmp(p, "PK\x03\x04", 4) == 0)
        return "a zip archive";
    size_t printable = 0, m = n < 512 ? n : 512;
    for (size_t i = 0; i < m; i++)
        if ((p[i] >= 0x20 && p[i] < 0x7f) || p[i] == '\n' || p[i] == '\r' || p[i] == '\t')
            printable++;
    if (m >= 8 && printable == m) {
        if (p[0] == '{' || p[0] == '[')
            return "JSON text, not a binary registry";
        return "text (perhaps protobuf text format or YAML), not a binary registry";
    }
    return NULL;
}

static int decode_impl(rs_registry *r, const uint8_t *data, size_t len, const rs_limits *lim_in, rs_error *err)
{
    rs_limits lim;
    limits_or_default(lim_in, &lim);
    if (len > lim.max_registry_bytes)
        return rs_error_set(err, RS_ETOOBIG, "registry is %zu bytes, over the limit of %zu", len, lim.max_registry_bytes);
    const char *looks = sniff(data, len);
    const uint8_t *p = data, *end = data + len;
    rs_buf scratch = {0};
    int rc = RS_OK;
    /* singular fields gather their occurrences first */
    struct pend {
        uint32_t kind;
        size_t before; /* objects placed before its first occurrence: where it goes in the order */
        rs_buf b;
    } pend[24];
    size_t npend = 0;
    size_t idx_of[20] = {0}; /* per repeated kind: element counter for error paths */
    ord_counts ords = {0};
    while (p < end) {
        rs_wfield f;
        const char *why;
        const uint8_t *at = p;
        if (rs_wire_next(&p, end, &f, &why)) {
            if (looks)
                rc = rs_error_set(err, RS_ECORRUPT, "not a Feast registry: this looks like %s", looks);
            else
                rc = rs_error_set(err, RS_ECORRUPT, "not a Feast registry: %s at byte offset %td", why, at - data);
            goto out;
        }
        const rs_kind_info *ki = rs_kind_info_get(f.num);
        if (ki && f.wt != RS_WT_LEN) {
            if (looks)
                rc = rs_error_set(err, RS_ECORRUPT, "not a Feast registry: this looks like %s", looks);
            else
                rc = rs_error_set(err, RS_ECORRUPT,
                                  "not a Feast registry: top-level field %u (%s) has wire type %u, expected 2 "
                                  "(length-delimited), at byte offset %td",
                                  f.num, ki->field, f.wt, at - data);
            goto out;
        }
        if (!ki && f.num > lim.max_unknown_field) {
            if (looks)
                rc = rs_error_set(err, RS_ECORRUPT, "not a Feast registry: this looks like %s", looks);
            else
                rc = rs_error_set(err, RS_ECORRUPT,
                                  "not a Feast registry: top-level field number %u at byte offset %td is far beyond "
                                  "Feast's (1-19; unknown fields up to %u are kept)",
                                  f.num, at - data, lim.max_unknown_field);
            goto out;
        }
        if (f.raw_len > lim.max_object_bytes) {
            rc = rs_error_set(err, RS_ETOOBIG, "top-level field %u at byte offset %td: object of %zu bytes is over the limit of %zu",
                              f.num, at - data, f.raw_len, lim.max_object_bytes);
            goto out;
        }
        if (ki && !ki->singleton) {
            char root[64];
            size_t i = idx_of[f.num]++;
            snprintf(root, sizeof root, "%s[%zu]", ki->field, i);
            obj *o;
            rc = make_obj(f.num, f.data, f.len, NULL, data, root, lim.max_depth, &scratch, &o, err);
            if (rc) {
                if (looks && rc == RS_ECORRUPT)
                    rs_error_set(err, RS_ECORRUPT, "not a Feast registry: this looks like %s", looks);
                else
                    rs_error_prefix(err, "not a Feast registry");
                goto out;
            }
            long ord = ord_next(&ords, o);
            rc = ord < 0 ? rs_error_set(err, RS_ENOMEM, "out of memory") : place(r, o, ord, r->n, err);
            if (rc) {
                obj_free(o);
                goto out;
            }
            continue;
        }
        /* singular known field or unknown field: gather */
        size_t j;
        for (j = 0; j < npend; j++)
            if (pend[j].kind == f.num)
                break;
        if (j == npend) {
            if (npend == sizeof pend / sizeof pend[0]) {
                rc = rs_error_set(err, RS_ECORRUPT, "not a Feast registry: too many distinct unknown top-level fields");
                goto out;
            }
            pend[npend].kind = f.num;
            pend[npend].before = r->n;
            memset(&pend[npend].b, 0, sizeof pend[npend].b);
            npend++;
        }
        rs_buf *b = &pend[j].b;
        int arc;
        if (!ki)
            arc = rs_buf_append(b, f.raw, f.raw_len);      /* opaque: tagged, every occurrence */
        else if (ki->desc)
            arc = rs_buf_append(b, f.data, f.len);         /* message: occurrences merge */
        else {
            rs_buf_reset(b);                               /* string: last one wins */
            arc = rs_buf_append(b, f.data, f.len);
        }
        if (arc) {
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
            goto out;
        }
    }
    /* pend is in the order of first occurrence, so each singleton goes where it first appeared */
    size_t placed = 0;
    for (size_t j = 0; j < npend; j++) {
        const rs_kind_info *ki = rs_kind_info_get(pend[j].kind);
        /* an empty string singleton is the proto3 default: absent */
        if (ki && !ki->desc && pend[j].b.len == 0)
            continue;
        size_t l;
        uint8_t *owned = rs_buf_take(&pend[j].b, &l);
        char root[64];
        if (ki)
            snprintf(root, sizeof root, "%s", ki->field);
        else
            snprintf(root, sizeof root, "field %u", pend[j].kind);
        obj *o;
        rc = make_obj(pend[j].kind, owned, l, owned, owned, root, lim.max_depth, &scratch, &o, err);
        if (rc) {
            rs_error_prefix(err, "not a Feast registry");
            goto out;
        }
        rc = place(r, o, -1, pend[j].before + placed, err);
        if (rc) {
            obj_free(o);
            goto out;
        }
        placed++;
    }
out:
    for (size_t j = 0; j < npend; j++)
        rs_buf_free(&pend[j].b);
    free(ords.v);
    rs_buf_free(&scratch);
    return rc;
}

int rs_registry_decode_take(uint8_t *data, size_t len, const rs_limits *limits, rs_registry **out, rs_error *err)
{
    *out = NULL;
    rs_registry *r = rs_registry_new();
    if (!r) {
        free(data);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    r->buf = data;
    int rc = decode_impl(r, data ? data : (const uint8_t *)"", len, limits, err);
    if (rc) {
        rs_registry_free(r);
        return rc;
    }
    *out = r;
    return RS_OK;
}

int rs_registry_decode(const uint8_t *data, size_t len, const rs_limits *limits, rs_registry **out, rs_error *err)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return rs_error_set(err, RS_ENOMEM, "out of memory (%zu bytes)", len);
    if (len)
        memcpy(copy, data, len);
    return rs_registry_decode_take(copy, len, limits, out, err);
}

int rs_registry_load_file(const char *path, const rs_limits *limits, rs_registry **out, rs_error *err)
{
    uint8_t *data;
    size_t len;
    rs_limits lim;
    limits_or_default(limits, &lim);
    *out = NULL;
    int rc = rs_read_file(path, lim.max_registry_bytes, &data, &len, err);
    if (rc)
        return rc;
    rc = rs_registry_decode_take(data, len, &lim, out, err);
    if (rc)
        rs_error_prefix(err, "%s", path);
    return rc;
}

/* ---------------------------------------------------------------- encode */

static int append_obj(rs_buf *b, const rs_object *o, const uint8_t *data, size_t len)
{
    if (!rs_kind_is_known(o->kind))
        return rs_buf_append(b, data, len);
    if (rs_buf_varint(b, (uint64_t)o->kind << 3 | RS_WT_LEN) || rs_buf_varint(b, len) || rs_buf_append(b, data, len))
        return RS_ENOMEM;
    return RS_OK;
}

int rs_registry_encode(const rs_registry *r, uint8_t **out, size_t *len, rs_error *err)
{
    rs_buf b = {0};
    size_t total = 0;
    for (size_t i = 0; i < r->n; i++)
        total += r->objs[i]->pub.len + 12;
    if (rs_buf_reserve(&b, total))
        return rs_error_set(err, RS_ENOMEM, "out of memory (%zu bytes)", total);
    for (size_t i = 0; i < r->n; i++) {
        const rs_object *o = &r->objs[i]->pub;
        if (append_obj(&b, o, o->data, o->len)) {
            rs_buf_free(&b);
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        }
    }
    *out = rs_buf_take(&b, len);
    return RS_OK;
}

static size_t varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

size_t rs_registry_encoded_size(const rs_registry *r)
{
    size_t total = 0;
    for (size_t i = 0; i < r->n; i++) {
        const rs_object *o = &r->objs[i]->pub;
        total += o->len;
        if (rs_kind_is_known(o->kind)) {
            uint8_t h[20];
            total += varint_put(h, (uint64_t)o->kind << 3 | RS_WT_LEN) + varint_put(h, o->len);
        }
    }
    return total;
}

int rs_registry_encode_to(const rs_registry *r, rs_encode_sink sink, void *ctx)
{
    for (size_t i = 0; i < r->n; i++) {
        const rs_object *o = &r->objs[i]->pub;
        uint8_t h[20];
        size_t hl = 0;
        if (rs_kind_is_known(o->kind)) {
            hl = varint_put(h, (uint64_t)o->kind << 3 | RS_WT_LEN);
            hl += varint_put(h + hl, o->len);
        }
        int rc = sink(ctx, h, hl, o->data, o->len);
        if (rc)
            return rc;
    }
    return RS_OK;
}

int rs_registry_canonical(const rs_registry *r, uint8_t **out, size_t *len, rs_error *err)
{
    obj **v = malloc((r->n ? r->n : 1) * sizeof *v);
    if (!v)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    if (r->n)
        memcpy(v, r->objs, r->n * sizeof *v);
    if (r->n > 1)
        qsort(v, r->n, sizeof *v, rs_reg_cmp_obj_key);
    rs_buf b = {0}, c = {0};
    int rc = RS_OK;
    for (size_t i = 0; i < r->n && !rc; i++) {
        rs_buf_reset(&c);
        rc = rs_obj_canon(v[i]->pub.kind, v[i]->pub.data, v[i]->pub.len, NULL, "", 0, 0, &c, err);
        if (!rc && append_obj(&b, &v[i]->pub, c.data ? c.data : (const uint8_t *)"", c.len))
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    free(v);
    rs_buf_free(&c);
    if (rc) {
        rs_buf_free(&b);
        return rc;
    }
    *out = rs_buf_take(&b, len);
    return RS_OK;
}

/* ---------------------------------------------------------------- mutation */

int rs_reg_put(rs_registry *r, uint32_t kind, const char *project, const char *name, uint32_t ordinal,
               const uint8_t *data, size_t len, bool append, rs_error *err)
{
    if (kind == 0 || kind > 0x1fffffff)
        return rs_error_set(err, RS_EINVALID, "put: kind %u is not a field number", kind);
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    if (len)
        memcpy(copy, data, len);
    rs_buf scratch = {0};
    obj *o;
    char root[160];
    snprintf(root, sizeof root, "%s %s/%s", rs_kind_field_name(kind) ? rs_kind_field_name(kind) : "field",
             project ? project : "", name ? name : "");
    int rc = make_obj(kind, copy, len, copy, copy, root, 0, &scratch, &o, err);
    rs_buf_free(&scratch);
    if (rc)
        return rc;
    if (strcmp(o->pub.project, project ? project : "") != 0 || strcmp(o->pub.name, name ? name : "") != 0) {
        rc = rs_error_set(err, RS_ECORRUPT, "put %s: the object's own key (%s/%s) differs from the operation's (%s/%s)",
                          rs_kind_plan_name(kind), o->pub.project, o->pub.name, project ? project : "", name ? name : "");
        obj_free(o);
        return rc;
    }
    if (!rs_kind_is_known(kind)) {
        /* opaque payload must be well-formed tagged occurrences of field `kind` */
        const uint8_t *p = copy, *end = copy + len;
        while (p < end) {
            rs_wfield f;
            const char *why;
            if (rs_wire_next(&p, end, &f, &why) || f.num != kind) {
                obj_free(o);
                return rs_error_set(err, RS_ECORRUPT, "put field %u: opaque bytes are not occurrences of field %u", kind, kind);
            }
        }
    }
    /* an update keeps the object's position, a new object goes at the end of its kind (or of the
     * registry with append); rs_registry_set_positions moves them where a change says */
    const rs_object *old = rs_registry_find(r, kind, o->pub.project, o->pub.name, ordinal);
    rc = old ? replace_in_slot(r, (obj *)old, o, err) : place(r, o, (long)ordinal, append ? r->n : kind_end(r, kind), err);
    if (rc) {
        obj_free(o);
        return rc;
    }
    return RS_OK;
}

int rs_registry_put(rs_registry *r, uint32_t kind, const char *project, const char *name, uint32_t ordinal,
                    const uint8_t *data, size_t len, rs_error *err)
{
    return rs_reg_put(r, kind, project, name, ordinal, data, len, false, err);
}

int rs_reg_delete_many(rs_registry *r, const rs_position *v, size_t k, rs_error *err)
{
    obj **dead = malloc((k ? k : 1) * sizeof *dead);
    if (!dead)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    size_t nd = 0;
    int rc = RS_OK;
    for (size_t i = 0; i < k; i++) {
        obj *o = (obj *)rs_registry_find(r, v[i].kind, v[i].project, v[i].name, v[i].ordinal);
        if (!o || o->mark) {
            rc = rs_error_set(err, RS_ENOTFOUND, "delete %s %s/%s: no such object", rs_kind_plan_name(v[i].kind),
                              v[i].project ? v[i].project : "", v[i].name ? v[i].name : "");
            break;
        }
        o->mark = true;
        dead[nd++] = o;
    }
    if (rc) {
        for (size_t i = 0; i < nd; i++)
            dead[i]->mark = false;
        free(dead);
        return rc;
    }
    for (size_t i = 0; i < nd; i++) {
        obj **s = table_slot(r, dead[i]->key, dead[i]->key_len, dead[i]->key_hash);
        if (s)
            *s = TOMB;
        rs_reg_bucket_remove(r, dead[i]);
    }
    for (size_t i = 0; i < nd; i++)
        dead[i]->mark = false;
    qsort(dead, nd, sizeof *dead, cmp_ptr);
    size_t u = 0; /* one pass over the pointers keeps the others in order */
    for (size_t i = 0; i < r->n; i++)
        if (!nd || !in_set(dead, nd, r->objs[i]))
            r->objs[u++] = r->objs[i];
    if (u != r->n)
        r->idx_dirty = true;
    r->n = u;
    for (size_t i = 0; i < nd; i++)
        obj_free(dead[i]);
    free(dead);
    return RS_OK;
}

int rs_registry_delete(rs_registry *r, uint32_t kind, const char *project, const char *name, uint32_t ordinal,
                       rs_error *err)
{
    const rs_object *old = rs_registry_find(r, kind, project, name, ordinal);
    if (!old)
        return rs_error_set(err, RS_ENOTFOUND, "delete %s %s/%s: no such object", rs_kind_plan_name(kind),
                            project ? project : "", name ? name : "");
    unlink_obj(r, (obj *)old);
    obj_free((obj *)old);
    return RS_OK;
}

/* A deep copy of one object (same key, hash and bytes). */
static obj *copy_obj(const obj *s)
{
    obj *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->pub = s->pub;
    o->owned = malloc(s->pub.len ? s->pub.len : 1);
    size_t pl = strlen(s->pub.project), nl = strlen(s->pub.name);
    o->strs = malloc(pl + nl + 2);
    o->key = malloc(s->key_len);
    if (!o->owned || !o->strs || !o->key) {
        obj_free(o);
        return NULL;
    }
    memcpy(o->owned, s->pub.data, s->pub.len);
    memcpy(o->strs, s->strs, pl + nl + 2);
    memcpy(o->key, s->key, s->key_len);
    o->key_len = s->key_len;
    o->key_hash = s->key_hash;
    o->pub.data = o->owned;
    o->pub.project = o->strs;
    o->pub.name = o->strs + pl + 1;
    return o;
}

static rs_registry *copy_where(const rs_registry *src, bool (*keep)(const char *project, void *ctx), void *ctx)
{
    rs_registry *r = rs_registry_new();
    if (!r)
        return NULL;
    for (size_t i = 0; i < src->n; i++) {
        const obj *s = src->objs[i];
        if (keep && s->pub.project[0] && !keep(s->pub.project, ctx))
            continue;
        obj *o = copy_obj(s);
        if (!o)
            goto fail;
        if (link_obj(r, o, r->n)) {
            obj_free(o);
            goto fail;
        }
    }
    return r;
fail:
    rs_registry_free(r);
    return NULL;
}

rs_registry *rs_registry_clone(const rs_registry *src) { return copy_where(src, NULL, NULL); }

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

const char **rs_registry_projects(const rs_registry *r, size_t *n)
{
    *n = 0;
    const char **v = malloc((r->n ? r->n : 1) * sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->objs[i]->pub.project[0])
            v[k++] = r->objs[i]->pub.project;
    if (k > 1)
        qsort(v, k, sizeof *v, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || strcmp(v[u - 1], v[i]) != 0)
            v[u++] = v[i];
    *n = u;
    return v;
}

int rs_registry_filter(const rs_registry *src, bool (*keep)(const char *project, void *ctx), void *ctx,
                       rs_registry **out, rs_error *err)
{
    *out = copy_where(src, keep, ctx);
    return *out ? RS_OK : rs_error_set(err, RS_ENOMEM, "out of memory");
}

typedef struct placed {
    uint32_t position;
    obj *o;
} placed;

static int cmp_placed(const void *a, const void *b)
{
    const placed *x = a, *y = b;
    return x->position < y->position ? -1 : x->position > y->position;
}

int rs_registry_set_positions(rs_registry *r, const rs_position *v, size_t k, rs_error *err)
{
    if (k == 0)
        return RS_OK;
    placed *pl = malloc(k * sizeof *pl);
    obj **moved = malloc(k * sizeof *moved);
    int rc = RS_OK;
    if (!pl || !moved) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < k; i++) {
        const rs_position *p = &v[i];
        obj *o = (obj *)rs_registry_find(r, p->kind, p->project, p->name, p->ordinal);
        if (!o) {
            rc = rs_error_set(err, RS_ECORRUPT, "position of %s %s/%s: no such object", rs_kind_plan_name(p->kind),
                              p->project ? p->project : "", p->name ? p->name : "");
            goto out;
        }
        if (p->position == 0 || p->position > r->n) {
            rc = rs_error_set(err, RS_ECORRUPT, "position %u of %s %s/%s is outside 1..%zu", p->position,
                              rs_kind_plan_name(p->kind), o->pub.project, o->pub.name, r->n);
            goto out;
        }
        pl[i] = (placed){p->position, o};
        moved[i] = o;
    }
    qsort(pl, k, sizeof *pl, cmp_placed);
    qsort(moved, k, sizeof *moved, cmp_ptr);
    for (size_t i = 1; i < k; i++)
        if (pl[i].position == pl[i - 1].position || moved[i] == moved[i - 1]) {
            rc = rs_error_set(err, RS_ECORRUPT, "positions: %s",
                              moved[i] == moved[i - 1] ? "an object is placed twice" : "two objects at the same position");
            goto out;
        }
    /* in place and touching only the array: the others close up in their order, then from the
     * end each place takes its placed object or the last of the others not yet placed */
    size_t kept = 0;
    for (size_t i = 0; i < r->n; i++)
        if (!in_set(moved, k, r->objs[i]))
            r->objs[kept++] = r->objs[i];
    size_t pi = k;
    for (size_t s = r->n; s-- > 0;) {
        if (pi > 0 && pl[pi - 1].position - 1 == s)
            r->objs[s] = pl[--pi].o;
        else
            r->objs[s] = r->objs[--kept];
    }
    r->idx_dirty = true;
out:
    free(pl);
    free(moved);
    return rc;
}
