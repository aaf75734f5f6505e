/* aws_creds.c: AWS shared files, region resolution and the credentials chain. See aws_creds.h. */
#include "aws_creds.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "rs_buf.h"
#include "rs_log.h"
#include "rs_time.h"

#define CONTAINER_HOST "http://169.254.170.2"
#define IMDS_DEFAULT "http://169.254.169.254"
#define IMDS_TOKEN_TTL_S 21600
#define REFRESH_BEFORE_MS (5 * 60 * 1000)
#define RESPONSE_MAX (64 * 1024)

/* ---------------------------------------------------------------------------------------------
 * small helpers */

static void wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void rs_aws_creds_clear(rs_aws_creds *c)
{
    if (!c)
        return;
    wipe_free(c->access_key_id);
    wipe_free(c->secret_access_key);
    wipe_free(c->session_token);
    memset(c, 0, sizeof *c);
}

static int creds_copy(rs_aws_creds *dst, const rs_aws_creds *src)
{
    memset(dst, 0, sizeof *dst);
    dst->access_key_id = strdup(src->access_key_id);
    dst->secret_access_key = strdup(src->secret_access_key);
    dst->session_token = src->session_token ? strdup(src->session_token) : NULL;
    dst->expires_ms = src->expires_ms;
    if (!dst->access_key_id || !dst->secret_access_key || (src->session_token && !dst->session_token)) {
        rs_aws_creds_clear(dst);
        return RS_ENOMEM;
    }
    return RS_OK;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static char *trim(char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

int rs_aws_parse_time(const char *s, int64_t *ms)
{
    int Y, M, D, h, m, sec, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6 || n == 0)
        return -1;
    const char *p = s + n;
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh = 0, om = 0;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return -1;
        offset_s = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0' || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - offset_s) * 1000 + frac_ms;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * shared files */

const char *rs_aws_profile(void)
{
    const char *p = env("AWS_PROFILE");
    return p ? p : "default";
}

static char *home_path(const char *env_name, const char *rel)
{
    const char *e = env(env_name);
    if (e)
        return strdup(e);
    const char *home = env("HOME");
    if (!home)
        return NULL;
    size_t n = strlen(home) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", home, rel);
    return p;
}

char *rs_aws_config_path(void) { return home_path("AWS_CONFIG_FILE", ".aws/config"); }
char *rs_aws_credentials_path(void) { return home_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"); }

int rs_aws_ini_get(const char *path, const char *section, const char *key, char **value, bool *section_found)
{
    *value = NULL;
    if (section_found)
        *section_found = false;
    if (!path)
        return RS_ENOTFOUND;
    FILE *f = fopen(path, "r");
    if (!f)
        return RS_ENOTFOUND;
    char *line = NULL;
    size_t cap = 0;
    bool in = false;
    int rc = RS_ENOTFOUND;
    while (getline(&line, &cap, f) >= 0) {
        if (line[0] == ' ' || line[0] == '\t') /* nested sub-properties ("s3 =\n  key = v"): not ours */
            continue;
        char *t = trim(line);
        if (!*t || *t == '#' || *t == ';')
            continue;
        if (*t == '[') {
            char *end = strchr(t, ']');
            if (!end)
                continue;
            *end = '\0';
            in = strcmp(trim(t + 1), section) == 0;
            if (in && section_found)
                *section_found = true;
            continue;
        }
        if (!in)
            continue;
        char *eq = strchr(t, '=');
        if (!eq)
            continue;
        *eq = '\0';
        if (strcmp(trim(t), key) == 0) {
            char *v = trim(eq + 1);
            if (*v) {
                *value = strdup(v);
                rc = *value ? RS_OK : RS_ENOMEM;
            }
            break;
        }
    }
    if (line) {
        OPENSSL_cleanse(line, cap);
        free(line);
    }
    fclose(f);
    return rc;
}

/* The config file names profiles "[profile NAME]", except "[default]". */
static int config_get(const char *path, const char *profile, const char *key, char **value, bool *found)
{
    char sec[300];
    bool f1 = false, f2 = false;
    int rc = RS_ENOTFOUND;
    if (strcmp(profile, "default") == 0) {
        rc = rs_aws_ini_get(path, "default", key, value, &f1);
        if (rc == RS_ENOTFOUND)
            rc = rs_aws_ini_get(path, "profile default", key, value, &f2);
    } else {
        snprintf(sec, sizeof sec, "profile %s", profile);
        rc = rs_aws_ini_get(path, sec, key, value, &f1);
    }
    if (found)
        *found = f1 || f2;
    return rc;
}

static bool region_ok(const char *r)
{
    if (!*r || strlen(r) > 64)
        return false;
    for (const char *p = r; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-'))
            return false;
    return true;
}

int rs_aws_resolve_region(const char *url_region, const char *opts_region, char **region, const char **source,
                          rs_error *err)
{
    *region = NULL;
    const char *src = NULL, *val = NULL;
    char *from_file = NULL;
    if (url_region && *url_region) {
        val = url_region;
        src = "URL (region=)";
    } else if (opts_region && *opts_region) {
        val = opts_region;
        src = "configuration (storage region)";
    } else if ((val = env("AWS_REGION"))) {
        src = "AWS_REGION";
    } else if ((val = env("AWS_DEFAULT_REGION"))) {
        src = "AWS_DEFAULT_REGION";
    }
    char *cfg = NULL;
    if (!val) {
        cfg = rs_aws_config_path();
        bool found = false;
        if (config_get(cfg, rs_aws_profile(), "region", &from_file, &found) == RS_OK) {
            val = from_file;
            src = "config file profile region";
        } else {
            FILE *f = cfg ? fopen(cfg, "r") : NULL;
            const char *why = !cfg ? "HOME not set" : !f ? "file not found" : found ? "no region key" : "no such profile";
            if (f)
                fclose(f);
            int rc = rs_error_set(err, RS_EINVALID,
                                  "s3: no AWS region; looked at the URL (region=), the configuration (storage "
                                  "region), AWS_REGION, AWS_DEFAULT_REGION, and profile '%s' in %s (%s)",
                                  rs_aws_profile(), cfg ? cfg : "~/.aws/config", why);
            free(cfg);
            return rc;
        }
    }
    if (!region_ok(val)) {
        int rc = rs_error_set(err, RS_EINVALID, "s3: region '%.64s' from %s is not a region name", val, src);
        free(from_file);
        free(cfg);
        return rc;
    }
    *region = strdup(val);
    free(from_file);
    free(cfg);
    if (!*region)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    if (source)
        *source = src;
    return RS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * the provider */

enum { SRC_STATIC, SRC_CONTAINER, SRC_IMDS };

struct rs_aws_provider {
    int kind;
    char source[128];
    rs_aws_creds cur;
    int64_t refresh_at_ms; /* wall clock; 0: never */
    bool force;
    unsigned fetches;
    long timeout_ms;
    char *ca_bundle;
    CURL *curl;
    char *container_url;
    char *imds;            /* endpoint without trailing '/' */
    char *imds_token;
    int64_t imds_token_until_ms;
};

typedef struct http_resp {
    long status;
    rs_buf body;
    bool too_big;
} http_resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    http_resp *r = ud;
    size_t len = sz * n;
    if (r->body.len + len > RESPONSE_MAX) {
        r->too_big = true;
        return 0;
    }
    return rs_buf_append(&r->body, p, len) == RS_OK ? len : 0;
}

/* One HTTP request to a credentials endpoint. Body NUL-terminated. Errors name the URL. */
static int http_do(rs_aws_provider *p, const char *what, const char *method, const char *url,
                   struct curl_slist *hdrs, http_resp *r, rs_error *err)
{
    memset(r, 0, sizeof *r);
    if (!p->curl && !(p->curl = curl_easy_init()))
        return rs_error_set(err, RS_ENOMEM, "%s: cannot create an HTTP handle", what);
    CURL *c = p->curl;
    curl_easy_reset(c);
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, p->timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, p->timeout_ms);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* link-local metadata endpoints are never proxied */
    if (p->ca_bundle)
        curl_easy_setopt(c, CURLOPT_CAINFO, p->ca_bundle);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    if (r->too_big) {
        rs_buf_free(&r->body);
        return rs_error_set(err, RS_ECORRUPT, "%s: %s %s: response larger than %d bytes", what, method, url,
                            RESPONSE_MAX);
    }
    if (cc != CURLE_OK) {
        rs_buf_free(&r->body);
        return rs_error_set(err, cc == CURLE_OPERATION_TIMEDOUT ? RS_ETIMEOUT : RS_EIO, "%s: %s %s: %s", what,
                            method, url, ebuf[0] ? ebuf : curl_easy_strerror(cc));
    }
    if (rs_buf_cstr(&r->body))
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    return RS_OK;
}

/* {"AccessKeyId","SecretAccessKey","Token","Expiration"} (ECS agent and IMDS alike). */
static int parse_creds_json(const char *what, const char *body, rs_aws_creds *out, rs_error *err)
{
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *j = json_loads(body, 0, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return rs_error_set(err, RS_ECORRUPT, "%s: credentials response is not a JSON object", what);
    }
    const char *code = json_string_value(json_object_get(j, "Code"));
    const char *ak = json_string_value(json_object_get(j, "AccessKeyId"));
    const char *sk = json_string_value(json_object_get(j, "SecretAccessKey"));
    const char *tok = json_string_value(json_object_get(j, "Token"));
    const char *exp = json_string_value(json_object_get(j, "Expiration"));
    int rc = RS_OK;
    if (code && strcmp(code, "Success") != 0) {
        rc = rs_error_set(err, RS_EAUTH, "%s: credentials response has Code '%.64s'", what, code);
        goto done;
    }
    if (!ak || !*ak || !sk || !*sk) {
        rc = rs_error_set(err, RS_ECORRUPT, "%s: credentials response lacks AccessKeyId or SecretAccessKey", what);
        goto done;
    }
    if (exp && rs_aws_parse_time(exp, &out->expires_ms) != 0) {
        rc = rs_error_set(err, RS_ECORRUPT, "%s: credentials Expiration '%.40s' is not a time", what, exp);
        goto done;
    }
    out->access_key_id = strdup(ak);
    out->secret_access_key = strdup(sk);
    out->session_token = tok && *tok ? strdup(tok) : NULL;
    if (!out->access_key_id || !out->secret_access_key || (tok && *tok && !out->session_token))
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
done:
    if (rc)
        rs_aws_creds_clear(out);
    /* the parsed document held the secret: wipe the strings before jansson frees them */
    const char *fields[] = {"SecretAccessKey", "Token"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(j, fields[i]);
        if (json_is_string(v))
            OPENSSL_cleanse((void *)json_string_value(v), json_string_length(v));
    }
    json_decref(j);
    return rc;
}

static bool header_safe(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n' || *s == '\0')
            return false;
    return true;
}

static int container_fetch(rs_aws_provider *p, rs_aws_creds *out, rs_error *err)
{
    const char *what = "container credentials endpoint";
    char *tok = NULL;
    const char *tok_file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    if (tok_file) {
        uint8_t *d = NULL;
        size_t n = 0;
        rs_error e2;
        if (rs_read_file(tok_file, 16384, &d, &n, &e2))
            return rs_error_set(err, RS_EAUTH, "%s: cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: %s", what,
                                e2.msg);
        tok = malloc(n + 1);
        if (!tok) {
            free(d);
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        }
        memcpy(tok, d, n);
        tok[n] = '\0';
        OPENSSL_cleanse(d, n);
        free(d);
        char *t = trim(tok);
        memmove(tok, t, strlen(t) + 1);
    } else if (env("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
        tok = strdup(env("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
        if (!tok)
            return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    struct curl_slist *h = NULL;
    rs_buf line = {0};
    int rc = RS_OK;
    if (tok) {
        if (!header_safe(tok)) {
            rc = rs_error_set(err, RS_EAUTH, "%s: the authorization token contains a line break", what);
            goto done;
        }
        if (rs_buf_printf(&line, "Authorization: %s", tok) || !(h = curl_slist_append(NULL, (char *)line.data))) {
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
            goto done;
        }
    }
    http_resp r;
    if ((rc = http_do(p, what, "GET", p->container_url, h, &r, err)))
        goto done;
    if (r.status != 200) {
        rc = rs_error_set(err, r.status == 401 || r.status == 403 ? RS_EAUTH : RS_EIO,
                          "%s: GET %s: HTTP %ld", what, p->container_url, r.status);
    } else {
        rc = parse_creds_json(what, (const char *)r.body.data, out, err);
    }
    OPENSSL_cleanse(r.body.data, r.body.len);
    rs_buf_free(&r.body);
done:
    if (line.data)
        OPENSSL_cleanse(line.data, line.len);
    rs_buf_free(&line);
    curl_slist_free_all(h);
    wipe_free(tok);
    return rc;
}

static int imds_token(rs_aws_provider *p, rs_error *err)
{
    int64_t now = rs_wall_ms();
    if (p->imds_token && now < p->imds_token_until_ms)
        return RS_OK;
    wipe_free(p->imds_token);
    p->imds_token = NULL;
    char url[1024];
    snprintf(url, sizeof url, "%s/latest/api/token", p->imds);
    struct curl_slist *h = curl_slist_append(NULL, "X-aws-ec2-metadata-token-ttl-seconds: 21600");
    if (!h)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    http_resp r;
    int rc = http_do(p, "instance metadata (IMDSv2)", "PUT", url, h, &r, err);
    curl_slist_free_all(h);
    if (rc)
        return rc;
    if (r.status != 200 || r.body.len == 0 || !header_safe((char *)r.body.data)) {
        rs_buf_free(&r.body);
        return rs_error_set(err, RS_EAUTH, "instance metadata (IMDSv2): PUT %s: HTTP %ld (no session token)", url,
                            r.status);
    }
    p->imds_token = (char *)rs_buf_take(&r.body, &(size_t){0});
    p->imds_token_until_ms = now + (IMDS_TOKEN_TTL_S - 60) * 1000LL;
    return RS_OK;
}

static int imds_get(rs_aws_provider *p, const char *path, http_resp *r, rs_error *err)
{
    int rc = imds_token(p, err);
    if (rc)
        return rc;
    char url[1024];
    snprintf(url, sizeof url, "%s%s", p->imds, path);
    rs_buf hl = {0};
    if (rs_buf_printf(&hl, "X-aws-ec2-metadata-token: %s", p->imds_token))
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    struct curl_slist *h = curl_slist_append(NULL, (char *)hl.data);
    OPENSSL_cleanse(hl.data, hl.len);
    rs_buf_free(&hl);
    if (!h)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    rc = http_do(p, "instance metadata (IMDSv2)", "GET", url, h, r, err);
    curl_slist_free_all(h);
    if (rc == RS_OK && r->status == 401) { /* token expired early: drop it so that the next try gets one */
        wipe_free(p->imds_token);
        p->imds_token = NULL;
    }
    return rc;
}

static int imds_fetch(rs_aws_provider *p, rs_aws_creds *out, rs_error *err)
{
    const char *what = "instance metadata (IMDSv2)";
    const char *base = "/latest/meta-data/iam/security-credentials/";
    http_resp r;
    int rc = imds_get(p, base, &r, err);
    if (rc)
        return rc;
    if (r.status != 200) {
        rs_buf_free(&r.body);
        return rs_error_set(err, r.status == 404 ? RS_EAUTH : RS_EIO, "%s: GET %s: HTTP %ld%s", what, base, r.status,
                            r.status == 404 ? " (no IAM role attached to the instance)" : "");
    }
    char *role = (char *)r.body.data;
    role[strcspn(role, "\r\n")] = '\0';
    role = trim(role);
    if (!*role || strchr(role, '/') || strchr(role, '?') || strchr(role, '#')) {
        rs_buf_free(&r.body);
        return rs_error_set(err, RS_EAUTH, "%s: no usable IAM role name in the listing", what);
    }
    char path[512];
    snprintf(path, sizeof path, "%s%s", base, role);
    rs_buf_free(&r.body);
    if ((rc = imds_get(p, path, &r, err)))
        return rc;
    if (r.status != 200)
        rc = rs_error_set(err, RS_EIO, "%s: GET %s: HTTP %ld", what, path, r.status);
    else
        rc = parse_creds_json(what, (const char *)r.body.data, out, err);
    OPENSSL_cleanse(r.body.data, r.body.len);
    rs_buf_free(&r.body);
    return rc;
}

static void schedule_refresh(rs_aws_provider *p)
{
    int64_t now = rs_wall_ms();
    if (!p->cur.expires_ms) {
        p->refresh_at_ms = 0;
        return;
    }
    int64_t life = p->cur.expires_ms - now;
    if (life > 2 * REFRESH_BEFORE_MS)
        p->refresh_at_ms = p->cur.expires_ms - REFRESH_BEFORE_MS;
    else
        p->refresh_at_ms = now + (life > 0 ? life / 2 : 0);
}

static int fetch(rs_aws_provider *p, rs_error *err)
{
    rs_aws_creds n;
    int rc = p->kind == SRC_CONTAINER ? container_fetch(p, &n, err) : imds_fetch(p, &n, err);
    if (rc)
        return rc;
    p->fetches++;
    rs_aws_creds_clear(&p->cur);
    p->cur = n;
    p->force = false;
    schedule_refresh(p);
    char when[40] = "never";
    if (p->cur.expires_ms)
        rs_time_rfc3339_ms(p->cur.expires_ms, when, sizeof when);
    RS_LOGI("aws", "credentials fetched source=\"%s\" expires=%s session_token=%s", p->source, when,
            p->cur.session_token ? "yes" : "no");
    return RS_OK;
}

static bool loopback_or_agent(const char *host)
{
    if (!host)
        return false;
    if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0 ||
        strcmp(host, "169.254.170.2") == 0 || strcmp(host, "169.254.170.23") == 0 ||
        strcmp(host, "[fd00:ec2::23]") == 0 || strcmp(host, "fd00:ec2::23") == 0)
        return true;
    return strncmp(host, "127.", 4) == 0;
}

static int container_url(rs_aws_provider *p, rs_error *err)
{
    const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    rs_buf u = {0};
    if (rel) {
        if (rel[0] != '/')
            return rs_error_set(err, RS_EINVALID, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
        if (rs_buf_printf(&u, "%s%s", CONTAINER_HOST, rel))
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        p->container_url = (char *)rs_buf_take(&u, &(size_t){0});
        return RS_OK;
    }
    CURLU *cu = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = RS_OK;
    if (!cu || curl_url_set(cu, CURLUPART_URL, full, 0) != CURLUE_OK ||
        curl_url_get(cu, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(cu, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = rs_error_set(err, RS_EINVALID, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL");
    } else if (strcmp(scheme, "https") != 0 && !(strcmp(scheme, "http") == 0 && loopback_or_agent(host))) {
        rc = rs_error_set(err, RS_EINVALID,
                          "AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http is only allowed to a loopback address or "
                          "the ECS/EKS agent (got host %s)", host);
    } else if (!(p->container_url = strdup(full))) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(cu);
    return rc;
}

static int set_static(rs_aws_provider *p, const char *ak, const char *sk, const char *tok, const char *source)
{
    p->kind = SRC_STATIC;
    snprintf(p->source, sizeof p->source, "%s", source);
    p->cur.access_key_id = strdup(ak);
    p->cur.secret_access_key = strdup(sk);
    p->cur.session_token = tok && *tok ? strdup(tok) : NULL;
    p->fetches = 1;
    if (!p->cur.access_key_id || !p->cur.secret_access_key || (tok && *tok && !p->cur.session_token))
        return RS_ENOMEM;
    return RS_OK;
}

/* Looks for credentials of the profile in the credentials file, then the config file. RS_OK when
 * found, RS_ENOTFOUND when not, another error when the profile was named but exists nowhere. */
static int from_files(rs_aws_provider *p, rs_buf *looked, rs_error *err)
{
    const char *profile = rs_aws_profile();
    char *cred = rs_aws_credentials_path(), *cfg = rs_aws_config_path();
    char *ak = NULL, *sk = NULL, *tok = NULL;
    bool sec_cred = false, sec_cfg = false;
    int rc = RS_ENOTFOUND;
    char src[128];
    if (rs_aws_ini_get(cred, profile, "aws_access_key_id", &ak, &sec_cred) == RS_OK &&
        rs_aws_ini_get(cred, profile, "aws_secret_access_key", &sk, NULL) == RS_OK) {
        rs_aws_ini_get(cred, profile, "aws_session_token", &tok, NULL);
        snprintf(src, sizeof src, "shared credentials file (profile %s)", profile);
        rc = set_static(p, ak, sk, tok, src);
        goto done;
    }
    wipe_free(ak);
    wipe_free(sk);
    ak = sk = NULL;
    if (config_get(cfg, profile, "aws_access_key_id", &ak, &sec_cfg) == RS_OK &&
        config_get(cfg, profile, "aws_secret_access_key", &sk, NULL) == RS_OK) {
        config_get(cfg, profile, "aws_session_token", &tok, NULL);
        snprintf(src, sizeof src, "config file (profile %s)", profile);
        rc = set_static(p, ak, sk, tok, src);
        goto done;
    }
    rs_buf_printf(looked, "; %s (profile %s: %s)", cred ? cred : "~/.aws/credentials", profile,
                  sec_cred ? "no aws_access_key_id/aws_secret_access_key" : "not there");
    rs_buf_printf(looked, "; %s (profile %s: %s)", cfg ? cfg : "~/.aws/config", profile,
                  sec_cfg ? "no keys" : "not there");
    if (env("AWS_PROFILE") && !sec_cred && !sec_cfg)
        rc = rs_error_set(err, RS_EAUTH,
                          "AWS_PROFILE=%s names a profile that is in neither %s nor %s", profile,
                          cred ? cred : "~/.aws/credentials", cfg ? cfg : "~/.aws/config");
done:
    wipe_free(ak);
    wipe_free(sk);
    wipe_free(tok);
    free(cred);
    free(cfg);
    return rc;
}

int rs_aws_provider_open(const rs_aws_provider_opts *opts, rs_aws_provider **out, rs_error *err)
{
    *out = NULL;
    rs_aws_provider *p = calloc(1, sizeof *p);
    if (!p)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    p->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 2000;
    if (opts && opts->ca_bundle && !(p->ca_bundle = strdup(opts->ca_bundle))) {
        rs_aws_provider_close(p);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    rs_buf looked = {0};
    int rc;

    /* 1. environment */
    const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
    if (ak && sk) {
        rc = set_static(p, ak, sk, env("AWS_SESSION_TOKEN"), "environment");
        goto done;
    }
    rs_buf_printf(&looked, "environment (%s)",
                  ak ? "AWS_SECRET_ACCESS_KEY not set" : sk ? "AWS_ACCESS_KEY_ID not set" : "AWS_ACCESS_KEY_ID not set");

    /* 2. shared files */
    rc = from_files(p, &looked, err);
    if (rc != RS_ENOTFOUND)
        goto done;

    /* 3. container endpoint */
    if (env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || env("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
        p->kind = SRC_CONTAINER;
        snprintf(p->source, sizeof p->source, "container endpoint");
        if ((rc = container_url(p, err)) || (rc = fetch(p, err)))
            rs_error_prefix(err, "AWS credentials");
        goto done;
    }
    rs_buf_printf(&looked, "; container endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/_FULL_URI not set)");

    /* 4. IMDSv2 */
    const char *dis = env("AWS_EC2_METADATA_DISABLED");
    if (dis && strcasecmp(dis, "true") == 0) {
        rs_buf_printf(&looked, "; instance metadata (disabled by AWS_EC2_METADATA_DISABLED)");
    } else {
        p->kind = SRC_IMDS;
        snprintf(p->source, sizeof p->source, "instance metadata (IMDSv2)");
        const char *ep = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
        p->imds = strdup(ep ? ep : IMDS_DEFAULT);
        if (!p->imds) {
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
            goto done;
        }
        size_t n = strlen(p->imds);
        while (n && p->imds[n - 1] == '/')
            p->imds[--n] = '\0';
        rs_error e2 = {0};
        if ((rc = fetch(p, &e2)) == RS_OK)
            goto done;
        rs_buf_printf(&looked, "; instance metadata at %s (%s)", p->imds, e2.msg);
    }
    rs_buf_cstr(&looked);
    rc = rs_error_set(err, RS_EAUTH, "no AWS credentials found; looked at %s",
                      looked.data ? (char *)looked.data : "");

done:
    rs_buf_free(&looked);
    if (rc) {
        rs_aws_provider_close(p);
        return rc;
    }
    RS_LOGI("aws", "credentials source=\"%s\" session_token=%s", p->source, p->cur.session_token ? "yes" : "no");
    *out = p;
    return RS_OK;
}

void rs_aws_provider_close(rs_aws_provider *p)
{
    if (!p)
        return;
    rs_aws_creds_clear(&p->cur);
    if (p->curl)
        curl_easy_cleanup(p->curl);
    free(p->ca_bundle);
    free(p->container_url);
    free(p->imds);
    wipe_free(p->imds_token);
    free(p);
}

int rs_aws_provider_get(rs_aws_provider *p, rs_aws_creds *out, rs_error *err)
{
    memset(out, 0, sizeof *out);
    if (p->kind != SRC_STATIC) {
        int64_t now = rs_wall_ms();
        if (p->force || (p->refresh_at_ms && now >= p->refresh_at_ms)) {
            rs_error e2 = {0};
            int rc = fetch(p, &e2);
            if (rc) {
                bool still_valid = p->cur.access_key_id && !p->force &&
                                   (!p->cur.expires_ms || now + 10000 < p->cur.expires_ms);
                if (!still_valid)
                    return rs_error_set(err, rc, "AWS credentials refresh failed: %s", e2.msg);
                RS_LOGW("aws", "credentials refresh failed, keeping the current ones source=\"%s\" error=\"%s\"",
                        p->source, e2.msg);
                p->refresh_at_ms = now + 15000; /* try again soon, not on every request */
            }
        }
    }
    if (creds_copy(out, &p->cur))
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    return RS_OK;
}

bool rs_aws_provider_invalidate(rs_aws_provider *p)
{
    if (!p || p->kind == SRC_STATIC)
        return false;
    p->force = true;
    return true;
}

const char *rs_aws_provider_source(const rs_aws_provider *p) { return p ? p->source : ""; }
unsigned rs_aws_provider_fetches(const rs_aws_provider *p) { return p ? p->fetches : 0; }
