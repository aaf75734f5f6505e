/* test_admin.c: the admin library's pure parts (no HTTP traffic): Prometheus helpers, listen
 * address parsing, loopback and Host checks, strict integers, query strings, region lists,
 * bearer parsing, the rs_error -> HTTP status mapping, error bodies, and what rs_admin_start
 * refuses (non-loopback without a token, half a TLS config, unreadable TLS files, bad
 * addresses). The HTTP behaviour is tested in tests/integration/test_admin_http.c. */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_admin.h"
#include "rs_admin_impl.h"
#include "rs_log.h"
#include "rs_test.h"

static char *buf_str(rs_buf *b)
{
    rs_buf_cstr(b);
    return (char *)b->data;
}

static void test_prom(void)
{
    rs_buf b = {0};
    rs_prom_help(&b, "regsync_applied_version", "gauge", "the applied version\nwith a \\ newline");
    rs_prom_sample(&b, "regsync_applied_version", NULL, 7);
    rs_prom_sample(&b, "regsync_errors_total", "kind=\"io\"", 3);
    rs_prom_sample(&b, "regsync_lag_seconds", "", 1.5);
    rs_prom_sample(&b, "x", NULL, NAN);
    rs_prom_sample(&b, "y", NULL, INFINITY);
    rs_prom_sample(&b, "z", NULL, -INFINITY);
    rs_prom_sample(&b, "big", NULL, 1e20);
    rs_prom_sample(&b, "neg", NULL, -42);
    CU_ASSERT_STRING_EQUAL(buf_str(&b), "# HELP regsync_applied_version the applied version\\nwith a \\\\ newline\n"
                                        "# TYPE regsync_applied_version gauge\n"
                                        "regsync_applied_version 7\n"
                                        "regsync_errors_total{kind=\"io\"} 3\n"
                                        "regsync_lag_seconds 1.5\n"
                                        "x NaN\n"
                                        "y +Inf\n"
                                        "z -Inf\n"
                                        "big 1e+20\n"
                                        "neg -42\n");
    rs_buf_free(&b);
    rs_prom_label_escape(&b, "a\"b\\c\nd");
    CU_ASSERT_STRING_EQUAL(buf_str(&b), "a\\\"b\\\\c\\nd");
    rs_buf_free(&b);
    rs_prom_sample(NULL, "x", NULL, 1); /* NULL-safe */
    rs_prom_help(NULL, "x", "gauge", "y");
}

static void test_listen_parse(void)
{
    char h[64], p[8];
    CU_ASSERT_EQUAL(rs_admin_parse_listen("127.0.0.1:8470", h, sizeof h, p, sizeof p, NULL), RS_OK);
    CU_ASSERT_STRING_EQUAL(h, "127.0.0.1");
    CU_ASSERT_STRING_EQUAL(p, "8470");
    CU_ASSERT_EQUAL(rs_admin_parse_listen("[::1]:0", h, sizeof h, p, sizeof p, NULL), RS_OK);
    CU_ASSERT_STRING_EQUAL(h, "::1");
    CU_ASSERT_STRING_EQUAL(p, "0");
    CU_ASSERT_EQUAL(rs_admin_parse_listen(":8470", h, sizeof h, p, sizeof p, NULL), RS_OK);
    CU_ASSERT_STRING_EQUAL(h, "");
    CU_ASSERT_EQUAL(rs_admin_parse_listen("localhost:1", h, sizeof h, p, sizeof p, NULL), RS_OK);
    rs_error e = {0};
    const char *bad[] = {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:65536", "::1:80",
                         "[::1]80", "[]:80", "a b:80", "host:123456"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CU_ASSERT_EQUAL(rs_admin_parse_listen(bad[i], h, sizeof h, p, sizeof p, &e), RS_EINVALID);
        CU_ASSERT(strlen(e.msg) > 0);
    }
    CU_ASSERT_EQUAL(rs_admin_parse_listen(NULL, h, sizeof h, p, sizeof p, NULL), RS_EINVALID);
}

static void test_loopback(void)
{
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
    CU_ASSERT(rs_admin_sockaddr_is_loopback((struct sockaddr *)&s4));
    inet_pton(AF_INET, "127.10.20.30", &s4.sin_addr);
    CU_ASSERT(rs_admin_sockaddr_is_loopback((struct sockaddr *)&s4));
    inet_pton(AF_INET, "0.0.0.0", &s4.sin_addr);
    CU_ASSERT_FALSE(rs_admin_sockaddr_is_loopback((struct sockaddr *)&s4));
    inet_pton(AF_INET, "10.0.0.1", &s4.sin_addr);
    CU_ASSERT_FALSE(rs_admin_sockaddr_is_loopback((struct sockaddr *)&s4));
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::1", &s6.sin6_addr);
    CU_ASSERT(rs_admin_sockaddr_is_loopback((struct sockaddr *)&s6));
    inet_pton(AF_INET6, "::", &s6.sin6_addr);
    CU_ASSERT_FALSE(rs_admin_sockaddr_is_loopback((struct sockaddr *)&s6));
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6.sin6_addr);
    CU_ASSERT(rs_admin_sockaddr_is_loopback((struct sockaddr *)&s6));
    inet_pton(AF_INET6, "::ffff:10.0.0.1", &s6.sin6_addr);
    CU_ASSERT_FALSE(rs_admin_sockaddr_is_loopback((struct sockaddr *)&s6));

    char out[64];
    s4.sin_port = htons(8470);
    inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
    rs_admin_format_addr((struct sockaddr *)&s4, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "127.0.0.1:8470");
    s6.sin6_port = htons(1);
    inet_pton(AF_INET6, "::1", &s6.sin6_addr);
    rs_admin_format_addr((struct sockaddr *)&s6, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "[::1]:1");
}

static void test_host_header(void)
{
    const char *good[] = {"127.0.0.1", "127.0.0.1:8470", "localhost", "LOCALHOST:1", "localhost.", "[::1]",
                          "[::1]:8470", "127.1.2.3:80"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CU_ASSERT_TRUE(rs_admin_host_is_loopback(good[i]));
    const char *bad[] = {"", "evil.example", "evil.example:8470", "10.0.0.1", "localhost.evil.example",
                         "127.0.0.1.nip.io", "[::2]:80", "[::1]x", "127.0.0.1:80x", "0.0.0.0", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CU_ASSERT_FALSE(rs_admin_host_is_loopback(bad[i]));
}

static void test_u64(void)
{
    uint64_t v = 0;
    CU_ASSERT_EQUAL(rs_admin_parse_u64("1", &v), 0);
    CU_ASSERT_EQUAL(v, 1);
    CU_ASSERT_EQUAL(rs_admin_parse_u64("18446744073709551615", &v), 0);
    CU_ASSERT_EQUAL(v, UINT64_MAX);
    const char *bad[] = {"", "0", "-1", "+1", " 1", "1 ", "1.0", "1e3", "abc", "18446744073709551616",
                         "0x10", "99999999999999999999999", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CU_ASSERT_EQUAL(rs_admin_parse_u64(bad[i], &v), -1);
}

static void test_query(void)
{
    rs_admin_query q;
    rs_error e = {0};
    CU_ASSERT_EQUAL(rs_admin_query_parse("a=1&b=x%20y&c=p+q&verbose&&e=", &q, &e), RS_OK);
    CU_ASSERT_EQUAL(q.n, 5);
    CU_ASSERT_STRING_EQUAL(rs_admin_query_get(&q, "a"), "1");
    CU_ASSERT_STRING_EQUAL(rs_admin_query_get(&q, "b"), "x y");
    CU_ASSERT_STRING_EQUAL(rs_admin_query_get(&q, "c"), "p q");
    CU_ASSERT_STRING_EQUAL(rs_admin_query_get(&q, "verbose"), "");
    CU_ASSERT_STRING_EQUAL(rs_admin_query_get(&q, "e"), "");
    CU_ASSERT_PTR_NULL(rs_admin_query_get(&q, "zz"));
    rs_admin_query_free(&q);
    CU_ASSERT_EQUAL(rs_admin_query_parse(NULL, &q, &e), RS_OK);
    CU_ASSERT_EQUAL(q.n, 0);
    CU_ASSERT_EQUAL(rs_admin_query_parse("a=1&a=2", &q, &e), RS_EINVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "twice"));
    CU_ASSERT_EQUAL(rs_admin_query_parse("a=%00", &q, &e), RS_EINVALID);
    CU_ASSERT_EQUAL(rs_admin_query_parse("=1", &q, &e), RS_EINVALID);
    char many[256] = "";
    for (int i = 0; i < RS_ADMIN_MAX_PARAMS + 1; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "k%d=1&", i);
    CU_ASSERT_EQUAL(rs_admin_query_parse(many, &q, &e), RS_EINVALID);
}

static void test_regions_and_bearer(void)
{
    CU_ASSERT_TRUE(rs_admin_regions_valid("all"));
    CU_ASSERT_TRUE(rs_admin_regions_valid("us-west-2"));
    CU_ASSERT_TRUE(rs_admin_regions_valid("us-west-2,eu-central-1,a_b.c"));
    const char *bad[] = {"", ",", "a,", ",a", "a,,b", "a b", "a;b", "<script>", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CU_ASSERT_FALSE(rs_admin_regions_valid(bad[i]));

    size_t n = 0;
    const char *t = rs_admin_bearer("Bearer abc", &n);
    CU_ASSERT(t && n == 3 && memcmp(t, "abc", 3) == 0);
    t = rs_admin_bearer("  bearer \t tok en  ", &n);
    CU_ASSERT(t && n == 6 && memcmp(t, "tok en", 6) == 0);
    CU_ASSERT_PTR_NULL(rs_admin_bearer("Basic abc", &n));
    CU_ASSERT_PTR_NULL(rs_admin_bearer("Bearer", &n));
    CU_ASSERT_PTR_NULL(rs_admin_bearer("Bearer   ", &n));
    CU_ASSERT_PTR_NULL(rs_admin_bearer("Bearerabc", &n));
    CU_ASSERT_PTR_NULL(rs_admin_bearer(NULL, &n));
}

static void test_status_mapping(void)
{
    CU_ASSERT_EQUAL(rs_admin_http_status(RS_OK), 200);
    CU_ASSERT_EQUAL(rs_admin_http_status(RS_ENOTFOUND), 404);
    CU_ASSERT_EQUAL(rs_admin_http_status(RS_EINVALID), 400);
    CU_ASSERT_EQUAL(rs_admin_http_status(RS_ECONFLICT), 409);
    CU_ASSERT_EQUAL(rs_admin_http_status(RS_EUNAVAILABLE), 503);
    CU_ASSERT_EQUAL(rs_admin_http_status(RS_EIO), 503);
    CU_ASSERT_EQUAL(rs_admin_http_status(RS_ETIMEOUT), 503);
    CU_ASSERT_EQUAL(rs_admin_http_status(RS_EUNSUPPORTED), 501);
    CU_ASSERT_EQUAL(rs_admin_http_status(RS_ECORRUPT), 500);
    CU_ASSERT_EQUAL(rs_admin_http_status(RS_EAUTH), 500);
    CU_ASSERT_EQUAL(rs_admin_http_status(-99), 500);
    CU_ASSERT_STRING_EQUAL(rs_admin_code_name(404), "not_found");
    CU_ASSERT_STRING_EQUAL(rs_admin_code_name(503), "unavailable");
    CU_ASSERT_STRING_EQUAL(rs_admin_code_name(599), "internal");

    size_t len = 0;
    char *s = rs_admin_error_json("not_found", "no \"such\" version", &len);
    CU_ASSERT_STRING_EQUAL(s, "{\"error\":{\"code\":\"not_found\",\"message\":\"no \\\"such\\\" version\"}}");
    CU_ASSERT_EQUAL(len, strlen(s));
    free(s);
    s = rs_admin_error_json("x", "\xff\xfe not utf-8", NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "could not be encoded"));
    free(s);
    CU_ASSERT_EQUAL(rs_admin_code_index(200), 0);
    CU_ASSERT_EQUAL(rs_admin_code_index(418), RS_ADMIN_NCODES);
    CU_ASSERT_EQUAL(rs_admin_code_index(0), RS_ADMIN_NCODES);
}

static json_t *p_status(void *ctx)
{
    (void)ctx;
    return json_object();
}

static void test_start_refusals(void)
{
    rs_admin_provider p = {.status = p_status};
    rs_admin *a = (rs_admin *)1;
    rs_error e = {0};

    rs_admin_config c = {.listen = "0.0.0.0:0"};
    CU_ASSERT_EQUAL(rs_admin_start(&c, &p, &a, &e), RS_EINVALID);
    CU_ASSERT_PTR_NULL(a);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "not a loopback address"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "token"));

    c.token = ""; /* empty is no token */
    CU_ASSERT_EQUAL(rs_admin_start(&c, &p, &a, &e), RS_EINVALID);
    c.listen = ":0";
    CU_ASSERT_EQUAL(rs_admin_start(&c, &p, &a, &e), RS_EINVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "not a loopback address"));

    rs_admin_config t = {.listen = "127.0.0.1:0", .tls_cert = "/nonexistent/cert.pem"};
    CU_ASSERT_EQUAL(rs_admin_start(&t, &p, &a, &e), RS_EINVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "tls_key"));
    t.tls_key = "/nonexistent/key.pem";
    CU_ASSERT_EQUAL(rs_admin_start(&t, &p, &a, &e), RS_EINVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "/nonexistent/cert.pem"));

    rs_admin_config b = {.listen = "127.0.0.1:99999"};
    CU_ASSERT_EQUAL(rs_admin_start(&b, &p, &a, &e), RS_EINVALID);
    b.listen = "no-such-host.invalid:0";
    CU_ASSERT_EQUAL(rs_admin_start(&b, &p, &a, &e), RS_EINVALID);
    b.listen = "127.0.0.1:0";
    b.workers = 65;
    CU_ASSERT_EQUAL(rs_admin_start(&b, &p, &a, &e), RS_EINVALID);
    CU_ASSERT_EQUAL(rs_admin_start(NULL, &p, &a, &e), RS_EINVALID);

    /* a loopback start and stop without traffic; then the same port is taken */
    rs_admin_config ok = {.listen = "127.0.0.1:0"};
    CU_ASSERT_EQUAL_FATAL(rs_admin_start(&ok, &p, &a, &e), RS_OK);
    const char *addr = rs_admin_bound_address(a);
    CU_ASSERT(strncmp(addr, "127.0.0.1:", 10) == 0 && atoi(addr + 10) > 0);
    rs_admin_config dup = {.listen = addr};
    rs_admin *a2 = NULL;
    CU_ASSERT_EQUAL(rs_admin_start(&dup, &p, &a2, &e), RS_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, addr));
    rs_admin_notify(a);
    rs_admin_stop(a);
    rs_admin_stop(NULL);
    rs_admin_notify(NULL);
}

/* ---- request framing (rs_admin_frame.c) ---- */

/* Feeds s in one piece, then byte by byte (the verdict and the offsets must not depend on how the
 * bytes arrive); returns 0 or -1 and the reason and the bad request's start offset. */
static int frame_run(const char *s, size_t n, const char **why, uint64_t *start)
{
    rs_frame a, b;
    rs_frame_init(&a, 16384);
    rs_frame_init(&b, 16384);
    int ra = rs_frame_feed(&a, (const uint8_t *)s, n);
    int rb = 0;
    for (size_t i = 0; i < n && rb == 0; i++)
        rb = rs_frame_feed(&b, (const uint8_t *)s + i, 1);
    CU_ASSERT_EQUAL(ra, rb);
    CU_ASSERT_EQUAL(a.req_start, b.req_start);
    CU_ASSERT_EQUAL(rs_frame_off(&a), rs_frame_off(&b));
    if (why)
        *why = a.why;
    if (start)
        *start = a.req_start;
    return ra;
}
#define FRAME(lit, why, start) frame_run(lit, sizeof(lit) - 1, why, start)

static void test_frame(void)
{
    const char *why = NULL;
    uint64_t start = 0;
    /* accepted: the framing libevent reads, for every body framing */
    static const char ok[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                             "POST /v1/pin HTTP/1.1\r\nContent-Length: 14\r\ncontent-length:  14 \r\n\r\n{\"version\": 3}"
                             "POST /v1/sync HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\n{}\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n"
                             "GET /metrics HTTP/1.0\n\n"
                             "HEAD /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
                             "DELETE /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                             "GET /v1/status HTTP/1.1\r\nAuthorization: Bearer a.b-c_d~e+f/g=\r\n\r\n";
    CU_ASSERT_EQUAL(FRAME(ok, &why, &start), 0);
    CU_ASSERT_EQUAL(start, sizeof ok - 1); /* at the end: every request was complete */

    /* refused, each with its reason, and where the refused request began */
    static const struct {
        const char *in;
        size_t len;
        const char *why;
    } bad[] = {
#define B(lit, w) {lit, sizeof(lit) - 1, w}
        B("POST /v1/pause HTTP/1.1\r\nAuthorization: Bearer tok\0junk\r\n\r\n", "NUL"),
        B("GET /healthz\0 HTTP/1.1\r\n\r\n", "NUL"),
        B("POST /v1/sync HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}", "differ"),
        B("POST /v1/sync HTTP/1.1\r\nContent-Length: +2\r\n\r\n{}", "Content-Length"),
        B("POST /v1/sync HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n{}", "Content-Length"),
        B("POST /v1/sync HTTP/1.1\r\nContent-Length: \r\n\r\n", "Content-Length"),
        B("POST /v1/sync HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n", "Content-Length"),
        B("POST /v1/sync HTTP/1.1\r\nContent-Length : 2\r\n\r\n{}", "header name"),
        B("POST /v1/sync HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n", "folding"),
        B("POST /v1/sync HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "other than chunked"),
        B("POST /v1/sync HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "more than one"),
        B("POST /v1/sync HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n", "both"),
        B("POST /v1/sync HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", "chunk size"),
        B("POST /v1/sync HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\n{}\r\n0\r\n\r\n", "chunk size"),
        B("POST /v1/sync HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\n", "chunk size"),
        B("POST /v1/sync HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\n", "chunk size"),
        B("POST /v1/sync HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "chunk size"),
        B("POST /v1/sync HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", "chunk size"),
        B("POST /v1/sync HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}X\r\n", "CRLF"),
        B("POST /v1/sync HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n", "trailer"),
        B("HEAD /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", "body"),
        B("TRACE / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "body"),
        B("GET /healthz HTTP/1.1\r\nHost: a\rb\r\n\r\n", "CR"),
        B("GET /healthz HTTP/1.1\r\nNoColon\r\n\r\n", "without ':'"),
#undef B
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        int rc = frame_run(bad[i].in, bad[i].len, &why, &start);
        CU_ASSERT_EQUAL(rc, -1);
        CU_ASSERT(why && strstr(why, bad[i].why));
        CU_ASSERT_EQUAL(start, 0);
        if (rc != -1 || !why || !strstr(why, bad[i].why))
            fprintf(stderr, "frame case %zu: rc %d, why %s\n", i, rc, why ? why : "(none)");
    }
    /* a refused request behind complete ones: its start is the offset after them */
    static const char two[] = "GET /healthz HTTP/1.1\r\n\r\nPOST /v1/sync HTTP/1.1\r\nContent-Length: 1\r\n\r\nx"
                              "POST /v1/sync HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
    CU_ASSERT_EQUAL(FRAME(two, &why, &start), -1);
    CU_ASSERT_EQUAL(start, strlen("GET /healthz HTTP/1.1\r\n\r\nPOST /v1/sync HTTP/1.1\r\nContent-Length: 1\r\n\r\nx"));
    /* not a request line, or a head over the limit: left to libevent (it answers 400) */
    CU_ASSERT_EQUAL(FRAME("HELLO\r\n\r\n\0\0", &why, &start), 0);
    rs_frame f;
    rs_frame_init(&f, 100);
    char big[2000];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET / HTTP/1.1\r\nX-Big: ", 23);
    CU_ASSERT_EQUAL(rs_frame_feed(&f, (const uint8_t *)big, sizeof big), 0);
    CU_ASSERT_TRUE(rs_frame_off(&f));
    CU_ASSERT_FALSE(rs_frame_bad(&f));
    /* a large body passes without being looked at */
    rs_frame_init(&f, 16384);
    static const char hdr[] = "POST /v1/sync HTTP/1.1\r\nContent-Length: 100000\r\n\r\n";
    CU_ASSERT_EQUAL(rs_frame_feed(&f, (const uint8_t *)hdr, sizeof hdr - 1), 0);
    char *body = calloc(1, 100000); /* NUL bytes in a body are the body's business */
    CU_ASSERT_EQUAL(rs_frame_feed(&f, (const uint8_t *)body, 100000), 0);
    free(body);
    CU_ASSERT_EQUAL(f.req_start, sizeof hdr - 1 + 100000);
    CU_ASSERT_FALSE(rs_frame_off(&f));
}

int main(void)
{
    rs_log_configure(RS_LOG_ERROR, false, 2);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("admin", NULL, NULL);
    CU_add_test(s, "Prometheus text helpers", test_prom);
    CU_add_test(s, "listen address parsing", test_listen_parse);
    CU_add_test(s, "loopback addresses and formatting", test_loopback);
    CU_add_test(s, "Host header loopback check", test_host_header);
    CU_add_test(s, "strict positive integers", test_u64);
    CU_add_test(s, "query strings", test_query);
    CU_add_test(s, "region lists and bearer tokens", test_regions_and_bearer);
    CU_add_test(s, "rs_error to HTTP status, error bodies", test_status_mapping);
    CU_add_test(s, "rs_admin_start refusals", test_start_refusals);
    CU_add_test(s, "request framing check", test_frame);
    return rs_test_run();
}
