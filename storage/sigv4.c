/* sigv4.c: AWS Signature Version 4, written from the AWS specification. See sigv4.h. */
#include "sigv4.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "rs_error.h"

void rs_sigv4_sha256_hex(const void *data, size_t len, char out[RS_SHA256_HEX_LEN + 1])
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256(data ? data : (const void *)"", len, md);
    rs_hex(md, sizeof md, out);
}

void rs_sigv4_amz_date(time_t t, char out[17], char date8[9])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
    if (date8) {
        memcpy(date8, out, 8);
        date8[8] = '\0';
    }
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

int rs_sigv4_uri_encode(const char *s, bool keep_slash, rs_buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    if (rs_buf_reserve(out, strlen(s) * 3 + 1))
        return RS_ENOMEM;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p) || (keep_slash && *p == '/')) {
            out->data[out->len++] = *p;
        } else {
            out->data[out->len++] = '%';
            out->data[out->len++] = (uint8_t)hex[*p >> 4];
            out->data[out->len++] = (uint8_t)hex[*p & 15];
        }
    }
    out->data[out->len] = '\0';
    return RS_OK;
}

typedef struct pair {
    char *a;
    char *b;
    size_t order; /* original position: keeps duplicate header names in the given order */
} pair;

static int cmp_query(const void *x, const void *y)
{
    const pair *p = x, *q = y;
    int c = strcmp(p->a, q->a);
    return c ? c : strcmp(p->b, q->b);
}

static int cmp_header(const void *x, const void *y)
{
    const pair *p = x, *q = y;
    int c = strcmp(p->a, q->a);
    if (c)
        return c;
    return p->order < q->order ? -1 : p->order > q->order;
}

static void free_pairs(pair *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].a);
        free(v[i].b);
    }
    free(v);
}

static char *encode_dup(const char *s)
{
    rs_buf b = {0};
    if (rs_sigv4_uri_encode(s ? s : "", false, &b)) {
        rs_buf_free(&b);
        return NULL;
    }
    return (char *)rs_buf_take(&b, &(size_t){0});
}

int rs_sigv4_canonical_query(const rs_sigv4_kv *query, size_t n, rs_buf *out)
{
    int rc = RS_OK;
    pair *v = n ? calloc(n, sizeof *v) : NULL;
    if (n && !v)
        return RS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i].a = encode_dup(query[i].name);
        v[i].b = encode_dup(query[i].value);
        if (!v[i].a || !v[i].b) {
            rc = RS_ENOMEM;
            goto done;
        }
    }
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_query);
    if (rs_buf_reserve(out, 1)) {
        rc = RS_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (rs_buf_printf(out, "%s%s=%s", i ? "&" : "", v[i].a, v[i].b)) {
            rc = RS_ENOMEM;
            goto done;
        }
    out->data[out->len] = '\0';
done:
    free_pairs(v, n);
    return rc;
}

/* Header value the SigV4 way: leading and trailing blanks removed, runs of blanks made one space. */
static char *canon_value(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    bool space = false;
    for (const char *p = s; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
            space = k > 0;
            continue;
        }
        if (space)
            o[k++] = ' ';
        space = false;
        o[k++] = *p;
    }
    o[k] = '\0';
    return o;
}

static bool token_char(unsigned char c)
{
    return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int rs_sigv4_canonical_request(const rs_sigv4_request *r, rs_buf *creq, rs_buf *signed_headers)
{
    if (!r || !r->method || !*r->method || !r->payload_hash)
        return RS_EINVALID;
    int rc = RS_OK;
    size_t nh = r->nheaders;
    pair *h = nh ? calloc(nh, sizeof *h) : NULL;
    if (nh && !h)
        return RS_ENOMEM;
    for (size_t i = 0; i < nh; i++) {
        const char *name = r->headers[i].name;
        if (!name || !*name) {
            rc = RS_EINVALID;
            goto done;
        }
        h[i].a = strdup(name);
        h[i].b = canon_value(r->headers[i].value ? r->headers[i].value : "");
        h[i].order = i;
        if (!h[i].a || !h[i].b) {
            rc = RS_ENOMEM;
            goto done;
        }
        for (char *p = h[i].a; *p; p++) {
            if (!token_char((unsigned char)*p)) {
                rc = RS_EINVALID;
                goto done;
            }
            *p = (char)tolower((unsigned char)*p);
        }
    }
    if (nh > 1)
        qsort(h, nh, sizeof *h, cmp_header);

    const char *path = r->path && *r->path ? r->path : "/";
    if ((rc = rs_buf_printf(creq, "%s\n", r->method)) || (rc = rs_sigv4_uri_encode(path, true, creq)) ||
        (rc = rs_buf_putc(creq, '\n')) || (rc = rs_sigv4_canonical_query(r->query, r->nquery, creq)) ||
        (rc = rs_buf_putc(creq, '\n')))
        goto done;
    /* canonical headers: one line per distinct name, duplicate values joined with ',' */
    for (size_t i = 0; i < nh; i++) {
        if (i > 0 && strcmp(h[i].a, h[i - 1].a) == 0) {
            if ((rc = rs_buf_printf(creq, ",%s", h[i].b)))
                goto done;
            continue;
        }
        if ((i > 0 && (rc = rs_buf_putc(creq, '\n'))) || (rc = rs_buf_printf(creq, "%s:%s", h[i].a, h[i].b)))
            goto done;
    }
    if (nh && (rc = rs_buf_putc(creq, '\n')))
        goto done;
    if ((rc = rs_buf_putc(creq, '\n')))
        goto done;
    size_t sh_start = creq->len;
    for (size_t i = 0; i < nh; i++) {
        if (i > 0 && strcmp(h[i].a, h[i - 1].a) == 0)
            continue;
        if ((rc = rs_buf_printf(creq, "%s%s", i ? ";" : "", h[i].a)))
            goto done;
    }
    size_t sh_end = creq->len;
    if ((rc = rs_buf_printf(creq, "\n%s", r->payload_hash)))
        goto done;
    if (signed_headers) {
        if ((rc = rs_buf_append(signed_headers, creq->data + sh_start, sh_end - sh_start)) ||
            (rc = rs_buf_cstr(signed_headers)))
            goto done;
    }
done:
    free_pairs(h, nh);
    return rc;
}

int rs_sigv4_scope(const char *date8, const char *region, const char *service, rs_buf *out)
{
    return rs_buf_printf(out, "%.8s/%s/%s/aws4_request", date8, region, service);
}

int rs_sigv4_string_to_sign(const char *amz_date, const char *scope, const char *creq, size_t creq_len,
                            rs_buf *out)
{
    char h[RS_SHA256_HEX_LEN + 1];
    rs_sigv4_sha256_hex(creq, creq_len, h);
    return rs_buf_printf(out, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, h);
}

static void hmac(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
    unsigned int olen = 32;
    HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &olen);
}

void rs_sigv4_signing_key(const char *secret, const char *date8, const char *region, const char *service,
                          uint8_t key[32])
{
    size_t sl = strlen(secret);
    char *k0 = malloc(sl + 5);
    uint8_t a[32], b[32];
    if (!k0) { /* cannot sign without memory: produce a key that will simply fail verification */
        memset(key, 0, 32);
        return;
    }
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, sl + 1);
    hmac(k0, sl + 4, date8, 8, a);
    OPENSSL_cleanse(k0, sl + 4);
    free(k0);
    hmac(a, 32, region, strlen(region), b);
    hmac(b, 32, service, strlen(service), a);
    hmac(a, 32, "aws4_request", 12, key);
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(b, sizeof b);
}

void rs_sigv4_signature(const uint8_t key[32], const char *sts, size_t sts_len, char out[RS_SHA256_HEX_LEN + 1])
{
    uint8_t sig[32];
    hmac(key, 32, sts, sts_len, sig);
    rs_hex(sig, sizeof sig, out);
}

int rs_sigv4_sign(const rs_sigv4_request *r, const rs_sigv4_key *k, const char *amz_date, rs_buf *authorization,
                  rs_buf *creq_out, rs_buf *sts_out)
{
    if (!k || !k->access_key_id || !k->secret_access_key || !k->region || !k->service || !amz_date ||
        strlen(amz_date) != 16)
        return RS_EINVALID;
    rs_buf creq = {0}, sh = {0}, scope = {0}, sts = {0};
    char date8[9], sig[RS_SHA256_HEX_LEN + 1];
    uint8_t key[32];
    memcpy(date8, amz_date, 8);
    date8[8] = '\0';
    int rc;
    if ((rc = rs_sigv4_canonical_request(r, &creq, &sh)) || (rc = rs_sigv4_scope(date8, k->region, k->service, &scope)) ||
        (rc = rs_sigv4_string_to_sign(amz_date, (const char *)scope.data, (const char *)creq.data, creq.len, &sts)))
        goto done;
    rs_sigv4_signing_key(k->secret_access_key, date8, k->region, k->service, key);
    rs_sigv4_signature(key, (const char *)sts.data, sts.len, sig);
    OPENSSL_cleanse(key, sizeof key);
    if ((rc = rs_buf_printf(authorization, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                            k->access_key_id, (const char *)scope.data, (const char *)sh.data, sig)))
        goto done;
    if (creq_out && ((rc = rs_buf_append(creq_out, creq.data, creq.len)) || (rc = rs_buf_cstr(creq_out))))
        goto done;
    if (sts_out && ((rc = rs_buf_append(sts_out, sts.data, sts.len)) || (rc = rs_buf_cstr(sts_out))))
        goto done;
done:
    rs_buf_free(&creq);
    rs_buf_free(&sh);
    rs_buf_free(&scope);
    rs_buf_free(&sts);
    return rc;
}
