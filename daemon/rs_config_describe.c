/* rs_config_describe.c: `regsyncd config` output (text and JSON, secrets redacted) and the
 * commented example configuration. See rs_config.h. */

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


/* The display text of key i (secrets redacted). Lists via list_out instead. */
static char *value_text(const rs_config *cfg, int i, const rs_strlist **list_out)
{
    const keydef *k = &rs_cfg_keys[i];
    const char *f = (const char *)cfg + k->off;
    char buf[64];
    *list_out = NULL;
    switch (k->type) {
    case KT_STR:
    case KT_PATH: {
        const char *s = *(char *const *)(const void *)f;
        s = s ? s : "";
        if (cfg_has_scheme(s))
            return rs_config_redact_url(s);
        return strdup(s);
    }
    case KT_DUR: cfg_fmt_dur(*(const int64_t *)(const void *)f, buf, sizeof buf); return strdup(buf);
    case KT_BOOL: return strdup(*(const bool *)(const void *)f ? "true" : "false");
    case KT_U64: snprintf(buf, sizeof buf, "%llu", (unsigned long long)*(const uint64_t *)(const void *)f); return strdup(buf);
    case KT_INT: snprintf(buf, sizeof buf, "%d", *(const int *)(const void *)f); return strdup(buf);
    case KT_SIZE: snprintf(buf, sizeof buf, "%zu", *(const size_t *)(const void *)f); return strdup(buf);
    case KT_FRAC: snprintf(buf, sizeof buf, "%g", *(const double *)(const void *)f); return strdup(buf);
    case KT_ENUM: {
        int v = *(const int *)(const void *)f;
        int n = 0;
        while (k->choices[n])
            n++;
        return strdup(v >= 0 && v < n ? k->choices[v] : "?");
    }
    case KT_LIST: *list_out = (const rs_strlist *)(const void *)f; return NULL;
    }
    return NULL;
}

/* A list item as shown: a URL (or the URL of a replica's "name=url") without its secrets. */
static char *list_item_display(const char *item)
{
    const char *eq = strchr(item, '=');
    const char *url = eq && cfg_has_scheme(eq + 1) ? eq + 1 : cfg_has_scheme(item) ? item : NULL;
    if (!url)
        return strdup(item);
    char *red = rs_config_redact_url(url);
    if (!red)
        return NULL;
    size_t pl = (size_t)(url - item), rl = strlen(red);
    char *out = malloc(pl + rl + 1);
    if (out) {
        memcpy(out, item, pl);
        memcpy(out + pl, red, rl + 1);
    }
    free(red);
    return out;
}

static void yaml_quote(rs_buf *b, const char *s)
{
    rs_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            rs_buf_printf(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            rs_buf_printf(b, "\\x%02x", *p);
        else
            rs_buf_putc(b, *p);
    }
    rs_buf_putc(b, '"');
}

static char *describe_text(const rs_config *cfg)
{
    rs_buf b = {0};
    const struct rs_config_priv *pv = cfg->priv;
    rs_buf_printf(&b, "# effective configuration%s%s\n", cfg->config_path ? " from " : "", cfg->config_path ? cfg->config_path : "");
    const char *section = NULL;
    for (size_t i = 0; i < NKEYS; i++) {
        const char *key = rs_cfg_keys[i].key;
        const char *dot = strchr(key, '.');
        const char *indent = "";
        if (dot) {
            size_t sl = (size_t)(dot - key);
            if (!section || strncmp(section, key, sl) != 0 || section[sl] != '.') {
                rs_buf_printf(&b, "%.*s:\n", (int)sl, key);
            }
            section = key;
            indent = "  ";
        } else {
            section = NULL;
        }
        const rs_strlist *l;
        char *v = value_text(cfg, (int)i, &l);
        rs_buf_printf(&b, "%s%s: ", indent, cfg_leaf_of(key));
        if (l) {
            rs_buf_putc(&b, '[');
            for (size_t j = 0; j < l->n; j++) {
                if (j)
                    rs_buf_printf(&b, ", ");
                char *it = list_item_display(l->v[j]);
                yaml_quote(&b, it ? it : "");
                free(it);
            }
            rs_buf_putc(&b, ']');
        } else if (rs_cfg_keys[i].type == KT_STR || rs_cfg_keys[i].type == KT_PATH) {
            yaml_quote(&b, v ? v : "");
        } else {
            rs_buf_printf(&b, "%s", v ? v : "");
        }
        free(v);
        if (pv && pv->o[i].src != SRC_DEFAULT) {
            char where[512];
            cfg_where_of(pv, &pv->o[i], where, sizeof where);
            rs_buf_printf(&b, "   # %s", where);
        }
        rs_buf_putc(&b, '\n');
        if (strcmp(key, "admin.token_file") == 0)
            rs_buf_printf(&b, "  token: %s\n", cfg->admin.token ? "<set>" : "<unset>");
    }
    for (size_t i = 0; i < cfg->warnings.n; i++)
        rs_buf_printf(&b, "# warning: %s\n", cfg->warnings.v[i]);
    if (rs_buf_cstr(&b)) {
        rs_buf_free(&b);
        return NULL;
    }
    size_t len;
    return (char *)rs_buf_take(&b, &len);
}

static char *describe_json(const rs_config *cfg)
{
    json_t *root = json_object();
    if (!root)
        return NULL;
    for (size_t i = 0; i < NKEYS; i++) {
        const char *key = rs_cfg_keys[i].key;
        const char *dot = strchr(key, '.');
        json_t *obj = root;
        if (dot) {
            char sec[64];
            snprintf(sec, sizeof sec, "%.*s", (int)(dot - key), key);
            obj = json_object_get(root, sec);
            if (!obj) {
                obj = json_object();
                json_object_set_new(root, sec, obj);
            }
        }
        const rs_strlist *l;
        char *v = value_text(cfg, (int)i, &l);
        json_t *jv;
        switch (rs_cfg_keys[i].type) {
        case KT_BOOL: jv = json_boolean(*(const bool *)(const void *)((const char *)cfg + rs_cfg_keys[i].off)); break;
        case KT_U64:
        case KT_INT:
        case KT_SIZE: jv = json_integer(strtoll(v ? v : "0", NULL, 10)); break;
        case KT_FRAC: jv = json_real(*(const double *)(const void *)((const char *)cfg + rs_cfg_keys[i].off)); break;
        case KT_LIST:
            jv = json_array();
            for (size_t j = 0; l && j < l->n; j++) {
                char *it = list_item_display(l->v[j]);
                json_array_append_new(jv, json_string(it ? it : ""));
                free(it);
            }
            break;
        default: jv = json_string(v ? v : ""); break;
        }
        free(v);
        json_object_set_new(obj, cfg_leaf_of(key), jv);
        if (strcmp(key, "admin.token_file") == 0)
            json_object_set_new(obj, "token", cfg->admin.token ? json_string("<set>") : json_null());
    }
    json_t *w = json_array();
    for (size_t i = 0; i < cfg->warnings.n; i++)
        json_array_append_new(w, json_string(cfg->warnings.v[i]));
    json_object_set_new(root, "warnings", w);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return s;
}

char *rs_config_describe(const rs_config *cfg, bool json)
{
    if (!cfg)
        return NULL;
    return json ? describe_json(cfg) : describe_text(cfg);
}

/* ------------------------------------------------------------------------------------------ */

const char *rs_config_default_yaml(void)
{
    return "# regsyncd configuration. Every key can be overridden by the environment\n"
           "# (REGSYNC_<KEY>, nested keys joined with '_': REGSYNC_ADMIN_LISTEN) and by\n"
           "# `--set key.path=value`. Durations: 500ms, 5s, 1m, 2h, 7d. Secrets never go here.\n"
           "\n"
           "# This region's name, [a-z0-9-]+. Required.\n"
           "region: eu-central-1\n"
           "# This agent within its region ([a-z0-9-]+): its report is regsync/regions/<region>/<instance>.\n"
           "# \"\": $POD_NAME, else the host name (lower-cased, other characters made '-').\n"
           "instance: \"\"\n"
           "# The global store: file:///dir, s3://bucket/prefix?region=..., postgresql://user@host/db,\n"
           "# mysql://user@host/db.\n"
           "# Credentials come from the environment (AWS_*, PGPASSWORD, ~/.pgpass, MYSQL_PWD), never from here.\n"
           "store: file:///var/lib/regsync/global\n"
           "# What Feast writes (used by publishers): a key in the store or a URL.\n"
           "source: registry.db\n"
           "# The regional copy Feast reads: a file:// URL (or path) or a storage URL.\n"
           "# Required unless this agent only publishes.\n"
           "target: file:///var/lib/feast/registry.db\n"
           "# Journal and local state. Required.\n"
           "state_dir: /var/lib/regsync\n"
           "# How often HEAD is polled (jittered); at least 100ms.\n"
           "poll_interval: 5s\n"
           "# This agent also publishes the source when it changes.\n"
           "publish: false\n"
           "# Projects this region holds (fnmatch globs); exclude wins over include.\n"
           "filters:\n"
           "  include_projects: [\"*\"]\n"
           "  exclude_projects: []\n"
           "# When the regional copy was changed after regsync wrote it:\n"
           "# keep-regional-meta | overwrite | stop\n"
           "on_local_change: keep-regional-meta\n"
           "# A full snapshot every N versions (publishers).\n"
           "snapshot_every: 100\n"
           "# Publishers refuse a change that deletes more than this fraction of the objects (or all\n"
           "# of them), unless `publish --once --allow-destructive` or POST /v1/publish says so.\n"
           "max_delete_fraction: 0.5\n"
           "# Log entries kept: at least the last `versions`, and all younger than `age` (0s: no age rule).\n"
           "retention:\n"
           "  versions: 1000\n"
           "  age: 7d\n"
           "# The admin HTTP API. A non-loopback listen address needs a token:\n"
           "# token_file (a file holding it) or the REGSYNC_ADMIN_TOKEN variable. \"\" disables it.\n"
           "admin:\n"
           "  listen: \"127.0.0.1:8470\"\n"
           "  token_file: \"\"\n"
           "  tls_cert: \"\"\n"
           "  tls_key: \"\"\n"
           "  max_body_bytes: 1048576\n"
           "  max_header_bytes: 16384\n"
           "  request_timeout: 10s\n"
           "  # true: reads (/v1/*, the status page) need the token too; /healthz, /readyz and\n"
           "  # /metrics stay open for probes and scrapers.\n"
           "  auth_reads: false\n"
           "# Region reports are refreshed this often.\n"
           "heartbeat_interval: 30s\n"
           "# /readyz fails when the last successful check of the global store is older than this.\n"
           "max_staleness: 5m\n"
           "# An instance whose report has not been rewritten for this long is stale (judged by what\n"
           "# this agent observes and by the store's clock, never by the writer's clock).\n"
           "stale_after: 2m\n"
           "# An instance silent this long is forgotten: its report is removed from the store.\n"
           "forget_after: 1h\n"
           "# A report whose writer's clock is off by more than this (against the store's) gets a warning.\n"
           "max_clock_skew: 30s\n"
           "log:\n"
           "  level: info        # debug | info | warn | error\n"
           "  format: text       # text | json\n"
           "store_options:\n"
           "  timeout: 60s\n"
           "  connect_timeout: 5s\n"
           "  max_retries: 4\n"
           "  ca_bundle: \"\"      # a CA file for TLS; \"\": system default\n"
           "# Publisher identity in the log; \"\": <hostname>/<pid>.\n"
           "publisher_id: \"\"\n"
           "# Registry-level fields ignored when deciding whether the source changed.\n"
           "ignore_fields: [version_id, last_updated]\n"
           "# Log entries a follower fetches in parallel (1-64).\n"
           "fetch_concurrency: 4\n"
           "# Replicas of the store (disaster recovery, docs/operations.md): a list of {name, url}.\n"
           "# A publisher copies every version to each; agents fail over to them.\n"
           "replicas: []\n"
           "# The order an agent reads the stores in (\"primary\" and replica names); []: primary, then\n"
           "# the replicas as listed.\n"
           "read_from: []\n"
           "# Failed polls this long make an agent read from the next store (0: at the first failure).\n"
           "failover_after: 30s\n";
}

_Static_assert(sizeof(rs_on_local_change) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(rs_log_level) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(rs_log_format) == sizeof(int), "enum fields are written as int");

char *rs_config_redact_url(const char *url) { return rs_url_redact(url); }
