/* rs_config_validate.c: validation of the typed configuration as a whole (URLs, listen address,
 * files, the admin token, combinations of keys). See rs_config.h. */

#define RS_ERROR_ORIGIN RS_ORIGIN_CONFIG /* the errors this file makes (common/rs_error.h) */
#include "rs_config.h"
#include "rs_config_impl.h"
#include "rs_url.h"

#include "rs_buf.h"
#include "rs_time.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>


/* ------------------------------------------------------------------------------------------ */
/* validation of the typed config */

static bool region_ok(const char *s)
{
    if (!*s || strlen(s) > 63)
        return false;
    for (const char *p = s; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-'))
            return false;
    return true;
}

static bool scheme_is(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncasecmp(url, scheme, n) == 0 && strncmp(url + n, "://", 3) == 0;
}

bool cfg_has_scheme(const char *s) { return strstr(s, "://") != NULL; }

static void scheme_of(const char *url, char *out, size_t n)
{
    const char *e = strstr(url, "://");
    size_t l = e ? (size_t)(e - url) : 0;
    if (l >= n)
        l = n - 1;
    memcpy(out, url, l);
    out[l] = '\0';
}

/* a store URL: file:///abs, s3://bucket[/prefix], postgresql://..., mysql://... */
static const char *store_url_problem(const char *url)
{
    if (scheme_is(url, "file"))
        return url[7] == '/' && url[8] ? NULL : "a file:// URL needs an absolute path (file:///var/lib/regsync/global)";
    if (scheme_is(url, "s3"))
        return url[5] && url[5] != '/' && url[5] != '?' ? NULL : "an s3:// URL needs a bucket (s3://bucket/prefix)";
    if (scheme_is(url, "postgresql") || scheme_is(url, "postgres") || scheme_is(url, "mysql") || scheme_is(url, "mariadb"))
        return NULL;
    return "has an unsupported scheme (use file://, s3://, postgresql:// or mysql://)";
}

int rs_config_split_listen(const char *listen, char *host, size_t host_len, int *port)
{
    if (!listen || !host || host_len == 0)
        return -1;
    const char *colon;
    const char *h = listen;
    size_t hl;
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':')
            return -1;
        h = listen + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - listen);
        if (memchr(listen, ':', hl))
            return -1; /* an IPv6 address needs brackets */
    }
    if (hl >= host_len)
        return -1;
    const char *ps = colon + 1;
    if (!*ps || strlen(ps) > 5)
        return -1;
    int p = 0;
    for (const char *x = ps; *x; x++) {
        if (!isdigit((unsigned char)*x))
            return -1;
        p = p * 10 + (*x - '0');
    }
    if (p > 65535)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (port)
        *port = p;
    return 0;
}

bool rs_config_listen_is_loopback(const char *listen)
{
    char host[256];
    int port;
    if (rs_config_split_listen(listen, host, sizeof host, &port))
        return false;
    if (strcasecmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return true;
        if (IN6_IS_ADDR_V4MAPPED(&a6))
            return a6.s6_addr[12] == 127;
    }
    return false;
}

static bool glob_ok(const char *g)
{
    if (!*g)
        return false;
    for (const char *p = g; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        else if (*p == '[') {
            const char *e = p + 1;
            if (*e == '!' || *e == '^')
                e++;
            if (*e == ']')
                e++;
            e = strchr(e, ']');
            if (!e)
                return false;
            p = e;
        } else if ((unsigned char)*p < 0x20)
            return false;
    }
    return true;
}

static void check_file_readable(rs_config_problems *ps, struct rs_config_priv *pv, int i, const char *path, const char *what)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        cfg_kproblem(ps, pv, i, "%s %s: %s", what, path, strerror(errno));
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        cfg_kproblem(ps, pv, i, "%s %s is not a regular file", what, path);
        return;
    }
    if (access(path, R_OK) != 0)
        cfg_kproblem(ps, pv, i, "%s %s: %s", what, path, strerror(errno));
}

/* Reads the token from REGSYNC_ADMIN_TOKEN (env) or admin.token_file. */
void cfg_resolve_token(rs_config *cfg, char **env, rs_config_problems *ps)
{
    struct rs_config_priv *pv = cfg->priv;
    int ti = KEY_ADMIN_TOKEN_FILE;
    const char *ev = env ? cfg_env_lookup(env, "REGSYNC_ADMIN_TOKEN") : NULL;
    if (ev && *ev) {
        if (cfg->admin.token) {
            explicit_bzero(cfg->admin.token, strlen(cfg->admin.token));
            free(cfg->admin.token);
        }
        cfg->admin.token = strdup(ev);
        if (cfg->admin.token_file && *cfg->admin.token_file)
            cfg_warn_add(&cfg->warnings, "admin.token_file: ignored, REGSYNC_ADMIN_TOKEN is set");
    } else if (!cfg->admin.token && cfg->admin.token_file && *cfg->admin.token_file) {
        const char *path = cfg->admin.token_file;
        struct stat st;
        if (stat(path, &st) != 0) {
            cfg_kproblem(ps, pv, ti, "%s: %s", path, strerror(errno));
            return;
        }
        if (!S_ISREG(st.st_mode)) {
            cfg_kproblem(ps, pv, ti, "%s is not a regular file", path);
            return;
        }
        uint8_t *data = NULL;
        size_t len = 0;
        rs_error e;
        if (rs_read_file(path, TOKEN_MAX_BYTES, &data, &len, &e) != RS_OK) {
            cfg_kproblem(ps, pv, ti, "%s", e.msg);
            return;
        }
        while (len && isspace(data[len - 1]))
            len--;
        if (len == 0) {
            cfg_kproblem(ps, pv, ti, "%s is empty", path);
            free(data);
            return;
        }
        /* only a file of our own user: a secret that root or another user made readable to us
         * (a Docker or compose secret, a Kubernetes Secret volume with fsGroup) is the
         * mounting system's choice, and we could not chmod it anyway */
        if ((st.st_mode & 077) && st.st_uid == geteuid())
            cfg_warn_add(&cfg->warnings, "admin.token_file: %s is readable by group or others (chmod 600)", path);
        cfg->admin.token = strndup((const char *)data, len);
        explicit_bzero(data, len);
        free(data);
    }
    if (cfg->admin.token) {
        bool bad = false;
        for (const char *p = cfg->admin.token; *p; p++)
            if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
                bad = true;
        if (bad)
            cfg_kproblem(ps, pv, ti, "the admin token contains spaces or control characters (it travels in an HTTP header)");
        else if (strlen(cfg->admin.token) < 16)
            cfg_warn_add(&cfg->warnings, "admin token: shorter than 16 characters; use a long random token");
    }
}

void cfg_validate(rs_config *cfg, rs_config_problems *ps)
{
    struct rs_config_priv *pv = cfg->priv;
    char qb[400];
#define BAD(id) (pv->bad[id])
    /* required */
    if (!BAD(KEY_REGION)) {
        if (!*cfg->region)
            cfg_kproblem(ps, pv, KEY_REGION, "required (set region, REGSYNC_REGION or --set region=...)");
        else if (!region_ok(cfg->region))
            cfg_kproblem(ps, pv, KEY_REGION, "%s must match [a-z0-9-]+ (at most 63 characters)", cfg_q(cfg->region, qb, sizeof qb));
    }
    if (!BAD(KEY_INSTANCE) && *cfg->instance && !region_ok(cfg->instance))
        cfg_kproblem(ps, pv, KEY_INSTANCE,
                 "%s must match [a-z0-9-]+ (at most 63 characters), like a Kubernetes pod name; leave it empty to use "
                 "$POD_NAME or the host name",
                 cfg_q(cfg->instance, qb, sizeof qb));
    if (!BAD(KEY_FORGET_AFTER) && !BAD(KEY_STALE_AFTER) && cfg->forget_after_ms <= cfg->stale_after_ms)
        cfg_kproblem(ps, pv, KEY_FORGET_AFTER, "must be longer than stale_after (an instance is stale before it is forgotten)");
    if (!*cfg->store) {
        cfg_kproblem(ps, pv, KEY_STORE, "required: the global store URL (file://, s3://, postgresql:// or mysql://)");
    } else {
        char *red = rs_config_redact_url(cfg->store);
        const char *p = store_url_problem(cfg->store);
        if (p)
            cfg_kproblem(ps, pv, KEY_STORE, "%s %s", cfg_q(red ? red : "", qb, sizeof qb), p);
        if (pv->o[KEY_STORE].src == SRC_FILE && rs_url_has_secret(cfg->store))
            cfg_kproblem(ps, pv, KEY_STORE, "the URL holds a password or secret; secrets are not accepted in the configuration file "
                                         "(set REGSYNC_STORE, PGPASSWORD or ~/.pgpass, MYSQL_PWD, AWS_* variables)");
        free(red);
    }
    if (cfg->publish && !*cfg->source)
        cfg_kproblem(ps, pv, KEY_SOURCE, "required when publish is true: the key in the store or URL that Feast writes");
    if (*cfg->source && cfg_has_scheme(cfg->source)) {
        char sch[32];
        scheme_of(cfg->source, sch, sizeof sch);
        static const char *const ok[] = {"file", "s3", "postgresql", "postgres", "mysql", "mariadb", "http", "https", NULL};
        bool good = false;
        for (int i = 0; ok[i]; i++)
            if (!strcasecmp(sch, ok[i]))
                good = true;
        if (!good)
            cfg_kproblem(ps, pv, KEY_SOURCE, "scheme %s is not supported (a key in the store, or file://, s3://, postgresql://, mysql://, http(s)://)",
                     cfg_q(sch, qb, sizeof qb));
        if (pv->o[KEY_SOURCE].src == SRC_FILE && rs_url_has_secret(cfg->source))
            cfg_kproblem(ps, pv, KEY_SOURCE, "the URL holds a password or secret; secrets are not accepted in the configuration file");
    }
    if (!*cfg->target) {
        if (!cfg->publish)
            cfg_kproblem(ps, pv, KEY_TARGET, "required unless publish is true (a publish-only agent): where the regional registry.db goes");
    } else if (cfg_has_scheme(cfg->target)) {
        char *red = rs_config_redact_url(cfg->target);
        const char *p = store_url_problem(cfg->target);
        if (p)
            cfg_kproblem(ps, pv, KEY_TARGET, "%s %s", cfg_q(red ? red : "", qb, sizeof qb), p);
        free(red);
        if (pv->o[KEY_TARGET].src == SRC_FILE && rs_url_has_secret(cfg->target))
            cfg_kproblem(ps, pv, KEY_TARGET, "the URL holds a password or secret; secrets are not accepted in the configuration file");
    }
    /* replicas: "name=url", names [a-z0-9-]+ and unique, never "primary" */
    for (size_t j = 0; j < cfg->replicas.n; j++) {
        const char *it = cfg->replicas.v[j], *eq = strchr(it, '=');
        if (!eq || eq == it || !eq[1]) {
            cfg_kproblem(ps, pv, KEY_REPLICAS, "item %zu is not a {name, url} (or \"name=url\")", j + 1);
            continue;
        }
        size_t nl = (size_t)(eq - it);
        bool okname = nl < 64;
        for (size_t k = 0; k < nl; k++)
            if (!islower((unsigned char)it[k]) && !isdigit((unsigned char)it[k]) && it[k] != '-')
                okname = false;
        if (!okname || (nl == 7 && strncmp(it, "primary", 7) == 0))
            cfg_kproblem(ps, pv, KEY_REPLICAS, "replica name %.*s must be [a-z0-9-]+ (at most 63) and not \"primary\" (the store)",
                     (int)(nl > 64 ? 64 : nl), it);
        for (size_t k = 0; k < j; k++)
            if (strncmp(cfg->replicas.v[k], it, nl + 1) == 0)
                cfg_kproblem(ps, pv, KEY_REPLICAS, "replica name %.*s is used twice", (int)(nl > 64 ? 64 : nl), it);
        char *red = rs_config_redact_url(eq + 1);
        const char *p = store_url_problem(eq + 1);
        if (p)
            cfg_kproblem(ps, pv, KEY_REPLICAS, "replica %.*s: %s %s", (int)(nl > 64 ? 64 : nl), it, cfg_q(red ? red : "", qb, sizeof qb), p);
        free(red);
        if (pv->o[KEY_REPLICAS].src == SRC_FILE && rs_url_has_secret(eq + 1))
            cfg_kproblem(ps, pv, KEY_REPLICAS, "replica %.*s: the URL holds a password or secret; secrets are not accepted in the configuration file",
                     (int)(nl > 64 ? 64 : nl), it);
        if (*cfg->store && strcmp(eq + 1, cfg->store) == 0)
            cfg_kproblem(ps, pv, KEY_REPLICAS, "replica %.*s is the store itself", (int)(nl > 64 ? 64 : nl), it);
    }
    for (size_t j = 0; j < cfg->read_from.n; j++) {
        const char *nm = cfg->read_from.v[j];
        if (strcmp(nm, "primary") != 0 && !rs_config_replica_url(cfg, nm))
            cfg_kproblem(ps, pv, KEY_READ_FROM, "%s is neither \"primary\" nor the name of a replica", cfg_q(nm, qb, sizeof qb));
        for (size_t k = 0; k < j; k++)
            if (strcmp(cfg->read_from.v[k], nm) == 0)
                cfg_kproblem(ps, pv, KEY_READ_FROM, "%s is listed twice", cfg_q(nm, qb, sizeof qb));
    }
    if (!*cfg->state_dir) {
        cfg_kproblem(ps, pv, KEY_STATE_DIR, "required: the directory for the journal and local state");
    } else {
        struct stat st;
        if (stat(cfg->state_dir, &st) == 0 && !S_ISDIR(st.st_mode))
            cfg_kproblem(ps, pv, KEY_STATE_DIR, "%s exists and is not a directory", cfg->state_dir);
    }
    /* filters */
    if (!BAD(KEY_FILTERS_INCLUDE_PROJECTS) && cfg->filters.include_projects.n == 0)
        cfg_kproblem(ps, pv, KEY_FILTERS_INCLUDE_PROJECTS, "is empty, which would exclude every project (use [\"*\"] for all)");
    const key_id fk[2] = {KEY_FILTERS_INCLUDE_PROJECTS, KEY_FILTERS_EXCLUDE_PROJECTS};
    const rs_strlist *fl[2] = {&cfg->filters.include_projects, &cfg->filters.exclude_projects};
    for (int f = 0; f < 2; f++)
        for (size_t j = 0; j < fl[f]->n; j++)
            if (!glob_ok(fl[f]->v[j]))
                cfg_kproblem(ps, pv, fk[f], "%s is not a valid glob (empty, unclosed '[' or control characters)",
                         cfg_q(fl[f]->v[j], qb, sizeof qb));
    for (size_t j = 0; j < cfg->ignore_fields.n; j++) {
        bool ok = false;
        for (int x = 0; rs_cfg_ignorable_fields[x]; x++)
            if (strcmp(cfg->ignore_fields.v[j], rs_cfg_ignorable_fields[x]) == 0)
                ok = true;
        if (!ok) {
            const char *sug = cfg_suggest_choice(cfg->ignore_fields.v[j], rs_cfg_ignorable_fields);
            char ch[200];
            cfg_choices_text(rs_cfg_ignorable_fields, ch, sizeof ch);
            if (sug)
                cfg_kproblem(ps, pv, KEY_IGNORE_FIELDS, "%s is not a registry-level field (did you mean %s?)", cfg_q(cfg->ignore_fields.v[j], qb, sizeof qb), sug);
            else
                cfg_kproblem(ps, pv, KEY_IGNORE_FIELDS, "%s is not a registry-level field (one of %s)", cfg_q(cfg->ignore_fields.v[j], qb, sizeof qb), ch);
        }
    }
    /* admin */
    int li = KEY_ADMIN_LISTEN;
    bool listen_ok = true;
    if (*cfg->admin.listen) {
        char host[256];
        int port;
        if (rs_config_split_listen(cfg->admin.listen, host, sizeof host, &port)) {
            cfg_kproblem(ps, pv, li, "%s is not host:port (e.g. 127.0.0.1:8470, [::1]:8470, 0.0.0.0:8470)", cfg_q(cfg->admin.listen, qb, sizeof qb));
            listen_ok = false;
        }
    }
    if (*cfg->admin.listen && listen_ok && !rs_config_listen_is_loopback(cfg->admin.listen) && !cfg->admin.token &&
        !(cfg->admin.token_file && *cfg->admin.token_file))
        cfg_kproblem(ps, pv, li, "%s is not a loopback address: set admin.token_file or REGSYNC_ADMIN_TOKEN so that state-changing requests need a token",
                 cfg_q(cfg->admin.listen, qb, sizeof qb));
    bool cert = *cfg->admin.tls_cert, key = *cfg->admin.tls_key;
    if (cert != key)
        cfg_kproblem(ps, pv, cert ? KEY_ADMIN_TLS_KEY : KEY_ADMIN_TLS_CERT, "required when admin.%s is set (TLS needs both)", cert ? "tls_cert" : "tls_key");
    if (cert)
        check_file_readable(ps, pv, KEY_ADMIN_TLS_CERT, cfg->admin.tls_cert, "certificate");
    if (key)
        check_file_readable(ps, pv, KEY_ADMIN_TLS_KEY, cfg->admin.tls_key, "key");
    if (*cfg->store_options.ca_bundle)
        check_file_readable(ps, pv, KEY_STORE_OPTIONS_CA_BUNDLE, cfg->store_options.ca_bundle, "CA bundle");
    /* relations between durations */
    char a[32], b[32];
    if (!BAD(KEY_STALE_AFTER) && !BAD(KEY_HEARTBEAT_INTERVAL) && cfg->stale_after_ms <= cfg->heartbeat_interval_ms) {
        cfg_fmt_dur(cfg->stale_after_ms, a, sizeof a);
        cfg_fmt_dur(cfg->heartbeat_interval_ms, b, sizeof b);
        cfg_kproblem(ps, pv, KEY_STALE_AFTER, "%s must be longer than heartbeat_interval (%s), or every region looks stale", a, b);
    }
    if (!BAD(KEY_MAX_STALENESS) && !BAD(KEY_POLL_INTERVAL) && cfg->max_staleness_ms <= cfg->poll_interval_ms) {
        cfg_fmt_dur(cfg->max_staleness_ms, a, sizeof a);
        cfg_fmt_dur(cfg->poll_interval_ms, b, sizeof b);
        cfg_kproblem(ps, pv, KEY_MAX_STALENESS, "%s must be longer than poll_interval (%s), or readiness flaps", a, b);
    }
    if (!BAD(KEY_STORE_OPTIONS_CONNECT_TIMEOUT) && !BAD(KEY_STORE_OPTIONS_TIMEOUT) &&
        cfg->store_options.connect_timeout_ms > cfg->store_options.timeout_ms) {
        cfg_fmt_dur(cfg->store_options.connect_timeout_ms, a, sizeof a);
        cfg_fmt_dur(cfg->store_options.timeout_ms, b, sizeof b);
        cfg_kproblem(ps, pv, KEY_STORE_OPTIONS_CONNECT_TIMEOUT, "%s is longer than store_options.timeout (%s)", a, b);
    }
    for (const char *p = cfg->publisher_id; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) {
            cfg_kproblem(ps, pv, KEY_PUBLISHER_ID, "contains control characters");
            break;
        }
    if (strlen(cfg->publisher_id) > 200)
        cfg_kproblem(ps, pv, KEY_PUBLISHER_ID, "is longer than 200 characters");
#undef BAD
}
