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
#include "sigv4.h"

#define CONTAINER_HOST "http://169.254.170.2"
#define IMDS_DEFAULT "http://169.254.169.254"
#define IMDS_TOKEN_TTL_S 21600
#define REFRESH_BEFORE_MS (5 * 60 * 1000)
#define RESPONSE_MAX (64 * 1024)
#define TOKEN_FILE_MAX (64 * 1024)
#define STS_TIMEOUT_MS 10000
#define PROFILE_DEPTH_MAX 5

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

/* n decimal digits at s (no sign, no blanks) into *v; false otherwise. */
static bool digits_at(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

int rs_aws_parse_time(const char *s, int64_t *ms)
{
    /* exactly YYYY-MM-DDThh:mm:ss; every position is checked before the next is read, so a short
       string never lets the parser step past its end */
    int Y, M, D, h, m, sec;
    if (!s || !digits_at(s, 4, &Y) || s[4] != '-' || !digits_at(s + 5, 2, &M) || s[7] != '-' ||
        !digits_at(s + 8, 2, &D) || s[10] != 'T' || !digits_at(s + 11, 2, &h) || s[13] != ':' ||
        !digits_at(s + 14, 2, &m) || s[16] != ':' || !digits_at(s + 17, 2, &sec))
        return -1;
    const char *p = s + 19;
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
        int oh, om;
        if (!digits_at(p + 1, 2, &oh) || p[3] != ':' || !digits_at(p + 4, 2, &om) || oh > 23 || om > 59)
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

enum { SRC_STATIC, SRC_CONTAINER, SRC_IMDS, SRC_WEB_IDENTITY, SRC_ASSUME_ROLE };

struct rs_aws_provider {
    int kind;
    char source[256];
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
    /* STS (web identity, assume role) */
    char *role_arn;
    char *session_name;
    char *external_id;
    char *token_file;         /* web identity: read again on every fetch (Kubernetes rotates it) */
    int duration_s;           /* 0: STS's default */
    char *sts_url;            /* endpoint, no trailing '/' */
    char *sts_region;         /* the region AssumeRole is signed for */
    long sts_timeout_ms;
    rs_aws_provider *src;     /* assume role: where the caller's own credentials come from */
    char *opt_region;         /* the caller's region (rs_aws_provider_opts.region) */
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
static int http_do_ex(rs_aws_provider *p, const char *what, const char *method, const char *url,
                      struct curl_slist *hdrs, const char *body, bool proxy_ok, long timeout_ms, http_resp *r,
                      rs_error *err)
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
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    if (!proxy_ok)
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
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
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

static int http_do(rs_aws_provider *p, const char *what, const char *method, const char *url,
                   struct curl_slist *hdrs, http_resp *r, rs_error *err)
{
    return http_do_ex(p, what, method, url, hdrs, NULL, false, p->timeout_ms, r, err);
}

/* {"AccessKeyId","SecretAccessKey","Token","Expiration"} (ECS agent and IMDS alike). */
int rs_aws_parse_creds_json(const char *what, const char *body, rs_aws_creds *out, rs_error *err)
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
        rc = rs_aws_parse_creds_json(what, (const char *)r.body.data, out, err);
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
        rc = rs_aws_parse_creds_json(what, (const char *)r.body.data, out, err);
    OPENSSL_cleanse(r.body.data, r.body.len);
    rs_buf_free(&r.body);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * STS: AssumeRoleWithWebIdentity (IRSA) and AssumeRole */

/* Regions that used the global endpoint under AWS_STS_REGIONAL_ENDPOINTS=legacy. */
static const char *const STS_LEGACY_GLOBAL[] = {
    "ap-northeast-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2", "aws-global", "ca-central-1",
    "eu-central-1",   "eu-north-1", "eu-west-1",      "eu-west-2",      "eu-west-3",  "sa-east-1",
    "us-east-1",      "us-east-2",  "us-west-1",      "us-west-2",      NULL};

int rs_aws_sts_endpoint(const char *region, const char *mode, char **url, char **signing_region, rs_error *err)
{
    *url = *signing_region = NULL;
    bool legacy = false;
    if (mode && *mode) {
        if (strcasecmp(mode, "legacy") == 0)
            legacy = true;
        else if (strcasecmp(mode, "regional") != 0)
            return rs_error_set(err, RS_EINVALID, "STS regional endpoints setting '%.32s' is not 'regional' or 'legacy'",
                                mode);
    }
    const char *ov = env("AWS_ENDPOINT_URL_STS");
    if (!ov)
        ov = env("AWS_ENDPOINT_URL");
    rs_buf u = {0};
    const char *sr = region && *region ? region : "us-east-1";
    if (ov) {
        rs_buf_printf(&u, "%s", ov);
    } else if (!region || !*region || strcmp(region, "aws-global") == 0) {
        rs_buf_printf(&u, "https://sts.amazonaws.com");
        sr = "us-east-1";
    } else {
        bool global = false;
        for (int i = 0; legacy && STS_LEGACY_GLOBAL[i]; i++)
            global = global || strcmp(STS_LEGACY_GLOBAL[i], region) == 0;
        if (global) {
            rs_buf_printf(&u, "https://sts.amazonaws.com");
            sr = "us-east-1";
        } else {
            rs_buf_printf(&u, "https://sts.%s.amazonaws.com%s", region, strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
        }
    }
    if (rs_buf_cstr(&u))
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    *url = (char *)rs_buf_take(&u, NULL);
    size_t n = strlen(*url);
    while (n && (*url)[n - 1] == '/')
        (*url)[--n] = '\0';
    *signing_region = strdup(sr);
    if (!*signing_region) {
        free(*url);
        *url = NULL;
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    return RS_OK;
}

/* application/x-www-form-urlencoded "&name=value" */
static void form_add(rs_buf *b, const char *name, const char *value)
{
    if (b->len)
        rs_buf_putc(b, '&');
    rs_buf_printf(b, "%s=", name);
    rs_sigv4_uri_encode(value, false, b);
}

/* The decoded text of the first <tag>...</tag> in doc (malloc'd), or NULL. STS answers are flat
 * XML without attributes on these elements. */
static char *xml_text(const char *doc, const char *tag)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = strstr(doc, open);
    if (!a)
        return NULL;
    a += strlen(open);
    const char *e = strstr(a, close);
    if (!e)
        return NULL;
    char *o = malloc((size_t)(e - a) + 1);
    if (!o)
        return NULL;
    size_t j = 0;
    for (const char *c = a; c < e; c++) {
        static const struct {
            const char *ent;
            char ch;
        } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        bool done = false;
        for (size_t k = 0; *c == '&' && k < sizeof ents / sizeof ents[0]; k++) {
            size_t l = strlen(ents[k].ent);
            if ((size_t)(e - c) >= l && strncmp(c, ents[k].ent, l) == 0) {
                o[j++] = ents[k].ch;
                c += l - 1;
                done = true;
                break;
            }
        }
        if (!done)
            o[j++] = *c;
    }
    o[j] = '\0';
    return o;
}

/* A message safe to show: one line, at most 200 characters, without the token. */
static void clean_message(char *m, const char *token)
{
    if (token && strlen(token) >= 8) {
        char *t;
        while ((t = strstr(m, token)))
            memmove(t, t + strlen(token), strlen(t + strlen(token)) + 1);
    }
    for (char *c = m; *c; c++)
        if (*c == '\r' || *c == '\n' || *c == '\t')
            *c = ' ';
    if (strlen(m) > 200)
        strcpy(m + 197, "...");
}

int rs_aws_parse_sts_reply(const char *what, long status, const char *doc, const char *token, rs_aws_creds *out,
                           rs_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = RS_OK;
    if (status == 200) {
        char *ak = xml_text(doc, "AccessKeyId"), *sk = xml_text(doc, "SecretAccessKey");
        char *tok = xml_text(doc, "SessionToken"), *exp = xml_text(doc, "Expiration");
        if (!ak || !*ak || !sk || !*sk) {
            rc = rs_error_set(err, RS_ECORRUPT, "%s: the answer holds no AccessKeyId/SecretAccessKey", what);
        } else if (!exp || rs_aws_parse_time(exp, &out->expires_ms) != 0) {
            rc = rs_error_set(err, RS_ECORRUPT, "%s: the answer's Expiration '%.40s' is not a time", what,
                              exp ? exp : "");
        } else {
            out->access_key_id = ak;
            out->secret_access_key = sk;
            out->session_token = tok && *tok ? tok : NULL;
            if (tok && !*tok)
                free(tok);
            ak = sk = tok = NULL;
        }
        wipe_free(ak);
        wipe_free(sk);
        wipe_free(tok);
        free(exp);
    } else {
        char *code = xml_text(doc, "Code"), *msg = xml_text(doc, "Message");
        char m[256];
        snprintf(m, sizeof m, "%s", msg ? msg : "");
        clean_message(m, token);
        bool retry = status >= 500 || status == 429 ||
                     (code && (strcmp(code, "IDPCommunicationError") == 0 || strcmp(code, "Throttling") == 0 ||
                               strcmp(code, "ThrottlingException") == 0 || strcmp(code, "RequestLimitExceeded") == 0));
        /* a refusal of a credentials request (bad token, unknown role, not trusted): no credentials
         * until someone changes something */
        int code_rc = retry ? RS_EUNAVAILABLE : (status >= 400 && status < 500) ? RS_EAUTH : RS_EIO;
        rc = rs_error_setr(err, code_rc, retry, "%s: HTTP %ld %s%s%s", what, status, code ? code : "(no error code)",
                           m[0] ? ": " : "", m);
        free(code);
        free(msg);
    }
    return rc;
}

/* POSTs an STS action (body: form fields) and parses the temporary credentials. sign: SigV4 with
 * the source provider's credentials (AssumeRole); unsigned otherwise (AssumeRoleWithWebIdentity
 * is authenticated by its token). token: the web identity token, kept out of every message. */
static int sts_call(rs_aws_provider *p, const char *action, rs_buf *form, bool sign, const char *token,
                    rs_aws_creds *out, rs_error *err)
{
    memset(out, 0, sizeof *out);
    char what[512];
    snprintf(what, sizeof what, "STS %s for role %s at %s", action, p->role_arn, p->sts_url);
    int rc = RS_OK;
    struct curl_slist *h = NULL;
    rs_buf auth = {0}, hl = {0};
    rs_aws_creds sc = {0};
    char *host = NULL, *port = NULL;
    CURLU *cu = NULL;
    if (rs_buf_cstr(form))
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    h = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded; charset=utf-8");
    if (!h)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    if (sign) {
        rs_error se = {0};
        if ((rc = rs_aws_provider_get(p->src, &sc, &se))) {
            rc = rs_error_set(err, rc, "%s: the caller's credentials (%s): %s", what, rs_aws_provider_source(p->src),
                              se.msg);
            goto out;
        }
        cu = curl_url();
        if (!cu || curl_url_set(cu, CURLUPART_URL, p->sts_url, 0) != CURLUE_OK ||
            curl_url_get(cu, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
            rc = rs_error_set(err, RS_EINVALID, "%s: the STS endpoint is not a URL", what);
            goto out;
        }
        curl_url_get(cu, CURLUPART_PORT, &port, 0); /* only when the URL names one */
        char hosthdr[300], amz_date[17], date8[9], payload[RS_SHA256_HEX_LEN + 1];
        snprintf(hosthdr, sizeof hosthdr, "%s%s%s", host, port ? ":" : "", port ? port : "");
        rs_sigv4_amz_date(time(NULL), amz_date, date8);
        rs_sigv4_sha256_hex(form->data, form->len, payload);
        rs_sigv4_kv hv[5] = {{"host", hosthdr},
                             {"content-type", "application/x-www-form-urlencoded; charset=utf-8"},
                             {"x-amz-date", amz_date},
                             {"x-amz-content-sha256", payload},
                             {"x-amz-security-token", sc.session_token}};
        size_t nh = sc.session_token ? 5 : 4;
        rs_sigv4_request req = {"POST", "/", NULL, 0, hv, nh, payload};
        rs_sigv4_key key = {sc.access_key_id, sc.secret_access_key, p->sts_region, "sts"};
        if (rs_sigv4_sign(&req, &key, amz_date, &auth, NULL, NULL) || rs_buf_cstr(&auth)) {
            rc = rs_error_set(err, RS_ENOMEM, "%s: signing failed", what);
            goto out;
        }
        const char *lines[] = {"Host: ", hosthdr, "X-Amz-Date: ", amz_date, "X-Amz-Content-Sha256: ", payload,
                               "Authorization: ", (const char *)auth.data, "X-Amz-Security-Token: ",
                               sc.session_token};
        for (size_t i = 0; i < (sc.session_token ? 10u : 8u); i += 2) {
            rs_buf_reset(&hl);
            if (rs_buf_printf(&hl, "%s%s", lines[i], lines[i + 1]) || rs_buf_cstr(&hl)) {
                rc = rs_error_set(err, RS_ENOMEM, "out of memory");
                goto out;
            }
            struct curl_slist *nh2 = curl_slist_append(h, (const char *)hl.data);
            if (!nh2) {
                rc = rs_error_set(err, RS_ENOMEM, "out of memory");
                goto out;
            }
            h = nh2;
        }
    }
    http_resp r;
    if ((rc = http_do_ex(p, what, "POST", p->sts_url, h, (const char *)form->data, true, p->sts_timeout_ms, &r,
                         err)))
        goto out;
    rc = rs_aws_parse_sts_reply(what, r.status, r.body.data ? (const char *)r.body.data : "", token, out, err);
    OPENSSL_cleanse(r.body.data, r.body.len);
    rs_buf_free(&r.body);
out:
    if (hl.data)
        OPENSSL_cleanse(hl.data, hl.len);
    rs_buf_free(&hl);
    rs_buf_free(&auth);
    curl_slist_free_all(h);
    rs_aws_creds_clear(&sc);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(cu);
    return rc;
}

static int web_identity_fetch(rs_aws_provider *p, rs_aws_creds *out, rs_error *err)
{
    uint8_t *d = NULL;
    size_t n = 0;
    rs_error fe;
    if (rs_read_file(p->token_file, TOKEN_FILE_MAX, &d, &n, &fe))
        return rs_error_set(err, RS_EAUTH, "web identity for role %s: cannot read the token file: %s", p->role_arn,
                            fe.msg);
    char *tok = malloc(n + 1);
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
    int rc;
    if (!*tok) {
        rc = rs_error_set(err, RS_EAUTH, "web identity for role %s: the token file %s is empty", p->role_arn,
                          p->token_file);
    } else {
        rs_buf form = {0};
        form_add(&form, "Action", "AssumeRoleWithWebIdentity");
        form_add(&form, "Version", "2011-06-15");
        form_add(&form, "RoleArn", p->role_arn);
        form_add(&form, "RoleSessionName", p->session_name);
        form_add(&form, "WebIdentityToken", tok);
        if (p->duration_s > 0)
            rs_buf_printf(&form, "&DurationSeconds=%d", p->duration_s);
        rc = sts_call(p, "AssumeRoleWithWebIdentity", &form, false, tok, out, err);
        if (form.data)
            OPENSSL_cleanse(form.data, form.len);
        rs_buf_free(&form);
    }
    wipe_free(tok);
    return rc;
}

static int assume_role_fetch(rs_aws_provider *p, rs_aws_creds *out, rs_error *err)
{
    rs_buf form = {0};
    form_add(&form, "Action", "AssumeRole");
    form_add(&form, "Version", "2011-06-15");
    form_add(&form, "RoleArn", p->role_arn);
    form_add(&form, "RoleSessionName", p->session_name);
    if (p->external_id)
        form_add(&form, "ExternalId", p->external_id);
    if (p->duration_s > 0)
        rs_buf_printf(&form, "&DurationSeconds=%d", p->duration_s);
    int rc = sts_call(p, "AssumeRole", &form, true, NULL, out, err);
    rs_buf_free(&form);
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
    int rc;
    switch (p->kind) {
    case SRC_CONTAINER:
        rc = container_fetch(p, &n, err);
        break;
    case SRC_WEB_IDENTITY:
        rc = web_identity_fetch(p, &n, err);
        break;
    case SRC_ASSUME_ROLE:
        rc = assume_role_fetch(p, &n, err);
        break;
    default:
        rc = imds_fetch(p, &n, err);
        break;
    }
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

/* Static keys of a named profile: the credentials file, then the config file. RS_OK when found,
 * RS_ENOTFOUND when not (*in_cred / *in_cfg tell whether the section exists). */
static int profile_keys(rs_aws_provider *p, const char *profile, bool *in_cred, bool *in_cfg)
{
    char *cred = rs_aws_credentials_path(), *cfg = rs_aws_config_path();
    char *ak = NULL, *sk = NULL, *tok = NULL;
    *in_cred = *in_cfg = false;
    int rc = RS_ENOTFOUND;
    char src[160];
    if (rs_aws_ini_get(cred, profile, "aws_access_key_id", &ak, in_cred) == RS_OK &&
        rs_aws_ini_get(cred, profile, "aws_secret_access_key", &sk, NULL) == RS_OK) {
        rs_aws_ini_get(cred, profile, "aws_session_token", &tok, NULL);
        snprintf(src, sizeof src, "shared credentials file (profile %s)", profile);
        rc = set_static(p, ak, sk, tok, src);
        goto done;
    }
    wipe_free(ak);
    wipe_free(sk);
    ak = sk = NULL;
    if (config_get(cfg, profile, "aws_access_key_id", &ak, in_cfg) == RS_OK &&
        config_get(cfg, profile, "aws_secret_access_key", &sk, NULL) == RS_OK) {
        config_get(cfg, profile, "aws_session_token", &tok, NULL);
        snprintf(src, sizeof src, "config file (profile %s)", profile);
        rc = set_static(p, ak, sk, tok, src);
    }
done:
    wipe_free(ak);
    wipe_free(sk);
    wipe_free(tok);
    free(cred);
    free(cfg);
    return rc;
}

/* A setting of a profile: the credentials file's [NAME] first, then the config file's. */
static int profile_get(const char *profile, const char *key, char **value)
{
    char *cred = rs_aws_credentials_path(), *cfg = rs_aws_config_path();
    int rc = rs_aws_ini_get(cred, profile, key, value, NULL);
    if (rc == RS_ENOTFOUND)
        rc = config_get(cfg, profile, key, value, NULL);
    free(cred);
    free(cfg);
    return rc;
}

static bool profile_exists(const char *profile)
{
    char *cred = rs_aws_credentials_path(), *cfg = rs_aws_config_path();
    char *v = NULL;
    bool a = false, b = false;
    rs_aws_ini_get(cred, profile, "\x01", &v, &a);
    config_get(cfg, profile, "\x01", &v, &b);
    free(cred);
    free(cfg);
    return a || b;
}

/* STS's RoleSessionName: 2 to 64 of [A-Za-z0-9+=,.@_-]. */
static bool session_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 64)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("+=,.@_-", *s))
            return false;
    return true;
}

static rs_aws_provider *provider_new(const rs_aws_provider_opts *opts)
{
    rs_aws_provider *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 2000;
    p->sts_timeout_ms = opts && opts->sts_timeout_ms > 0 ? opts->sts_timeout_ms : STS_TIMEOUT_MS;
    if ((opts && opts->ca_bundle && !(p->ca_bundle = strdup(opts->ca_bundle))) ||
        (opts && opts->region && *opts->region && !(p->opt_region = strdup(opts->region)))) {
        rs_aws_provider_close(p);
        return NULL;
    }
    return p;
}

/* Role, session name, and the STS endpoint: AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL, else the
 * regional endpoint of the region (the caller's, AWS_REGION, AWS_DEFAULT_REGION, the profile's),
 * or the global one under AWS_STS_REGIONAL_ENDPOINTS / sts_regional_endpoints = legacy. */
static int sts_setup(rs_aws_provider *p, const char *role, const char *session, const char *profile, rs_error *err)
{
    if (!(p->role_arn = strdup(role)))
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    if (session && *session) {
        if (!session_name_ok(session))
            return rs_error_set(err, RS_EINVALID,
                                "role session name '%.70s' must be 2 to 64 characters of [A-Za-z0-9+=,.@_-]", session);
        p->session_name = strdup(session);
    } else {
        char def[40];
        snprintf(def, sizeof def, "regsync-%lld", (long long)rs_wall_ms());
        p->session_name = strdup(def);
    }
    char *preg = NULL, *pmode = NULL;
    const char *region = p->opt_region ? p->opt_region : env("AWS_REGION");
    if (!region)
        region = env("AWS_DEFAULT_REGION");
    if (!region && profile_get(profile, "region", &preg) == RS_OK)
        region = preg;
    const char *mode = env("AWS_STS_REGIONAL_ENDPOINTS");
    if (!mode && profile_get(profile, "sts_regional_endpoints", &pmode) == RS_OK)
        mode = pmode;
    int rc = p->session_name ? rs_aws_sts_endpoint(region, mode, &p->sts_url, &p->sts_region, err)
                             : rs_error_set(err, RS_ENOMEM, "out of memory");
    free(preg);
    free(pmode);
    return rc;
}

static int init_web_identity(rs_aws_provider *p, const char *role, const char *token_file, const char *session,
                             int duration, const char *profile, const char *how, rs_error *err)
{
    p->kind = SRC_WEB_IDENTITY;
    p->duration_s = duration;
    if (!(p->token_file = strdup(token_file)))
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    int rc = sts_setup(p, role, session, profile, err);
    if (rc)
        return rc;
    /* a label only: both parts cut so that it always fits (20 + 60 + 7 + 160 + 1 < 256) */
    snprintf(p->source, sizeof p->source, "web identity token (%.60s, role %.160s)", how, role);
    return fetch(p, err);
}

static int init_container(rs_aws_provider *p, rs_error *err)
{
    p->kind = SRC_CONTAINER;
    snprintf(p->source, sizeof p->source, "container endpoint");
    int rc;
    if ((rc = container_url(p, err)) || (rc = fetch(p, err)))
        rs_error_prefix(err, "AWS credentials");
    return rc;
}

static int init_imds(rs_aws_provider *p, rs_error *err)
{
    p->kind = SRC_IMDS;
    snprintf(p->source, sizeof p->source, "instance metadata (IMDSv2)");
    const char *ep = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    free(p->imds);
    p->imds = strdup(ep ? ep : IMDS_DEFAULT);
    if (!p->imds)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    size_t n = strlen(p->imds);
    while (n && p->imds[n - 1] == '/')
        p->imds[--n] = '\0';
    return fetch(p, err);
}

static int init_profile(rs_aws_provider *p, const rs_aws_provider_opts *opts, const char *profile, int depth,
                        rs_error *err);

/* A profile with role_arn: AssumeRoleWithWebIdentity (web_identity_token_file) or AssumeRole with
 * the credentials of source_profile or credential_source. */
static int init_role_profile(rs_aws_provider *p, const rs_aws_provider_opts *opts, const char *profile,
                             const char *role, int depth, rs_error *err)
{
    char *wif = NULL, *sp = NULL, *cs = NULL, *sess = NULL, *dur = NULL, *ext = NULL, *mfa = NULL;
    profile_get(profile, "web_identity_token_file", &wif);
    profile_get(profile, "source_profile", &sp);
    profile_get(profile, "credential_source", &cs);
    profile_get(profile, "role_session_name", &sess);
    profile_get(profile, "duration_seconds", &dur);
    profile_get(profile, "external_id", &ext);
    profile_get(profile, "mfa_serial", &mfa);
    int rc = RS_OK, duration = 0;
    rs_aws_provider *src = NULL;
    if (dur) {
        char *end = NULL;
        long d = strtol(dur, &end, 10);
        if (!end || *end || d < 900 || d > 43200) {
            rc = rs_error_set(err, RS_EINVALID, "profile %s: duration_seconds '%.20s' is not 900 to 43200", profile, dur);
            goto out;
        }
        duration = (int)d;
    }
    if (mfa) {
        rc = rs_error_set(err, RS_EINVALID,
                          "profile %s: role %s needs an MFA code (mfa_serial), which an unattended agent cannot give",
                          profile, role);
        goto out;
    }
    if (wif) {
        char how[160];
        snprintf(how, sizeof how, "profile %s web_identity_token_file", profile);
        rc = init_web_identity(p, role, wif, sess, duration, profile, how, err);
        goto out;
    }
    if (sp && cs) {
        rc = rs_error_set(err, RS_EINVALID, "profile %s: source_profile and credential_source are both set (use one)",
                          profile);
        goto out;
    }
    if (!sp && !cs) {
        rc = rs_error_set(err, RS_EINVALID,
                          "profile %s: role_arn without source_profile, credential_source or web_identity_token_file",
                          profile);
        goto out;
    }
    if (!(src = provider_new(opts))) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto out;
    }
    if (sp) {
        bool a, b;
        if (strcmp(sp, profile) == 0) {
            /* a profile may name itself: its own keys call AssumeRole */
            rc = profile_keys(src, sp, &a, &b);
            if (rc == RS_ENOTFOUND)
                rc = rs_error_set(err, RS_EINVALID, "profile %s: source_profile is itself but it has no keys", profile);
        } else {
            rc = init_profile(src, opts, sp, depth + 1, err);
            if (rc == RS_ENOTFOUND)
                rc = rs_error_set(err, RS_EINVALID, "profile %s: source_profile %s has no credentials%s", profile, sp,
                                  profile_exists(sp) ? "" : " (no such profile)");
        }
    } else if (strcmp(cs, "Environment") == 0) {
        const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
        rc = ak && sk ? set_static(src, ak, sk, env("AWS_SESSION_TOKEN"), "environment")
                      : rs_error_set(err, RS_EAUTH,
                                     "profile %s: credential_source Environment, but AWS_ACCESS_KEY_ID / "
                                     "AWS_SECRET_ACCESS_KEY are not set",
                                     profile);
    } else if (strcmp(cs, "Ec2InstanceMetadata") == 0) {
        rc = init_imds(src, err);
    } else if (strcmp(cs, "EcsContainer") == 0) {
        rc = init_container(src, err);
    } else {
        rc = rs_error_set(err, RS_EINVALID,
                          "profile %s: credential_source '%.40s' is not Environment, Ec2InstanceMetadata or EcsContainer",
                          profile, cs);
    }
    if (rc)
        goto out;
    p->kind = SRC_ASSUME_ROLE;
    p->src = src;
    src = NULL;
    p->duration_s = duration;
    if (ext && !(p->external_id = strdup(ext))) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = sts_setup(p, role, sess, profile, err)))
        goto out;
    snprintf(p->source, sizeof p->source, "assume role %.120s (profile %s, with %.80s)", role, profile,
             rs_aws_provider_source(p->src));
    rc = fetch(p, err);
out:
    rs_aws_provider_close(src);
    free(wif);
    free(sp);
    free(cs);
    free(sess);
    free(dur);
    free(ext);
    free(mfa);
    return rc;
}

/* A named profile: role_arn first (as the SDKs do), then static keys. RS_ENOTFOUND when it has
 * neither. */
static int init_profile(rs_aws_provider *p, const rs_aws_provider_opts *opts, const char *profile, int depth,
                        rs_error *err)
{
    if (depth > PROFILE_DEPTH_MAX)
        return rs_error_set(err, RS_EINVALID, "profile %s: source_profile chain longer than %d (a loop?)", profile,
                            PROFILE_DEPTH_MAX);
    char *role = NULL;
    if (profile_get(profile, "role_arn", &role) == RS_OK) {
        int rc = init_role_profile(p, opts, profile, role, depth, err);
        free(role);
        return rc;
    }
    bool a, b;
    return profile_keys(p, profile, &a, &b);
}

int rs_aws_provider_open(const rs_aws_provider_opts *opts, rs_aws_provider **out, rs_error *err)
{
    *out = NULL;
    rs_aws_provider *p = provider_new(opts);
    if (!p)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
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

    /* 2. web identity from the environment (EKS IRSA) */
    const char *role = env("AWS_ROLE_ARN"), *tokf = env("AWS_WEB_IDENTITY_TOKEN_FILE");
    if (role && tokf) {
        rc = init_web_identity(p, role, tokf, env("AWS_ROLE_SESSION_NAME"), 0, rs_aws_profile(),
                               "AWS_WEB_IDENTITY_TOKEN_FILE", err);
        goto done;
    }
    rs_buf_printf(&looked, "; web identity (%s)",
                  role ? "AWS_ROLE_ARN set but AWS_WEB_IDENTITY_TOKEN_FILE not"
                       : tokf ? "AWS_WEB_IDENTITY_TOKEN_FILE set but AWS_ROLE_ARN not"
                              : "AWS_ROLE_ARN/AWS_WEB_IDENTITY_TOKEN_FILE not set");

    /* 3. the profile in the shared files: role_arn (AssumeRole, web identity), then keys */
    const char *profile = rs_aws_profile();
    rc = init_profile(p, opts, profile, 0, err);
    if (rc != RS_ENOTFOUND)
        goto done;
    {
        char *cred = rs_aws_credentials_path(), *cfg = rs_aws_config_path();
        char *v = NULL;
        bool in_cred = false, in_cfg = false;
        rs_aws_ini_get(cred, profile, "\x01", &v, &in_cred);
        config_get(cfg, profile, "\x01", &v, &in_cfg);
        rs_buf_printf(&looked, "; %s (profile %s: %s)", cred ? cred : "~/.aws/credentials", profile,
                      in_cred ? "no aws_access_key_id/aws_secret_access_key" : "not there");
        rs_buf_printf(&looked, "; %s (profile %s: %s)", cfg ? cfg : "~/.aws/config", profile,
                      in_cfg ? "no keys and no role_arn" : "not there");
        bool named = env("AWS_PROFILE") != NULL;
        if (named && !in_cred && !in_cfg)
            rc = rs_error_set(err, RS_EAUTH, "AWS_PROFILE=%s names a profile that is in neither %s nor %s", profile,
                              cred ? cred : "~/.aws/credentials", cfg ? cfg : "~/.aws/config");
        free(cred);
        free(cfg);
        if (named && !in_cred && !in_cfg)
            goto done;
    }

    /* 4. container endpoint (ECS, EKS Pod Identity) */
    if (env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || env("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
        rc = init_container(p, err);
        goto done;
    }
    rs_buf_printf(&looked, "; container endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/_FULL_URI not set)");

    /* 5. IMDSv2 */
    const char *dis = env("AWS_EC2_METADATA_DISABLED");
    if (dis && strcasecmp(dis, "true") == 0) {
        rs_buf_printf(&looked, "; instance metadata (disabled by AWS_EC2_METADATA_DISABLED)");
    } else {
        rs_error e2 = {0};
        if ((rc = init_imds(p, &e2)) == RS_OK)
            goto done;
        rs_buf_printf(&looked, "; instance metadata at %s (%s)", p->imds ? p->imds : IMDS_DEFAULT, e2.msg);
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
    free(p->role_arn);
    free(p->session_name);
    free(p->external_id);
    free(p->token_file);
    free(p->sts_url);
    free(p->sts_region);
    free(p->opt_region);
    rs_aws_provider_close(p->src);
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
