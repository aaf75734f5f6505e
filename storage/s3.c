/* s3.c: the S3 storage backend (libcurl + our own SigV4).
 *
 * One libcurl easy handle per storage handle, so connections are kept alive between requests.
 * Every request is signed with the payload hash (x-amz-content-sha256 = sha256 of the body).
 * Retries: timeouts, connection failures and resets, truncated bodies, 500/502/503/504, 429 and
 * 400 RequestTimeout, with capped exponential backoff and jitter, all inside one deadline
 * (opts->timeout_ms) per operation. Never on other 4xx.
 * Conditional PUTs are not blindly retried: after an ambiguous failure (5xx, 409, connection lost)
 * the object is read back to decide between success, CONFLICT and another attempt.
 */
#include "rs_storage_impl.h"
#include "s3.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "aws_creds.h"
#include "rs_buf.h"
#include "rs_log.h"
#include "rs_time.h"
#include "s3_xml_impl.h"
#include "sigv4.h"
#include "rs_url.h"

#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 5000
#define LIST_PAGE "1000"
#define ERR_BODY_MAX (64 * 1024)

/* =============================================================================================
 * URL parsing and resolution */

void rs_s3_config_free(rs_s3_config *c)
{
    if (!c)
        return;
    free(c->bucket);
    free(c->prefix);
    free(c->region);
    free(c->origin);
    free(c->host);
    free(c->base_path);
    free(c->sse);
    free(c->sse_kms_key_id);
    memset(c, 0, sizeof *c);
}

/* Percent-decodes a query value ("+" stays "+"). NULL on a bad escape, an encoded NUL or no memory. */
static char *pct_decode(const char *s, size_t n)
{
    char *o;
    return rs_pct_decode(s, n, &o) == RS_OK ? o : NULL;
}

static bool bucket_name_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 1 || n > 255)
        return false;
    for (const char *p = b; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '_'))
            return false;
    return true;
}

/* Lower-case letters, digits, '-' and no dots: safe as a DNS label under a TLS wildcard cert. */
static bool bucket_virtual_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63 || b[0] == '-' || b[n - 1] == '-')
        return false;
    for (const char *p = b; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-'))
            return false;
    return true;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes")) {
        *out = true;
        return 0;
    }
    if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no")) {
        *out = false;
        return 0;
    }
    return -1;
}

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

/* endpoint URL -> origin, host header, base path */
static int parse_endpoint(const char *ep, const char *source, const char *bucket, bool path_style, rs_s3_config *c,
                          rs_error *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    int rc = RS_OK;
    if (!u || curl_url_set(u, CURLUPART_URL, ep, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = rs_error_set(err, RS_EINVALID, "s3: endpoint '%s' from %s is not a URL", ep, source);
        goto done;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        rc = rs_error_set(err, RS_EINVALID, "s3: endpoint '%s' from %s must be http:// or https://", ep, source);
        goto done;
    }
    curl_url_get(u, CURLUPART_PORT, &port, 0); /* only when given explicitly */
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    char *q = NULL;
    if (curl_url_get(u, CURLUPART_QUERY, &q, 0) == CURLUE_OK && q) {
        curl_free(q);
        rc = rs_error_set(err, RS_EINVALID, "s3: endpoint '%s' from %s must not have a query string", ep, source);
        goto done;
    }
    size_t pl = path ? strlen(path) : 0;
    while (pl && path[pl - 1] == '/')
        path[--pl] = '\0';
    char hostport[512];
    snprintf(hostport, sizeof hostport, "%s%s%s", path_style ? "" : bucket, path_style ? "" : ".", host);
    if (port)
        snprintf(hostport + strlen(hostport), sizeof hostport - strlen(hostport), ":%s", port);
    c->host = strdup(hostport);
    c->origin = str_printf("%s://%s", scheme, hostport);
    c->base_path = path_style ? str_printf("%s/%s", path ? path : "", bucket) : strdup(path ? path : "");
    if (!c->host || !c->origin || !c->base_path)
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

int rs_s3_config_parse(const char *url, const rs_storage_opts *opts, rs_s3_config *c, rs_error *err)
{
    memset(c, 0, sizeof *c);
    if (!url || strncmp(url, "s3://", 5) != 0)
        return rs_error_set(err, RS_EINVALID, "s3: URL must start with s3://");
    const char *p = url + 5;
    size_t blen = strcspn(p, "/?");
    const char *q = strchr(p, '?');
    size_t plen = (q ? (size_t)(q - p) : strlen(p)) - blen;
    char *region_param = NULL, *endpoint_param = NULL, *path_style_param = NULL;
    int rc = RS_OK;

    c->bucket = strndup(p, blen);
    if (!c->bucket)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    if (!bucket_name_ok(c->bucket)) {
        rc = rs_error_set(err, RS_EINVALID, "s3: '%.*s' is not a bucket name (in %s)", (int)blen, p, url);
        goto fail;
    }
    /* prefix: without leading/trailing slashes, then one trailing slash */
    const char *pre = p + blen;
    while (plen && *pre == '/') {
        pre++;
        plen--;
    }
    while (plen && pre[plen - 1] == '/')
        plen--;
    c->prefix = plen ? str_printf("%.*s/", (int)plen, pre) : strdup("");
    if (!c->prefix) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto fail;
    }
    for (const char *k = c->prefix; *k; k++)
        if ((unsigned char)*k < 0x20) {
            rc = rs_error_set(err, RS_EINVALID, "s3: the prefix in the URL contains a control character");
            goto fail;
        }

    /* query parameters */
    if (q) {
        const char *s = q + 1;
        while (*s) {
            size_t len = strcspn(s, "&");
            const char *eq = memchr(s, '=', len);
            size_t nlen = eq ? (size_t)(eq - s) : len;
            char *val = eq ? pct_decode(eq + 1, len - nlen - 1) : strdup("");
            if (!val) {
                rc = rs_error_set(err, RS_EINVALID, "s3: URL parameter '%.*s' has a bad %%-escape", (int)nlen, s);
                goto fail;
            }
            char **slot = NULL;
            if (nlen == 6 && !strncmp(s, "region", 6))
                slot = &region_param;
            else if (nlen == 8 && !strncmp(s, "endpoint", 8))
                slot = &endpoint_param;
            else if (nlen == 10 && !strncmp(s, "path_style", 10))
                slot = &path_style_param;
            else if (nlen == 3 && !strncmp(s, "sse", 3))
                slot = &c->sse;
            else if (nlen == 14 && !strncmp(s, "sse_kms_key_id", 14))
                slot = &c->sse_kms_key_id;
            if (!slot) {
                free(val);
                if (nlen == 0 && len == 0) { /* "&&" */
                    s += len + (s[len] == '&');
                    continue;
                }
                rc = rs_error_set(err, RS_EINVALID,
                                  "s3: unknown URL parameter '%.*s' (known: region, endpoint, path_style, sse, "
                                  "sse_kms_key_id)", (int)nlen, s);
                goto fail;
            }
            if (*slot) {
                free(val);
                rc = rs_error_set(err, RS_EINVALID, "s3: URL parameter '%.*s' given twice", (int)nlen, s);
                goto fail;
            }
            *slot = val;
            s += len + (s[len] == '&');
        }
    }

    bool path_style = false, path_style_set = false;
    if (path_style_param) {
        if (parse_bool(path_style_param, &path_style)) {
            rc = rs_error_set(err, RS_EINVALID, "s3: path_style must be true or false, not '%.20s'", path_style_param);
            goto fail;
        }
        path_style_set = true;
    }
    if (c->sse && !*c->sse) {
        free(c->sse);
        c->sse = NULL;
    }
    if (c->sse && strcmp(c->sse, "AES256") != 0 && strcmp(c->sse, "aws:kms") != 0) {
        rc = rs_error_set(err, RS_EINVALID, "s3: sse must be AES256 or aws:kms, not '%.32s'", c->sse);
        goto fail;
    }
    if (c->sse_kms_key_id && (!c->sse || strcmp(c->sse, "aws:kms") != 0)) {
        rc = rs_error_set(err, RS_EINVALID, "s3: sse_kms_key_id needs sse=aws:kms");
        goto fail;
    }
    if (c->sse_kms_key_id) {
        for (const char *k = c->sse_kms_key_id; *k; k++)
            if ((unsigned char)*k < 0x20 || (unsigned char)*k >= 0x7f) {
                rc = rs_error_set(err, RS_EINVALID, "s3: sse_kms_key_id contains a control or non-ASCII character");
                goto fail;
            }
    }

    if ((rc = rs_aws_resolve_region(region_param, opts ? opts->region : NULL, &c->region, &c->region_source, err)))
        goto fail;

    const char *ep = NULL;
    if (endpoint_param && *endpoint_param) {
        ep = endpoint_param;
        c->endpoint_source = "URL (endpoint=)";
    } else if (getenv("FEAST_S3_ENDPOINT_URL") && *getenv("FEAST_S3_ENDPOINT_URL")) {
        ep = getenv("FEAST_S3_ENDPOINT_URL");
        c->endpoint_source = "FEAST_S3_ENDPOINT_URL";
    }
    if (ep) {
        /* custom endpoints (RGW, MinIO, ...) default to path style: virtual hosts need DNS set up */
        c->path_style = path_style_set ? path_style : true;
        if (!c->path_style && !bucket_virtual_ok(c->bucket))
            c->path_style = true;
        rc = parse_endpoint(ep, c->endpoint_source, c->bucket, c->path_style, c, err);
    } else {
        c->endpoint_source = "AWS";
        /* virtual-hosted unless asked otherwise, or the bucket name cannot be a TLS-safe label */
        c->path_style = (path_style_set && path_style) || !bucket_virtual_ok(c->bucket);
        const char *suffix = strncmp(c->region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
        char *aws = str_printf("https://s3.%s.%s", c->region, suffix);
        if (!aws) {
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
            goto fail;
        }
        rc = parse_endpoint(aws, "AWS", c->bucket, c->path_style, c, err);
        free(aws);
    }
    if (rc)
        goto fail;
    free(region_param);
    free(endpoint_param);
    free(path_style_param);
    return RS_OK;
fail:
    free(region_param);
    free(endpoint_param);
    free(path_style_param);
    rs_s3_config_free(c);
    return rc;
}

/* =============================================================================================
 * requests */

typedef struct s3 {
    rs_s3_config cfg;
    long connect_ms, timeout_ms;
    int max_retries;
    char *ca_bundle;
    rs_aws_provider *creds;
    rs_storage_stats *stats;
    CURL *curl;
    uint64_t rng;
} s3;

typedef struct s3_req {
    const char *op;              /* for messages: "get", "put", ... */
    const char *method;
    const char *key;             /* full object key (root prefix included); NULL: the bucket */
    const char *shown_key;       /* the caller's key, for messages */
    const rs_sigv4_kv *query;
    size_t nquery;
    const char *if_none_match;   /* sent as given */
    const char *if_match;
    bool sse;
    const uint8_t *body;
    size_t body_len;
    const char *payload_hash;    /* hex sha256 of body */
} s3_req;

typedef struct s3_resp {
    long status;
    rs_buf body;
    char etag[RS_ETAG_MAX];
    int64_t content_length;      /* -1: none */
    int64_t last_modified_s;     /* Last-Modified (Unix seconds), 0: none */
    char request_id[96];
    char code[64];
    char message[256];
} s3_resp;

typedef struct upload {
    const uint8_t *p;
    size_t len, off;
} upload;

static size_t on_read(char *buf, size_t sz, size_t n, void *ud)
{
    upload *u = ud;
    size_t left = u->len - u->off, want = sz * n;
    if (want > left)
        want = left;
    if (want)
        memcpy(buf, u->p + u->off, want);
    u->off += want;
    return want;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
    upload *u = ud;
    if (origin != SEEK_SET || off < 0 || (size_t)off > u->len)
        return CURL_SEEKFUNC_CANTSEEK;
    u->off = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *p, size_t sz, size_t n, void *ud)
{
    s3_resp *r = ud;
    size_t len = sz * n;
    if (r->status == 0 || r->status >= 300) { /* error bodies are small XML; bound them */
        if (r->body.len + len > ERR_BODY_MAX)
            return len; /* keep the head, drop the rest */
    }
    return rs_buf_append(&r->body, p, len) == RS_OK ? len : 0;
}

static size_t on_header(char *b, size_t sz, size_t n, void *ud)
{
    s3_resp *r = ud;
    size_t len = sz * n;
    if (len >= 5 && strncmp(b, "HTTP/", 5) == 0) { /* a new response (after 100 Continue, say) */
        r->etag[0] = '\0';
        r->content_length = -1;
        r->request_id[0] = '\0';
        long st = 0;
        if (sscanf(b, "HTTP/%*s %ld", &st) == 1)
            r->status = st;
        return len;
    }
    const char *colon = memchr(b, ':', len);
    if (!colon)
        return len;
    size_t nl = (size_t)(colon - b);
    const char *v = colon + 1;
    size_t vl = len - nl - 1;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    while (vl && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    if (nl == 4 && strncasecmp(b, "etag", 4) == 0) {
        rs_s3_set_etag(r->etag, v, vl);
    } else if (nl == 13 && strncasecmp(b, "last-modified", 13) == 0) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(vl < 63 ? vl : 63), v);
        time_t t = curl_getdate(tmp, NULL);
        r->last_modified_s = t > 0 ? (int64_t)t : 0;
    } else if (nl == 14 && strncasecmp(b, "content-length", 14) == 0) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(vl < 31 ? vl : 31), v);
        char *end;
        long long cl = strtoll(tmp, &end, 10);
        r->content_length = (end != tmp && cl >= 0) ? cl : -1;
    } else if (nl == 16 && strncasecmp(b, "x-amz-request-id", 16) == 0) {
        snprintf(r->request_id, sizeof r->request_id, "%.*s", (int)vl, v);
    }
    return len;
}

/* ---- retries ---- */

static uint64_t rng_next(s3 *s)
{
    uint64_t x = s->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return s->rng = x;
}

/* Capped exponential backoff with jitter: half fixed, half random ("equal jitter"). */
static long backoff_ms(s3 *s, int attempt)
{
    long d = BACKOFF_BASE_MS;
    for (int i = 0; i < attempt && d < BACKOFF_CAP_MS; i++)
        d *= 2;
    if (d > BACKOFF_CAP_MS)
        d = BACKOFF_CAP_MS;
    return d / 2 + (long)(rng_next(s) % (uint64_t)(d / 2 + 1));
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* ---- one attempt ---- */

typedef enum { AUTH_NONE, AUTH_TOKEN } auth_kind;

static const char *auth_hint(const char *code)
{
    if (!strcmp(code, "InvalidAccessKeyId"))
        return "the access key id is not known to the server";
    if (!strcmp(code, "SignatureDoesNotMatch"))
        return "the request signature does not match: wrong secret access key (or region/clock mismatch)";
    if (!strcmp(code, "RequestTimeTooSkewed"))
        return "the local clock differs too much from the server's";
    if (!strcmp(code, "ExpiredToken") || !strcmp(code, "TokenRefreshRequired"))
        return "the session token has expired";
    if (!strcmp(code, "InvalidToken"))
        return "the session token is not valid";
    if (!strcmp(code, "AccessDenied"))
        return "access denied (wrong secret key or unknown key id on some servers, or no permission)";
    return "the server refused the credentials";
}

static bool is_token_error(const char *code)
{
    return !strcmp(code, "ExpiredToken") || !strcmp(code, "TokenRefreshRequired") || !strcmp(code, "InvalidToken");
}

/* Classifies a finished HTTP exchange. Sets *retry for transient faults. */
static int classify(s3 *s, const s3_req *r, s3_resp *resp, CURLcode cc, const char *cerr, rs_error *err,
                    bool *retry)
{
    *retry = false;
    char where[1400];
    snprintf(where, sizeof where, "s3 %s s3://%s/%s%s", r->op, s->cfg.bucket, s->cfg.prefix,
             r->shown_key ? r->shown_key : "");
    if (cc != CURLE_OK) {
        switch (cc) {
        case CURLE_OPERATION_TIMEDOUT:
            *retry = true;
            return rs_error_set(err, RS_ETIMEOUT, "%s: timed out (%s)", where, cerr);
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_WEIRD_SERVER_REPLY:
            *retry = true;
            return rs_error_set(err, RS_EIO, "%s: connection failed: %s", where, cerr);
        default: /* TLS verification, bad URL, ...: retrying will not help */
            return rs_error_setr(err, RS_EIO, false, "%s: %s", where, cerr);
        }
    }
    long st = resp->status;
    if (st >= 200 && st < 300) {
        if (resp->content_length >= 0 && !strcmp(r->method, "GET") &&
            (uint64_t)resp->content_length != resp->body.len) {
            *retry = true;
            return rs_error_set(err, RS_EIO,
                                "%s: truncated body: %zu of %lld bytes (HTTP %ld)", where,
                                resp->body.len, (long long)resp->content_length, st);
        }
        return RS_OK;
    }
    if (st == 304)
        return RS_ENOTMODIFIED;
    if (resp->body.len) {
        rs_s3_xml_error_fields((const char *)resp->body.data, resp->body.len, resp->code, sizeof resp->code,
                               resp->message, sizeof resp->message,
                               resp->request_id[0] ? NULL : resp->request_id, sizeof resp->request_id);
    }
    const char *code = resp->code[0] ? resp->code : "-";
    char detail[600];
    snprintf(detail, sizeof detail, "HTTP %ld %s%s%s (request id %s)", st, code, resp->message[0] ? ": " : "",
             resp->message, resp->request_id[0] ? resp->request_id : "-");
    if (st == 404) {
        if (!strcmp(resp->code, "NoSuchBucket"))
            return rs_error_set(err, RS_EINVALID, "%s: bucket %s does not exist (%s)", where, s->cfg.bucket, detail);
        return rs_error_set(err, RS_ENOTFOUND, "%s: no such key (%s)", where, detail);
    }
    if (st == 412)
        return rs_error_set(err, RS_ECONFLICT, "%s: precondition failed (%s)", where,
                            detail);
    if (st == 409)
        return rs_error_setr(err, RS_ECONFLICT, false, "%s: conflicting concurrent request (%s)",
                             where, detail);
    if (st == 403 || !strcmp(code, "InvalidAccessKeyId") || !strcmp(code, "SignatureDoesNotMatch") ||
        is_token_error(code) || !strcmp(code, "AccessDenied"))
        return rs_error_setr(err, RS_EAUTH, false, "%s: %s; credentials from %s (%s)", where, auth_hint(code),
                             rs_aws_provider_source(s->creds), detail);
    if (st == 400 && !strcmp(code, "RequestTimeout")) {
        *retry = true;
        return rs_error_set(err, RS_ETIMEOUT, "%s: server timed out reading the request (%s)", where, detail);
    }
    if (st == 400 && (!strcmp(code, "XAmzContentSHA256Mismatch") || !strcmp(code, "BadDigest")))
        return rs_error_setr(err, RS_ECORRUPT, false, "%s: the body does not match its hash (%s)",
                             where, detail);
    if (st == 429 || st == 500 || st == 502 || st == 503 || st == 504) {
        *retry = true;
        return rs_error_set(err, RS_EUNAVAILABLE, "%s: server unavailable (%s)", where,
                            detail);
    }
    if (st == 501)
        return rs_error_setr(err, RS_EUNSUPPORTED, false, "%s: not supported by the server (%s)",
                             where, detail);
    if (st >= 400 && st < 500)
        return rs_error_setr(err, RS_EINVALID, false, "%s: request refused (%s)", where,
                             detail);
    return rs_error_setr(err, RS_EIO, false, "%s: unexpected reply (%s)", where, detail);
}

static int add_header(struct curl_slist **l, const char *name, const char *value)
{
    char *line = str_printf("%s: %s", name, value);
    if (!line)
        return RS_ENOMEM;
    struct curl_slist *n = curl_slist_append(*l, line);
    OPENSSL_cleanse(line, strlen(line));
    free(line);
    if (!n)
        return RS_ENOMEM;
    *l = n;
    return RS_OK;
}

static int attempt(s3 *s, const s3_req *r, s3_resp *resp, long budget_ms, rs_error *err, bool *retry)
{
    *retry = false;
    rs_buf_reset(&resp->body);
    resp->status = 0;
    resp->etag[0] = resp->code[0] = resp->message[0] = resp->request_id[0] = '\0';
    resp->content_length = -1;

    rs_aws_creds cr;
    int rc = rs_aws_provider_get(s->creds, &cr, err);
    if (rc)
        return rc;

    rs_buf path = {0}, wire_path = {0}, query = {0}, url = {0}, auth = {0};
    struct curl_slist *hl = NULL;
    char amz_date[17];
    rs_sigv4_amz_date(time(NULL), amz_date, NULL);

    /* path: base path + "/" + key (unencoded; sigv4 encodes it the same way for the wire) */
    if (rs_buf_printf(&path, "%s/%s", s->cfg.base_path, r->key ? r->key : "") || rs_buf_cstr(&path)) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto done;
    }
    if (!r->key && path.len > 1) /* the bucket itself in path style: "/bucket", not "/bucket/" */
        path.data[--path.len] = '\0';

    rs_sigv4_kv h[10];
    size_t nh = 0;
    h[nh++] = (rs_sigv4_kv){"host", s->cfg.host};
    h[nh++] = (rs_sigv4_kv){"x-amz-content-sha256", r->payload_hash};
    h[nh++] = (rs_sigv4_kv){"x-amz-date", amz_date};
    if (cr.session_token)
        h[nh++] = (rs_sigv4_kv){"x-amz-security-token", cr.session_token};
    if (r->if_none_match)
        h[nh++] = (rs_sigv4_kv){"if-none-match", r->if_none_match};
    if (r->if_match)
        h[nh++] = (rs_sigv4_kv){"if-match", r->if_match};
    if (r->sse && s->cfg.sse) {
        h[nh++] = (rs_sigv4_kv){"x-amz-server-side-encryption", s->cfg.sse};
        if (s->cfg.sse_kms_key_id)
            h[nh++] = (rs_sigv4_kv){"x-amz-server-side-encryption-aws-kms-key-id", s->cfg.sse_kms_key_id};
    }
    rs_sigv4_request sr = {r->method, (const char *)path.data, r->query, r->nquery, h, nh, r->payload_hash};
    rs_sigv4_key sk = {cr.access_key_id, cr.secret_access_key, s->cfg.region, "s3"};
    if ((rc = rs_sigv4_sign(&sr, &sk, amz_date, &auth, NULL, NULL)) ||
        (rc = rs_sigv4_uri_encode((const char *)path.data, true, &wire_path)) ||
        (rc = rs_sigv4_canonical_query(r->query, r->nquery, &query)) ||
        (rc = rs_buf_printf(&url, "%s%s%s%s", s->cfg.origin, (const char *)wire_path.data, query.len ? "?" : "",
                            query.len ? (const char *)query.data : ""))) {
        rc = rs_error_set(err, rc == RS_ENOMEM ? RS_ENOMEM : RS_EINVALID, "s3 %s: cannot sign the request", r->op);
        goto done;
    }
    for (size_t i = 0; i < nh; i++)
        if ((rc = add_header(&hl, h[i].name, h[i].value)))
            goto oom;
    if ((rc = add_header(&hl, "Authorization", (const char *)auth.data)))
        goto oom;
    for (const char *extra[] = {"Expect:", "Accept:", NULL}, **e = extra; *e; e++) {
        struct curl_slist *nl = curl_slist_append(hl, *e);
        if (!nl)
            goto oom;
        hl = nl;
    }
    if (r->body && (rc = add_header(&hl, "Content-Type", "application/octet-stream")))
        goto oom;

    CURL *c = s->curl;
    curl_easy_reset(c); /* keeps the connection cache */
    char cerr[CURL_ERROR_SIZE] = "";
    upload up = {r->body, r->body_len, 0};
    curl_easy_setopt(c, CURLOPT_URL, (const char *)url.data);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (s->ca_bundle)
        curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_bundle);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "regsync/0.1");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->connect_ms < budget_ms ? s->connect_ms : budget_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, budget_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    if (!strcmp(r->method, "PUT")) {
        /* libcurl silently sends a request again when a reused connection dies before any byte of
         * the answer. For a conditional PUT that may have been applied, the repeat turns our own win
         * into a 412. A fresh connection has no such repeat; call() and reconcile() decide instead. */
        if (r->if_match || r->if_none_match)
            curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(c, CURLOPT_SEEKDATA, &up);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    } else if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    }

    CURLcode cc = curl_easy_perform(c);
    long st = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    if (st)
        resp->status = st;
    curl_off_t up_n = 0, down_n = 0;
    curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &up_n);
    curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &down_n);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    s->stats->requests++;
    s->stats->bytes_out += (uint64_t)up_n;
    s->stats->bytes_in += (uint64_t)down_n;
    rc = classify(s, r, resp, cc, cerr[0] ? cerr : curl_easy_strerror(cc), err, retry);
    goto done;
oom:
    rc = rs_error_set(err, RS_ENOMEM, "out of memory");
done:
    if (hl) { /* header lines held the signature and maybe the session token */
        for (struct curl_slist *i = hl; i; i = i->next)
            OPENSSL_cleanse(i->data, strlen(i->data));
        curl_slist_free_all(hl);
    }
    rs_aws_creds_clear(&cr);
    rs_buf_free(&path);
    rs_buf_free(&wire_path);
    rs_buf_free(&query);
    rs_buf_free(&url);
    rs_buf_free(&auth);
    return rc;
}

/* A request with retries inside the operation's deadline. retries: false for requests that must
 * not be repeated blindly (conditional PUT: the caller reconciles). */
static int call(s3 *s, const s3_req *r, s3_resp *resp, bool retries, int64_t deadline, rs_error *err)
{
    bool token_retry = false;
    for (int n = 0;; n++) {
        int64_t left = deadline - rs_mono_ms();
        if (left <= 0)
            return rs_error_set(err, RS_ETIMEOUT,
                                "s3 %s s3://%s/%s%s: no time left after %d attempt%s (timeout %ld ms)", r->op, s->cfg.bucket, s->cfg.prefix, r->shown_key ? r->shown_key : "", n,
                                n == 1 ? "" : "s", s->timeout_ms);
        bool retry;
        int rc = attempt(s, r, resp, (long)left, err, &retry);
        if (rc == RS_OK || rc == RS_ENOTMODIFIED)
            return rc;
        if (rc == RS_EAUTH && !token_retry && is_token_error(resp->code) && rs_aws_provider_invalidate(s->creds)) {
            token_retry = true; /* the token expired under us: fetch new credentials once */
            RS_LOGW("s3", "session token refused, refreshing credentials op=%s code=%s", r->op, resp->code);
            n--;
            continue;
        }
        if (!retry || !retries || n >= s->max_retries)
            return rc;
        long d = backoff_ms(s, n);
        if (rs_mono_ms() + d >= deadline)
            return rc;
        RS_LOGW("s3", "retry op=%s bucket=%s key=\"%s%s\" attempt=%d status=%ld code=%s delay_ms=%ld error=\"%s\"",
                r->op, s->cfg.bucket, s->cfg.prefix, r->shown_key ? r->shown_key : "", n + 1, resp->status,
                resp->code[0] ? resp->code : "-", d, err ? err->msg : "");
        sleep_ms(d);
        s->stats->retries++;
    }
}

/* =============================================================================================
 * the vtable */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static void s3_close(void *impl)
{
    s3 *s = impl;
    if (!s)
        return;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    rs_aws_provider_close(s->creds);
    rs_s3_config_free(&s->cfg);
    free(s->ca_bundle);
    free(s);
}

static int s3_open(const char *url, const rs_storage_opts *opts, void **impl, rs_storage_stats *stats, rs_error *err)
{
    *impl = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return rs_error_set(err, RS_EIO, "s3: libcurl initialisation failed");
    s3 *s = calloc(1, sizeof *s);
    if (!s)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    int rc = rs_s3_config_parse(url, opts, &s->cfg, err);
    if (rc) {
        free(s);
        return rc;
    }
    s->stats = stats;
    s->connect_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 5000;
    s->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 60000;
    s->max_retries = opts->max_retries == 0 ? 4 : opts->max_retries < 0 ? 0 : opts->max_retries;
    const char *ca = opts->ca_bundle ? opts->ca_bundle : getenv("AWS_CA_BUNDLE");
    if (ca && *ca && !(s->ca_bundle = strdup(ca))) {
        s3_close(s);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    s->rng = (uint64_t)rs_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)s;
    if (!s->rng)
        s->rng = 0x9E3779B97F4A7C15ull;
    rs_aws_provider_opts po = {s->connect_ms < 2000 ? s->connect_ms : 2000, s->ca_bundle, s->cfg.region, 0};
    if ((rc = rs_aws_provider_open(&po, &s->creds, err))) {
        rs_error_prefix(err, "s3://%s", s->cfg.bucket);
        s3_close(s);
        return rc;
    }
    if (!(s->curl = curl_easy_init())) {
        s3_close(s);
        return rs_error_set(err, RS_ENOMEM, "s3: cannot create an HTTP handle");
    }
    RS_LOGI("s3", "opened bucket=%s prefix=\"%s\" region=%s region_from=\"%s\" endpoint=%s endpoint_from=\"%s\" "
                  "addressing=%s sse=%s credentials=\"%s\"",
            s->cfg.bucket, s->cfg.prefix, s->cfg.region, s->cfg.region_source, s->cfg.origin, s->cfg.endpoint_source,
            s->cfg.path_style ? "path" : "virtual-host", s->cfg.sse ? s->cfg.sse : "none",
            rs_aws_provider_source(s->creds));
    *impl = s;
    return RS_OK;
}

static char *full_key(s3 *s, const char *key)
{
    return str_printf("%s%s", s->cfg.prefix, key);
}

static int s3_get(void *impl, const char *key, const char *if_none_match, uint8_t **data, size_t *len,
                  char etag_out[RS_ETAG_MAX], rs_error *err)
{
    s3 *s = impl;
    char *fk = full_key(s, key);
    char *inm = NULL;
    if (!fk)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    if (if_none_match && *if_none_match) {
        /* the standard quoted form; RGW and AWS both match it */
        inm = if_none_match[0] == '"' || !strncmp(if_none_match, "W/", 2) ? strdup(if_none_match)
                                                                          : str_printf("\"%s\"", if_none_match);
        if (!inm) {
            free(fk);
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        }
    }
    s3_req r = {.op = "get", .method = "GET", .key = fk, .shown_key = key, .if_none_match = inm,
                .payload_hash = RS_SIGV4_EMPTY_SHA256};
    s3_resp resp = {0};
    int rc = call(s, &r, &resp, true, rs_mono_ms() + s->timeout_ms, err);
    if (rc == RS_OK) {
        if (rs_buf_reserve(&resp.body, 1)) {
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        } else {
            if (etag_out)
                snprintf(etag_out, RS_ETAG_MAX, "%s", resp.etag);
            *data = rs_buf_take(&resp.body, len);
        }
    }
    rs_buf_free(&resp.body);
    free(inm);
    free(fk);
    return rc;
}

/* After an ambiguous failure of a conditional PUT (5xx, 409, connection lost): read the object to
 * decide. Returns RS_OK (the object now holds exactly our bytes; etag set), RS_ECONFLICT, or
 * RS_EUNAVAILABLE meaning "the precondition still holds: try the PUT again". */
static int reconcile(s3 *s, const char *key, const uint8_t *data, size_t len, rs_put_mode mode, const char *if_match,
                     char etag_out[RS_ETAG_MAX], int64_t deadline, rs_error *err)
{
    char *fk = full_key(s, key);
    if (!fk)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    s3_req r = {.op = "put (re-read)", .method = "GET", .key = fk, .shown_key = key, .payload_hash = RS_SIGV4_EMPTY_SHA256};
    s3_resp resp = {0};
    rs_error e2 = {0};
    int rc = call(s, &r, &resp, true, deadline, &e2);
    int out;
    if (rc == RS_ENOTFOUND) {
        out = mode == RS_PUT_IF_ABSENT ? RS_EUNAVAILABLE
                                       : rs_error_set(err, RS_ECONFLICT, "s3 put s3://%s/%s%s: if-match: the key no "
                                                                         "longer exists", s->cfg.bucket, s->cfg.prefix, key);
    } else if (rc != RS_OK) {
        out = rs_error_set(err, rc, "s3 put s3://%s/%s%s: outcome unknown, re-reading failed: %s", s->cfg.bucket,
                           s->cfg.prefix, key, e2.msg);
    } else if (mode == RS_PUT_IF_MATCH && strcmp(resp.etag, if_match) == 0) {
        out = RS_EUNAVAILABLE; /* unchanged: our write did not happen */
    } else if (resp.body.len == len && (len == 0 || memcmp(resp.body.data, data, len) == 0)) {
        if (etag_out)
            snprintf(etag_out, RS_ETAG_MAX, "%s", resp.etag);
        RS_LOGW("s3", "conditional put outcome recovered by re-reading key=\"%s%s\" result=ours", s->cfg.prefix, key);
        out = RS_OK;
    } else {
        out = rs_error_set(err, RS_ECONFLICT, "s3 put s3://%s/%s%s: %s", s->cfg.bucket, s->cfg.prefix, key,
                           mode == RS_PUT_IF_ABSENT ? "the key exists (another writer won)"
                                                    : "the object changed (another writer won)");
    }
    rs_buf_free(&resp.body);
    free(fk);
    return out;
}

static int s3_put(void *impl, const char *key, const uint8_t *data, size_t len, rs_put_mode mode,
                  const char *if_match, char etag_out[RS_ETAG_MAX], rs_error *err)
{
    s3 *s = impl;
    char hash[RS_SHA256_HEX_LEN + 1];
    rs_sigv4_sha256_hex(data, len, hash);
    char *fk = full_key(s, key);
    char im[RS_ETAG_MAX] = "";
    if (!fk)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    if (mode == RS_PUT_IF_MATCH)
        rs_s3_set_etag(im, if_match, strlen(if_match)); /* RGW 16 only matches the unquoted form */
    s3_req r = {.op = "put", .method = "PUT", .key = fk, .shown_key = key, .sse = true,
                .body = data ? data : (const uint8_t *)"", .body_len = len, .payload_hash = hash,
                .if_none_match = mode == RS_PUT_IF_ABSENT ? "*" : NULL,
                .if_match = mode == RS_PUT_IF_MATCH ? im : NULL};
    s3_resp resp = {0};
    int64_t deadline = rs_mono_ms() + s->timeout_ms;
    rs_error e = {0};
    int rc;
    if (mode == RS_PUT_ALWAYS) {
        rc = call(s, &r, &resp, true, deadline, &e);
    } else {
        for (int n = 0;; n++) {
            rc = call(s, &r, &resp, false, deadline, &e);
            /* did the request possibly reach the object? then the outcome is unknown: re-read */
            bool ambiguous = (rc == RS_ECONFLICT && resp.status == 409) || rc == RS_EUNAVAILABLE ||
                             rc == RS_ETIMEOUT || (rc == RS_EIO && e.retryable);
            if (rc == RS_OK || !ambiguous)
                break;
            rs_error first = e;
            int rr = reconcile(s, key, data, len, mode, im, etag_out, deadline, &e);
            if (rr != RS_EUNAVAILABLE) {
                rc = rr;
                goto out;
            }
            /* the precondition still holds, so our PUT did not land: try again if allowed */
            long d = backoff_ms(s, n);
            if (n >= s->max_retries || rs_mono_ms() + d >= deadline) {
                e = first;
                break;
            }
            RS_LOGW("s3", "retry op=put(conditional) bucket=%s key=\"%s%s\" attempt=%d status=%ld delay_ms=%ld",
                    s->cfg.bucket, s->cfg.prefix, key, n + 1, resp.status, d);
            sleep_ms(d);
            s->stats->retries++;
        }
    }
    if (rc == RS_OK && etag_out)
        snprintf(etag_out, RS_ETAG_MAX, "%s", resp.etag);
    if (rc == RS_OK && !resp.etag[0])
        RS_LOGW("s3", "put returned no ETag bucket=%s key=\"%s%s\"", s->cfg.bucket, s->cfg.prefix, key);
out:
    if (rc && err)
        *err = e;
    rs_buf_free(&resp.body);
    free(fk);
    return rc;
}

static int s3_del(void *impl, const char *key, rs_error *err)
{
    s3 *s = impl;
    char *fk = full_key(s, key);
    if (!fk)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    s3_req r = {.op = "delete", .method = "DELETE", .key = fk, .shown_key = key, .payload_hash = RS_SIGV4_EMPTY_SHA256};
    s3_resp resp = {0};
    int rc = call(s, &r, &resp, true, rs_mono_ms() + s->timeout_ms, err);
    if (rc == RS_ENOTFOUND)
        rc = RS_OK;
    rs_buf_free(&resp.body);
    free(fk);
    return rc;
}

/* HEAD for the current ETag, then DELETE with If-Match (AWS answers 412 when the object changed
 * in between; Ceph RGW 16 ignores the header: see rs_storage_delete_if). */
static int s3_del_if(void *impl, const char *key, const char *if_match, int64_t if_mtime_ms, rs_error *err)
{
    s3 *s = impl;
    char *fk = full_key(s, key);
    if (!fk)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    int64_t deadline = rs_mono_ms() + s->timeout_ms;
    s3_req h = {.op = "delete (check)", .method = "HEAD", .key = fk, .shown_key = key, .payload_hash = RS_SIGV4_EMPTY_SHA256};
    s3_resp hr = {0};
    int rc = call(s, &h, &hr, true, deadline, err);
    rs_buf_free(&hr.body);
    if (rc == RS_ENOTFOUND) {
        free(fk);
        return RS_OK;
    }
    if (!rc && strcmp(hr.etag, if_match) != 0)
        rc = rs_error_set(err, RS_ECONFLICT, "s3 delete s3://%s/%s%s: ETag is %s, not %s", s->cfg.bucket, s->cfg.prefix, key,
                          hr.etag, if_match);
    /* Last-Modified has whole seconds: a rewrite with the same bytes in another second shows */
    if (!rc && if_mtime_ms && hr.last_modified_s > 0 && hr.last_modified_s != if_mtime_ms / 1000)
        rc = rs_error_set(err, RS_ECONFLICT, "s3 delete s3://%s/%s%s: rewritten since it was listed", s->cfg.bucket,
                          s->cfg.prefix, key);
    if (!rc) {
        char im[RS_ETAG_MAX + 2];
        rs_s3_set_etag(im, if_match, strlen(if_match));
        s3_req r = {.op = "delete", .method = "DELETE", .key = fk, .shown_key = key, .if_match = im,
                    .payload_hash = RS_SIGV4_EMPTY_SHA256};
        s3_resp resp = {0};
        rc = call(s, &r, &resp, true, deadline, err);
        if (rc == RS_ENOTFOUND)
            rc = RS_OK;
        rs_buf_free(&resp.body);
    }
    free(fk);
    return rc;
}

static int s3_list(void *impl, const char *prefix, rs_list_entry **entries, size_t *n, rs_error *err)
{
    s3 *s = impl;
    char *full = full_key(s, prefix);
    if (!full)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    rs_list_entry *v = NULL;
    size_t cnt = 0, cap = 0;
    char *token = NULL;
    int rc = RS_OK;
    int64_t deadline = rs_mono_ms() + s->timeout_ms;
    for (unsigned page = 0;; page++) {
        rs_sigv4_kv q[4] = {{"list-type", "2"}, {"max-keys", LIST_PAGE}, {"prefix", full}, {0}};
        size_t nq = 3;
        if (token)
            q[nq++] = (rs_sigv4_kv){"continuation-token", token};
        s3_req r = {.op = "list", .method = "GET", .key = NULL, .shown_key = prefix, .query = q, .nquery = nq,
                    .payload_hash = RS_SIGV4_EMPTY_SHA256};
        s3_resp resp = {0};
        /* each page gets the full timeout: a listing of many pages is not one request */
        if (page)
            deadline = rs_mono_ms() + s->timeout_ms;
        rc = call(s, &r, &resp, true, deadline, err);
        char *next = NULL;
        if (rc == RS_OK)
            rc = rs_s3_parse_list_page(s->cfg.bucket, s->cfg.prefix, (const char *)resp.body.data, resp.body.len, &v,
                                       &cnt, &cap, &next, err);
        rs_buf_free(&resp.body);
        if (rc)
            break;
        if (next && token && strcmp(next, token) == 0) {
            free(next);
            rc = rs_error_set(err, RS_ECORRUPT, "s3 list s3://%s/%s: the server repeated a continuation token",
                              s->cfg.bucket, full);
            break;
        }
        free(token);
        token = next;
        if (!token)
            break;
    }
    free(token);
    free(full);
    if (rc) {
        rs_storage_list_free(v, cnt);
        return rc;
    }
    *entries = v;
    *n = cnt;
    return RS_OK;
}

const rs_storage_vtable rs_s3_backend = {
    .scheme = "s3",
    .caps = 0,
    .open = s3_open,
    .close = s3_close,
    .get = s3_get,
    .put = s3_put,
    .list = s3_list,
    .del = s3_del,
    .del_if = s3_del_if,
    .watch = NULL,
};
