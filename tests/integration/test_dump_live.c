/* test_dump_live.c: regsync-dump on a live file:// store. Publishes a few versions with the real
 * publisher, runs two real agents (one in sync, one pinned behind), then runs the regsync-dump
 * binary ($RS_BUILD_DIR/tools/regsync-dump, set by CTest) and checks its output and exit codes:
 * head, log (text and --json), regions (table, --json, --pair), journal, diff --versions, and
 * the one-line errors with exit code 2. RS_TEST_KEEP=1 keeps the store and state directories. */
#include "rs_test.h"

#include "rs_agent.h"
#include "rs_buf.h"
#include "rs_generate.h"
#include "rs_log.h"
#include "rs_logproto.h"
#include "rs_publisher.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *work, *store, *dump_bin, *state_eu;
static rs_head head;


static char *slurp(const char *path)
{
    uint8_t *d;
    size_t l;
    if (rs_read_file(path, 0, &d, &l, NULL))
        return strdup("");
    char *s = realloc(d, l + 1);
    s[l] = 0;
    return s;
}

/* Runs regsync-dump with args (a shell fragment); returns the exit code, stdout and stderr. */
static int run(char **out, char **err, const char *args, ...) __attribute__((format(printf, 3, 4)));
static int run(char **out, char **err, const char *args, ...)
{
    va_list ap;
    va_start(ap, args);
    char *a = NULL;
    if (vasprintf(&a, args, ap) < 0)
        a = NULL;
    va_end(ap);
    char *o = rs_test_fmt("%s/out.txt", work), *e = rs_test_fmt("%s/err.txt", work);
    char *cmd = rs_test_fmt("'%s' %s >'%s' 2>'%s'", dump_bin, a, o, e);
    int st = system(cmd);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    char *so = slurp(o), *se = slurp(e);
    if (code == 2 || code < 0)
        printf("\n  $ regsync-dump %s -> %d: %s", a, code, se);
    if (out)
        *out = so;
    else
        free(so);
    if (err)
        *err = se;
    else
        free(se);
    free(a);
    free(o);
    free(e);
    free(cmd);
    return code;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (*s == '\n')
            n++;
    return n;
}

/* ---------------------------------------------------------------- setup */

static int suite_init(void)
{
    const char *bd = getenv("RS_BUILD_DIR");
    dump_bin = rs_test_fmt("%s/tools/regsync-dump", bd && *bd ? bd : RS_BINARY_DIR);
    if (access(dump_bin, X_OK) != 0) {
        fprintf(stderr, "missing %s (build the regsync-dump target)\n", dump_bin);
        return 1;
    }
    work = rs_test_tmpdir("dumplive");
    store = rs_test_fmt("file://%s/store", work);
    char *d = rs_test_fmt("%s/store", work);
    char *cmd = rs_test_fmt("mkdir -p '%s'", d);
    int rc = system(cmd);
    free(cmd);
    free(d);
    if (rc)
        return 1;

    rs_storage *s;
    rs_error e = {0};
    if (rs_storage_open(store, NULL, &s, &e))
        return 1;
    rs_publisher *p;
    rs_publisher_opts po = {.publisher_id = "dump-test", .snapshot_every = 2};
    if (rs_publisher_open(s, NULL, NULL, &po, &p, &e))
        return 1;
    rs_gen_params gp;
    rs_gen_defaults(&gp);
    gp.seed = 11;
    gp.target_bytes = 40000;
    uint8_t *cur;
    size_t cl;
    if (rs_generate(&gp, &cur, &cl, NULL))
        return 1;
    char *tu = rs_test_fmt("%s/us-west-2.db", work), *su = rs_test_fmt("%s/state-us", work);
    char *te = rs_test_fmt("%s/eu-central-1.db", work);
    state_eu = rs_test_fmt("%s/state-eu", work);
    rs_agent_config cu = {.region = "us-west-2", .store_url = store, .target = tu, .state_dir = su};
    rs_agent_config ce = {.region = "eu-central-1", .store_url = store, .target = te, .state_dir = state_eu};
    rs_agent *us = NULL, *eu = NULL;
    for (int v = 1; v <= 4 && !rc; v++) {
        if (v > 1) {
            uint8_t *m;
            size_t ml;
            if ((rc = rs_mutate(cur, cl, 500 + (uint64_t)v, 4, &m, &ml, NULL, NULL)))
                break;
            free(cur);
            cur = m;
            cl = ml;
        }
        rs_registry *r;
        rs_publish_result res;
        if ((rc = rs_registry_decode(cur, cl, NULL, &r, &e)))
            break;
        rc = rs_publisher_publish_registry(p, r, "etag", &res, &e);
        rs_registry_free(r);
        if (v == 1 && !rc) {
            /* us-west-2 stays at version 2 */
            if ((rc = rs_agent_open(&cu, &us, &e)) || (rc = rs_agent_open(&ce, &eu, &e)) || (rc = rs_agent_pin(us, 2, &e)))
                break;
        }
        if (!rc)
            rc = rs_agent_sync_once(us, &e);
        if (!rc)
            rc = rs_agent_sync_once(eu, &e);
    }
    if (!rc)
        rc = rs_agent_report(us, &e);
    if (!rc)
        rc = rs_agent_report(eu, &e);
    if (rc)
        fprintf(stderr, "setup: %s\n", e.msg);
    if (!rc)
        rc = rs_log_read_head(s, NULL, &head, NULL, &e);
    rs_agent_close(us);
    rs_agent_close(eu);
    free(cur);
    free(tu);
    free(su);
    free(te);
    rs_publisher_close(p);
    rs_storage_close(s);
    return rc ? 1 : 0;
}

static int suite_clean(void)
{
    const char *keep = getenv("RS_TEST_KEEP"); /* RS_TEST_KEEP=1: leave the store for a look */
    if (keep && *keep == '1')
        printf("\n  kept %s\n", work);
    else
        rs_test_rmrf(work);
    free(work);
    free(store);
    free(dump_bin);
    free(state_eu);
    rs_head_clear(&head);
    return 0;
}

/* ---------------------------------------------------------------- tests */

static void test_head(void)
{
    char *out, *err;
    CU_ASSERT_EQUAL(run(&out, &err, "head '%s'", store), 0);
    json_t *j = json_loads(out, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "version")), 4);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "log_version")), 4);
    char h[65];
    rs_hex(head.digest, RS_DIGEST_LEN, h);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "digest")), h);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "publisher")), "dump-test");
    const char *upd = json_string_value(json_object_get(j, "updated"));
    CU_ASSERT(upd && strlen(upd) == 24 && upd[10] == 'T' && upd[23] == 'Z');
    CU_ASSERT(json_array_size(json_object_get(j, "snapshots")) >= 1);
    json_decref(j);
    free(out);
    free(err);
    /* no log in an empty directory; a URL that is not a store */
    char *empty = rs_test_fmt("%s/empty", work);
    char *cmd = rs_test_fmt("mkdir -p '%s'", empty);
    CU_ASSERT_EQUAL(system(cmd), 0);
    free(cmd);
    CU_ASSERT_EQUAL(run(&out, &err, "head 'file://%s'", empty), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, empty));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "regsync/HEAD not found"));
    CU_ASSERT_EQUAL(count_lines(err), 1);
    CU_ASSERT_STRING_EQUAL(out, "");
    free(out);
    free(err);
    free(empty);
    CU_ASSERT_EQUAL(run(NULL, &err, "head 'bogus://nowhere'"), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bogus://nowhere"));
    CU_ASSERT_EQUAL(count_lines(err), 1);
    free(err);
    CU_ASSERT_EQUAL(run(NULL, NULL, "head"), 2);
}

static void test_log(void)
{
    char *out, *err, *diff;
    CU_ASSERT_EQUAL(run(&out, &err, "log '%s' 3", store), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "version:    3\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "by dump-test"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "operations: "));
    /* the plan of entry 3 is the diff between versions 2 and 3 */
    CU_ASSERT_EQUAL(run(&diff, NULL, "diff --versions 2 3 '%s'", store), 1);
    CU_ASSERT(strlen(diff) > 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, diff));
    printf("\n--- regsync-dump log STORE 3\n%s---\n", out);
    free(diff);
    free(out);
    free(err);

    CU_ASSERT_EQUAL(run(&out, NULL, "log --json '%s' 3", store), 0);
    json_t *j = json_loads(out, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "version")), 3);
    CU_ASSERT_EQUAL(strlen(json_string_value(json_object_get(j, "result_digest"))), 64);
    json_t *ops = json_object_get(j, "ops");
    CU_ASSERT(json_array_size(ops) > 0);
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op)
    {
        const char *t = json_string_value(json_object_get(op, "type"));
        CU_ASSERT(t && (strcmp(t, "PUT") == 0 || strcmp(t, "DELETE") == 0));
        CU_ASSERT(json_is_integer(json_object_get(op, "kind")));
        CU_ASSERT(json_is_string(json_object_get(op, "project")));
        CU_ASSERT(json_is_string(json_object_get(op, "name")));
        if (t && strcmp(t, "PUT") == 0) {
            CU_ASSERT(json_integer_value(json_object_get(op, "bytes")) > 0);
            CU_ASSERT_EQUAL(strlen(json_string_value(json_object_get(op, "hash"))), 64);
        }
    }
    CU_ASSERT(json_is_array(json_object_get(j, "changes")));
    json_decref(j);
    free(out);

    CU_ASSERT_EQUAL(run(NULL, &err, "log '%s' 99", store), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "log entry 99 not found"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, store));
    CU_ASSERT_EQUAL(count_lines(err), 1);
    free(err);
    CU_ASSERT_EQUAL(run(NULL, &err, "log '%s' abc", store), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "VERSION"));
    free(err);
    /* the first entry: its parent is the empty registry */
    CU_ASSERT_EQUAL(run(&out, NULL, "log '%s' 1", store), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "Created entity"));
    free(out);
}

static void test_regions(void)
{
    char *out, *err;
    /* one region pinned behind: exit 1 */
    CU_ASSERT_EQUAL(run(&out, &err, "regions '%s'", store), 1);
    printf("\n--- regsync-dump regions STORE\n%s---\n", out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "HEAD 4"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "REGION"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "REASON"));
    const char *eu = strstr(out, "\neu-central-1 "), *us = strstr(out, "\nus-west-2 ");
    CU_ASSERT_PTR_NOT_NULL(eu);
    CU_ASSERT_PTR_NOT_NULL(us);
    /* region rows: name (28 wide), then the state over its live instances */
    if (eu)
        CU_ASSERT_EQUAL(strncmp(eu + 30, "in_sync", 7), 0);
    if (us)
        CU_ASSERT_EQUAL(strncmp(us + 30, "behind", 6), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "in_sync 1/1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "behind 1/1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "pinned at version 2"));
    free(out);
    free(err);

    CU_ASSERT_EQUAL(run(&out, NULL, "regions --json '%s'", store), 1);
    json_t *j = json_loads(out, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(j, "head"), "version")), 4);
    json_t *regs = json_object_get(j, "regions");
    CU_ASSERT_EQUAL(json_array_size(regs), 2);
    size_t i;
    json_t *r;
    json_array_foreach(regs, i, r)
    {
        const char *name = json_string_value(json_object_get(r, "region"));
        const char *st = json_string_value(json_object_get(r, "state"));
        json_t *insts = json_object_get(r, "instances");
        CU_ASSERT_EQUAL_FATAL(json_array_size(insts), 1);
        json_t *in = json_array_get(insts, 0);
        if (strcmp(name, "us-west-2") == 0) {
            CU_ASSERT_STRING_EQUAL(st, "behind");
            CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "versions_behind")), 2);
            CU_ASSERT(json_real_value(json_object_get(r, "lag_seconds")) > 0);
            CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(in, "state")), "behind");
        } else {
            CU_ASSERT_STRING_EQUAL(st, "in_sync");
            CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(in, "digest_check")), "ok");
        }
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "summary")), strcmp(name, "us-west-2") == 0 ? "behind 1/1" : "in_sync 1/1");
        CU_ASSERT(json_is_string(json_object_get(in, "heartbeat")));
        CU_ASSERT(json_is_string(json_object_get(in, "instance")));
    }
    json_decref(j);
    free(out);

    /* every region stale with a tiny limit */
    CU_ASSERT_EQUAL(run(&out, NULL, "regions --stale-after 1ms '%s'", store), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "stale"));
    free(out);

    /* two regions at different versions */
    CU_ASSERT_EQUAL(run(&out, NULL, "regions --json --pair eu-central-1 us-west-2 '%s'", store), 1);
    j = json_loads(out, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT(json_is_false(json_object_get(j, "same_version")));
    CU_ASSERT(json_array_size(json_object_get(j, "differences")) > 0);
    json_decref(j);
    free(out);
    CU_ASSERT_EQUAL(run(&out, NULL, "regions --pair eu-central-1 eu-central-1 '%s'", store), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "0 expected, 0 unexpected"));
    free(out);
    CU_ASSERT_EQUAL(run(NULL, &err, "regions --pair eu-central-1 nowhere '%s'", store), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "nowhere"));
    free(err);
    CU_ASSERT_EQUAL(run(NULL, NULL, "regions --stale-after soon '%s'", store), 2);
}

static void test_journal(void)
{
    char *out, *err;
    CU_ASSERT_EQUAL(run(&out, &err, "journal '%s'", state_eu), 0);
    printf("\n--- regsync-dump journal STATE_DIR\n%s---\n", out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "journal.db"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "VERSION"));
    const char *v4 = strstr(out, "       4 "), *v1 = strstr(out, "       1 ");
    CU_ASSERT_PTR_NOT_NULL(v4);
    CU_ASSERT_PTR_NOT_NULL(v1);
    CU_ASSERT(v4 && v1 && v4 < v1); /* newest first */
    free(out);
    free(err);
    CU_ASSERT_EQUAL(run(&out, NULL, "journal --json --limit 2 '%s'", state_eu), 0);
    json_t *j = json_loads(out, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    json_t *v = json_object_get(j, "versions");
    CU_ASSERT_EQUAL(json_array_size(v), 2);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(v, 0), "version")), 4);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(v, 1), "version")), 3);
    char h[65];
    rs_hex(head.digest, RS_DIGEST_LEN, h);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(v, 0), "result_digest")), h);
    CU_ASSERT(json_is_null(json_object_get(j, "pending")));
    json_decref(j);
    free(out);
    char *missing = rs_test_fmt("%s/no-such-state", work);
    CU_ASSERT_EQUAL(run(NULL, &err, "journal '%s'", missing), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, missing));
    CU_ASSERT_EQUAL(count_lines(err), 1);
    free(err);
    free(missing);
    CU_ASSERT_EQUAL(run(NULL, NULL, "journal --limit 0 '%s'", state_eu), 2);
}

static void test_diff_versions(void)
{
    char *out;
    CU_ASSERT_EQUAL(run(&out, NULL, "diff --versions 2 2 '%s'", store), 0);
    CU_ASSERT_STRING_EQUAL(out, "No changes to registry\n");
    free(out);
    CU_ASSERT_EQUAL(run(&out, NULL, "diff --json --all --versions 4 1 '%s'", store), 1);
    json_t *j = json_loads(out, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT(json_array_size(json_object_get(j, "changes")) > 0);
    json_decref(j);
    free(out);
    /* A and B swapped: created becomes deleted */
    char *ab, *ba;
    CU_ASSERT_EQUAL(run(&ab, NULL, "diff --versions 1 4 '%s'", store), 1);
    CU_ASSERT_EQUAL(run(&ba, NULL, "diff --versions 4 1 '%s'", store), 1);
    CU_ASSERT_EQUAL(strstr(ab, "Created") != NULL, strstr(ba, "Deleted") != NULL);
    free(ab);
    free(ba);
    char *err;
    CU_ASSERT_EQUAL(run(NULL, &err, "diff --versions 1 9 '%s'", store), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "version 9"));
    CU_ASSERT_EQUAL(count_lines(err), 1);
    free(err);
    CU_ASSERT_EQUAL(run(NULL, NULL, "diff --versions 1 '%s'", store), 2);
}

int main(void)
{
    rs_log_configure(RS_LOG_ERROR, false, 2);
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("regsync-dump on a live file:// store", suite_init, suite_clean);
    CU_add_test(s, "head", test_head);
    CU_add_test(s, "log", test_log);
    CU_add_test(s, "regions", test_regions);
    CU_add_test(s, "journal", test_journal);
    CU_add_test(s, "diff --versions", test_diff_versions);
    return rs_test_run();
}
