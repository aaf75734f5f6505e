/* rs_config_impl.h: private to daemon/ (docs/architecture.md): what the pieces of the configuration
 * loader share: the key table and its types, where each value came from, the raw values of the
 * layers, and the helpers one piece defines for the others. The public interface is rs_config.h.
 * Nothing here is owned beyond the call: see each function. */
#ifndef RS_CONFIG_IMPL_H
#define RS_CONFIG_IMPL_H

#include "rs_config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

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

#define OFF(f) offsetof(rs_config, f)
#define DAY_MS 86400000LL

/* Every configuration key, by name: the index of its row in rs_cfg_keys. Code names a key as KEY_...,
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
    KEY_REPLICAS,
    KEY_READ_FROM,
    KEY_FAILOVER_AFTER,
    KEY_COUNT
} key_id;

#define NKEYS ((size_t)KEY_COUNT)


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

/* rs_config_keys.c */
extern const char *const rs_cfg_on_local_choices[];
extern const char *const rs_cfg_log_level_choices[];
extern const char *const rs_cfg_log_format_choices[];
extern const char *const rs_cfg_ignorable_fields[];
extern const keydef rs_cfg_keys[KEY_COUNT];
extern const char *const rs_cfg_sections[];
extern const char *const rs_cfg_reserved_env[];
int cfg_key_index(const char *key);
bool cfg_is_section(const char *key);
void cfg_env_name(const char *key, char *out, size_t n);
void cfg_where_of(const struct rs_config_priv *pv, const origin *o, char *out, size_t n);
char *cfg_xstrdup(const char *s);
void cfg_problem_add(rs_config_problems *ps, const char *key, const char *where, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void cfg_kproblem(rs_config_problems *ps, const struct rs_config_priv *pv, int i, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int cfg_problems_error(const rs_config_problems *ps, rs_error *err);
void cfg_warn_add(rs_strlist *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *cfg_q(const char *s, char *buf, size_t n);
size_t cfg_edit_distance(const char *a, const char *b);
size_t cfg_close_enough(const char *s);
const char *cfg_leaf_of(const char *key);
const char *cfg_suggest_key(const char *full);
const char *cfg_suggest_choice(const char *s, const char *const *choices);
void cfg_strlist_free(rs_strlist *l);
int cfg_strlist_push(rs_strlist *l, const char *s, size_t len);
void cfg_raw_clear(rawval *r);
void cfg_raw_set_scalar(rawval *r, const char *s, const origin *o);
void cfg_split_list(const char *s, rs_strlist *out);
/* rs_config_layers.c */
bool cfg_yaml_layer(ctx *c, const char *data, size_t len);
const char *cfg_env_lookup(char **env, const char *name);
void cfg_env_layer(ctx *c);
void cfg_override_layer(ctx *c, const char *const *ov, size_t n);
/* rs_config_convert.c */
void cfg_fmt_dur(int64_t ms, char *out, size_t n);
char *cfg_join_path(const char *dir, const char *rel);
char *cfg_base_dir_for(ctx *c, const origin *o);
void cfg_choices_text(const char *const *ch, char *out, size_t n);
bool cfg_convert_one(ctx *c, rs_config *cfg, int i);
/* rs_config_validate.c */
bool cfg_has_scheme(const char *s);
void cfg_resolve_token(rs_config *cfg, char **env, rs_config_problems *ps);
void cfg_validate(rs_config *cfg, rs_config_problems *ps);

#endif
