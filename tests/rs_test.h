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
/* Loud skip line on stderr and stdout: "SKIP <what>: <why>". */
void rs_test_skip(const char *what, const char *why);
/* Environment variable or NULL. When RS_REQUIRE_SERVERS=1 and it is missing, the test fails. */
const char *rs_test_env(const char *name);
bool rs_test_servers_required(void);
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

/* Runs the registered CUnit registry in verbose mode and returns the process exit code. */
int rs_test_run(void);

#endif
