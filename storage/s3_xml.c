/* s3_xml.c: the S3 backend's reading of S3's XML replies (ListObjectsV2 pages, error bodies).
 * S3's replies are flat and attribute-free where we look, so this is a small scanner, not an XML
 * parser. Split from s3.c so that the fuzz target reaches exactly the code the backend runs. */
#include "s3_xml_impl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_creds.h"

void rs_s3_set_etag(char dst[RS_ETAG_MAX], const char *v, size_t n)
{
    while (n && isspace((unsigned char)*v)) {
        v++;
        n--;
    }
    while (n && isspace((unsigned char)v[n - 1]))
        n--;
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    if (n >= RS_ETAG_MAX)
        n = RS_ETAG_MAX - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}


/* The next <tag>..</tag> in [p, end): inner text start and length, *next after it. NULL: none. */
static const char *xml_elem(const char *p, const char *end, const char *tag, size_t *inner_len, const char **next)
{
    size_t tl = strlen(tag);
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt || (size_t)(end - lt) < tl + 2)
            return NULL;
        if (strncmp(lt + 1, tag, tl) == 0) {
            const char *a = lt + 1 + tl;
            if (*a == '>' || *a == ' ' || *a == '/' || *a == '\t' || *a == '\r' || *a == '\n') {
                const char *gt = memchr(a, '>', (size_t)(end - a));
                if (!gt)
                    return NULL;
                if (gt[-1] == '/') { /* <tag/> */
                    *inner_len = 0;
                    *next = gt + 1;
                    return gt + 1;
                }
                const char *in = gt + 1;
                for (const char *s = in; s < end;) {
                    const char *c = memchr(s, '<', (size_t)(end - s));
                    if (!c || (size_t)(end - c) < tl + 3)
                        return NULL;
                    if (c[1] == '/' && strncmp(c + 2, tag, tl) == 0 && c[2 + tl] == '>') {
                        *inner_len = (size_t)(c - in);
                        *next = c + 3 + tl;
                        return in;
                    }
                    s = c + 1;
                }
                return NULL;
            }
        }
        p = lt + 1;
    }
    return NULL;
}

static void utf8_put(char **q, unsigned long cp)
{
    unsigned char *o = (unsigned char *)*q;
    if (cp < 0x80) {
        *o++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *o++ = (unsigned char)(0xC0 | (cp >> 6));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (unsigned char)(0xE0 | (cp >> 12));
        *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (unsigned char)(0xF0 | (cp >> 18));
        *o++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    *q = (char *)o;
}

/* Text content with the five XML entities and numeric references decoded. NULL when malformed. */
static char *xml_text(const char *s, size_t n)
{
    char *o = malloc(n + 1), *q = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n;) {
        if (s[i] != '&') {
            *q++ = s[i++];
            continue;
        }
        const char *semi = memchr(s + i, ';', n - i);
        if (!semi || semi - (s + i) > 12)
            goto bad;
        size_t el = (size_t)(semi - (s + i)) - 1; /* between & and ; */
        const char *e = s + i + 1;
        if (el == 3 && !strncmp(e, "amp", 3))
            *q++ = '&';
        else if (el == 2 && !strncmp(e, "lt", 2))
            *q++ = '<';
        else if (el == 2 && !strncmp(e, "gt", 2))
            *q++ = '>';
        else if (el == 4 && !strncmp(e, "quot", 4))
            *q++ = '"';
        else if (el == 4 && !strncmp(e, "apos", 4))
            *q++ = '\'';
        else if (el >= 2 && e[0] == '#') {
            char num[16];
            snprintf(num, sizeof num, "%.*s", (int)el - 1, e + 1);
            char *end;
            unsigned long cp = (num[0] == 'x' || num[0] == 'X') ? strtoul(num + 1, &end, 16) : strtoul(num, &end, 10);
            if (*end || end == num || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                goto bad;
            utf8_put(&q, cp);
        } else {
            goto bad;
        }
        i += el + 2;
    }
    *q = '\0';
    return o;
bad:
    free(o);
    return NULL;
}

static void xml_copy(const char *body, size_t len, const char *tag, char *dst, size_t dstn)
{
    size_t il;
    const char *nx, *in = xml_elem(body, body + len, tag, &il, &nx);
    dst[0] = '\0';
    if (!in)
        return;
    char *t = xml_text(in, il);
    if (t) {
        snprintf(dst, dstn, "%s", t);
        free(t);
    }
}


void rs_s3_xml_error_fields(const char *body, size_t len, char *code, size_t coden, char *message, size_t messagen,
                            char *request_id, size_t request_idn)
{
    xml_copy(body, len, "Code", code, coden);
    xml_copy(body, len, "Message", message, messagen);
    if (request_id)
        xml_copy(body, len, "RequestId", request_id, request_idn);
}

static int list_append(rs_list_entry **v, size_t *n, size_t *cap, rs_list_entry *e)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        rs_list_entry *nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return RS_ENOMEM;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = *e;
    return RS_OK;
}

int rs_s3_parse_list_page(const char *bucket, const char *prefix, const char *body, size_t blen, rs_list_entry **v,
                          size_t *n, size_t *cap, char **next_token, rs_error *err)
{
    const char *end = body + blen, *p = body, *nx;
    size_t il;
    *next_token = NULL;
    if (!xml_elem(body, end, "ListBucketResult", &il, &nx))
        return rs_error_set(err, RS_ECORRUPT, "s3 list s3://%s/%s: reply is not a ListBucketResult", bucket,
                            prefix);
    size_t root_len = strlen(prefix);
    const char *in;
    while ((in = xml_elem(p, end, "Contents", &il, &nx))) {
        const char *cend = in + il, *x;
        size_t xl;
        const char *kx = xml_elem(in, cend, "Key", &xl, &x);
        char *key = kx ? xml_text(kx, xl) : NULL;
        if (!key)
            return rs_error_set(err, RS_ECORRUPT, "s3 list s3://%s/%s: an entry without a readable Key", bucket,
                                prefix);
        if (strncmp(key, prefix, root_len) != 0 || !key[root_len]) {
            free(key); /* outside our root (or the root "directory" marker itself) */
            p = nx;
            continue;
        }
        rs_list_entry e = {0};
        e.key = strdup(key + root_len);
        free(key);
        if (!e.key)
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        const char *sx = xml_elem(in, cend, "Size", &xl, &x);
        if (sx) {
            char tmp[32];
            snprintf(tmp, sizeof tmp, "%.*s", (int)(xl < 31 ? xl : 31), sx);
            e.size = strtoull(tmp, NULL, 10);
        }
        const char *ex = xml_elem(in, cend, "ETag", &xl, &x);
        if (ex) {
            char *t = xml_text(ex, xl);
            if (t) {
                rs_s3_set_etag(e.etag, t, strlen(t));
                free(t);
            }
        }
        const char *mx = xml_elem(in, cend, "LastModified", &xl, &x);
        if (mx) {
            char tmp[64];
            snprintf(tmp, sizeof tmp, "%.*s", (int)(xl < 63 ? xl : 63), mx);
            if (rs_aws_parse_time(tmp, &e.mtime_ms) != 0)
                e.mtime_ms = 0;
        }
        if (list_append(v, n, cap, &e)) {
            free(e.key);
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        }
        p = nx;
    }
    const char *tx = xml_elem(body, end, "IsTruncated", &il, &nx);
    if (tx && il == 4 && !strncmp(tx, "true", 4)) {
        const char *ct = xml_elem(body, end, "NextContinuationToken", &il, &nx);
        char *tok = ct ? xml_text(ct, il) : NULL;
        if (!tok || !*tok) {
            free(tok);
            return rs_error_set(err, RS_ECORRUPT, "s3 list s3://%s/%s: truncated page without a continuation token",
                                bucket, prefix);
        }
        *next_token = tok;
    }
    return RS_OK;
}
