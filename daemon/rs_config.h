/* rs_config.h: the configuration of regsyncd.
 *
 * Layers, later ones win: built-in defaults < YAML file < environment (REGSYNC_<KEY>) < overrides
 * ("key.path=value", what `regsyncd --set key.path=value` passes through). The result is then
 * validated in full: every problem is reported with its key and where the value came from
 * ("regsync.yaml:7", "env REGSYNC_POLL_INTERVAL", "--set poll_interval"), all at once.
 *
 *   env name:   nested keys joined with '_', upper case: admin.listen -> REGSYNC_ADMIN_LISTEN
 *   lists:      a YAML sequence, or a comma list in env/overrides ("a,b" or "[a, b]")
 *   secrets:    never in the YAML file nor in overrides. The admin token comes from the file named
 *               by admin.token_file or from REGSYNC_ADMIN_TOKEN (which wins). Keys that look like
 *               secrets (admin.token, *password*, *secret*, ...) are refused with a hint; a URL in
 *               the YAML file with a password in it is refused too.
 *   paths:      relative paths (state_dir, token_file, tls_*, ca_bundle, a target given as a path)
 *               are resolved against the config file's directory when they come from the file,
 *               against the working directory otherwise. A target path becomes a file:// URL.
 * docs/configuration.md lists every key.
 *
 * Ownership: rs_config_load* return a config the caller frees with rs_config_free (which accepts
 * NULL); every pointer inside it is owned by the config. Problems are owned by the caller's
 * rs_config_problems (rs_config_problems_free). Strings returned by rs_config_describe,
 * rs_config_problems_text and rs_config_redact_url are malloc'd: the caller frees them.
 * Nothing here keeps global state; a reload simply calls rs_config_load again.
 */
#ifndef RS_CONFIG_H
#define RS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_error.h"
#include "rs_log.h"

typedef struct rs_strlist {
    char **v;
    size_t n;
} rs_strlist;

typedef enum rs_on_local_change {
    RS_ON_LOCAL_KEEP_REGIONAL_META = 0, /* keep regional meta fields, report other changes as drift */
    RS_ON_LOCAL_OVERWRITE = 1,          /* overwrite any local change with the global version */
    RS_ON_LOCAL_STOP = 2,               /* stop following and leave the local copy alone */
} rs_on_local_change;

typedef enum rs_log_format { RS_LOG_FORMAT_TEXT = 0, RS_LOG_FORMAT_JSON = 1 } rs_log_format;

struct rs_config_priv;

typedef struct rs_config {
    char *config_path;          /* the YAML file loaded; NULL when none */
    char *region;               /* [a-z0-9-]+ */
    char *instance;             /* [a-z0-9-]+, or "": $POD_NAME, else the host name */
    char *store;                /* global store URL: file://, s3://, postgresql:// (postgres://) */
    char *source;               /* key in the store or a URL (file, s3, postgresql, http(s)) */
    char *target;               /* regional copy: file:// URL or storage URL; "" when publish-only */
    char *state_dir;            /* absolute */
    int64_t poll_interval_ms;
    bool publish;
    struct {
        rs_strlist include_projects;   /* fnmatch(3) globs */
        rs_strlist exclude_projects;
    } filters;
    rs_on_local_change on_local_change;
    uint64_t snapshot_every;    /* versions */
    double max_delete_fraction; /* publishers: the destructive-change guard, (0, 1] */
    struct {
        uint64_t versions;      /* log entries kept at least */
        int64_t age_ms;         /* entries younger than this are kept too; 0: no age rule */
    } retention;
    struct {
        char *listen;           /* "host:port", "[v6]:port"; "" disables the admin API */
        char *token_file;       /* absolute, or "" */
        char *token;            /* the bearer token (from REGSYNC_ADMIN_TOKEN or token_file);
                                   NULL when none. Never print it. */
        char *tls_cert;         /* "" when TLS is off */
        char *tls_key;
        size_t max_body_bytes;
        size_t max_header_bytes;
        int64_t request_timeout_ms;
        bool auth_reads;        /* reads need the token too */
    } admin;
    int64_t heartbeat_interval_ms;
    int64_t max_staleness_ms;   /* readiness: last successful check not older than this */
    int64_t stale_after_ms;     /* an instance whose report stopped changing this long is stale */
    int64_t forget_after_ms;    /* ... and this long: its report is pruned */
    int64_t max_clock_skew_ms;  /* a report's clock this far off the store's gets a warning */
    struct {
        rs_log_level level;
        rs_log_format format;
    } log;
    struct {
        int64_t timeout_ms;
        int64_t connect_timeout_ms;
        int max_retries;
        char *ca_bundle;        /* "" for the system default */
    } store_options;
    char *publisher_id;         /* default "<hostname>/<pid>" */
    rs_strlist ignore_fields;   /* registry-level fields ignored when deciding "changed" */
    int fetch_concurrency;      /* log entries fetched in parallel by a follower */
    rs_strlist replicas;        /* "name=url" (YAML: a list of {name, url}); rs_config_replica_url */
    rs_strlist read_from;       /* store names ("primary", replica names); empty: primary, replicas */
    int64_t failover_after_ms;  /* failed polls this long: read from the next store */

    rs_strlist warnings;        /* non-fatal notes for the log (unknown REGSYNC_* variables, a
                                   token file readable by others, ...); never contain a secret */
    struct rs_config_priv *priv;  /* where each value came from; private */
} rs_config;

/* One problem: "<where>: <key>: <message>". */
typedef struct rs_config_problem {
    char *key;      /* dotted key ("admin.listen"); "" for the file as a whole */
    char *where;    /* "path:line", "env REGSYNC_X", "--set key"; "" for defaults */
    int line;       /* YAML line (1-based) or 0 */
    char *message;  /* the message without where/key */
    char *text;     /* the full line */
} rs_config_problem;

typedef struct rs_config_problems {
    rs_config_problem *v;
    size_t n;
} rs_config_problems;

/* Loads path (NULL: no file, only defaults/env/overrides), then env (NULL: the process
 * environment; otherwise a NULL-terminated "NAME=value" array), then overrides ("key.path=value").
 * Returns RS_OK and *out, or an error with *out = NULL: RS_EINVALID when there are problems (err
 * holds a multi-line message "invalid configuration (N problems):\n  <problem>\n..." cut to fit
 * RS_ERROR_MSG_MAX), RS_ENOTFOUND/RS_EIO when the file cannot be read, RS_ETOOBIG over 1 MiB. */
int rs_config_load(const char *path, char **env, const char *const *overrides, size_t n_overrides,
                   rs_config **out, rs_error *err);

/* Same, and every problem in *problems (zeroed first; free with rs_config_problems_free; may be
 * NULL). */
int rs_config_load_ex(const char *path, char **env, const char *const *overrides, size_t n_overrides,
                      rs_config **out, rs_config_problems *problems, rs_error *err);

/* Same from YAML text in memory; name labels problems ("<name>:<line>") and relative paths are
 * resolved against its directory. yaml may be NULL (no file). */
int rs_config_parse(const char *name, const char *yaml, size_t len, char **env,
                    const char *const *overrides, size_t n_overrides, rs_config **out,
                    rs_config_problems *problems, rs_error *err);

/* Re-validates a config whose fields the caller changed directly (flags mapped onto the struct).
 * Reads admin.token from admin.token_file when token is NULL. Same reporting as load. */
int rs_config_validate(rs_config *cfg, rs_config_problems *problems, rs_error *err);

void rs_config_free(rs_config *cfg);
void rs_config_problems_free(rs_config_problems *p);   /* frees the contents, zeroes; NULL ok */
/* Every problem's text, one per line. Caller frees. */
char *rs_config_problems_text(const rs_config_problems *p);

/* The effective configuration for `regsyncd check-config`: YAML-like text with the origin of
 * every non-default value as a comment, or JSON. The token shows as "<set>"/"<unset>", passwords
 * in URLs as "<redacted>". Caller frees; NULL on allocation failure. */
char *rs_config_describe(const rs_config *cfg, bool json);

/* An annotated example config with every key and its default. Static, borrowed. It loads as is. */
const char *rs_config_default_yaml(void);

/* Every dotted key, in documentation order. Static, borrowed. */
const char *const *rs_config_keys(size_t *n);

/* The URL of the replica called name; NULL when there is none. Borrowed. */
const char *rs_config_replica_url(const rs_config *cfg, const char *name);

/* true when project passes filters.include_projects and not filters.exclude_projects. */
bool rs_config_project_allowed(const rs_config *cfg, const char *project);

/* Splits "host:port" / "[v6]:port" / ":port". host gets "" for all interfaces. 0 or -1. */
int rs_config_split_listen(const char *listen, char *host, size_t host_len, int *port);
/* true when listen binds only a loopback address (127.0.0.0/8, ::1, localhost). */
bool rs_config_listen_is_loopback(const char *listen);

/* The URL with the userinfo password and secret-looking query values replaced by "<redacted>".
 * Caller frees; NULL on allocation failure or NULL input. */
char *rs_config_redact_url(const char *url);

const char *rs_on_local_change_name(rs_on_local_change v);

#endif
