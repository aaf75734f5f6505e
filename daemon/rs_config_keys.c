/* rs_config_keys.c: the key table (names, types, defaults, ranges), where a value came from,
 * problems and warnings, "did you mean", and raw values before conversion. See rs_config_impl.h. */

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
/* the key table (types in rs_config_impl.h) */

const char *const rs_cfg_on_local_choices[] = {"keep-regional-meta", "overwrite", "stop", NULL};
const char *const rs_cfg_log_level_choices[] = {"debug", "info", "warn", "error", "off", NULL};
const char *const rs_cfg_log_format_choices[] = {"text", "json", NULL};
/* registry-level singleton fields of feast.core.Registry */
const char *const rs_cfg_ignorable_fields[] = {"version_id", "last_updated", "registry_schema_version",
                                               "infra", "feature_view_version_history", NULL};


const keydef rs_cfg_keys[KEY_COUNT] = {
    [KEY_REGION] = {"region", KT_STR, OFF(region), "", 0, 0, NULL},
    [KEY_INSTANCE] = {"instance", KT_STR, OFF(instance), "", 0, 0, NULL},
    [KEY_STORE] = {"store", KT_STR, OFF(store), "", 0, 0, NULL},
    [KEY_SOURCE] = {"source", KT_STR, OFF(source), "registry.db", 0, 0, NULL},
    [KEY_TARGET] = {"target", KT_STR, OFF(target), "", 0, 0, NULL},
    [KEY_STATE_DIR] = {"state_dir", KT_PATH, OFF(state_dir), "", 0, 0, NULL},
    [KEY_POLL_INTERVAL] = {"poll_interval", KT_DUR, OFF(poll_interval_ms), "5s", 100, DAY_MS, NULL},
    [KEY_PUBLISH] = {"publish", KT_BOOL, OFF(publish), "false", 0, 0, NULL},
    [KEY_FILTERS_INCLUDE_PROJECTS] = {"filters.include_projects", KT_LIST, OFF(filters.include_projects), "*", 0, 0, NULL},
    [KEY_FILTERS_EXCLUDE_PROJECTS] = {"filters.exclude_projects", KT_LIST, OFF(filters.exclude_projects), "", 0, 0, NULL},
    [KEY_ON_LOCAL_CHANGE] = {"on_local_change", KT_ENUM, OFF(on_local_change), "keep-regional-meta", 0, 0, rs_cfg_on_local_choices},
    [KEY_SNAPSHOT_EVERY] = {"snapshot_every", KT_U64, OFF(snapshot_every), "100", 1, 100000000, NULL},
    [KEY_MAX_DELETE_FRACTION] = {"max_delete_fraction", KT_FRAC, OFF(max_delete_fraction), "0.5", 0, 0, NULL},
    [KEY_RETENTION_VERSIONS] = {"retention.versions", KT_U64, OFF(retention.versions), "1000", 1, 0, NULL},
    [KEY_RETENTION_AGE] = {"retention.age", KT_DUR, OFF(retention.age_ms), "7d", 0, 3650 * DAY_MS, NULL},
    [KEY_ADMIN_LISTEN] = {"admin.listen", KT_STR, OFF(admin.listen), "127.0.0.1:8470", 0, 0, NULL},
    [KEY_ADMIN_TOKEN_FILE] = {"admin.token_file", KT_PATH, OFF(admin.token_file), "", 0, 0, NULL},
    [KEY_ADMIN_TLS_CERT] = {"admin.tls_cert", KT_PATH, OFF(admin.tls_cert), "", 0, 0, NULL},
    [KEY_ADMIN_TLS_KEY] = {"admin.tls_key", KT_PATH, OFF(admin.tls_key), "", 0, 0, NULL},
    [KEY_ADMIN_MAX_BODY_BYTES] = {"admin.max_body_bytes", KT_SIZE, OFF(admin.max_body_bytes), "1048576", 1024, 1LL << 30, NULL},
    [KEY_ADMIN_MAX_HEADER_BYTES] = {"admin.max_header_bytes", KT_SIZE, OFF(admin.max_header_bytes), "16384", 1024, 1LL << 20, NULL},
    [KEY_ADMIN_REQUEST_TIMEOUT] = {"admin.request_timeout", KT_DUR, OFF(admin.request_timeout_ms), "10s", 100, 3600000, NULL},
    [KEY_ADMIN_AUTH_READS] = {"admin.auth_reads", KT_BOOL, OFF(admin.auth_reads), "false", 0, 0, NULL},
    [KEY_HEARTBEAT_INTERVAL] = {"heartbeat_interval", KT_DUR, OFF(heartbeat_interval_ms), "30s", 1000, DAY_MS, NULL},
    [KEY_MAX_STALENESS] = {"max_staleness", KT_DUR, OFF(max_staleness_ms), "5m", 1000, 365 * DAY_MS, NULL},
    [KEY_STALE_AFTER] = {"stale_after", KT_DUR, OFF(stale_after_ms), "2m", 1000, 365 * DAY_MS, NULL},
    [KEY_FORGET_AFTER] = {"forget_after", KT_DUR, OFF(forget_after_ms), "1h", 1000, 365 * DAY_MS, NULL},
    [KEY_MAX_CLOCK_SKEW] = {"max_clock_skew", KT_DUR, OFF(max_clock_skew_ms), "30s", 100, DAY_MS, NULL},
    [KEY_LOG_LEVEL] = {"log.level", KT_ENUM, OFF(log.level), "info", 0, 0, rs_cfg_log_level_choices},
    [KEY_LOG_FORMAT] = {"log.format", KT_ENUM, OFF(log.format), "text", 0, 0, rs_cfg_log_format_choices},
    [KEY_STORE_OPTIONS_TIMEOUT] = {"store_options.timeout", KT_DUR, OFF(store_options.timeout_ms), "60s", 100, 3600000, NULL},
    [KEY_STORE_OPTIONS_CONNECT_TIMEOUT] = {"store_options.connect_timeout", KT_DUR, OFF(store_options.connect_timeout_ms), "5s", 100, 600000, NULL},
    [KEY_STORE_OPTIONS_MAX_RETRIES] = {"store_options.max_retries", KT_INT, OFF(store_options.max_retries), "4", 0, 100, NULL},
    [KEY_STORE_OPTIONS_CA_BUNDLE] = {"store_options.ca_bundle", KT_PATH, OFF(store_options.ca_bundle), "", 0, 0, NULL},
    [KEY_PUBLISHER_ID] = {"publisher_id", KT_STR, OFF(publisher_id), "", 0, 0, NULL},
    [KEY_IGNORE_FIELDS] = {"ignore_fields", KT_LIST, OFF(ignore_fields), "version_id,last_updated", 0, 0, NULL},
    [KEY_FETCH_CONCURRENCY] = {"fetch_concurrency", KT_INT, OFF(fetch_concurrency), "4", 1, 64, NULL},
    [KEY_REPLICAS] = {"replicas", KT_LIST, OFF(replicas), "", 0, 0, NULL},
    [KEY_READ_FROM] = {"read_from", KT_LIST, OFF(read_from), "", 0, 0, NULL},
    [KEY_FAILOVER_AFTER] = {"failover_after", KT_DUR, OFF(failover_after_ms), "30s", 0, DAY_MS, NULL},
};

const char *const rs_cfg_sections[] = {"filters", "retention", "admin", "log", "store_options", NULL};

/* variables that are not config keys but belong to regsync */
const char *const rs_cfg_reserved_env[] = {"REGSYNC_ADMIN_TOKEN", "REGSYNC_CONFIG", NULL};

int cfg_key_index(const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(rs_cfg_keys[i].key, key) == 0)
            return (int)i;
    return -1;
}

bool cfg_is_section(const char *key)
{
    for (int i = 0; rs_cfg_sections[i]; i++)
        if (strcmp(rs_cfg_sections[i], key) == 0)
            return true;
    return false;
}

void cfg_env_name(const char *key, char *out, size_t n)
{
    size_t o = (size_t)snprintf(out, n, "REGSYNC_");
    for (const char *p = key; *p && o + 1 < n; p++)
        out[o++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    out[o < n ? o : n - 1] = '\0';
}

const char *const *rs_config_keys(size_t *n)
{
    static const char *names[NKEYS + 1];
    if (!names[0])
        for (size_t i = 0; i < NKEYS; i++) {
            /* a KEY_ id without its row in rs_cfg_keys would be a zeroed row: a build defect */
            if (!rs_cfg_keys[i].key) {
                fprintf(stderr, "regsync: internal error: configuration key %zu has no row in the key table\n", i);
                abort();
            }
            names[i] = rs_cfg_keys[i].key;
        }
    if (n)
        *n = NKEYS;
    return names;
}


/* ------------------------------------------------------------------------------------------ */
/* origins and problems (types in rs_config_impl.h) */

void cfg_where_of(const struct rs_config_priv *pv, const origin *o, char *out, size_t n)
{
    switch (o->src) {
    case SRC_FILE: snprintf(out, n, "%s:%d", pv && pv->file ? pv->file : "config", o->line); break;
    case SRC_ENV: snprintf(out, n, "env %s", o->name); break;
    case SRC_FLAG: snprintf(out, n, "--set"); break;
    default: out[0] = '\0'; break;
    }
}

char *cfg_xstrdup(const char *s) { return strdup(s ? s : ""); }

void cfg_problem_add(rs_config_problems *ps, const char *key, const char *where, int line, const char *fmt, ...)
{
    char msg[1024], text[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (where && *where && key && *key)
        snprintf(text, sizeof text, "%s: %s: %s", where, key, msg);
    else if (where && *where)
        snprintf(text, sizeof text, "%s: %s", where, msg);
    else if (key && *key)
        snprintf(text, sizeof text, "%s: %s", key, msg);
    else
        snprintf(text, sizeof text, "%s", msg);
    rs_config_problem *nv = realloc(ps->v, (ps->n + 1) * sizeof *nv);
    if (!nv)
        return;
    ps->v = nv;
    rs_config_problem *p = &ps->v[ps->n++];
    p->key = cfg_xstrdup(key);
    p->where = cfg_xstrdup(where);
    p->line = line;
    p->message = cfg_xstrdup(msg);
    p->text = cfg_xstrdup(text);
}

/* A problem about key i, placed at its origin. */
void cfg_kproblem(rs_config_problems *ps, const struct rs_config_priv *pv, int i, const char *fmt, ...)
{
    char msg[1024], where[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cfg_where_of(pv, &pv->o[i], where, sizeof where);
    cfg_problem_add(ps, rs_cfg_keys[i].key, where, pv->o[i].src == SRC_FILE ? pv->o[i].line : 0, "%s", msg);
}

void rs_config_problems_free(rs_config_problems *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].key);
        free(p->v[i].where);
        free(p->v[i].message);
        free(p->v[i].text);
    }
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

char *rs_config_problems_text(const rs_config_problems *p)
{
    rs_buf b = {0};
    if (rs_buf_cstr(&b))
        return NULL;
    for (size_t i = 0; p && i < p->n; i++)
        rs_buf_printf(&b, "%s\n", p->v[i].text);
    size_t len;
    return (char *)rs_buf_take(&b, &len);
}

/* "invalid configuration (N problems):\n  a\n  b" cut to fit err->msg. */
int cfg_problems_error(const rs_config_problems *ps, rs_error *err)
{
    char msg[RS_ERROR_MSG_MAX];
    size_t o = (size_t)snprintf(msg, sizeof msg, "invalid configuration (%zu problem%s):", ps->n, ps->n == 1 ? "" : "s");
    for (size_t i = 0; i < ps->n; i++) {
        size_t need = strlen(ps->v[i].text) + 3;
        char more[48];
        int ml = i + 1 < ps->n ? snprintf(more, sizeof more, "\n  ... and %zu more", ps->n - i - 1) : 0;
        if (o + need + (size_t)ml >= sizeof msg) {
            snprintf(msg + o, sizeof msg - o, "\n  ... and %zu more", ps->n - i);
            break;
        }
        o += (size_t)snprintf(msg + o, sizeof msg - o, "\n  %s", ps->v[i].text);
    }
    return rs_error_set(err, RS_EINVALID, "%s", msg);
}

void cfg_warn_add(rs_strlist *w, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char **nv = realloc(w->v, (w->n + 1) * sizeof *nv);
    if (!nv)
        return;
    w->v = nv;
    w->v[w->n] = strdup(msg);
    if (w->v[w->n])
        w->n++;
}

/* A value for a message: quoted, control characters escaped, cut at 80 bytes. */
const char *cfg_q(const char *s, char *buf, size_t n)
{
    size_t o = 0;
    buf[o++] = '"';
    for (size_t i = 0; s[i] && o + 8 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 80) {
            o += (size_t)snprintf(buf + o, n - o, "...");
            break;
        }
        if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
        else if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else
            buf[o++] = (char)c;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* ------------------------------------------------------------------------------------------ */
/* did you mean */

size_t cfg_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = prev[j - 1] + cost;
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            cur[j] = best;
        }
        memcpy(prev, cur, sizeof prev);
    }
    return prev[lb];
}

size_t cfg_close_enough(const char *s)
{
    size_t l = strlen(s);
    return l <= 3 ? 1 : l <= 8 ? 2 : 3;
}

const char *cfg_leaf_of(const char *key)
{
    const char *d = strrchr(key, '.');
    return d ? d + 1 : key;
}

/* The closest key to full (a dotted path) or NULL. Compares full paths, and the leaf against
 * every key's leaf (so "listen" at the top suggests "admin.listen"). */
const char *cfg_suggest_key(const char *full)
{
    const char *best = NULL;
    size_t bd = 99, lim = cfg_close_enough(full);
    const char *leaf = cfg_leaf_of(full);
    for (size_t i = 0; i < NKEYS; i++) {
        size_t d = cfg_edit_distance(full, rs_cfg_keys[i].key);
        size_t dl = cfg_edit_distance(leaf, cfg_leaf_of(rs_cfg_keys[i].key));
        if (dl <= cfg_close_enough(leaf) && dl + 1 < d)
            d = dl + 1;
        if (d < bd) {
            bd = d;
            best = rs_cfg_keys[i].key;
        }
    }
    for (int i = 0; rs_cfg_sections[i]; i++) {
        size_t d = cfg_edit_distance(full, rs_cfg_sections[i]);
        if (d < bd) {
            bd = d;
            best = rs_cfg_sections[i];
        }
    }
    return bd <= lim + 1 ? best : NULL;
}

const char *cfg_suggest_choice(const char *s, const char *const *choices)
{
    const char *best = NULL;
    size_t bd = 99;
    for (int i = 0; choices[i]; i++) {
        size_t d = cfg_edit_distance(s, choices[i]);
        if (d < bd) {
            bd = d;
            best = choices[i];
        }
    }
    return bd <= cfg_close_enough(s) ? best : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* raw values, one layer over the other */


void cfg_strlist_free(rs_strlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int cfg_strlist_push(rs_strlist *l, const char *s, size_t len)
{
    char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
    if (!nv)
        return RS_ENOMEM;
    l->v = nv;
    char *c = strndup(s, len);
    if (!c)
        return RS_ENOMEM;
    l->v[l->n++] = c;
    return RS_OK;
}

void cfg_raw_clear(rawval *r)
{
    free(r->s);
    r->s = NULL;
    cfg_strlist_free(&r->list);
    r->is_list = false;
}

void cfg_raw_set_scalar(rawval *r, const char *s, const origin *o)
{
    cfg_raw_clear(r);
    r->s = cfg_xstrdup(s);
    r->o = *o;
}

/* Splits "a, b" or "[a, b]" into items, trimming blanks and matching quotes. "" is the empty list. */
void cfg_split_list(const char *s, rs_strlist *out)
{
    size_t len = strlen(s);
    while (len && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    const char *end = s + len;
    bool any = false;
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)s[i]))
            any = true;
    if (!any)
        return;
    const char *p = s;
    while (p <= end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        if (!c)
            c = end;
        const char *a = p, *b = c;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b - a >= 2 && (*a == '"' || *a == '\'') && b[-1] == *a) {
            a++;
            b--;
        }
        cfg_strlist_push(out, a, (size_t)(b - a));
        p = c + 1;
    }
}
