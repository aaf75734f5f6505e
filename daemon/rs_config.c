/* rs_config.c: defaults < YAML (libyaml document API) < environment < overrides, then full
 * validation with every problem keyed. See rs_config.h. */
#define RS_ERROR_ORIGIN RS_ORIGIN_CONFIG /* the errors this file makes (common/rs_error.h) */
#include "rs_config.h"
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

extern char **environ;

#define CONFIG_MAX_BYTES (1u << 20)
#define TOKEN_MAX_BYTES 4096

/* ------------------------------------------------------------------------------------------ */
/* the key table */

typedef enum ktype { KT_STR, KT_PATH, KT_DUR, KT_BOOL, KT_U64, KT_INT, KT_SIZE, KT_LIST, KT_ENUM, KT_FRAC } ktype;

typedef struct keydef {
    const char *key;
    ktype type;
    size_t off;
    const char *def;            /* default as text; lists: comma list */
    int64_t min, max;           /* DUR (ms), U64, INT, SIZE; max 0: none */
    const char *const *choices; /* ENUM: index = stored value */
} keydef;

static const char *const on_local_choices[] = {"keep-regional-meta", "overwrite", "stop", NULL};
static const char *const log_level_choices[] = {"debug", "info", "warn", "error", "off", NULL};
static const char *const log_format_choices[] = {"text", "json", NULL};
/* registry-level singleton fields of feast.core.Registry */
static const char *const ignorable_fields[] = {"version_id", "last_updated", "registry_schema_version",
                                               "infra", "feature_view_version_history", NULL};

#define OFF(f) offsetof(rs_config, f)
#define DAY_MS 86400000LL

/* Every configuration key, by name: the index of its row in KEYS. Code names a key as KEY_...,
 * so a key the table does not have is a compile error (issue 16). */
typedef enum key_id {
    KEY_REGION,
    KEY_INSTANCE,
    KEY_STORE,
    KEY_SOURCE,
    KEY_TARGET,
    KEY_STATE_DIR,
    KEY_POLL_INTERVAL,
    KEY_PUBLISH,
    KEY_FILTERS_INCLUDE_PROJECTS,
    KEY_FILTERS_EXCLUDE_PROJECTS,
    KEY_ON_LOCAL_CHANGE,
    KEY_SNAPSHOT_EVERY,
    KEY_MAX_DELETE_FRACTION,
    KEY_RETENTION_VERSIONS,
    KEY_RETENTION_AGE,
    KEY_ADMIN_LISTEN,
    KEY_ADMIN_TOKEN_FILE,
    KEY_ADMIN_TLS_CERT,
    KEY_ADMIN_TLS_KEY,
    KEY_ADMIN_MAX_BODY_BYTES,
    KEY_ADMIN_MAX_HEADER_BYTES,
    KEY_ADMIN_REQUEST_TIMEOUT,
    KEY_ADMIN_AUTH_READS,
    KEY_HEARTBEAT_INTERVAL,
    KEY_MAX_STALENESS,
    KEY_STALE_AFTER,
    KEY_FORGET_AFTER,
    KEY_MAX_CLOCK_SKEW,
    KEY_LOG_LEVEL,
    KEY_LOG_FORMAT,
    KEY_STORE_OPTIONS_TIMEOUT,
    KEY_STORE_OPTIONS_CONNECT_TIMEOUT,
    KEY_STORE_OPTIONS_MAX_RETRIES,
    KEY_STORE_OPTIONS_CA_BUNDLE,
    KEY_PUBLISHER_ID,
    KEY_IGNORE_FIELDS,
    KEY_FETCH_CONCURRENCY,
    KEY_COUNT
} key_id;

static const keydef KEYS[KEY_COUNT] = {
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
    [KEY_ON_LOCAL_CHANGE] = {"on_local_change", KT_ENUM, OFF(on_local_change), "keep-regional-meta", 0, 0, on_local_choices},
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
    [KEY_LOG_LEVEL] = {"log.level", KT_ENUM, OFF(log.level), "info", 0, 0, log_level_choices},
    [KEY_LOG_FORMAT] = {"log.format", KT_ENUM, OFF(log.format), "text", 0, 0, log_format_choices},
    [KEY_STORE_OPTIONS_TIMEOUT] = {"store_options.timeout", KT_DUR, OFF(store_options.timeout_ms), "60s", 100, 3600000, NULL},
    [KEY_STORE_OPTIONS_CONNECT_TIMEOUT] = {"store_options.connect_timeout", KT_DUR, OFF(store_options.connect_timeout_ms), "5s", 100, 600000, NULL},
    [KEY_STORE_OPTIONS_MAX_RETRIES] = {"store_options.max_retries", KT_INT, OFF(store_options.max_retries), "4", 0, 100, NULL},
    [KEY_STORE_OPTIONS_CA_BUNDLE] = {"store_options.ca_bundle", KT_PATH, OFF(store_options.ca_bundle), "", 0, 0, NULL},
    [KEY_PUBLISHER_ID] = {"publisher_id", KT_STR, OFF(publisher_id), "", 0, 0, NULL},
    [KEY_IGNORE_FIELDS] = {"ignore_fields", KT_LIST, OFF(ignore_fields), "version_id,last_updated", 0, 0, NULL},
    [KEY_FETCH_CONCURRENCY] = {"fetch_concurrency", KT_INT, OFF(fetch_concurrency), "4", 1, 64, NULL},
};
#define NKEYS ((size_t)KEY_COUNT)

static const char *const SECTIONS[] = {"filters", "retention", "admin", "log", "store_options", NULL};

/* variables that are not config keys but belong to regsync */
static const char *const RESERVED_ENV[] = {"REGSYNC_ADMIN_TOKEN", "REGSYNC_CONFIG", NULL};

static int key_index(const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(KEYS[i].key, key) == 0)
            return (int)i;
    return -1;
}

static bool is_section(const char *key)
{
    for (int i = 0; SECTIONS[i]; i++)
        if (strcmp(SECTIONS[i], key) == 0)
            return true;
    return false;
}

static void env_name(const char *key, char *out, size_t n)
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
            /* a KEY_ id without its row in KEYS would be a zeroed row: a build defect */
            if (!KEYS[i].key) {
                fprintf(stderr, "regsync: internal error: configuration key %zu has no row in the key table\n", i);
                abort();
            }
            names[i] = KEYS[i].key;
        }
    if (n)
        *n = NKEYS;
    return names;
}

/* ------------------------------------------------------------------------------------------ */
/* origins and problems */

enum { SRC_DEFAULT = 0, SRC_FILE, SRC_ENV, SRC_FLAG, SRC_API };

typedef struct origin {
    int src;
    int line;
    char name[256]; /* env variable or flag key */
} origin;

struct rs_config_priv {
    char *file;     /* display name of the YAML file, or NULL */
    origin o[NKEYS];
    bool bad[NKEYS]; /* conversion failed: skip in validation */
};

static void where_of(const struct rs_config_priv *pv, const origin *o, char *out, size_t n)
{
    switch (o->src) {
    case SRC_FILE: snprintf(out, n, "%s:%d", pv && pv->file ? pv->file : "config", o->line); break;
    case SRC_ENV: snprintf(out, n, "env %s", o->name); break;
    case SRC_FLAG: snprintf(out, n, "--set"); break;
    default: out[0] = '\0'; break;
    }
}

static char *xstrdup(const char *s) { return strdup(s ? s : ""); }

static void problem_add(rs_config_problems *ps, const char *key, const char *where, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void problem_add(rs_config_problems *ps, const char *key, const char *where, int line, const char *fmt, ...)
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
    p->key = xstrdup(key);
    p->where = xstrdup(where);
    p->line = line;
    p->message = xstrdup(msg);
    p->text = xstrdup(text);
}

/* A problem about key i, placed at its origin. */
static void kproblem(rs_config_problems *ps, const struct rs_config_priv *pv, int i, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void kproblem(rs_config_problems *ps, const struct rs_config_priv *pv, int i, const char *fmt, ...)
{
    char msg[1024], where[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    where_of(pv, &pv->o[i], where, sizeof where);
    problem_add(ps, KEYS[i].key, where, pv->o[i].src == SRC_FILE ? pv->o[i].line : 0, "%s", msg);
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
static int problems_error(const rs_config_problems *ps, rs_error *err)
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

static void warn_add(rs_strlist *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn_add(rs_strlist *w, const char *fmt, ...)
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
static const char *q(const char *s, char *buf, size_t n)
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

static size_t edit_distance(const char *a, const char *b)
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

static size_t close_enough(const char *s)
{
    size_t l = strlen(s);
    return l <= 3 ? 1 : l <= 8 ? 2 : 3;
}

static const char *leaf_of(const char *key)
{
    const char *d = strrchr(key, '.');
    return d ? d + 1 : key;
}

/* The closest key to full (a dotted path) or NULL. Compares full paths, and the leaf against
 * every key's leaf (so "listen" at the top suggests "admin.listen"). */
static const char *suggest_key(const char *full)
{
    const char *best = NULL;
    size_t bd = 99, lim = close_enough(full);
    const char *leaf = leaf_of(full);
    for (size_t i = 0; i < NKEYS; i++) {
        size_t d = edit_distance(full, KEYS[i].key);
        size_t dl = edit_distance(leaf, leaf_of(KEYS[i].key));
        if (dl <= close_enough(leaf) && dl + 1 < d)
            d = dl + 1;
        if (d < bd) {
            bd = d;
            best = KEYS[i].key;
        }
    }
    for (int i = 0; SECTIONS[i]; i++) {
        size_t d = edit_distance(full, SECTIONS[i]);
        if (d < bd) {
            bd = d;
            best = SECTIONS[i];
        }
    }
    return bd <= lim + 1 ? best : NULL;
}

static const char *suggest_choice(const char *s, const char *const *choices)
{
    const char *best = NULL;
    size_t bd = 99;
    for (int i = 0; choices[i]; i++) {
        size_t d = edit_distance(s, choices[i]);
        if (d < bd) {
            bd = d;
            best = choices[i];
        }
    }
    return bd <= close_enough(s) ? best : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* raw values, one layer over the other */

typedef struct rawval {
    bool is_list;
    char *s;
    rs_strlist list;
    origin o;
} rawval;

typedef struct ctx {
    const char *file;       /* display name, NULL without a file */
    char *file_dir;         /* absolute directory of the file */
    rawval raw[NKEYS];
    rs_config_problems *ps;
    rs_strlist *warnings;
    struct rs_config_priv *pv;
    char **env;
} ctx;

static void strlist_free(rs_strlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int strlist_push(rs_strlist *l, const char *s, size_t len)
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

static void raw_clear(rawval *r)
{
    free(r->s);
    r->s = NULL;
    strlist_free(&r->list);
    r->is_list = false;
}

static void raw_set_scalar(rawval *r, const char *s, const origin *o)
{
    raw_clear(r);
    r->s = xstrdup(s);
    r->o = *o;
}

/* Splits "a, b" or "[a, b]" into items, trimming blanks and matching quotes. "" is the empty list. */
static void split_list(const char *s, rs_strlist *out)
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
        strlist_push(out, a, (size_t)(b - a));
        p = c + 1;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* secrets */


static void secret_problem(ctx *c, const char *full, const char *where, int line, bool flag)
{
    const char *how = flag ? "secrets are not accepted on the command line (other users see it in ps)"
                           : "secrets are not accepted in the configuration file";
    if (strncmp(full, "admin.", 6) == 0)
        problem_add(c->ps, full, where, line, "%s; put the token in a file and set admin.token_file, or set REGSYNC_ADMIN_TOKEN", how);
    else
        problem_add(c->ps, full, where, line,
                    "%s; pass credentials through the environment or a file (AWS_* / ~/.aws, PGPASSWORD / ~/.pgpass)", how);
}




/* ------------------------------------------------------------------------------------------ */
/* YAML layer */

static bool yaml_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)n->data.scalar.value;
    return n->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static bool yaml_scalar_ok(ctx *c, const char *key, const yaml_node_t *n)
{
    if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
        char where[512];
        snprintf(where, sizeof where, "%s:%d", c->file, (int)n->start_mark.line + 1);
        problem_add(c->ps, key, where, (int)n->start_mark.line + 1, "contains a NUL byte");
        return false;
    }
    return true;
}

static const char *node_kind(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a value";
}

static void yaml_walk_map(ctx *c, yaml_document_t *doc, yaml_node_t *map, const char *prefix)
{
    char where[512];
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = yaml_document_get_node(doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(doc, pr->value);
        if (!kn || !vn)
            continue;
        int kline = (int)kn->start_mark.line + 1, vline = (int)vn->start_mark.line + 1;
        snprintf(where, sizeof where, "%s:%d", c->file, kline);
        if (kn->type != YAML_SCALAR_NODE) {
            problem_add(c->ps, prefix ? prefix : "", where, kline, "keys must be plain names, not %s", node_kind(kn));
            continue;
        }
        if (!yaml_scalar_ok(c, prefix ? prefix : "", kn))
            continue;
        const char *name = (const char *)kn->data.scalar.value;
        char full[256];
        if (prefix)
            snprintf(full, sizeof full, "%s.%s", prefix, name);
        else
            snprintf(full, sizeof full, "%s", name);
        /* duplicates within this mapping */
        bool dup = false;
        for (yaml_node_pair_t *pp = map->data.mapping.pairs.start; pp < pr; pp++) {
            yaml_node_t *k2 = yaml_document_get_node(doc, pp->key);
            if (k2 && k2->type == YAML_SCALAR_NODE && strcmp((const char *)k2->data.scalar.value, name) == 0) {
                problem_add(c->ps, full, where, kline, "duplicate key (first set on line %d)", (int)k2->start_mark.line + 1);
                dup = true;
                break;
            }
        }
        if (dup)
            continue;
        if (!prefix && is_section(full)) {
            if (yaml_is_null(vn))
                continue;
            if (vn->type != YAML_MAPPING_NODE) {
                snprintf(where, sizeof where, "%s:%d", c->file, vline);
                problem_add(c->ps, full, where, vline, "must be a mapping of keys, not %s", node_kind(vn));
                continue;
            }
            yaml_walk_map(c, doc, vn, full);
            continue;
        }
        if (rs_secret_name(name)) {
            secret_problem(c, full, where, kline, false);
            continue;
        }
        int i = key_index(full);
        if (i < 0) {
            const char *s = suggest_key(full);
            if (s)
                problem_add(c->ps, full, where, kline, "unknown key (did you mean %s?)", s);
            else
                problem_add(c->ps, full, where, kline, "unknown key");
            continue;
        }
        origin o = {SRC_FILE, vline, ""};
        snprintf(where, sizeof where, "%s:%d", c->file, vline);
        if (yaml_is_null(vn))
            continue; /* "key:" with nothing: keep the default */
        if (vn->type == YAML_MAPPING_NODE) {
            problem_add(c->ps, full, where, vline, "expects %s, not a mapping",
                        KEYS[i].type == KT_LIST ? "a list" : "a single value");
            continue;
        }
        if (vn->type == YAML_SEQUENCE_NODE) {
            if (KEYS[i].type != KT_LIST) {
                problem_add(c->ps, full, where, vline, "expects a single value, not a list");
                continue;
            }
            rawval *r = &c->raw[i];
            raw_clear(r);
            r->is_list = true;
            r->o = o;
            for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
                yaml_node_t *in = yaml_document_get_node(doc, *it);
                if (!in)
                    continue;
                if (in->type != YAML_SCALAR_NODE) {
                    char w2[512];
                    snprintf(w2, sizeof w2, "%s:%d", c->file, (int)in->start_mark.line + 1);
                    problem_add(c->ps, full, w2, (int)in->start_mark.line + 1, "list items must be plain values, not %s", node_kind(in));
                    continue;
                }
                if (!yaml_scalar_ok(c, full, in))
                    continue;
                strlist_push(&r->list, (const char *)in->data.scalar.value, in->data.scalar.length);
            }
            continue;
        }
        if (!yaml_scalar_ok(c, full, vn))
            continue;
        raw_set_scalar(&c->raw[i], (const char *)vn->data.scalar.value, &o);
    }
}

/* Returns false after a syntax error (the only problem then reported). */
static bool yaml_layer(ctx *c, const char *data, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    bool ok = true;
    if (!yaml_parser_initialize(&parser)) {
        problem_add(c->ps, "", c->file, 0, "cannot initialize the YAML parser");
        return false;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        int line = (int)parser.problem_mark.line + 1, col = (int)parser.problem_mark.column + 1;
        int cline = (int)parser.context_mark.line + 1;
        /* at the end of input without a final newline libyaml reports the line after it */
        int lines = 0;
        for (size_t i = 0; i < len; i++)
            lines += data[i] == '\n';
        if (len && data[len - 1] != '\n')
            lines++;
        if (line > lines && lines > 0) {
            line = lines;
            col = 1;
            for (size_t i = len; i > 0 && data[i - 1] != '\n'; i--)
                col++;
        }
        if (cline > lines && lines > 0)
            cline = lines;
        char where[512];
        snprintf(where, sizeof where, "%s:%d:%d", c->file, line, col);
        if (parser.context && cline != line)
            problem_add(c->ps, "", where, line, "YAML syntax error: %s %s (started on line %d)",
                        parser.problem ? parser.problem : "invalid YAML", parser.context, cline);
        else if (parser.context)
            problem_add(c->ps, "", where, line, "YAML syntax error: %s %s", parser.problem ? parser.problem : "invalid YAML",
                        parser.context);
        else
            problem_add(c->ps, "", where, line, "YAML syntax error: %s", parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        return false;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        if (yaml_is_null(root)) {
            /* an empty document: defaults only */
        } else if (root->type != YAML_MAPPING_NODE) {
            char where[512];
            snprintf(where, sizeof where, "%s:%d", c->file, (int)root->start_mark.line + 1);
            problem_add(c->ps, "", where, (int)root->start_mark.line + 1, "the configuration must be a mapping of keys, not %s", node_kind(root));
            ok = false;
        } else {
            yaml_walk_map(c, &doc, root, NULL);
        }
        yaml_document_t doc2;
        if (ok && yaml_parser_load(&parser, &doc2)) {
            yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
            if (r2) {
                char where[512];
                snprintf(where, sizeof where, "%s:%d", c->file, (int)r2->start_mark.line + 1);
                problem_add(c->ps, "", where, (int)r2->start_mark.line + 1, "more than one YAML document ('---'); put everything in one");
            }
            yaml_document_delete(&doc2);
        } else if (ok && parser.error != YAML_NO_ERROR) {
            char where[512];
            snprintf(where, sizeof where, "%s:%d", c->file, (int)parser.problem_mark.line + 1);
            problem_add(c->ps, "", where, (int)parser.problem_mark.line + 1, "YAML syntax error: %s",
                        parser.problem ? parser.problem : "invalid YAML");
            ok = false;
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* environment and override layers */

static const char *env_lookup(char **env, const char *name)
{
    size_t n = strlen(name);
    for (char **e = env; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static void env_layer(ctx *c)
{
    char name[128];
    for (size_t i = 0; i < NKEYS; i++) {
        env_name(KEYS[i].key, name, sizeof name);
        const char *v = env_lookup(c->env, name);
        if (!v || !*v)
            continue; /* unset or empty: the lower layers stand */
        origin o = {SRC_ENV, 0, ""};
        snprintf(o.name, sizeof o.name, "%s", name);
        raw_set_scalar(&c->raw[i], v, &o);
    }
    /* unknown REGSYNC_* variables: a near miss of a known one is an error, others a warning */
    for (char **e = c->env; e && *e; e++) {
        if (strncmp(*e, "REGSYNC_", 8) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        size_t nl = eq ? (size_t)(eq - *e) : strlen(*e);
        if (nl >= sizeof name)
            continue;
        memcpy(name, *e, nl);
        name[nl] = '\0';
        bool known = false;
        for (int r = 0; RESERVED_ENV[r]; r++)
            if (strcmp(name, RESERVED_ENV[r]) == 0)
                known = true;
        const char *best = NULL;
        size_t bd = 99;
        char cand[128];
        for (size_t i = 0; i < NKEYS && !known; i++) {
            env_name(KEYS[i].key, cand, sizeof cand);
            if (strcmp(cand, name) == 0) {
                known = true;
                break;
            }
            size_t d = edit_distance(name + 8, cand + 8);
            if (d < bd) {
                bd = d;
                best = KEYS[i].key;
            }
        }
        if (known)
            continue;
        if (best && bd <= close_enough(name + 8)) {
            env_name(best, cand, sizeof cand);
            char where[160];
            snprintf(where, sizeof where, "env %s", name);
            problem_add(c->ps, "", where, 0, "unknown variable (did you mean %s?)", cand);
        } else {
            warn_add(c->warnings, "env %s: not a regsync setting, ignored", name);
        }
    }
}

static void override_layer(ctx *c, const char *const *ov, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const char *s = ov[k];
        if (!s)
            continue;
        const char *eq = strchr(s, '=');
        char key[256];
        size_t kl = eq ? (size_t)(eq - s) : strlen(s);
        if (kl >= sizeof key)
            kl = sizeof key - 1;
        memcpy(key, s, kl);
        key[kl] = '\0';
        while (kl && isspace((unsigned char)key[kl - 1]))
            key[--kl] = '\0';
        const char *where = "--set";
        if (!eq) {
            problem_add(c->ps, key, where, 0, "expects key.path=value");
            continue;
        }
        if (rs_secret_name(leaf_of(key))) {
            secret_problem(c, key, where, 0, true);
            continue;
        }
        if (is_section(key)) {
            problem_add(c->ps, key, where, 0, "is a section: set one of its keys (%s.<key>=value)", key);
            continue;
        }
        int i = key_index(key);
        if (i < 0) {
            const char *sug = suggest_key(key);
            if (sug)
                problem_add(c->ps, key, where, 0, "unknown key (did you mean %s?)", sug);
            else
                problem_add(c->ps, key, where, 0, "unknown key");
            continue;
        }
        origin o = {SRC_FLAG, 0, ""};
        snprintf(o.name, sizeof o.name, "%s", key);
        raw_set_scalar(&c->raw[i], eq + 1, &o);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* conversion: raw text -> typed fields */

static int parse_u64(const char *s, uint64_t *out)
{
    if (!*s)
        return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
    char num[32];
    size_t i = 0;
    while (isdigit((unsigned char)s[i]) && i + 1 < sizeof num) {
        num[i] = s[i];
        i++;
    }
    num[i] = '\0';
    if (i == 0)
        return -1;
    uint64_t v;
    if (parse_u64(num, &v))
        return -1;
    const char *u = s + i;
    while (*u == ' ')
        u++;
    uint64_t mult = 1;
    if (!*u || !strcasecmp(u, "b"))
        mult = 1;
    else if (!strcasecmp(u, "k") || !strcasecmp(u, "kb") || !strcasecmp(u, "kib"))
        mult = 1024;
    else if (!strcasecmp(u, "m") || !strcasecmp(u, "mb") || !strcasecmp(u, "mib"))
        mult = 1024 * 1024;
    else if (!strcasecmp(u, "g") || !strcasecmp(u, "gb") || !strcasecmp(u, "gib"))
        mult = 1024 * 1024 * 1024;
    else
        return -1;
    if (v > UINT64_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

static void fmt_dur(int64_t ms, char *out, size_t n)
{
    if (ms == 0)
        snprintf(out, n, "0s");
    else if (ms % DAY_MS == 0)
        snprintf(out, n, "%lldd", (long long)(ms / DAY_MS));
    else if (ms % 3600000 == 0)
        snprintf(out, n, "%lldh", (long long)(ms / 3600000));
    else if (ms % 60000 == 0)
        snprintf(out, n, "%lldm", (long long)(ms / 60000));
    else if (ms % 1000 == 0)
        snprintf(out, n, "%llds", (long long)(ms / 1000));
    else
        snprintf(out, n, "%lldms", (long long)ms);
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const t[] = {"true", "yes", "on", "1", NULL}, *const f[] = {"false", "no", "off", "0", NULL};
    for (int i = 0; t[i]; i++)
        if (!strcasecmp(s, t[i])) {
            *out = true;
            return 0;
        }
    for (int i = 0; f[i]; i++)
        if (!strcasecmp(s, f[i])) {
            *out = false;
            return 0;
        }
    return -1;
}

static char *join_path(const char *dir, const char *rel)
{
    if (rel[0] == '/' || !*rel)
        return strdup(rel);
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", rel);
    return p;
}

static char *base_dir_for(ctx *c, const origin *o)
{
    if (o->src == SRC_FILE && c->file_dir)
        return strdup(c->file_dir);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return strdup("/");
    return strdup(cwd);
}

static void choices_text(const char *const *ch, char *out, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; ch[i] && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, "%s%s", i ? ", " : "", ch[i]);
}

static bool convert_one(ctx *c, rs_config *cfg, int i)
{
    const keydef *k = &KEYS[i];
    rawval *r = &c->raw[i];
    char *field = (char *)cfg + k->off;
    char qb[400];
    const char *s = r->s ? r->s : "";
    if (k->type != KT_LIST && r->is_list)
        return false; /* reported by the YAML layer */
    switch (k->type) {
    case KT_STR:
    case KT_PATH: {
        char **dst = (char **)(void *)field;
        free(*dst);
        if (k->type == KT_PATH && *s && s[0] != '/') {
            char *base = base_dir_for(c, &r->o);
            *dst = base ? join_path(base, s) : NULL;
            free(base);
        } else {
            *dst = strdup(s);
        }
        return *dst != NULL;
    }
    case KT_DUR: {
        int64_t ms;
        if (rs_duration_parse_ms(s, &ms) != 0) {
            kproblem(c->ps, c->pv, i, "%s is not a duration (use 5s, 500ms, 1m)", q(s, qb, sizeof qb));
            return false;
        }
        char a[32], b[32];
        if (ms < k->min) {
            fmt_dur(ms, a, sizeof a);
            fmt_dur(k->min, b, sizeof b);
            kproblem(c->ps, c->pv, i, "%s is too short (minimum %s)", a, b);
            return false;
        }
        if (k->max && ms > k->max) {
            fmt_dur(ms, a, sizeof a);
            fmt_dur(k->max, b, sizeof b);
            kproblem(c->ps, c->pv, i, "%s is too long (maximum %s)", a, b);
            return false;
        }
        *(int64_t *)(void *)field = ms;
        return true;
    }
    case KT_BOOL: {
        bool b;
        if (parse_bool(s, &b)) {
            kproblem(c->ps, c->pv, i, "%s is not a boolean (use true or false)", q(s, qb, sizeof qb));
            return false;
        }
        *(bool *)(void *)field = b;
        return true;
    }
    case KT_U64:
    case KT_INT:
    case KT_SIZE: {
        uint64_t v;
        int rc = k->type == KT_SIZE ? parse_size(s, &v) : parse_u64(s, &v);
        if (rc) {
            kproblem(c->ps, c->pv, i, "%s is not %s", q(s, qb, sizeof qb),
                     k->type == KT_SIZE ? "a size in bytes (e.g. 1048576, 16KiB, 1MiB)" : "a whole number >= 0");
            return false;
        }
        if (v < (uint64_t)k->min) {
            kproblem(c->ps, c->pv, i, "%llu is too small (minimum %lld)", (unsigned long long)v, (long long)k->min);
            return false;
        }
        if (k->max && v > (uint64_t)k->max) {
            kproblem(c->ps, c->pv, i, "%llu is too large (maximum %lld)", (unsigned long long)v, (long long)k->max);
            return false;
        }
        if (k->type == KT_U64)
            *(uint64_t *)(void *)field = v;
        else if (k->type == KT_INT)
            *(int *)(void *)field = (int)v;
        else
            *(size_t *)(void *)field = (size_t)v;
        return true;
    }
    case KT_FRAC: {
        /* a fraction in (0, 1]: 0.5, or a percentage: 50% */
        char *end = NULL;
        errno = 0;
        double v = strtod(s, &end);
        bool pct = end && *end == '%';
        if (pct) {
            v /= 100.0;
            end++;
        }
        if (errno || end == s || !end || *end || !(v > 0.0 && v <= 1.0)) {
            kproblem(c->ps, c->pv, i, "%s is not a fraction between 0 (exclusive) and 1 (e.g. 0.5 or 50%%)", q(s, qb, sizeof qb));
            return false;
        }
        *(double *)(void *)field = v;
        return true;
    }
    case KT_ENUM: {
        int v = -1;
        for (int j = 0; k->choices[j]; j++)
            if (strcmp(s, k->choices[j]) == 0)
                v = j;
        if (v < 0 && k->choices == log_level_choices && strcmp(s, "warning") == 0)
            v = RS_LOG_WARN;
        if (v < 0) {
            char ch[200];
            choices_text(k->choices, ch, sizeof ch);
            const char *sug = suggest_choice(s, k->choices);
            if (sug)
                kproblem(c->ps, c->pv, i, "%s is not one of %s (did you mean %s?)", q(s, qb, sizeof qb), ch, sug);
            else
                kproblem(c->ps, c->pv, i, "%s is not one of %s", q(s, qb, sizeof qb), ch);
            return false;
        }
        *(int *)(void *)field = v; /* the enum fields are int-sized */
        return true;
    }
    case KT_LIST: {
        rs_strlist *dst = (rs_strlist *)(void *)field;
        strlist_free(dst);
        if (r->is_list) {
            for (size_t j = 0; j < r->list.n; j++)
                strlist_push(dst, r->list.v[j], strlen(r->list.v[j]));
        } else {
            split_list(s, dst);
        }
        return true;
    }
    }
    return false;
}

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

static bool has_scheme(const char *s) { return strstr(s, "://") != NULL; }

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
        kproblem(ps, pv, i, "%s %s: %s", what, path, strerror(errno));
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        kproblem(ps, pv, i, "%s %s is not a regular file", what, path);
        return;
    }
    if (access(path, R_OK) != 0)
        kproblem(ps, pv, i, "%s %s: %s", what, path, strerror(errno));
}

/* Reads the token from REGSYNC_ADMIN_TOKEN (env) or admin.token_file. */
static void resolve_token(rs_config *cfg, char **env, rs_config_problems *ps)
{
    struct rs_config_priv *pv = cfg->priv;
    int ti = KEY_ADMIN_TOKEN_FILE;
    const char *ev = env ? env_lookup(env, "REGSYNC_ADMIN_TOKEN") : NULL;
    if (ev && *ev) {
        if (cfg->admin.token) {
            explicit_bzero(cfg->admin.token, strlen(cfg->admin.token));
            free(cfg->admin.token);
        }
        cfg->admin.token = strdup(ev);
        if (cfg->admin.token_file && *cfg->admin.token_file)
            warn_add(&cfg->warnings, "admin.token_file: ignored, REGSYNC_ADMIN_TOKEN is set");
    } else if (!cfg->admin.token && cfg->admin.token_file && *cfg->admin.token_file) {
        const char *path = cfg->admin.token_file;
        struct stat st;
        if (stat(path, &st) != 0) {
            kproblem(ps, pv, ti, "%s: %s", path, strerror(errno));
            return;
        }
        if (!S_ISREG(st.st_mode)) {
            kproblem(ps, pv, ti, "%s is not a regular file", path);
            return;
        }
        uint8_t *data = NULL;
        size_t len = 0;
        rs_error e;
        if (rs_read_file(path, TOKEN_MAX_BYTES, &data, &len, &e) != RS_OK) {
            kproblem(ps, pv, ti, "%s", e.msg);
            return;
        }
        while (len && isspace(data[len - 1]))
            len--;
        if (len == 0) {
            kproblem(ps, pv, ti, "%s is empty", path);
            free(data);
            return;
        }
        /* only a file of our own user: a secret that root or another user made readable to us
         * (a Docker or compose secret, a Kubernetes Secret volume with fsGroup) is the
         * mounting system's choice, and we could not chmod it anyway */
        if ((st.st_mode & 077) && st.st_uid == geteuid())
            warn_add(&cfg->warnings, "admin.token_file: %s is readable by group or others (chmod 600)", path);
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
            kproblem(ps, pv, ti, "the admin token contains spaces or control characters (it travels in an HTTP header)");
        else if (strlen(cfg->admin.token) < 16)
            warn_add(&cfg->warnings, "admin token: shorter than 16 characters; use a long random token");
    }
}

static void validate(rs_config *cfg, rs_config_problems *ps)
{
    struct rs_config_priv *pv = cfg->priv;
    char qb[400];
#define BAD(id) (pv->bad[id])
    /* required */
    if (!BAD(KEY_REGION)) {
        if (!*cfg->region)
            kproblem(ps, pv, KEY_REGION, "required (set region, REGSYNC_REGION or --set region=...)");
        else if (!region_ok(cfg->region))
            kproblem(ps, pv, KEY_REGION, "%s must match [a-z0-9-]+ (at most 63 characters)", q(cfg->region, qb, sizeof qb));
    }
    if (!BAD(KEY_INSTANCE) && *cfg->instance && !region_ok(cfg->instance))
        kproblem(ps, pv, KEY_INSTANCE,
                 "%s must match [a-z0-9-]+ (at most 63 characters), like a Kubernetes pod name; leave it empty to use "
                 "$POD_NAME or the host name",
                 q(cfg->instance, qb, sizeof qb));
    if (!BAD(KEY_FORGET_AFTER) && !BAD(KEY_STALE_AFTER) && cfg->forget_after_ms <= cfg->stale_after_ms)
        kproblem(ps, pv, KEY_FORGET_AFTER, "must be longer than stale_after (an instance is stale before it is forgotten)");
    if (!*cfg->store) {
        kproblem(ps, pv, KEY_STORE, "required: the global store URL (file://, s3://, postgresql:// or mysql://)");
    } else {
        char *red = rs_config_redact_url(cfg->store);
        const char *p = store_url_problem(cfg->store);
        if (p)
            kproblem(ps, pv, KEY_STORE, "%s %s", q(red ? red : "", qb, sizeof qb), p);
        if (pv->o[KEY_STORE].src == SRC_FILE && rs_url_has_secret(cfg->store))
            kproblem(ps, pv, KEY_STORE, "the URL holds a password or secret; secrets are not accepted in the configuration file "
                                         "(set REGSYNC_STORE, PGPASSWORD or ~/.pgpass, MYSQL_PWD, AWS_* variables)");
        free(red);
    }
    if (cfg->publish && !*cfg->source)
        kproblem(ps, pv, KEY_SOURCE, "required when publish is true: the key in the store or URL that Feast writes");
    if (*cfg->source && has_scheme(cfg->source)) {
        char sch[32];
        scheme_of(cfg->source, sch, sizeof sch);
        static const char *const ok[] = {"file", "s3", "postgresql", "postgres", "mysql", "mariadb", "http", "https", NULL};
        bool good = false;
        for (int i = 0; ok[i]; i++)
            if (!strcasecmp(sch, ok[i]))
                good = true;
        if (!good)
            kproblem(ps, pv, KEY_SOURCE, "scheme %s is not supported (a key in the store, or file://, s3://, postgresql://, mysql://, http(s)://)",
                     q(sch, qb, sizeof qb));
        if (pv->o[KEY_SOURCE].src == SRC_FILE && rs_url_has_secret(cfg->source))
            kproblem(ps, pv, KEY_SOURCE, "the URL holds a password or secret; secrets are not accepted in the configuration file");
    }
    if (!*cfg->target) {
        if (!cfg->publish)
            kproblem(ps, pv, KEY_TARGET, "required unless publish is true (a publish-only agent): where the regional registry.db goes");
    } else if (has_scheme(cfg->target)) {
        char *red = rs_config_redact_url(cfg->target);
        const char *p = store_url_problem(cfg->target);
        if (p)
            kproblem(ps, pv, KEY_TARGET, "%s %s", q(red ? red : "", qb, sizeof qb), p);
        free(red);
        if (pv->o[KEY_TARGET].src == SRC_FILE && rs_url_has_secret(cfg->target))
            kproblem(ps, pv, KEY_TARGET, "the URL holds a password or secret; secrets are not accepted in the configuration file");
    }
    if (!*cfg->state_dir) {
        kproblem(ps, pv, KEY_STATE_DIR, "required: the directory for the journal and local state");
    } else {
        struct stat st;
        if (stat(cfg->state_dir, &st) == 0 && !S_ISDIR(st.st_mode))
            kproblem(ps, pv, KEY_STATE_DIR, "%s exists and is not a directory", cfg->state_dir);
    }
    /* filters */
    if (!BAD(KEY_FILTERS_INCLUDE_PROJECTS) && cfg->filters.include_projects.n == 0)
        kproblem(ps, pv, KEY_FILTERS_INCLUDE_PROJECTS, "is empty, which would exclude every project (use [\"*\"] for all)");
    const key_id fk[2] = {KEY_FILTERS_INCLUDE_PROJECTS, KEY_FILTERS_EXCLUDE_PROJECTS};
    const rs_strlist *fl[2] = {&cfg->filters.include_projects, &cfg->filters.exclude_projects};
    for (int f = 0; f < 2; f++)
        for (size_t j = 0; j < fl[f]->n; j++)
            if (!glob_ok(fl[f]->v[j]))
                kproblem(ps, pv, fk[f], "%s is not a valid glob (empty, unclosed '[' or control characters)",
                         q(fl[f]->v[j], qb, sizeof qb));
    for (size_t j = 0; j < cfg->ignore_fields.n; j++) {
        bool ok = false;
        for (int x = 0; ignorable_fields[x]; x++)
            if (strcmp(cfg->ignore_fields.v[j], ignorable_fields[x]) == 0)
                ok = true;
        if (!ok) {
            const char *sug = suggest_choice(cfg->ignore_fields.v[j], ignorable_fields);
            char ch[200];
            choices_text(ignorable_fields, ch, sizeof ch);
            if (sug)
                kproblem(ps, pv, KEY_IGNORE_FIELDS, "%s is not a registry-level field (did you mean %s?)", q(cfg->ignore_fields.v[j], qb, sizeof qb), sug);
            else
                kproblem(ps, pv, KEY_IGNORE_FIELDS, "%s is not a registry-level field (one of %s)", q(cfg->ignore_fields.v[j], qb, sizeof qb), ch);
        }
    }
    /* admin */
    int li = KEY_ADMIN_LISTEN;
    bool listen_ok = true;
    if (*cfg->admin.listen) {
        char host[256];
        int port;
        if (rs_config_split_listen(cfg->admin.listen, host, sizeof host, &port)) {
            kproblem(ps, pv, li, "%s is not host:port (e.g. 127.0.0.1:8470, [::1]:8470, 0.0.0.0:8470)", q(cfg->admin.listen, qb, sizeof qb));
            listen_ok = false;
        }
    }
    if (*cfg->admin.listen && listen_ok && !rs_config_listen_is_loopback(cfg->admin.listen) && !cfg->admin.token &&
        !(cfg->admin.token_file && *cfg->admin.token_file))
        kproblem(ps, pv, li, "%s is not a loopback address: set admin.token_file or REGSYNC_ADMIN_TOKEN so that state-changing requests need a token",
                 q(cfg->admin.listen, qb, sizeof qb));
    bool cert = *cfg->admin.tls_cert, key = *cfg->admin.tls_key;
    if (cert != key)
        kproblem(ps, pv, cert ? KEY_ADMIN_TLS_KEY : KEY_ADMIN_TLS_CERT, "required when admin.%s is set (TLS needs both)", cert ? "tls_cert" : "tls_key");
    if (cert)
        check_file_readable(ps, pv, KEY_ADMIN_TLS_CERT, cfg->admin.tls_cert, "certificate");
    if (key)
        check_file_readable(ps, pv, KEY_ADMIN_TLS_KEY, cfg->admin.tls_key, "key");
    if (*cfg->store_options.ca_bundle)
        check_file_readable(ps, pv, KEY_STORE_OPTIONS_CA_BUNDLE, cfg->store_options.ca_bundle, "CA bundle");
    /* relations between durations */
    char a[32], b[32];
    if (!BAD(KEY_STALE_AFTER) && !BAD(KEY_HEARTBEAT_INTERVAL) && cfg->stale_after_ms <= cfg->heartbeat_interval_ms) {
        fmt_dur(cfg->stale_after_ms, a, sizeof a);
        fmt_dur(cfg->heartbeat_interval_ms, b, sizeof b);
        kproblem(ps, pv, KEY_STALE_AFTER, "%s must be longer than heartbeat_interval (%s), or every region looks stale", a, b);
    }
    if (!BAD(KEY_MAX_STALENESS) && !BAD(KEY_POLL_INTERVAL) && cfg->max_staleness_ms <= cfg->poll_interval_ms) {
        fmt_dur(cfg->max_staleness_ms, a, sizeof a);
        fmt_dur(cfg->poll_interval_ms, b, sizeof b);
        kproblem(ps, pv, KEY_MAX_STALENESS, "%s must be longer than poll_interval (%s), or readiness flaps", a, b);
    }
    if (!BAD(KEY_STORE_OPTIONS_CONNECT_TIMEOUT) && !BAD(KEY_STORE_OPTIONS_TIMEOUT) &&
        cfg->store_options.connect_timeout_ms > cfg->store_options.timeout_ms) {
        fmt_dur(cfg->store_options.connect_timeout_ms, a, sizeof a);
        fmt_dur(cfg->store_options.timeout_ms, b, sizeof b);
        kproblem(ps, pv, KEY_STORE_OPTIONS_CONNECT_TIMEOUT, "%s is longer than store_options.timeout (%s)", a, b);
    }
    for (const char *p = cfg->publisher_id; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) {
            kproblem(ps, pv, KEY_PUBLISHER_ID, "contains control characters");
            break;
        }
    if (strlen(cfg->publisher_id) > 200)
        kproblem(ps, pv, KEY_PUBLISHER_ID, "is longer than 200 characters");
#undef BAD
}

/* ------------------------------------------------------------------------------------------ */
/* load */

static void default_publisher_id(rs_config *cfg)
{
    if (*cfg->publisher_id)
        return;
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !*host)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    char buf[320];
    snprintf(buf, sizeof buf, "%s/%ld", host, (long)getpid());
    char *p = strdup(buf);
    if (p) {
        free(cfg->publisher_id);
        cfg->publisher_id = p;
        if (cfg->priv)
            cfg->priv->o[KEY_PUBLISHER_ID].src = SRC_DEFAULT; /* derived, not given */
    }
}

/* a target given as a path becomes file://<absolute path> */
static void normalize_target(ctx *c, rs_config *cfg)
{
    const char *t = cfg->target;
    if (!*t || has_scheme(t))
        return;
    int i = KEY_TARGET;
    char *abs;
    if (t[0] == '/') {
        abs = strdup(t);
    } else {
        char *base = base_dir_for(c, &c->raw[i].o);
        abs = base ? join_path(base, t) : NULL;
        free(base);
    }
    if (!abs)
        return;
    size_t n = strlen(abs) + 8;
    char *u = malloc(n);
    if (u) {
        snprintf(u, n, "file://%s", abs);
        free(cfg->target);
        cfg->target = u;
    }
    free(abs);
}

static int finish(rs_config_problems *ps, rs_config *cfg, rs_config **out, rs_error *err)
{
    if (ps->n) {
        rs_config_free(cfg);
        return problems_error(ps, err);
    }
    *out = cfg;
    rs_error_clear(err);
    return RS_OK;
}

int rs_config_parse(const char *name, const char *yaml, size_t len, char **env, const char *const *overrides,
                    size_t n_overrides, rs_config **out, rs_config_problems *problems, rs_error *err)
{
    rs_config_keys(NULL); /* checks the key table once: a hole is a start-up error */
    rs_config_problems local = {0};
    rs_config_problems *ps = problems ? problems : &local;
    ps->v = NULL;
    ps->n = 0;
    *out = NULL;
    int rc;
    rs_config *cfg = calloc(1, sizeof *cfg);
    struct rs_config_priv *pv = calloc(1, sizeof *pv);
    ctx c = {0};
    if (!cfg || !pv) {
        free(cfg);
        free(pv);
        return rs_error_set(err, RS_ENOMEM, "config: out of memory");
    }
    cfg->priv = pv;
    c.ps = ps;
    c.pv = pv;
    c.warnings = &cfg->warnings;
    c.env = env ? env : environ;
    if (yaml) {
        const char *nm = name && *name ? name : "config";
        c.file = nm;
        pv->file = strdup(nm);
        cfg->config_path = strdup(nm);
        const char *slash = strrchr(nm, '/');
        size_t dl = slash ? (size_t)(slash - nm) : 0;
        rs_buf d = {0};
        if (nm[0] != '/') {
            char cwd[PATH_MAX];
            if (!getcwd(cwd, sizeof cwd))
                snprintf(cwd, sizeof cwd, "/");
            rs_buf_append(&d, cwd, strlen(cwd));
            if (dl)
                rs_buf_putc(&d, '/');
        }
        rs_buf_append(&d, nm, dl ? dl : (nm[0] == '/' ? 1 : 0));
        if (rs_buf_cstr(&d) == RS_OK) {
            size_t dlen;
            c.file_dir = (char *)rs_buf_take(&d, &dlen);
        }
        rs_buf_free(&d);
    }
    /* defaults */
    for (size_t i = 0; i < NKEYS; i++) {
        origin o = {SRC_DEFAULT, 0, ""};
        raw_set_scalar(&c.raw[i], KEYS[i].def, &o);
    }
    if (yaml && !yaml_layer(&c, yaml, len)) {
        rc = finish(ps, cfg, out, err);
        goto done;
    }
    env_layer(&c);
    override_layer(&c, overrides, n_overrides);
    for (size_t i = 0; i < NKEYS; i++) {
        pv->o[i] = c.raw[i].o;
        /* typed defaults first, so a failed conversion leaves a sane value */
        rawval user = c.raw[i];
        rawval def = {0};
        origin od = {SRC_DEFAULT, 0, ""};
        raw_set_scalar(&def, KEYS[i].def, &od);
        c.raw[i] = def;
        convert_one(&c, cfg, (int)i);
        raw_clear(&c.raw[i]);
        c.raw[i] = user;
        if (user.o.src != SRC_DEFAULT && !convert_one(&c, cfg, (int)i))
            pv->bad[i] = true;
    }
    normalize_target(&c, cfg);
    default_publisher_id(cfg);
    resolve_token(cfg, c.env, ps);
    validate(cfg, ps);
    rc = finish(ps, cfg, out, err);
done:
    for (size_t i = 0; i < NKEYS; i++)
        raw_clear(&c.raw[i]);
    free(c.file_dir);
    if (!problems)
        rs_config_problems_free(&local);
    return rc;
}

int rs_config_load_ex(const char *path, char **env, const char *const *overrides, size_t n_overrides, rs_config **out,
                      rs_config_problems *problems, rs_error *err)
{
    *out = NULL;
    if (problems) {
        problems->v = NULL;
        problems->n = 0;
    }
    if (!path)
        return rs_config_parse(NULL, NULL, 0, env, overrides, n_overrides, out, problems, err);
    uint8_t *data = NULL;
    size_t len = 0;
    rs_error e;
    int rc = rs_read_file(path, CONFIG_MAX_BYTES + 1, &data, &len, &e);
    if (rc == RS_OK && len > CONFIG_MAX_BYTES)
        rc = rs_error_set(&e, RS_ETOOBIG, "%s: larger than %u bytes; is this the right file?", path, CONFIG_MAX_BYTES);
    if (rc != RS_OK) {
        if (problems)
            problem_add(problems, "", "", 0, "config file %s", e.msg);
        free(data);
        return rs_error_set(err, rc, "config file %s", e.msg);
    }
    rc = rs_config_parse(path, (const char *)data, len, env, overrides, n_overrides, out, problems, err);
    free(data);
    return rc;
}

int rs_config_load(const char *path, char **env, const char *const *overrides, size_t n_overrides, rs_config **out,
                   rs_error *err)
{
    return rs_config_load_ex(path, env, overrides, n_overrides, out, NULL, err);
}

int rs_config_validate(rs_config *cfg, rs_config_problems *problems, rs_error *err)
{
    rs_config_problems local = {0};
    rs_config_problems *ps = problems ? problems : &local;
    ps->v = NULL;
    ps->n = 0;
    if (!cfg)
        return rs_error_set(err, RS_EINVALID, "config: NULL");
    if (!cfg->priv && !(cfg->priv = calloc(1, sizeof *cfg->priv)))
        return rs_error_set(err, RS_ENOMEM, "config: out of memory");
    memset(cfg->priv->bad, 0, sizeof cfg->priv->bad);
    /* fields set directly must not be NULL */
    for (size_t i = 0; i < NKEYS; i++) {
        if (KEYS[i].type == KT_STR || KEYS[i].type == KT_PATH) {
            char **f = (char **)(void *)((char *)cfg + KEYS[i].off);
            if (!*f && !(*f = strdup("")))
                return rs_error_set(err, RS_ENOMEM, "config: out of memory");
        }
    }
    if (!cfg->admin.token)
        resolve_token(cfg, NULL, ps);
    validate(cfg, ps);
    int rc = ps->n ? problems_error(ps, err) : RS_OK;
    if (!ps->n)
        rs_error_clear(err);
    if (!problems)
        rs_config_problems_free(&local);
    return rc;
}

void rs_config_free(rs_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < NKEYS; i++) {
        char *f = (char *)cfg + KEYS[i].off;
        if (KEYS[i].type == KT_STR || KEYS[i].type == KT_PATH)
            free(*(char **)(void *)f);
        else if (KEYS[i].type == KT_LIST)
            strlist_free((rs_strlist *)(void *)f);
    }
    if (cfg->admin.token) {
        explicit_bzero(cfg->admin.token, strlen(cfg->admin.token));
        free(cfg->admin.token);
    }
    free(cfg->config_path);
    strlist_free(&cfg->warnings);
    if (cfg->priv)
        free(cfg->priv->file);
    free(cfg->priv);
    free(cfg);
}

/* ------------------------------------------------------------------------------------------ */
/* helpers for users */

bool rs_config_project_allowed(const rs_config *cfg, const char *project)
{
    if (!cfg || !project)
        return false;
    bool in = false;
    for (size_t i = 0; i < cfg->filters.include_projects.n && !in; i++)
        if (fnmatch(cfg->filters.include_projects.v[i], project, 0) == 0)
            in = true;
    if (!in)
        return false;
    for (size_t i = 0; i < cfg->filters.exclude_projects.n; i++)
        if (fnmatch(cfg->filters.exclude_projects.v[i], project, 0) == 0)
            return false;
    return true;
}

const char *rs_on_local_change_name(rs_on_local_change v)
{
    return (unsigned)v < 3 ? on_local_choices[v] : "unknown";
}

/* ------------------------------------------------------------------------------------------ */
/* describe */

/* The display text of key i (secrets redacted). Lists via list_out instead. */
static char *value_text(const rs_config *cfg, int i, const rs_strlist **list_out)
{
    const keydef *k = &KEYS[i];
    const char *f = (const char *)cfg + k->off;
    char buf[64];
    *list_out = NULL;
    switch (k->type) {
    case KT_STR:
    case KT_PATH: {
        const char *s = *(char *const *)(const void *)f;
        s = s ? s : "";
        if (has_scheme(s))
            return rs_config_redact_url(s);
        return strdup(s);
    }
    case KT_DUR: fmt_dur(*(const int64_t *)(const void *)f, buf, sizeof buf); return strdup(buf);
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
        const char *key = KEYS[i].key;
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
        rs_buf_printf(&b, "%s%s: ", indent, leaf_of(key));
        if (l) {
            rs_buf_putc(&b, '[');
            for (size_t j = 0; j < l->n; j++) {
                if (j)
                    rs_buf_printf(&b, ", ");
                yaml_quote(&b, l->v[j]);
            }
            rs_buf_putc(&b, ']');
        } else if (KEYS[i].type == KT_STR || KEYS[i].type == KT_PATH) {
            yaml_quote(&b, v ? v : "");
        } else {
            rs_buf_printf(&b, "%s", v ? v : "");
        }
        free(v);
        if (pv && pv->o[i].src != SRC_DEFAULT) {
            char where[512];
            where_of(pv, &pv->o[i], where, sizeof where);
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
        const char *key = KEYS[i].key;
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
        switch (KEYS[i].type) {
        case KT_BOOL: jv = json_boolean(*(const bool *)(const void *)((const char *)cfg + KEYS[i].off)); break;
        case KT_U64:
        case KT_INT:
        case KT_SIZE: jv = json_integer(strtoll(v ? v : "0", NULL, 10)); break;
        case KT_FRAC: jv = json_real(*(const double *)(const void *)((const char *)cfg + KEYS[i].off)); break;
        case KT_LIST:
            jv = json_array();
            for (size_t j = 0; l && j < l->n; j++)
                json_array_append_new(jv, json_string(l->v[j]));
            break;
        default: jv = json_string(v ? v : ""); break;
        }
        free(v);
        json_object_set_new(obj, leaf_of(key), jv);
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
           "fetch_concurrency: 4\n";
}

_Static_assert(sizeof(rs_on_local_change) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(rs_log_level) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(rs_log_format) == sizeof(int), "enum fields are written as int");

char *rs_config_redact_url(const char *url) { return rs_url_redact(url); }
