/* rs_config.c: defaults < YAML (libyaml document API) < environment < overrides, then full
 * validation with every problem keyed. See rs_config.h. */
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


extern char **environ;

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
    if (!*t || cfg_has_scheme(t))
        return;
    int i = KEY_TARGET;
    char *abs;
    if (t[0] == '/') {
        abs = strdup(t);
    } else {
        char *base = cfg_base_dir_for(c, &c->raw[i].o);
        abs = base ? cfg_join_path(base, t) : NULL;
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
        return cfg_problems_error(ps, err);
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
        cfg_raw_set_scalar(&c.raw[i], rs_cfg_keys[i].def, &o);
    }
    if (yaml && !cfg_yaml_layer(&c, yaml, len)) {
        rc = finish(ps, cfg, out, err);
        goto done;
    }
    cfg_env_layer(&c);
    cfg_override_layer(&c, overrides, n_overrides);
    for (size_t i = 0; i < NKEYS; i++) {
        pv->o[i] = c.raw[i].o;
        /* typed defaults first, so a failed conversion leaves a sane value */
        rawval user = c.raw[i];
        rawval def = {0};
        origin od = {SRC_DEFAULT, 0, ""};
        cfg_raw_set_scalar(&def, rs_cfg_keys[i].def, &od);
        c.raw[i] = def;
        cfg_convert_one(&c, cfg, (int)i);
        cfg_raw_clear(&c.raw[i]);
        c.raw[i] = user;
        if (user.o.src != SRC_DEFAULT && !cfg_convert_one(&c, cfg, (int)i))
            pv->bad[i] = true;
    }
    normalize_target(&c, cfg);
    default_publisher_id(cfg);
    cfg_resolve_token(cfg, c.env, ps);
    cfg_validate(cfg, ps);
    rc = finish(ps, cfg, out, err);
done:
    for (size_t i = 0; i < NKEYS; i++)
        cfg_raw_clear(&c.raw[i]);
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
            cfg_problem_add(problems, "", "", 0, "config file %s", e.msg);
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
        if (rs_cfg_keys[i].type == KT_STR || rs_cfg_keys[i].type == KT_PATH) {
            char **f = (char **)(void *)((char *)cfg + rs_cfg_keys[i].off);
            if (!*f && !(*f = strdup("")))
                return rs_error_set(err, RS_ENOMEM, "config: out of memory");
        }
    }
    if (!cfg->admin.token)
        cfg_resolve_token(cfg, NULL, ps);
    cfg_validate(cfg, ps);
    int rc = ps->n ? cfg_problems_error(ps, err) : RS_OK;
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
        char *f = (char *)cfg + rs_cfg_keys[i].off;
        if (rs_cfg_keys[i].type == KT_STR || rs_cfg_keys[i].type == KT_PATH)
            free(*(char **)(void *)f);
        else if (rs_cfg_keys[i].type == KT_LIST)
            cfg_strlist_free((rs_strlist *)(void *)f);
    }
    if (cfg->admin.token) {
        explicit_bzero(cfg->admin.token, strlen(cfg->admin.token));
        free(cfg->admin.token);
    }
    free(cfg->config_path);
    cfg_strlist_free(&cfg->warnings);
    if (cfg->priv)
        free(cfg->priv->file);
    free(cfg->priv);
    free(cfg);
}

/* ------------------------------------------------------------------------------------------ */
/* helpers for users */

const char *rs_config_replica_url(const rs_config *cfg, const char *name)
{
    size_t nl = strlen(name);
    for (size_t j = 0; j < cfg->replicas.n; j++)
        if (strncmp(cfg->replicas.v[j], name, nl) == 0 && cfg->replicas.v[j][nl] == '=')
            return cfg->replicas.v[j] + nl + 1;
    return NULL;
}

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
    return (unsigned)v < 3 ? rs_cfg_on_local_choices[v] : "unknown";
}

/* ------------------------------------------------------------------------------------------ */
/* describe */
