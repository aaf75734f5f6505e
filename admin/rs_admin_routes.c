/* rs_admin_routes.c: request dispatch, route handlers and replies. Everything here runs on the
 * admin event-loop thread. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "rs_admin_impl.h"
#include "rs_log.h"
#include "rs_time.h"

#define CT_JSON "application/json"
#define CT_PROM "text/plain; version=0.0.4; charset=utf-8"
#define CT_HTML "text/html; charset=utf-8"
#define MAX_WAITERS 1024
#define MAX_WAIT_MS (10 * 60 * 1000)
#define DEFAULT_WAIT_MS (30 * 1000)
#define MAX_FILTER_LEN 512

#ifndef RS_VERSION
#define RS_VERSION "unknown"
#endif

static const struct {
    const char *path;
    bool post;
} ROUTES[RT_COUNT] = {
    [RT_HEALTHZ] = {"/healthz", false},  [RT_READYZ] = {"/readyz", false},
    [RT_METRICS] = {"/metrics", false},  [RT_PAGE] = {"/", false},
    [RT_STATUS] = {"/v1/status", false}, [RT_VERSIONS] = {"/v1/versions", false},
    [RT_VERSION] = {NULL, false},        [RT_DIFF] = {"/v1/diff", false},
    [RT_REGISTRY] = {"/v1/registry", false}, [RT_DRIFT] = {"/v1/drift", false},
    [RT_WAIT] = {"/v1/wait", false},     [RT_SYNC] = {"/v1/sync", true},
    [RT_PAUSE] = {"/v1/pause", true},    [RT_RESUME] = {"/v1/resume", true},
    [RT_PIN] = {"/v1/pin", true},        [RT_UNPIN] = {"/v1/unpin", true},
    [RT_ROLLBACK] = {"/v1/rollback", true}, [RT_PUBLISH] = {"/v1/publish", true},
    [RT_PROMOTE] = {"/v1/promote", true},
    [RT_OTHER] = {NULL, false},
};

/* ------------------------------------------------------------------------------------------ */
/* replies                                                                                    */

static void free_body(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    free((void *)data);
}

static void add_header(rs_rctx *r, const char *k, const char *v)
{
    if (r->req)
        evhttp_add_header(evhttp_request_get_output_headers(r->req), k, v);
}

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "?";
    }
}

/* Sends the answer and takes ownership of body (malloc'd, may be NULL). */
static void send_reply(rs_rctx *r, int status, const char *ctype, char *body, size_t len)
{
    struct evhttp_request *req = r->req;
    if (!req) {
        free(body);
        return;
    }
    rs_admin *a = r->a;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    if (a->stopping || (r->conn && r->conn->close_after))
        evhttp_add_header(h, "Connection", "close");
    struct evbuffer *b = evbuffer_new();
    if (r->head || !b) {
        char cl[32];
        snprintf(cl, sizeof cl, "%zu", len);
        evhttp_add_header(h, "Content-Length", cl);
        free(body);
    } else if (body) {
        if (evbuffer_add_reference(b, body, len, free_body, NULL) != 0)
            free(body);
    }
    int64_t us = (rs_mono_ns() - r->t0_ns) / 1000;
    RS_LOGD("admin", "request method=%s route=%s code=%d us=%lld", method_name(evhttp_request_get_command(req)),
            rs_admin_route_names[r->route], status, (long long)us);
    evhttp_send_reply(req, status, rs_admin_reason(status), b);
    if (b)
        evbuffer_free(b);
    a->req_count[r->route][rs_admin_code_index(status)]++;
    r->req = NULL;
    rs_admin_conn_answered(r->conn);
    r->conn = NULL;
}

static void send_json(rs_rctx *r, int status, json_t *o)
{
    char *s = o ? json_dumps(o, r->pretty ? JSON_INDENT(2) : JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) {
        rs_admin_reply_error(r, 500, "internal", "cannot serialize the response");
        return;
    }
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        rs_admin_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    send_reply(r, status, CT_JSON, t, n + 1);
}

static void vreply_error(rs_rctx *r, int status, const char *code, json_t *extra, const char *fmt, va_list ap)
{
    char msg[RS_ERROR_MSG_MAX + 128];
    vsnprintf(msg, sizeof msg, fmt, ap);
    json_t *o = json_object();
    json_t *e = json_object();
    json_object_set_new(e, "code", json_string(code ? code : rs_admin_code_name(status)));
    json_t *m = json_string(msg);
    json_object_set_new(e, "message", m ? m : json_string("(message not valid UTF-8)"));
    json_object_set_new(o, "error", e);
    if (extra)
        json_object_update(o, extra);
    json_decref(extra);
    send_json(r, status, o);
}

void rs_admin_reply_error(rs_rctx *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreply_error(r, status, code, NULL, fmt, ap);
    va_end(ap);
}

static void reply_error_extra(rs_rctx *r, int status, const char *code, json_t *extra, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void reply_error_extra(rs_rctx *r, int status, const char *code, json_t *extra, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreply_error(r, status, code, extra, fmt, ap);
    va_end(ap);
}

static void reply_rs_error(rs_rctx *r, const rs_error *e)
{
    int status = rs_admin_http_status(e->code);
    if (status == 200)
        status = 500;
    rs_admin_reply_error(r, status, rs_admin_code_name(status), "%s", e->msg[0] ? e->msg : rs_status_name(e->code));
}

/* ------------------------------------------------------------------------------------------ */
/* slow calls                                                                                 */

void rs_admin_answer_job(rs_admin *a, rs_job *j)
{
    (void)a;
    if (j->rc == RS_OK && j->out) {
        char *out = j->out;
        j->out = NULL;
        send_reply(&j->r, 200, CT_JSON, out, j->out_len);
        if (j->kind == JOB_CONTROL)
            RS_LOGI("admin", "control action=%s code=200", j->s1);
        else if (j->kind == JOB_PROMOTE)
            RS_LOGW("admin", "control action=promote store=%s code=200", j->s1);
        return;
    }
    if (j->kind == JOB_CONTROL)
        RS_LOGI("admin", "control action=%s code=%d error=%s", j->s1, rs_admin_http_status(j->err.code),
                rs_status_name(j->err.code));
    else if (j->kind == JOB_PROMOTE)
        RS_LOGW("admin", "control action=promote store=%s code=%d error=%s", j->s1, rs_admin_http_status(j->err.code),
                rs_status_name(j->err.code));
    reply_rs_error(&j->r, &j->err);
}

void rs_admin_answer_timeout(rs_admin *a, rs_job *j)
{
    RS_LOGW("admin", "provider_timeout route=%s limit_ms=%lld", rs_admin_route_names[j->r.route],
            (long long)a->timeout_ms);
    rs_admin_reply_error(&j->r, 503, "timeout", "the provider did not answer %s within %lld ms",
                         rs_admin_route_names[j->r.route], (long long)a->timeout_ms);
}

static void submit(rs_rctx *r, rs_job *j)
{
    j->r = *r;
    r->req = NULL;
    r->conn = NULL;
    int rc = rs_admin_enqueue(r->a, j);
    if (rc != RS_OK) {
        if (rc == RS_ECANCELLED)
            rs_admin_reply_error(&j->r, 503, "shutting_down", "the admin API is shutting down");
        else
            rs_admin_reply_error(&j->r, 503, "busy", "too many slow requests queued; retry later");
        rs_admin_job_free(j);
    }
}

static rs_job *new_job(rs_rctx *r, rs_job_kind kind)
{
    rs_job *j = calloc(1, sizeof *j);
    if (!j)
        rs_admin_reply_error(r, 500, "internal", "out of memory");
    else
        j->kind = kind;
    return j;
}

/* ------------------------------------------------------------------------------------------ */
/* long poll                                                                                  */

static void waiter_finish(rs_admin *a, rs_waiter *w)
{
    if (w->finished)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else if (a->waiters == w)
        a->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    a->nwaiters--;
    event_del(w->deadline);
    w->finished = true;
    if (!w->inflight)
        rs_admin_waiter_free(w);
}

static json_t *wait_fields(rs_waiter *w)
{
    return json_pack("{s:I,s:s,s:I}", "version", (json_int_t)w->version, "regions", w->regions, "waited_ms",
                     (json_int_t)(rs_mono_ms() - w->started_ms));
}

void rs_admin_wait_deadline(rs_admin *a, rs_waiter *w)
{
    json_t *extra = wait_fields(w);
    if (extra)
        json_object_set(extra, "detail", w->last_detail ? w->last_detail : json_null());
    reply_error_extra(&w->r, 408, "timeout", extra, "regions %s did not reach version %llu within %lld ms",
                      w->regions, (unsigned long long)w->version, (long long)w->timeout_ms);
    waiter_finish(a, w);
}

/* The client closed its connection while waiting: free the slot now (nothing to answer). */
static void on_waiter_client_gone(void *arg)
{
    rs_waiter *w = arg;
    rs_admin *a = w->r.a;
    rs_conn *c = w->r.conn;
    w->r.req = NULL; /* freed with its connection */
    w->r.conn = NULL;
    a->waits_abandoned++;
    RS_LOGD("admin", "wait_abandoned version=%llu regions=%s waited_ms=%lld", (unsigned long long)w->version,
            w->regions, (long long)(rs_mono_ms() - w->started_ms));
    waiter_finish(a, w);
    rs_admin_conn_answered(c);
}

static void on_waiter_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_waiter *w = arg;
    rs_admin_wait_deadline(w->r.a, w);
}

void rs_admin_wait_checked(rs_admin *a, rs_job *j)
{
    rs_waiter *w = j->waiter;
    if (!w)
        return;
    w->inflight = false;
    if (w->finished) {
        rs_admin_waiter_free(w);
        return;
    }
    if (j->rc != RS_OK) {
        reply_rs_error(&w->r, &j->err);
        waiter_finish(a, w);
        return;
    }
    if (j->detail) {
        json_decref(w->last_detail);
        w->last_detail = j->detail;
        j->detail = NULL;
    }
    if (j->done) {
        json_t *o = wait_fields(w);
        if (o) {
            json_object_set_new(o, "done", json_true());
            json_object_set(o, "detail", w->last_detail ? w->last_detail : json_null());
        }
        send_json(&w->r, 200, o);
        waiter_finish(a, w);
        return;
    }
    if (w->recheck)
        rs_admin_wait_schedule(a, w);
}

/* ------------------------------------------------------------------------------------------ */
/* request parsing                                                                            */

int rs_admin_parse_body(const char *data, size_t len, json_t **out, char *why, size_t whyn)
{
    *out = NULL;
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
        i++;
    if (i == len)
        return 0;
    json_error_t je;
    json_t *body = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!body) {
        snprintf(why, whyn, "request body is not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
        return -1;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        snprintf(why, whyn, "request body must be a JSON object");
        return -1;
    }
    *out = body;
    return 0;
}

rs_route rs_admin_match_route(const char *path, const char **tail)
{
    *tail = NULL;
    for (int i = 0; i < RT_COUNT; i++)
        if (ROUTES[i].path && strcmp(ROUTES[i].path, path) == 0)
            return (rs_route)i;
    static const char pfx[] = "/v1/versions/";
    if (strncmp(path, pfx, sizeof pfx - 1) == 0 && path[sizeof pfx - 1] && !strchr(path + sizeof pfx - 1, '/')) {
        *tail = path + sizeof pfx - 1;
        return RT_VERSION;
    }
    return RT_OTHER;
}

static bool check_token(rs_admin *a, struct evhttp_request *req, bool *present)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    *present = h != NULL;
    size_t n = 0;
    const char *tok = rs_admin_bearer(h, &n);
    if (!tok)
        return false;
    uint8_t d[32];
    unsigned int dl = 0;
    if (EVP_Digest(tok, n, d, &dl, EVP_sha256(), NULL) != 1 || dl != sizeof d)
        return false;
    return CRYPTO_memcmp(d, a->token_sha256, sizeof d) == 0;
}

static void peer_of(struct evhttp_request *req, char *out, size_t n)
{
    snprintf(out, n, "?");
    struct evhttp_connection *c = evhttp_request_get_connection(req);
    if (c) {
        char *addr = NULL;
        ev_uint16_t port = 0;
        evhttp_connection_get_peer(c, &addr, &port);
        if (addr)
            snprintf(out, n, "%s", addr);
    }
}

/* Origin, when a browser sends one, must be this server itself (cross-site POSTs refused). */
static bool origin_ok(rs_admin *a, struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *origin = evhttp_find_header(in, "Origin");
    if (!origin)
        return true;
    const char *host = evhttp_find_header(in, "Host");
    if (!host)
        return false;
    const char *scheme = a->tls ? "https://" : "http://";
    size_t sl = strlen(scheme);
    return strncasecmp(origin, scheme, sl) == 0 && strcasecmp(origin + sl, host) == 0;
}

static bool bool_param(const char *v)
{
    return v && (!*v || strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0);
}

static bool filter_ok(const char *v)
{
    if (strlen(v) > MAX_FILTER_LEN)
        return false;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* Optional string filter: NULL when absent or empty; false (answered 400) when bad. */
static bool opt_filter(rs_rctx *r, const rs_admin_query *q, const char *key, char **out)
{
    *out = NULL;
    const char *v = rs_admin_query_get(q, key);
    if (!v || !*v)
        return true;
    if (!filter_ok(v)) {
        rs_admin_reply_error(r, 400, "bad_request", "parameter %s: at most %d printable characters", key,
                             MAX_FILTER_LEN);
        return false;
    }
    *out = strdup(v);
    return true;
}

/* Positive integer parameter. required: absent is an error; else *out = dflt. */
static bool u64_param(rs_rctx *r, const rs_admin_query *q, const char *key, bool required, uint64_t dflt,
                      uint64_t *out)
{
    const char *v = rs_admin_query_get(q, key);
    if (!v) {
        if (required) {
            rs_admin_reply_error(r, 400, "bad_request", "parameter %s is required (a positive integer)", key);
            return false;
        }
        *out = dflt;
        return true;
    }
    if (rs_admin_parse_u64(v, out) != 0) {
        rs_admin_reply_error(r, 400, "bad_request", "parameter %s must be a positive integer, got \"%.40s\"", key, v);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* fast routes                                                                                */

static void route_readyz(rs_rctx *r, const rs_admin_query *q)
{
    rs_admin *a = r->a;
    if (!a->p.ready) {
        rs_admin_reply_error(r, 501, "not_implemented", "readiness is not available");
        return;
    }
    json_t *checks = NULL;
    bool ok = a->p.ready(a->p.ctx, &checks);
    bool verbose = bool_param(rs_admin_query_get(q, "verbose"));
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(ok ? "ready" : "not_ready"));
    if (!ok) {
        char failing[256] = "";
        size_t i;
        json_t *c;
        if (json_is_array(checks))
            json_array_foreach(checks, i, c)
            {
                const char *name = json_string_value(json_object_get(c, "name"));
                if (name && !json_is_true(json_object_get(c, "ok"))) {
                    size_t l = strlen(failing);
                    snprintf(failing + l, sizeof failing - l, "%s%s", l ? ", " : "", name);
                }
            }
        char msg[300];
        snprintf(msg, sizeof msg, "not ready%s%s", *failing ? ": " : "", failing);
        json_object_set_new(o, "error", json_pack("{s:s,s:s}", "code", "not_ready", "message", msg));
    }
    if (verbose)
        json_object_set_new(o, "checks", json_is_array(checks) ? json_incref(checks) : json_array());
    json_decref(checks);
    send_json(r, ok ? 200 : 503, o);
}

static void route_metrics(rs_rctx *r)
{
    rs_admin *a = r->a;
    rs_buf b = {0};
    if (a->p.metrics)
        a->p.metrics(a->p.ctx, &b);
    rs_buf_cstr(&b);
    bool has_build = b.data && strstr((const char *)b.data, "regsync_build_info") != NULL;
    if (b.len && b.data[b.len - 1] != '\n')
        rs_buf_putc(&b, '\n');
    if (!has_build) {
        rs_prom_help(&b, "regsync_build_info", "gauge", "regsync build information");
        rs_prom_sample(&b, "regsync_build_info", "version=\"" RS_VERSION "\"", 1);
    }
    rs_prom_help(&b, "regsync_admin_requests_total", "counter", "admin API requests by route and status code");
    for (int i = 0; i < RT_COUNT; i++)
        for (int k = 0; k <= RS_ADMIN_NCODES; k++) {
            uint64_t n = a->req_count[i][k];
            if (!n)
                continue;
            char labels[128];
            if (k < RS_ADMIN_NCODES)
                snprintf(labels, sizeof labels, "route=\"%s\",code=\"%d\"", rs_admin_route_names[i],
                         rs_admin_counted_codes[k]);
            else
                snprintf(labels, sizeof labels, "route=\"%s\",code=\"other\"", rs_admin_route_names[i]);
            rs_prom_sample(&b, "regsync_admin_requests_total", labels, (double)n);
        }
    pthread_mutex_lock(&a->mu);
    size_t qlen = a->q_len;
    unsigned running = a->running;
    pthread_mutex_unlock(&a->mu);
    rs_prom_help(&b, "regsync_admin_connections_timed_out_total", "counter",
                 "connections closed because a request did not arrive within request_timeout");
    rs_prom_sample(&b, "regsync_admin_connections_timed_out_total", NULL, (double)a->conn_timeouts);
    rs_prom_help(&b, "regsync_admin_provider_timeouts_total", "counter",
                 "slow provider calls answered 503 after request_timeout");
    rs_prom_sample(&b, "regsync_admin_provider_timeouts_total", NULL, (double)a->call_timeouts);
    rs_prom_help(&b, "regsync_admin_busy_total", "counter", "slow requests refused because the queue was full");
    rs_prom_sample(&b, "regsync_admin_busy_total", NULL, (double)a->busy_rejects);
    rs_prom_help(&b, "regsync_admin_auth_failures_total", "counter", "requests refused for a missing or wrong token");
    rs_prom_sample(&b, "regsync_admin_auth_failures_total", NULL, (double)a->auth_failures);
    rs_prom_help(&b, "regsync_admin_slow_calls_queued", "gauge", "slow provider calls waiting for a worker");
    rs_prom_sample(&b, "regsync_admin_slow_calls_queued", NULL, (double)qlen);
    rs_prom_help(&b, "regsync_admin_slow_calls_running", "gauge", "slow provider calls being run");
    rs_prom_sample(&b, "regsync_admin_slow_calls_running", NULL, (double)running);
    rs_prom_help(&b, "regsync_admin_waiters", "gauge", "open /v1/wait long polls");
    rs_prom_sample(&b, "regsync_admin_waiters", NULL, (double)a->nwaiters);
    rs_prom_help(&b, "regsync_admin_accept_errors_total", "counter",
                 "accept() failures (out of file descriptors); accepting pauses 100 ms after each");
    rs_prom_sample(&b, "regsync_admin_accept_errors_total", NULL, (double)a->accept_errors);
    rs_prom_help(&b, "regsync_admin_waits_abandoned_total", "counter",
                 "/v1/wait long polls whose client closed the connection before the answer");
    rs_prom_sample(&b, "regsync_admin_waits_abandoned_total", NULL, (double)a->waits_abandoned);
    size_t len = b.len;
    char *body = (char *)rs_buf_take(&b, &len);
    send_reply(r, 200, CT_PROM, body, len);
}

/* The data URL must be an http(s) URL of safe characters; returns its origin in origin. */
static bool data_url_ok(const char *u, char *origin, size_t n)
{
    size_t sl;
    if (strncmp(u, "http://", 7) == 0)
        sl = 7;
    else if (strncmp(u, "https://", 8) == 0)
        sl = 8;
    else
        return false;
    if (strlen(u) > 512)
        return false;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (!(isalnum(*p) || strchr(":/.-_~%?&=+[]@!$()*,", *p)))
            return false;
    const char *slash = strchr(u + sl, '/');
    size_t ol = slash ? (size_t)(slash - u) : strlen(u);
    if (ol == sl || ol >= n || memchr(u + sl, '?', ol - sl) || memchr(u + sl, '@', ol - sl))
        return false;
    memcpy(origin, u, ol);
    origin[ol] = '\0';
    return true;
}

static void route_page(rs_rctx *r)
{
    rs_admin *a = r->a;
    const char *url = a->p.status_page_data_url ? a->p.status_page_data_url(a->p.ctx) : NULL;
    char origin[600] = "";
    if (url && *url && !data_url_ok(url, origin, sizeof origin)) {
        RS_LOGW("admin", "status_page_data_url_ignored reason=\"not a plain http(s) URL\"");
        url = NULL;
        origin[0] = '\0';
    }
    if (!url)
        url = "";
    static const char ph[] = "__REGSYNC_DATA_URL__";
    const char *html = (const char *)rs_admin_page_html;
    const char *at = strstr(html, ph);
    rs_buf b = {0};
    if (at) {
        rs_buf_append(&b, html, (size_t)(at - html));
        /* data_url_ok allows no quote, '<' or '>': '&' is the one character to escape */
        for (const char *p = url; *p; p++) {
            if (*p == '&')
                rs_buf_append(&b, "&amp;", 5);
            else
                rs_buf_putc(&b, (uint8_t)*p);
        }
        at += sizeof ph - 1;
        rs_buf_append(&b, at, rs_admin_page_html_len - (size_t)(at - html));
    } else {
        rs_buf_append(&b, html, rs_admin_page_html_len);
    }
    char csp[900];
    snprintf(csp, sizeof csp,
             "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
             "connect-src 'self'%s%s; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
             *origin ? " " : "", origin);
    add_header(r, "Content-Security-Policy", csp);
    add_header(r, "X-Frame-Options", "DENY");
    add_header(r, "Referrer-Policy", "no-referrer");
    size_t len = b.len;
    char *body = (char *)rs_buf_take(&b, &len);
    send_reply(r, 200, CT_HTML, body, len);
}

/* ------------------------------------------------------------------------------------------ */
/* slow and long routes                                                                       */

static void route_versions(rs_rctx *r, const rs_admin_query *q)
{
    uint64_t before = 0, limit = 0;
    if (!u64_param(r, q, "before", false, 0, &before) || !u64_param(r, q, "limit", false, 50, &limit))
        return;
    if (limit > 1000) {
        rs_admin_reply_error(r, 400, "bad_request", "parameter limit must be between 1 and 1000");
        return;
    }
    rs_job *j = new_job(r, JOB_VERSIONS);
    if (!j)
        return;
    j->n1 = before;
    j->limit = (unsigned)limit;
    submit(r, j);
}

static void route_version(rs_rctx *r, const char *tail)
{
    uint64_t n;
    if (rs_admin_parse_u64(tail, &n) != 0) {
        rs_admin_reply_error(r, 400, "bad_request", "version must be a positive integer, got \"%.40s\"", tail);
        return;
    }
    rs_job *j = new_job(r, JOB_VERSION);
    if (!j)
        return;
    j->n1 = n;
    submit(r, j);
}

static void route_diff(rs_rctx *r, const rs_admin_query *q)
{
    uint64_t from, to;
    if (!u64_param(r, q, "from", true, 0, &from) || !u64_param(r, q, "to", true, 0, &to))
        return;
    const char *fmt = rs_admin_query_get(q, "format");
    bool plan = false;
    if (fmt && strcmp(fmt, "plan") == 0)
        plan = true;
    else if (fmt && *fmt && strcmp(fmt, "json") != 0) {
        rs_admin_reply_error(r, 400, "bad_request", "parameter format must be \"plan\" or \"json\"");
        return;
    }
    rs_job *j = new_job(r, JOB_DIFF);
    if (!j)
        return;
    j->n1 = from;
    j->n2 = to;
    j->plan = plan;
    submit(r, j);
}

static void route_registry(rs_rctx *r, const rs_admin_query *q)
{
    char *project, *kind = NULL, *name = NULL;
    if (!opt_filter(r, q, "project", &project))
        return;
    if (!opt_filter(r, q, "kind", &kind) || !opt_filter(r, q, "name", &name)) {
        free(project);
        free(kind);
        return;
    }
    rs_job *j = new_job(r, JOB_REGISTRY);
    if (!j) {
        free(project);
        free(kind);
        free(name);
        return;
    }
    j->s1 = project;
    j->s2 = kind;
    j->s3 = name;
    submit(r, j);
}

static bool region_name_ok(const char *s)
{
    return rs_admin_regions_valid(s) && !strchr(s, ',') && strcmp(s, "all") != 0;
}

static void route_drift(rs_rctx *r, const rs_admin_query *q)
{
    const char *region = rs_admin_query_get(q, "region"), *other = rs_admin_query_get(q, "other");
    if (region && !*region)
        region = NULL;
    if (other && !*other)
        other = NULL;
    if (!region != !other) {
        rs_admin_reply_error(r, 400, "bad_request", "parameters region and other go together (compare two regions)");
        return;
    }
    if (region && (!region_name_ok(region) || !region_name_ok(other))) {
        rs_admin_reply_error(r, 400, "bad_request", "region names are letters, digits, '.', '_' and '-'");
        return;
    }
    if (!region && !r->pretty && r->a->p.drift_text) {
        /* the fleet view as serialized once per refresh: no worker, no store, a copy */
        size_t len = 0;
        char *text = r->a->p.drift_text(r->a->p.ctx, &len);
        if (text) {
            send_reply(r, 200, CT_JSON, text, len);
            return;
        }
    }
    rs_job *j = new_job(r, JOB_DRIFT);
    if (!j)
        return;
    j->s1 = region ? strdup(region) : NULL;
    j->s2 = other ? strdup(other) : NULL;
    submit(r, j);
}

static void route_wait(rs_rctx *r, const rs_admin_query *q)
{
    rs_admin *a = r->a;
    uint64_t version;
    if (!u64_param(r, q, "version", true, 0, &version))
        return;
    const char *regions = rs_admin_query_get(q, "regions");
    if (!regions || !*regions)
        regions = "all";
    if (!rs_admin_regions_valid(regions)) {
        rs_admin_reply_error(r, 400, "bad_request",
                             "parameter regions must be \"all\" or a comma list of region names");
        return;
    }
    int64_t timeout = DEFAULT_WAIT_MS;
    const char *t = rs_admin_query_get(q, "timeout");
    if (t && (rs_duration_parse_ms(t, &timeout) != 0 || timeout <= 0 || timeout > MAX_WAIT_MS)) {
        rs_admin_reply_error(r, 400, "bad_request", "parameter timeout must be a duration from 1ms to 10m (\"30s\")");
        return;
    }
    if (a->nwaiters >= MAX_WAITERS) {
        a->busy_rejects++;
        rs_admin_reply_error(r, 503, "busy", "too many open /v1/wait requests; retry later");
        return;
    }
    rs_waiter *w = calloc(1, sizeof *w);
    if (!w || !(w->regions = strdup(regions)) || !(w->deadline = evtimer_new(a->base, on_waiter_deadline, w))) {
        rs_admin_waiter_free(w);
        rs_admin_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    w->r = *r;
    r->req = NULL;
    r->conn = NULL;
    w->version = version;
    w->timeout_ms = timeout;
    w->started_ms = rs_mono_ms();
    w->next = a->waiters;
    if (a->waiters)
        a->waiters->prev = w;
    a->waiters = w;
    a->nwaiters++;
    struct timeval tv = {.tv_sec = (time_t)(timeout / 1000), .tv_usec = (suseconds_t)((timeout % 1000) * 1000)};
    evtimer_add(w->deadline, &tv);
    /* a client that goes away frees its slot at once, not at the timeout */
    rs_admin_conn_watch_hup(w->r.conn, on_waiter_client_gone, w);
    rs_admin_wait_schedule(a, w);
}

static const char *action_of(rs_route rt)
{
    return ROUTES[rt].path + 4; /* "/v1/sync" -> "sync" */
}

static void route_control(rs_rctx *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t len = evbuffer_get_length(in);
    json_t *body = NULL;
    if (len > 0) {
        char why[256];
        if (rs_admin_parse_body((const char *)evbuffer_pullup(in, -1), len, &body, why, sizeof why) != 0) {
            rs_admin_reply_error(r, 400, "bad_json", "%s", why);
            return;
        }
    }
    if (r->route == RT_PIN || r->route == RT_ROLLBACK) {
        json_t *v = json_object_get(body, "version");
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            json_decref(body);
            rs_admin_reply_error(r, 400, "bad_request", "%s needs {\"version\": N} with N a positive integer",
                                 action_of(r->route));
            return;
        }
    }
    rs_job *j = new_job(r, JOB_CONTROL);
    if (!j) {
        json_decref(body);
        return;
    }
    j->s1 = strdup(action_of(r->route));
    j->body = body;
    submit(r, j);
}

/* POST /v1/promote {"store": "NAME"} */
static void route_promote(rs_rctx *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t len = evbuffer_get_length(in);
    json_t *body = NULL;
    char why[256];
    if (len > 0 && rs_admin_parse_body((const char *)evbuffer_pullup(in, -1), len, &body, why, sizeof why) != 0) {
        rs_admin_reply_error(r, 400, "bad_json", "%s", why);
        return;
    }
    const char *store = json_string_value(json_object_get(body, "store"));
    if (!store || !*store || strlen(store) > 200) {
        json_decref(body);
        rs_admin_reply_error(r, 400, "bad_request",
                             "promote needs {\"store\": \"NAME\"} with NAME a replica's name from the configuration");
        return;
    }
    rs_job *j = new_job(r, JOB_PROMOTE);
    if (!j) {
        json_decref(body);
        return;
    }
    j->s1 = strdup(store);
    json_decref(body);
    submit(r, j);
}

/* ------------------------------------------------------------------------------------------ */
/* dispatch                                                                                   */

static bool provider_has(const rs_admin_provider *p, rs_route rt)
{
    switch (rt) {
    case RT_STATUS: return p->status != NULL;
    case RT_VERSIONS: return p->versions != NULL;
    case RT_VERSION: return p->version != NULL;
    case RT_DIFF: return p->diff != NULL;
    case RT_REGISTRY: return p->registry != NULL;
    case RT_DRIFT: return p->drift != NULL;
    case RT_WAIT: return p->wait_check != NULL;
    case RT_SYNC: case RT_PAUSE: case RT_RESUME: case RT_PIN: case RT_UNPIN: case RT_ROLLBACK:
    case RT_PUBLISH: return p->control != NULL;
    case RT_PROMOTE: return p->promote != NULL;
    default: return true;
    }
}

void rs_admin_on_request(struct evhttp_request *req, void *arg)
{
    rs_admin *a = arg;
    rs_rctx r = {.a = a, .req = req, .route = RT_OTHER, .t0_ns = rs_mono_ns()};
    r.conn = rs_admin_conn_begin(a, req);
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    r.head = m == EVHTTP_REQ_HEAD;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);

    if (a->loopback) {
        /* DNS rebinding: a loopback-only API answers only requests addressed to loopback */
        const char *host = evhttp_find_header(in, "Host");
        if (host && !rs_admin_host_is_loopback(host)) {
            rs_admin_reply_error(&r, 421, "misdirected_request",
                                 "this admin API listens on loopback; the Host header must name it");
            return;
        }
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path)
        path = "/";
    const char *tail = NULL;
    r.route = rs_admin_match_route(path, &tail);
    if (r.route == RT_OTHER) {
        rs_admin_reply_error(&r, 404, "not_found", "no such route: %.200s", path);
        return;
    }
    /* While the server stops (SIGTERM, or a reload that hands its socket to the next one), the
       probes and fast reads are still answered from the provider's cached state, which stays
       valid until rs_admin_stop returns: a reload is not a failed probe. Slow calls and long
       polls need the workers, which are gone. */
    if (a->stopping && !(r.route == RT_HEALTHZ || r.route == RT_READYZ || r.route == RT_METRICS || r.route == RT_STATUS)) {
        rs_admin_reply_error(&r, 503, "shutting_down", "the admin API is shutting down");
        return;
    }
    bool post_route = ROUTES[r.route].post;
    bool method_ok = post_route ? m == EVHTTP_REQ_POST : (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD);
    if (!method_ok) {
        add_header(&r, "Allow", post_route ? "POST" : "GET, HEAD");
        rs_admin_reply_error(&r, 405, "method_not_allowed", "%s %s is not allowed (use %s)", method_name(m),
                             rs_admin_route_names[r.route], post_route ? "POST" : "GET");
        return;
    }
    bool needs_auth = post_route || (a->auth_reads && (r.route == RT_PAGE || r.route >= RT_STATUS));
    if (needs_auth && a->has_token) {
        bool present = false;
        if (!check_token(a, req, &present)) {
            char peer[64];
            peer_of(req, peer, sizeof peer);
            a->auth_failures++;
            RS_LOGW("admin", "auth_failed route=%s reason=%s peer=%s", rs_admin_route_names[r.route],
                    present ? "wrong_token" : "missing_token", peer);
            add_header(&r, "WWW-Authenticate",
                       present ? "Bearer realm=\"regsync\", error=\"invalid_token\"" : "Bearer realm=\"regsync\"");
            rs_admin_reply_error(&r, 401, "unauthorized", present ? "invalid bearer token" : "missing bearer token");
            return;
        }
    }
    if (post_route && !origin_ok(a, req)) {
        rs_admin_reply_error(&r, 403, "forbidden", "cross-origin requests are refused");
        return;
    }
    if (!provider_has(&a->p, r.route)) {
        rs_admin_reply_error(&r, 501, "not_implemented", "%s is not available on this agent",
                             rs_admin_route_names[r.route]);
        return;
    }
    rs_admin_query q;
    rs_error qe = {0};
    if (rs_admin_query_parse(uri ? evhttp_uri_get_query(uri) : NULL, &q, &qe) != RS_OK) {
        rs_admin_reply_error(&r, 400, "bad_request", "%s", qe.msg);
        return;
    }
    r.pretty = bool_param(rs_admin_query_get(&q, "pretty"));

    switch (r.route) {
    case RT_HEALTHZ: {
        static const char ok[] = "{\"status\":\"ok\"}\n";
        send_reply(&r, 200, CT_JSON, strdup(ok), sizeof ok - 1);
        break;
    }
    case RT_READYZ: route_readyz(&r, &q); break;
    case RT_METRICS: route_metrics(&r); break;
    case RT_PAGE: route_page(&r); break;
    case RT_STATUS: {
        json_t *s = a->p.status(a->p.ctx);
        if (!s)
            rs_admin_reply_error(&r, 503, "unavailable", "status is not available yet");
        else
            send_json(&r, 200, s);
        break;
    }
    case RT_VERSIONS: route_versions(&r, &q); break;
    case RT_VERSION: route_version(&r, tail); break;
    case RT_DIFF: route_diff(&r, &q); break;
    case RT_REGISTRY: route_registry(&r, &q); break;
    case RT_DRIFT: route_drift(&r, &q); break;
    case RT_WAIT: route_wait(&r, &q); break;
    case RT_PROMOTE: route_promote(&r); break;
    default: route_control(&r); break;
    }
    rs_admin_query_free(&q);
    if (r.req) /* a handler that forgot to answer: never leave a client hanging */
        rs_admin_reply_error(&r, 500, "internal", "no answer");
}
