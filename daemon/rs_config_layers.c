/* rs_config_layers.c: the layers over the defaults: the YAML file (libyaml document API), the
 * environment (REGSYNC_<KEY>) and overrides (--set), with the refusal of secrets. See rs_config.h. */

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
/* secrets */


static void secret_problem(ctx *c, const char *full, const char *where, int line, bool flag)
{
    const char *how = flag ? "secrets are not accepted on the command line (other users see it in ps)"
                           : "secrets are not accepted in the configuration file";
    if (strncmp(full, "admin.", 6) == 0)
        cfg_problem_add(c->ps, full, where, line, "%s; put the token in a file and set admin.token_file, or set REGSYNC_ADMIN_TOKEN", how);
    else
        cfg_problem_add(c->ps, full, where, line,
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
        cfg_problem_add(c->ps, key, where, (int)n->start_mark.line + 1, "contains a NUL byte");
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
            cfg_problem_add(c->ps, prefix ? prefix : "", where, kline, "keys must be plain names, not %s", node_kind(kn));
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
                cfg_problem_add(c->ps, full, where, kline, "duplicate key (first set on line %d)", (int)k2->start_mark.line + 1);
                dup = true;
                break;
            }
        }
        if (dup)
            continue;
        if (!prefix && cfg_is_section(full)) {
            if (yaml_is_null(vn))
                continue;
            if (vn->type != YAML_MAPPING_NODE) {
                snprintf(where, sizeof where, "%s:%d", c->file, vline);
                cfg_problem_add(c->ps, full, where, vline, "must be a mapping of keys, not %s", node_kind(vn));
                continue;
            }
            yaml_walk_map(c, doc, vn, full);
            continue;
        }
        if (rs_secret_name(name)) {
            secret_problem(c, full, where, kline, false);
            continue;
        }
        int i = cfg_key_index(full);
        if (i < 0) {
            const char *s = cfg_suggest_key(full);
            if (s)
                cfg_problem_add(c->ps, full, where, kline, "unknown key (did you mean %s?)", s);
            else
                cfg_problem_add(c->ps, full, where, kline, "unknown key");
            continue;
        }
        origin o = {SRC_FILE, vline, ""};
        snprintf(where, sizeof where, "%s:%d", c->file, vline);
        if (yaml_is_null(vn))
            continue; /* "key:" with nothing: keep the default */
        if (vn->type == YAML_MAPPING_NODE) {
            cfg_problem_add(c->ps, full, where, vline, "expects %s, not a mapping",
                        rs_cfg_keys[i].type == KT_LIST ? "a list" : "a single value");
            continue;
        }
        if (vn->type == YAML_SEQUENCE_NODE) {
            if (rs_cfg_keys[i].type != KT_LIST) {
                cfg_problem_add(c->ps, full, where, vline, "expects a single value, not a list");
                continue;
            }
            rawval *r = &c->raw[i];
            cfg_raw_clear(r);
            r->is_list = true;
            r->o = o;
            for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
                yaml_node_t *in = yaml_document_get_node(doc, *it);
                if (!in)
                    continue;
                if (in->type == YAML_MAPPING_NODE && strcmp(rs_cfg_keys[i].key, "replicas") == 0) {
                    /* replicas: [{name: eu, url: s3://...}] is kept as "eu=s3://..." (the form env
                       and --set use) */
                    const char *nm = NULL, *url = NULL;
                    bool other = false;
                    for (yaml_node_pair_t *q2 = in->data.mapping.pairs.start; q2 < in->data.mapping.pairs.top; q2++) {
                        yaml_node_t *k2 = yaml_document_get_node(doc, q2->key), *v2 = yaml_document_get_node(doc, q2->value);
                        if (!k2 || !v2 || k2->type != YAML_SCALAR_NODE || v2->type != YAML_SCALAR_NODE) {
                            other = true;
                            continue;
                        }
                        if (strcmp((const char *)k2->data.scalar.value, "name") == 0)
                            nm = (const char *)v2->data.scalar.value;
                        else if (strcmp((const char *)k2->data.scalar.value, "url") == 0)
                            url = (const char *)v2->data.scalar.value;
                        else
                            other = true;
                    }
                    char w2[512];
                    snprintf(w2, sizeof w2, "%s:%d", c->file, (int)in->start_mark.line + 1);
                    if (other || !nm || !url) {
                        cfg_problem_add(c->ps, full, w2, (int)in->start_mark.line + 1,
                                    "each replica is a mapping with exactly the keys name and url");
                        continue;
                    }
                    size_t ln = strlen(nm) + strlen(url) + 2;
                    char *both = malloc(ln);
                    if (both) {
                        snprintf(both, ln, "%s=%s", nm, url);
                        cfg_strlist_push(&r->list, both, strlen(both));
                        free(both);
                    }
                    continue;
                }
                if (in->type != YAML_SCALAR_NODE) {
                    char w2[512];
                    snprintf(w2, sizeof w2, "%s:%d", c->file, (int)in->start_mark.line + 1);
                    cfg_problem_add(c->ps, full, w2, (int)in->start_mark.line + 1, "list items must be plain values, not %s", node_kind(in));
                    continue;
                }
                if (!yaml_scalar_ok(c, full, in))
                    continue;
                cfg_strlist_push(&r->list, (const char *)in->data.scalar.value, in->data.scalar.length);
            }
            continue;
        }
        if (!yaml_scalar_ok(c, full, vn))
            continue;
        cfg_raw_set_scalar(&c->raw[i], (const char *)vn->data.scalar.value, &o);
    }
}

/* Returns false after a syntax error (the only problem then reported). */
bool cfg_yaml_layer(ctx *c, const char *data, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    bool ok = true;
    if (!yaml_parser_initialize(&parser)) {
        cfg_problem_add(c->ps, "", c->file, 0, "cannot initialize the YAML parser");
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
            cfg_problem_add(c->ps, "", where, line, "YAML syntax error: %s %s (started on line %d)",
                        parser.problem ? parser.problem : "invalid YAML", parser.context, cline);
        else if (parser.context)
            cfg_problem_add(c->ps, "", where, line, "YAML syntax error: %s %s", parser.problem ? parser.problem : "invalid YAML",
                        parser.context);
        else
            cfg_problem_add(c->ps, "", where, line, "YAML syntax error: %s", parser.problem ? parser.problem : "invalid YAML");
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
            cfg_problem_add(c->ps, "", where, (int)root->start_mark.line + 1, "the configuration must be a mapping of keys, not %s", node_kind(root));
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
                cfg_problem_add(c->ps, "", where, (int)r2->start_mark.line + 1, "more than one YAML document ('---'); put everything in one");
            }
            yaml_document_delete(&doc2);
        } else if (ok && parser.error != YAML_NO_ERROR) {
            char where[512];
            snprintf(where, sizeof where, "%s:%d", c->file, (int)parser.problem_mark.line + 1);
            cfg_problem_add(c->ps, "", where, (int)parser.problem_mark.line + 1, "YAML syntax error: %s",
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

const char *cfg_env_lookup(char **env, const char *name)
{
    size_t n = strlen(name);
    for (char **e = env; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

void cfg_env_layer(ctx *c)
{
    char name[128];
    for (size_t i = 0; i < NKEYS; i++) {
        cfg_env_name(rs_cfg_keys[i].key, name, sizeof name);
        const char *v = cfg_env_lookup(c->env, name);
        if (!v || !*v)
            continue; /* unset or empty: the lower layers stand */
        origin o = {SRC_ENV, 0, ""};
        snprintf(o.name, sizeof o.name, "%s", name);
        cfg_raw_set_scalar(&c->raw[i], v, &o);
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
        for (int r = 0; rs_cfg_reserved_env[r]; r++)
            if (strcmp(name, rs_cfg_reserved_env[r]) == 0)
                known = true;
        const char *best = NULL;
        size_t bd = 99;
        char cand[128];
        for (size_t i = 0; i < NKEYS && !known; i++) {
            cfg_env_name(rs_cfg_keys[i].key, cand, sizeof cand);
            if (strcmp(cand, name) == 0) {
                known = true;
                break;
            }
            size_t d = cfg_edit_distance(name + 8, cand + 8);
            if (d < bd) {
                bd = d;
                best = rs_cfg_keys[i].key;
            }
        }
        if (known)
            continue;
        if (best && bd <= cfg_close_enough(name + 8)) {
            cfg_env_name(best, cand, sizeof cand);
            char where[160];
            snprintf(where, sizeof where, "env %s", name);
            cfg_problem_add(c->ps, "", where, 0, "unknown variable (did you mean %s?)", cand);
        } else {
            cfg_warn_add(c->warnings, "env %s: not a regsync setting, ignored", name);
        }
    }
}

void cfg_override_layer(ctx *c, const char *const *ov, size_t n)
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
            cfg_problem_add(c->ps, key, where, 0, "expects key.path=value");
            continue;
        }
        if (rs_secret_name(cfg_leaf_of(key))) {
            secret_problem(c, key, where, 0, true);
            continue;
        }
        if (cfg_is_section(key)) {
            cfg_problem_add(c->ps, key, where, 0, "is a section: set one of its keys (%s.<key>=value)", key);
            continue;
        }
        int i = cfg_key_index(key);
        if (i < 0) {
            const char *sug = cfg_suggest_key(key);
            if (sug)
                cfg_problem_add(c->ps, key, where, 0, "unknown key (did you mean %s?)", sug);
            else
                cfg_problem_add(c->ps, key, where, 0, "unknown key");
            continue;
        }
        origin o = {SRC_FLAG, 0, ""};
        snprintf(o.name, sizeof o.name, "%s", key);
        cfg_raw_set_scalar(&c->raw[i], eq + 1, &o);
    }
}
