/* rs_digest.c: the registry digest from per-object hashes over 1024 key-hash buckets, and the
 * sub-digests. Definition: docs/digest.md. */
#include "rs_bench_support.h"
#include "rs_registry_impl.h"
#include "rs_index_impl.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t ZERO[RS_DIGEST_LEN];

int rs_reg_key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t m = al < bl ? al : bl;
    int r = memcmp(a, b, m);
    if (r)
        return r;
    return al < bl ? -1 : (al > bl);
}

static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md; /* fetched once, never freed (process lifetime); NULL: fetch failed */

static void sha256_fetch(void) { sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); }

void rs_sha256(const void *p, size_t n, uint8_t *out)
{
    pthread_once(&sha256_once, sha256_fetch);
    if (!sha256_md || !EVP_Digest(n ? p : (const void *)"", n, out, NULL, sha256_md, NULL))
        SHA256(n ? p : (const void *)"", n, out); /* same digest, the slower way */
}

/* ---------------------------------------------------------------- buckets */

int rs_reg_bucket_add(rs_registry *r, obj *o)
{
    bucket *b = &r->buckets[o->key_hash % NBUCKETS];
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 4;
        obj **nv = realloc(b->v, nc * sizeof *nv);
        if (!nv)
            return RS_ENOMEM;
        b->v = nv;
        b->cap = nc;
    }
    o->bucket_slot = (uint32_t)b->n;
    b->v[b->n++] = o;
    if (!b->dirty) {
        b->dirty = true;
        r->dirty_buckets++;
    }
    r->content_dirty = true;
    return RS_OK;
}

void rs_reg_bucket_remove(rs_registry *r, obj *o)
{
    bucket *b = &r->buckets[o->key_hash % NBUCKETS];
    uint32_t s = o->bucket_slot;
    b->v[s] = b->v[--b->n];
    b->v[s]->bucket_slot = s;
    if (!b->dirty) {
        b->dirty = true;
        r->dirty_buckets++;
    }
    r->content_dirty = true;
}

int rs_reg_cmp_obj_key(const void *a, const void *b)
{
    const obj *x = *(obj *const *)a, *y = *(obj *const *)b;
    return rs_reg_key_cmp(x->key, x->key_len, y->key, y->key_len);
}


/* SHA-256 over label and the (key, hash) entries of the given objects, sorted by key. */
static void digest_entries(obj **v, size_t n, const char *label, uint8_t out[RS_DIGEST_LEN])
{
    if (n > 1)
        qsort(v, n, sizeof *v, rs_reg_cmp_obj_key);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, label, strlen(label) + 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t l[4];
        rs_be32(l, (uint32_t)v[i]->key_len);
        EVP_DigestUpdate(c, l, 4);
        EVP_DigestUpdate(c, v[i]->key, v[i]->key_len);
        EVP_DigestUpdate(c, v[i]->pub.hash, RS_DIGEST_LEN);
    }
    unsigned int ol = 0;
    EVP_DigestFinal_ex(c, out, &ol);
    EVP_MD_CTX_free(c);
}

/* Recomputes dirty buckets and the content root. Logically const: a cache. */
static void refresh(const rs_registry *cr)
{
    rs_registry *r = (rs_registry *)cr;
    if (!r->content_dirty && !r->dirty_buckets)
        return;
    for (size_t i = 0; i < NBUCKETS && r->dirty_buckets; i++) {
        bucket *b = &r->buckets[i];
        if (!b->dirty)
            continue;
        b->dirty = false;
        r->dirty_buckets--;
        size_t m = 0;
        /* registry-level kinds are not part of the content */
        for (size_t j = 0; j < b->n; j++)
            if (!rs_kind_is_registry_level(b->v[j]->pub.kind))
                m++;
        if (m == 0) {
            memcpy(b->digest, ZERO, RS_DIGEST_LEN);
            continue;
        }
        obj *stackv[64];
        obj **v = m <= 64 ? stackv : malloc(m * sizeof *v);
        if (!v) { /* cannot happen in practice; leave dirty so a later call retries */
            b->dirty = true;
            r->dirty_buckets++;
            continue;
        }
        size_t k = 0;
        for (size_t j = 0; j < b->n; j++)
            if (!rs_kind_is_registry_level(b->v[j]->pub.kind))
                v[k++] = b->v[j];
        digest_entries(v, k, "regsync-bucket-v1", b->digest);
        if (v != stackv)
            free(v);
    }
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    static const char label[] = "regsync-content-v1";
    EVP_DigestUpdate(c, label, sizeof label);
    for (size_t i = 0; i < NBUCKETS; i++)
        EVP_DigestUpdate(c, r->buckets[i].digest, RS_DIGEST_LEN);
    unsigned int ol = 0;
    EVP_DigestFinal_ex(c, r->content_root, &ol);
    EVP_MD_CTX_free(c);
    r->content_dirty = false;
}

void rs_registry_content_digest(const rs_registry *r, uint8_t out[RS_DIGEST_LEN])
{
    refresh(r);
    memcpy(out, r->content_root, RS_DIGEST_LEN);
}

void rs_registry_digest(const rs_registry *r, uint8_t out[RS_DIGEST_LEN])
{
    refresh(r);
    obj *v[8];
    size_t n = 0;
    for (uint32_t kind = 3; kind <= 5; kind++) {
        for (uint32_t ord = 0; n < 8; ord++) {
            const rs_object *o = rs_registry_find(r, kind, "", "", ord);
            if (!o)
                break;
            v[n++] = (obj *)o;
        }
    }
    uint8_t reg[RS_DIGEST_LEN];
    digest_entries(v, n, "regsync-registry-level-v1", reg);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    static const char label[] = "regsync-digest-v1";
    EVP_DigestUpdate(c, label, sizeof label);
    EVP_DigestUpdate(c, r->content_root, RS_DIGEST_LEN);
    EVP_DigestUpdate(c, reg, RS_DIGEST_LEN);
    unsigned int ol = 0;
    EVP_DigestFinal_ex(c, out, &ol);
    EVP_MD_CTX_free(c);
}

static void subset_digest(const rs_registry *r, bool (*want)(const obj *, const void *), const void *arg,
                          const char *label, uint8_t out[RS_DIGEST_LEN])
{
    obj **v = malloc((r->n ? r->n : 1) * sizeof *v);
    size_t k = 0;
    if (v)
        for (size_t i = 0; i < r->n; i++)
            if (want(r->objs[i], arg))
                v[k++] = r->objs[i];
    digest_entries(v, k, label, out);
    free(v);
}

static bool want_kind(const obj *o, const void *arg) { return o->pub.kind == *(const uint32_t *)arg; }
static bool want_project(const obj *o, const void *arg) { return strcmp(o->pub.project, (const char *)arg) == 0; }

void rs_registry_kind_digest(const rs_registry *r, uint32_t kind, uint8_t out[RS_DIGEST_LEN])
{
    subset_digest(r, want_kind, &kind, "regsync-kind-v1", out);
}

void rs_registry_project_digest(const rs_registry *r, const char *project, uint8_t out[RS_DIGEST_LEN])
{
    subset_digest(r, want_project, project, "regsync-project-v1", out);
}

/* ---------------------------------------------------------------- bench */


void rs_registry_full_rehash(rs_registry *r, uint8_t out[RS_DIGEST_LEN])
{
    rs_buf c = {0};
    for (size_t i = 0; i < r->n; i++) {
        obj *o = r->objs[i];
        rs_buf_reset(&c);
        if (rs_obj_canon(o->pub.kind, o->pub.data, o->pub.len, NULL, "", 0, 0, &c, NULL) == RS_OK)
            rs_sha256(c.data, c.len, o->pub.hash);
    }
    rs_buf_free(&c);
    for (size_t i = 0; i < NBUCKETS; i++) {
        if (!r->buckets[i].dirty) {
            r->buckets[i].dirty = true;
            r->dirty_buckets++;
        }
    }
    r->content_dirty = true;
    rs_registry_digest(r, out);
}

void rs_reg_buckets_free(rs_registry *r)
{
    for (size_t i = 0; i < NBUCKETS; i++)
        free(r->buckets[i].v);
}
