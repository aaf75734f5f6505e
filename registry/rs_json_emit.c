/* rs_json_emit.c: the conversion context (field path, errors) and its two sinks (jansson tree or
 * text), scalar emitters, and the well-known types (Timestamp, Duration, wrappers). See rs_json.h. */
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


void rsj_path_push(conv *c, const char *field)
{
    if (c->nf < sizeof c->f / sizeof c->f[0])
        c->f[c->nf] = (path_frame){field, SIZE_MAX, NULL};
    c->nf++;
}

path_frame *rsj_path_top(conv *c)
{
    size_t cap = sizeof c->f / sizeof c->f[0];
    return &c->f[c->nf == 0 ? 0 : c->nf <= cap ? c->nf - 1 : cap - 1];
}

void rsj_path_pop(conv *c) { c->nf--; }

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

int rsj_fail(conv *c, int code, const char *fmt, ...)
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

int rsj_oom(conv *c) { return rsj_fail(c, RS_ENOMEM, "out of memory"); }

/* ---- sink primitives. Each returns 0 or -1 (error recorded). ---- */

/* tree: attach a new value to the open container (or make it the root) */
static int tree_add(conv *c, json_t *v)
{
    if (!v)
        return rsj_oom(c);
    if (c->sp == 0) {
        c->tree_root = v;
        return 0;
    }
    json_t *p = c->tstack[c->sp - 1];
    int r = json_is_object(p) ? json_object_setn_new_nocheck(p, c->pkey, c->pkey_len, v)
                              : json_array_append_new(p, v);
    return r ? rsj_oom(c) : 0;
}

/* text: separator and indentation before a value (members of objects got theirs from rsj_e_key) */
static void text_before(conv *c)
{
    if (c->sp == 0 || c->is_obj[c->sp - 1])
        return;
    if (!c->first[c->sp - 1])
        rsj_out_put(c->text, ",", 1);
    c->first[c->sp - 1] = false;
    rsj_out_indent(c->text, c->base_level + (int)c->sp);
}

static int text_status(conv *c) { return c->text->err ? (c->text->err == RS_EIO ? rsj_fail(c, RS_EIO, "write failed") : rsj_oom(c)) : 0; }

int rsj_e_open(conv *c, bool obj)
{
    if (c->sp >= STACK_MAX)
        return rsj_fail(c, RS_ETOOBIG, "JSON nesting too deep");
    if (c->text) {
        text_before(c);
        rsj_out_put(c->text, obj ? "{" : "[", 1);
        c->first[c->sp] = true;
        c->is_obj[c->sp++] = obj;
        return text_status(c);
    }
    json_t *v = obj ? json_object() : json_array();
    if (!v)
        return rsj_oom(c);
    json_incref(v); /* keep it alive on the stack even if attaching fails */
    int r = tree_add(c, v);
    if (r == 0) {
        c->is_obj[c->sp] = obj;
        c->tstack[c->sp++] = v;
    }
    json_decref(v);
    return r;
}

int rsj_e_close(conv *c)
{
    c->sp--;
    if (c->text) {
        if (!c->first[c->sp])
            rsj_out_indent(c->text, c->base_level + (int)c->sp);
        rsj_out_put(c->text, c->is_obj[c->sp] ? "}" : "]", 1);
        return text_status(c);
    }
    return 0;
}

/* key of the next member of the open object; k must stay valid until its value is emitted */
void rsj_e_key(conv *c, const char *k, size_t n)
{
    if (c->text) {
        if (!c->first[c->sp - 1])
            rsj_out_put(c->text, ",", 1);
        c->first[c->sp - 1] = false;
        rsj_out_indent(c->text, c->base_level + (int)c->sp);
        rsj_out_string(c->text, k, n);
        rsj_out_put(c->text, ": ", 2);
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
        rsj_out_string(c->text, s, n);
        return text_status(c);
    }
    return tree_add(c, json_stringn_nocheck(s, n));
}

/* a string of plain printable ASCII (digits, base64, names): no escaping needed */
int rsj_e_plain(conv *c, const char *s, size_t n)
{
    if (c->text) {
        text_before(c);
        rsj_out_put(c->text, "\"", 1);
        rsj_out_put(c->text, s, n);
        rsj_out_put(c->text, "\"", 1);
        return text_status(c);
    }
    return tree_add(c, json_stringn_nocheck(s, n));
}

int rsj_e_int(conv *c, int64_t v)
{
    if (c->text) {
        char b[24];
        int n = snprintf(b, sizeof b, "%" PRId64, v);
        text_before(c);
        rsj_out_put(c->text, b, (size_t)n);
        return text_status(c);
    }
    return tree_add(c, json_integer((json_int_t)v));
}

int rsj_e_real(conv *c, double v)
{
    if (isnan(v))
        return rsj_e_plain(c, "NaN", 3);
    if (isinf(v))
        return v < 0 ? rsj_e_plain(c, "-Infinity", 9) : rsj_e_plain(c, "Infinity", 8);
    if (c->text) {
        char b[64];
        size_t n = rs_json_repr_double(v, b, sizeof b);
        text_before(c);
        rsj_out_put(c->text, b, n);
        return text_status(c);
    }
    return tree_add(c, json_real(v));
}

int rsj_e_bool(conv *c, bool v)
{
    if (c->text) {
        text_before(c);
        rsj_out_put(c->text, v ? "true" : "false", v ? 4 : 5);
        return text_status(c);
    }
    return tree_add(c, json_boolean(v));
}

/* ------------------------------------------------------------------------------------------ */
/* Scalars                                                                                    */

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF. */
bool rsj_utf8_valid(const unsigned char *s, size_t n)
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

int rsj_emit_string(conv *c, const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    if (!rsj_utf8_valid((const unsigned char *)s, n))
        return rsj_fail(c, RS_ECORRUPT, "string is not valid UTF-8");
    return e_str(c, s, n);
}

int rsj_emit_u64(conv *c, uint64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRIu64, v);
    return rsj_e_plain(c, b, (size_t)n);
}

int rsj_emit_i64(conv *c, int64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRId64, v);
    return rsj_e_plain(c, b, (size_t)n);
}

int rsj_emit_base64(conv *c, const uint8_t *p, size_t n)
{
    if (n > (SIZE_MAX / 4) * 3 - 3)
        return rsj_fail(c, RS_ETOOBIG, "bytes field too large for base64");
    size_t outlen = (n + 2) / 3 * 4;
    char small[256];
    char *out = outlen < sizeof small ? small : malloc(outlen + 1);
    if (!out)
        return rsj_oom(c);
    /* EVP_EncodeBlock takes an int length: feed it whole groups of 3 bytes in bounded chunks */
    const size_t chunk = (size_t)3 << 24;
    size_t o = 0;
    for (size_t i = 0; i < n; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, p + i, (int)k);
    }
    out[o] = '\0';
    int r = rsj_e_plain(c, out, o);
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

const void *rsj_field_ptr(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd)
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
        return *(const int64_t *)rsj_field_ptr(m, fd);
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return *(const int32_t *)rsj_field_ptr(m, fd);
    default:
        return 0;
    }
}

#define TS_MIN_SECONDS INT64_C(-62135596800) /* 0001-01-01T00:00:00Z */
#define TS_MAX_SECONDS INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define DUR_MAX_SECONDS INT64_C(315576000000)

int rsj_emit_timestamp(conv *c, const ProtobufCMessage *m)
{
    int64_t s = wkt_int(m, 1), nanos = wkt_int(m, 2);
    if (s < TS_MIN_SECONDS || s > TS_MAX_SECONDS)
        return rsj_fail(c, RS_ECORRUPT, "Timestamp seconds %" PRId64 " outside 0001-01-01..9999-12-31", s);
    if (nanos < 0 || nanos > 999999999)
        return rsj_fail(c, RS_ECORRUPT, "Timestamp nanos %" PRId64 " outside 0..999999999", nanos);
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
    return rsj_e_plain(c, out, (size_t)n);
}

int rsj_emit_duration(conv *c, const ProtobufCMessage *m)
{
    int64_t s = wkt_int(m, 1), nanos = wkt_int(m, 2);
    if (s < -DUR_MAX_SECONDS || s > DUR_MAX_SECONDS)
        return rsj_fail(c, RS_ECORRUPT, "Duration seconds %" PRId64 " outside +-315576000000", s);
    if (nanos <= -1000000000 || nanos >= 1000000000)
        return rsj_fail(c, RS_ECORRUPT, "Duration nanos %" PRId64 " outside +-999999999", nanos);
    if ((s > 0 && nanos < 0) || (s < 0 && nanos > 0))
        return rsj_fail(c, RS_ECORRUPT, "Duration seconds %" PRId64 " and nanos %" PRId64 " differ in sign", s,
                    nanos);
    bool neg = s < 0 || nanos < 0;
    char frac[16], out[64];
    frac_digits((int32_t)(nanos < 0 ? -nanos : nanos), frac, sizeof frac);
    int n = snprintf(out, sizeof out, "%s%" PRId64 "%ss", neg ? "-" : "", s < 0 ? -s : s, frac);
    return rsj_e_plain(c, out, (size_t)n);
}

bool rsj_is_wrapper(const char *name)
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
