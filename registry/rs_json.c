/* rs_json.c: proto3 JSON from protobuf-c descriptors, and a Python-compatible JSON dumper.
 * See rs_json.h for the mapping.
 *
 * One walker visits a message through its descriptor only (offsets, labels, types), so it works
 * for any protobuf-c message, Feast's or regsync's. It emits values to one of two sinks: a jansson
 * tree (rs_json_from_message) or text written directly in the final form (rs_json_write_message).
 * The walker always emits object members in sorted key order with duplicate map keys resolved, so
 * the text sink needs no tree and the two paths print the same bytes (the tests check this). */
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

/* ------------------------------------------------------------------------------------------ */
/* Text output: Python json.dumps(indent=2, sort_keys=True, ensure_ascii=True) conventions.    */

typedef struct {
    rs_buf *b;  /* where text goes (own, or the caller's) */
    rs_buf own;
    FILE *f;    /* when set, b is flushed to f every 64 KiB */
    int err;
} jout;

static void out_flush(jout *o)
{
    if (o->f && o->b->len > 0) {
        if (fwrite(o->b->data, 1, o->b->len, o->f) != o->b->len && !o->err)
            o->err = RS_EIO;
        o->b->len = 0;
    }
}

static void out_put(jout *o, const char *s, size_t n)
{
    if (o->err)
        return;
    if (rs_buf_append(o->b, s, n) != RS_OK) {
        o->err = RS_ENOMEM;
        return;
    }
    if (o->f && o->b->len >= 65536)
        out_flush(o);
}

static void out_indent(jout *o, int level)
{
    static const char sp[] = "\n                                                                ";
    size_t n = (size_t)level * 2;
    size_t k = n < sizeof sp - 2 ? n : sizeof sp - 2;
    out_put(o, sp, k + 1);
    n -= k;
    while (n > 0) {
        k = n < sizeof sp - 2 ? n : sizeof sp - 2;
        out_put(o, sp + 1, k);
        n -= k;
    }
}

/* Python's ensure_ascii escaping: printable ASCII as is except " and \, the usual short escapes,
 * everything else (controls, DEL, non-ASCII) as \u with lower-case hex, surrogate pairs above
 * the BMP. s is valid UTF-8 (checked by the caller or by jansson). */
static void out_string(jout *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    out_put(o, "\"", 1);
    size_t run = 0, i = 0;
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
            i++;
            continue;
        }
        out_put(o, s + run, i - run);
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
        out_put(o, esc, el);
        i += adv;
        run = i;
    }
    out_put(o, s + run, n - run);
    out_put(o, "\"", 1);
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
/* Per-descriptor facts, computed once per conversion: JSON names, sorted field order, maps.   */

typedef struct {
    const ProtobufCMessageDescriptor *d;
    unsigned *order;    /* field indices sorted by JSON name */
    char **names;       /* JSON name per field index */
    size_t *name_len;
    bool *is_map;
} dinfo;

typedef struct {
    dinfo **slot;
    size_t cap, count;
} dcache;

/* ------------------------------------------------------------------------------------------ */
/* Conversion context: flags, error sink, field path, and the output sink.                    */

typedef struct {
    const char *field; /* proto field name */
    size_t idx;        /* element index, or SIZE_MAX */
    const char *key;   /* map key, or NULL */
} path_frame;

#define STACK_MAX (2 * RS_JSON_MAX_DEPTH + 16)

typedef struct {
    unsigned flags;
    rs_error *err;
    const ProtobufCMessageDescriptor *root;
    int depth;
    size_t nf;
    path_frame f[RS_JSON_MAX_DEPTH + 4];
    dcache cache;
    /* sink: a jansson tree (text == NULL) or text */
    jout *text;
    int base_level;
    json_t *tree_root;
    json_t *tstack[STACK_MAX];
    bool first[STACK_MAX]; /* text: no member written yet */
    bool is_obj[STACK_MAX];
    size_t sp;
    const char *pkey; /* pending key (tree sink) */
    size_t pkey_len;
} conv;

static void path_push(conv *c, const char *field)
{
    if (c->nf < sizeof c->f / sizeof c->f[0])
        c->f[c->nf] = (path_frame){field, SIZE_MAX, NULL};
    c->nf++;
}

static path_frame *path_top(conv *c)
{
    size_t cap = sizeof c->f / sizeof c->f[0];
    return &c->f[c->nf == 0 ? 0 : c->nf <= cap ? c->nf - 1 : cap - 1];
}

static void path_pop(conv *c) { c->nf--; }

/* Appends s to out (size n, used *len); with sanitize, bytes outside printable ASCII as \xNN
 * (map keys may be arbitrary bytes when they are the reason for the error). */
static void path_put(char *out, size_t n, size_t *len, const char *s, bool sanitize)
{
    for (; *s && *len + 5 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if (sanitize && (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\'))
            *len += (size_t)snprintf(out + *len, n - *len, "\\x%02x", ch);
        else
            out[(*len)++] = (char)ch;
    }
    out[*len] = '\0';
}

static void path_format(const conv *c, char *out, size_t n)
{
    size_t len = 0, cap = sizeof c->f / sizeof c->f[0];
    out[0] = '\0';
    for (size_t i = 0; i < c->nf && i < cap; i++) {
        const path_frame *p = &c->f[i];
        if (i > 0)
            path_put(out, n, &len, ".", false);
        path_put(out, n, &len, p->field ? p->field : "?", false);
        if (p->key) {
            path_put(out, n, &len, "[\"", false);
            path_put(out, n, &len, p->key, true);
            path_put(out, n, &len, "\"]", false);
        } else if (p->idx != SIZE_MAX) {
            char b[32];
            snprintf(b, sizeof b, "[%zu]", p->idx);
            path_put(out, n, &len, b, false);
        }
    }
    if (c->nf > cap)
        path_put(out, n, &len, "...", false);
}

static int fail(conv *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(conv *c, int code, const char *fmt, ...)
{
    if (c->err->code != RS_OK)
        return -1; /* keep the first (innermost) error */
    char what[200], path[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    path_format(c, path, sizeof path);
    rs_error_set(c->err, code, "%s%s%s: %s", c->root ? c->root->name : "message", path[0] ? ": " : "",
                 path, what);
    return -1;
}

static int oom(conv *c) { return fail(c, RS_ENOMEM, "out of memory"); }

/* ---- sink primitives. Each returns 0 or -1 (error recorded). ---- */

/* tree: attach a new value to the open container (or make it the root) */
static int tree_add(conv *c, json_t *v)
{
    if (!v)
        return oom(c);
    if (c->sp == 0) {
        c->tree_root = v;
        return 0;
    }
    json_t *p = c->tstack[c->sp - 1];
    int r = json_is_object(p) ? json_object_setn_new_nocheck(p, c->pkey, c->pkey_len, v)
                              : json_array_append_new(p, v);
    return r ? oom(c) : 0;
}

/* text: separator and indentation before a value (members of objects got theirs from e_key) */
static void text_before(conv *c)
{
    if (c->sp == 0 || c->is_obj[c->sp - 1])
        return;
    if (!c->first[c->sp - 1])
        out_put(c->text, ",", 1);
    c->first[c->sp - 1] = false;
    out_indent(c->text, c->base_level + (int)c->sp);
}

static int text_status(conv *c) { return c->text->err ? (c->text->err == RS_EIO ? fail(c, RS_EIO, "write failed") : oom(c)) : 0; }

static int e_open(conv *c, bool obj)
{
    if (c->sp >= STACK_MAX)
        return fail(c, RS_ETOOBIG, "JSON nesting too deep");
    if (c->text) {
        text_before(c);
        out_put(c->text, obj ? "{" : "[", 1);
        c->first[c->sp] = true;
        c->is_obj[c->sp++] = obj;
        return text_status(c);
    }
    json_t *v = obj ? json_object() : json_array();
    if (!v)
        return oom(c);
    json_incref(v); /* keep it alive on the stack even if attaching fails */
    int r = tree_add(c, v);
    if (r == 0) {
        c->is_obj[c->sp] = obj;
        c->tstack[c->sp++] = v;
    }
    json_decref(v);
    return r;
}

static int e_close(conv *c)
{
    c->sp--;
    if (c->text) {
        if (!c->first[c->sp])
            out_indent(c->text, c->base_level + (int)c->sp);
        out_put(c->text, c->is_obj[c->sp] ? "}" : "]", 1);
        return text_status(c);
    }
    return 0;
}

/* key of the next member of the open object; k must stay valid until its value is emitted */
static void e_key(conv *c, const char *k, size_t n)
{
    if (c->text) {
        if (!c->first[c->sp - 1])
            out_put(c->text, ",", 1);
        c->first[c->sp - 1] = false;
        out_indent(c->text, c->base_level + (int)c->sp);
        out_string(c->text, k, n);
        out_put(c->text, ": ", 2);
    } else {
        c->pkey = k;
        c->pkey_len = n;
    }
}

/* a string known to be valid UTF-8 */
static int e_str(conv *c, const char *s, size_t n)
{
    if (c->text) {
        text_before(c);
        out_string(c->text, s, n);
        return text_status(c);
    }
    return tree_add(c, json_stringn_nocheck(s, n));
}

/* a string of plain printable ASCII (digits, base64, names): no escaping needed */
static int e_plain(conv *c, const char *s, size_t n)
{
    if (c->text) {
        text_before(c);
        out_put(c->text, "\"", 1);
        out_put(c->text, s, n);
        out_put(c->text, "\"", 1);
        return text_status(c);
    }
    return tree_add(c, json_stringn_nocheck(s, n));
}

static int e_int(conv *c, int64_t v)
{
    if (c->text) {
        char b[24];
        int n = snprintf(b, sizeof b, "%" PRId64, v);
        text_before(c);
        out_put(c->text, b, (size_t)n);
        return text_status(c);
    }
    return tree_add(c, json_integer((json_int_t)v));
}

static int e_real(conv *c, double v)
{
    if (isnan(v))
        return e_plain(c, "NaN", 3);
    if (isinf(v))
        return v < 0 ? e_plain(c, "-Infinity", 9) : e_plain(c, "Infinity", 8);
    if (c->text) {
        char b[64];
        size_t n = rs_json_repr_double(v, b, sizeof b);
        text_before(c);
        out_put(c->text, b, n);
        return text_status(c);
    }
    return tree_add(c, json_real(v));
}

static int e_bool(conv *c, bool v)
{
    if (c->text) {
        text_before(c);
        out_put(c->text, v ? "true" : "false", v ? 4 : 5);
        return text_status(c);
    }
    return tree_add(c, json_boolean(v));
}

/* ------------------------------------------------------------------------------------------ */
/* Scalars                                                                                    */

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if ((b & 0xe0) == 0xc0) {
            k = 1, cp = b & 0x1f, min = 0x80;
        } else if ((b & 0xf0) == 0xe0) {
            k = 2, cp = b & 0x0f, min = 0x800;
        } else if ((b & 0xf8) == 0xf0) {
            k = 3, cp = b & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

static int emit_string(conv *c, const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    if (!utf8_valid((const unsigned char *)s, n))
        return fail(c, RS_ECORRUPT, "string is not valid UTF-8");
    return e_str(c, s, n);
}

static int emit_u64(conv *c, uint64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRIu64, v);
    return e_plain(c, b, (size_t)n);
}

static int emit_i64(conv *c, int64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRId64, v);
    return e_plain(c, b, (size_t)n);
}

static int emit_base64(conv *c, const uint8_t *p, size_t n)
{
    if (n > (SIZE_MAX / 4) * 3 - 3)
        return fail(c, RS_ETOOBIG, "bytes field too large for base64");
    size_t outlen = (n + 2) / 3 * 4;
    char small[256];
    char *out = outlen < sizeof small ? small : malloc(outlen + 1);
    if (!out)
        return oom(c);
    /* EVP_EncodeBlock takes an int length: feed it whole groups of 3 bytes in bounded chunks */
    const size_t chunk = (size_t)3 << 24;
    size_t o = 0;
    for (size_t i = 0; i < n; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, p + i, (int)k);
    }
    out[o] = '\0';
    int r = e_plain(c, out, o);
    if (out != small)
        free(out);
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Well-known types                                                                           */

/* Days since 1970-01-01 to a proleptic Gregorian date (civil calendar arithmetic on 400-year
 * eras; valid over the whole Timestamp range). */
static void civil_from_days(int64_t days, int64_t *y, unsigned *mo, unsigned *d)
{
    days += 719468; /* shift the epoch to 0000-03-01 */
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);                       /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    unsigned mp = (5 * doy + 2) / 153;                                    /* March = 0 */
    *d = doy - (153 * mp + 2) / 5 + 1;
    *mo = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*mo <= 2);
}

/* ".123", ".123456", ".123456789" or "" for nanos in [0, 1e9) */
static void frac_digits(int32_t nanos, char *out, size_t n)
{
    if (nanos == 0)
        out[0] = '\0';
    else if (nanos % 1000000 == 0)
        snprintf(out, n, ".%03d", (int)(nanos / 1000000));
    else if (nanos % 1000 == 0)
        snprintf(out, n, ".%06d", (int)(nanos / 1000));
    else
        snprintf(out, n, ".%09d", (int)nanos);
}

static const void *field_ptr(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd)
{
    return (const char *)m + fd->offset;
}

/* An integer field of a well-known type by number (0 when the descriptor lacks it). */
static int64_t wkt_int(const ProtobufCMessage *m, unsigned id)
{
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(m->descriptor, id);
    if (!fd || fd->label == PROTOBUF_C_LABEL_REPEATED)
        return 0;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return *(const int64_t *)field_ptr(m, fd);
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return *(const int32_t *)field_ptr(m, fd);
    default:
        return 0;
    }
}

#define TS_MIN_SECONDS INT64_C(-62135596800) /* 0001-01-01T00:00:00Z */
#define TS_MAX_SECONDS INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define DUR_MAX_SECONDS INT64_C(315576000000)

static int emit_timestamp(conv *c, const ProtobufCMessage *m)
{
    int64_t s = wkt_int(m, 1), nanos = wkt_int(m, 2);
    if (s < TS_MIN_SECONDS || s > TS_MAX_SECONDS)
        return fail(c, RS_ECORRUPT, "Timestamp seconds %" PRId64 " outside 0001-01-01..9999-12-31", s);
    if (nanos < 0 || nanos > 999999999)
        return fail(c, RS_ECORRUPT, "Timestamp nanos %" PRId64 " outside 0..999999999", nanos);
    int64_t days = s / 86400, rem = s % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    char frac[16], out[64];
    frac_digits((int32_t)nanos, frac, sizeof frac);
    int n = snprintf(out, sizeof out, "%04d-%02u-%02uT%02d:%02d:%02d%sZ", (int)y, mo, d, (int)(rem / 3600),
                     (int)(rem / 60 % 60), (int)(rem % 60), frac);
    return e_plain(c, out, (size_t)n);
}

static int emit_duration(conv *c, const ProtobufCMessage *m)
{
    int64_t s = wkt_int(m, 1), nanos = wkt_int(m, 2);
    if (s < -DUR_MAX_SECONDS || s > DUR_MAX_SECONDS)
        return fail(c, RS_ECORRUPT, "Duration seconds %" PRId64 " outside +-315576000000", s);
    if (nanos <= -1000000000 || nanos >= 1000000000)
        return fail(c, RS_ECORRUPT, "Duration nanos %" PRId64 " outside +-999999999", nanos);
    if ((s > 0 && nanos < 0) || (s < 0 && nanos > 0))
        return fail(c, RS_ECORRUPT, "Duration seconds %" PRId64 " and nanos %" PRId64 " differ in sign", s,
                    nanos);
    bool neg = s < 0 || nanos < 0;
    char frac[16], out[64];
    frac_digits((int32_t)(nanos < 0 ? -nanos : nanos), frac, sizeof frac);
    int n = snprintf(out, sizeof out, "%s%" PRId64 "%ss", neg ? "-" : "", s < 0 ? -s : s, frac);
    return e_plain(c, out, (size_t)n);
}

static bool is_wrapper(const char *name)
{
    static const char *const w[] = {
        "DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value",
        "UInt32Value", "BoolValue",  "StringValue", "BytesValue",
    };
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        if (strcmp(name, w[i]) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Descriptor facts                                                                           */

/* protoc's map entry convention: a repeated message field "foo_bar" whose type is the nested
 * message "<Parent>.FooBarEntry" with exactly key = 1 and value = 2. */
static bool is_map_field(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *fd)
{
    if (fd->label != PROTOBUF_C_LABEL_REPEATED || fd->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessageDescriptor *e = fd->descriptor;
    if (!e || e->n_fields != 2 || e->fields[0].id != 1 || e->fields[1].id != 2 ||
        strcmp(e->fields[0].name, "key") != 0 || strcmp(e->fields[1].name, "value") != 0 ||
        e->fields[0].label == PROTOBUF_C_LABEL_REPEATED || e->fields[1].label == PROTOBUF_C_LABEL_REPEATED ||
        e->fields[0].type == PROTOBUF_C_TYPE_MESSAGE || e->fields[0].type == PROTOBUF_C_TYPE_BYTES ||
        e->fields[0].type == PROTOBUF_C_TYPE_FLOAT || e->fields[0].type == PROTOBUF_C_TYPE_DOUBLE ||
        e->fields[0].type == PROTOBUF_C_TYPE_ENUM)
        return false;
    char want[256];
    size_t k = 0;
    bool cap = true;
    for (const char *s = fd->name; *s && k + 6 < sizeof want; s++) {
        if (*s == '_') {
            cap = true;
        } else {
            want[k++] = cap && *s >= 'a' && *s <= 'z' ? (char)(*s - 'a' + 'A') : *s;
            cap = false;
        }
    }
    memcpy(want + k, "Entry", 6);
    if (strcmp(e->short_name, want) != 0)
        return false;
    size_t pl = strlen(parent->name);
    return strncmp(e->name, parent->name, pl) == 0 && e->name[pl] == '.' && strcmp(e->name + pl + 1, want) == 0;
}

static void dinfo_free(dinfo *di)
{
    if (!di)
        return;
    if (di->names)
        for (unsigned i = 0; i < di->d->n_fields; i++)
            free(di->names[i]);
    free(di->names);
    free(di->name_len);
    free(di->order);
    free(di->is_map);
    free(di);
}

static int by_json_name(const void *a, const void *b, void *arg)
{
    const dinfo *di = arg;
    return strcmp(di->names[*(const unsigned *)a], di->names[*(const unsigned *)b]);
}

static dinfo *dinfo_build(const ProtobufCMessageDescriptor *d)
{
    unsigned n = d->n_fields;
    dinfo *di = calloc(1, sizeof *di);
    if (!di)
        return NULL;
    di->d = d;
    di->order = calloc(n + 1, sizeof *di->order);
    di->names = calloc(n + 1, sizeof *di->names);
    di->name_len = calloc(n + 1, sizeof *di->name_len);
    di->is_map = calloc(n + 1, sizeof *di->is_map);
    if (!di->order || !di->names || !di->name_len || !di->is_map)
        goto fail;
    for (unsigned i = 0; i < n; i++) {
        size_t len = rs_json_name(d->fields[i].name, NULL, 0);
        di->names[i] = malloc(len + 1);
        if (!di->names[i])
            goto fail;
        rs_json_name(d->fields[i].name, di->names[i], len + 1);
        di->name_len[i] = len;
        di->order[i] = i;
        di->is_map[i] = is_map_field(d, &d->fields[i]);
    }
    qsort_r(di->order, n, sizeof *di->order, by_json_name, di);
    return di;
fail:
    dinfo_free(di);
    return NULL;
}

static const dinfo *dinfo_get(conv *c, const ProtobufCMessageDescriptor *d)
{
    dcache *dc = &c->cache;
    if (dc->count * 2 >= dc->cap) {
        size_t ncap = dc->cap ? dc->cap * 2 : 64;
        dinfo **ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return NULL;
        for (size_t i = 0; i < dc->cap; i++) {
            dinfo *di = dc->slot[i];
            if (!di)
                continue;
            size_t h = ((uintptr_t)di->d >> 4) * 0x9e3779b97f4a7c15u & (ncap - 1);
            while (ns[h])
                h = (h + 1) & (ncap - 1);
            ns[h] = di;
        }
        free(dc->slot);
        dc->slot = ns;
        dc->cap = ncap;
    }
    size_t h = ((uintptr_t)d >> 4) * 0x9e3779b97f4a7c15u & (dc->cap - 1);
    while (dc->slot[h]) {
        if (dc->slot[h]->d == d)
            return dc->slot[h];
        h = (h + 1) & (dc->cap - 1);
    }
    dinfo *di = dinfo_build(d);
    if (!di)
        return NULL;
    dc->slot[h] = di;
    dc->count++;
    return di;
}

static void dcache_free(dcache *dc)
{
    for (size_t i = 0; i < dc->cap; i++)
        dinfo_free(dc->slot[i]);
    free(dc->slot);
}

/* ------------------------------------------------------------------------------------------ */
/* The walker                                                                                 */

static int emit_message(conv *c, const ProtobufCMessage *m);

static size_t elt_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 4;
    }
}

/* One value of field fd stored at p (not presence-filtered). */
static int emit_value(conv *c, const ProtobufCFieldDescriptor *fd, const void *p)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return e_int(c, *(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return e_int(c, *(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return emit_i64(c, *(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return emit_u64(c, *(const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return e_real(c, rs_json_shortest_float(*(const float *)p));
    case PROTOBUF_C_TYPE_DOUBLE:
        return e_real(c, *(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return e_bool(c, *(const protobuf_c_boolean *)p != 0);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = fd->descriptor ? protobuf_c_enum_descriptor_get_value(fd->descriptor, v) : NULL;
        return ev ? e_plain(c, ev->name, strlen(ev->name)) : e_int(c, v);
    }
    case PROTOBUF_C_TYPE_STRING:
        return emit_string(c, *(const char *const *)p);
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return emit_base64(c, b->data, b->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)p;
        if (sub)
            return emit_message(c, sub);
        /* absent but required here (a map value): the default instance, as Python prints it */
        const ProtobufCMessageDescriptor *d = fd->descriptor;
        if (!d || d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
            return fail(c, RS_EINVALID, "field has no message descriptor");
        ProtobufCMessage *tmp = calloc(1, d->sizeof_message);
        if (!tmp)
            return oom(c);
        if (d->message_init)
            d->message_init(tmp);
        else
            tmp->descriptor = d;
        int r = emit_message(c, tmp);
        free(tmp);
        return r;
    }
    }
    return fail(c, RS_EINVALID, "unsupported field type %d", (int)fd->type);
}

/* Is the value at p different from the proto3 default (implicit presence)? Floats compare by
 * bits, so -0.0 counts as set, as C++ and upb list it. */
static bool nondefault(const ProtobufCFieldDescriptor *fd, const void *p)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)p != 0;
    case PROTOBUF_C_TYPE_DOUBLE: {
        uint64_t u;
        memcpy(&u, p, sizeof u);
        return u != 0;
    }
    case PROTOBUF_C_TYPE_FLOAT: {
        uint32_t u;
        memcpy(&u, p, sizeof u);
        return u != 0;
    }
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)p != 0;
    case PROTOBUF_C_TYPE_ENUM:
        return *(const int *)p != 0;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        return s && *s;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len > 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(const void *const *)p != NULL;
    default:
        return *(const uint32_t *)p != 0;
    }
}

/* Whether a singular field is present, mirroring what protobuf-c would pack. */
static bool present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd)
{
    const void *p = field_ptr(m, fd);
    bool ptr_type = fd->type == PROTOBUF_C_TYPE_STRING || fd->type == PROTOBUF_C_TYPE_MESSAGE;
    if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t which = *(const uint32_t *)((const char *)m + fd->quantifier_offset);
        if (which != fd->id)
            return false;
        return !ptr_type || *(const void *const *)p != NULL;
    }
    switch (fd->label) {
    case PROTOBUF_C_LABEL_REQUIRED:
        return !ptr_type || *(const void *const *)p != NULL;
    case PROTOBUF_C_LABEL_OPTIONAL:
        if (ptr_type) {
            const void *v = *(const void *const *)p;
            return v != NULL && v != fd->default_value;
        }
        return *(const protobuf_c_boolean *)((const char *)m + fd->quantifier_offset) != 0;
    default: /* PROTOBUF_C_LABEL_NONE: proto3 implicit presence */
        return nondefault(fd, p);
    }
}

/* A map or unknown-field key: text in s (borrowed) or, when s is NULL, in buf. Sorting moves
 * these structs, so never point s at buf. */
typedef struct {
    const char *s;
    size_t n;
    size_t idx;
    char buf[24];
} mkey;

static const char *mkey_text(const mkey *k) { return k->s ? k->s : k->buf; }

static bool mkey_same(const mkey *x, const mkey *y)
{
    return x->n == y->n && memcmp(mkey_text(x), mkey_text(y), x->n) == 0;
}

/* by key bytes (= code point order for UTF-8, as Python sorts), then by position */
static int mkey_cmp(const void *a, const void *b)
{
    const mkey *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int r = memcmp(mkey_text(x), mkey_text(y), n);
    if (!r)
        r = (x->n > y->n) - (x->n < y->n);
    return r ? r : (x->idx > y->idx) - (x->idx < y->idx);
}

/* A map as an object: keys as strings, sorted; for a repeated key the last entry wins. */
static int emit_map(conv *c, const ProtobufCFieldDescriptor *fd, size_t n, const ProtobufCMessage *const *entries)
{
    const ProtobufCMessageDescriptor *e = fd->descriptor;
    const ProtobufCFieldDescriptor *kf = &e->fields[0], *vf = &e->fields[1];
    mkey *keys = malloc(n * sizeof *keys);
    if (!keys)
        return oom(c);
    size_t nk = 0;
    int r = 0;
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessage *en = entries[i];
        if (!en)
            continue;
        mkey *k = &keys[nk++];
        const void *kp = field_ptr(en, kf);
        k->idx = i;
        k->s = NULL;
        switch (kf->type) {
        case PROTOBUF_C_TYPE_STRING:
            k->s = *(const char *const *)kp ? *(const char *const *)kp : "";
            k->n = strlen(k->s);
            if (!utf8_valid((const unsigned char *)k->s, k->n)) {
                path_top(c)->idx = i;
                path_top(c)->key = k->s;
                r = fail(c, RS_ECORRUPT, "map key is not valid UTF-8");
                goto out;
            }
            continue;
        case PROTOBUF_C_TYPE_BOOL:
            k->s = *(const protobuf_c_boolean *)kp ? "true" : "false";
            k->n = strlen(k->s);
            continue;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
            k->n = (size_t)snprintf(k->buf, sizeof k->buf, "%" PRId64, *(const int64_t *)kp);
            continue;
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
            k->n = (size_t)snprintf(k->buf, sizeof k->buf, "%" PRIu64, *(const uint64_t *)kp);
            continue;
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
            k->n = (size_t)snprintf(k->buf, sizeof k->buf, "%" PRIu32, *(const uint32_t *)kp);
            continue;
        default:
            k->n = (size_t)snprintf(k->buf, sizeof k->buf, "%" PRId32, *(const int32_t *)kp);
            continue;
        }
    }
    qsort(keys, nk, sizeof *keys, mkey_cmp);
    if ((r = e_open(c, true)) != 0)
        goto out;
    for (size_t i = 0; i < nk; i++) {
        if (i + 1 < nk && mkey_same(&keys[i + 1], &keys[i]))
            continue; /* a later entry has the same key */
        const mkey *k = &keys[i];
        path_top(c)->idx = k->idx;
        path_top(c)->key = mkey_text(k);
        e_key(c, mkey_text(k), k->n);
        if ((r = emit_value(c, vf, field_ptr(entries[k->idx], vf))) != 0)
            goto out;
    }
    path_top(c)->key = NULL;
    path_top(c)->idx = SIZE_MAX;
    r = e_close(c);
out:
    free(keys);
    return r;
}

static uint64_t read_varint(const uint8_t *p, size_t n, size_t *used)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < n && i < 10; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            i++;
            break;
        }
    }
    *used = i;
    return v;
}

static uint64_t read_le(const uint8_t *p, size_t n, size_t width)
{
    uint64_t v = 0;
    for (size_t i = 0; i < width && i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* protobuf-c keeps each unknown field as tag, wire type and the raw value bytes; for a
 * length-delimited field those bytes begin with the length varint. */
static int emit_unknown_value(conv *c, const ProtobufCMessageUnknownField *u)
{
    size_t used;
    switch (u->wire_type) {
    case PROTOBUF_C_WIRE_TYPE_VARINT:
        return emit_u64(c, read_varint(u->data, u->len, &used));
    case PROTOBUF_C_WIRE_TYPE_64BIT:
        return emit_u64(c, read_le(u->data, u->len, 8));
    case PROTOBUF_C_WIRE_TYPE_32BIT:
        return e_int(c, (int64_t)read_le(u->data, u->len, 4));
    case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED: {
        uint64_t plen = read_varint(u->data, u->len, &used);
        if (used > 0 && used <= u->len && plen == u->len - used)
            return emit_base64(c, u->data + used, (size_t)plen);
        return emit_base64(c, u->data, u->len); /* not prefixed after all: the bytes as they are */
    }
    default:
        return emit_base64(c, u->data, u->len);
    }
}

/* Unknown fields as "<number>": [values in wire order], numbers sorted as strings. JSON names
 * start with a letter, so these keys sort before every known field's. */
static int emit_unknown(conv *c, const ProtobufCMessage *m)
{
    unsigned n = m->n_unknown_fields;
    mkey *keys = malloc(n * sizeof *keys);
    if (!keys)
        return oom(c);
    for (unsigned i = 0; i < n; i++) {
        keys[i].idx = i;
        keys[i].s = NULL;
        keys[i].n = (size_t)snprintf(keys[i].buf, sizeof keys[i].buf, "%" PRIu32, m->unknown_fields[i].tag);
    }
    qsort(keys, n, sizeof *keys, mkey_cmp);
    int r = 0;
    for (unsigned i = 0; i < n && r == 0; i++) {
        const char *key = mkey_text(&keys[i]);
        path_push(c, key);
        if (i == 0 || !mkey_same(&keys[i], &keys[i - 1])) {
            e_key(c, key, keys[i].n);
            r = e_open(c, false);
        }
        if (r == 0)
            r = emit_unknown_value(c, &m->unknown_fields[keys[i].idx]);
        if (r == 0 && (i + 1 == n || !mkey_same(&keys[i + 1], &keys[i])))
            r = e_close(c);
        path_pop(c);
    }
    free(keys);
    return r;
}

static int emit_fields(conv *c, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const dinfo *di = dinfo_get(c, d);
    if (!di)
        return oom(c);
    int r = e_open(c, true);
    if (r)
        return r;
    if ((c->flags & RS_JSON_UNKNOWN) && m->n_unknown_fields > 0 && (r = emit_unknown(c, m)) != 0)
        return r;
    for (unsigned oi = 0; oi < d->n_fields; oi++) {
        unsigned i = di->order[oi];
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + fd->quantifier_offset);
            const char *arr = *(const char *const *)field_ptr(m, fd);
            if (n == 0 || !arr)
                continue;
            path_push(c, fd->name);
            e_key(c, di->names[i], di->name_len[i]);
            if (di->is_map[i]) {
                r = emit_map(c, fd, n, (const ProtobufCMessage *const *)arr);
            } else if ((r = e_open(c, false)) == 0) {
                size_t es = elt_size(fd->type);
                for (size_t k = 0; k < n && r == 0; k++) {
                    path_top(c)->idx = k;
                    r = emit_value(c, fd, arr + k * es);
                }
                if (r == 0)
                    r = e_close(c);
            }
            path_pop(c);
        } else {
            if (!present(m, fd))
                continue;
            path_push(c, fd->name);
            e_key(c, di->names[i], di->name_len[i]);
            r = emit_value(c, fd, field_ptr(m, fd));
            path_pop(c);
        }
        if (r)
            return r;
    }
    return e_close(c);
}

static int emit_message(conv *c, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (!d || d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
        return fail(c, RS_EINVALID, "not a protobuf-c message (bad descriptor)");
    if (c->depth >= RS_JSON_MAX_DEPTH)
        return fail(c, RS_ETOOBIG, "messages nested deeper than %d", RS_JSON_MAX_DEPTH);
    c->depth++;
    int r;
    if (strncmp(d->name, "google.protobuf.", 16) == 0 && strcmp(d->name + 16, "Timestamp") == 0)
        r = emit_timestamp(c, m);
    else if (strncmp(d->name, "google.protobuf.", 16) == 0 && strcmp(d->name + 16, "Duration") == 0)
        r = emit_duration(c, m);
    else if (strncmp(d->name, "google.protobuf.", 16) == 0 && is_wrapper(d->name + 16) && d->n_fields == 1 &&
             d->fields[0].id == 1)
        r = emit_value(c, &d->fields[0], field_ptr(m, &d->fields[0]));
    else
        r = emit_fields(c, m);
    c->depth--;
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Public conversion API                                                                      */

static conv *conv_new(const ProtobufCMessage *m, unsigned flags, rs_error *err, rs_error *local)
{
    if (!m || !m->descriptor || m->descriptor->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC) {
        rs_error_set(err, RS_EINVALID, "rs_json: not a protobuf-c message");
        return NULL;
    }
    conv *c = calloc(1, sizeof *c);
    if (!c) {
        rs_error_set(err, RS_ENOMEM, "%s: out of memory", m->descriptor->name);
        return NULL;
    }
    c->flags = flags;
    c->err = err ? err : local;
    rs_error_clear(c->err);
    c->root = m->descriptor;
    return c;
}

static void conv_free(conv *c)
{
    if (!c)
        return;
    dcache_free(&c->cache);
    free(c);
}

json_t *rs_json_from_message(const ProtobufCMessage *m, unsigned flags, rs_error *err)
{
    rs_error local;
    conv *c = conv_new(m, flags, err, &local);
    if (!c)
        return NULL;
    json_t *j = NULL;
    if (emit_message(c, m) == 0)
        j = c->tree_root;
    else
        json_decref(c->tree_root);
    conv_free(c);
    return j;
}

json_t *rs_json_from_bytes(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, unsigned flags,
                           rs_error *err)
{
    static const uint8_t empty[1];
    if (!d || d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC || (!p && n > 0)) {
        rs_error_set(err, RS_EINVALID, "rs_json_from_bytes: bad descriptor or buffer");
        return NULL;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, n, p ? p : empty);
    if (!m) {
        rs_error_set(err, RS_ECORRUPT, "%zu bytes do not parse as %s", n, d->name);
        return NULL;
    }
    json_t *j = rs_json_from_message(m, flags, err);
    protobuf_c_message_free_unpacked(m, NULL);
    return j;
}

static int write_message(const ProtobufCMessage *m, unsigned flags, int level, jout *o, rs_error *err)
{
    rs_error local;
    conv *c = conv_new(m, flags, err, &local);
    if (!c)
        return err ? err->code : RS_EINVALID;
    c->text = o;
    c->base_level = level > 0 ? level : 0;
    int r = emit_message(c, m) == 0 ? RS_OK : c->err->code;
    if (r == RS_OK && o->err) {
        fail(c, o->err, "%s", o->err == RS_EIO ? "write failed" : "out of memory");
        r = c->err->code;
    }
    conv_free(c);
    return r;
}

int rs_json_write_message(const ProtobufCMessage *m, unsigned flags, int level, FILE *f, rs_error *err)
{
    if (!f)
        return rs_error_set(err, RS_EINVALID, "rs_json_write_message: no file");
    jout o = {.f = f};
    o.b = &o.own;
    int r = write_message(m, flags, level, &o, err);
    out_flush(&o);
    rs_buf_free(&o.own);
    if (r == RS_OK && (o.err || ferror(f)))
        r = rs_error_set(err, RS_EIO, "%s: write failed", m->descriptor->name);
    return r;
}

int rs_json_append_message(const ProtobufCMessage *m, unsigned flags, int level, rs_buf *out, rs_error *err)
{
    if (!out)
        return rs_error_set(err, RS_EINVALID, "rs_json_append_message: no buffer");
    size_t keep = out->len;
    jout o = {.b = out};
    int r = write_message(m, flags, level, &o, err);
    if (r != RS_OK)
        out->len = keep;
    return r;
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

static void out_value(jout *o, const json_t *j, int level)
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
            out_put(o, "{}", 2);
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
        out_put(o, "{", 1);
        for (size_t i = 0; i < k; i++) {
            out_indent(o, level + 1);
            out_string(o, items[i].k, items[i].n);
            out_put(o, ": ", 2);
            out_value(o, items[i].v, level + 1);
            if (i + 1 < k)
                out_put(o, ",", 1);
        }
        free(items);
        out_indent(o, level);
        out_put(o, "}", 1);
        return;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        if (n == 0) {
            out_put(o, "[]", 2);
            return;
        }
        out_put(o, "[", 1);
        for (size_t i = 0; i < n; i++) {
            out_indent(o, level + 1);
            out_value(o, json_array_get(j, i), level + 1);
            if (i + 1 < n)
                out_put(o, ",", 1);
        }
        out_indent(o, level);
        out_put(o, "]", 1);
        return;
    }
    case JSON_STRING:
        out_string(o, json_string_value(j), json_string_length(j));
        return;
    case JSON_INTEGER: {
        int len = snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        out_put(o, b, (size_t)len);
        return;
    }
    case JSON_REAL: {
        size_t len = rs_json_repr_double(json_real_value(j), b, sizeof b);
        out_put(o, b, len);
        return;
    }
    case JSON_TRUE:
        out_put(o, "true", 4);
        return;
    case JSON_FALSE:
        out_put(o, "false", 5);
        return;
    case JSON_NULL:
        out_put(o, "null", 4);
        return;
    }
}

int rs_json_dump_file(const json_t *j, FILE *f)
{
    if (!j || !f)
        return RS_EINVALID;
    jout o = {.f = f};
    o.b = &o.own;
    out_value(&o, j, 0);
    out_flush(&o);
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
    out_value(&o, j, 0);
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

/* ------------------------------------------------------------------------------------------ */
/* A reusable writer: one 64 KiB buffer and one descriptor cache for many messages.           */

struct rs_json_writer {
    jout o;
    conv c;
    unsigned flags;
};

rs_json_writer *rs_json_writer_new(FILE *f, unsigned flags)
{
    if (!f)
        return NULL;
    rs_json_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->o.f = f;
    w->o.b = &w->o.own;
    w->flags = flags;
    return w;
}

int rs_json_writer_message(rs_json_writer *w, const ProtobufCMessage *m, int level, rs_error *err)
{
    rs_error local;
    if (!w || !m || !m->descriptor || m->descriptor->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
        return rs_error_set(err, RS_EINVALID, "rs_json_writer_message: not a protobuf-c message");
    conv *c = &w->c;
    dcache keep = c->cache; /* the descriptor cache outlives each message */
    memset(c, 0, sizeof *c);
    c->cache = keep;
    c->flags = w->flags;
    c->err = err ? err : &local;
    rs_error_clear(c->err);
    c->root = m->descriptor;
    c->text = &w->o;
    c->base_level = level > 0 ? level : 0;
    int r = emit_message(c, m) == 0 ? RS_OK : c->err->code;
    if (r == RS_OK && w->o.err) {
        fail(c, w->o.err, "%s", w->o.err == RS_EIO ? "write failed" : "out of memory");
        r = c->err->code;
    }
    return r;
}

int rs_json_writer_value(rs_json_writer *w, const json_t *j, int level)
{
    if (!w || !j)
        return RS_EINVALID;
    out_value(&w->o, j, level > 0 ? level : 0);
    return w->o.err;
}

void rs_json_writer_raw(rs_json_writer *w, const char *s, size_t n)
{
    if (w)
        out_put(&w->o, s, n);
}

void rs_json_writer_indent(rs_json_writer *w, int level)
{
    if (w)
        out_indent(&w->o, level > 0 ? level : 0);
}

void rs_json_writer_string(rs_json_writer *w, const char *s, size_t n)
{
    if (w)
        out_string(&w->o, s, n);
}

int rs_json_writer_finish(rs_json_writer *w)
{
    if (!w)
        return RS_EINVALID;
    out_flush(&w->o);
    int r = w->o.err;
    if (!r && (fflush(w->o.f) != 0 || ferror(w->o.f)))
        r = RS_EIO;
    rs_buf_free(&w->o.own);
    dcache_free(&w->c.cache);
    free(w);
    return r;
}

int rs_json_append_value(const json_t *j, int level, rs_buf *out)
{
    if (!j || !out)
        return RS_EINVALID;
    size_t keep = out->len;
    jout o = {.b = out};
    out_value(&o, j, level > 0 ? level : 0);
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
