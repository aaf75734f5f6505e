/* test_aws_sts.c: credentials from STS, AssumeRoleWithWebIdentity (EKS IRSA) and AssumeRole
 * (role_arn profiles), against the real RGW of scripts/s3-server.sh (RS_TEST_S3_URL,
 * RS_TEST_S3_ENDPOINT, RS_TEST_S3_ROLE_ARN; loud SKIP without them, a failure with
 * RS_REQUIRE_SERVERS=1), which then accepts the session credentials for S3 requests.
 *
 * Real servers:
 *   - RGW's STS does AssumeRole (role regsync-s3, made by s3-server.sh) and
 *     AssumeRoleWithWebIdentity: the test registers an OpenID Connect provider and a role in RGW
 *     and signs its tokens (RS256) with a key whose certificate it serves from a small JWKS
 *     endpoint on 127.0.0.1 (the identity provider's side, what the EKS OIDC issuer publishes:
 *     nothing here is a real IdP). RGW fetches the keys and checks the token itself.
 * A stand-in STS on 127.0.0.1 (this file) for what RGW cannot do: it checks every request
 * (action, version, role, session name, the exact token in the file, no signature) and answers
 * with credentials that expire in seconds (RGW's shortest session is 15 minutes), so that refresh
 * before expiry and the re-read of a rotated token can be seen; its credentials are real ones from
 * RGW's AssumeRole, so S3 still accepts them. It also answers InvalidIdentityToken with a message
 * that quotes the token, to check that no token or secret reaches a message or a log line.
 *
 * Also: the STS endpoint (regional, legacy, China, overrides) and the precedence of the chain.
 * RGW is set up (a role, the OIDC provider) with curl's own SigV4 (/usr/bin/curl); without it the
 * RGW parts skip loudly.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aws_creds.h"
#include "rs_buf.h"
#include "rs_storage.h"
#include "rs_test.h"
#include "rs_time.h"

static const char *g_url, *g_endpoint, *g_role; /* RS_TEST_S3_URL, _ENDPOINT, _ROLE_ARN */
static char g_ak[128], g_sk[128];
static char *g_tmp;
static bool g_have_curl;

/* every variable the chain reads */
static const char *const ENV_NAMES[] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL", "AWS_STS_REGIONAL_ENDPOINTS", "AWS_REGION", "AWS_DEFAULT_REGION",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT", NULL};

static void env_clean(void)
{
    for (int i = 0; ENV_NAMES[i]; i++)
        unsetenv(ENV_NAMES[i]);
    setenv("HOME", g_tmp, 1); /* never the machine's ~/.aws */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static void write_file(const char *path, const char *text)
{
    CU_ASSERT_EQUAL(rs_test_write_file(path, text, strlen(text)), 0);
}

static bool need_server(const char *what)
{
    if (g_url && g_endpoint && g_ak[0])
        return true;
    if (rs_test_env("RS_TEST_S3_URL") && rs_test_env("RS_TEST_S3_ENDPOINT") && rs_test_env("RS_TEST_S3_ROLE_ARN"))
        return false; /* set but setup failed: a failure was reported there */
    rs_test_skip(what, "RS_TEST_S3_URL / RS_TEST_S3_ENDPOINT / RS_TEST_S3_ROLE_ARN not set (eval \"$(scripts/s3-server.sh env)\")");
    return false;
}

static bool need_curl(const char *what)
{
    if (g_have_curl)
        return true;
    rs_test_skip(what, "/usr/bin/curl is not installed");
    if (rs_test_servers_required())
        CU_FAIL("RS_REQUIRE_SERVERS=1 but curl is missing");
    return false;
}

/* A signed IAM or STS call to RGW as the test user, with curl's SigV4 (no shell: the arguments go
 * to curl as they are). kv: name, value, ..., NULL. Returns the body (caller frees); *http gets the
 * status (0 when curl failed). */
static char *rgw_call(int *http, const char *service, const char *const *kv)
{
    char sig[64], user[300], url[300];
    snprintf(sig, sizeof sig, "aws:amz:us-east-1:%s", service);
    snprintf(user, sizeof user, "%s:%s", g_ak, g_sk);
    snprintf(url, sizeof url, "%s/", g_endpoint);
    const char *argv[64] = {"curl", "-sS", "-w", "\n%{http_code}", "--aws-sigv4", sig, "--user", user, "-X", "POST"};
    int n = 10;
    char *pairs[24] = {0};
    int np = 0;
    for (int i = 0; kv[i] && kv[i + 1] && n < 60 && np < 24; i += 2) {
        pairs[np] = rs_test_fmt("%s=%s", kv[i], kv[i + 1]);
        argv[n++] = "--data-urlencode";
        argv[n++] = pairs[np++];
    }
    argv[n++] = url;
    argv[n] = NULL;
    int fd[2];
    *http = 0;
    if (pipe(fd) != 0)
        return strdup("");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execv("/usr/bin/curl", (char *const *)argv);
        _exit(127);
    }
    close(fd[1]);
    rs_buf b = {0};
    char chunk[4096];
    ssize_t r;
    while ((r = read(fd[0], chunk, sizeof chunk)) > 0)
        rs_buf_append(&b, chunk, (size_t)r);
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    for (int i = 0; i < np; i++)
        free(pairs[i]);
    rs_buf_cstr(&b);
    char *out = (char *)rs_buf_take(&b, NULL);
    char *nl = strrchr(out, '\n');
    if (nl) {
        *http = atoi(nl + 1);
        *nl = '\0';
    }
    return out;
}

static bool iam_ok(const char *what, const char *const *kv)
{
    int http = 0;
    char *out = rgw_call(&http, "iam", kv);
    bool ok = http == 200;
    if (!ok)
        fprintf(stderr, "IAM %s: HTTP %d: %.300s\n", what, http, out);
    free(out);
    return ok;
}

/* The text between <tag> and </tag>, copied into out. */
static bool xml_get(const char *doc, const char *tag, char *out, size_t cap)
{
    char o[64], c[64];
    snprintf(o, sizeof o, "<%s>", tag);
    snprintf(c, sizeof c, "</%s>", tag);
    const char *a = strstr(doc, o), *e = a ? strstr(a, c) : NULL;
    if (!a || !e)
        return false;
    a += strlen(o);
    snprintf(out, cap, "%.*s", (int)(e - a), a);
    return true;
}

/* A write and read back through the S3 backend with whatever credentials the chain finds. */
static int s3_roundtrip(const char *tag, rs_error *e)
{
    rs_storage *s = NULL;
    int rc = rs_storage_open(g_url, NULL, &s, e);
    char key[96];
    snprintf(key, sizeof key, "sts-test/%ld-%s", (long)getpid(), tag);
    if (!rc)
        rc = rs_storage_put(s, key, (const uint8_t *)tag, strlen(tag), RS_PUT_ALWAYS, NULL, NULL, e);
    uint8_t *d = NULL;
    size_t n = 0;
    if (!rc)
        rc = rs_storage_get(s, key, NULL, &d, &n, NULL, e);
    if (!rc && (n != strlen(tag) || memcmp(d, tag, n) != 0))
        rc = RS_ECORRUPT;
    if (!rc)
        rs_storage_delete(s, key, NULL);
    free(d);
    rs_storage_close(s);
    return rc;
}

/* ---------------------------------------------------------------- a tiny HTTP server */

typedef struct http_srv http_srv;
typedef void (*http_handler)(http_srv *s, int fd, const char *method, const char *path, const char *headers,
                             const char *body);
struct http_srv {
    int fd, port;
    volatile int stop;
    pthread_t th;
    pthread_mutex_t mu;
    http_handler handle;
    void *ud;
};

static void reply(int c, int code, const char *ctype, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     code, ctype, strlen(body));
    if (write(c, head, (size_t)n) < 0 || write(c, body, strlen(body)) < 0)
        return;
}

static void *srv_main(void *arg)
{
    http_srv *s = arg;
    while (!s->stop) {
        struct pollfd pf = {s->fd, POLLIN, 0};
        if (poll(&pf, 1, 100) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        rs_buf req = {0};
        char buf[8192];
        size_t need = 0;
        const char *hend = NULL;
        for (;;) {
            ssize_t r = read(c, buf, sizeof buf);
            if (r <= 0)
                break;
            rs_buf_append(&req, buf, (size_t)r);
            rs_buf_cstr(&req);
            hend = strstr((const char *)req.data, "\r\n\r\n");
            if (hend) {
                const char *cl = strcasestr((const char *)req.data, "\r\nContent-Length:");
                need = (size_t)(hend + 4 - (const char *)req.data) + (cl && cl < hend ? strtoul(cl + 17, NULL, 10) : 0);
                if (req.len >= need)
                    break;
            }
        }
        rs_buf_cstr(&req);
        char method[16] = "", path[512] = "";
        sscanf(req.data ? (const char *)req.data : "", "%15s %511s", method, path);
        hend = req.data ? strstr((const char *)req.data, "\r\n\r\n") : NULL;
        pthread_mutex_lock(&s->mu);
        if (hend) {
            char *h = strndup((const char *)req.data, (size_t)(hend - (const char *)req.data));
            s->handle(s, c, method, path, h, hend + 4);
            free(h);
        }
        pthread_mutex_unlock(&s->mu);
        rs_buf_free(&req);
        close(c);
    }
    return NULL;
}

static int srv_start(http_srv *s, http_handler h, void *ud)
{
    memset(s, 0, sizeof *s);
    s->handle = h;
    s->ud = ud;
    pthread_mutex_init(&s->mu, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) || listen(s->fd, 16) ||
        getsockname(s->fd, (struct sockaddr *)&a, &al))
        return -1;
    s->port = ntohs(a.sin_port);
    return pthread_create(&s->th, NULL, srv_main, s);
}

static void srv_stop(http_srv *s)
{
    s->stop = 1;
    pthread_join(s->th, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->mu);
}

/* A form field of an application/x-www-form-urlencoded body, decoded (caller frees), or NULL. */
static char *form_get(const char *body, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = body; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t l = amp ? (size_t)(amp - p) : strlen(p);
        if (l > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            char *o = malloc(l + 1);
            size_t j = 0;
            for (size_t i = nl + 1; i < l; i++) {
                if (p[i] == '%' && i + 2 < l) {
                    char hx[3] = {p[i + 1], p[i + 2], 0};
                    o[j++] = (char)strtol(hx, NULL, 16);
                    i += 2;
                } else {
                    o[j++] = p[i] == '+' ? ' ' : p[i];
                }
            }
            o[j] = '\0';
            return o;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

/* ---------------------------------------------------------------- the identity provider's side */

typedef struct idp {
    http_srv srv;
    EVP_PKEY *key;
    char x5c[4096];     /* base64 DER of the certificate */
    char thumb[41];     /* SHA-1 of the DER, upper-case hex */
    char issuer[64];
} idp;

static void idp_handle(http_srv *s, int c, const char *method, const char *path, const char *headers,
                       const char *body)
{
    (void)method;
    (void)headers;
    (void)body;
    idp *d = s->ud;
    char out[8192];
    if (strstr(path, "openid-configuration")) {
        snprintf(out, sizeof out, "{\"issuer\":\"%s\",\"jwks_uri\":\"%s/jwks\"}", d->issuer, d->issuer);
        reply(c, 200, "application/json", out);
    } else {
        snprintf(out, sizeof out, "{\"keys\":[{\"kty\":\"RSA\",\"alg\":\"RS256\",\"use\":\"sig\",\"kid\":\"k1\",\"x5c\":[\"%s\"]}]}",
                 d->x5c);
        reply(c, 200, "application/json", out);
    }
}

static EVP_PKEY *rsa_key(void) { return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048); }

static int idp_start(idp *d)
{
    memset(d, 0, sizeof *d);
    d->key = rsa_key();
    X509 *x = X509_new();
    if (!d->key || !x)
        return -1;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME *nm = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"regsync test identity provider", -1, -1, 0);
    X509_set_issuer_name(x, nm);
    X509_set_pubkey(x, d->key);
    if (!X509_sign(x, d->key, EVP_sha256()))
        return -1;
    unsigned char *der = NULL;
    int dl = i2d_X509(x, &der);
    EVP_EncodeBlock((unsigned char *)d->x5c, der, dl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned ml = 0;
    X509_digest(x, EVP_sha1(), md, &ml);
    for (unsigned i = 0; i < ml && i < 20; i++)
        snprintf(d->thumb + 2 * i, 3, "%02X", md[i]);
    OPENSSL_free(der);
    X509_free(x);
    if (srv_start(&d->srv, idp_handle, d))
        return -1;
    snprintf(d->issuer, sizeof d->issuer, "http://127.0.0.1:%d", d->srv.port);
    return 0;
}

static void idp_stop(idp *d)
{
    srv_stop(&d->srv);
    EVP_PKEY_free(d->key);
}

static void b64url(const uint8_t *p, size_t n, rs_buf *out)
{
    char *t = malloc(4 * (n / 3 + 2) + 1);
    int l = EVP_EncodeBlock((unsigned char *)t, p, (int)n);
    for (int i = 0; i < l; i++) {
        if (t[i] == '=')
            break;
        rs_buf_putc(out, (uint8_t)(t[i] == '+' ? '-' : t[i] == '/' ? '_' : t[i]));
    }
    free(t);
}

/* A token as a Kubernetes projected service-account token looks to STS (RS256 JWT). key: the
 * signing key (the IdP's, or another one for a forged token). */
static char *make_jwt(const idp *d, EVP_PKEY *key, int seq)
{
    time_t now = time(NULL);
    char claims[1024];
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s\",\"sub\":\"system:serviceaccount:feast:regsync\",\"aud\":\"regsync-app\","
             "\"azp\":\"regsync-app\",\"app_id\":\"regsync-app\",\"iat\":%ld,\"exp\":%ld,\"jti\":\"t%d\"}",
             d->issuer, (long)now - 5, (long)now + 3600, seq);
    const char *hdr = "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}";
    rs_buf t = {0};
    b64url((const uint8_t *)hdr, strlen(hdr), &t);
    rs_buf_putc(&t, '.');
    b64url((const uint8_t *)claims, strlen(claims), &t);
    uint8_t sig[512];
    size_t sl = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key);
    EVP_DigestSign(ctx, sig, &sl, t.data, t.len);
    EVP_MD_CTX_free(ctx);
    rs_buf_putc(&t, '.');
    b64url(sig, sl, &t);
    rs_buf_cstr(&t);
    return (char *)rs_buf_take(&t, NULL);
}

/* ---------------------------------------------------------------- the stand-in STS */

typedef struct sts_standin {
    http_srv srv;
    char role[256];
    char want_session[80]; /* "" : any */
    char token_file[512];  /* the token it expects is this file's content, now */
    int life_s;
    bool reject;           /* answer InvalidIdentityToken (quoting the token) */
    char ak[128], sk[128], tok[4096]; /* real RGW session credentials it hands out */
    int ok, bad;
    char last_token[4096], last_session[80], last_problem[256];
} sts_standin;

static void sts_handle(http_srv *s, int c, const char *method, const char *path, const char *headers,
                       const char *body)
{
    sts_standin *t = s->ud;
    char *action = form_get(body, "Action"), *version = form_get(body, "Version"), *role = form_get(body, "RoleArn");
    char *sess = form_get(body, "RoleSessionName"), *wit = form_get(body, "WebIdentityToken");
    uint8_t *fd = NULL;
    size_t fl = 0;
    char file_tok[4096] = "";
    if (rs_read_file(t->token_file, 0, &fd, &fl, NULL) == RS_OK) {
        snprintf(file_tok, sizeof file_tok, "%.*s", (int)fl, (const char *)fd);
        size_t l = strlen(file_tok);
        while (l && (file_tok[l - 1] == '\n' || file_tok[l - 1] == ' '))
            file_tok[--l] = '\0';
    }
    free(fd);
    const char *problem = NULL;
    if (strcmp(method, "POST") != 0 || strcmp(path, "/") != 0)
        problem = "not POST /";
    else if (!strcasestr(headers, "application/x-www-form-urlencoded"))
        problem = "no form content type";
    else if (strcasestr(headers, "\nAuthorization:"))
        problem = "AssumeRoleWithWebIdentity is not signed";
    else if (!action || strcmp(action, "AssumeRoleWithWebIdentity") != 0)
        problem = "wrong Action";
    else if (!version || strcmp(version, "2011-06-15") != 0)
        problem = "wrong Version";
    else if (!role || strcmp(role, t->role) != 0)
        problem = "wrong RoleArn";
    else if (!sess || (t->want_session[0] && strcmp(sess, t->want_session) != 0))
        problem = "wrong RoleSessionName";
    else if (!wit || strcmp(wit, file_tok) != 0)
        problem = "the token is not the token file's content";
    snprintf(t->last_token, sizeof t->last_token, "%s", wit ? wit : "");
    snprintf(t->last_session, sizeof t->last_session, "%s", sess ? sess : "");
    char out[8192];
    if (problem) {
        t->bad++;
        snprintf(t->last_problem, sizeof t->last_problem, "%s", problem);
        snprintf(out, sizeof out, "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>%s</Message></Error></ErrorResponse>",
                 problem);
        reply(c, 400, "text/xml", out);
    } else if (t->reject) {
        t->bad++;
        /* the message quotes the token: it must not reach regsync's error or log */
        snprintf(out, sizeof out,
                 "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Couldn't "
                 "verify the token %.3000s</Message></Error></ErrorResponse>",
                 wit);
        reply(c, 400, "text/xml", out);
    } else {
        t->ok++;
        char exp[40];
        time_t e = time(NULL) + t->life_s;
        strftime(exp, sizeof exp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&e));
        snprintf(out, sizeof out,
                 "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                 "<AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>system:serviceaccount:feast:regsync"
                 "</SubjectFromWebIdentityToken><Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s"
                 "</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>"
                 "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
                 t->ak, t->sk, t->tok, exp);
        reply(c, 200, "text/xml", out);
    }
    free(action);
    free(version);
    free(role);
    free(sess);
    free(wit);
}

/* Real session credentials from RGW's AssumeRole (the role of s3-server.sh). */
static bool rgw_session(char *ak, char *sk, char *tok, size_t tokn)
{
    int http = 0;
    const char *kv[] = {"Action", "AssumeRole", "Version", "2011-06-15", "RoleArn", g_role, "RoleSessionName",
                        "standin", "DurationSeconds", "900", NULL};
    char *out = rgw_call(&http, "sts", kv);
    bool ok = http == 200 && xml_get(out, "AccessKeyId", ak, 128) && xml_get(out, "SecretAccessKey", sk, 128) &&
              xml_get(out, "SessionToken", tok, tokn);
    if (!ok)
        fprintf(stderr, "RGW AssumeRole: HTTP %d: %.300s\n", http, out);
    free(out);
    return ok;
}

/* ---------------------------------------------------------------- stderr capture (the log) */

typedef struct capture {
    int saved;
    char path[512];
} capture;

static void capture_begin(capture *c, const char *tag)
{
    fflush(stderr);
    snprintf(c->path, sizeof c->path, "%s/log-%s", g_tmp, tag);
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    c->saved = dup(2);
    dup2(fd, 2);
    close(fd);
}

/* Ends the capture; returns what was written (caller frees) and echoes it to stderr. */
static char *capture_end(capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    uint8_t *d = NULL;
    size_t n = 0;
    rs_read_file(c->path, 0, &d, &n, NULL);
    char *s = malloc(n + 1);
    if (n)
        memcpy(s, d, n);
    s[n] = '\0';
    free(d);
    fputs(s, stderr);
    return s;
}

/* ---------------------------------------------------------------- setup */

static int setup(void)
{
    g_tmp = rs_test_tmpdir("sts");
    const char *u = getenv("RS_TEST_S3_URL"), *ep = getenv("RS_TEST_S3_ENDPOINT"), *role = getenv("RS_TEST_S3_ROLE_ARN");
    const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
    g_have_curl = access("/usr/bin/curl", X_OK) == 0;
    if (u && *u && ep && *ep && role && *role && ak && sk) {
        g_url = u;
        g_endpoint = ep;
        g_role = role;
        snprintf(g_ak, sizeof g_ak, "%s", ak);
        snprintf(g_sk, sizeof g_sk, "%s", sk);
    }
    return g_tmp ? 0 : 1;
}

static int teardown(void)
{
    rs_test_rmrf(g_tmp);
    free(g_tmp);
    return 0;
}

/* ---------------------------------------------------------------- tests */

static void t_sts_endpoint(void)
{
    env_clean();
    struct {
        const char *region, *mode, *url, *signing;
    } cases[] = {
        {"eu-west-1", NULL, "https://sts.eu-west-1.amazonaws.com", "eu-west-1"},
        {"eu-west-1", "regional", "https://sts.eu-west-1.amazonaws.com", "eu-west-1"},
        {"eu-west-1", "legacy", "https://sts.amazonaws.com", "us-east-1"},
        {"af-south-1", "legacy", "https://sts.af-south-1.amazonaws.com", "af-south-1"}, /* opt-in: regional */
        {"cn-north-1", NULL, "https://sts.cn-north-1.amazonaws.com.cn", "cn-north-1"},
        {NULL, NULL, "https://sts.amazonaws.com", "us-east-1"},
        {"aws-global", "regional", "https://sts.amazonaws.com", "us-east-1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *url = NULL, *sr = NULL;
        CU_ASSERT_EQUAL_FATAL(rs_aws_sts_endpoint(cases[i].region, cases[i].mode, &url, &sr, NULL), RS_OK);
        CU_ASSERT_STRING_EQUAL(url, cases[i].url);
        CU_ASSERT_STRING_EQUAL(sr, cases[i].signing);
        free(url);
        free(sr);
    }
    char *url = NULL, *sr = NULL;
    rs_error e = {0};
    CU_ASSERT_EQUAL(rs_aws_sts_endpoint("eu-west-1", "sometimes", &url, &sr, &e), RS_EINVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "sometimes"));
    /* overrides: the service-specific one first, then the general one; the region still signs */
    setenv("AWS_ENDPOINT_URL", "http://general.example:1/", 1);
    CU_ASSERT_EQUAL(rs_aws_sts_endpoint("eu-west-1", NULL, &url, &sr, NULL), RS_OK);
    CU_ASSERT_STRING_EQUAL(url, "http://general.example:1");
    CU_ASSERT_STRING_EQUAL(sr, "eu-west-1");
    free(url);
    free(sr);
    setenv("AWS_ENDPOINT_URL_STS", "http://sts.example:2", 1);
    CU_ASSERT_EQUAL(rs_aws_sts_endpoint("eu-west-1", NULL, &url, &sr, NULL), RS_OK);
    CU_ASSERT_STRING_EQUAL(url, "http://sts.example:2");
    free(url);
    free(sr);
    env_clean();
}

/* IRSA against RGW's own STS, with tokens from the test's identity provider. */
static void t_web_identity_rgw(void)
{
    if (!need_server("sts web identity on RGW") || !need_curl("sts web identity on RGW"))
        return;
    idp d;
    CU_ASSERT_FATAL(idp_start(&d) == 0);
    char role[64];
    snprintf(role, sizeof role, "regsync-web-%ld", (long)getpid());
    const char *kv_oidc[] = {"Action", "CreateOpenIDConnectProvider", "Version", "2010-05-08", "Url", d.issuer,
                             "ClientIDList.member.1", "regsync-app", "ThumbprintList.member.1", d.thumb, NULL};
    CU_ASSERT(iam_ok("CreateOpenIDConnectProvider", kv_oidc));
    char trust[1024];
    snprintf(trust, sizeof trust,
             "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Federated\":[\"arn:aws:"
             "iam:::oidc-provider/%s\"]},\"Action\":[\"sts:AssumeRoleWithWebIdentity\"],\"Condition\":{\"StringEquals\":"
             "{\"%s:app_id\":\"regsync-app\"}}}]}",
             d.issuer + 7, d.issuer + 7);
    const char *kv_role[] = {"Action", "CreateRole", "Version", "2010-05-08", "RoleName", role, "Path", "/",
                             "AssumeRolePolicyDocument", trust, NULL};
    CU_ASSERT(iam_ok("CreateRole", kv_role));
    const char *kv_pol[] = {"Action", "PutRolePolicy", "Version", "2010-05-08", "RoleName", role, "PolicyName", "s3",
                            "PolicyDocument",
                            "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:*\"],"
                            "\"Resource\":[\"arn:aws:s3:::*\"]}]}",
                            NULL};
    CU_ASSERT(iam_ok("PutRolePolicy", kv_pol));
    char arn[128];
    snprintf(arn, sizeof arn, "arn:aws:iam:::role/%s", role);

    env_clean();
    char tokf[600];
    snprintf(tokf, sizeof tokf, "%s/token", g_tmp);
    char *jwt = make_jwt(&d, d.key, 1);
    write_file(tokf, jwt);
    setenv("AWS_ROLE_ARN", arn, 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tokf, 1);
    setenv("AWS_ROLE_SESSION_NAME", "regsync-irsa-test", 1);
    setenv("AWS_ENDPOINT_URL_STS", g_endpoint, 1);
    rs_aws_provider *p = NULL;
    rs_error e = {0};
    int rc = rs_aws_provider_open(NULL, &p, &e);
    if (rc)
        fprintf(stderr, "web identity on RGW: %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(rs_aws_provider_source(p), "web identity"));
    CU_ASSERT_PTR_NOT_NULL(strstr(rs_aws_provider_source(p), arn));
    rs_aws_creds cr;
    CU_ASSERT_EQUAL(rs_aws_provider_get(p, &cr, &e), RS_OK);
    CU_ASSERT_PTR_NOT_NULL(cr.session_token);
    CU_ASSERT(cr.expires_ms > rs_wall_ms() + 600 * 1000LL);
    rs_aws_creds_clear(&cr);
    /* the S3 server accepts the session credentials */
    rc = s3_roundtrip("irsa-rgw", &e);
    if (rc)
        fprintf(stderr, "S3 with web identity credentials: %s\n", e.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    /* a rotated token (Kubernetes writes a new one): the next fetch reads it */
    free(jwt);
    jwt = make_jwt(&d, d.key, 2);
    write_file(tokf, jwt);
    CU_ASSERT_TRUE(rs_aws_provider_invalidate(p));
    CU_ASSERT_EQUAL(rs_aws_provider_get(p, &cr, &e), RS_OK);
    rs_aws_creds_clear(&cr);
    CU_ASSERT_EQUAL(rs_aws_provider_fetches(p), 2);
    /* a token RGW cannot verify (signed by another key): one clear error naming the role */
    EVP_PKEY *other = rsa_key();
    char *forged = make_jwt(&d, other, 3);
    write_file(tokf, forged);
    CU_ASSERT_TRUE(rs_aws_provider_invalidate(p));
    CU_ASSERT_EQUAL(rs_aws_provider_get(p, &cr, &e), RS_EAUTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, arn));
    CU_ASSERT_PTR_NULL(strstr(e.msg, forged));
    fprintf(stderr, "  (RGW, a forged token: %s)\n", e.msg);
    rs_aws_provider_close(p);
    p = NULL;
    CU_ASSERT_EQUAL(rs_aws_provider_open(NULL, &p, &e), RS_EAUTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, arn));
    CU_ASSERT_PTR_NULL(p);
    EVP_PKEY_free(other);
    free(forged);
    free(jwt);
    env_clean();
    const char *kv_d1[] = {"Action", "DeleteRolePolicy", "Version", "2010-05-08", "RoleName", role, "PolicyName", "s3",
                           NULL};
    const char *kv_d2[] = {"Action", "DeleteRole", "Version", "2010-05-08", "RoleName", role, NULL};
    char parn[160];
    snprintf(parn, sizeof parn, "arn:aws:iam:::oidc-provider/%s", d.issuer + 7);
    const char *kv_d3[] = {"Action", "DeleteOpenIDConnectProvider", "Version", "2010-05-08",
                           "OpenIDConnectProviderArn", parn, NULL};
    iam_ok("DeleteRolePolicy", kv_d1);
    iam_ok("DeleteRole", kv_d2);
    iam_ok("DeleteOpenIDConnectProvider", kv_d3);
    idp_stop(&d);
}

/* The request, refresh before expiry, token re-read, bad token: through the stand-in STS. */
static void t_web_identity_standin(void)
{
    if (!need_server("sts web identity stand-in") || !need_curl("sts web identity stand-in"))
        return;
    sts_standin *t = calloc(1, sizeof *t);
    CU_ASSERT_FATAL(rgw_session(t->ak, t->sk, t->tok, sizeof t->tok));
    snprintf(t->role, sizeof t->role, "arn:aws:iam::123456789012:role/regsync-irsa");
    snprintf(t->want_session, sizeof t->want_session, "regsync-pod-1");
    snprintf(t->token_file, sizeof t->token_file, "%s/standin-token", g_tmp);
    t->life_s = 4; /* refresh halfway: after ~2 s */
    CU_ASSERT_FATAL(srv_start(&t->srv, sts_handle, t) == 0);
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", t->srv.port);
    env_clean();
    write_file(t->token_file, "eyJhbGciOiJSUzI1NiJ9.first-token.sig\n");
    setenv("AWS_ROLE_ARN", t->role, 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", t->token_file, 1);
    setenv("AWS_ROLE_SESSION_NAME", "regsync-pod-1", 1);
    setenv("AWS_ENDPOINT_URL_STS", ep, 1);
    rs_aws_provider *p = NULL;
    rs_error e = {0};
    int rc = rs_aws_provider_open(NULL, &p, &e);
    if (rc)
        fprintf(stderr, "stand-in: %s (%s)\n", e.msg, t->last_problem);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    CU_ASSERT_EQUAL(t->ok, 1);
    CU_ASSERT_EQUAL(t->bad, 0);
    CU_ASSERT_STRING_EQUAL(t->last_token, "eyJhbGciOiJSUzI1NiJ9.first-token.sig");
    rs_aws_creds cr;
    CU_ASSERT_EQUAL(rs_aws_provider_get(p, &cr, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(cr.access_key_id, t->ak);
    CU_ASSERT(cr.expires_ms > rs_wall_ms() && cr.expires_ms <= rs_wall_ms() + 5000);
    rs_aws_creds_clear(&cr);
    /* Kubernetes rotates the token; the credentials are refreshed before they expire, with the
     * new token */
    write_file(t->token_file, "eyJhbGciOiJSUzI1NiJ9.second-token.sig\n");
    usleep(2300 * 1000);
    CU_ASSERT_EQUAL(rs_aws_provider_get(p, &cr, &e), RS_OK);
    CU_ASSERT(cr.expires_ms > rs_wall_ms() + 3000);
    rs_aws_creds_clear(&cr);
    CU_ASSERT_EQUAL(t->ok, 2);
    CU_ASSERT_STRING_EQUAL(t->last_token, "eyJhbGciOiJSUzI1NiJ9.second-token.sig");
    CU_ASSERT_EQUAL(rs_aws_provider_fetches(p), 2);
    rs_aws_provider_close(p);
    /* the S3 server accepts what the stand-in handed out (RGW session credentials) */
    t->life_s = 600;
    rc = s3_roundtrip("irsa-standin", &e);
    if (rc)
        fprintf(stderr, "S3 with stand-in credentials: %s\n", e.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    /* no session name: regsync-<ms> */
    unsetenv("AWS_ROLE_SESSION_NAME");
    t->want_session[0] = '\0';
    CU_ASSERT_EQUAL(rs_aws_provider_open(NULL, &p, &e), RS_OK);
    CU_ASSERT(strncmp(t->last_session, "regsync-", 8) == 0 && strlen(t->last_session) > 8);
    rs_aws_provider_close(p);
    /* a bad token: one clear error naming the role; neither the token nor a secret in the error
     * or in any log line */
    const char *bad_tok = "eyJhbGciOiJSUzI1NiJ9.REVOKED-TOKEN-0123456789.sig";
    write_file(t->token_file, bad_tok);
    t->reject = true;
    capture cap;
    capture_begin(&cap, "bad-token");
    rc = rs_aws_provider_open(NULL, &p, &e);
    char *log = capture_end(&cap);
    CU_ASSERT_EQUAL(rc, RS_EAUTH);
    CU_ASSERT(!e.retryable);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, t->role));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "InvalidIdentityToken"));
    CU_ASSERT_PTR_NULL(strstr(e.msg, "REVOKED-TOKEN"));
    CU_ASSERT_PTR_NULL(strstr(log, "REVOKED-TOKEN"));
    fprintf(stderr, "  (stand-in, a rejected token: %s)\n", e.msg);
    free(log);
    /* a refresh that fails (the token was revoked): the error names the role, never the token or
     * the credentials handed out before */
    t->reject = false;
    t->life_s = 4;
    write_file(t->token_file, "eyJhbGciOiJSUzI1NiJ9.third-token.sig");
    CU_ASSERT_EQUAL_FATAL(rs_aws_provider_open(NULL, &p, &e), RS_OK);
    t->reject = true;
    write_file(t->token_file, bad_tok);
    usleep(2300 * 1000); /* refresh due; less than the 10 s that a failed refresh may live on */
    capture_begin(&cap, "refresh-fails");
    CU_ASSERT_EQUAL(rs_aws_provider_get(p, &cr, &e), RS_EAUTH);
    log = capture_end(&cap);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "refresh failed"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, t->role));
    CU_ASSERT_PTR_NULL(strstr(e.msg, "REVOKED-TOKEN"));
    CU_ASSERT_PTR_NULL(strstr(e.msg, t->sk));
    CU_ASSERT_PTR_NULL(strstr(log, "REVOKED-TOKEN"));
    CU_ASSERT_PTR_NULL(strstr(log, t->sk));
    CU_ASSERT_PTR_NULL(strstr(log, t->tok));
    free(log);
    rs_aws_provider_close(p);
    /* the token file missing: named, as is the role */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such-token", g_tmp);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", missing, 1);
    CU_ASSERT_EQUAL(rs_aws_provider_open(NULL, &p, &e), RS_EAUTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "no-such-token"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, t->role));
    env_clean();
    srv_stop(&t->srv);
    free(t);
}

/* role_arn + source_profile against RGW's AssumeRole (signed with the source profile's keys). */
static void t_assume_role_rgw(void)
{
    if (!need_server("sts assume role on RGW"))
        return;
    env_clean();
    char cred[600], cfg[600], text[2048];
    snprintf(cred, sizeof cred, "%s/credentials", g_tmp);
    snprintf(cfg, sizeof cfg, "%s/config", g_tmp);
    snprintf(text, sizeof text, "[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n", g_ak, g_sk);
    write_file(cred, text);
    snprintf(text, sizeof text,
             "[profile app]\nrole_arn = %s\nsource_profile = base\nrole_session_name = regsync-app\n"
             "duration_seconds = 900\n\n"
             "[profile self]\nrole_arn = %s\nsource_profile = self\naws_access_key_id = %s\naws_secret_access_key = %s\n\n"
             "[profile chained]\nrole_arn = %s\nsource_profile = app\n\n"
             "[profile nobody]\nrole_arn = arn:aws:iam:::role/no-such-role\nsource_profile = base\n\n"
             "[profile loop-a]\nrole_arn = %s\nsource_profile = loop-b\n\n"
             "[profile loop-b]\nrole_arn = %s\nsource_profile = loop-a\n\n"
             "[profile lonely]\nrole_arn = %s\n\n"
             "[profile both]\nrole_arn = %s\nsource_profile = base\ncredential_source = Environment\n\n"
             "[profile mfa]\nrole_arn = %s\nsource_profile = base\nmfa_serial = arn:aws:iam::1:mfa/u\n",
             g_role, g_role, g_ak, g_sk, g_role, g_role, g_role, g_role, g_role, g_role);
    write_file(cfg, text);
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
    setenv("AWS_CONFIG_FILE", cfg, 1);
    setenv("AWS_ENDPOINT_URL_STS", g_endpoint, 1);
    const char *ok_profiles[] = {"app", "self", "chained"};
    for (size_t i = 0; i < 3; i++) {
        setenv("AWS_PROFILE", ok_profiles[i], 1);
        rs_aws_provider *p = NULL;
        rs_error e = {0};
        int rc = rs_aws_provider_open(NULL, &p, &e);
        if (rc)
            fprintf(stderr, "profile %s: %s\n", ok_profiles[i], e.msg);
        CU_ASSERT_EQUAL(rc, RS_OK);
        if (p) {
            CU_ASSERT_PTR_NOT_NULL(strstr(rs_aws_provider_source(p), "assume role"));
            fprintf(stderr, "  (profile %s: %s)\n", ok_profiles[i], rs_aws_provider_source(p));
            rs_aws_creds cr;
            CU_ASSERT_EQUAL(rs_aws_provider_get(p, &cr, &e), RS_OK);
            CU_ASSERT_PTR_NOT_NULL(cr.session_token);
            CU_ASSERT_STRING_NOT_EQUAL(cr.access_key_id, g_ak);
            rs_aws_creds_clear(&cr);
        }
        rs_aws_provider_close(p);
        char tag[32];
        snprintf(tag, sizeof tag, "assume-%s", ok_profiles[i]);
        rc = s3_roundtrip(tag, &e);
        if (rc)
            fprintf(stderr, "S3 with profile %s: %s\n", ok_profiles[i], e.msg);
        CU_ASSERT_EQUAL(rc, RS_OK);
    }
    struct {
        const char *profile;
        int want;
        const char *word;
    } bad[] = {{"nobody", RS_EAUTH, "no-such-role"},   {"loop-a", RS_EINVALID, "loop"},
               {"lonely", RS_EINVALID, "role_arn without"}, {"both", RS_EINVALID, "both set"},
               {"mfa", RS_EINVALID, "MFA"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("AWS_PROFILE", bad[i].profile, 1);
        rs_aws_provider *p = NULL;
        rs_error e = {0};
        CU_ASSERT_EQUAL(rs_aws_provider_open(NULL, &p, &e), bad[i].want);
        CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, bad[i].word));
        CU_ASSERT_PTR_NULL(strstr(e.msg, g_sk));
        fprintf(stderr, "  (profile %s: %s)\n", bad[i].profile, e.msg);
        CU_ASSERT_PTR_NULL(p);
    }
    env_clean();
}

/* A container credentials endpoint stand-in (ECS / EKS Pod Identity): static test keys. */
static void creds_handle(http_srv *sv, int c, const char *method, const char *path, const char *headers,
                         const char *body)
{
    (void)sv;
    (void)method;
    (void)path;
    (void)headers;
    (void)body;
    char out[1024];
    snprintf(out, sizeof out, "{\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"%s\",\"Expiration\":\"2099-01-01T00:00:00Z\"}",
             g_ak, g_sk);
    reply(c, 200, "application/json", out);
}

/* The other profile sources: web_identity_token_file (the stand-in STS checks the request) and
 * credential_source = EcsContainer (the container endpoint's keys call RGW's AssumeRole). */
static void t_profile_sources(void)
{
    if (!need_server("sts profile sources") || !need_curl("sts profile sources"))
        return;
    sts_standin *t = calloc(1, sizeof *t);
    CU_ASSERT_FATAL(rgw_session(t->ak, t->sk, t->tok, sizeof t->tok));
    snprintf(t->role, sizeof t->role, "arn:aws:iam::123456789012:role/from-profile");
    snprintf(t->want_session, sizeof t->want_session, "profile-session");
    snprintf(t->token_file, sizeof t->token_file, "%s/profile-token", g_tmp);
    t->life_s = 3600;
    CU_ASSERT_FATAL(srv_start(&t->srv, sts_handle, t) == 0);
    http_srv creds;
    CU_ASSERT_FATAL(srv_start(&creds, creds_handle, NULL) == 0);
    env_clean();
    char cfg[600], text[2048], ep[64], curl_[96];
    snprintf(cfg, sizeof cfg, "%s/profiles-config", g_tmp);
    snprintf(text, sizeof text,
             "[profile web]\nrole_arn = %s\nweb_identity_token_file = %s\nrole_session_name = profile-session\n\n"
             "[profile ecs]\nrole_arn = %s\ncredential_source = EcsContainer\n",
             t->role, t->token_file, g_role);
    write_file(cfg, text);
    write_file(t->token_file, "eyJhbGciOiJSUzI1NiJ9.profile-token.sig\n");
    setenv("AWS_CONFIG_FILE", cfg, 1);
    /* web_identity_token_file: AssumeRoleWithWebIdentity at the stand-in */
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", t->srv.port);
    setenv("AWS_ENDPOINT_URL_STS", ep, 1);
    setenv("AWS_PROFILE", "web", 1);
    rs_aws_provider *p = NULL;
    rs_error e = {0};
    int rc = rs_aws_provider_open(NULL, &p, &e);
    if (rc)
        fprintf(stderr, "profile web: %s (%s)\n", e.msg, t->last_problem);
    CU_ASSERT_EQUAL(rc, RS_OK);
    CU_ASSERT_EQUAL(t->ok, 1);
    CU_ASSERT_STRING_EQUAL(t->last_token, "eyJhbGciOiJSUzI1NiJ9.profile-token.sig");
    if (p)
        CU_ASSERT_PTR_NOT_NULL(strstr(rs_aws_provider_source(p), "profile web web_identity_token_file"));
    rs_aws_provider_close(p);
    p = NULL;
    /* credential_source = EcsContainer: the endpoint's keys sign AssumeRole at RGW */
    setenv("AWS_ENDPOINT_URL_STS", g_endpoint, 1);
    snprintf(curl_, sizeof curl_, "http://127.0.0.1:%d/v2/credentials", creds.port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", curl_, 1);
    setenv("AWS_PROFILE", "ecs", 1);
    rc = rs_aws_provider_open(NULL, &p, &e);
    if (rc)
        fprintf(stderr, "profile ecs: %s\n", e.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    if (p) {
        CU_ASSERT_PTR_NOT_NULL(strstr(rs_aws_provider_source(p), "with container endpoint"));
        rs_aws_creds cr;
        CU_ASSERT_EQUAL(rs_aws_provider_get(p, &cr, &e), RS_OK);
        CU_ASSERT_PTR_NOT_NULL(cr.session_token);
        rs_aws_creds_clear(&cr);
    }
    rs_aws_provider_close(p);
    CU_ASSERT_EQUAL(s3_roundtrip("assume-ecs", &e), RS_OK);
    env_clean();
    srv_stop(&creds);
    srv_stop(&t->srv);
    free(t);
}

/* Which source wins, in the order of the SDKs' default chain. */
static void t_precedence(void)
{
    env_clean();
    char cred[600], cfg[600], tokf[600];
    snprintf(cred, sizeof cred, "%s/p-credentials", g_tmp);
    snprintf(cfg, sizeof cfg, "%s/p-config", g_tmp);
    snprintf(tokf, sizeof tokf, "%s/p-token", g_tmp);
    write_file(cred, "[default]\naws_access_key_id = AKIDPROFILE000000000\naws_secret_access_key = profile-secret\n");
    write_file(cfg, "[profile roled]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = default\n"
                    "aws_access_key_id = AKIDROLEDKEYS000000\naws_secret_access_key = roled\n");
    write_file(tokf, "token");
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
    setenv("AWS_CONFIG_FILE", cfg, 1);
    /* an STS nobody answers: a source that reaches it fails, one that does not, succeeds */
    setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1", 1);
    rs_aws_provider *p = NULL;
    rs_error e = {0};
    /* 1. environment keys beat everything, web identity included */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV0000000000000", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/irsa", 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tokf, 1);
    CU_ASSERT_EQUAL_FATAL(rs_aws_provider_open(NULL, &p, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(rs_aws_provider_source(p), "environment");
    rs_aws_provider_close(p);
    /* 2. web identity beats the profile's keys (it is tried: STS is unreachable here) */
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    CU_ASSERT_EQUAL(rs_aws_provider_open(NULL, &p, &e), RS_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "AssumeRoleWithWebIdentity"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "arn:aws:iam::1:role/irsa"));
    CU_ASSERT(e.retryable);
    /* 3. without it, the profile */
    unsetenv("AWS_ROLE_ARN");
    CU_ASSERT_EQUAL_FATAL(rs_aws_provider_open(NULL, &p, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(rs_aws_provider_source(p), "shared credentials file (profile default)");
    rs_aws_provider_close(p);
    /* in a profile, role_arn beats the profile's own keys */
    setenv("AWS_PROFILE", "roled", 1);
    CU_ASSERT_EQUAL(rs_aws_provider_open(NULL, &p, &e), RS_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "AssumeRole for role arn:aws:iam::1:role/x"));
    /* 4. a profile beats the container endpoint */
    unsetenv("AWS_PROFILE");
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds", 1);
    CU_ASSERT_EQUAL_FATAL(rs_aws_provider_open(NULL, &p, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(rs_aws_provider_source(p), "shared credentials file (profile default)");
    rs_aws_provider_close(p);
    env_clean();
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("STS credentials", setup, teardown);
    CU_add_test(s, "STS endpoint: regional, legacy, China, overrides", t_sts_endpoint);
    CU_add_test(s, "web identity (IRSA) against RGW's STS", t_web_identity_rgw);
    CU_add_test(s, "web identity: request, refresh, rotated token, bad token (stand-in STS)", t_web_identity_standin);
    CU_add_test(s, "role_arn profiles against RGW's AssumeRole", t_assume_role_rgw);
    CU_add_test(s, "profile sources: web_identity_token_file, credential_source EcsContainer", t_profile_sources);
    CU_add_test(s, "precedence of the chain", t_precedence);
    return rs_test_run();
}
