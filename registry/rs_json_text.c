/* rs_json_text.c: text in Python's json.dumps(indent=2, sort_keys=True, ensure_ascii=True) form:
 * the output buffer, string escaping, float repr, JSON field names, and the dumper for any jansson
 * value. See rs_json.h. */
#include "rs_json.h"
#include "rs_time.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rs_buf.h"
#include "rs_json_impl.h"


void rsj_out_flush(jout *o)
{
    if (o->f && o->b->len > 0) {
        if (fwrite(o->b->data, 1, o->b->len, o->f) != o->b->len && !o->err)
            o->err = RS_EIO;
        o->b->len = 0;
    }
}

void rsj_out_put(jout *o, const char *s, size_t n)
{
    if (o->err)
        return;
    if (rs_buf_append(o->b, s, n) != RS_OK) {
        o->err = RS_ENOMEM;
        return;
    }
    if (o->f && o->b->len >= 65536)
        rsj_out_flush(o);
}

void rsj_out_indent(jout *o, int level)
{
    static const char sp[] = "\n                                                                ";
    size_t n = (size_t)level * 2;
    size_t k = n < sizeof sp - 2 ? n : sizeof sp - 2;
    rsj_out_put(o, sp, k + 1);
    n -= k;
    while (n > 0) {
        k = n < sizeof sp - 2 ? n : sizeof sp - 2;
        rsj_out_put(o, sp + 1, k);
        n -= k;
    }
}

/* Python's ensure_ascii escaping: printable ASCII as is except " and \, the usual short escapes,
 * everything else (controls, DEL, non-ASCII) as \u with lower-case hex, surrogate pairs above
 * the BMP. s is valid UTF-8 (checked by the caller or by jansson). */
void rsj_out_string(jout *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    rsj_out_put(o, "\"", 1);
    size_t run = 0, i = 0;
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
            i++;
            continue;
        }
        rsj_out_put(o, s + run, i - run);
        char esc[16];
        size_t el = 2, adv = 1;
        esc[0] = '\\';
        switch (ch) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default: {
            uint32_t cp = ch;
            if (ch >= 0x80) {
                size_t k = ch >= 0xf0 ? 3 : ch >= 0xe0 ? 2 : 1;
                cp = ch & (0x3f >> k);
                for (size_t j = 1; j <= k && i + j < n; j++, adv++)
                    cp = (cp << 6) | ((unsigned char)s[i + j] & 0x3f);
            }
            uint32_t units[2];
            int nu = 0;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                units[nu++] = 0xd800 | (cp >> 10);
                units[nu++] = 0xdc00 | (cp & 0x3ff);
            } else {
                units[nu++] = cp;
            }
            el = 0;
            for (int u = 0; u < nu; u++) {
                esc[el++] = '\\';
                esc[el++] = 'u';
                for (int sh = 12; sh >= 0; sh -= 4)
                    esc[el++] = hex[(units[u] >> sh) & 0xf];
            }
        }
        }
        rsj_out_put(o, esc, el);
        i += adv;
        run = i;
    }
    rsj_out_put(o, s + run, n - run);
    rsj_out_put(o, "\"", 1);
}

size_t rs_json_repr_double(double v, char *out, size_t n)
{
    if (isnan(v))
        return (size_t)snprintf(out, n, "NaN");
    if (isinf(v))
        return (size_t)snprintf(out, n, "%s", v < 0 ? "-Infinity" : "Infinity");
    /* the shortest correctly rounded digit string that reads back as v */
    char e[48];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    const char *s = e;
    bool neg = *s == '-';
    if (neg)
        s++;
    char dig[24];
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && nd < (int)sizeof dig - 1)
            dig[nd++] = *s;
    int ex = *s == 'e' ? atoi(s + 1) : 0;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    char b[64];
    size_t k = 0;
#define PUT(ch) (k < sizeof b - 8 ? (void)(b[k++] = (char)(ch)) : (void)0)
    if (neg)
        PUT('-');
    if (ex < -4 || ex >= 16) { /* where Python's repr switches to exponent form */
        PUT(dig[0]);
        if (nd > 1) {
            PUT('.');
            for (int i = 1; i < nd; i++)
                PUT(dig[i]);
        }
        k += (size_t)snprintf(b + k, sizeof b - k, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
    } else if (ex >= 0) {
        for (int i = 0; i <= ex; i++)
            PUT(i < nd ? dig[i] : '0');
        PUT('.');
        if (nd > ex + 1)
            for (int i = ex + 1; i < nd; i++)
                PUT(dig[i]);
        else
            PUT('0');
    } else {
        PUT('0');
        PUT('.');
        for (int i = 0; i < -ex - 1; i++)
            PUT('0');
        for (int i = 0; i < nd; i++)
            PUT(dig[i]);
    }
#undef PUT
    b[k] = '\0';
    return (size_t)snprintf(out, n, "%s", b);
}

double rs_json_shortest_float(float f)
{
    double orig = (double)f;
    if (!isfinite(orig))
        return orig;
    char b[48];
    for (int p = 6; p <= 17; p++) {
        snprintf(b, sizeof b, "%.*g", p, orig);
        double r = strtod(b, NULL);
        if ((float)r == f)
            return r;
    }
    return orig;
}

size_t rs_json_name(const char *proto_name, char *out, size_t n)
{
    size_t k = 0;
    bool cap = false;
    for (const char *s = proto_name; *s; s++) {
        char ch = *s;
        if (ch == '_') {
            cap = true;
            continue;
        }
        if (cap && ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        cap = false;
        if (k + 1 < n)
            out[k] = ch;
        k++;
    }
    if (n > 0)
        out[k < n ? k : n - 1] = '\0';
    return k;
}

/* ------------------------------------------------------------------------------------------ */
/* Dumper for any jansson value                                                               */

typedef struct {
    const char *k;
    size_t n;
    json_t *v;
} kv;

static int kv_cmp(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int r = memcmp(x->k, y->k, n);
    return r ? r : (x->n > y->n) - (x->n < y->n);
}

void rsj_out_value(jout *o, const json_t *j, int level)
{
    if (o->err)
        return;
    if (level > 4096) {
        o->err = RS_EINVALID;
        return;
    }
    char b[64];
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(j);
        if (n == 0) {
            rsj_out_put(o, "{}", 2);
            return;
        }
        kv *items = malloc(n * sizeof *items);
        if (!items) {
            o->err = RS_ENOMEM;
            return;
        }
        size_t k = 0;
        const char *key;
        size_t key_len;
        json_t *v;
        json_object_keylen_foreach((json_t *)j, key, key_len, v)
        {
            if (k < n)
                items[k++] = (kv){key, key_len, v};
        }
        qsort(items, k, sizeof *items, kv_cmp);
        rsj_out_put(o, "{", 1);
        for (size_t i = 0; i < k; i++) {
            rsj_out_indent(o, level + 1);
            rsj_out_string(o, items[i].k, items[i].n);
            rsj_out_put(o, ": ", 2);
            rsj_out_value(o, items[i].v, level + 1);
            if (i + 1 < k)
                rsj_out_put(o, ",", 1);
        }
        free(items);
        rsj_out_indent(o, level);
        rsj_out_put(o, "}", 1);
        return;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        if (n == 0) {
            rsj_out_put(o, "[]", 2);
            return;
        }
        rsj_out_put(o, "[", 1);
        for (size_t i = 0; i < n; i++) {
            rsj_out_indent(o, level + 1);
            rsj_out_value(o, json_array_get(j, i), level + 1);
            if (i + 1 < n)
                rsj_out_put(o, ",", 1);
        }
        rsj_out_indent(o, level);
        rsj_out_put(o, "]", 1);
        return;
    }
    case JSON_STRING:
        rsj_out_string(o, json_string_value(j), json_string_length(j));
        return;
    case JSON_INTEGER: {
        int len = snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        rsj_out_put(o, b, (size_t)len);
        return;
    }
    case JSON_REAL: {
        size_t len = rs_json_repr_double(json_real_value(j), b, sizeof b);
        rsj_out_put(o, b, len);
        return;
    }
    case JSON_TRUE:
        rsj_out_put(o, "true", 4);
        return;
    case JSON_FALSE:
        rsj_out_put(o, "false", 5);
        return;
    case JSON_NULL:
        rsj_out_put(o, "null", 4);
        return;
    }
}

int rs_json_dump_file(const json_t *j, FILE *f)
{
    if (!j || !f)
        return RS_EINVALID;
    jout o = {.f = f};
    o.b = &o.own;
    rsj_out_value(&o, j, 0);
    rsj_out_flush(&o);
    rs_buf_free(&o.own);
    if (!o.err && ferror(f))
        o.err = RS_EIO;
    return o.err;
}

char *rs_json_dumps(const json_t *j, size_t *len)
{
    if (!j)
        return NULL;
    jout o = {0};
    o.b = &o.own;
    rsj_out_value(&o, j, 0);
    if (!o.err && rs_buf_cstr(&o.own) != RS_OK)
        o.err = RS_ENOMEM;
    if (o.err) {
        rs_buf_free(&o.own);
        return NULL;
    }
    size_t n;
    char *s = (char *)rs_buf_take(&o.own, &n);
    if (len)
        *len = n;
    return s;
}

int rs_json_append_value(const json_t *j, int level, rs_buf *out)
{
    if (!j || !out)
        return RS_EINVALID;
    size_t keep = out->len;
    jout o = {.b = out};
    rsj_out_value(&o, j, level > 0 ? level : 0);
    if (o.err)
        out->len = keep;
    return o.err;
}

json_t *rs_json_time_ms(int64_t ms)
{
    if (!ms)
        return json_null();
    char t[48];
    rs_time_rfc3339_ms(ms, t, sizeof t);
    return json_string(t);
}
