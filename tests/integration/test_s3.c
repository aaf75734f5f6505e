/* test_s3.c: the S3 backend against a real S3 server (Ceph RGW, scripts/s3-server.sh).
 *
 *   eval "$(scripts/s3-server.sh env)"; build/tests/test_s3
 *
 * Needs RS_TEST_S3_URL and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the server's user). Without
 * them every server test prints a loud SKIP (a failure with RS_REQUIRE_SERVERS=1); the URL and
 * region resolution tests need no server and always run.
 *
 * What runs where:
 * - round trips, ETags, conditional PUT races, listing across pages, odd keys, SSE: regsync <-> RGW
 * - cross-checks with the independent client /usr/bin/aws (what we write it reads, and back)
 * - a PUT whose x-amz-content-sha256 does not match the body, built with the sigv4 API: RGW refuses
 * - credentials: environment, shared files + AWS_PROFILE, STS session tokens (RGW's STS), and the
 *   container endpoint and IMDSv2 served by a small HTTP server inside this test on 127.0.0.1. That
 *   server stands in for the ECS agent / EC2 instance metadata service, which cannot run here.
 * - faults: scripts/fault-proxy.py (started here on a free port) between regsync and RGW.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aws_creds.h"
#include "rs_buf.h"
#include "rs_error.h"
#include "rs_log.h"
#include "rs_storage.h"
#include "rs_test.h"
#include "rs_time.h"
#include "s3.h"
#include "sigv4.h"

#ifndef RS_SOURCE_DIR
#define RS_SOURCE_DIR "."
#endif
#define AWS_CLI "/usr/bin/aws"

/* ---------------------------------------------------------------------------------------------
 * environment handling: every test starts from the same environment */

static const char *env_names[] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "FEAST_S3_ENDPOINT_URL", "HOME", NULL};
static char *env_saved[32];

static void env_save(void)
{
    for (int i = 0; env_names[i]; i++) {
        const char *v = getenv(env_names[i]);
        env_saved[i] = v ? strdup(v) : NULL;
    }
}

static void env_restore(void)
{
    for (int i = 0; env_names[i]; i++) {
        if (env_saved[i])
            setenv(env_names[i], env_saved[i], 1);
        else
            unsetenv(env_names[i]);
    }
}

/* Leaves only what the tests choose: no credentials, no region, no metadata service. */
static void env_clean(const char *tmp)
{
    for (int i = 0; env_names[i]; i++)
        unsetenv(env_names[i]);
    setenv("HOME", tmp, 1); /* so that ~/.aws of the machine is never read */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static const char *g_url;        /* RS_TEST_S3_URL */
static char g_run_url[1024];     /* same with a per-run sub-prefix */
static char g_run_prefix[256];   /* "rs-test/run-..." (bucket-relative) */
static char g_bucket[128];
static char g_endpoint[256];
static char g_ak[256], g_sk[256];
static char *g_tmp;

static bool have_server(const char *what)
{
    /* rs_test_env fails the test instead of returning NULL when RS_REQUIRE_SERVERS=1 */
    if (rs_test_env("RS_TEST_S3_URL") && rs_test_env("AWS_ACCESS_KEY_ID") && rs_test_env("AWS_SECRET_ACCESS_KEY") &&
        g_url && g_ak[0])
        return true;
    rs_test_skip(what, "RS_TEST_S3_URL or AWS keys not set (eval \"$(scripts/s3-server.sh env)\")");
    return false;
}

static void use_good_env(void)
{
    setenv("AWS_ACCESS_KEY_ID", g_ak, 1);
    setenv("AWS_SECRET_ACCESS_KEY", g_sk, 1);
}

/* URL of the run with an extra sub-prefix and extra parameters. */
static void run_url(char *out, size_t n, const char *sub, const char *extra_params)
{
    const char *q = strchr(g_url, '?');
    snprintf(out, n, "s3://%s/%s%s%s%s%s", g_bucket, g_run_prefix, sub && *sub ? "/" : "", sub ? sub : "",
             q ? q : "?", extra_params ? extra_params : "");
    if (!q && extra_params && extra_params[0] == '&') /* "?&x" -> "?x" */
        memmove(strchr(out, '?') + 1, strchr(out, '?') + 2, strlen(strchr(out, '?') + 2) + 1);
}

static rs_storage *open_url(const char *url, const rs_storage_opts *o)
{
    rs_storage *s = NULL;
    rs_error e = {0};
    int rc = rs_storage_open(url, o, &s, &e);
    if (rc)
        fprintf(stderr, "open %s: %s\n", url, e.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    return s;
}

static void fill_random(uint8_t *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

/* Runs a shell command; returns its exit status. Output goes to out (may be NULL). */
static int sh(const char *cmd, rs_buf *out)
{
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        if (out)
            rs_buf_append(out, buf, n);
    if (out)
        rs_buf_cstr(out);
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---------------------------------------------------------------------------------------------
 * URL and region resolution (no server needed) */

static void write_file(const char *path, const char *text) { CU_ASSERT_EQUAL(rs_test_write_file(path, text, strlen(text)), 0); }

static void test_region_resolution(void)
{
    env_clean(g_tmp);
    rs_s3_config c;
    rs_error e = {0};
    rs_storage_opts o = {0};

    /* nothing anywhere: the error names every place looked at */
    CU_ASSERT_EQUAL(rs_s3_config_parse("s3://bkt/p", &o, &c, &e), RS_EINVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "region="));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "configuration"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "AWS_REGION"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "AWS_DEFAULT_REGION"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, ".aws/config"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "profile 'default'"));
    printf("\n    no region: %s\n", e.msg);
    /* the same through the public interface */
    rs_storage *s = NULL;
    CU_ASSERT_EQUAL(rs_storage_open("s3://bkt/p", NULL, &s, &e), RS_EINVALID);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "AWS_DEFAULT_REGION"));

    /* config file, named profile */
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/aws-config", g_tmp);
    write_file(cfg, "[default]\nregion = eu-north-1\n\n[profile other]\n# comment\nregion=ap-south-1\ns3 =\n  "
                    "addressing_style = path\n");
    setenv("AWS_CONFIG_FILE", cfg, 1);
    CU_ASSERT_EQUAL_FATAL(rs_s3_config_parse("s3://bkt/p", &o, &c, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(c.region, "eu-north-1");
    CU_ASSERT_STRING_EQUAL(c.region_source, "config file profile region");
    rs_s3_config_free(&c);
    setenv("AWS_PROFILE", "other", 1);
    CU_ASSERT_EQUAL_FATAL(rs_s3_config_parse("s3://bkt/p", &o, &c, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(c.region, "ap-south-1");
    rs_s3_config_free(&c);
    setenv("AWS_PROFILE", "missing", 1);
    CU_ASSERT_EQUAL(rs_s3_config_parse("s3://bkt/p", &o, &c, &e), RS_EINVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "profile 'missing'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "no such profile"));
    setenv("AWS_PROFILE", "other", 1);

    /* each earlier place beats the later ones */
    setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
    CU_ASSERT_EQUAL_FATAL(rs_s3_config_parse("s3://bkt/p", &o, &c, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(c.region, "us-west-1");
    CU_ASSERT_STRING_EQUAL(c.region_source, "AWS_DEFAULT_REGION");
    rs_s3_config_free(&c);
    setenv("AWS_REGION", "us-west-2", 1);
    CU_ASSERT_EQUAL_FATAL(rs_s3_config_parse("s3://bkt/p", &o, &c, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(c.region, "us-west-2");
    CU_ASSERT_STRING_EQUAL(c.region_source, "AWS_REGION");
    rs_s3_config_free(&c);
    o.region = "eu-west-3";
    CU_ASSERT_EQUAL_FATAL(rs_s3_config_parse("s3://bkt/p", &o, &c, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(c.region, "eu-west-3");
    rs_s3_config_free(&c);
    CU_ASSERT_EQUAL_FATAL(rs_s3_config_parse("s3://bkt/p?region=sa-east-1", &o, &c, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(c.region, "sa-east-1");
    CU_ASSERT_STRING_EQUAL(c.region_source, "URL (region=)");
    rs_s3_config_free(&c);
    CU_ASSERT_EQUAL(rs_s3_config_parse("s3://bkt/p?region=evil.example.com/", &o, &c, &e), RS_EINVALID);
}

static void test_url_parsing(void)
{
    env_clean(g_tmp);
    rs_s3_config c;
    rs_error e = {0};
    rs_storage_opts o = {.region = "eu-west-1"};

    /* AWS, virtual-hosted */
    CU_ASSERT_EQUAL_FATAL(rs_s3_config_parse("s3://my-bucket/feast/prod/", &o, &c, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(c.bucket, "my-bucket");
    CU_ASSERT_STRING_EQUAL(c.prefix, "feast/prod/");
    CU_ASSERT_STRING_EQUAL(c.origin, "https://my-bucket.s3.eu-west-1.amazonaws.com");
    CU_ASSERT_STRING_EQUAL(c.host, "my-bucket.s3.eu-west-1.amazonaws.com");
    CU_ASSERT_STRING_EQUAL(c.base_path, "");
    CU_ASSERT_FALSE(c.path_style);
    CU_ASSERT_STRING_EQUAL(c.endpoint_source, "AWS");
    rs_s3_config_free(&c);
    /* dots in the bucket: path style (the wildcard certificate does not cover them) */
    CU_ASSERT_EQUAL_FATAL(rs_s3_config_parse("s3://my.bucket", &o, &c, &e), RS_OK);
    CU_ASSERT_TRUE(c.path_style);
    CU_ASSERT_STRING_EQUAL(c.origin, "https://s3.eu-west-1.amazonaws.com");
    CU_ASSERT_STRING_EQUAL(c.base_path, "/my.bucket");
    CU_ASSERT_STRING_EQUAL(c.prefix, "");
    rs_s3_config_free(&c);
    CU_ASSERT_EQUAL_FATAL(rs_s3_config_parse("s3://bkt/x?path_style=true", &o, &c, &e), RS_OK);
    CU_ASSERT_TRUE(c.path_style);
    CU_ASSERT_STRING_EQUAL(c.host, "s3.eu-west-1.amazonaws.com");
    rs_s3_config_free(&c);
    CU_ASSERT_EQUAL_FATAL(rs_s3_config_parse("s3://bkt?region=cn-north-1", &o, &c, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(c.host, "bkt.s3.cn-north-1.amazonaws.com.cn");
    rs_s3_config_free(&c);

    /* endpoint from the URL (encoded or not), then FEAST_S3_ENDPOINT_URL */
    CU_ASSERT_EQUAL_FATAL(
        rs_s3_config_parse("s3://bkt/a?endpoint=http%3A%2F%2F127.0.0.1%3A9000&sse=aws:kms&sse_kms_key_id=k1", &o, &c, &e),
        RS_OK);
    CU_ASSERT_STRING_EQUAL(c.origin, "http://127.0.0.1:9000");
    CU_ASSERT_STRING_EQUAL(c.host, "127.0.0.1:9000");
    CU_ASSERT_STRING_EQUAL(c.base_path, "/bkt");
    CU_ASSERT_TRUE(c.path_style);
    CU_ASSERT_STRING_EQUAL(c.sse, "aws:kms");
    CU_ASSERT_STRING_EQUAL(c.sse_kms_key_id, "k1");
    rs_s3_config_free(&c);
    setenv("FEAST_S3_ENDPOINT_URL", "https://minio.internal:9443/", 1);
    CU_ASSERT_EQUAL_FATAL(rs_s3_config_parse("s3://bkt/a", &o, &c, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(c.origin, "https://minio.internal:9443");
    CU_ASSERT_STRING_EQUAL(c.endpoint_source, "FEAST_S3_ENDPOINT_URL");
    rs_s3_config_free(&c);
    CU_ASSERT_EQUAL_FATAL(rs_s3_config_parse("s3://bkt/a?path_style=false", &o, &c, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(c.origin, "https://bkt.minio.internal:9443");
    rs_s3_config_free(&c);
    CU_ASSERT_EQUAL_FATAL(rs_s3_config_parse("s3://bkt/a?endpoint=http://rgw:7480", &o, &c, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(c.endpoint_source, "URL (endpoint=)");
    rs_s3_config_free(&c);
    unsetenv("FEAST_S3_ENDPOINT_URL");

    /* mistakes are named */
    const char *bad[][2] = {{"s3://bkt/a?regoin=x", "regoin"},
                            {"s3://bkt/a?sse=AES128", "sse"},
                            {"s3://bkt/a?sse_kms_key_id=k", "sse=aws:kms"},
                            {"s3://bkt/a?path_style=maybe", "path_style"},
                            {"s3://bkt/a?endpoint=ftp://x", "http"},
                            {"s3://bkt/a?region=a&region=b", "twice"},
                            {"s3://bkt/a?endpoint=%zz", "escape"},
                            {"s3://b@d/a", "bucket"},
                            {"s3:///a", "bucket"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = rs_s3_config_parse(bad[i][0], &o, &c, &e);
        CU_ASSERT_EQUAL(rc, RS_EINVALID);
        if (rc == RS_EINVALID && !strstr(e.msg, bad[i][1]))
            fprintf(stderr, "%s: message lacks '%s': %s\n", bad[i][0], bad[i][1], e.msg);
        CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, bad[i][1]));
    }
}

/* ---------------------------------------------------------------------------------------------
 * round trips and semantics */

static void test_roundtrip(void)
{
    if (!have_server("s3 round trip"))
        return;
    use_good_env();
    rs_storage *s = open_url(g_run_url, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_STRING_EQUAL(rs_storage_scheme(s), "s3");
    rs_error e = {0};
    size_t sizes[] = {0, 1, 1000, 1 << 20, 10u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *in = malloc(sizes[i] + 1);
        fill_random(in, sizes[i], (unsigned)i + 1);
        char key[64], etag[RS_ETAG_MAX], etag2[RS_ETAG_MAX];
        snprintf(key, sizeof key, "rt/obj-%zu.bin", sizes[i]);
        int rc = rs_storage_put(s, key, in, sizes[i], RS_PUT_ALWAYS, NULL, etag, &e);
        if (rc)
            fprintf(stderr, "put %s: %s\n", key, e.msg);
        CU_ASSERT_EQUAL(rc, RS_OK);
        CU_ASSERT(strlen(etag) > 0);
        CU_ASSERT(etag[0] != '"');
        uint8_t *out = NULL;
        size_t n = 99;
        rc = rs_storage_get(s, key, NULL, &out, &n, etag2, &e);
        CU_ASSERT_EQUAL(rc, RS_OK);
        CU_ASSERT_PTR_NOT_NULL(out);
        CU_ASSERT_EQUAL(n, sizes[i]);
        CU_ASSERT(n == sizes[i] && memcmp(in, out, n) == 0);
        CU_ASSERT_STRING_EQUAL(etag, etag2);
        free(out);
        free(in);
    }
    rs_list_entry *le = NULL;
    size_t ln = 0;
    CU_ASSERT_EQUAL(rs_storage_list(s, "rt/", &le, &ln, &e), RS_OK);
    CU_ASSERT_EQUAL(ln, 5);
    for (size_t i = 0; i < ln; i++) {
        CU_ASSERT_EQUAL(strncmp(le[i].key, "rt/obj-", 7), 0);
        CU_ASSERT(le[i].mtime_ms > 1700000000000LL);
        CU_ASSERT(strlen(le[i].etag) > 0 && le[i].etag[0] != '"');
    }
    if (ln == 5) /* sorted: obj-0, obj-1, obj-1000, obj-1048576, obj-10485760 */
        CU_ASSERT_EQUAL(le[0].size, 0);
    rs_storage_list_free(le, ln);
    CU_ASSERT_EQUAL(rs_storage_delete(s, "rt/obj-1.bin", &e), RS_OK);
    uint8_t *out = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_get(s, "rt/obj-1.bin", NULL, &out, &n, NULL, &e), RS_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "rt/obj-1.bin"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, g_bucket));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "404"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "NoSuchKey"));
    CU_ASSERT_EQUAL(rs_storage_delete(s, "rt/obj-1.bin", &e), RS_OK); /* missing: still OK */

    /* latency over the kept-alive connection */
    uint8_t small[1024];
    fill_random(small, sizeof small, 7);
    rs_storage_stats st0, st1;
    rs_storage_get_stats(s, &st0);
    int64_t t0 = rs_mono_ns();
    for (int i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(rs_storage_put(s, "rt/small", small, sizeof small, RS_PUT_ALWAYS, NULL, NULL, &e), RS_OK);
    int64_t t1 = rs_mono_ns();
    char etag[RS_ETAG_MAX];
    for (int i = 0; i < 100; i++) {
        CU_ASSERT_EQUAL(rs_storage_get(s, "rt/small", NULL, &out, &n, etag, &e), RS_OK);
        free(out);
    }
    int64_t t2 = rs_mono_ns();
    for (int i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(rs_storage_get(s, "rt/small", etag, &out, &n, NULL, &e), RS_ENOTMODIFIED);
    int64_t t3 = rs_mono_ns();
    rs_storage_get_stats(s, &st1);
    printf("\n    latency 1 KiB, keep-alive: PUT %.2f ms, GET %.2f ms, unchanged poll (304) %.2f ms; "
           "requests %llu, bytes out %llu, in %llu, not_modified %llu\n",
           (t1 - t0) / 1e8, (t2 - t1) / 1e8, (t3 - t2) / 1e8, (unsigned long long)(st1.requests - st0.requests),
           (unsigned long long)(st1.bytes_out - st0.bytes_out), (unsigned long long)(st1.bytes_in - st0.bytes_in),
           (unsigned long long)(st1.not_modified - st0.not_modified));
    CU_ASSERT_EQUAL(st1.requests - st0.requests, 300);
    CU_ASSERT_EQUAL(st1.bytes_out - st0.bytes_out, 100 * sizeof small);
    CU_ASSERT_EQUAL(st1.bytes_in - st0.bytes_in, 100 * sizeof small);
    CU_ASSERT_EQUAL(st1.not_modified - st0.not_modified, 100);
    CU_ASSERT_EQUAL(st1.retries, 0);
    rs_storage_close(s);
}

static void test_etag_semantics(void)
{
    if (!have_server("s3 etag"))
        return;
    use_good_env();
    rs_storage *s = open_url(g_run_url, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    rs_error e = {0};
    char e1[RS_ETAG_MAX], e2[RS_ETAG_MAX], got[RS_ETAG_MAX];
    CU_ASSERT_EQUAL(rs_storage_put(s, "etag/x", (const uint8_t *)"one", 3, RS_PUT_ALWAYS, NULL, e1, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(e1, "f97c5d29941bfb1b2fdab0874906ab82"); /* md5("one"): single-part PUT */
    uint8_t *d = (uint8_t *)"sentinel";
    size_t n = 5;
    CU_ASSERT_EQUAL(rs_storage_get(s, "etag/x", e1, &d, &n, got, &e), RS_ENOTMODIFIED);
    CU_ASSERT_PTR_NULL(d);
    CU_ASSERT_EQUAL(n, 0);
    char quoted[RS_ETAG_MAX + 2];
    snprintf(quoted, sizeof quoted, "\"%s\"", e1);
    CU_ASSERT_EQUAL(rs_storage_get(s, "etag/x", quoted, &d, &n, got, &e), RS_ENOTMODIFIED);
    CU_ASSERT_EQUAL(rs_storage_get(s, "etag/x", "0123456789abcdef0123456789abcdef", &d, &n, got, &e), RS_OK);
    CU_ASSERT(n == 3 && memcmp(d, "one", 3) == 0);
    free(d);
    CU_ASSERT_EQUAL(rs_storage_put(s, "etag/x", (const uint8_t *)"two", 3, RS_PUT_ALWAYS, NULL, e2, &e), RS_OK);
    CU_ASSERT_STRING_NOT_EQUAL(e1, e2);
    CU_ASSERT_EQUAL(rs_storage_get(s, "etag/x", e1, &d, &n, got, &e), RS_OK);
    CU_ASSERT(n == 3 && memcmp(d, "two", 3) == 0);
    CU_ASSERT_STRING_EQUAL(got, e2);
    free(d);
    CU_ASSERT_EQUAL(rs_storage_get(s, "etag/missing", e1, &d, &n, got, &e), RS_ENOTFOUND);
    rs_storage_close(s);
}

/* child of a race: exits 0 on OK, 1 on CONFLICT, 2 otherwise */
static int race_child(const char *url, const char *key, rs_put_mode mode, const char *if_match, int id)
{
    rs_storage *s = NULL;
    rs_error e = {0};
    if (rs_storage_open(url, NULL, &s, &e))
        return 3;
    char body[64];
    snprintf(body, sizeof body, "writer %d", id);
    int rc = rs_storage_put(s, key, (const uint8_t *)body, strlen(body), mode, if_match, NULL, &e);
    if (rc && rc != RS_ECONFLICT)
        fprintf(stderr, "race child %d: %s\n", id, e.msg);
    rs_storage_stats st;
    rs_storage_get_stats(s, &st);
    rs_storage_close(s);
    return rc == RS_OK ? 0 : rc == RS_ECONFLICT ? 1 : 2;
}

static void race(const char *key, rs_put_mode mode, const char *if_match, int *wins, int *conflicts, int *others)
{
    enum { N = 8 };
    pid_t pids[N];
    fflush(NULL);
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
            _exit(race_child(g_run_url, key, mode, if_match, i));
    }
    *wins = *conflicts = *others = 0;
    for (int i = 0; i < N; i++) {
        int st = 0;
        waitpid(pids[i], &st, 0);
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 9;
        *wins += code == 0;
        *conflicts += code == 1;
        *others += code > 1;
    }
}

static void test_conditional_put(void)
{
    if (!have_server("s3 conditional put"))
        return;
    use_good_env();
    rs_storage *s = open_url(g_run_url, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    rs_error e = {0};
    char e1[RS_ETAG_MAX], e2[RS_ETAG_MAX];
    const uint8_t *A = (const uint8_t *)"A", *B = (const uint8_t *)"B";
    CU_ASSERT_EQUAL(rs_storage_put(s, "cond/k", A, 1, RS_PUT_IF_ABSENT, NULL, e1, &e), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "cond/k", B, 1, RS_PUT_IF_ABSENT, NULL, NULL, &e), RS_ECONFLICT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "412"));
    CU_ASSERT_EQUAL(rs_storage_put(s, "cond/k", B, 1, RS_PUT_IF_MATCH, "00000000000000000000000000000000", NULL, &e),
                    RS_ECONFLICT);
    CU_ASSERT_EQUAL(rs_storage_put(s, "cond/k", B, 1, RS_PUT_IF_MATCH, e1, e2, &e), RS_OK);
    CU_ASSERT_STRING_NOT_EQUAL(e1, e2);
    CU_ASSERT_EQUAL(rs_storage_put(s, "cond/k", A, 1, RS_PUT_IF_MATCH, e1, NULL, &e), RS_ECONFLICT); /* stale */
    char quoted[RS_ETAG_MAX + 2];
    snprintf(quoted, sizeof quoted, "\"%s\"", e2); /* quoted form is accepted too (sent unquoted) */
    CU_ASSERT_EQUAL(rs_storage_put(s, "cond/k", A, 1, RS_PUT_IF_MATCH, quoted, NULL, &e), RS_OK);
    CU_ASSERT_EQUAL(rs_storage_put(s, "cond/missing", A, 1, RS_PUT_IF_MATCH, e1, NULL, &e), RS_ECONFLICT);
    uint8_t *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_get(s, "cond/k", NULL, &d, &n, NULL, &e), RS_OK);
    CU_ASSERT(n == 1 && d[0] == 'A');
    free(d);

    /* 8 processes race to create the same key: exactly one wins */
    int w, c, o;
    race("cond/race-absent", RS_PUT_IF_ABSENT, NULL, &w, &c, &o);
    printf("\n    if-absent race: %d won, %d conflict, %d other\n", w, c, o);
    CU_ASSERT_EQUAL(w, 1);
    CU_ASSERT_EQUAL(c, 7);
    CU_ASSERT_EQUAL(o, 0);
    /* 8 processes race to replace the same version: exactly one wins (RGW answers some losers 500) */
    char cur[RS_ETAG_MAX];
    CU_ASSERT_EQUAL(rs_storage_put(s, "cond/race-match", A, 1, RS_PUT_ALWAYS, NULL, cur, &e), RS_OK);
    race("cond/race-match", RS_PUT_IF_MATCH, cur, &w, &c, &o);
    printf("    if-match race: %d won, %d conflict, %d other\n", w, c, o);
    CU_ASSERT_EQUAL(w, 1);
    CU_ASSERT_EQUAL(c, 7);
    CU_ASSERT_EQUAL(o, 0);
    rs_storage_close(s);
}

static void test_list_pages(void)
{
    if (!have_server("s3 list"))
        return;
    use_good_env();
    rs_storage *s = open_url(g_run_url, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    rs_error e = {0};
    enum { N = 1234 }; /* two pages of 1000 */
    int64_t t0 = rs_mono_ms();
    for (int i = 0; i < N; i++) {
        char key[64];
        snprintf(key, sizeof key, "list/k%05d", i);
        if (rs_storage_put(s, key, (const uint8_t *)key, strlen(key), RS_PUT_ALWAYS, NULL, NULL, &e) != RS_OK) {
            CU_FAIL("put for list");
            break;
        }
    }
    /* XML-special characters in keys travel as entities in the listing */
    const char *odd = "list/z&<>\"'.db";
    CU_ASSERT_EQUAL(rs_storage_put(s, odd, (const uint8_t *)"x", 1, RS_PUT_ALWAYS, NULL, NULL, &e), RS_OK);
    int64_t t1 = rs_mono_ms();
    rs_list_entry *le = NULL;
    size_t n = 0;
    rs_storage_stats st0, st1;
    rs_storage_get_stats(s, &st0);
    int rc = rs_storage_list(s, "list/", &le, &n, &e);
    rs_storage_get_stats(s, &st1);
    int64_t t2 = rs_mono_ms();
    if (rc)
        fprintf(stderr, "list: %s\n", e.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    CU_ASSERT_EQUAL(n, N + 1);
    CU_ASSERT_EQUAL(st1.requests - st0.requests, 2); /* 1000 + 235 */
    bool ok = n == N + 1;
    for (size_t i = 0; ok && i < N; i++) {
        char key[64];
        snprintf(key, sizeof key, "list/k%05zu", i);
        if (strcmp(le[i].key, key) != 0 || le[i].size != strlen(key))
            ok = false;
    }
    CU_ASSERT_TRUE(ok);
    if (n == N + 1)
        CU_ASSERT_STRING_EQUAL(le[N].key, odd);
    printf("\n    %d PUTs in %lld ms; list of %zu keys in %lld ms (%llu requests)\n", N + 1, (long long)(t1 - t0), n,
           (long long)(t2 - t1), (unsigned long long)(st1.requests - st0.requests));
    rs_storage_list_free(le, n);
    /* a prefix that matches nothing */
    CU_ASSERT_EQUAL(rs_storage_list(s, "list/nothing-here/", &le, &n, &e), RS_OK);
    CU_ASSERT_EQUAL(n, 0);
    rs_storage_list_free(le, n);
    rs_storage_close(s);
}

static const char *odd_keys[] = {"odd/a b/c d.db", "odd/\xc3\xbc/\xc3\xb1/\xe6\x97\xa5\xe6\x9c\xac.db",
                                 "odd/x()!*'.db", "odd/plus+eq=amp&.db", "odd/t~d-u_.db", "odd/pct%20.db",
                                 "odd/semi;colon:at@$,.db", "odd/q?hash#.db", "odd/./dot", NULL};

static void test_odd_keys(void)
{
    if (!have_server("s3 odd keys"))
        return;
    use_good_env();
    rs_storage *s = open_url(g_run_url, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    rs_error e = {0};
    for (int i = 0; odd_keys[i]; i++) {
        int rc = rs_storage_put(s, odd_keys[i], (const uint8_t *)odd_keys[i], strlen(odd_keys[i]), RS_PUT_ALWAYS,
                                NULL, NULL, &e);
        if (rc)
            fprintf(stderr, "put '%s': %s\n", odd_keys[i], e.msg);
        CU_ASSERT_EQUAL(rc, RS_OK);
        uint8_t *d = NULL;
        size_t n = 0;
        rc = rs_storage_get(s, odd_keys[i], NULL, &d, &n, NULL, &e);
        CU_ASSERT_EQUAL(rc, RS_OK);
        CU_ASSERT(rc == RS_OK && n == strlen(odd_keys[i]) && memcmp(d, odd_keys[i], n) == 0);
        free(d);
    }
    rs_list_entry *le = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_list(s, "odd/", &le, &n, &e), RS_OK);
    size_t found = 0;
    for (int i = 0; odd_keys[i]; i++)
        for (size_t j = 0; j < n; j++)
            found += strcmp(le[j].key, odd_keys[i]) == 0;
    CU_ASSERT_EQUAL(found, 9);
    rs_storage_list_free(le, n);
    /* the independent client sees the same names (the full key, byte for byte) */
    rs_buf out = {0};
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             AWS_CLI " --endpoint-url %s s3api list-objects-v2 --bucket %s --prefix '%s/odd/' --query "
                     "'Contents[].Key' --output text 2>&1",
             g_endpoint, g_bucket, g_run_prefix);
    if (access(AWS_CLI, X_OK) == 0) {
        CU_ASSERT_EQUAL(sh(cmd, &out), 0);
        for (int i = 0; odd_keys[i]; i++) {
            char full[512];
            snprintf(full, sizeof full, "%s/%s", g_run_prefix, odd_keys[i]);
            if (!strstr((char *)out.data, full))
                fprintf(stderr, "aws does not list '%s': %s\n", full, (char *)out.data);
            CU_ASSERT_PTR_NOT_NULL(strstr((char *)out.data, full));
        }
    } else {
        rs_test_skip("aws cross-check of odd keys", AWS_CLI " not installed");
    }
    rs_buf_free(&out);
    for (int i = 0; odd_keys[i]; i++)
        CU_ASSERT_EQUAL(rs_storage_delete(s, odd_keys[i], &e), RS_OK);
    rs_storage_close(s);
}

/* What regsync writes, aws reads byte-identical; what aws writes, regsync reads. */
static void test_aws_cli_crosscheck(void)
{
    if (!have_server("s3 aws cross-check"))
        return;
    if (access(AWS_CLI, X_OK) != 0) {
        rs_test_skip("s3 aws cross-check", AWS_CLI " not installed");
        return;
    }
    use_good_env();
    setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
    rs_storage *s = open_url(g_run_url, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    rs_error e = {0};
    size_t len = 3 * 1024 * 1024 + 17;
    uint8_t *data = malloc(len);
    fill_random(data, len, 42);
    char etag[RS_ETAG_MAX];
    CU_ASSERT_EQUAL(rs_storage_put(s, "xcheck/ours.bin", data, len, RS_PUT_ALWAYS, NULL, etag, &e), RS_OK);
    char path[512], cmd[2048];
    snprintf(path, sizeof path, "%s/from-aws.bin", g_tmp);
    snprintf(cmd, sizeof cmd,
             AWS_CLI " --endpoint-url %s s3api get-object --bucket %s --key '%s/xcheck/ours.bin' '%s' "
                     "--query ETag --output text 2>&1",
             g_endpoint, g_bucket, g_run_prefix, path);
    rs_buf out = {0};
    CU_ASSERT_EQUAL(sh(cmd, &out), 0);
    char want[RS_ETAG_MAX + 4];
    snprintf(want, sizeof want, "\"%s\"", etag);
    CU_ASSERT_PTR_NOT_NULL(strstr((char *)out.data, want)); /* same ETag */
    rs_buf_free(&out);
    uint8_t *back = NULL;
    size_t blen = 0;
    CU_ASSERT_EQUAL(rs_read_file(path, 0, &back, &blen, &e), RS_OK);
    CU_ASSERT(blen == len && memcmp(back, data, len) == 0);
    free(back);

    /* aws writes (s3 cp: multipart above 8 MiB is not used at this size), regsync reads */
    char src[512];
    snprintf(src, sizeof src, "%s/to-s3.bin", g_tmp);
    fill_random(data, len, 43);
    CU_ASSERT_EQUAL(rs_test_write_file(src, data, len), 0);
    snprintf(cmd, sizeof cmd, AWS_CLI " --endpoint-url %s s3 cp --only-show-errors '%s' 's3://%s/%s/xcheck/theirs.bin'",
             g_endpoint, src, g_bucket, g_run_prefix);
    CU_ASSERT_EQUAL(sh(cmd, NULL), 0);
    uint8_t *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_get(s, "xcheck/theirs.bin", NULL, &d, &n, NULL, &e), RS_OK);
    CU_ASSERT(n == len && memcmp(d, data, len) == 0);
    free(d);
    /* and a key with odd characters written by aws */
    snprintf(cmd, sizeof cmd,
             AWS_CLI " --endpoint-url %s s3api put-object --bucket %s --key \"%s/xcheck/a b(1)!*'\xc3\xbc.txt\" "
                     "--body '%s' >/dev/null",
             g_endpoint, g_bucket, g_run_prefix, src);
    CU_ASSERT_EQUAL(sh(cmd, NULL), 0);
    CU_ASSERT_EQUAL(rs_storage_get(s, "xcheck/a b(1)!*'\xc3\xbc.txt", NULL, &d, &n, NULL, &e), RS_OK);
    CU_ASSERT(n == len && memcmp(d, data, len) == 0);
    free(d);
    free(data);
    rs_storage_close(s);
}

static void test_sse(void)
{
    if (!have_server("s3 sse"))
        return;
    use_good_env();
    setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
    char url[1200];
    run_url(url, sizeof url, "sse", "&sse=aws:kms&sse_kms_key_id=regsync-test-key");
    rs_storage *s = open_url(url, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    rs_error e = {0};
    int rc = rs_storage_put(s, "kms.bin", (const uint8_t *)"secret stuff", 12, RS_PUT_ALWAYS, NULL, NULL, &e);
    if (rc)
        fprintf(stderr, "sse-kms put: %s\n", e.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    uint8_t *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_get(s, "kms.bin", NULL, &d, &n, NULL, &e), RS_OK);
    CU_ASSERT(n == 12 && memcmp(d, "secret stuff", 12) == 0);
    free(d);
    rs_storage_close(s);
    if (access(AWS_CLI, X_OK) == 0) {
        char cmd[1024];
        rs_buf out = {0};
        snprintf(cmd, sizeof cmd,
                 AWS_CLI " --endpoint-url %s s3api head-object --bucket %s --key '%s/sse/kms.bin' --query "
                         "'[ServerSideEncryption,SSEKMSKeyId]' --output text 2>&1",
                 g_endpoint, g_bucket, g_run_prefix);
        CU_ASSERT_EQUAL(sh(cmd, &out), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr((char *)out.data, "aws:kms"));
        CU_ASSERT_PTR_NOT_NULL(strstr((char *)out.data, "regsync-test-key"));
        rs_buf_free(&out);
    }
    run_url(url, sizeof url, "sse", "&sse=AES256");
    s = open_url(url, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    rc = rs_storage_put(s, "s3.bin", (const uint8_t *)"x", 1, RS_PUT_ALWAYS, NULL, NULL, &e);
    if (rc)
        fprintf(stderr, "sse-s3 put: %s\n", e.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    rs_storage_close(s);
}

/* ---------------------------------------------------------------------------------------------
 * authentication */

static void test_bad_credentials(void)
{
    if (!have_server("s3 bad credentials"))
        return;
    use_good_env();
    rs_error e = {0};
    setenv("AWS_SECRET_ACCESS_KEY", "this-is-not-the-secret-0000000000000000", 1);
    rs_storage *s = open_url(g_run_url, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    uint8_t *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_storage_get(s, "auth/x", NULL, &d, &n, NULL, &e), RS_EAUTH);
    printf("\n    bad secret: %s\n", e.msg);
    /* RGW with STS enabled (scripts/s3-server.sh) says AccessDenied where AWS says SignatureDoesNotMatch */
    CU_ASSERT(strstr(e.msg, "SignatureDoesNotMatch") || strstr(e.msg, "AccessDenied"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "403"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, g_bucket));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "auth/x"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "environment"));
    CU_ASSERT_PTR_NULL(strstr(e.msg, "this-is-not-the-secret"));
    CU_ASSERT_EQUAL(rs_storage_put(s, "auth/x", (const uint8_t *)"x", 1, RS_PUT_IF_ABSENT, NULL, NULL, &e), RS_EAUTH);
    rs_storage_stats st;
    rs_storage_get_stats(s, &st);
    CU_ASSERT_EQUAL(st.requests, 2); /* never retried */
    CU_ASSERT_EQUAL(st.retries, 0);
    rs_storage_close(s);

    setenv("AWS_ACCESS_KEY_ID", "AKIDNOSUCHUSER000000", 1);
    s = open_url(g_run_url, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    rs_list_entry *le = NULL;
    CU_ASSERT_EQUAL(rs_storage_list(s, "", &le, &n, &e), RS_EAUTH);
    CU_ASSERT(strstr(e.msg, "InvalidAccessKeyId") || strstr(e.msg, "AccessDenied"));
    rs_storage_close(s);
}

/* A PUT signed with the hash of other bytes than it carries: the server must refuse it. Built with
 * the sigv4 API and libcurl directly, the way s3.c does it, so only the hash differs. */
static long raw_put(const char *key, const char *body, const char *claimed_body, rs_buf *reply)
{
    char path[512], url[1024], amz[17], hash[65];
    snprintf(path, sizeof path, "/%s/%s/%s", g_bucket, g_run_prefix, key);
    rs_sigv4_amz_date(time(NULL), amz, NULL);
    rs_sigv4_sha256_hex(claimed_body, strlen(claimed_body), hash);
    const char *host = strstr(g_endpoint, "://") + 3;
    rs_sigv4_kv h[] = {{"host", host}, {"x-amz-content-sha256", hash}, {"x-amz-date", amz}};
    rs_sigv4_request r = {"PUT", path, NULL, 0, h, 3, hash};
    rs_sigv4_key k = {g_ak, g_sk, "us-east-1", "s3"};
    rs_buf auth = {0}, wire = {0};
    CU_ASSERT_EQUAL(rs_sigv4_sign(&r, &k, amz, &auth, NULL, NULL), 0);
    CU_ASSERT_EQUAL(rs_sigv4_uri_encode(path, true, &wire), 0);
    snprintf(url, sizeof url, "%s%s", g_endpoint, (char *)wire.data);
    struct curl_slist *hl = NULL;
    char line[600];
    for (int i = 0; i < 3; i++) {
        snprintf(line, sizeof line, "%s: %s", h[i].name, h[i].value);
        hl = curl_slist_append(hl, line);
    }
    snprintf(line, sizeof line, "Authorization: %s", (char *)auth.data);
    hl = curl_slist_append(hl, line);
    hl = curl_slist_append(hl, "Content-Type: application/octet-stream");
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, NULL);
    FILE *mem = fmemopen(NULL, 4096, "w+");
    curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    char buf[4096] = "";
    rewind(mem);
    size_t got = fread(buf, 1, sizeof buf - 1, mem);
    buf[got] = '\0';
    fclose(mem);
    rs_buf_printf(reply, "%s", buf);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    rs_buf_free(&auth);
    rs_buf_free(&wire);
    return status;
}

static void test_payload_hash_refused(void)
{
    if (!have_server("s3 payload hash"))
        return;
    rs_buf reply = {0};
    long st = raw_put("hash/good", "the real body", "the real body", &reply);
    CU_ASSERT_EQUAL(st, 200);
    rs_buf_reset(&reply);
    st = raw_put("hash/bad", "the real body", "another body!", &reply);
    printf("\n    wrong x-amz-content-sha256: HTTP %ld %s\n", st, reply.data ? (char *)reply.data : "");
    CU_ASSERT_EQUAL(st, 400);
    CU_ASSERT(reply.data && strstr((char *)reply.data, "XAmzContentSHA256Mismatch"));
    rs_buf_free(&reply);
    /* the refused object does not exist; the good one does */
    use_good_env();
    rs_storage *s = open_url(g_run_url, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    uint8_t *d = NULL;
    size_t n = 0;
    rs_error e = {0};
    CU_ASSERT_EQUAL(rs_storage_get(s, "hash/bad", NULL, &d, &n, NULL, &e), RS_ENOTFOUND);
    CU_ASSERT_EQUAL(rs_storage_get(s, "hash/good", NULL, &d, &n, NULL, &e), RS_OK);
    CU_ASSERT(n == 13 && memcmp(d, "the real body", 13) == 0);
    free(d);
    rs_storage_close(s);
}

/* Temporary credentials from RGW's STS (GetSessionToken) through the aws cli; false if unavailable. */
static bool sts_creds(char *ak, char *sk, char *tok, size_t tokn)
{
    if (access(AWS_CLI, X_OK) != 0)
        return false;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "AWS_ACCESS_KEY_ID='%s' AWS_SECRET_ACCESS_KEY='%s' AWS_DEFAULT_REGION=us-east-1 " AWS_CLI
             " --endpoint-url %s sts get-session-token --duration-seconds 900 --output text --query "
             "'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' 2>/dev/null",
             g_ak, g_sk, g_endpoint);
    rs_buf out = {0};
    int rc = sh(cmd, &out);
    bool ok = rc == 0 && out.data && sscanf((char *)out.data, "%255s %255s %4095s", ak, sk, tok) == 3 &&
              strlen(tok) < tokn;
    rs_buf_free(&out);
    return ok;
}

static int roundtrip_with_env(const char *what)
{
    rs_storage *s = NULL;
    rs_error e = {0};
    int rc = rs_storage_open(g_run_url, NULL, &s, &e);
    if (rc) {
        fprintf(stderr, "%s: open: %s\n", what, e.msg);
        return rc;
    }
    char key[128];
    snprintf(key, sizeof key, "creds/%s", what);
    rc = rs_storage_put(s, key, (const uint8_t *)what, strlen(what), RS_PUT_ALWAYS, NULL, NULL, &e);
    uint8_t *d = NULL;
    size_t n = 0;
    if (!rc)
        rc = rs_storage_get(s, key, NULL, &d, &n, NULL, &e);
    if (!rc && (n != strlen(what) || memcmp(d, what, n) != 0))
        rc = RS_ECORRUPT;
    if (rc)
        fprintf(stderr, "%s: %s\n", what, e.msg);
    free(d);
    rs_storage_close(s);
    return rc;
}

static void test_creds_env_and_files(void)
{
    if (!have_server("s3 credentials env/files"))
        return;
    env_clean(g_tmp);
    rs_error e = {0};
    /* nothing: the error lists every place looked at */
    rs_storage *s = NULL;
    CU_ASSERT_EQUAL(rs_storage_open(g_run_url, NULL, &s, &e), RS_EAUTH);
    printf("\n    no credentials: %s\n", e.msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "environment"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, ".aws/credentials"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "container"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "AWS_EC2_METADATA_DISABLED"));

    /* environment */
    use_good_env();
    CU_ASSERT_EQUAL(roundtrip_with_env("env"), RS_OK);
    env_clean(g_tmp);

    /* shared credentials file with AWS_PROFILE; the default profile holds wrong keys */
    char cred[512], text[1024];
    snprintf(cred, sizeof cred, "%s/credentials", g_tmp);
    snprintf(text, sizeof text,
             "[default]\naws_access_key_id = AKIDWRONG00000000000\naws_secret_access_key = wrong\n\n"
             "[regsync]\naws_access_key_id = %s\naws_secret_access_key=%s\n",
             g_ak, g_sk);
    write_file(cred, text);
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
    setenv("AWS_PROFILE", "regsync", 1);
    rs_aws_provider *p = NULL;
    CU_ASSERT_EQUAL_FATAL(rs_aws_provider_open(NULL, &p, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(rs_aws_provider_source(p), "shared credentials file (profile regsync)");
    rs_aws_provider_close(p);
    CU_ASSERT_EQUAL(roundtrip_with_env("file-profile"), RS_OK);
    unsetenv("AWS_PROFILE");
    CU_ASSERT_EQUAL(roundtrip_with_env("file-default"), RS_EAUTH); /* the wrong default keys */
    setenv("AWS_PROFILE", "nope", 1);
    CU_ASSERT_EQUAL(rs_storage_open(g_run_url, NULL, &s, &e), RS_EAUTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "nope"));
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");

    /* keys in the config file ([profile NAME]) */
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/config", g_tmp);
    snprintf(text, sizeof text, "[profile cfgkeys]\nregion = us-east-1\naws_access_key_id = %s\naws_secret_access_key = %s\n",
             g_ak, g_sk);
    write_file(cfg, text);
    setenv("AWS_CONFIG_FILE", cfg, 1);
    setenv("AWS_PROFILE", "cfgkeys", 1);
    CU_ASSERT_EQUAL(roundtrip_with_env("config-profile"), RS_OK);
    env_clean(g_tmp);

    /* a session token (real temporary credentials from RGW's STS) */
    char ak[256], sk[256], tok[4096];
    if (!sts_creds(ak, sk, tok, sizeof tok)) {
        rs_test_skip("s3 session token via env", "RGW STS GetSessionToken unavailable");
        return;
    }
    setenv("AWS_ACCESS_KEY_ID", ak, 1);
    setenv("AWS_SECRET_ACCESS_KEY", sk, 1);
    setenv("AWS_SESSION_TOKEN", tok, 1);
    CU_ASSERT_EQUAL(roundtrip_with_env("session-token"), RS_OK);
    setenv("AWS_SESSION_TOKEN", "bm90IGEgdG9rZW4=", 1);
    CU_ASSERT_EQUAL(roundtrip_with_env("bad-session-token"), RS_EAUTH);
    unsetenv("AWS_SESSION_TOKEN"); /* temporary keys without their token are refused too */
    CU_ASSERT_EQUAL(roundtrip_with_env("no-session-token"), RS_EAUTH);
}

/* ---- a tiny HTTP server standing in for the ECS agent and the EC2 metadata service ---- */

typedef struct fake_meta {
    int fd;
    int port;
    volatile int stop;
    pthread_t th;
    pthread_mutex_t mu;
    /* what it serves */
    char ak[256], sk[256], tok[4096];
    int life_s;                 /* Expiration = now + life_s */
    char want_auth[256];        /* container: required Authorization value ("" = none) */
    /* what it saw */
    int token_puts, role_lists, cred_gets, rejected;
    char last_auth[256];
} fake_meta;

static void fake_reply(int c, int status, const char *body)
{
    char head[256];
    snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
             status, strlen(body));
    if (write(c, head, strlen(head)) < 0 || write(c, body, strlen(body)) < 0)
        return;
}

static const char *hdr(const char *req, const char *name, char *out, size_t n)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = strstr(req, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
            const char *v = p + 3 + nl;
            while (*v == ' ')
                v++;
            size_t l = strcspn(v, "\r\n");
            snprintf(out, n, "%.*s", (int)l, v);
            return out;
        }
    }
    return NULL;
}

static void *fake_main(void *arg)
{
    fake_meta *m = arg;
    while (!m->stop) {
        struct pollfd pf = {m->fd, POLLIN, 0};
        if (poll(&pf, 1, 100) <= 0)
            continue;
        int c = accept(m->fd, NULL, NULL);
        if (c < 0)
            continue;
        char req[16384];
        size_t n = 0;
        while (n < sizeof req - 1) {
            ssize_t r = read(c, req + n, sizeof req - 1 - n);
            if (r <= 0)
                break;
            n += (size_t)r;
            req[n] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        req[n] = '\0';
        char method[16] = "", path[512] = "", v[512];
        sscanf(req, "%15s %511s", method, path);
        pthread_mutex_lock(&m->mu);
        char exp[40];
        time_t t = time(NULL) + m->life_s;
        strftime(exp, sizeof exp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
        char json[8192];
        snprintf(json, sizeof json,
                 "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"%s\"%s%s%s,"
                 "\"Expiration\":\"%s\"}",
                 m->ak, m->sk, m->tok[0] ? ",\"Token\":\"" : "", m->tok, m->tok[0] ? "\"" : "", exp);
        if (!strcmp(method, "PUT") && !strcmp(path, "/latest/api/token")) {
            if (hdr(req, "X-aws-ec2-metadata-token-ttl-seconds", v, sizeof v)) {
                m->token_puts++;
                fake_reply(c, 200, "IMDSV2-SESSION-TOKEN-1");
            } else {
                m->rejected++;
                fake_reply(c, 400, "missing ttl");
            }
        } else if (!strncmp(path, "/latest/meta-data/iam/security-credentials/", 43)) {
            if (!hdr(req, "X-aws-ec2-metadata-token", v, sizeof v) || strcmp(v, "IMDSV2-SESSION-TOKEN-1") != 0) {
                m->rejected++;
                fake_reply(c, 401, "");
            } else if (path[43] == '\0') {
                m->role_lists++;
                fake_reply(c, 200, "regsync-role\n");
            } else if (!strcmp(path + 43, "regsync-role")) {
                m->cred_gets++;
                fake_reply(c, 200, json);
            } else {
                fake_reply(c, 404, "");
            }
        } else if (!strcmp(path, "/v2/credentials/regsync")) {
            hdr(req, "Authorization", m->last_auth, sizeof m->last_auth);
            if (m->want_auth[0] && strcmp(m->last_auth, m->want_auth) != 0) {
                m->rejected++;
                fake_reply(c, 401, "{\"message\":\"bad token\"}");
            } else {
                m->cred_gets++;
                fake_reply(c, 200, json);
            }
        } else {
            fake_reply(c, 404, "");
        }
        pthread_mutex_unlock(&m->mu);
        close(c);
    }
    return NULL;
}

static int fake_start(fake_meta *m)
{
    pthread_mutex_init(&m->mu, NULL);
    m->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (m->fd < 0 || bind(m->fd, (struct sockaddr *)&a, sizeof a) || listen(m->fd, 16) ||
        getsockname(m->fd, (struct sockaddr *)&a, &al))
        return -1;
    m->port = ntohs(a.sin_port);
    return pthread_create(&m->th, NULL, fake_main, m);
}

static void fake_stop(fake_meta *m)
{
    m->stop = 1;
    pthread_join(m->th, NULL);
    close(m->fd);
    pthread_mutex_destroy(&m->mu);
}

static void fake_creds(fake_meta *m, const char *what)
{
    if (sts_creds(m->ak, m->sk, m->tok, sizeof m->tok)) {
        printf("\n    %s serves temporary credentials from RGW STS (with a session token)\n", what);
    } else {
        snprintf(m->ak, sizeof m->ak, "%s", g_ak);
        snprintf(m->sk, sizeof m->sk, "%s", g_sk);
        m->tok[0] = '\0';
        printf("\n    %s serves the static test keys (RGW STS unavailable)\n", what);
    }
}

static void test_creds_container(void)
{
    if (!have_server("s3 credentials container endpoint"))
        return;
    env_clean(g_tmp);
    fake_meta *m = calloc(1, sizeof *m);
    fake_creds(m, "the stand-in ECS agent");
    m->life_s = 3600;
    snprintf(m->want_auth, sizeof m->want_auth, "Bearer regsync-container-token");
    CU_ASSERT_EQUAL_FATAL(fake_start(m), 0);
    char uri[128];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d/v2/credentials/regsync", m->port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri, 1);

    /* token from the environment */
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer regsync-container-token", 1);
    rs_error e = {0};
    rs_aws_provider *p = NULL;
    CU_ASSERT_EQUAL_FATAL(rs_aws_provider_open(NULL, &p, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(rs_aws_provider_source(p), "container endpoint");
    rs_aws_creds cr;
    CU_ASSERT_EQUAL(rs_aws_provider_get(p, &cr, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(cr.access_key_id, m->ak);
    CU_ASSERT(cr.expires_ms > rs_wall_ms() + 3500 * 1000LL && cr.expires_ms < rs_wall_ms() + 3700 * 1000LL);
    CU_ASSERT_EQUAL(cr.session_token != NULL, m->tok[0] != '\0');
    rs_aws_creds_clear(&cr);
    rs_aws_provider_close(p);
    CU_ASSERT_STRING_EQUAL(m->last_auth, "Bearer regsync-container-token");
    CU_ASSERT_EQUAL(roundtrip_with_env("container"), RS_OK);

    /* token file wins over the variable, and is re-read on every fetch */
    char tf[512];
    snprintf(tf, sizeof tf, "%s/container-token", g_tmp);
    write_file(tf, "Bearer from-file\n");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tf, 1);
    CU_ASSERT_EQUAL(rs_aws_provider_open(NULL, &p, &e), RS_EAUTH); /* the server wants the other token */
    CU_ASSERT_STRING_EQUAL(m->last_auth, "Bearer from-file");
    write_file(tf, "Bearer regsync-container-token\n");
    CU_ASSERT_EQUAL(roundtrip_with_env("container-token-file"), RS_OK);

    /* short-lived credentials are fetched again before they expire */
    m->life_s = 4; /* refresh halfway: after ~2 s */
    int before = m->cred_gets;
    CU_ASSERT_EQUAL_FATAL(rs_aws_provider_open(NULL, &p, &e), RS_OK);
    CU_ASSERT_EQUAL(rs_aws_provider_get(p, &cr, &e), RS_OK);
    rs_aws_creds_clear(&cr);
    CU_ASSERT_EQUAL(m->cred_gets, before + 1);
    usleep(2300 * 1000);
    CU_ASSERT_EQUAL(rs_aws_provider_get(p, &cr, &e), RS_OK);
    rs_aws_creds_clear(&cr);
    CU_ASSERT_EQUAL(m->cred_gets, before + 2);
    CU_ASSERT_EQUAL(rs_aws_provider_fetches(p), 2);
    /* the endpoint going away does not lose still-valid credentials */
    m->life_s = 3600;
    CU_ASSERT_TRUE(rs_aws_provider_invalidate(p));
    CU_ASSERT_EQUAL(rs_aws_provider_get(p, &cr, &e), RS_OK);
    rs_aws_creds_clear(&cr);
    CU_ASSERT_EQUAL(m->cred_gets, before + 3);
    rs_aws_provider_close(p);

    /* plain http to anything but loopback / the agent is refused */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds", 1);
    CU_ASSERT_EQUAL(rs_aws_provider_open(NULL, &p, &e), RS_EINVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "loopback"));
    fake_stop(m);
    free(m);
}

static void test_creds_imds(void)
{
    if (!have_server("s3 credentials IMDSv2"))
        return;
    env_clean(g_tmp);
    fake_meta *m = calloc(1, sizeof *m);
    fake_creds(m, "the stand-in EC2 metadata service");
    m->life_s = 6 * 3600;
    CU_ASSERT_EQUAL_FATAL(fake_start(m), 0);
    char ep[128];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d/", m->port);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ep, 1);

    rs_error e = {0};
    rs_aws_provider *p = NULL;
    /* disabled: not asked at all */
    CU_ASSERT_EQUAL(rs_aws_provider_open(NULL, &p, &e), RS_EAUTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "AWS_EC2_METADATA_DISABLED"));
    CU_ASSERT_EQUAL(m->token_puts + m->cred_gets, 0);

    unsetenv("AWS_EC2_METADATA_DISABLED");
    CU_ASSERT_EQUAL_FATAL(rs_aws_provider_open(NULL, &p, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(rs_aws_provider_source(p), "instance metadata (IMDSv2)");
    rs_aws_provider_close(p);
    CU_ASSERT_EQUAL(m->token_puts, 1); /* v2: a session token first */
    CU_ASSERT_EQUAL(m->role_lists, 1);
    CU_ASSERT_EQUAL(m->cred_gets, 1);
    CU_ASSERT_EQUAL(m->rejected, 0);
    CU_ASSERT_EQUAL(roundtrip_with_env("imds"), RS_OK);

    /* an instance without a role: the error says so */
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1", 1); /* nothing listens */
    CU_ASSERT_EQUAL(rs_aws_provider_open(NULL, &p, &e), RS_EAUTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "instance metadata"));
    printf("    IMDS unreachable: %s\n", e.msg);
    fake_stop(m);
    free(m);
}

/* ---------------------------------------------------------------------------------------------
 * faults through scripts/fault-proxy.py */

static pid_t g_proxy_pid;
static int g_proxy_port;
static char g_fault_file[512], g_proxy_log[512];

static int proxy_start(void)
{
    char script[1024], upstream[256];
    snprintf(script, sizeof script, "%s/scripts/fault-proxy.py", RS_SOURCE_DIR);
    const char *hp = strstr(g_endpoint, "://") + 3;
    snprintf(upstream, sizeof upstream, "%s", hp);
    snprintf(g_fault_file, sizeof g_fault_file, "%s/faults", g_tmp);
    snprintf(g_proxy_log, sizeof g_proxy_log, "%s/proxy.log", g_tmp);
    unlink(g_fault_file);
    int pfd[2];
    if (pipe(pfd))
        return -1;
    fflush(NULL);
    g_proxy_pid = fork();
    if (g_proxy_pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execlp("python3", "python3", script, "0", upstream, g_fault_file, g_proxy_log, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    char line[64] = "";
    FILE *f = fdopen(pfd[0], "r");
    if (!f || !fgets(line, sizeof line, f) || sscanf(line, "listening %d", &g_proxy_port) != 1) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

static void proxy_stop(void)
{
    if (g_proxy_pid > 0) {
        kill(g_proxy_pid, SIGTERM);
        waitpid(g_proxy_pid, NULL, 0);
        g_proxy_pid = 0;
    }
}

static void faults(const char *lines)
{
    CU_ASSERT_EQUAL(rs_test_write_file(g_fault_file, lines, strlen(lines)), 0);
    unlink(g_proxy_log);
}

/* lines in the proxy log starting with what */
static int proxy_count(const char *what)
{
    FILE *f = fopen(g_proxy_log, "r");
    if (!f)
        return 0;
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strncmp(line, what, strlen(what)) == 0;
    fclose(f);
    return n;
}

static rs_storage *open_proxied(long timeout_ms, int max_retries)
{
    char url[1200], params[128];
    snprintf(params, sizeof params, "?endpoint=http://127.0.0.1:%d&path_style=true&region=us-east-1", g_proxy_port);
    snprintf(url, sizeof url, "s3://%s/%s/faults%s", g_bucket, g_run_prefix, params);
    rs_storage_opts o = {.timeout_ms = timeout_ms, .max_retries = max_retries, .connect_timeout_ms = 2000};
    return open_url(url, &o);
}

static void test_faults(void)
{
    if (!have_server("s3 fault injection"))
        return;
    use_good_env();
    if (proxy_start() != 0) {
        CU_FAIL("cannot start scripts/fault-proxy.py");
        proxy_stop();
        return;
    }
    rs_storage *s = open_proxied(10000, 4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    rs_error e = {0};
    rs_storage_stats a, b;
    uint8_t *d = NULL;
    size_t n = 0;
    size_t big_len = 200000;
    uint8_t *big = malloc(big_len);
    fill_random(big, big_len, 9);
    char etag[RS_ETAG_MAX];

    /* plain pass, and connection reuse: 20 requests, one connection */
    faults("");
    CU_ASSERT_EQUAL(rs_storage_put(s, "obj", big, big_len, RS_PUT_ALWAYS, NULL, etag, &e), RS_OK);
    for (int i = 0; i < 19; i++) {
        CU_ASSERT_EQUAL(rs_storage_get(s, "obj", etag, &d, &n, NULL, &e), RS_ENOTMODIFIED);
    }
    CU_ASSERT_EQUAL(proxy_count("CONNECTION"), 1);
    CU_ASSERT_EQUAL(proxy_count("GET"), 19);

    /* 503 SlowDown twice, then success */
    faults("503\n503\n");
    rs_storage_get_stats(s, &a);
    int64_t t0 = rs_mono_ms();
    int rc = rs_storage_get(s, "obj", NULL, &d, &n, NULL, &e);
    int64_t t1 = rs_mono_ms();
    rs_storage_get_stats(s, &b);
    CU_ASSERT_EQUAL(rc, RS_OK);
    CU_ASSERT(rc == RS_OK && n == big_len && memcmp(d, big, n) == 0);
    free(d);
    /* three requests reached the proxy; libcurl itself repeats an idempotent request once when a
     * reused connection dies before any byte of the answer, so our retry count is 1 or 2 */
    CU_ASSERT_EQUAL(proxy_count("GET"), 3);
    CU_ASSERT(b.retries - a.retries >= 1 && b.retries - a.retries <= 2);
    CU_ASSERT_EQUAL(b.requests - a.requests, 3);
    printf("\n    503,503 then OK: %lld ms (backoff with jitter)\n", (long long)(t1 - t0));

    /* 500 on an unconditional PUT, retried */
    faults("500\n");
    rs_storage_get_stats(s, &a);
    CU_ASSERT_EQUAL(rs_storage_put(s, "obj2", big, big_len, RS_PUT_ALWAYS, NULL, NULL, &e), RS_OK);
    rs_storage_get_stats(s, &b);
    CU_ASSERT_EQUAL(b.retries - a.retries, 1);

    /* connection reset and close without answer: retried on a new connection */
    faults("reset\nclose\n");
    rs_storage_get_stats(s, &a);
    rc = rs_storage_get(s, "obj", NULL, &d, &n, NULL, &e);
    rs_storage_get_stats(s, &b);
    CU_ASSERT_EQUAL(rc, RS_OK);
    CU_ASSERT(rc == RS_OK && n == big_len && memcmp(d, big, n) == 0);
    free(d);
    /* three requests reached the proxy; libcurl itself repeats an idempotent request once when a
     * reused connection dies before any byte of the answer, so our retry count is 1 or 2 */
    CU_ASSERT_EQUAL(proxy_count("GET"), 3);
    CU_ASSERT(b.retries - a.retries >= 1 && b.retries - a.retries <= 2);

    /* a truncated body is retried, and never returned */
    faults("truncate:5000\n");
    rc = rs_storage_get(s, "obj", NULL, &d, &n, NULL, &e);
    CU_ASSERT_EQUAL(rc, RS_OK);
    CU_ASSERT(rc == RS_OK && n == big_len && memcmp(d, big, n) == 0);
    free(d);
    rs_storage_close(s);
    s = open_proxied(10000, 2);
    faults("truncate:5000\ntruncate:100000\ntruncate:199000\n");
    d = (uint8_t *)"x";
    n = 7;
    rc = rs_storage_get(s, "obj", NULL, &d, &n, NULL, &e);
    printf("    always truncated: %s: %s\n", rs_status_name(rc), e.msg);
    CU_ASSERT_EQUAL(rc, RS_EIO);
    CU_ASSERT_PTR_NULL(d);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(proxy_count("GET"), 3);

    /* 403 and 400 are not retried */
    faults("403\n");
    rs_storage_get_stats(s, &a);
    CU_ASSERT_EQUAL(rs_storage_get(s, "obj", NULL, &d, &n, NULL, &e), RS_EAUTH);
    rs_storage_get_stats(s, &b);
    CU_ASSERT_EQUAL(b.requests - a.requests, 1);
    CU_ASSERT_EQUAL(proxy_count("GET"), 1);
    faults("400\n");
    CU_ASSERT_EQUAL(rs_storage_put(s, "obj3", big, 10, RS_PUT_ALWAYS, NULL, NULL, &e), RS_EINVALID);
    CU_ASSERT_EQUAL(proxy_count("PUT"), 1);
    /* retries run out: the last error is reported */
    faults("503\n503\n503\n503\n");
    CU_ASSERT_EQUAL(rs_storage_get(s, "obj", NULL, &d, &n, NULL, &e), RS_EUNAVAILABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "SlowDown"));
    CU_ASSERT_EQUAL(proxy_count("GET"), 3); /* 1 + max_retries 2 */
    rs_storage_close(s);

    /* a hang ends in TIMEOUT within the configured timeout */
    s = open_proxied(1500, 4);
    faults("hang\n");
    t0 = rs_mono_ms();
    rc = rs_storage_get(s, "obj", NULL, &d, &n, NULL, &e);
    t1 = rs_mono_ms();
    printf("    hang: %s after %lld ms (timeout 1500): %s\n", rs_status_name(rc), (long long)(t1 - t0), e.msg);
    CU_ASSERT_EQUAL(rc, RS_ETIMEOUT);
    CU_ASSERT(t1 - t0 >= 1400 && t1 - t0 < 2500);
    faults("hang\n");
    t0 = rs_mono_ms();
    rc = rs_storage_put(s, "cas", big, 100, RS_PUT_IF_ABSENT, NULL, NULL, &e);
    t1 = rs_mono_ms();
    CU_ASSERT_EQUAL(rc, RS_ETIMEOUT);
    CU_ASSERT(t1 - t0 < 2500);
    rs_storage_close(s);

    /* conditional PUT after an ambiguous failure */
    s = open_proxied(10000, 4);
    CU_ASSERT_EQUAL(rs_storage_delete(s, "cas", &e), RS_OK);
    faults("500@PUT\n"); /* refused before reaching the server: re-read shows absent, PUT again */
    rc = rs_storage_put(s, "cas", big, 100, RS_PUT_IF_ABSENT, NULL, etag, &e);
    CU_ASSERT_EQUAL(rc, RS_OK);
    CU_ASSERT_EQUAL(proxy_count("PUT"), 2);
    faults("truncate:0@PUT\n"); /* applied, but the answer is lost: re-read finds our bytes */
    char etag2[RS_ETAG_MAX];
    rc = rs_storage_put(s, "cas", big + 1, 100, RS_PUT_IF_MATCH, etag, etag2, &e);
    if (rc)
        fprintf(stderr, "lost answer: %s\n", e.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    CU_ASSERT_EQUAL(proxy_count("PUT"), 1);
    CU_ASSERT_STRING_NOT_EQUAL(etag, etag2);
    faults("500@PUT\n"); /* the precondition no longer holds: CONFLICT, not a retry */
    CU_ASSERT_EQUAL(rs_storage_put(s, "cas", big, 100, RS_PUT_IF_MATCH, etag, NULL, &e), RS_ECONFLICT);
    faults("truncate:0@PUT\n"); /* create-only applied, answer lost: ours */
    CU_ASSERT_EQUAL(rs_storage_put(s, "cas-new", big, 50, RS_PUT_IF_ABSENT, NULL, NULL, &e), RS_OK);
    faults("500@PUT\n"); /* exists with other bytes: CONFLICT */
    CU_ASSERT_EQUAL(rs_storage_put(s, "cas-new", big + 1, 50, RS_PUT_IF_ABSENT, NULL, NULL, &e), RS_ECONFLICT);
    rs_storage_close(s);
    free(big);
    proxy_stop();
}

/* ---------------------------------------------------------------------------------------------*/

static int suite_init(void)
{
    env_save();
    g_tmp = rs_test_tmpdir("s3");
    g_url = getenv("RS_TEST_S3_URL");
    if (g_url && !*g_url)
        g_url = NULL;
    const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
    if (g_url && ak && sk) {
        snprintf(g_ak, sizeof g_ak, "%s", ak);
        snprintf(g_sk, sizeof g_sk, "%s", sk);
        rs_s3_config c;
        rs_error e = {0};
        if (rs_s3_config_parse(g_url, NULL, &c, &e) != RS_OK) {
            fprintf(stderr, "RS_TEST_S3_URL: %s\n", e.msg);
            return 1;
        }
        snprintf(g_bucket, sizeof g_bucket, "%s", c.bucket);
        snprintf(g_endpoint, sizeof g_endpoint, "%s", c.origin);
        snprintf(g_run_prefix, sizeof g_run_prefix, "%srun-%ld-%d", c.prefix, (long)time(NULL), (int)getpid());
        rs_s3_config_free(&c);
        const char *q = strchr(g_url, '?');
        snprintf(g_run_url, sizeof g_run_url, "s3://%s/%s%s", g_bucket, g_run_prefix, q ? q : "");
        if (!strchr(g_url, '?') || !strstr(g_url, "endpoint=")) {
            fprintf(stderr, "RS_TEST_S3_URL must name the test server with endpoint=\n");
            return 1;
        }
    } else {
        g_url = NULL;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

static int suite_clean(void)
{
    proxy_stop();
    env_restore();
    if (g_url && g_ak[0]) { /* remove what this run wrote */
        use_good_env();
        char url[1200];
        snprintf(url, sizeof url, "%s", g_run_url);
        rs_storage *s = NULL;
        if (rs_storage_open(url, NULL, &s, NULL) == RS_OK) {
            rs_list_entry *le = NULL;
            size_t n = 0;
            if (rs_storage_list(s, "", &le, &n, NULL) == RS_OK)
                for (size_t i = 0; i < n; i++)
                    rs_storage_delete(s, le[i].key, NULL);
            rs_storage_list_free(le, n);
            rs_storage_close(s);
        }
        env_restore();
    }
    rs_test_rmrf(g_tmp);
    free(g_tmp);
    return 0;
}

static void each_setup(void) { env_restore(); }
static void each_teardown(void) { env_restore(); }

int main(void)
{
    rs_log_configure(RS_LOG_WARN, false, 2); /* retries and refreshes show; "opened" lines do not */
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite_with_setup_and_teardown("s3", suite_init, suite_clean, each_setup, each_teardown);
    CU_add_test(s, "region resolution order, error names every place", test_region_resolution);
    CU_add_test(s, "URL parameters, endpoints, addressing", test_url_parsing);
    CU_add_test(s, "round trip 0 B..10 MiB, list, delete, latency", test_roundtrip);
    CU_add_test(s, "ETag and NOTMODIFIED", test_etag_semantics);
    CU_add_test(s, "conditional PUT and 8-process races", test_conditional_put);
    CU_add_test(s, "listing across pages, XML entities", test_list_pages);
    CU_add_test(s, "keys with spaces, unicode, ()!*' and more", test_odd_keys);
    CU_add_test(s, "cross-check with /usr/bin/aws", test_aws_cli_crosscheck);
    CU_add_test(s, "server-side encryption (SSE-KMS, SSE-S3)", test_sse);
    CU_add_test(s, "wrong secret or key id -> AUTH, not retried", test_bad_credentials);
    CU_add_test(s, "wrong payload hash refused by the server", test_payload_hash_refused);
    CU_add_test(s, "credentials: environment, files + profile, session token", test_creds_env_and_files);
    CU_add_test(s, "credentials: container endpoint (stand-in ECS agent)", test_creds_container);
    CU_add_test(s, "credentials: IMDSv2 (stand-in EC2 metadata service)", test_creds_imds);
    CU_add_test(s, "faults via fault-proxy: 503, 500, reset, truncate, hang, 403", test_faults);
    return rs_test_run();
}
