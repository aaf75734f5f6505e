/* rs_source.c: see rs_source.h. */
#define RS_ERROR_ORIGIN RS_ORIGIN_SOURCE /* the errors this file makes (common/rs_error.h) */
#include "rs_source.h"
#include "feast_sql.h"
#include "rs_buf.h"
#include "rs_log.h"
#include "rs_time.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_MAX_BYTES ((size_t)1 << 30) /* a registry is at most 1 GiB (rs_registry_limits) */
#define HTTP_MAX_REDIRECTS 5L

typedef struct http_src {
    char *url;               /* the full URL (may hold a signature in its query: never logged) */
    char etag[RS_ETAG_MAX];  /* validators of the last 200, for the conditional GET */
    char last_modified[64];
    char *ca_bundle;
    long connect_ms, timeout_ms;
    int max_retries;
} http_src;

struct rs_source {
    rs_storage *store;       /* borrowed (key in the global store) or owned (own) */
    bool own_store;
    char *key;
    rs_feast_sql *sql;
    http_src *http;
    char *desc;
    char tag[RS_ETAG_MAX];
    char *stamp;             /* Feast SQL change stamp (can be longer than an ETag) */
};

/* ------------------------------------------------------------ http(s)://
 *
 * A registry file served over HTTP(S) (a web server, a presigned or SAS URL, a public bucket URL).
 * Read-only, with a conditional GET: If-None-Match with the last ETag, else If-Modified-Since with
 * the last Last-Modified; 304 is RS_ENOTMODIFIED. TLS peers are verified (store_options.ca_bundle
 * or the system CAs); up to 5 redirects, to http(s) only; timeouts and retries of transient
 * faults (connect errors, timeouts, 429, 5xx) from store_options. The description shows scheme,
 * host and path only: user info and the query (which may hold a signature) are never logged. */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_once_rc;
static void curl_init_once(void) { curl_once_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static bool is_http_url(const char *u) { return strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0; }

/* scheme://host[:port]/path, without user info, query or fragment ("?..." marks a query) */
static char *http_describe(const char *url)
{
    const char *hs = strstr(url, "://") + 3;
    size_t alen = strcspn(hs, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (hs[i] == '@')
            at = hs + i;
    const char *host = at ? at + 1 : hs;
    size_t hl = (size_t)(hs + alen - host);
    const char *path = hs + alen;
    size_t pl = strcspn(path, "?#");
    rs_buf b = {0};
    rs_buf_append(&b, url, (size_t)(hs - url));
    rs_buf_append(&b, host, hl);
    rs_buf_append(&b, path, pl);
    if (path[pl] == '?')
        rs_buf_append(&b, "?...", 4);
    rs_buf_cstr(&b);
    return (char *)b.data;
}

static int http_open(const char *url, const rs_storage_opts *opts, http_src **out, rs_error *err)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_once_rc != CURLE_OK)
        return rs_error_set(err, RS_EIO, "http source: libcurl initialization failed: %s", curl_easy_strerror(curl_once_rc));
    const char *hs = strstr(url, "://") + 3;
    if (!*hs || *hs == '/' || strcspn(hs, "/?#") == 0)
        return rs_error_set(err, RS_EINVALID, "http source: the URL has no host");
    for (const unsigned char *c = (const unsigned char *)url; *c; c++)
        if (*c <= 0x20 || *c == 0x7f)
            return rs_error_set(err, RS_EINVALID, "http source: the URL holds a space or a control character");
    http_src *h = calloc(1, sizeof *h);
    if (!h || !(h->url = strdup(url)) || (opts && opts->ca_bundle && !(h->ca_bundle = strdup(opts->ca_bundle)))) {
        if (h)
            free(h->url);
        free(h);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    h->connect_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 5000;
    h->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 60000;
    h->max_retries = !opts || opts->max_retries == 0 ? 4 : opts->max_retries < 0 ? 0 : opts->max_retries;
    *out = h;
    return RS_OK;
}

static void http_close(http_src *h)
{
    if (!h)
        return;
    free(h->url);
    free(h->ca_bundle);
    free(h);
}

typedef struct http_resp {
    rs_buf body;
    char etag[RS_ETAG_MAX];
    char last_modified[64];
    bool too_big;
} http_resp;

static size_t http_on_write(char *p, size_t sz, size_t n, void *ud)
{
    http_resp *r = ud;
    size_t k = sz * n;
    if (r->body.len + k > HTTP_MAX_BYTES) {
        r->too_big = true;
        return 0; /* aborts the transfer */
    }
    rs_buf_append(&r->body, p, k);
    return k;
}

/* "Name: value" into out (trimmed), when the line is that header */
static bool header_value(const char *line, size_t len, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return false;
    const char *v = line + nl + 1, *e = line + len;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    size_t vl = (size_t)(e - v);
    if (vl == 0 || vl >= n)
        return false;
    memcpy(out, v, vl);
    out[vl] = '\0';
    return true;
}

static size_t http_on_header(char *p, size_t sz, size_t n, void *ud)
{
    http_resp *r = ud;
    size_t k = sz * n;
    if (k > 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (after a redirect): forget the last one's */
        r->etag[0] = r->last_modified[0] = '\0';
        return k;
    }
    if (!header_value(p, k, "ETag", r->etag, sizeof r->etag))
        header_value(p, k, "Last-Modified", r->last_modified, sizeof r->last_modified);
    return k;
}

/* One GET. RS_OK (200), RS_ENOTMODIFIED (304) or an error; *transient when a retry may help.
 * Messages never hold the URL (the caller names the source by its description). */
static int http_get_once(http_src *h, bool conditional, http_resp *resp, long budget_ms, bool *transient,
                         rs_error *err)
{
    *transient = false;
    CURL *c = curl_easy_init();
    if (!c)
        return rs_error_set(err, RS_ENOMEM, "cannot create a curl handle");
    struct curl_slist *hl = NULL;
    char hv[RS_ETAG_MAX + 80];
    if (conditional && h->etag[0]) {
        snprintf(hv, sizeof hv, "If-None-Match: %s", h->etag);
        hl = curl_slist_append(hl, hv);
    } else if (conditional && h->last_modified[0]) {
        snprintf(hv, sizeof hv, "If-Modified-Since: %s", h->last_modified);
        hl = curl_slist_append(hl, hv);
    }
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, h->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, HTTP_MAX_REDIRECTS);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_bundle)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_bundle);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "regsync/0.1");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_ms < budget_ms ? h->connect_ms : budget_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, budget_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (resp->too_big)
        return rs_error_set(err, RS_ETOOBIG, "more than %zu bytes: not a registry this build reads", HTTP_MAX_BYTES);
    if (cc != CURLE_OK) {
        const char *m = cerr[0] ? cerr : curl_easy_strerror(cc);
        switch (cc) {
        case CURLE_OPERATION_TIMEDOUT:
            *transient = true;
            return rs_error_set(err, RS_ETIMEOUT, "no answer within %ld ms: %s", budget_ms, m);
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
            *transient = true;
            return rs_error_set(err, RS_EIO, "%s", m);
        case CURLE_TOO_MANY_REDIRECTS:
            return rs_error_set(err, RS_EINVALID, "more than %ld redirects", HTTP_MAX_REDIRECTS);
        default: return rs_error_setr(err, RS_EIO, false, "%s", m);
        }
    }
    if (code == 200)
        return RS_OK;
    if (code == 304 && conditional)
        return RS_ENOTMODIFIED;
    if (code == 404 || code == 410)
        return rs_error_set(err, RS_ENOTFOUND, "HTTP %ld (no registry at this URL)", code);
    if (code == 401 || code == 403)
        return rs_error_set(err, RS_EAUTH, "HTTP %ld (access refused: check the URL's credentials or signature)", code);
    if (code == 429 || code >= 500) {
        *transient = true;
        return rs_error_set(err, RS_EUNAVAILABLE, "HTTP %ld", code);
    }
    return rs_error_setr(err, RS_EIO, false, "HTTP %ld (expected 200, or 304 to a conditional request)", code);
}

static int http_read(http_src *h, bool force, uint8_t **data, size_t *len, char tag[RS_ETAG_MAX],
                     rs_error *err)
{
    bool conditional = !force && (h->etag[0] || h->last_modified[0]);
    int64_t deadline = rs_mono_ms() + h->timeout_ms;
    for (int attempt = 0;; attempt++) {
        http_resp r = {0};
        bool transient = false;
        int64_t left = deadline - rs_mono_ms();
        int rc = left > 0 ? http_get_once(h, conditional, &r, (long)left, &transient, err)
                          : rs_error_set(err, RS_ETIMEOUT, "no answer within %ld ms", h->timeout_ms);
        if (rc == RS_OK) {
            snprintf(h->etag, sizeof h->etag, "%s", r.etag);
            snprintf(h->last_modified, sizeof h->last_modified, "%s", r.last_modified);
            if (tag) /* the tag recorded in the log: the ETag, else the Last-Modified date */
                snprintf(tag, RS_ETAG_MAX, "%s", r.etag[0] ? r.etag : r.last_modified);
            size_t n = r.body.len;
            rs_buf_cstr(&r.body);
            *data = (uint8_t *)rs_buf_take(&r.body, &n);
            *len = n;
            return RS_OK;
        }
        rs_buf_free(&r.body);
        if (!transient || attempt >= h->max_retries || left <= 0)
            return rc;
        long wait = 100L << (attempt < 5 ? attempt : 5); /* 100 ms, 200 ms, ... 3.2 s */
        if (wait > deadline - rs_mono_ms())
            return rc;
        RS_LOGD("source", "retry attempt=%d wait_ms=%ld", attempt + 1, wait);
        struct timespec ts = {wait / 1000, (wait % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int rs_source_open_(const char *source, rs_storage *store, const rs_storage_opts *opts, rs_source **out, rs_error *err)
{
    *out = NULL;
    if (!source || !*source)
        return rs_error_set(err, RS_EINVALID, "source is empty");
    rs_source *s = calloc(1, sizeof *s);
    if (!s)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    int rc = RS_OK;
    if (strncmp(source, "postgresql://", 13) == 0 || strncmp(source, "postgres://", 11) == 0 ||
        strncmp(source, "mysql://", 8) == 0 || strncmp(source, "mariadb://", 10) == 0) {
        rc = rs_feast_sql_open(source, opts, &s->sql, err);
        if (!rc)
            s->desc = strdup(rs_feast_sql_url(s->sql));
    } else if (is_http_url(source)) {
        rc = http_open(source, opts, &s->http, err);
        if (!rc)
            s->desc = http_describe(source);
    } else if (strstr(source, "://") || source[0] == '/') {
        char *store_url = NULL;
        rc = rs_storage_split_url(source, &store_url, &s->key, err);
        if (!rc)
            rc = rs_storage_open(store_url, opts, &s->store, err);
        if (!rc) {
            s->own_store = true;
            size_t n = strlen(rs_storage_url(s->store)) + strlen(s->key) + 2;
            s->desc = malloc(n);
            if (s->desc) {
                /* the store URL may carry a query string: put the key before it */
                const char *u = rs_storage_url(s->store), *q = strchr(u, '?');
                if (q)
                    snprintf(s->desc, n, "%.*s/%s%s", (int)(q - u), u, s->key, q);
                else
                    snprintf(s->desc, n, "%s/%s", u, s->key);
            }
        }
        free(store_url);
    } else {
        if (!store)
            rc = rs_error_set(err, RS_EINVALID, "source '%s' is a key in the global store, but there is no store", source);
        s->store = store;
        s->key = strdup(source);
        size_t n = strlen(source) + (store ? strlen(rs_storage_url(store)) : 0) + 8;
        s->desc = malloc(n);
        if (s->desc)
            snprintf(s->desc, n, "%s (key %s)", store ? rs_storage_url(store) : "", source);
    }
    if (!rc && !s->desc)
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
    if (rc) {
        rs_source_close(s);
        return rc;
    }
    *out = s;
    return RS_OK;
}

void rs_source_close(rs_source *s)
{
    if (!s)
        return;
    if (s->own_store)
        rs_storage_close(s->store);
    rs_feast_sql_close(s->sql);
    http_close(s->http);
    free(s->key);
    free(s->desc);
    free(s->stamp);
    free(s);
}

const char *rs_source_describe(const rs_source *s) { return s->desc; }

void rs_source_reset(rs_source *s)
{
    s->tag[0] = '\0';
    free(s->stamp);
    s->stamp = NULL;
    if (s->http)
        s->http->etag[0] = s->http->last_modified[0] = '\0';
}

static int rs_source_read_(rs_source *s, bool force, uint8_t **data, size_t *len, char tag[RS_ETAG_MAX], rs_error *err)
{
    *data = NULL;
    *len = 0;
    int rc;
    if (s->sql) {
        if (!force && s->stamp) {
            rc = rs_feast_sql_changed(s->sql, s->stamp, NULL, err);
            if (rc == RS_ENOTMODIFIED || rc < 0)
                return rc;
        }
        char *stamp = NULL;
        rc = rs_feast_sql_read(s->sql, data, len, &stamp, err);
        if (!rc) {
            free(s->stamp);
            s->stamp = stamp ? stamp : strdup("");
            /* the tag reported to the log is a short hash-like prefix of the stamp */
            if (tag)
                snprintf(tag, RS_ETAG_MAX, "sql:%.120s", s->stamp ? s->stamp : "");
        } else {
            free(stamp);
        }
        return rc;
    }
    if (s->http)
        return http_read(s->http, force, data, len, tag, err);
    char etag[RS_ETAG_MAX] = "";
    rc = rs_storage_get(s->store, s->key, (!force && s->tag[0]) ? s->tag : NULL, data, len, etag, err);
    if (rc)
        return rc;
    snprintf(s->tag, sizeof s->tag, "%s", etag);
    if (tag)
        snprintf(tag, RS_ETAG_MAX, "%s", etag);
    return RS_OK;
}

int rs_source_open(const char *source, rs_storage *store, const rs_storage_opts *opts, rs_source **out, rs_error *err)
{
    int rc = rs_source_open_(source, store, opts, out, err);
    if (rc)
        rs_error_set_origin(err, RS_ORIGIN_SOURCE);
    return rc;
}

int rs_source_read(rs_source *s, bool force, uint8_t **data, size_t *len, char tag[RS_ETAG_MAX], rs_error *err)
{
    int rc = rs_source_read_(s, force, data, len, tag, err);
    if (rc)
        rs_error_set_origin(err, RS_ORIGIN_SOURCE);
    return rc;
}
