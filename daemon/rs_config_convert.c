/* rs_config_convert.c: raw text -> typed fields of rs_config (durations, sizes, booleans, enums,
 * lists, paths resolved against the file). See rs_config.h. */

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

void cfg_fmt_dur(int64_t ms, char *out, size_t n)
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

char *cfg_join_path(const char *dir, const char *rel)
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

char *cfg_base_dir_for(ctx *c, const origin *o)
{
    if (o->src == SRC_FILE && c->file_dir)
        return strdup(c->file_dir);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return strdup("/");
    return strdup(cwd);
}

void cfg_choices_text(const char *const *ch, char *out, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; ch[i] && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, "%s%s", i ? ", " : "", ch[i]);
}

bool cfg_convert_one(ctx *c, rs_config *cfg, int i)
{
    const keydef *k = &rs_cfg_keys[i];
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
            char *base = cfg_base_dir_for(c, &r->o);
            *dst = base ? cfg_join_path(base, s) : NULL;
            free(base);
        } else {
            *dst = strdup(s);
        }
        return *dst != NULL;
    }
    case KT_DUR: {
        int64_t ms;
        if (rs_duration_parse_ms(s, &ms) != 0) {
            cfg_kproblem(c->ps, c->pv, i, "%s is not a duration (use 5s, 500ms, 1m)", cfg_q(s, qb, sizeof qb));
            return false;
        }
        char a[32], b[32];
        if (ms < k->min) {
            cfg_fmt_dur(ms, a, sizeof a);
            cfg_fmt_dur(k->min, b, sizeof b);
            cfg_kproblem(c->ps, c->pv, i, "%s is too short (minimum %s)", a, b);
            return false;
        }
        if (k->max && ms > k->max) {
            cfg_fmt_dur(ms, a, sizeof a);
            cfg_fmt_dur(k->max, b, sizeof b);
            cfg_kproblem(c->ps, c->pv, i, "%s is too long (maximum %s)", a, b);
            return false;
        }
        *(int64_t *)(void *)field = ms;
        return true;
    }
    case KT_BOOL: {
        bool b;
        if (parse_bool(s, &b)) {
            cfg_kproblem(c->ps, c->pv, i, "%s is not a boolean (use true or false)", cfg_q(s, qb, sizeof qb));
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
            cfg_kproblem(c->ps, c->pv, i, "%s is not %s", cfg_q(s, qb, sizeof qb),
                     k->type == KT_SIZE ? "a size in bytes (e.g. 1048576, 16KiB, 1MiB)" : "a whole number >= 0");
            return false;
        }
        if (v < (uint64_t)k->min) {
            cfg_kproblem(c->ps, c->pv, i, "%llu is too small (minimum %lld)", (unsigned long long)v, (long long)k->min);
            return false;
        }
        if (k->max && v > (uint64_t)k->max) {
            cfg_kproblem(c->ps, c->pv, i, "%llu is too large (maximum %lld)", (unsigned long long)v, (long long)k->max);
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
            cfg_kproblem(c->ps, c->pv, i, "%s is not a fraction between 0 (exclusive) and 1 (e.g. 0.5 or 50%%)", cfg_q(s, qb, sizeof qb));
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
        if (v < 0 && k->choices == rs_cfg_log_level_choices && strcmp(s, "warning") == 0)
            v = RS_LOG_WARN;
        if (v < 0) {
            char ch[200];
            cfg_choices_text(k->choices, ch, sizeof ch);
            const char *sug = cfg_suggest_choice(s, k->choices);
            if (sug)
                cfg_kproblem(c->ps, c->pv, i, "%s is not one of %s (did you mean %s?)", cfg_q(s, qb, sizeof qb), ch, sug);
            else
                cfg_kproblem(c->ps, c->pv, i, "%s is not one of %s", cfg_q(s, qb, sizeof qb), ch);
            return false;
        }
        *(int *)(void *)field = v; /* the enum fields are int-sized */
        return true;
    }
    case KT_LIST: {
        rs_strlist *dst = (rs_strlist *)(void *)field;
        cfg_strlist_free(dst);
        if (r->is_list) {
            for (size_t j = 0; j < r->list.n; j++)
                cfg_strlist_push(dst, r->list.v[j], strlen(r->list.v[j]));
        } else {
            cfg_split_list(s, dst);
        }
        return true;
    }
    }
    return false;
}
