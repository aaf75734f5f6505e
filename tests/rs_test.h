/* rs_test.h: small helpers shared by the CUnit suites.
 * Paths returned are malloc'd (caller frees) unless said otherwise. */
#ifndef RS_TEST_H
#define RS_TEST_H

#include <CUnit/Basic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ../shared (fixtures), or NULL when absent (the caller prints a loud SKIP). Borrowed. */
const char *rs_test_shared_dir(void);
/* Skips. A test that cannot run (a part of) itself because an optional resource is missing calls
 * rs_test_skip and returns: a loud "*** SKIP <what>: <why> ***" line on stdout and stderr (once per
 * distinct what/why), and the running test is recorded as skipped. With CI=true (rs_test_ci) a
 * skip is a failure: CI must run everything. rs_test_skip_env is for what depends on the machine
 * and not on what scripts/deps.sh and scripts/test.sh provide (no IPv6 loopback, not root): loud and
 * recorded the same way, but not a failure with CI=true.
 * rs_test_run prints every skip again at the end and exits 77 (CTest's SKIP_RETURN_CODE) when every
 * test that ran was skipped and none failed. */
void rs_test_skip(const char *what, const char *why);
void rs_test_skip_env(const char *what, const char *why);
/* CI=true (or 1) in the environment: every skip of rs_test_skip fails, servers are required. */
bool rs_test_ci(void);
/* Environment variable or NULL. When servers are required (rs_test_servers_required) and it is
 * missing, the test fails. */
const char *rs_test_env(const char *name);
/* RS_REQUIRE_SERVERS=1 or CI=true: a missing server (or its URL) is a failure. */
bool rs_test_servers_required(void);
/* Whether this machine can bind a TCP socket to the IPv6 loopback [::1] (checked with a plain
 * socket, independently of the code under test). */
bool rs_test_have_ipv6_loopback(void);
/* A fresh temporary directory (removed by rs_test_rmrf). */
char *rs_test_tmpdir(const char *tag);
void rs_test_rmrf(const char *path);
/* Files in dir ending with suffix (NULL: all regular files), sorted. Free with rs_test_free_list. */
char **rs_test_list_dir(const char *dir, const char *suffix, size_t *n);
void rs_test_free_list(char **v, size_t n);
int rs_test_write_file(const char *path, const void *data, size_t len);

/* printf into a malloc'd string (caller frees). */
char *rs_test_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

/* Store suites: the same tests against every backend. rs_test_store_suites registers four
 * suites, "<title> on file://", "... on S3 (RGW)", "... on PostgreSQL", "... on MySQL (MariaDB)",
 * each filled by add(). Before each suite runs, *store_url and *work are set: work is a fresh temp
 * dir (removed after the suite); store_url is file://<work> for the first suite and
 * RS_TEST_S3_URL / RS_TEST_PG_URL / RS_TEST_MYSQL_URL (NULL when unset) for the others. The pointers are the caller's globals (CUnit's suite hooks
 * take no arguments). */
void rs_test_store_suites(const char *title, char **store_url, char **work, void (*add)(CU_pSuite));
/* Wraps a store test: a loud SKIP when the suite has no store (a failure with
 * RS_REQUIRE_SERVERS=1), else runs it. */
#define RS_STORE_TEST(name)                                                                                            \
    static void name##_guarded(void)                                                                                   \
    {                                                                                                                  \
        if (rs_test_store_missing(#name))                                                                              \
            return;                                                                                                    \
        name();                                                                                                        \
    }
bool rs_test_store_missing(const char *test);

/* Runs the registered CUnit registry in verbose mode and returns the process exit code: 1 when a
 * test failed or none ran, 77 when every test that ran was skipped, else 0. */
int rs_test_run(void);

/* A fresh sub-store of the suite's store for one test (malloc'd URL, caller frees): a new directory
 * under work (file://), a new key prefix "<tag>-<pid>-<n>" (S3) or a new table prefix
 * "<tag><pid>_<n>_" (PostgreSQL, MySQL). tag: lower-case letters. */
char *rs_test_fresh_store(const char *store_url, const char *work, const char *tag);

#endif
