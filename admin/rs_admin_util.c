/* rs_admin_util.c: parsing and formatting helpers of the admin API (no libevent state). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <jansson.h>

#include "rs_admin_impl.h"

const char *const rs_admin_route_names[RT_COUNT] = {
    [RT_HEALTHZ] = "/healthz",         [RT_READYZ] = "/readyz",         [RT_METRICS] = "/metrics",
    [RT_PAGE] = "/",                   [RT_STATUS] = "/v1/status",      [RT_VERSIONS] = "/v1/versions",
    [RT_VERSION] = "/v1/versions/{n}", [RT_DIFF] = "/v1/diff",          [RT_REGISTRY] = "/v1/registry",
    [RT_DRIFT] = "/v1/drift",          [RT_WAIT] = "/v1/wait",          [RT_SYNC] = "/v1/sync",
    [RT_PAUSE] = "/v1/pause",          [RT_RESUME] = "/v1/resume",      [RT_PIN] = "/v1/pin",
    [RT_UNPIN] = "/v1/unpin",          [RT_ROLLBACK] = "/v1/rollback",  [RT_PUBLISH] = "/v1/publish",
    [RT_PROMOTE] = "/v1/promote",
    [RT_OTHER] = "other",
};

const int rs_admin_counted_codes[RS_ADMIN_NCODES] = {200, 400, 401, 403, 404, 405, 408, 409,
                                                     413, 421, 500, 501, 503, 0, 0, 0};

int rs_admin_code_index(int status)
{
    for (int i = 0; i < RS_ADMIN_NCODES; i++)
        if (rs_admin_counted_codes[i] == status && status != 0)
            return i;
    return RS_ADMIN_NCODES;
}

int rs_admin_http_status(int code)
{
    switch (code) {
    case RS_OK: return 200;
    case RS_ENOTFOUND: return 404;
    case RS_EINVALID: return 400;
    case RS_ECONFLICT: return 409;
    case RS_EUNAVAILABLE:
    case RS_EIO:
    case RS_ETIMEOUT: return 503;
    case RS_EUNSUPPORTED: return 501;
    default: return 500;
    }
}

const char *rs_admin_code_name(int status)
{
    switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 408: return "timeout";
    case 409: return "conflict";
    case 413: return "payload_too_large";
    case 421: return "misdirected_request";
    case 501: return "not_implemented";
    case 503: return "unavailable";
    default: return status >= 500 ? "internal" : "error";
    }
}

const char *rs_admin_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 421: return "Misdirected Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

char *rs_admin_error_json(const char *code, const char *message, size_t *len)
{
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code ? code : "error", "message",
                          message ? message : "");
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) {
        /* a message that is not valid UTF-8 cannot be packed: say so without it */
        s = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"error message could not be encoded\"}}");
    }
    if (s && len)
        *len = strlen(s);
    return s;
}

int rs_admin_parse_listen(const char *listen, char *host, size_t hostn, char *port, size_t portn, rs_error *err)
{
    if (!listen || !*listen)
        return rs_error_set(err, RS_EINVALID, "admin listen address is empty");
    const char *colon;
    const char *h = listen;
    size_t hl;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return rs_error_set(err, RS_EINVALID, "admin listen \"%s\": expected \"[v6-address]:port\"", listen);
        h = listen + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
        if (hl == 0)
            return rs_error_set(err, RS_EINVALID, "admin listen \"%s\": empty IPv6 address", listen);
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            return rs_error_set(err, RS_EINVALID, "admin listen \"%s\": expected \"host:port\"", listen);
        if (memchr(listen, ':', (size_t)(colon - listen)))
            return rs_error_set(err, RS_EINVALID, "admin listen \"%s\": put an IPv6 address in brackets, \"[::1]:8470\"",
                                listen);
        hl = (size_t)(colon - listen);
    }
    const char *p = colon + 1;
    size_t pl = strlen(p);
    if (pl == 0 || pl > 5 || strspn(p, "0123456789") != pl || atoi(p) > 65535)
        return rs_error_set(err, RS_EINVALID, "admin listen \"%s\": port must be a number 0..65535", listen);
    if (hl + 1 > hostn || pl + 1 > portn)
        return rs_error_set(err, RS_EINVALID, "admin listen \"%s\": too long", listen);
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!(isalnum(c) || c == '.' || c == '-' || c == ':' || c == '%' || c == '_'))
            return rs_error_set(err, RS_EINVALID, "admin listen \"%s\": bad character in host", listen);
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, p, pl + 1);
    return RS_OK;
}

bool rs_admin_sockaddr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
            return true;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
            return s6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

bool rs_admin_host_is_loopback(const char *host)
{
    if (!host)
        return false;
    char buf[128];
    size_t n = strlen(host);
    if (n == 0 || n >= sizeof buf)
        return false;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close)
            return false;
        size_t hl = (size_t)(close - host - 1);
        memcpy(buf, host + 1, hl);
        buf[hl] = '\0';
        if (close[1] != '\0' && (close[1] != ':' || strspn(close + 2, "0123456789") != strlen(close + 2)))
            return false;
        struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
        if (inet_pton(AF_INET6, buf, &s6.sin6_addr) != 1)
            return false;
        return rs_admin_sockaddr_is_loopback((struct sockaddr *)&s6);
    }
    memcpy(buf, host, n + 1);
    char *colon = strchr(buf, ':');
    if (colon) {
        if (strspn(colon + 1, "0123456789") != strlen(colon + 1))
            return false;
        *colon = '\0';
    }
    size_t bl = strlen(buf);
    if (bl > 0 && buf[bl - 1] == '.')
        buf[--bl] = '\0';
    if (strcasecmp(buf, "localhost") == 0)
        return true;
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, buf, &s4.sin_addr) != 1)
        return false;
    /* 127/8, checked here rather than through rs_admin_sockaddr_is_loopback: once inlined, GCC's
     * -Warray-bounds sees that function's IPv6 branch read past this sockaddr_in */
    return (ntohl(s4.sin_addr.s_addr) >> 24) == 127;
}

int rs_admin_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || strlen(s) > 20 || strspn(s, "0123456789") != strlen(s))
        return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v == 0)
        return -1;
    *out = v;
    return 0;
}

void rs_admin_format_addr(const struct sockaddr *sa, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
        snprintf(out, n, "%s:%u", ip, (unsigned)ntohs(s4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
        snprintf(out, n, "[%s]:%u", ip, (unsigned)ntohs(s6->sin6_port));
    } else {
        snprintf(out, n, "?");
    }
}

static char *decode_part(const char *p, size_t n, bool *bad)
{
    char *raw = strndup(p, n);
    if (!raw) {
        *bad = true;
        return NULL;
    }
    size_t outlen = 0;
    char *dec = evhttp_uridecode(raw, 1, &outlen);
    free(raw);
    if (!dec || strlen(dec) != outlen) {
        free(dec);
        *bad = true;
        return NULL;
    }
    return dec;
}

int rs_admin_query_parse(const char *raw, rs_admin_query *q, rs_error *err)
{
    memset(q, 0, sizeof *q);
    if (!raw || !*raw)
        return RS_OK;
    const char *p = raw;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > 0) {
            if (q->n == RS_ADMIN_MAX_PARAMS) {
                rs_admin_query_free(q);
                return rs_error_set(err, RS_EINVALID, "too many query parameters (at most %d)", RS_ADMIN_MAX_PARAMS);
            }
            const char *eq = memchr(p, '=', len);
            size_t kl = eq ? (size_t)(eq - p) : len;
            bool bad = false;
            char *k = decode_part(p, kl, &bad);
            char *v = eq ? decode_part(eq + 1, len - kl - 1, &bad) : strdup("");
            if (bad || !k || !v || !*k) {
                free(k);
                free(v);
                rs_admin_query_free(q);
                return rs_error_set(err, RS_EINVALID, "malformed query string");
            }
            if (rs_admin_query_get(q, k)) {
                rs_error_set(err, RS_EINVALID, "query parameter \"%.64s\" given twice", k);
                free(k);
                free(v);
                rs_admin_query_free(q);
                return RS_EINVALID;
            }
            q->key[q->n] = k;
            q->val[q->n] = v;
            q->n++;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return RS_OK;
}

const char *rs_admin_query_get(const rs_admin_query *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->key[i], key) == 0)
            return q->val[i];
    return NULL;
}

void rs_admin_query_free(rs_admin_query *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n; i++) {
        free(q->key[i]);
        free(q->val[i]);
    }
    q->n = 0;
}

bool rs_admin_regions_valid(const char *s)
{
    if (!s || !*s || strlen(s) > 1024)
        return false;
    if (strcmp(s, "all") == 0)
        return true;
    size_t names = 0, cur = 0;
    for (const char *p = s;; p++) {
        if (*p == ',' || *p == '\0') {
            if (cur == 0)
                return false;
            names++;
            cur = 0;
            if (*p == '\0')
                break;
            continue;
        }
        unsigned char c = (unsigned char)*p;
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-'))
            return false;
        cur++;
    }
    return names <= 64;
}

const char *rs_admin_bearer(const char *value, size_t *len)
{
    if (!value)
        return NULL;
    while (*value == ' ' || *value == '\t')
        value++;
    if (strncasecmp(value, "Bearer", 6) != 0 || (value[6] != ' ' && value[6] != '\t'))
        return NULL;
    const char *t = value + 6;
    while (*t == ' ' || *t == '\t')
        t++;
    size_t n = strlen(t);
    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    if (n == 0)
        return NULL;
    *len = n;
    return t;
}

/* ---- Prometheus ---- */

void rs_prom_help(rs_buf *out, const char *name, const char *type, const char *help)
{
    if (!out || !name)
        return;
    rs_buf_printf(out, "# HELP %s ", name);
    for (const char *p = help ? help : ""; *p; p++) {
        if (*p == '\\')
            rs_buf_append(out, "\\\\", 2);
        else if (*p == '\n')
            rs_buf_append(out, "\\n", 2);
        else
            rs_buf_putc(out, (uint8_t)*p);
    }
    rs_buf_printf(out, "\n# TYPE %s %s\n", name, type ? type : "untyped");
}

void rs_prom_label_escape(rs_buf *out, const char *value)
{
    if (!out)
        return;
    for (const char *p = value ? value : ""; *p; p++) {
        if (*p == '\\')
            rs_buf_append(out, "\\\\", 2);
        else if (*p == '"')
            rs_buf_append(out, "\\\"", 2);
        else if (*p == '\n')
            rs_buf_append(out, "\\n", 2);
        else
            rs_buf_putc(out, (uint8_t)*p);
    }
}

void rs_prom_sample(rs_buf *out, const char *name, const char *labels, double value)
{
    if (!out || !name)
        return;
    rs_buf_append(out, name, strlen(name));
    if (labels && *labels)
        rs_buf_printf(out, "{%s}", labels);
    if (isnan(value))
        rs_buf_append(out, " NaN\n", 5);
    else if (isinf(value))
        rs_buf_printf(out, " %sInf\n", value > 0 ? "+" : "-");
    else if (value == floor(value) && fabs(value) < 9007199254740992.0)
        rs_buf_printf(out, " %.0f\n", value);
    else
        rs_buf_printf(out, " %.17g\n", value);
}
