/* test_config.c: the regsyncd configuration loader (daemon/rs_config.h). */
#include "rs_buf.h"
#include "rs_config.h"
#include "rs_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmp;

static char *write_cfg(const char *name, const char *text)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    CU_ASSERT_FATAL(rs_test_write_file(path, text, strlen(text)) == 0);
    return path;
}

static char *noenv[] = {NULL};

/* the required keys, with state_dir inside tmp */
static const char *minimal(void)
{
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "region: eu-central-1\n"
             "store: s3://bucket/feast?region=us-east-1\n"
             "target: file:///var/lib/feast/registry.db\n"
             "state_dir: %s/state\n",
             tmp);
    return buf;
}

static bool has_problem(const rs_config_problems *ps, const char *key, const char *needle)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->v[i].key, key) == 0 && (!needle || strstr(ps->v[i].text, needle)))
            return true;
    return false;
}

/* the YAML line of the first problem about key; -1 when there is no such problem (so that an
 * assert on the line fails when the problem is missing, instead of passing vacuously) */
static int problem_line(const rs_config_problems *ps, const char *key)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->v[i].key, key) == 0)
            return ps->v[i].line;
    return -1;
}

static void dump(const rs_config_problems *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        fprintf(stderr, "  problem: %s\n", ps->v[i].text);
}

static void test_defaults(void)
{
    char *p = write_cfg("min.yaml", minimal());
    rs_config *c = NULL;
    rs_error e;
    int rc = rs_config_load(p, noenv, NULL, 0, &c, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    CU_ASSERT_FATAL(rc == RS_OK);
    CU_ASSERT_STRING_EQUAL(c->region, "eu-central-1");
    CU_ASSERT_STRING_EQUAL(c->source, "registry.db");
    CU_ASSERT_EQUAL(c->poll_interval_ms, 5000);
    CU_ASSERT_FALSE(c->publish);
    CU_ASSERT_EQUAL(c->filters.include_projects.n, 1);
    CU_ASSERT_STRING_EQUAL(c->filters.include_projects.v[0], "*");
    CU_ASSERT_EQUAL(c->filters.exclude_projects.n, 0);
    CU_ASSERT_EQUAL(c->on_local_change, RS_ON_LOCAL_KEEP_REGIONAL_META);
    CU_ASSERT_EQUAL(c->snapshot_every, 100);
    CU_ASSERT_EQUAL(c->retention.versions, 1000);
    CU_ASSERT_EQUAL(c->retention.age_ms, 7LL * 86400000);
    CU_ASSERT_STRING_EQUAL(c->admin.listen, "127.0.0.1:8470");
    CU_ASSERT_STRING_EQUAL(c->admin.token_file, "");
    CU_ASSERT_PTR_NULL(c->admin.token);
    CU_ASSERT_EQUAL(c->admin.max_body_bytes, 1048576);
    CU_ASSERT_EQUAL(c->admin.max_header_bytes, 16384);
    CU_ASSERT_EQUAL(c->admin.request_timeout_ms, 10000);
    CU_ASSERT_EQUAL(c->heartbeat_interval_ms, 30000);
    CU_ASSERT_EQUAL(c->max_staleness_ms, 300000);
    CU_ASSERT_EQUAL(c->stale_after_ms, 120000);
    CU_ASSERT_EQUAL(c->log.level, RS_LOG_INFO);
    CU_ASSERT_EQUAL(c->log.format, RS_LOG_FORMAT_TEXT);
    CU_ASSERT_EQUAL(c->store_options.timeout_ms, 60000);
    CU_ASSERT_EQUAL(c->store_options.connect_timeout_ms, 5000);
    CU_ASSERT_EQUAL(c->store_options.max_retries, 4);
    CU_ASSERT_STRING_EQUAL(c->store_options.ca_bundle, "");
    CU_ASSERT_PTR_NOT_NULL(strchr(c->publisher_id, '/')); /* host/pid */
    CU_ASSERT_EQUAL(c->ignore_fields.n, 2);
    CU_ASSERT_STRING_EQUAL(c->ignore_fields.v[0], "version_id");
    CU_ASSERT_STRING_EQUAL(c->ignore_fields.v[1], "last_updated");
    CU_ASSERT_EQUAL(c->fetch_concurrency, 4);
    CU_ASSERT_STRING_EQUAL(c->config_path, p);
    rs_config_free(c);
    rs_config_free(NULL);
}

static void test_every_key(void)
{
    char certp[4200], keyp[4200], cap[4200], tokp[4200];
    snprintf(certp, sizeof certp, "%s/cert.pem", tmp);
    snprintf(keyp, sizeof keyp, "%s/key.pem", tmp);
    snprintf(cap, sizeof cap, "%s/ca.pem", tmp);
    snprintf(tokp, sizeof tokp, "%s/token", tmp);
    rs_test_write_file(certp, "c", 1);
    rs_test_write_file(keyp, "k", 1);
    rs_test_write_file(cap, "a", 1);
    rs_test_write_file(tokp, "s3cr3t-token-abcdefgh\n", 22);
    chmod(tokp, 0600);
    char y[12000];
    snprintf(y, sizeof y,
             "region: us-west-2\n"
             "store: postgresql://feast@db.internal:5432/feast?sslmode=require\n"
             "source: https://example.com/registry.db\n"
             "target: s3://regional-bucket/feast\n"
             "state_dir: state\n" /* relative: against the file's directory */
             "poll_interval: 750ms\n"
             "publish: yes\n"
             "filters: { include_projects: [\"team_*\", ads], exclude_projects: [\"*_test\"] }\n"
             "on_local_change: stop\n"
             "snapshot_every: 7\n"
             "retention: { versions: 20, age: 36h }\n"
             "admin:\n"
             "  listen: \"0.0.0.0:9000\"\n"
             "  token_file: token\n"
             "  tls_cert: cert.pem\n"
             "  tls_key: %s\n"
             "  max_body_bytes: 2MiB\n"
             "  max_header_bytes: 8192\n"
             "  request_timeout: 3s\n"
             "heartbeat_interval: 10s\n"
             "max_staleness: 1m\n"
             "stale_after: 45s\n"
             "log: { level: debug, format: json }\n"
             "store_options: { timeout: 2m, connect_timeout: 1s, max_retries: 0, ca_bundle: ca.pem }\n"
             "publisher_id: ci-runner-1\n"
             "ignore_fields: [version_id, last_updated, infra]\n"
             "fetch_concurrency: 16\n",
             keyp);
    char *p = write_cfg("all.yaml", y);
    rs_config *c = NULL;
    rs_config_problems ps;
    int rc = rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, NULL);
    dump(&ps);
    CU_ASSERT_FATAL(rc == RS_OK);
    char exp[4300];
    CU_ASSERT_STRING_EQUAL(c->region, "us-west-2");
    CU_ASSERT_STRING_EQUAL(c->store, "postgresql://feast@db.internal:5432/feast?sslmode=require");
    CU_ASSERT_STRING_EQUAL(c->source, "https://example.com/registry.db");
    CU_ASSERT_STRING_EQUAL(c->target, "s3://regional-bucket/feast");
    snprintf(exp, sizeof exp, "%s/state", tmp);
    CU_ASSERT_STRING_EQUAL(c->state_dir, exp);
    CU_ASSERT_EQUAL(c->poll_interval_ms, 750);
    CU_ASSERT_TRUE(c->publish);
    CU_ASSERT_EQUAL_FATAL(c->filters.include_projects.n, 2);
    CU_ASSERT_STRING_EQUAL(c->filters.include_projects.v[0], "team_*");
    CU_ASSERT_STRING_EQUAL(c->filters.include_projects.v[1], "ads");
    CU_ASSERT_EQUAL_FATAL(c->filters.exclude_projects.n, 1);
    CU_ASSERT_STRING_EQUAL(c->filters.exclude_projects.v[0], "*_test");
    CU_ASSERT_EQUAL(c->on_local_change, RS_ON_LOCAL_STOP);
    CU_ASSERT_EQUAL(c->snapshot_every, 7);
    CU_ASSERT_EQUAL(c->retention.versions, 20);
    CU_ASSERT_EQUAL(c->retention.age_ms, 36LL * 3600000);
    CU_ASSERT_STRING_EQUAL(c->admin.listen, "0.0.0.0:9000");
    CU_ASSERT_STRING_EQUAL(c->admin.token_file, tokp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->admin.token);
    CU_ASSERT_STRING_EQUAL(c->admin.token, "s3cr3t-token-abcdefgh");
    CU_ASSERT_STRING_EQUAL(c->admin.tls_cert, certp);
    CU_ASSERT_STRING_EQUAL(c->admin.tls_key, keyp);
    CU_ASSERT_EQUAL(c->admin.max_body_bytes, 2u << 20);
    CU_ASSERT_EQUAL(c->admin.max_header_bytes, 8192);
    CU_ASSERT_EQUAL(c->admin.request_timeout_ms, 3000);
    CU_ASSERT_EQUAL(c->heartbeat_interval_ms, 10000);
    CU_ASSERT_EQUAL(c->max_staleness_ms, 60000);
    CU_ASSERT_EQUAL(c->stale_after_ms, 45000);
    CU_ASSERT_EQUAL(c->log.level, RS_LOG_DEBUG);
    CU_ASSERT_EQUAL(c->log.format, RS_LOG_FORMAT_JSON);
    CU_ASSERT_EQUAL(c->store_options.timeout_ms, 120000);
    CU_ASSERT_EQUAL(c->store_options.connect_timeout_ms, 1000);
    CU_ASSERT_EQUAL(c->store_options.max_retries, 0);
    CU_ASSERT_STRING_EQUAL(c->store_options.ca_bundle, cap);
    CU_ASSERT_STRING_EQUAL(c->publisher_id, "ci-runner-1");
    CU_ASSERT_EQUAL_FATAL(c->ignore_fields.n, 3);
    CU_ASSERT_STRING_EQUAL(c->ignore_fields.v[2], "infra");
    CU_ASSERT_EQUAL(c->fetch_concurrency, 16);

    /* describe: the token never shows, origins do */
    char *t = rs_config_describe(c, false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_PTR_NULL(strstr(t, "s3cr3t"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "token: <set>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "poll_interval: 750ms"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "all.yaml:6"));
    free(t);
    char *j = rs_config_describe(c, true);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_PTR_NULL(strstr(j, "s3cr3t"));
    json_error_t je;
    json_t *root = json_loads(j, 0, &je);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(root, "admin"), "token")), "<set>");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(root, "poll_interval")), "750ms");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(root, "snapshot_every")), 7);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(json_object_get(root, "filters"), "include_projects")), 2);
    json_decref(root);
    free(j);
    rs_config_problems_free(&ps);
    rs_config_free(c);
}

static void test_env_precedence(void)
{
    char *p = write_cfg("env.yaml", minimal());
    char *env[] = {"REGSYNC_POLL_INTERVAL=7s",
                   "REGSYNC_ADMIN_LISTEN=127.0.0.2:9999",
                   "REGSYNC_FILTERS_INCLUDE_PROJECTS=a, b*,c",
                   "REGSYNC_PUBLISH=true",
                   "REGSYNC_LOG_LEVEL=", /* empty: ignored */
                   "REGSYNC_SOMETHING_ELSE_ENTIRELY=1", /* not ours: a warning */
                   "HOME=/root",
                   NULL};
    rs_config *c = NULL;
    rs_error e;
    int rc = rs_config_load(p, env, NULL, 0, &c, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    CU_ASSERT_FATAL(rc == RS_OK);
    CU_ASSERT_EQUAL(c->poll_interval_ms, 7000);
    CU_ASSERT_STRING_EQUAL(c->admin.listen, "127.0.0.2:9999");
    CU_ASSERT_EQUAL_FATAL(c->filters.include_projects.n, 3);
    CU_ASSERT_STRING_EQUAL(c->filters.include_projects.v[0], "a");
    CU_ASSERT_STRING_EQUAL(c->filters.include_projects.v[1], "b*");
    CU_ASSERT_STRING_EQUAL(c->filters.include_projects.v[2], "c");
    CU_ASSERT_TRUE(c->publish);
    CU_ASSERT_EQUAL(c->log.level, RS_LOG_INFO);
    CU_ASSERT_EQUAL(c->warnings.n, 1);
    char *t = rs_config_describe(c, false);
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "# env REGSYNC_POLL_INTERVAL"));
    free(t);
    rs_config_free(c);

    /* env can fix a bad file value: only the final value is checked */
    char y[1200];
    snprintf(y, sizeof y, "%spoll_interval: fast\n", minimal());
    p = write_cfg("envfix.yaml", y);
    char *env2[] = {"REGSYNC_POLL_INTERVAL=2s", NULL};
    CU_ASSERT_EQUAL(rs_config_load(p, env2, NULL, 0, &c, NULL), RS_OK);
    CU_ASSERT_EQUAL(c ? c->poll_interval_ms : 0, 2000);
    rs_config_free(c);

    /* no file at all: env only */
    char sd[4200];
    snprintf(sd, sizeof sd, "REGSYNC_STATE_DIR=%s/st", tmp);
    char *env3[] = {"REGSYNC_REGION=ap-south-1", "REGSYNC_STORE=file:///tmp/global", sd, "REGSYNC_TARGET=/tmp/x/registry.db", NULL};
    CU_ASSERT_EQUAL(rs_config_load(NULL, env3, NULL, 0, &c, &e), RS_OK);
    CU_ASSERT_STRING_EQUAL(c ? c->target : "", "file:///tmp/x/registry.db");
    CU_ASSERT_PTR_NULL(c ? c->config_path : "x");
    rs_config_free(c);
}

static void test_flag_precedence(void)
{
    char y[1200];
    snprintf(y, sizeof y, "%spoll_interval: 5s\nlog: {level: warn}\n", minimal());
    char *p = write_cfg("flags.yaml", y);
    char *env[] = {"REGSYNC_POLL_INTERVAL=7s", "REGSYNC_LOG_LEVEL=error", NULL};
    const char *ov[] = {"poll_interval=9s", "filters.exclude_projects=[x, \"y\"]", "on_local_change=overwrite",
                        "admin.max_body_bytes=64k"};
    rs_config *c = NULL;
    rs_error e;
    int rc = rs_config_load(p, env, ov, 4, &c, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    CU_ASSERT_FATAL(rc == RS_OK);
    CU_ASSERT_EQUAL(c->poll_interval_ms, 9000);          /* flag > env > file */
    CU_ASSERT_EQUAL(c->log.level, RS_LOG_ERROR);         /* env > file */
    CU_ASSERT_EQUAL_FATAL(c->filters.exclude_projects.n, 2);
    CU_ASSERT_STRING_EQUAL(c->filters.exclude_projects.v[1], "y");
    CU_ASSERT_EQUAL(c->on_local_change, RS_ON_LOCAL_OVERWRITE);
    CU_ASSERT_EQUAL(c->admin.max_body_bytes, 65536);

    /* fields changed directly, then validated again */
    c->poll_interval_ms = 10;
    rs_config_problems ps;
    CU_ASSERT_EQUAL(rs_config_validate(c, &ps, &e), RS_OK); /* duration minimums are load-time range checks */
    rs_config_problems_free(&ps);
    free(c->region);
    c->region = strdup("Bad Region");
    CU_ASSERT_EQUAL(rs_config_validate(c, &ps, &e), RS_EINVALID);
    CU_ASSERT(has_problem(&ps, "region", "[a-z0-9-]+"));
    rs_config_problems_free(&ps);
    rs_config_free(c);
}

static void test_every_problem_listed(void)
{
    const char *y = "# five problems\n"
                    "store: s3://bucket/feast\n"
                    "poll_interval: fast\n"            /* line 3 */
                    "on_local_change: keep-meta\n"     /* line 4 */
                    "snapshot_every: 0\n"              /* line 5 */
                    "publish: maybe\n";                /* line 6 */
    char *p = write_cfg("five.yaml", y);
    char sd[4200];
    snprintf(sd, sizeof sd, "REGSYNC_STATE_DIR=%s", tmp);
    char *env[] = {sd, "REGSYNC_TARGET=/tmp/t.db", NULL};
    rs_config *c = (rs_config *)1;
    rs_config_problems ps;
    rs_error e;
    int rc = rs_config_load_ex(p, env, NULL, 0, &c, &ps, &e);
    dump(&ps);
    CU_ASSERT_EQUAL(rc, RS_EINVALID);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_EQUAL(ps.n, 5);
    CU_ASSERT(has_problem(&ps, "region", "region: required"));
    CU_ASSERT(has_problem(&ps, "poll_interval", "five.yaml:3: poll_interval: \"fast\" is not a duration (use 5s, 500ms, 1m)"));
    CU_ASSERT(has_problem(&ps, "on_local_change", "five.yaml:4"));
    CU_ASSERT(has_problem(&ps, "snapshot_every", "five.yaml:5"));
    CU_ASSERT(has_problem(&ps, "publish", "five.yaml:6"));
    CU_ASSERT_EQUAL(problem_line(&ps, "poll_interval"), 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "5 problems"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "region: required"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "\n"));
    char *all = rs_config_problems_text(&ps);
    int lines = 0;
    for (char *x = all; *x; x++)
        lines += *x == '\n';
    CU_ASSERT_EQUAL(lines, 5);
    free(all);
    rs_config_problems_free(&ps);
    rs_config_problems_free(NULL);

    /* relations and more checks */
    char y2[1500];
    snprintf(y2, sizeof y2,
             "%sstale_after: 10s\nheartbeat_interval: 30s\nmax_staleness: 2s\npoll_interval: 5s\n"
             "store_options: {timeout: 1s, connect_timeout: 5s}\nignore_fields: [version_ids]\n"
             "admin: {tls_cert: /nonexistent/cert.pem, listen: \"localhost\"}\nregion: EU_1\n",
             "store: ftp://x\ntarget: file:///t.db\nstate_dir: /tmp\n");
    p = write_cfg("rel.yaml", y2);
    rc = rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, NULL);
    dump(&ps);
    CU_ASSERT_EQUAL(rc, RS_EINVALID);
    CU_ASSERT(has_problem(&ps, "stale_after", "heartbeat_interval"));
    CU_ASSERT(has_problem(&ps, "max_staleness", "poll_interval"));
    CU_ASSERT(has_problem(&ps, "store_options.connect_timeout", NULL));
    CU_ASSERT(has_problem(&ps, "ignore_fields", "did you mean version_id"));
    CU_ASSERT(has_problem(&ps, "admin.tls_key", "required"));
    CU_ASSERT(has_problem(&ps, "admin.tls_cert", "/nonexistent/cert.pem"));
    CU_ASSERT(has_problem(&ps, "admin.listen", "host:port"));
    CU_ASSERT(has_problem(&ps, "region", "[a-z0-9-]+"));
    CU_ASSERT(has_problem(&ps, "store", "unsupported scheme"));
    rs_config_problems_free(&ps);
}

static void test_yaml_syntax_error(void)
{
    const char *y = "region: eu-central-1\n"
                    "store: s3://b\n"
                    "filters:\n"
                    "  include_projects: [a, b\n"
                    "state_dir: /tmp\n";
    char *p = write_cfg("syntax.yaml", y);
    rs_config *c = NULL;
    rs_config_problems ps;
    rs_error e;
    int rc = rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, &e);
    dump(&ps);
    CU_ASSERT_EQUAL(rc, RS_EINVALID);
    CU_ASSERT_EQUAL_FATAL(ps.n, 1); /* only the syntax error, not a cascade */
    CU_ASSERT_PTR_NOT_NULL(strstr(ps.v[0].text, "syntax.yaml:5"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ps.v[0].text, "YAML syntax error"));
    CU_ASSERT_EQUAL(ps.v[0].line, 5);
    rs_config_problems_free(&ps);

    /* tab indentation, error on line 2 */
    p = write_cfg("tab.yaml", "admin:\n\tlisten: x\n");
    rc = rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, NULL);
    CU_ASSERT_EQUAL(rc, RS_EINVALID);
    CU_ASSERT(ps.n == 1 && ps.v[0].line == 2);
    dump(&ps);
    rs_config_problems_free(&ps);

    /* structure problems */
    char y2[1500];
    snprintf(y2, sizeof y2, "%sregion: us-east-1\nadmin: 5\nfilters: {include_projects: {a: b}}\n"
                            "poll_interval: [1s]\n---\nregion: x\n", minimal());
    p = write_cfg("struct.yaml", y2);
    rc = rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, NULL);
    dump(&ps);
    CU_ASSERT_EQUAL(rc, RS_EINVALID);
    CU_ASSERT(has_problem(&ps, "region", "duplicate key (first set on line 1)"));
    CU_ASSERT(has_problem(&ps, "admin", "must be a mapping"));
    CU_ASSERT(has_problem(&ps, "filters.include_projects", "not a mapping"));
    CU_ASSERT(has_problem(&ps, "poll_interval", "not a list"));
    CU_ASSERT(has_problem(&ps, "", "more than one YAML document"));
    rs_config_problems_free(&ps);

    /* not a mapping at all; missing file */
    p = write_cfg("list.yaml", "- a\n- b\n");
    CU_ASSERT_EQUAL(rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, NULL), RS_EINVALID);
    CU_ASSERT(has_problem(&ps, "", "must be a mapping"));
    rs_config_problems_free(&ps);
    CU_ASSERT_EQUAL(rs_config_load("/nonexistent/regsync.yaml", noenv, NULL, 0, &c, &e), RS_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "/nonexistent/regsync.yaml"));
}

static void test_unknown_keys(void)
{
    char y[1500];
    snprintf(y, sizeof y, "%spoll_intervall: 5s\nadmin: {listn: \"127.0.0.1:1\"}\nlisten: x\ncompletely_unrelated: 1\nRegion: x\n", minimal());
    char *p = write_cfg("unknown.yaml", y);
    rs_config *c = NULL;
    rs_config_problems ps;
    const char *ov[] = {"snapshot_evry=5", "filters=x", "noequals"};
    char *env[] = {"REGSYNC_POLL_INTERVALL=5s", NULL};
    int rc = rs_config_load_ex(p, env, ov, 3, &c, &ps, NULL);
    dump(&ps);
    CU_ASSERT_EQUAL(rc, RS_EINVALID);
    CU_ASSERT(has_problem(&ps, "poll_intervall", "did you mean poll_interval?"));
    CU_ASSERT(has_problem(&ps, "admin.listn", "did you mean admin.listen?"));
    CU_ASSERT(has_problem(&ps, "listen", "did you mean admin.listen?"));
    CU_ASSERT(has_problem(&ps, "completely_unrelated", "unknown key"));
    CU_ASSERT(has_problem(&ps, "Region", "did you mean region?"));
    CU_ASSERT(has_problem(&ps, "snapshot_evry", "--set: snapshot_evry: unknown key (did you mean snapshot_every?)"));
    CU_ASSERT(has_problem(&ps, "filters", "section"));
    CU_ASSERT(has_problem(&ps, "noequals", "key.path=value"));
    CU_ASSERT(has_problem(&ps, "", "env REGSYNC_POLL_INTERVALL: unknown variable (did you mean REGSYNC_POLL_INTERVAL?)"));
    /* the unknown key is named with its file and line (poll_intervall is on line 5) */
    CU_ASSERT(has_problem(&ps, "poll_intervall", "unknown.yaml:5: poll_intervall"));
    CU_ASSERT_EQUAL(problem_line(&ps, "poll_intervall"), 5);
    rs_config_problems_free(&ps);
}

static void test_secrets_refused(void)
{
    char y[1500];
    snprintf(y, sizeof y, "%sadmin: {token: hunter2}\nstore_options: {secret_access_key: abc}\n", minimal());
    char *p = write_cfg("secret.yaml", y);
    rs_config *c = NULL;
    rs_config_problems ps;
    rs_error e;
    int rc = rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, &e);
    dump(&ps);
    CU_ASSERT_EQUAL(rc, RS_EINVALID);
    CU_ASSERT(has_problem(&ps, "admin.token", "token_file"));
    CU_ASSERT(has_problem(&ps, "admin.token", "REGSYNC_ADMIN_TOKEN"));
    CU_ASSERT(has_problem(&ps, "store_options.secret_access_key", "secrets are not accepted"));
    for (size_t i = 0; i < ps.n; i++)
        CU_ASSERT_PTR_NULL(strstr(ps.v[i].text, "hunter2"));
    CU_ASSERT_PTR_NULL(strstr(e.msg, "hunter2"));
    rs_config_problems_free(&ps);

    /* on the command line */
    const char *ov[] = {"admin.token=hunter2"};
    p = write_cfg("ok.yaml", minimal());
    CU_ASSERT_EQUAL(rs_config_load_ex(p, noenv, ov, 1, &c, &ps, NULL), RS_EINVALID);
    CU_ASSERT(has_problem(&ps, "admin.token", "command line"));
    rs_config_problems_free(&ps);

    /* a password in a URL in the file */
    snprintf(y, sizeof y, "region: r1\nstate_dir: /tmp\ntarget: /tmp/t.db\nstore: postgresql://feast:hunter2@db/feast\n");
    p = write_cfg("pw.yaml", y);
    CU_ASSERT_EQUAL(rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, NULL), RS_EINVALID);
    dump(&ps);
    CU_ASSERT(has_problem(&ps, "store", "password"));
    for (size_t i = 0; i < ps.n; i++)
        CU_ASSERT_PTR_NULL(strstr(ps.v[i].text, "hunter2"));
    rs_config_problems_free(&ps);

    /* ... but the environment may carry it, and describe redacts it */
    char *env[] = {"REGSYNC_STORE=postgresql://feast:hunter2@db/feast?sslmode=require&password=x2", NULL};
    CU_ASSERT_EQUAL_FATAL(rs_config_load_ex(p, env, NULL, 0, &c, &ps, NULL), RS_OK);
    char *t = rs_config_describe(c, false);
    CU_ASSERT_PTR_NULL(strstr(t, "hunter2"));
    CU_ASSERT_PTR_NULL(strstr(t, "x2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "postgresql://feast:<redacted>@db/feast?sslmode=require&password=<redacted>"));
    free(t);
    rs_config_problems_free(&ps);
    rs_config_free(c);

    char *r = rs_config_redact_url("s3://b/p?region=us-east-1&X-Amz-Signature=abc&sse_kms_key_id=k1#frag");
    CU_ASSERT_STRING_EQUAL(r, "s3://b/p?region=us-east-1&X-Amz-Signature=<redacted>&sse_kms_key_id=k1#frag");
    free(r);
    r = rs_config_redact_url("file:///var/lib/x");
    CU_ASSERT_STRING_EQUAL(r, "file:///var/lib/x");
    free(r);
    CU_ASSERT_PTR_NULL(rs_config_redact_url(NULL));
}

static void test_token_rule(void)
{
    char y[6000];
    rs_config *c = NULL;
    rs_config_problems ps;
    /* non-loopback without a token */
    snprintf(y, sizeof y, "%sadmin: {listen: \"0.0.0.0:8470\"}\n", minimal());
    char *p = write_cfg("tok.yaml", y);
    CU_ASSERT_EQUAL(rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, NULL), RS_EINVALID);
    dump(&ps);
    CU_ASSERT(has_problem(&ps, "admin.listen", "tok.yaml:5: admin.listen: \"0.0.0.0:8470\" is not a loopback address"));
    rs_config_problems_free(&ps);
    /* ... with the token in the environment */
    char *env[] = {"REGSYNC_ADMIN_TOKEN=env-token-0123456789abcdef", NULL};
    CU_ASSERT_EQUAL_FATAL(rs_config_load_ex(p, env, NULL, 0, &c, &ps, NULL), RS_OK);
    CU_ASSERT_STRING_EQUAL(c->admin.token, "env-token-0123456789abcdef");
    char *t = rs_config_describe(c, false);
    CU_ASSERT_PTR_NULL(strstr(t, "env-token"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "token: <set>"));
    free(t);
    t = rs_config_describe(c, true);
    CU_ASSERT_PTR_NULL(strstr(t, "env-token"));
    free(t);
    rs_config_free(c);
    /* ... with a token file; a missing or empty one is a problem */
    char tf[4200];
    snprintf(tf, sizeof tf, "%s/tok", tmp);
    rs_test_write_file(tf, "file-token-0123456789\r\n", 23);
    chmod(tf, 0644);
    snprintf(y, sizeof y, "%sadmin: {listen: \"[::]:8470\", token_file: %s}\n", minimal(), tf);
    p = write_cfg("tok2.yaml", y);
    CU_ASSERT_EQUAL_FATAL(rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, NULL), RS_OK);
    CU_ASSERT_STRING_EQUAL(c->admin.token, "file-token-0123456789");
    CU_ASSERT(c->warnings.n == 1 && strstr(c->warnings.v[0], "chmod 600"));
    rs_config_free(c);
    /* REGSYNC_ADMIN_TOKEN_FILE (the environment spelling of admin.token_file) names it too */
    char tenv[4300];
    snprintf(tenv, sizeof tenv, "REGSYNC_ADMIN_TOKEN_FILE=%s", tf);
    char *fenv[] = {tenv, NULL};
    snprintf(y, sizeof y, "%sadmin: {listen: \"[::]:8470\"}\n", minimal());
    const char *p3 = write_cfg("tok3.yaml", y);
    CU_ASSERT_EQUAL_FATAL(rs_config_load_ex(p3, fenv, NULL, 0, &c, &ps, NULL), RS_OK);
    CU_ASSERT_STRING_EQUAL(c->admin.token, "file-token-0123456789");
    rs_config_free(c);
    snprintf(y, sizeof y, "%sadmin: {listen: \"[::]:8470\", token_file: %s}\n", minimal(), tf);
    p = write_cfg("tok2.yaml", y); /* write_cfg's buffer is shared: p points at tok2.yaml again */
    /* a secret another user made readable to us (a Docker secret, a Kubernetes Secret volume) is
     * not our file to chmod: no warning */
    if (geteuid() == 0 && chown(tf, 10001, 10001) == 0) {
        CU_ASSERT_EQUAL_FATAL(rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, NULL), RS_OK);
        CU_ASSERT_STRING_EQUAL(c->admin.token, "file-token-0123456789");
        CU_ASSERT_EQUAL(c->warnings.n, 0);
        rs_config_free(c);
        CU_ASSERT_EQUAL(chown(tf, 0, 0), 0);
    } else {
        rs_test_skip_env("token_file owned by another user", "needs root (to chown the file)");
    }
    CU_ASSERT_EQUAL(rs_test_write_file(tf, "\n", 1), 0);
    CU_ASSERT_EQUAL(rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, NULL), RS_EINVALID);
    CU_ASSERT(has_problem(&ps, "admin.token_file", "is empty"));
    rs_config_problems_free(&ps);
    const char *ov[] = {"admin.token_file=/nonexistent/token"};
    CU_ASSERT_EQUAL(rs_config_load_ex(p, noenv, ov, 1, &c, &ps, NULL), RS_EINVALID);
    CU_ASSERT(has_problem(&ps, "admin.token_file", "--set: admin.token_file: /nonexistent/token"));
    rs_config_problems_free(&ps);
    /* loopback needs no token */
    const char *loop[] = {"127.0.0.1:1", "127.1.2.3:8470", "[::1]:8470", "localhost:0"};
    for (int i = 0; i < 4; i++) {
        char ovb[64];
        snprintf(ovb, sizeof ovb, "admin.listen=%s", loop[i]);
        const char *o1[] = {ovb};
        p = write_cfg("loop.yaml", minimal());
        CU_ASSERT_EQUAL(rs_config_load_ex(p, noenv, o1, 1, &c, &ps, NULL), RS_OK);
        CU_ASSERT_TRUE(rs_config_listen_is_loopback(loop[i]));
        rs_config_free(c);
    }
    CU_ASSERT_FALSE(rs_config_listen_is_loopback(":8470"));
    CU_ASSERT_FALSE(rs_config_listen_is_loopback("10.0.0.1:8470"));
    CU_ASSERT_FALSE(rs_config_listen_is_loopback("myhost:8470"));
    CU_ASSERT_FALSE(rs_config_listen_is_loopback("::1:8470")); /* unbracketed v6: invalid */
    char host[64];
    int port;
    CU_ASSERT_EQUAL(rs_config_split_listen("[fe80::1]:80", host, sizeof host, &port), 0);
    CU_ASSERT_STRING_EQUAL(host, "fe80::1");
    CU_ASSERT_EQUAL(port, 80);
    CU_ASSERT_EQUAL(rs_config_split_listen("h:70000", host, sizeof host, &port), -1);
    /* an empty listen disables the API: no token needed */
    const char *off[] = {"admin.listen="};
    CU_ASSERT_EQUAL(rs_config_load_ex(p, noenv, off, 1, &c, &ps, NULL), RS_OK);
    CU_ASSERT_STRING_EQUAL(c ? c->admin.listen : "x", "");
    rs_config_free(c);
}

static void test_globs(void)
{
    char y[1500];
    snprintf(y, sizeof y, "%sfilters:\n  include_projects: [\"team_*\", \"ads\", \"proj_[ab]\"]\n  exclude_projects: [\"*_test\"]\n", minimal());
    char *p = write_cfg("glob.yaml", y);
    rs_config *c = NULL;
    CU_ASSERT_EQUAL_FATAL(rs_config_load(p, noenv, NULL, 0, &c, NULL), RS_OK);
    CU_ASSERT_TRUE(rs_config_project_allowed(c, "team_a"));
    CU_ASSERT_TRUE(rs_config_project_allowed(c, "ads"));
    CU_ASSERT_TRUE(rs_config_project_allowed(c, "proj_b"));
    CU_ASSERT_FALSE(rs_config_project_allowed(c, "proj_c"));
    CU_ASSERT_FALSE(rs_config_project_allowed(c, "team_a_test"));
    CU_ASSERT_FALSE(rs_config_project_allowed(c, "other"));
    CU_ASSERT_FALSE(rs_config_project_allowed(NULL, "ads"));
    rs_config_free(c);
    /* bad globs and an empty include list */
    snprintf(y, sizeof y, "%sfilters: {include_projects: [], exclude_projects: [\"[abc\", \"\"]}\n", minimal());
    p = write_cfg("badglob.yaml", y);
    rs_config_problems ps;
    CU_ASSERT_EQUAL(rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, NULL), RS_EINVALID);
    dump(&ps);
    CU_ASSERT(has_problem(&ps, "filters.include_projects", "exclude every project"));
    CU_ASSERT(has_problem(&ps, "filters.exclude_projects", "\"[abc\""));
    CU_ASSERT(has_problem(&ps, "filters.exclude_projects", "\"\""));
    rs_config_problems_free(&ps);
}

static void test_default_yaml_and_docs(void)
{
    const char *d = rs_config_default_yaml();
    char *p = write_cfg("default.yaml", d);
    rs_config *c = NULL;
    rs_error e;
    int rc = rs_config_load(p, noenv, NULL, 0, &c, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    size_t n;
    const char *const *keys = rs_config_keys(&n);
    CU_ASSERT(n >= 30);
    /* every key is in the example, in the describe output and in docs/configuration.md */
    char *t = rs_config_describe(c, false);
    uint8_t *doc = NULL;
    size_t dlen = 0;
    char docpath[4096];
    snprintf(docpath, sizeof docpath, "%s/docs/configuration.md", RS_SOURCE_DIR);
    CU_ASSERT_EQUAL(rs_read_file(docpath, 0, &doc, &dlen, NULL), RS_OK);
    char *docs = doc ? strndup((char *)doc, dlen) : strdup("");
    for (size_t i = 0; i < n; i++) {
        const char *leaf = strrchr(keys[i], '.') ? strrchr(keys[i], '.') + 1 : keys[i];
        char needle[128];
        snprintf(needle, sizeof needle, "%s:", leaf);
        if (!strstr(d, needle) || !strstr(t, needle))
            fprintf(stderr, "key %s missing from the example or describe\n", keys[i]);
        CU_ASSERT_PTR_NOT_NULL(strstr(d, needle));
        CU_ASSERT_PTR_NOT_NULL(strstr(t, needle));
        snprintf(needle, sizeof needle, "`%s`", keys[i]);
        if (!strstr(docs, needle))
            fprintf(stderr, "key %s missing from docs/configuration.md\n", keys[i]);
        CU_ASSERT_PTR_NOT_NULL(strstr(docs, needle));
    }
    free(docs);
    free(doc);
    free(t);
    rs_config_free(c);
}


/* disaster recovery: replicas as {name, url} (file) or name=url (env), read_from, failover_after */
static void test_replicas(void)
{
    char y[2000];
    snprintf(y, sizeof y,
             "%sreplicas:\n  - {name: eu, url: \"s3://b-eu/p?region=eu-central-1\"}\n  - name: pg\n    url: postgresql://u@h/db\n"
             "read_from: [eu, primary]\nfailover_after: 5s\n",
             minimal());
    char *p = write_cfg("rep.yaml", y);
    rs_config *c = NULL;
    rs_config_problems ps;
    rs_error e;
    int rc = rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, &e);
    dump(&ps);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    CU_ASSERT_EQUAL(c->replicas.n, 2);
    CU_ASSERT_STRING_EQUAL(rs_config_replica_url(c, "eu"), "s3://b-eu/p?region=eu-central-1");
    CU_ASSERT_STRING_EQUAL(rs_config_replica_url(c, "pg"), "postgresql://u@h/db");
    CU_ASSERT_PTR_NULL(rs_config_replica_url(c, "e"));
    CU_ASSERT_EQUAL(c->read_from.n, 2);
    CU_ASSERT_EQUAL(c->failover_after_ms, 5000);
    rs_config_free(c);
    rs_config_problems_free(&ps);
    /* the environment form, with a password (allowed there), never shown */
    char *env[] = {"REGSYNC_REPLICAS=pg=postgresql://u:hunter2@h/db,eu=s3://b/p", NULL};
    p = write_cfg("rep2.yaml", minimal());
    CU_ASSERT_EQUAL_FATAL(rs_config_load_ex(p, env, NULL, 0, &c, &ps, NULL), RS_OK);
    CU_ASSERT_STRING_EQUAL(rs_config_replica_url(c, "pg"), "postgresql://u:hunter2@h/db");
    CU_ASSERT_EQUAL(c->failover_after_ms, 30000); /* the default */
    char *t = rs_config_describe(c, false), *j = rs_config_describe(c, true);
    CU_ASSERT_PTR_NULL(strstr(t, "hunter2"));
    CU_ASSERT_PTR_NULL(strstr(j, "hunter2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "pg=postgresql://u:<redacted>@h/db"));
    free(t);
    free(j);
    rs_config_free(c);
    rs_config_problems_free(&ps);
    /* every mistake, by key */
    snprintf(y, sizeof y,
             "%sreplicas:\n  - {name: primary, url: \"file:///a\"}\n  - {name: x}\n  - {name: Bad_Name, url: \"file:///b\"}\n"
             "  - {name: dup, url: \"file:///c\"}\n  - {name: dup, url: \"ftp://d\"}\n"
             "  - {name: pw, url: \"postgresql://u:hunter2@h/db\"}\nread_from: [nope, primary, primary]\n",
             minimal());
    p = write_cfg("rep3.yaml", y);
    CU_ASSERT_EQUAL(rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, NULL), RS_EINVALID);
    dump(&ps);
    CU_ASSERT(has_problem(&ps, "replicas", "not \"primary\""));
    CU_ASSERT(has_problem(&ps, "replicas", "exactly the keys name and url"));
    CU_ASSERT(has_problem(&ps, "replicas", "Bad_Name"));
    CU_ASSERT(has_problem(&ps, "replicas", "used twice"));
    CU_ASSERT(has_problem(&ps, "replicas", "ftp"));
    CU_ASSERT(has_problem(&ps, "replicas", "password"));
    CU_ASSERT(has_problem(&ps, "read_from", "nope"));
    CU_ASSERT(has_problem(&ps, "read_from", "twice"));
    for (size_t i = 0; i < ps.n; i++)
        CU_ASSERT_PTR_NULL(strstr(ps.v[i].text, "hunter2"));
    rs_config_problems_free(&ps);
}

static void test_publish_only_and_misc(void)
{
    /* publish-only: no target needed */
    char *p = write_cfg("pub.yaml", "region: us-east-1\nstore: file:///g\nstate_dir: /tmp\npublish: true\n");
    rs_config *c = NULL;
    rs_config_problems ps;
    CU_ASSERT_EQUAL(rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, NULL), RS_OK);
    dump(&ps);
    rs_config_free(c);
    /* ... but a follower needs one; empty file = defaults only */
    p = write_cfg("empty.yaml", "");
    CU_ASSERT_EQUAL(rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, NULL), RS_EINVALID);
    CU_ASSERT(has_problem(&ps, "target", "required"));
    CU_ASSERT(has_problem(&ps, "store", "required"));
    CU_ASSERT(has_problem(&ps, "state_dir", "required"));
    CU_ASSERT(has_problem(&ps, "region", "required"));
    CU_ASSERT_EQUAL(ps.n, 4);
    rs_config_problems_free(&ps);
    /* relative target path becomes a file:// URL next to the config; state_dir a file */
    char y[1500];
    snprintf(y, sizeof y, "region: a\nstore: file:///g\nstate_dir: min.yaml\ntarget: out/registry.db\n");
    p = write_cfg("rel2.yaml", y);
    CU_ASSERT_EQUAL(rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, NULL), RS_EINVALID);
    CU_ASSERT(has_problem(&ps, "state_dir", "not a directory"));
    rs_config_problems_free(&ps);
    const char *ov[] = {"state_dir=/tmp", "admin.request_timeout=50ms", "fetch_concurrency=1000", "store_options.max_retries=-1"};
    CU_ASSERT_EQUAL(rs_config_load_ex(p, noenv, ov, 4, &c, &ps, NULL), RS_EINVALID);
    dump(&ps);
    CU_ASSERT(has_problem(&ps, "admin.request_timeout", "too short (minimum 100ms)"));
    CU_ASSERT(has_problem(&ps, "fetch_concurrency", "maximum 64"));
    CU_ASSERT(has_problem(&ps, "store_options.max_retries", "whole number"));
    CU_ASSERT_EQUAL(ps.n, 3);
    rs_config_problems_free(&ps);
    CU_ASSERT_EQUAL_FATAL(rs_config_load_ex(p, noenv, ov, 1, &c, &ps, NULL), RS_OK);
    char exp[4300];
    snprintf(exp, sizeof exp, "file://%s/out/registry.db", tmp);
    CU_ASSERT_STRING_EQUAL(c->target, exp);
    rs_config_free(c);
    /* null values keep defaults; quoted booleans; log level alias; did you mean for choices */
    snprintf(y, sizeof y, "%spoll_interval:\npublish: \"on\"\nlog: {level: warning}\non_local_change: overwrit\n", minimal());
    p = write_cfg("nulls.yaml", y);
    CU_ASSERT_EQUAL(rs_config_load_ex(p, noenv, NULL, 0, &c, &ps, NULL), RS_EINVALID);
    CU_ASSERT_EQUAL(ps.n, 1);
    CU_ASSERT(has_problem(&ps, "on_local_change", "did you mean overwrite?"));
    rs_config_problems_free(&ps);
    const char *fix[] = {"on_local_change=overwrite"};
    CU_ASSERT_EQUAL_FATAL(rs_config_load_ex(p, noenv, fix, 1, &c, &ps, NULL), RS_OK);
    CU_ASSERT_EQUAL(c->poll_interval_ms, 5000);
    CU_ASSERT_TRUE(c->publish);
    CU_ASSERT_EQUAL(c->log.level, RS_LOG_WARN);
    CU_ASSERT_STRING_EQUAL(rs_on_local_change_name(c->on_local_change), "overwrite");
    rs_config_free(c);
    /* in-memory parse */
    CU_ASSERT_EQUAL(rs_config_parse("mem.yaml", "region: [", 9, noenv, NULL, 0, &c, &ps, NULL), RS_EINVALID);
    dump(&ps);
    CU_ASSERT(ps.n == 1 && strstr(ps.v[0].text, "mem.yaml:"));
    rs_config_problems_free(&ps);
}

int main(void)
{
    tmp = rs_test_tmpdir("config");
    if (!tmp || CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("config", NULL, NULL);
    CU_add_test(s, "defaults", test_defaults);
    CU_add_test(s, "every key parsed", test_every_key);
    CU_add_test(s, "environment overrides the file", test_env_precedence);
    CU_add_test(s, "flags override the environment", test_flag_precedence);
    CU_add_test(s, "every problem listed with its key", test_every_problem_listed);
    CU_add_test(s, "YAML syntax and structure errors", test_yaml_syntax_error);
    CU_add_test(s, "unknown keys with did-you-mean", test_unknown_keys);
    CU_add_test(s, "secrets refused", test_secrets_refused);
    CU_add_test(s, "non-loopback admin needs a token", test_token_rule);
    CU_add_test(s, "glob lists", test_globs);
    CU_add_test(s, "default yaml, describe and docs cover every key", test_default_yaml_and_docs);
    CU_add_test(s, "publish-only, paths, ranges, nulls", test_publish_only_and_misc);
    CU_add_test(s, "replicas, read_from, failover_after", test_replicas);
    int rc = rs_test_run();
    rs_test_rmrf(tmp);
    free(tmp);
    return rc;
}
