/* test_admin_http.c: the admin HTTP API over real sockets.
 *
 * The real admin server (admin/rs_admin.c on libevent) is started on 127.0.0.1 port 0 with a
 * test provider: a small in-test implementation returning canned but consistent JSON (region
 * eu-central-1 at version 7 of 9; four regions in the drift table), with switches for
 * readiness, a global-store outage, slow calls and the long-poll target. The daemon's real
 * provider (sync engine + journal) is tested end to end elsewhere. Clients are libcurl and,
 * for slow clients, raw sockets.
 *
 * Covered: every route's success and failure; bearer auth (missing, wrong, right; constant-time
 * compare is by construction); 404 / 405 with Allow; bad JSON and bad versions (400); oversized
 * headers (400) and bodies (413); Host checks against DNS rebinding (421); cross-origin POSTs
 * (403); slowloris clients (half a header, a byte-at-a-time trickle, a silent connection) cut
 * off after request_timeout while other requests are served; non-loopback binding refused
 * without a token; /v1/wait released by rs_admin_notify (200) and timing out (408); slow
 * provider calls answered 503 after request_timeout; fast routes unaffected by hung slow calls
 * (p99 of /healthz printed); TLS; auth_reads; shutdown with a waiter; the status page's HTML
 * and, when /usr/bin/chromium exists, the page rendered by headless Chromium.
 *
 * Serve mode for bench/bench_admin.sh: RS_ADMIN_SERVE_SECONDS=N runs the canned server for N
 * seconds instead of the tests and prints "ADDRESS host:port" (RS_ADMIN_SERVE_SLOW_MS makes the
 * slow calls sleep, to imitate a hung store).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "rs_admin.h"
#include "rs_log.h"
#include "rs_test.h"
#include "rs_time.h"

#define TOKEN "test-token-0123456789abcdef"
#define HEAD_VERSION 9

/* ------------------------------------------------------------------------------------------ */
/* the test provider                                                                          */

typedef struct tprov {
    atomic_int slow_ms;
    atomic_bool ready;
    atomic_bool store_down;
    atomic_ullong applied;
    atomic_int wait_checks;
    atomic_int controls;
    atomic_llong last_version;
    bool publisher;
    const char *data_url;
    pthread_mutex_t mu;
    char last_action[32];
} tprov;

static void slow(tprov *t)
{
    int ms = atomic_load(&t->slow_ms);
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static json_t *tp_status(void *ctx)
{
    tprov *t = ctx;
    return json_pack("{s:s,s:I,s:I,s:n,s:s,s:s,s:s,s:s,s:o,s:b,s:n,s:[s]}", "region", "eu-central-1",
                     "applied_version", (json_int_t)atomic_load(&t->applied), "head_version",
                     (json_int_t)HEAD_VERSION, "attempted_version", "digest",
                     "9f2c4e1b7a0d3c5e8f6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6", "target_digest",
                     "9f2c4e1b7a0d3c5e8f6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6", "source_etag", "\"e7\"",
                     "last_success", "2026-11-28T08:00:00.000Z", "last_error", json_null(), "paused", 0,
                     "pinned_version", "filters", "*");
}

static bool tp_ready(void *ctx, json_t **checks)
{
    tprov *t = ctx;
    bool ok = atomic_load(&t->ready);
    *checks = json_pack("[{s:s,s:b,s:s},{s:s,s:b,s:s}]", "name", "local_copy", "ok", 1, "detail",
                        "registry.db present", "name", "freshness", "ok", ok, "detail",
                        ok ? "last success 2 s ago" : "last success 900 s ago (max_staleness 600 s)");
    return ok;
}

static void tp_metrics(void *ctx, rs_buf *out)
{
    tprov *t = ctx;
    rs_prom_help(out, "regsync_applied_version", "gauge", "the version the local copy holds");
    rs_prom_sample(out, "regsync_applied_version", NULL, (double)atomic_load(&t->applied));
    rs_prom_help(out, "regsync_errors_total", "counter", "errors by kind");
    rs_prom_sample(out, "regsync_errors_total", "kind=\"io\"", 2);
}

static json_t *version_obj(uint64_t v)
{
    return json_pack("{s:I,s:s,s:{s:i,s:i},s:s}", "version", (json_int_t)v, "applied_at",
                     "2026-11-28T08:00:00.000Z", "ops", "put", (int)(v % 3 + 1), "delete", (int)(v % 2), "digest",
                     "a1b2c3d4e5f60718293a4b5c6d7e8f90");
}

static json_t *tp_versions(void *ctx, uint64_t before, unsigned limit, rs_error *err)
{
    (void)err;
    tprov *t = ctx;
    slow(t);
    json_t *arr = json_array();
    uint64_t v = before ? before - 1 : HEAD_VERSION;
    if (v > HEAD_VERSION)
        v = HEAD_VERSION;
    for (; v >= 1 && json_array_size(arr) < limit; v--)
        json_array_append_new(arr, version_obj(v));
    return json_pack("{s:o,s:o}", "versions", arr, "next_before", v >= 1 ? json_integer((json_int_t)v + 1) : json_null());
}

static json_t *tp_version(void *ctx, uint64_t n, rs_error *err)
{
    tprov *t = ctx;
    slow(t);
    if (n > HEAD_VERSION) {
        rs_error_set(err, RS_ENOTFOUND, "version %llu is not in the journal", (unsigned long long)n);
        return NULL;
    }
    json_t *o = version_obj(n);
    json_object_set_new(o, "operations",
                        json_pack("[{s:s,s:s,s:s,s:s}]", "op", "PUT", "kind", "feature_view", "project", "demo",
                                  "name", "driver_stats"));
    return o;
}

static json_t *tp_diff(void *ctx, uint64_t from, uint64_t to, bool plan, rs_error *err)
{
    tprov *t = ctx;
    slow(t);
    if (from > HEAD_VERSION || to > HEAD_VERSION) {
        rs_error_set(err, RS_ENOTFOUND, "version %llu is not in the log",
                     (unsigned long long)(from > HEAD_VERSION ? from : to));
        return NULL;
    }
    if (plan)
        return json_pack("{s:s}", "plan", "~ feature_view driver_stats (project demo)\n    ttl: 3600s -> 7200s\n");
    return json_pack("{s:I,s:I,s:[{s:s,s:s,s:s,s:s}]}", "from", (json_int_t)from, "to", (json_int_t)to, "changes",
                     "op", "PUT", "kind", "feature_view", "name", "driver_stats", "class", "spec");
}

static json_t *jstr_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *tp_registry(void *ctx, const char *project, const char *kind, const char *name, rs_error *err)
{
    tprov *t = ctx;
    slow(t);
    if (project && strcmp(project, "nope") == 0) {
        rs_error_set(err, RS_ENOTFOUND, "project nope is not in the registry");
        return NULL;
    }
    return json_pack("{s:{s:o,s:o,s:o},s:[{s:s,s:s,s:s}]}", "filters", "project", jstr_or_null(project), "kind",
                     jstr_or_null(kind), "name", jstr_or_null(name), "objects", "kind", "entity", "project", "demo",
                     "name", "driver");
}

static json_t *region(const char *name, int applied, double lag, const char *state)
{
    return json_pack("{s:s,s:i,s:i,s:f,s:s}", "region", name, "applied_version", applied, "versions_behind",
                     HEAD_VERSION - applied, "lag_seconds", lag, "state", state);
}

static json_t *tp_drift(void *ctx, const char *reg, const char *other, rs_error *err)
{
    tprov *t = ctx;
    slow(t);
    if (atomic_load(&t->store_down)) {
        rs_error_set(err, RS_EUNAVAILABLE, "global store unreachable: connection refused");
        return NULL;
    }
    if (!reg) {
        json_t *arr = json_array();
        json_array_append_new(arr, region("us-west-2", 9, 0.4, "in_sync"));
        json_array_append_new(arr, region("eu-central-1", (int)atomic_load(&t->applied), 42.0, "behind"));
        json_array_append_new(arr, region("ap-south-1", 5, 3600, "stale"));
        json_array_append_new(arr, region("sa-east-1", 9, 1, "diverged"));
        return json_pack("{s:i,s:o}", "head_version", HEAD_VERSION, "regions", arr);
    }
    const char *known[] = {"us-west-2", "eu-central-1", "ap-south-1", "sa-east-1"};
    bool rk = false, ok = false;
    for (int i = 0; i < 4; i++) {
        rk |= strcmp(reg, known[i]) == 0;
        ok |= strcmp(other, known[i]) == 0;
    }
    if (!rk || !ok) {
        rs_error_set(err, RS_ENOTFOUND, "region %s has not reported", !rk ? reg : other);
        return NULL;
    }
    return json_pack("{s:s,s:s,s:[{s:s,s:s,s:s,s:s}]}", "region", reg, "other", other, "differences", "kind",
                     "feature_view", "project", "demo", "name", "driver_stats", "class", "spec");
}

static json_t *tp_control(void *ctx, const char *action, const json_t *body, rs_error *err)
{
    tprov *t = ctx;
    slow(t);
    if (strcmp(action, "publish") == 0 && !t->publisher) {
        rs_error_set(err, RS_EUNSUPPORTED, "this agent does not publish");
        return NULL;
    }
    pthread_mutex_lock(&t->mu);
    snprintf(t->last_action, sizeof t->last_action, "%s", action);
    pthread_mutex_unlock(&t->mu);
    json_t *v = json_object_get(body, "version");
    atomic_store(&t->last_version, v ? (long long)json_integer_value(v) : -1);
    atomic_fetch_add(&t->controls, 1);
    return json_pack("{s:s,s:b,s:O}", "action", action, "ok", 1, "version", v ? v : json_null());
}

static int tp_wait_check(void *ctx, uint64_t version, const char *regions, bool *done, json_t **detail,
                         rs_error *err)
{
    tprov *t = ctx;
    atomic_fetch_add(&t->wait_checks, 1);
    if (strstr(regions, "nowhere"))
        return rs_error_set(err, RS_EINVALID, "unknown region nowhere");
    uint64_t applied = atomic_load(&t->applied);
    *done = applied >= version;
    *detail = json_pack("{s:{s:I},s:I}", "applied", "eu-central-1", (json_int_t)applied, "target",
                        (json_int_t)version);
    return RS_OK;
}

static const char *tp_data_url(void *ctx) { return ((tprov *)ctx)->data_url; }

static tprov g_tp;

static rs_admin_provider provider_of(tprov *t)
{
    rs_admin_provider p = {.ctx = t,
                           .status = tp_status,
                           .ready = tp_ready,
                           .metrics = tp_metrics,
                           .versions = tp_versions,
                           .version = tp_version,
                           .diff = tp_diff,
                           .registry = tp_registry,
                           .drift = tp_drift,
                           .control = tp_control,
                           .wait_check = tp_wait_check,
                           .status_page_data_url = tp_data_url};
    return p;
}

static void tp_reset(tprov *t)
{
    atomic_store(&t->slow_ms, 0);
    atomic_store(&t->ready, true);
    atomic_store(&t->store_down, false);
    atomic_store(&t->applied, 7);
    atomic_store(&t->wait_checks, 0);
    atomic_store(&t->controls, 0);
    atomic_store(&t->last_version, 0);
    t->publisher = false;
    t->data_url = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* HTTP client helpers                                                                        */

typedef struct resp {
    long code;
    CURLcode cc;
    rs_buf body;
    rs_buf hdrs;
    double secs;
} resp;

static void resp_free(resp *r)
{
    rs_buf_free(&r->body);
    rs_buf_free(&r->hdrs);
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    rs_buf_append(ud, p, sz * n);
    return sz * n;
}

static char g_base[128]; /* "http://127.0.0.1:PORT" of the current server */

/* method, path (appended to g_base unless it starts with "http"), optional body, NULL-terminated
 * extra headers. Returns the HTTP code (0 on transport errors). */
static long http_ex(CURL *reuse, const char *method, const char *path, const char *body, size_t body_len,
                    const char *const *headers, bool insecure, resp *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = reuse ? reuse : curl_easy_init();
    char url[4096];
    if (strncmp(path, "http", 4) == 0)
        snprintf(url, sizeof url, "%s", path);
    else
        snprintf(url, sizeof url, "%s%s", g_base, path);
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &out->hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 40L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    if (insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") == 0 ? NULL : method);
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        if (body) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        } else if (strcmp(method, "POST") == 0) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
        }
        if (strcmp(method, "GET") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    int64_t t0 = rs_mono_ns();
    out->cc = curl_easy_perform(c);
    out->secs = (double)(rs_mono_ns() - t0) / 1e9;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->code);
    if (out->cc != CURLE_OK)
        out->code = 0;
    rs_buf_cstr(&out->body);
    rs_buf_cstr(&out->hdrs);
    curl_slist_free_all(hl);
    if (!reuse)
        curl_easy_cleanup(c);
    else
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    return out->code;
}

static long http(const char *method, const char *path, const char *body, const char *const *headers, resp *out)
{
    return http_ex(NULL, method, path, body, body ? strlen(body) : 0, headers, false, out);
}

static const char *const AUTH[] = {"Authorization: Bearer " TOKEN, NULL};

static const char *body_of(resp *r) { return r->body.data ? (const char *)r->body.data : ""; }

/* Header value (case-insensitive name) copied into out; false if absent. */
static bool header(resp *r, const char *name, char *out, size_t n)
{
    const char *h = r->hdrs.data ? (const char *)r->hdrs.data : "";
    size_t nl = strlen(name);
    for (const char *line = h; *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t ll = eol ? (size_t)(eol - line) : strlen(line);
        if (ll > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = ll - (size_t)(v - line);
            snprintf(out, n, "%.*s", (int)vl, v);
            return true;
        }
        if (!eol)
            break;
        line = eol + 2;
    }
    return false;
}

static json_t *json_of(resp *r)
{
    json_error_t je;
    return json_loads(body_of(r), 0, &je);
}

/* The error code string of an error body, or "" */
static const char *err_code(resp *r, char *buf, size_t n)
{
    json_t *j = json_of(r);
    const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    snprintf(buf, n, "%s", c ? c : "");
    json_decref(j);
    return buf;
}

static void expect_error(resp *r, long status, const char *code)
{
    char b[64];
    CU_ASSERT_EQUAL(r->code, status);
    CU_ASSERT_STRING_EQUAL(err_code(r, b, sizeof b), code);
    char ct[128] = "";
    header(r, "Content-Type", ct, sizeof ct);
    CU_ASSERT_STRING_EQUAL(ct, "application/json");
    if (r->code != status || strcmp(b, code) != 0)
        fprintf(stderr, "expected %ld %s, got %ld: %s\n", status, code, r->code, body_of(r));
}

/* ------------------------------------------------------------------------------------------ */
/* servers                                                                                    */

static rs_admin *g_srv;

static rs_admin *start_with(rs_admin_config cfg, tprov *t)
{
    rs_admin_provider p = provider_of(t);
    rs_admin *a = NULL;
    rs_error e = {0};
    if (!cfg.listen)
        cfg.listen = "127.0.0.1:0";
    if (rs_admin_start(&cfg, &p, &a, &e) != RS_OK) {
        fprintf(stderr, "rs_admin_start: %s\n", e.msg);
        return NULL;
    }
    snprintf(g_base, sizeof g_base, "%s://%s", cfg.tls_cert ? "https" : "http", rs_admin_bound_address(a));
    return a;
}

/* the default server: a token, default limits and timeouts */
static int suite_init(void)
{
    tp_reset(&g_tp);
    rs_admin_config c = {.token = TOKEN};
    g_srv = start_with(c, &g_tp);
    return g_srv ? 0 : 1;
}

static int suite_clean(void)
{
    rs_admin_stop(g_srv);
    g_srv = NULL;
    return 0;
}

static void use_default(void)
{
    snprintf(g_base, sizeof g_base, "http://%s", rs_admin_bound_address(g_srv));
    tp_reset(&g_tp);
}

/* ------------------------------------------------------------------------------------------ */
/* route tests                                                                                */

static void test_fast_routes(void)
{
    use_default();
    resp r;
    char v[256];
    CU_ASSERT_EQUAL(http("GET", "/healthz", NULL, NULL, &r), 200);
    CU_ASSERT_STRING_EQUAL(body_of(&r), "{\"status\":\"ok\"}\n");
    CU_ASSERT(header(&r, "Content-Type", v, sizeof v) && strcmp(v, "application/json") == 0);
    CU_ASSERT(header(&r, "Cache-Control", v, sizeof v) && strcmp(v, "no-store") == 0);
    resp_free(&r);
    CU_ASSERT_EQUAL(http("HEAD", "/healthz", NULL, NULL, &r), 200);
    CU_ASSERT_EQUAL(r.body.len, 0);
    CU_ASSERT(header(&r, "Content-Length", v, sizeof v) && atoi(v) == 16);
    resp_free(&r);

    CU_ASSERT_EQUAL(http("GET", "/v1/status", NULL, NULL, &r), 200);
    json_t *j = json_of(&r);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "region")), "eu-central-1");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "applied_version")), 7);
    json_decref(j);
    resp_free(&r);
    CU_ASSERT_EQUAL(http("GET", "/v1/status?pretty", NULL, NULL, &r), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(body_of(&r), "\n  \"region\": \"eu-central-1\""));
    resp_free(&r);

    CU_ASSERT_EQUAL(http("GET", "/readyz", NULL, NULL, &r), 200);
    j = json_of(&r);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "status")), "ready");
    CU_ASSERT_PTR_NULL(json_object_get(j, "checks"));
    json_decref(j);
    resp_free(&r);
    CU_ASSERT_EQUAL(http("GET", "/readyz?verbose", NULL, NULL, &r), 200);
    j = json_of(&r);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "checks")), 2);
    json_decref(j);
    resp_free(&r);
    atomic_store(&g_tp.ready, false);
    CU_ASSERT_EQUAL(http("GET", "/readyz", NULL, NULL, &r), 503);
    expect_error(&r, 503, "not_ready");
    CU_ASSERT_PTR_NOT_NULL(strstr(body_of(&r), "not ready: freshness"));
    resp_free(&r);
    CU_ASSERT_EQUAL(http("GET", "/readyz?verbose=1", NULL, NULL, &r), 503);
    j = json_of(&r);
    json_t *c1 = json_array_get(json_object_get(j, "checks"), 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c1, "name")), "freshness");
    CU_ASSERT(json_is_false(json_object_get(c1, "ok")));
    json_decref(j);
    resp_free(&r);
    atomic_store(&g_tp.ready, true);

    CU_ASSERT_EQUAL(http("GET", "/metrics", NULL, NULL, &r), 200);
    CU_ASSERT(header(&r, "Content-Type", v, sizeof v) && strcmp(v, "text/plain; version=0.0.4; charset=utf-8") == 0);
    const char *m = body_of(&r);
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "\nregsync_applied_version 7\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "regsync_errors_total{kind=\"io\"} 2\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "regsync_build_info{version=\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "# TYPE regsync_admin_requests_total counter\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "regsync_admin_requests_total{route=\"/healthz\",code=\"200\"}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "regsync_admin_requests_total{route=\"/readyz\",code=\"503\"} 2\n"));
    CU_ASSERT_PTR_NULL(strstr(m, TOKEN));
    resp_free(&r);
}

static void test_versions_routes(void)
{
    use_default();
    resp r;
    CU_ASSERT_EQUAL(http("GET", "/v1/versions", NULL, NULL, &r), 200);
    json_t *j = json_of(&r);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "versions")), 9);
    json_decref(j);
    resp_free(&r);
    CU_ASSERT_EQUAL(http("GET", "/v1/versions?before=5&limit=2", NULL, NULL, &r), 200);
    j = json_of(&r);
    json_t *vs = json_object_get(j, "versions");
    CU_ASSERT_EQUAL(json_array_size(vs), 2);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(vs, 0), "version")), 4);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(vs, 1), "version")), 3);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "next_before")), 3);
    json_decref(j);
    resp_free(&r);
    const char *bad[] = {"/v1/versions?limit=0", "/v1/versions?limit=abc", "/v1/versions?limit=1001",
                         "/v1/versions?before=-1", "/v1/versions?before=1.5", "/v1/versions?limit=1&limit=2",
                         "/v1/versions/abc", "/v1/versions/0", "/v1/versions/-3", "/v1/versions/99999999999999999999",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        http("GET", bad[i], NULL, NULL, &r);
        expect_error(&r, 400, "bad_request");
        resp_free(&r);
    }
    CU_ASSERT_EQUAL(http("GET", "/v1/versions/3", NULL, NULL, &r), 200);
    j = json_of(&r);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "version")), 3);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "operations")), 1);
    json_decref(j);
    resp_free(&r);
    http("GET", "/v1/versions/99", NULL, NULL, &r);
    expect_error(&r, 404, "not_found");
    CU_ASSERT_PTR_NOT_NULL(strstr(body_of(&r), "version 99 is not in the journal"));
    resp_free(&r);
    http("GET", "/v1/versions/3/extra", NULL, NULL, &r);
    expect_error(&r, 404, "not_found");
    resp_free(&r);
}

static void test_diff_registry_drift(void)
{
    use_default();
    resp r;
    CU_ASSERT_EQUAL(http("GET", "/v1/diff?from=2&to=5", NULL, NULL, &r), 200);
    json_t *j = json_of(&r);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "to")), 5);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "changes")), 1);
    json_decref(j);
    resp_free(&r);
    CU_ASSERT_EQUAL(http("GET", "/v1/diff?from=2&to=5&format=plan", NULL, NULL, &r), 200);
    j = json_of(&r);
    CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(j, "plan")), "ttl: 3600s -> 7200s"));
    json_decref(j);
    resp_free(&r);
    const char *bad[] = {"/v1/diff?from=2", "/v1/diff?to=2", "/v1/diff?from=x&to=2", "/v1/diff?from=1&to=2&format=xml",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        http("GET", bad[i], NULL, NULL, &r);
        expect_error(&r, 400, "bad_request");
        resp_free(&r);
    }
    http("GET", "/v1/diff?from=2&to=50", NULL, NULL, &r);
    expect_error(&r, 404, "not_found");
    resp_free(&r);

    CU_ASSERT_EQUAL(http("GET", "/v1/registry", NULL, NULL, &r), 200);
    j = json_of(&r);
    CU_ASSERT(json_is_null(json_object_get(json_object_get(j, "filters"), "project")));
    json_decref(j);
    resp_free(&r);
    CU_ASSERT_EQUAL(http("GET", "/v1/registry?project=demo&kind=feature_view&name=driver%20stats+v2", NULL, NULL, &r),
                    200);
    j = json_of(&r);
    json_t *f = json_object_get(j, "filters");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(f, "project")), "demo");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(f, "kind")), "feature_view");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(f, "name")), "driver stats v2");
    json_decref(j);
    resp_free(&r);
    http("GET", "/v1/registry?project=nope", NULL, NULL, &r);
    expect_error(&r, 404, "not_found");
    resp_free(&r);
    http("GET", "/v1/registry?project=a&project=b", NULL, NULL, &r);
    expect_error(&r, 400, "bad_request");
    resp_free(&r);
    http("GET", "/v1/registry?name=%01x", NULL, NULL, &r);
    expect_error(&r, 400, "bad_request");
    resp_free(&r);

    CU_ASSERT_EQUAL(http("GET", "/v1/drift", NULL, NULL, &r), 200);
    j = json_of(&r);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "regions")), 4);
    json_decref(j);
    resp_free(&r);
    CU_ASSERT_EQUAL(http("GET", "/v1/drift?region=us-west-2&other=eu-central-1", NULL, NULL, &r), 200);
    j = json_of(&r);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(json_object_get(j, "differences"), 0), "class")),
                           "spec");
    json_decref(j);
    resp_free(&r);
    http("GET", "/v1/drift?region=us-west-2", NULL, NULL, &r);
    expect_error(&r, 400, "bad_request");
    resp_free(&r);
    http("GET", "/v1/drift?region=us%20west&other=eu-central-1", NULL, NULL, &r);
    expect_error(&r, 400, "bad_request");
    resp_free(&r);
    http("GET", "/v1/drift?region=mars-1&other=us-west-2", NULL, NULL, &r);
    expect_error(&r, 404, "not_found");
    resp_free(&r);
    atomic_store(&g_tp.store_down, true);
    http("GET", "/v1/drift", NULL, NULL, &r);
    expect_error(&r, 503, "unavailable");
    CU_ASSERT_PTR_NOT_NULL(strstr(body_of(&r), "global store unreachable"));
    resp_free(&r);
    atomic_store(&g_tp.store_down, false);
}

static void test_control_and_auth(void)
{
    use_default();
    resp r;
    char v[256];
    const char *actions[] = {"sync", "pause", "resume", "unpin"};
    for (int i = 0; i < 4; i++) {
        char path[64];
        snprintf(path, sizeof path, "/v1/%s", actions[i]);
        http("POST", path, NULL, NULL, &r);
        expect_error(&r, 401, "unauthorized");
        CU_ASSERT(header(&r, "WWW-Authenticate", v, sizeof v) && strcmp(v, "Bearer realm=\"regsync\"") == 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(body_of(&r), "missing bearer token"));
        resp_free(&r);
        const char *wrong_same_len[] = {"Authorization: Bearer test-token-0123456789abcdeX", NULL};
        http("POST", path, NULL, wrong_same_len, &r);
        expect_error(&r, 401, "unauthorized");
        CU_ASSERT(header(&r, "WWW-Authenticate", v, sizeof v) && strstr(v, "error=\"invalid_token\""));
        CU_ASSERT_PTR_NULL(strstr(body_of(&r), TOKEN));
        resp_free(&r);
        const char *wrong_short[] = {"Authorization: Bearer x", NULL};
        http("POST", path, NULL, wrong_short, &r);
        expect_error(&r, 401, "unauthorized");
        resp_free(&r);
        const char *basic[] = {"Authorization: Basic dGVzdDp0ZXN0", NULL};
        http("POST", path, NULL, basic, &r);
        expect_error(&r, 401, "unauthorized");
        resp_free(&r);
        CU_ASSERT_EQUAL(http("POST", path, NULL, AUTH, &r), 200);
        json_t *j = json_of(&r);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "action")), actions[i]);
        json_decref(j);
        resp_free(&r);
        pthread_mutex_lock(&g_tp.mu);
        CU_ASSERT_STRING_EQUAL(g_tp.last_action, actions[i]);
        pthread_mutex_unlock(&g_tp.mu);
    }
    CU_ASSERT_EQUAL(atomic_load(&g_tp.controls), 4);
    /* a body on sync is passed through; whitespace is no body */
    CU_ASSERT_EQUAL(http("POST", "/v1/sync", "  \n", AUTH, &r), 200);
    resp_free(&r);

    /* pin / rollback need {"version": N} */
    const char *bad_bodies[] = {NULL, "{}", "{\"version\":\"5\"}", "{\"version\":0}", "{\"version\":-2}",
                                "{\"version\":1.5}", "{\"version\":null}", "{\"v\":5}"};
    for (int k = 0; k < 2; k++) {
        const char *path = k ? "/v1/rollback" : "/v1/pin";
        for (size_t i = 0; i < sizeof bad_bodies / sizeof *bad_bodies; i++) {
            http("POST", path, bad_bodies[i], AUTH, &r);
            expect_error(&r, 400, "bad_request");
            resp_free(&r);
        }
        CU_ASSERT_EQUAL(http("POST", path, "{\"version\": 5}", AUTH, &r), 200);
        CU_ASSERT_EQUAL(atomic_load(&g_tp.last_version), 5);
        resp_free(&r);
    }
    const char *bad_json[] = {"{", "{\"version\": 5,}", "[1]", "5", "{\"a\":1,\"a\":2}", "\xff"};
    for (size_t i = 0; i < sizeof bad_json / sizeof *bad_json; i++) {
        http("POST", "/v1/pin", bad_json[i], AUTH, &r);
        expect_error(&r, 400, "bad_json");
        resp_free(&r);
    }
    /* publish on a non-publishing agent */
    http("POST", "/v1/publish", NULL, AUTH, &r);
    expect_error(&r, 501, "not_implemented");
    CU_ASSERT_PTR_NOT_NULL(strstr(body_of(&r), "does not publish"));
    resp_free(&r);
    g_tp.publisher = true;
    CU_ASSERT_EQUAL(http("POST", "/v1/publish", NULL, AUTH, &r), 200);
    resp_free(&r);
    /* cross-origin POSTs */
    const char *evil[] = {"Authorization: Bearer " TOKEN, "Origin: http://evil.example", NULL};
    http("POST", "/v1/pause", NULL, evil, &r);
    expect_error(&r, 403, "forbidden");
    resp_free(&r);
    char same_origin[160];
    snprintf(same_origin, sizeof same_origin, "Origin: %s", g_base);
    const char *same[] = {"Authorization: Bearer " TOKEN, same_origin, NULL};
    CU_ASSERT_EQUAL(http("POST", "/v1/pause", NULL, same, &r), 200);
    resp_free(&r);
    /* GETs need no token (auth_reads off) */
    CU_ASSERT_EQUAL(http("GET", "/v1/status", NULL, NULL, &r), 200);
    resp_free(&r);
}

static void test_404_405_host(void)
{
    use_default();
    resp r;
    char v[128];
    http("GET", "/nope", NULL, NULL, &r);
    expect_error(&r, 404, "not_found");
    resp_free(&r);
    http("GET", "/v1/statusx", NULL, NULL, &r);
    expect_error(&r, 404, "not_found");
    resp_free(&r);
    http("GET", "/v1/sync", NULL, NULL, &r);
    expect_error(&r, 405, "method_not_allowed");
    CU_ASSERT(header(&r, "Allow", v, sizeof v) && strcmp(v, "POST") == 0);
    resp_free(&r);
    http("POST", "/healthz", "{}", AUTH, &r);
    expect_error(&r, 405, "method_not_allowed");
    CU_ASSERT(header(&r, "Allow", v, sizeof v) && strcmp(v, "GET, HEAD") == 0);
    resp_free(&r);
    const char *methods[] = {"DELETE", "PUT", "PATCH", "OPTIONS"};
    for (int i = 0; i < 4; i++) {
        http(methods[i], "/v1/status", NULL, NULL, &r);
        expect_error(&r, 405, "method_not_allowed");
        resp_free(&r);
    }
    /* DNS rebinding: a foreign Host on a loopback-bound API */
    const char *evil[] = {"Host: evil.example:8470", NULL};
    http("GET", "/v1/status", NULL, evil, &r);
    expect_error(&r, 421, "misdirected_request");
    resp_free(&r);
    const char *lh[] = {"Host: localhost:8470", NULL};
    CU_ASSERT_EQUAL(http("GET", "/v1/status", NULL, lh, &r), 200);
    resp_free(&r);
}

static void test_limits(void)
{
    use_default();
    resp r;
    /* 20 KiB of headers against the 16 KiB limit */
    size_t hn = 20 << 10;
    char *big = malloc(hn + 16);
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', hn);
    big[7 + hn] = '\0';
    const char *hdrs[] = {big, NULL};
    long code = http("GET", "/healthz", NULL, hdrs, &r);
    printf("\n  oversized headers -> %ld\n", code);
    CU_ASSERT(code == 400 || code == 431 || code == 413);
    resp_free(&r);
    free(big);
    /* just under the limit is fine */
    big = malloc(8 << 10);
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', (8 << 10) - 8);
    big[(8 << 10) - 1] = '\0';
    const char *ok_hdrs[] = {big, NULL};
    CU_ASSERT_EQUAL(http("GET", "/healthz", NULL, ok_hdrs, &r), 200);
    resp_free(&r);
    free(big);

    /* 2 MiB body against the 1 MiB limit, with and without Expect: 100-continue */
    size_t bn = 2 << 20;
    char *body = malloc(bn);
    memset(body, ' ', bn);
    body[0] = '{';
    body[bn - 1] = '}';
    const char *no_expect[] = {"Authorization: Bearer " TOKEN, "Expect:", NULL};
    code = http_ex(NULL, "POST", "/v1/sync", body, bn, no_expect, false, &r);
    printf("  oversized body -> %ld (curl %d)\n", code, (int)r.cc);
    CU_ASSERT_EQUAL(code, 413);
    resp_free(&r);
    code = http_ex(NULL, "POST", "/v1/sync", body, bn, AUTH, false, &r);
    printf("  oversized body with Expect: 100-continue -> %ld (curl %d)\n", code, (int)r.cc);
    CU_ASSERT_EQUAL(code, 413);
    resp_free(&r);
    /* 900 KiB is under the limit */
    body[900 << 10] = '}';
    CU_ASSERT_EQUAL(http_ex(NULL, "POST", "/v1/sync", body, (900 << 10) + 1, no_expect, false, &r), 200);
    resp_free(&r);
    free(body);
    CU_ASSERT_EQUAL(http("GET", "/healthz", NULL, NULL, &r), 200);
    resp_free(&r);
}

/* ------------------------------------------------------------------------------------------ */
/* slow clients                                                                               */

static int raw_connect(const char *bound)
{
    char host[64];
    snprintf(host, sizeof host, "%s", bound);
    char *colon = strrchr(host, ':');
    if (!colon)
        return -1;
    *colon = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    inet_pton(AF_INET, host, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* true when the server closed fd (EOF or reset), waiting at most ms; data is read and dropped */
static bool closed_within(int fd, int ms)
{
    int64_t end = rs_mono_ms() + ms;
    for (;;) {
        int64_t left = end - rs_mono_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            return false;
        char b[4096];
        ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            return true;
    }
}

typedef struct slowloris {
    const char *bound;
    int mode; /* 0: half a header then silence, 1: one byte every 200 ms, 2: connect and say nothing */
    double closed_after; /* seconds, or -1 if still open after 6 s */
} slowloris;

static void *slowloris_main(void *arg)
{
    slowloris *s = arg;
    s->closed_after = -1;
    int fd = raw_connect(s->bound);
    if (fd < 0)
        return NULL;
    int64_t t0 = rs_mono_ms();
    static const char half[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaa";
    if (s->mode == 0)
        send(fd, half, sizeof half - 1, MSG_NOSIGNAL);
    size_t i = 0;
    while (rs_mono_ms() - t0 < 6000) {
        if (s->mode == 1) {
            char c = i < sizeof half - 1 ? half[i] : 'a';
            i++;
            if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
                s->closed_after = (double)(rs_mono_ms() - t0) / 1000.0;
                break;
            }
        }
        if (closed_within(fd, s->mode == 1 ? 200 : 100)) {
            s->closed_after = (double)(rs_mono_ms() - t0) / 1000.0;
            break;
        }
    }
    close(fd);
    return NULL;
}

static void test_slowloris(void)
{
    tprov t;
    memset(&t, 0, sizeof t);
    pthread_mutex_init(&t.mu, NULL);
    tp_reset(&t);
    rs_admin_config c = {.request_timeout_ms = 1000};
    rs_admin *a = start_with(c, &t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    slowloris s[3] = {{rs_admin_bound_address(a), 0, 0}, {rs_admin_bound_address(a), 1, 0},
                      {rs_admin_bound_address(a), 2, 0}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, slowloris_main, &s[i]);
    /* meanwhile, other clients are served promptly */
    int ok = 0;
    double worst = 0;
    int64_t t0 = rs_mono_ms();
    while (rs_mono_ms() - t0 < 2500) {
        resp r;
        if (http("GET", "/healthz", NULL, NULL, &r) == 200)
            ok++;
        if (r.secs > worst)
            worst = r.secs;
        resp_free(&r);
        usleep(20000);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    printf("\n  slowloris closed after: half-header %.2fs, trickle %.2fs, silent %.2fs; %d /healthz served "
           "meanwhile, slowest %.1f ms\n",
           s[0].closed_after, s[1].closed_after, s[2].closed_after, ok, worst * 1000);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT(s[i].closed_after >= 0.8);
        CU_ASSERT(s[i].closed_after >= 0 && s[i].closed_after <= 2.5);
    }
    CU_ASSERT(ok >= 20);
    CU_ASSERT(worst < 0.5);
    resp r;
    http("GET", "/metrics", NULL, NULL, &r);
    /* the trickle can only be cut by the deadline; the other two may meet the idle timeout first */
    const char *m = strstr(body_of(&r), "\nregsync_admin_connections_timed_out_total ");
    int cut = m ? atoi(m + strlen("\nregsync_admin_connections_timed_out_total ")) : -1;
    printf("  regsync_admin_connections_timed_out_total %d\n", cut);
    CU_ASSERT(cut >= 1);
    resp_free(&r);

    /* keep-alive: a second request on the same connection gets its own deadline, and a
       connection idle between requests is closed by the idle timeout */
    int fd = raw_connect(rs_admin_bound_address(a));
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    char buf[1024];
    for (int k = 0; k < 2; k++) {
        usleep(600000);
        CU_ASSERT_EQUAL(send(fd, req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
        struct pollfd p = {.fd = fd, .events = POLLIN};
        CU_ASSERT(poll(&p, 1, 2000) == 1);
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        CU_ASSERT(n > 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0);
    }
    int64_t idle0 = rs_mono_ms();
    CU_ASSERT(closed_within(fd, 3000));
    printf("  idle keep-alive connection closed after %.2fs\n", (double)(rs_mono_ms() - idle0) / 1000);
    close(fd);
    rs_admin_stop(a);
    pthread_mutex_destroy(&t.mu);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Sends raw bytes, reads until the server closes or ms pass; returns the whole answer. */
/* Sends data and reads the answer for at most ms (until the server closes). The data is sent
 * while reading, without blocking: a server that answers early (413 to a body over the limit) and
 * then closes is heard before its reset can discard the answer. Returns "" when nothing came. */
static char *raw_exchange(const char *bound, const char *data, size_t len, int ms)
{
    int fd = raw_connect(bound);
    if (fd < 0)
        return strdup("");
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    size_t sent = 0;
    rs_buf b = {0};
    int64_t t0 = rs_mono_ms();
    while (rs_mono_ms() - t0 < ms) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < len ? POLLOUT : 0)};
        if (poll(&p, 1, 50) <= 0)
            continue;
        if (p.revents & POLLIN) {
            char tmp[4096];
            ssize_t n = recv(fd, tmp, sizeof tmp, 0);
            if (n <= 0)
                break;
            rs_buf_append(&b, tmp, (size_t)n);
            continue;
        }
        if (sent < len && (p.revents & POLLOUT)) {
            ssize_t n = send(fd, data + sent, len - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                sent = len; /* the server closed: read what it said */
        } else if (p.revents & (POLLERR | POLLHUP)) {
            break;
        }
    }
    close(fd);
    rs_buf_cstr(&b);
    return b.data ? (char *)b.data : strdup("");
}

typedef struct loader {
    const char *path;
    int n, ok;
    double p99_ms;
} loader;

static void *load_main(void *arg)
{
    loader *l = arg;
    CURL *h = curl_easy_init();
    double *lat = calloc((size_t)l->n, sizeof *lat);
    for (int i = 0; i < l->n; i++) {
        resp r;
        int64_t s = rs_mono_ns();
        if (http_ex(h, "GET", l->path, NULL, 0, NULL, false, &r) == 200)
            l->ok++;
        lat[i] = (double)(rs_mono_ns() - s) / 1e6;
        resp_free(&r);
    }
    qsort(lat, (size_t)l->n, sizeof *lat, cmp_double);
    l->p99_ms = lat[(l->n * 99) / 100 - 1];
    free(lat);
    curl_easy_cleanup(h);
    return NULL;
}

static void test_abuse_under_load(void)
{
    tprov t;
    memset(&t, 0, sizeof t);
    pthread_mutex_init(&t.mu, NULL);
    tp_reset(&t);
    atomic_store(&t.slow_ms, 700);
    rs_admin_config c = {.token = TOKEN, .request_timeout_ms = 1500, .workers = 2};
    rs_admin *a = start_with(c, &t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    const char *bound = rs_admin_bound_address(a);

    loader ld[3] = {{"/healthz", 400, 0, 0}, {"/v1/status", 400, 0, 0}, {"/metrics", 300, 0, 0}};
    pthread_t lt[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&lt[i], NULL, load_main, &ld[i]);
    slowloris sl[2] = {{bound, 0, 0}, {bound, 1, 0}};
    pthread_t st[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&st[i], NULL, slowloris_main, &sl[i]);

    /* garbage request line, bad version, HTTP/1.0 without Host */
    /* each is answered with a 400 (an empty answer is a failure: the server must say why) */
    char *ans = raw_exchange(bound, "HELLO\r\n\r\n", strlen("HELLO\r\n\r\n"), 1000);
    CU_ASSERT(strncmp(ans, "HTTP/1.1 400", 12) == 0);
    if (strncmp(ans, "HTTP/1.1 400", 12) != 0)
        fprintf(stderr, "garbage request line answered: '%.60s'\n", ans);
    free(ans);
    ans = raw_exchange(bound, "GET /healthz HTTP/9.9\r\n\r\n", strlen("GET /healthz HTTP/9.9\r\n\r\n"), 1000);
    CU_ASSERT(strncmp(ans, "HTTP/1.1 400", 12) == 0);
    if (strncmp(ans, "HTTP/1.1 400", 12) != 0)
        fprintf(stderr, "HTTP/9.9 answered: '%.60s'\n", ans);
    free(ans);
    ans = raw_exchange(bound, "GET /healthz HTTP/1.0\r\n\r\n", strlen("GET /healthz HTTP/1.0\r\n\r\n"), 1000);
    CU_ASSERT(strncmp(ans, "HTTP/1.0 200", 12) == 0 || strncmp(ans, "HTTP/1.1 200", 12) == 0);
    free(ans);

    /* pipelining: three requests in one write, answered in order */
    static const char pipe3[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                                "GET /v1/versions/2 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                                "GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    ans = raw_exchange(bound, pipe3, sizeof pipe3 - 1, 4000);
    const char *p1 = strstr(ans, "HTTP/1.1 200"), *p2 = p1 ? strstr(p1 + 1, "HTTP/1.1 200") : NULL;
    const char *p3 = p2 ? strstr(p2 + 1, "HTTP/1.1 404") : NULL;
    CU_ASSERT(p1 && p2 && p3);
    if (!(p1 && p2 && p3))
        fprintf(stderr, "pipelined answer:\n%s\n", ans);
    free(ans);

    /* chunked body over the limit */
    rs_buf big = {0};
    rs_buf_printf(&big, "POST /v1/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n", TOKEN);
    for (int i = 0; i < 20; i++) {
        rs_buf_printf(&big, "10000\r\n");
        for (int k = 0; k < 0x10000; k++)
            rs_buf_putc(&big, ' ');
        rs_buf_printf(&big, "\r\n");
    }
    rs_buf_printf(&big, "0\r\n\r\n");
    ans = raw_exchange(bound, (const char *)big.data, big.len, 3000);
    CU_ASSERT(strncmp(ans, "HTTP/1.1 413", 12) == 0);
    printf("\n  chunked 1.25 MiB body -> %.12s\n", ans);
    free(ans);
    rs_buf_free(&big);

    /* clients that go away while their slow call or long poll runs */
    for (int i = 0; i < 4; i++) {
        static const char slowreq[] = "GET /v1/drift HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        static const char waitreq[] = "GET /v1/wait?version=99&timeout=2s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        ans = raw_exchange(bound, i % 2 ? waitreq : slowreq, i % 2 ? sizeof waitreq - 1 : sizeof slowreq - 1, 100);
        free(ans);
    }
    /* bad JSON and unknown routes, by curl */
    for (int i = 0; i < 20; i++) {
        resp r;
        http("POST", "/v1/pin", "{\"version\":", AUTH, &r);
        CU_ASSERT_EQUAL(r.code, 400);
        resp_free(&r);
        http("GET", "/v2/anything", NULL, NULL, &r);
        CU_ASSERT_EQUAL(r.code, 404);
        resp_free(&r);
    }

    for (int i = 0; i < 3; i++) {
        pthread_join(lt[i], NULL);
        printf("  load %s: %d/%d ok, p99 %.3f ms\n", ld[i].path, ld[i].ok, ld[i].n, ld[i].p99_ms);
        CU_ASSERT_EQUAL(ld[i].ok, ld[i].n);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(st[i], NULL);
        CU_ASSERT(sl[i].closed_after >= 1.2 && sl[i].closed_after <= 3.5);
    }

    /* stop with open connections: idle keep-alive, half a request, a slow call whose client left */
    int idle = raw_connect(bound);
    static const char one[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    send(idle, one, sizeof one - 1, MSG_NOSIGNAL);
    int half = raw_connect(bound);
    send(half, "GET /heal", 9, MSG_NOSIGNAL);
    int gone = raw_connect(bound);
    static const char slowreq[] = "GET /v1/versions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    send(gone, slowreq, sizeof slowreq - 1, MSG_NOSIGNAL);
    usleep(100000);
    close(gone);
    rs_admin_stop(a);
    CU_ASSERT(closed_within(idle, 1000));
    CU_ASSERT(closed_within(half, 1000));
    close(idle);
    close(half);
    pthread_mutex_destroy(&t.mu);
}

/* ------------------------------------------------------------------------------------------ */
/* binding                                                                                    */

static void test_bind_rules(void)
{
    tprov t;
    memset(&t, 0, sizeof t);
    pthread_mutex_init(&t.mu, NULL);
    tp_reset(&t);
    rs_admin_provider p = provider_of(&t);
    rs_admin *a = NULL;
    rs_error e = {0};
    rs_admin_config c = {.listen = "0.0.0.0:0"};
    CU_ASSERT_EQUAL(rs_admin_start(&c, &p, &a, &e), RS_EINVALID);
    printf("\n  refused: %s\n", e.msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "token"));
    CU_ASSERT_PTR_NULL(a);
    c.token = TOKEN;
    CU_ASSERT_EQUAL_FATAL(rs_admin_start(&c, &p, &a, &e), RS_OK);
    CU_ASSERT(strncmp(rs_admin_bound_address(a), "0.0.0.0:", 8) == 0);
    /* the Host check is off on a non-loopback bind: any Host is fine */
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%s", strrchr(rs_admin_bound_address(a), ':') + 1);
    const char *h[] = {"Host: regsync.example:8470", NULL};
    resp r;
    CU_ASSERT_EQUAL(http("GET", "/healthz", NULL, h, &r), 200);
    resp_free(&r);
    rs_admin_stop(a);
    a = NULL;

    /* [::1]: skipped only when this machine has no IPv6 loopback (found with a plain socket, not
     * with the code under test); where it has one, a failure to start is a failure */
    if (rs_test_have_ipv6_loopback()) {
        rs_admin_config v6 = {.listen = "[::1]:0"};
        int rc = rs_admin_start(&v6, &p, &a, &e);
        if (rc != RS_OK)
            fprintf(stderr, "admin on [::1]: %s\n", e.msg);
        CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
        CU_ASSERT(strncmp(rs_admin_bound_address(a), "[::1]:", 6) == 0);
        snprintf(g_base, sizeof g_base, "http://%s", rs_admin_bound_address(a));
        CU_ASSERT_EQUAL(http("GET", "/healthz", NULL, NULL, &r), 200);
        resp_free(&r);
        rs_admin_stop(a);
    } else {
        rs_test_skip_env("admin on [::1]", "this machine cannot bind a socket to [::1] (no IPv6 loopback)");
    }
    rs_admin_config lh = {.listen = "localhost:0"};
    CU_ASSERT_EQUAL(rs_admin_start(&lh, &p, &a, &e), RS_OK);
    rs_admin_stop(a);
    pthread_mutex_destroy(&t.mu);
}

static json_t *null_status(void *ctx)
{
    (void)ctx;
    return NULL;
}

static void test_sparse_provider(void)
{
    rs_admin_provider p = {.status = null_status}; /* everything else NULL */
    rs_admin_config c = {.listen = "127.0.0.1:0"};  /* no token: POSTs need none on loopback */
    rs_admin *a = NULL;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_admin_start(&c, &p, &a, &e), RS_OK);
    snprintf(g_base, sizeof g_base, "http://%s", rs_admin_bound_address(a));
    resp r;
    CU_ASSERT_EQUAL(http("GET", "/healthz", NULL, NULL, &r), 200);
    resp_free(&r);
    http("GET", "/v1/status", NULL, NULL, &r);
    expect_error(&r, 503, "unavailable");
    resp_free(&r);
    const char *gets[] = {"/readyz", "/v1/versions", "/v1/versions/1", "/v1/diff?from=1&to=2", "/v1/registry",
                          "/v1/drift", "/v1/wait?version=1", NULL};
    for (int i = 0; gets[i]; i++) {
        http("GET", gets[i], NULL, NULL, &r);
        expect_error(&r, 501, "not_implemented");
        resp_free(&r);
    }
    http("POST", "/v1/sync", NULL, NULL, &r);
    expect_error(&r, 501, "not_implemented");
    resp_free(&r);
    CU_ASSERT_EQUAL(http("GET", "/metrics", NULL, NULL, &r), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(body_of(&r), "regsync_build_info{"));
    CU_ASSERT_PTR_NOT_NULL(strstr(body_of(&r), "regsync_admin_requests_total{route=\"/v1/drift\",code=\"501\"} 1\n"));
    resp_free(&r);
    CU_ASSERT_EQUAL(http("GET", "/", NULL, NULL, &r), 200);
    resp_free(&r);
    rs_admin_stop(a);
}

/* ------------------------------------------------------------------------------------------ */
/* long poll                                                                                  */

static void *flip_applied(void *arg)
{
    usleep(300000);
    atomic_store(&g_tp.applied, 10);
    rs_admin_notify(arg);
    return NULL;
}

typedef struct bg_req {
    const char *path;
    resp r;
} bg_req;

static void *bg_get(void *arg)
{
    bg_req *b = arg;
    http("GET", b->path, NULL, NULL, &b->r);
    return NULL;
}

static void test_wait(void)
{
    use_default();
    resp r;
    pthread_t th;
    pthread_create(&th, NULL, flip_applied, g_srv);
    CU_ASSERT_EQUAL(http("GET", "/v1/wait?version=10&regions=all&timeout=5s", NULL, NULL, &r), 200);
    pthread_join(th, NULL);
    json_t *j = json_of(&r);
    CU_ASSERT(json_is_true(json_object_get(j, "done")));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "version")), 10);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "regions")), "all");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(json_object_get(j, "detail"), "applied"),
                                                       "eu-central-1")),
                    10);
    printf("\n  /v1/wait released after %.0f ms (flip at 300 ms), %d checks\n", r.secs * 1000,
           atomic_load(&g_tp.wait_checks));
    CU_ASSERT(r.secs >= 0.29 && r.secs < 2.0);
    json_decref(j);
    resp_free(&r);

    /* already there: answered at once */
    CU_ASSERT_EQUAL(http("GET", "/v1/wait?version=3&regions=eu-central-1,us-west-2", NULL, NULL, &r), 200);
    CU_ASSERT(r.secs < 1.0);
    resp_free(&r);

    /* never there: 408 after the timeout, with the last detail */
    atomic_store(&g_tp.wait_checks, 0);
    http("GET", "/v1/wait?version=99&timeout=500ms", NULL, NULL, &r);
    expect_error(&r, 408, "timeout");
    j = json_of(&r);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(j, "detail"), "target")), 99);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "version")), 99);
    json_decref(j);
    printf("  /v1/wait timed out after %.0f ms (timeout 500 ms), %d checks\n", r.secs * 1000,
           atomic_load(&g_tp.wait_checks));
    CU_ASSERT(r.secs >= 0.45 && r.secs < 2.0);
    CU_ASSERT(atomic_load(&g_tp.wait_checks) >= 2); /* at arrival, then every 200 ms */
    resp_free(&r);

    /* bad parameters and provider errors */
    const char *bad[] = {"/v1/wait", "/v1/wait?version=abc", "/v1/wait?version=0", "/v1/wait?version=5&timeout=abc",
                         "/v1/wait?version=5&timeout=11m", "/v1/wait?version=5&timeout=0s",
                         "/v1/wait?version=5&regions=a,,b", "/v1/wait?version=5&regions=a%20b", NULL};
    for (int i = 0; bad[i]; i++) {
        http("GET", bad[i], NULL, NULL, &r);
        expect_error(&r, 400, "bad_request");
        resp_free(&r);
    }
    http("GET", "/v1/wait?version=5&regions=nowhere", NULL, NULL, &r);
    expect_error(&r, 400, "bad_request");
    CU_ASSERT_PTR_NOT_NULL(strstr(body_of(&r), "unknown region nowhere"));
    resp_free(&r);

    /* several waiters at once, all released by one notify */
    atomic_store(&g_tp.applied, 7);
    bg_req b[5];
    pthread_t bt[5];
    for (int i = 0; i < 5; i++) {
        b[i].path = "/v1/wait?version=11&timeout=10s";
        pthread_create(&bt[i], NULL, bg_get, &b[i]);
    }
    usleep(300000);
    atomic_store(&g_tp.applied, 11);
    rs_admin_notify(g_srv);
    for (int i = 0; i < 5; i++) {
        pthread_join(bt[i], NULL);
        CU_ASSERT_EQUAL(b[i].r.code, 200);
        CU_ASSERT(b[i].r.secs < 2.0);
        resp_free(&b[i].r);
    }
    atomic_store(&g_tp.applied, 7);
}

/* A sample of the current server's /metrics ("name" or "name{labels}"); -1 when absent. */
static double metric(const char *name)
{
    resp r;
    http("GET", "/metrics", NULL, NULL, &r);
    char pat[256];
    snprintf(pat, sizeof pat, "\n%s ", name);
    const char *m = strstr(body_of(&r), pat);
    double v = m ? atof(m + strlen(pat)) : -1;
    resp_free(&r);
    return v;
}

static bool metric_becomes(const char *name, double want, int ms)
{
    int64_t end = rs_mono_ms() + ms;
    do {
        if (metric(name) == want)
            return true;
        usleep(20000);
    } while (rs_mono_ms() < end);
    fprintf(stderr, "%s is %g, expected %g\n", name, metric(name), want);
    return false;
}

/* issue 9, item 8: a client that closes its /v1/wait frees the slot at once */
static void test_wait_client_gone(void)
{
    use_default();
    const char *bound = rs_admin_bound_address(g_srv);
    static const char req[] = "GET /v1/wait?version=99&timeout=60s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    enum { N = 300 };
    int fds[N];
    int opened = 0;
    double abandoned0 = metric("regsync_admin_waits_abandoned_total");
    for (int i = 0; i < N; i++) {
        fds[i] = raw_connect(bound);
        if (fds[i] >= 0 && send(fds[i], req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1))
            opened++;
    }
    CU_ASSERT_EQUAL_FATAL(opened, N);
    CU_ASSERT_TRUE(metric_becomes("regsync_admin_waiters", N, 5000));
    int64_t t0 = rs_mono_ms();
    for (int i = 0; i < N; i++) {
        if (i % 3 == 1) { /* a third reset the connection instead of closing it */
            struct linger lg = {1, 0};
            setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(fds[i]);
    }
    CU_ASSERT_TRUE(metric_becomes("regsync_admin_waiters", 0, 2000));
    printf("\n  %d open /v1/wait closed by their clients: slots free after %lld ms\n", N, (long long)(rs_mono_ms() - t0));
    CU_ASSERT_EQUAL(metric("regsync_admin_waits_abandoned_total") - abandoned0, N);

    /* bytes after the request (a pipelined request), then the close: found by the waiter tick */
    int p1 = raw_connect(bound);
    send(p1, req, sizeof req - 1, MSG_NOSIGNAL);
    CU_ASSERT_TRUE(metric_becomes("regsync_admin_waiters", 1, 2000));
    static const char more[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    send(p1, more, sizeof more - 1, MSG_NOSIGNAL);
    usleep(100000);
    close(p1);
    CU_ASSERT_TRUE(metric_becomes("regsync_admin_waiters", 0, 2000));

    /* a client that stays is still answered (here: 408 at its timeout), on the same connection */
    static const char short_req[] = "GET /v1/wait?version=99&timeout=300ms HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    char *ans = raw_exchange(bound, short_req, sizeof short_req - 1, 1500);
    CU_ASSERT(strncmp(ans, "HTTP/1.1 408", 12) == 0);
    free(ans);
    /* and new waits are served, not refused */
    resp r;
    CU_ASSERT_EQUAL(http("GET", "/v1/wait?version=3&timeout=2s", NULL, NULL, &r), 200);
    resp_free(&r);
}

/* issue 9, item 10: requests that libevent's parser would take are refused with 400 by the
 * framing check, before any route sees them */
static void test_strict_framing(void)
{
    use_default();
    const char *bound = rs_admin_bound_address(g_srv);
    int controls0 = atomic_load(&g_tp.controls);
    double bad0 = metric("regsync_admin_requests_total{route=\"other\",code=\"400\"}");
    if (bad0 < 0)
        bad0 = 0;
    static const struct {
        const char *req;
        size_t len;
        const char *why;
    } cases[] = {
#define C(lit, w) {lit, sizeof(lit) - 1, w}
        /* the token followed by a NUL byte and junk: libevent kept "Bearer <token>" */
        C("POST /v1/pause HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN "\0junk\r\nContent-Length: 0\r\n\r\n",
          "NUL byte"),
        /* two Content-Length headers that differ: libevent took the first */
        C("POST /v1/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN
          "\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}",
          "two Content-Length headers that differ"),
        C("POST /v1/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN
          "\r\nContent-Length: 40\r\nContent-Length: 2\r\n\r\n{}",
          "two Content-Length headers that differ"),
        /* a bad chunk size: libevent answered 413 */
        C("POST /v1/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN
          "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
          "bad chunk size"),
        C("POST /v1/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN
          "\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
          "both Transfer-Encoding and Content-Length"),
        C("POST /v1/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN "\r\nContent-Length : 2\r\n\r\n{}",
          "header name"),
        C("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: b\r\n c\r\n\r\n", "folding"),
        C("HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello", "body on a request method"),
#undef C
    };
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        char *ans = raw_exchange(bound, cases[i].req, cases[i].len, 1500);
        bool ok = strncmp(ans, "HTTP/1.1 400", 12) == 0 && strstr(ans, "\"bad_request\"") && strstr(ans, cases[i].why) &&
                  strstr(ans, "Connection: close");
        CU_ASSERT_TRUE(ok);
        if (!ok)
            fprintf(stderr, "framing case %zu: expected 400 naming \"%s\", got:\n%.300s\n", i, cases[i].why, ans);
        free(ans);
    }
    CU_ASSERT_EQUAL(atomic_load(&g_tp.controls), controls0); /* no action ran */

    /* the same, arriving in pieces: the head already taken by libevent when the bad line comes */
    int fd = raw_connect(bound);
    static const char p1[] = "POST /v1/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN
                             "\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n";
    send(fd, p1, sizeof p1 - 1, MSG_NOSIGNAL);
    usleep(100000);
    send(fd, "q\r\n", 3, MSG_NOSIGNAL);
    char buf[2048];
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    ssize_t got = poll(&pf, 1, 1500) == 1 ? recv(fd, buf, sizeof buf - 1, 0) : -1;
    buf[got > 0 ? got : 0] = '\0';
    CU_ASSERT(strncmp(buf, "HTTP/1.1 400", 12) == 0 && strstr(buf, "bad chunk size"));
    CU_ASSERT(closed_within(fd, 1500));
    close(fd);

    /* a bad request pipelined behind a good one: the good one is answered and the connection
       closed; the bad one never reaches a route */
    static const char pipe2[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                                "POST /v1/pause HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN
                                "\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n";
    char *ans = raw_exchange(bound, pipe2, sizeof pipe2 - 1, 1500);
    CU_ASSERT(strncmp(ans, "HTTP/1.1 200", 12) == 0 && strstr(ans, "Connection: close") &&
              !strstr(ans + 12, "HTTP/1.1 "));
    free(ans);
    CU_ASSERT_EQUAL(atomic_load(&g_tp.controls), controls0);

    /* what is well formed still works: chunked, duplicate equal Content-Length, LF line ends */
    static const char good[] = "POST /v1/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN
                               "\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    ans = raw_exchange(bound, good, sizeof good - 1, 1000);
    CU_ASSERT(strncmp(ans, "HTTP/1.1 200", 12) == 0);
    free(ans);
    static const char good2[] = "POST /v1/sync HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer " TOKEN
                                "\nContent-Length: 2\nContent-Length: 2\n\n{}";
    ans = raw_exchange(bound, good2, sizeof good2 - 1, 1000);
    CU_ASSERT(strncmp(ans, "HTTP/1.1 200", 12) == 0);
    free(ans);
    CU_ASSERT_EQUAL(atomic_load(&g_tp.controls), controls0 + 2);
    double bad1 = metric("regsync_admin_requests_total{route=\"other\",code=\"400\"}");
    printf("\n  %zu malformed requests refused with 400 (and 2 more in pieces); counted %g\n", n, bad1 - bad0);
    CU_ASSERT_EQUAL(bad1 - bad0, (double)n + 1); /* the pipelined one was cut, not answered */
}

/* issue 9, item 9: a reload hands the listening socket to the next server: a client that
 * connects between the two is queued by the kernel, not refused, and served by the next one */
static void test_keep_listener(void)
{
    tprov t;
    memset(&t, 0, sizeof t);
    pthread_mutex_init(&t.mu, NULL);
    tp_reset(&t);
    rs_admin_config c = {.token = TOKEN};
    rs_admin *a = start_with(c, &t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    char bound[80];
    snprintf(bound, sizeof bound, "%s", rs_admin_bound_address(a));
    int fd = rs_admin_stop_keep_listener(a);
    CU_ASSERT_FATAL(fd >= 0);
    /* no server now: the connection is accepted by the kernel (backlog) */
    int cl = raw_connect(bound);
    CU_ASSERT_FATAL(cl >= 0);
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    CU_ASSERT_EQUAL(send(cl, req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
    /* a token is required to take over a non-loopback socket; here loopback: fine without */
    rs_admin_config c2 = {.use_listen_fd = true, .listen_fd = fd};
    rs_admin *b = start_with(c2, &t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_STRING_EQUAL(rs_admin_bound_address(b), bound); /* the same port, port 0 included */
    char buf[1024];
    struct pollfd pf = {.fd = cl, .events = POLLIN};
    ssize_t got = poll(&pf, 1, 2000) == 1 ? recv(cl, buf, sizeof buf - 1, 0) : -1;
    buf[got > 0 ? got : 0] = '\0';
    CU_ASSERT(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    close(cl);
    /* a socket that is not listening is refused, and stays the caller's */
    int notl = socket(AF_INET, SOCK_STREAM, 0);
    rs_admin_config c3 = {.use_listen_fd = true, .listen_fd = notl};
    rs_admin *x = NULL;
    rs_error e = {0};
    rs_admin_provider p = provider_of(&t);
    CU_ASSERT_EQUAL(rs_admin_start(&c3, &p, &x, &e), RS_EINVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "not a listening socket"));
    CU_ASSERT(fcntl(notl, F_GETFD) >= 0); /* still open */
    close(notl);
    /* a plain stop closes the socket: the port refuses again */
    rs_admin_stop(b);
    int again = raw_connect(bound);
    CU_ASSERT(again < 0);
    if (again >= 0)
        close(again);
    pthread_mutex_destroy(&t.mu);
}

/* ------------------------------------------------------------------------------------------ */
/* slow provider calls                                                                        */

static void test_slow_calls_do_not_block_fast_routes(void)
{
    tprov t;
    memset(&t, 0, sizeof t);
    pthread_mutex_init(&t.mu, NULL);
    tp_reset(&t);
    atomic_store(&t.slow_ms, 5000);
    rs_admin_config c = {.workers = 4, .request_timeout_ms = 15000};
    rs_admin *a = start_with(c, &t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    const char *slow_paths[] = {"/v1/versions", "/v1/drift", "/v1/registry", "/v1/diff?from=1&to=2"};
    bg_req b[4];
    pthread_t bt[4];
    int64_t t0 = rs_mono_ms();
    for (int i = 0; i < 4; i++) {
        b[i].path = slow_paths[i];
        pthread_create(&bt[i], NULL, bg_get, &b[i]);
    }
    usleep(200000); /* the four calls are now sleeping in the provider */
    CURL *h = curl_easy_init();
    enum { N = 200 };
    double lat[N];
    int ok = 0;
    for (int i = 0; i < N; i++) {
        resp r;
        int64_t s = rs_mono_ns();
        if (http_ex(h, "GET", "/healthz", NULL, 0, NULL, false, &r) == 200)
            ok++;
        lat[i] = (double)(rs_mono_ns() - s) / 1e6;
        resp_free(&r);
    }
    double during = (double)(rs_mono_ms() - t0) / 1000;
    resp r;
    CU_ASSERT_EQUAL(http_ex(h, "GET", "/v1/status", NULL, 0, NULL, false, &r), 200);
    resp_free(&r);
    CU_ASSERT_EQUAL(http_ex(h, "GET", "/readyz", NULL, 0, NULL, false, &r), 200);
    resp_free(&r);
    CU_ASSERT_EQUAL(http_ex(h, "GET", "/metrics", NULL, 0, NULL, false, &r), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(body_of(&r), "regsync_admin_slow_calls_running 4\n"));
    resp_free(&r);
    curl_easy_cleanup(h);
    qsort(lat, N, sizeof *lat, cmp_double);
    printf("\n  /healthz while 4 provider calls hang for 5 s: %d/%d ok, p50 %.3f ms, p99 %.3f ms, max %.3f ms "
           "(all %d done %.2f s after the slow calls started)\n",
           ok, N, lat[N / 2], lat[(N * 99) / 100 - 1], lat[N - 1], N, during);
    CU_ASSERT_EQUAL(ok, N);
    CU_ASSERT(during < 5.0); /* none of them waited for a slow call */
    for (int i = 0; i < 4; i++) {
        pthread_join(bt[i], NULL);
        CU_ASSERT_EQUAL(b[i].r.code, 200);
        CU_ASSERT(b[i].r.secs >= 4.5);
        resp_free(&b[i].r);
    }
    rs_admin_stop(a);
    pthread_mutex_destroy(&t.mu);
}

static void test_provider_timeout_and_shutdown(void)
{
    tprov t;
    memset(&t, 0, sizeof t);
    pthread_mutex_init(&t.mu, NULL);
    tp_reset(&t);
    atomic_store(&t.slow_ms, 2500);
    rs_admin_config c = {.workers = 1, .request_timeout_ms = 1000};
    rs_admin *a = start_with(c, &t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    /* one call runs (and hangs), the second waits in the queue: both answered 503 after 1 s */
    bg_req b[2] = {{"/v1/drift", {0}}, {"/v1/versions/3", {0}}};
    pthread_t bt[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&bt[i], NULL, bg_get, &b[i]);
    for (int i = 0; i < 2; i++) {
        pthread_join(bt[i], NULL);
        expect_error(&b[i].r, 503, "timeout");
        CU_ASSERT(b[i].r.secs >= 0.9 && b[i].r.secs < 2.0);
        resp_free(&b[i].r);
    }
    resp r;
    http("GET", "/metrics", NULL, NULL, &r);
    CU_ASSERT_PTR_NOT_NULL(strstr(body_of(&r), "regsync_admin_provider_timeouts_total 2\n"));
    resp_free(&r);

    /* shutdown answers an open long poll 503 and waits for the call in flight */
    atomic_store(&t.slow_ms, 0);
    bg_req w = {"/v1/wait?version=50&timeout=60s", {0}};
    pthread_t wt;
    pthread_create(&wt, NULL, bg_get, &w);
    usleep(300000);
    int64_t s0 = rs_mono_ms();
    rs_admin_stop(a);
    double stop_s = (double)(rs_mono_ms() - s0) / 1000;
    pthread_join(wt, NULL);
    printf("\n  rs_admin_stop took %.2f s (a 2.5 s provider call was still running)\n", stop_s);
    expect_error(&w.r, 503, "shutting_down");
    CU_ASSERT(w.r.secs < 5);
    resp_free(&w.r);
    pthread_mutex_destroy(&t.mu);
}

/* ------------------------------------------------------------------------------------------ */
/* TLS and auth_reads                                                                         */

static bool make_cert(const char *dir, char *cert, char *key, size_t n)
{
    snprintf(cert, n, "%s/cert.pem", dir);
    snprintf(key, n, "%s/key.pem", dir);
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    bool ok = false;
    if (!pk || !x)
        goto out;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (!X509_sign(x, pk, EVP_sha256()))
        goto out;
    FILE *f = fopen(cert, "w");
    if (!f)
        goto out;
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(key, "w");
    if (!f)
        goto out;
    PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    ok = true;
out:
    X509_free(x);
    EVP_PKEY_free(pk);
    return ok;
}

/* A raw TLS client (no certificate check: the test's self-signed one). Sends data, reads the
 * answer until the server closes or ms pass (close_after: SSL_shutdown + close right after
 * sending, reading nothing). Returns the answer (malloc'd). */
static char *tls_exchange(const char *bound, const char *data, size_t len, int ms, bool close_after)
{
    rs_buf b = {0};
    int fd = raw_connect(bound);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    if (fd < 0 || !ssl || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1)
        goto out;
    SSL_write(ssl, data, (int)len);
    if (close_after) {
        SSL_shutdown(ssl);
        goto out;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char tmp[4096];
    int n;
    while ((n = SSL_read(ssl, tmp, sizeof tmp)) > 0)
        rs_buf_append(&b, tmp, (size_t)n);
out:
    if (ssl)
        SSL_free(ssl);
    if (ctx)
        SSL_CTX_free(ctx);
    if (fd >= 0)
        close(fd);
    rs_buf_cstr(&b);
    return b.data ? (char *)b.data : strdup("");
}

static void test_tls_and_auth_reads(void)
{
    char *dir = rs_test_tmpdir("admin-tls");
    char cert[512], key[512];
    CU_ASSERT_FATAL(dir && make_cert(dir, cert, key, sizeof cert));
    tprov t;
    memset(&t, 0, sizeof t);
    pthread_mutex_init(&t.mu, NULL);
    tp_reset(&t);
    rs_admin_config c = {.tls_cert = cert, .tls_key = key, .token = TOKEN, .auth_reads = true};
    rs_admin *a = start_with(c, &t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    resp r;
    CU_ASSERT_EQUAL(http_ex(NULL, "GET", "/healthz", NULL, 0, NULL, true, &r), 200);
    resp_free(&r);
    CU_ASSERT_EQUAL(http_ex(NULL, "GET", "/metrics", NULL, 0, NULL, true, &r), 200);
    resp_free(&r);
    CU_ASSERT_EQUAL(http_ex(NULL, "GET", "/readyz", NULL, 0, NULL, true, &r), 200);
    resp_free(&r);
    http_ex(NULL, "GET", "/v1/status", NULL, 0, NULL, true, &r);
    expect_error(&r, 401, "unauthorized");
    resp_free(&r);
    http_ex(NULL, "GET", "/", NULL, 0, NULL, true, &r);
    expect_error(&r, 401, "unauthorized");
    resp_free(&r);
    CU_ASSERT_EQUAL(http_ex(NULL, "GET", "/v1/status", NULL, 0, AUTH, true, &r), 200);
    resp_free(&r);
    CU_ASSERT_EQUAL(http_ex(NULL, "GET", "/v1/versions/2", NULL, 0, AUTH, true, &r), 200);
    resp_free(&r);
    char same_origin[160];
    snprintf(same_origin, sizeof same_origin, "Origin: %s", g_base);
    const char *so[] = {"Authorization: Bearer " TOKEN, same_origin, NULL};
    CU_ASSERT_EQUAL(http_ex(NULL, "POST", "/v1/sync", NULL, 0, so, true, &r), 200);
    resp_free(&r);
    /* plain HTTP to the TLS port gets nothing useful */
    char plain[160];
    snprintf(plain, sizeof plain, "http://%s/healthz", rs_admin_bound_address(a));
    /* the TLS server drops it without an HTTP answer; it does not hang it and is reachable */
    CU_ASSERT_EQUAL(http("GET", plain, NULL, NULL, &r), 0);
    CU_ASSERT(r.cc != CURLE_OK && r.cc != CURLE_COULDNT_CONNECT && r.cc != CURLE_OPERATION_TIMEDOUT);
    if (r.cc == CURLE_OK || r.cc == CURLE_COULDNT_CONNECT || r.cc == CURLE_OPERATION_TIMEDOUT)
        fprintf(stderr, "plain HTTP to the TLS port: curl %d (%s), HTTP %ld\n", (int)r.cc, curl_easy_strerror(r.cc), r.code);
    resp_free(&r);
    /* and the server is still fine */
    CU_ASSERT_EQUAL(http_ex(NULL, "GET", "/healthz", NULL, 0, NULL, true, &r), 200);
    resp_free(&r);
    /* the framing check and the waiters' close watch work over TLS too */
    const char *bound = rs_admin_bound_address(a);
    static const char two_cl[] = "POST /v1/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN
                                 "\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}";
    char *ans = tls_exchange(bound, two_cl, sizeof two_cl - 1, 2000, false);
    CU_ASSERT(strncmp(ans, "HTTP/1.1 400", 12) == 0 && strstr(ans, "differ"));
    free(ans);
    static const char wreq[] = "GET /v1/wait?version=99&timeout=60s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN
                               "\r\n\r\n";
    for (int i = 0; i < 5; i++)
        free(tls_exchange(bound, wreq, sizeof wreq - 1, 0, true)); /* close_notify, then FIN */
    int64_t t0 = rs_mono_ms();
    bool freed = false;
    while (!freed && rs_mono_ms() - t0 < 3000) {
        http_ex(NULL, "GET", "/metrics", NULL, 0, NULL, true, &r);
        freed = strstr(body_of(&r), "\nregsync_admin_waiters 0\n") && strstr(body_of(&r), "\nregsync_admin_waits_abandoned_total 5\n");
        resp_free(&r);
        if (!freed)
            usleep(50000);
    }
    CU_ASSERT_TRUE(freed);
    printf("\n  TLS: 5 waits closed (close_notify + FIN): slots free after %lld ms\n", (long long)(rs_mono_ms() - t0));
    rs_admin_stop(a);

    /* a key that does not match the certificate */
    char cert2[512], key2[512];
    char *dir2 = rs_test_tmpdir("admin-tls2");
    CU_ASSERT_FATAL(dir2 && make_cert(dir2, cert2, key2, sizeof cert2));
    rs_admin_config bad = {.tls_cert = cert, .tls_key = key2};
    rs_admin_provider p = provider_of(&t);
    rs_error e = {0};
    a = NULL;
    CU_ASSERT_EQUAL(rs_admin_start(&bad, &p, &a, &e), RS_EINVALID);
    printf("\n  mismatched key refused: %s\n", e.msg);
    CU_ASSERT(strstr(e.msg, "does not match") || strstr(e.msg, "mismatch"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "admin TLS"));
    rs_test_rmrf(dir);
    rs_test_rmrf(dir2);
    free(dir);
    free(dir2);
    pthread_mutex_destroy(&t.mu);
}

/* ------------------------------------------------------------------------------------------ */
/* status page                                                                                */

/* The <tr ...data-region="name"...>...</tr> of the rendered DOM (malloc'd), or NULL. */
static char *region_row(const char *dom, const char *name)
{
    char needle[128];
    snprintf(needle, sizeof needle, "data-region=\"%s\"", name);
    const char *at = strstr(dom, needle);
    if (!at)
        return NULL;
    const char *end = strstr(at, "</tr>");
    return end ? strndup(at, (size_t)(end - at)) : NULL;
}

static void test_status_page(void)
{
    use_default();
    resp r;
    char v[1024];
    CU_ASSERT_EQUAL(http("GET", "/", NULL, NULL, &r), 200);
    CU_ASSERT(header(&r, "Content-Type", v, sizeof v) && strcmp(v, "text/html; charset=utf-8") == 0);
    CU_ASSERT(header(&r, "Content-Security-Policy", v, sizeof v) && strstr(v, "connect-src 'self';"));
    const char *html = body_of(&r);
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "<!DOCTYPE html>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "tr.setAttribute(\"data-region\", name)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "\"state state-\" + st"));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "get(\"/v1/drift\")"));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "get(\"/v1/versions?limit=10\")"));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "setInterval(refresh, 5000)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "<meta name=\"regsync-data-url\" content=\"\">"));
    CU_ASSERT_PTR_NULL(strstr(html, "src=\"http")); /* no external assets */
    CU_ASSERT_PTR_NULL(strstr(html, "href=\"http"));
    resp_free(&r);
    CU_ASSERT_EQUAL(http("HEAD", "/", NULL, NULL, &r), 200);
    resp_free(&r);

    /* a data URL from the provider is escaped into the page and allowed by the CSP */
    g_tp.data_url = "http://127.0.0.1:9/agent?a=1&b=2";
    CU_ASSERT_EQUAL(http("GET", "/", NULL, NULL, &r), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(body_of(&r), "content=\"http://127.0.0.1:9/agent?a=1&amp;b=2\""));
    CU_ASSERT(header(&r, "Content-Security-Policy", v, sizeof v) && strstr(v, "connect-src 'self' http://127.0.0.1:9;"));
    resp_free(&r);
    g_tp.data_url = "javascript:alert(1)\"><script>";
    CU_ASSERT_EQUAL(http("GET", "/", NULL, NULL, &r), 200);
    CU_ASSERT_PTR_NULL(strstr(body_of(&r), "javascript:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(body_of(&r), "content=\"\""));
    resp_free(&r);
    g_tp.data_url = NULL;

    /* rendered by a real browser */
    if (access("/usr/bin/chromium", X_OK) != 0) {
        rs_test_skip("status page in headless Chromium", "/usr/bin/chromium is not installed");
        return;
    }
    char *prof = rs_test_tmpdir("admin-chromium");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "timeout 120 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
             "--disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage "
             "--user-data-dir=%s --virtual-time-budget=3000 --dump-dom %s/ 2>/dev/null",
             prof, g_base);
    int64_t t0 = rs_mono_ms();
    FILE *f = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    rs_buf dom = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rs_buf_append(&dom, chunk, n);
    int st = pclose(f);
    rs_buf_cstr(&dom);
    const char *d = dom.data ? (const char *)dom.data : "";
    printf("\n  chromium rendered %zu bytes of DOM in %.1f s (exit %d)\n", dom.len,
           (double)(rs_mono_ms() - t0) / 1000, st);
    static const char *const regions[][2] = {
        {"us-west-2", "in_sync"}, {"eu-central-1", "behind"}, {"ap-south-1", "stale"}, {"sa-east-1", "diverged"}};
    for (int i = 0; i < 4; i++) {
        char *row = region_row(d, regions[i][0]);
        char cls[96];
        snprintf(cls, sizeof cls, "class=\"state state-%s\"", regions[i][1]);
        CU_ASSERT_PTR_NOT_NULL(row);
        CU_ASSERT(row && strstr(row, cls));
        if (!row || !strstr(row, cls))
            fprintf(stderr, "region %s: row %s\n", regions[i][0], row ? row : "(missing)");
        free(row);
    }
    char *self = region_row(d, "eu-central-1");
    CU_ASSERT(self && strstr(self, "class=\"self\"") && strstr(self, "<td class=\"num\">42</td>"));
    free(self);
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "data-version=\"9\""));   /* recent versions */
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "<dt>applied version</dt><dd>7</dd>")); /* this agent */
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "id=\"errors\"></div>"));             /* no fetch failed */
    if (!strstr(d, "data-region="))
        fprintf(stderr, "DOM:\n%.3000s\n", d);
    rs_buf_free(&dom);
    rs_test_rmrf(prof);
    free(prof);
}

/* ------------------------------------------------------------------------------------------ */

static int serve_mode(const char *secs)
{
    tp_reset(&g_tp);
    const char *slow_ms = getenv("RS_ADMIN_SERVE_SLOW_MS");
    if (slow_ms)
        atomic_store(&g_tp.slow_ms, atoi(slow_ms));
    const char *listen = getenv("RS_ADMIN_SERVE_LISTEN");
    rs_admin_config c = {.listen = listen && *listen ? listen : "127.0.0.1:0", .token = TOKEN,
                         .request_timeout_ms = 60000, .workers = 4};
    rs_admin *a = start_with(c, &g_tp);
    if (!a)
        return 1;
    printf("ADDRESS %s\n", rs_admin_bound_address(a));
    fflush(stdout);
    sleep((unsigned)atoi(secs));
    rs_admin_stop(a);
    return 0;
}

int main(void)
{
    rs_log_configure(RS_LOG_ERROR, false, 2);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_mutex_init(&g_tp.mu, NULL);
    const char *serve = getenv("RS_ADMIN_SERVE_SECONDS");
    if (serve && *serve)
        return serve_mode(serve);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("admin_http", suite_init, suite_clean);
    CU_add_test(s, "healthz, readyz, metrics, status", test_fast_routes);
    CU_add_test(s, "versions and versions/{n}", test_versions_routes);
    CU_add_test(s, "diff, registry, drift", test_diff_registry_drift);
    CU_add_test(s, "control routes and bearer auth", test_control_and_auth);
    CU_add_test(s, "404, 405, Host check", test_404_405_host);
    CU_add_test(s, "header and body limits", test_limits);
    CU_add_test(s, "slowloris clients are cut off", test_slowloris);
    CU_add_test(s, "malformed requests and slow clients while load runs", test_abuse_under_load);
    CU_add_test(s, "bind rules (non-loopback needs a token)", test_bind_rules);
    CU_add_test(s, "a provider with missing callbacks", test_sparse_provider);
    CU_add_test(s, "/v1/wait long poll", test_wait);
    CU_add_test(s, "/v1/wait slots freed when clients go", test_wait_client_gone);
    CU_add_test(s, "strict request framing (400)", test_strict_framing);
    CU_add_test(s, "a reload keeps the listening socket", test_keep_listener);
    CU_add_test(s, "hung provider calls do not delay /healthz", test_slow_calls_do_not_block_fast_routes);
    CU_add_test(s, "provider timeouts and shutdown", test_provider_timeout_and_shutdown);
    CU_add_test(s, "TLS and auth_reads", test_tls_and_auth_reads);
    CU_add_test(s, "status page (and headless Chromium)", test_status_page);
    int rc = rs_test_run();
    curl_global_cleanup();
    return rc;
}
