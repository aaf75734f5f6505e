/* test_journal.c: the SQLite journal (sync/rs_journal.h). */
#include "rs_journal.h"
#include "rs_test.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A deterministic entry for version v, so that any entry read back can be checked in full. */
static _Thread_local char cbk[64], etag[64];
static void make_entry(uint64_t v, rs_journal_entry *e)
{
    memset(e, 0, sizeof *e);
    e->version = v;
    e->kind = RS_JOURNAL_APPLY;
    e->applied_at_ms = 1700000000000LL + (int64_t)v * 1000;
    e->published_at_ms = 1700000000000LL + (int64_t)v * 1000 - 250;
    e->duration_ms = (int64_t)(v % 97);
    e->has_parent_digest = v > 1;
    e->has_result_digest = e->has_filtered_digest = e->has_target_digest = true;
    for (int i = 0; i < RS_JOURNAL_DIGEST_LEN; i++) {
        e->parent_digest[i] = (uint8_t)((v - 1) * 31 + (uint64_t)i);
        e->result_digest[i] = (uint8_t)(v * 31 + (uint64_t)i);
        e->filtered_digest[i] = (uint8_t)(v * 17 + (uint64_t)i);
        e->target_digest[i] = (uint8_t)(v * 13 + (uint64_t)i);
    }
    e->ops_put = v % 7;
    e->ops_delete = v % 3;
    snprintf(cbk, sizeof cbk, "{\"feature_views\": %llu, \"entities\": 1}", (unsigned long long)(v % 5));
    snprintf(etag, sizeof etag, "\"etag-%llu\"", (unsigned long long)v);
    e->counts_by_kind = cbk;
    e->source_etag = etag;
    e->publisher = "host-a/42";
}

/* true when got is exactly make_entry(got->version) (applied_at aside when any_time) */
static bool entry_ok(const rs_journal_entry *got)
{
    rs_journal_entry w;
    make_entry(got->version, &w);
    bool ok = got->kind == w.kind && got->applied_at_ms == w.applied_at_ms && got->published_at_ms == w.published_at_ms &&
              got->duration_ms == w.duration_ms && got->has_parent_digest == w.has_parent_digest &&
              got->has_result_digest && got->has_filtered_digest && got->has_target_digest &&
              (!w.has_parent_digest || memcmp(got->parent_digest, w.parent_digest, 32) == 0) &&
              memcmp(got->result_digest, w.result_digest, 32) == 0 && memcmp(got->filtered_digest, w.filtered_digest, 32) == 0 &&
              memcmp(got->target_digest, w.target_digest, 32) == 0 && got->ops_put == w.ops_put && got->ops_delete == w.ops_delete &&
              got->counts_by_kind && strcmp(got->counts_by_kind, w.counts_by_kind) == 0 && got->source_etag &&
              strcmp(got->source_etag, w.source_etag) == 0 && got->publisher && strcmp(got->publisher, w.publisher) == 0;
    if (!ok)
        fprintf(stderr, "entry %llu differs from what was written\n", (unsigned long long)got->version);
    return ok;
}

static rs_journal *open_rw(const char *dir)
{
    rs_journal *j = NULL;
    rs_error e;
    int rc = rs_journal_open(dir, NULL, &j, &e);
    if (rc)
        fprintf(stderr, "open %s: %s\n", dir, e.msg);
    CU_ASSERT_FATAL(rc == RS_OK);
    return j;
}

static int record(rs_journal *j, uint64_t v)
{
    rs_journal_entry e;
    make_entry(v, &e);
    rs_error err;
    int rc = rs_journal_record_apply(j, &e, &err);
    if (rc)
        fprintf(stderr, "record %llu: %s\n", (unsigned long long)v, err.msg);
    return rc;
}

static void test_open_wal_lock(void)
{
    char *tmp = rs_test_tmpdir("journal");
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/a/b/state", tmp); /* created, with parents */
    rs_journal *j = open_rw(dir);
    snprintf(path, sizeof path, "%s/journal.db", dir);
    CU_ASSERT_STRING_EQUAL(rs_journal_path(j), path);
    struct stat st;
    CU_ASSERT_EQUAL(stat(dir, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);

    /* WAL mode and schema, seen from a plain SQLite connection */
    sqlite3 *db;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL);
    CU_ASSERT_EQUAL(sqlite3_step(s), SQLITE_ROW);
    CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
    CU_ASSERT_EQUAL(sqlite3_step(s), SQLITE_ROW);
    CU_ASSERT_EQUAL(sqlite3_column_int(s, 0), RS_JOURNAL_SCHEMA_VERSION);
    sqlite3_finalize(s);
    sqlite3_close(db);

    /* a second writer is refused; readers are fine */
    rs_journal *j2 = NULL;
    rs_error e;
    CU_ASSERT_EQUAL(rs_journal_open(dir, NULL, &j2, &e), RS_ECONFLICT);
    CU_ASSERT_PTR_NULL(j2);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "in use"));
    rs_journal_opts ro = {.readonly = true};
    CU_ASSERT_EQUAL(rs_journal_open(dir, &ro, &j2, &e), RS_OK);
    rs_journal_entry x;
    CU_ASSERT_EQUAL(rs_journal_last(j2, &x, &e), RS_ENOTFOUND);
    CU_ASSERT_EQUAL(rs_journal_state_set(j2, "k", "v", &e), RS_EINVALID); /* read-only */
    rs_journal_close(j2);
    rs_journal_close(j);
    rs_journal_close(NULL);

    /* a reader of a journal nobody has open (no -wal/-shm files) */
    CU_ASSERT_EQUAL(rs_journal_open(dir, &ro, &j2, &e), RS_OK);
    rs_journal_close(j2);
    /* a reader of a missing journal */
    snprintf(dir, sizeof dir, "%s/none", tmp);
    CU_ASSERT_EQUAL(rs_journal_open(dir, &ro, &j2, &e), RS_ENOTFOUND);
    CU_ASSERT_EQUAL(rs_journal_open("", NULL, &j2, &e), RS_EINVALID);
    rs_test_rmrf(tmp);
    free(tmp);
}

static void test_persistence(void)
{
    char *tmp = rs_test_tmpdir("journal");
    rs_journal *j = open_rw(tmp);
    for (uint64_t v = 1; v <= 3; v++)
        CU_ASSERT_EQUAL(record(j, v), RS_OK);
    /* a bootstrap entry with no parent digest and no strings */
    rs_journal_entry b = {.version = 10, .kind = RS_JOURNAL_BOOTSTRAP, .has_result_digest = true};
    memset(b.result_digest, 0xab, 32);
    CU_ASSERT_EQUAL(rs_journal_record_apply(j, &b, NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_state_set(j, RS_JSTATE_PAUSED, "1", NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_event(j, RS_LOG_INFO, "bootstrap", 10, "bootstrapped from snapshot %d", 10), RS_OK);
    rs_journal_close(j);

    j = open_rw(tmp);
    rs_journal_entry e;
    for (uint64_t v = 1; v <= 3; v++) {
        CU_ASSERT_EQUAL_FATAL(rs_journal_get(j, v, &e, NULL), RS_OK);
        CU_ASSERT_EQUAL(e.version, v);
        CU_ASSERT_TRUE(entry_ok(&e));
        rs_journal_entry_clear(&e);
    }
    CU_ASSERT_EQUAL_FATAL(rs_journal_last(j, &e, NULL), RS_OK);
    CU_ASSERT_EQUAL(e.version, 10);
    CU_ASSERT_EQUAL(e.kind, RS_JOURNAL_BOOTSTRAP);
    CU_ASSERT_FALSE(e.has_parent_digest);
    CU_ASSERT_TRUE(e.has_result_digest && e.result_digest[31] == 0xab);
    CU_ASSERT_PTR_NULL(e.counts_by_kind);
    CU_ASSERT_PTR_NULL(e.source_etag);
    CU_ASSERT(e.applied_at_ms > 1700000000000LL); /* 0 means now */
    rs_journal_entry_clear(&e);
    rs_journal_entry_clear(NULL);
    rs_error err;
    CU_ASSERT_EQUAL(rs_journal_get(j, 5, &e, &err), RS_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "version 5"));
    char *v = NULL;
    CU_ASSERT_EQUAL(rs_journal_state_get(j, RS_JSTATE_PAUSED, &v, NULL), RS_OK);
    CU_ASSERT_STRING_EQUAL(v ? v : "", "1");
    free(v);
    rs_journal_event_rec *ev;
    size_t n;
    CU_ASSERT_EQUAL(rs_journal_events(j, 0, 10, &ev, &n, NULL), RS_OK);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_STRING_EQUAL(ev[0].kind, "bootstrap");
    CU_ASSERT_STRING_EQUAL(ev[0].message, "bootstrapped from snapshot 10");
    CU_ASSERT_EQUAL(ev[0].version, 10);
    CU_ASSERT_EQUAL(ev[0].level, RS_LOG_INFO);
    rs_journal_events_free(ev, n);
    rs_journal_close(j);
    rs_test_rmrf(tmp);
    free(tmp);
}

static void test_list_paging(void)
{
    char *tmp = rs_test_tmpdir("journal");
    rs_journal *j = open_rw(tmp);
    for (uint64_t v = 1; v <= 250; v++)
        CU_ASSERT_EQUAL_FATAL(record(j, v), RS_OK);
    rs_journal_entry *list;
    size_t n;
    uint64_t before = 0, expect = 250;
    int pages = 0;
    for (;;) {
        CU_ASSERT_EQUAL_FATAL(rs_journal_list(j, before, 100, &list, &n, NULL), RS_OK);
        if (n == 0) {
            rs_journal_entries_free(list, n);
            break;
        }
        pages++;
        for (size_t i = 0; i < n; i++) {
            CU_ASSERT_EQUAL(list[i].version, expect);
            CU_ASSERT_TRUE(entry_ok(&list[i]));
            expect--;
        }
        before = list[n - 1].version;
        rs_journal_entries_free(list, n);
    }
    CU_ASSERT_EQUAL(pages, 3);
    CU_ASSERT_EQUAL(expect, 0);
    CU_ASSERT_EQUAL(rs_journal_list(j, 0, 0, &list, &n, NULL), RS_OK); /* default limit 100 */
    CU_ASSERT_EQUAL(n, 100);
    rs_journal_entries_free(list, n);
    rs_journal_entries_free(NULL, 0);
    rs_journal_close(j);
    rs_test_rmrf(tmp);
    free(tmp);
}

static void test_record_rules(void)
{
    char *tmp = rs_test_tmpdir("journal");
    rs_journal *j = open_rw(tmp);
    for (uint64_t v = 1; v <= 5; v++)
        CU_ASSERT_EQUAL(record(j, v), RS_OK);
    rs_journal_entry e;
    rs_error err;
    /* the same version again: idempotent */
    CU_ASSERT_EQUAL(record(j, 5), RS_OK);
    /* ... with another result: conflict */
    make_entry(5, &e);
    e.result_digest[0] ^= 1;
    CU_ASSERT_EQUAL(rs_journal_record_apply(j, &e, &err), RS_ECONFLICT);
    /* an apply below the last one: conflict */
    make_entry(7, &e);
    CU_ASSERT_EQUAL(rs_journal_record_apply(j, &e, NULL), RS_OK);
    make_entry(6, &e);
    CU_ASSERT_EQUAL(rs_journal_record_apply(j, &e, &err), RS_ECONFLICT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "below the last"));
    /* bad input */
    make_entry(8, &e);
    e.counts_by_kind = "[1,2]";
    CU_ASSERT_EQUAL(rs_journal_record_apply(j, &e, &err), RS_EINVALID);
    e.counts_by_kind = "{nope";
    CU_ASSERT_EQUAL(rs_journal_record_apply(j, &e, &err), RS_EINVALID);
    make_entry(0, &e);
    CU_ASSERT_EQUAL(rs_journal_record_apply(j, &e, &err), RS_EINVALID);
    make_entry(8, &e);
    e.version = (uint64_t)INT64_MAX + 1;
    CU_ASSERT_EQUAL(rs_journal_record_apply(j, &e, &err), RS_EINVALID);
    CU_ASSERT_EQUAL(rs_journal_record_apply(j, NULL, &err), RS_EINVALID);

    /* a rollback to 3 moves 3, 4, 5, 7 to superseded */
    make_entry(3, &e);
    e.kind = RS_JOURNAL_ROLLBACK;
    e.applied_at_ms = 0;
    CU_ASSERT_EQUAL(rs_journal_record_apply(j, &e, &err), RS_OK);
    rs_journal_entry last;
    CU_ASSERT_EQUAL_FATAL(rs_journal_last(j, &last, NULL), RS_OK);
    CU_ASSERT_EQUAL(last.version, 3);
    CU_ASSERT_EQUAL(last.kind, RS_JOURNAL_ROLLBACK);
    rs_journal_entry_clear(&last);
    /* and following resumes at 4 */
    CU_ASSERT_EQUAL(record(j, 4), RS_OK);
    /* a pin forward, then counts */
    make_entry(9, &e);
    e.kind = RS_JOURNAL_PIN;
    CU_ASSERT_EQUAL(rs_journal_record_apply(j, &e, NULL), RS_OK);
    rs_journal_counts c;
    CU_ASSERT_EQUAL_FATAL(rs_journal_counts_get(j, &c, NULL), RS_OK);
    CU_ASSERT_EQUAL(c.applied, 5); /* 1 2 3(rollback) 4 9(pin) */
    CU_ASSERT_EQUAL(c.by_kind[RS_JOURNAL_APPLY], 3);
    CU_ASSERT_EQUAL(c.by_kind[RS_JOURNAL_ROLLBACK], 1);
    CU_ASSERT_EQUAL(c.by_kind[RS_JOURNAL_PIN], 1);
    CU_ASSERT_EQUAL(c.superseded, 4);
    CU_ASSERT_EQUAL(c.first_version, 1);
    CU_ASSERT_EQUAL(c.last_version, 9);
    rs_journal_counts_clear(&c);
    rs_journal_counts_clear(NULL);
    CU_ASSERT_STRING_EQUAL(rs_journal_kind_name(RS_JOURNAL_BOOTSTRAP), "bootstrap");
    CU_ASSERT_EQUAL(rs_journal_kind_parse("pin"), RS_JOURNAL_PIN);
    CU_ASSERT_EQUAL(rs_journal_kind_parse("x"), -1);
    /* prune drops superseded rows, keeps the lineage */
    uint64_t pruned;
    CU_ASSERT_EQUAL(rs_journal_prune(j, INT64_MAX, &pruned, NULL), RS_OK);
    CU_ASSERT_EQUAL(pruned, 4);
    CU_ASSERT_EQUAL_FATAL(rs_journal_counts_get(j, &c, NULL), RS_OK);
    CU_ASSERT_EQUAL(c.applied, 5);
    CU_ASSERT_EQUAL(c.superseded, 0);
    rs_journal_counts_clear(&c);
    rs_journal_close(j);
    rs_test_rmrf(tmp);
    free(tmp);
}

static void test_events(void)
{
    char *tmp = rs_test_tmpdir("journal");
    rs_journal_opts o = {.max_events = 100};
    rs_journal *j = NULL;
    CU_ASSERT_EQUAL_FATAL(rs_journal_open(tmp, &o, &j, NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_event(j, RS_LOG_ERROR, "error", 4, "fetch log/%020d: %s", 4, "timeout"), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_event(j, RS_LOG_WARN, "drift", 0, "target changed locally"), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_event(j, RS_LOG_INFO, "pause", 0, "paused by admin"), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_event(j, RS_LOG_ERROR, "error", 5, "parent digest mismatch"), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_event(j, RS_LOG_INFO, "", 0, "x"), RS_EINVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(rs_journal_errmsg(j), "empty kind"));
    rs_journal_event_rec *ev;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(rs_journal_events(j, 0, 0, &ev, &n, NULL), RS_OK);
    CU_ASSERT_EQUAL_FATAL(n, 4);
    CU_ASSERT_STRING_EQUAL(ev[0].message, "fetch log/00000000000000000004: timeout");
    CU_ASSERT(ev[0].id < ev[1].id && ev[1].id < ev[2].id);
    CU_ASSERT_EQUAL(ev[1].version, 0);
    CU_ASSERT_EQUAL(ev[1].level, RS_LOG_WARN);
    int64_t second = ev[1].id;
    rs_journal_events_free(ev, n);
    CU_ASSERT_EQUAL(rs_journal_events(j, second, 10, &ev, &n, NULL), RS_OK); /* tailing */
    CU_ASSERT_EQUAL(n, 2);
    rs_journal_events_free(ev, n);
    CU_ASSERT_EQUAL(rs_journal_events_recent(j, "error", 10, &ev, &n, NULL), RS_OK);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_STRING_EQUAL(ev[0].message, "parent digest mismatch"); /* newest first */
    CU_ASSERT_EQUAL(ev[1].version, 4);
    rs_journal_events_free(ev, n);
    CU_ASSERT_EQUAL(rs_journal_events_recent(j, NULL, 1, &ev, &n, NULL), RS_OK);
    CU_ASSERT(n == 1 && strcmp(ev[0].kind, "error") == 0);
    rs_journal_events_free(ev, n);
    /* a long message is cut, not refused */
    char big[10000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CU_ASSERT_EQUAL(rs_journal_event(j, RS_LOG_INFO, "note", 0, "%s", big), RS_OK);
    /* pruning keeps the newest max_events, ids are never reused */
    for (int i = 0; i < 300; i++)
        CU_ASSERT_EQUAL(rs_journal_event(j, RS_LOG_INFO, "poll", 0, "poll %d", i), RS_OK);
    rs_journal_counts c;
    CU_ASSERT_EQUAL_FATAL(rs_journal_counts_get(j, &c, NULL), RS_OK);
    CU_ASSERT(c.events >= 100 && c.events < 100 + 64);
    CU_ASSERT_EQUAL_FATAL(c.n_event_kinds, 1);
    CU_ASSERT_STRING_EQUAL(c.event_kinds[0].kind, "poll");
    CU_ASSERT_EQUAL(c.events_by_level[RS_LOG_INFO], c.events);
    rs_journal_counts_clear(&c);
    CU_ASSERT_EQUAL(rs_journal_events_recent(j, NULL, 1, &ev, &n, NULL), RS_OK);
    CU_ASSERT(n == 1 && ev[0].id == 305 && strcmp(ev[0].message, "poll 299") == 0);
    rs_journal_events_free(ev, n);
    rs_journal_events_free(NULL, 0);
    rs_journal_close(j);
    rs_test_rmrf(tmp);
    free(tmp);
}

static void test_state(void)
{
    char *tmp = rs_test_tmpdir("journal");
    rs_journal *j = open_rw(tmp);
    char *v = NULL;
    rs_error err;
    CU_ASSERT_EQUAL(rs_journal_state_get(j, RS_JSTATE_HEAD_ETAG, &v, &err), RS_ENOTFOUND);
    CU_ASSERT_EQUAL(rs_journal_state_set(j, RS_JSTATE_HEAD_ETAG, "\"abc\"", NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_state_set(j, RS_JSTATE_HEAD_ETAG, "\"def\"", NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_state_get(j, RS_JSTATE_HEAD_ETAG, &v, NULL), RS_OK);
    CU_ASSERT_STRING_EQUAL(v ? v : "", "\"def\"");
    free(v);
    CU_ASSERT_EQUAL(rs_journal_state_set(j, RS_JSTATE_HEAD_ETAG, NULL, NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_state_get(j, RS_JSTATE_HEAD_ETAG, &v, NULL), RS_ENOTFOUND);
    int64_t x = 0;
    CU_ASSERT_EQUAL(rs_journal_state_set_i64(j, RS_JSTATE_PINNED_VERSION, 42, NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_state_get_i64(j, RS_JSTATE_PINNED_VERSION, &x, NULL), RS_OK);
    CU_ASSERT_EQUAL(x, 42);
    CU_ASSERT_EQUAL(rs_journal_state_set(j, "word", "abc", NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_state_get_i64(j, "word", &x, NULL), RS_ECORRUPT);
    CU_ASSERT_EQUAL(rs_journal_state_set(j, "", "abc", NULL), RS_EINVALID);

    rs_journal_target t = {.has_digest = true, .mtime_ns = 1700000000123456789LL, .size = 12345, .inode = 998877};
    memset(t.digest, 0x5a, sizeof t.digest);
    rs_journal_target got;
    CU_ASSERT_EQUAL(rs_journal_target_get(j, &got, NULL), RS_ENOTFOUND);
    CU_ASSERT_EQUAL(rs_journal_target_set(j, &t, NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_target_get(j, &got, NULL), RS_OK);
    CU_ASSERT(got.has_digest && memcmp(got.digest, t.digest, 32) == 0 && got.mtime_ns == t.mtime_ns && got.size == 12345 &&
              got.inode == 998877);
    /* record_apply_ex stores the target in the same transaction */
    rs_journal_entry e;
    make_entry(1, &e);
    t.size = 777;
    CU_ASSERT_EQUAL(rs_journal_record_apply_ex(j, &e, &t, NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_target_get(j, &got, NULL), RS_OK);
    CU_ASSERT_EQUAL(got.size, 777);
    rs_journal_close(j);
    rs_test_rmrf(tmp);
    free(tmp);
}

/* what a follower observes in the target file */
static rs_journal_target observed(const uint8_t *digest, uint64_t size)
{
    rs_journal_target t = {.has_digest = true, .size = size, .inode = 7, .mtime_ns = 1};
    memcpy(t.digest, digest, RS_JOURNAL_DIGEST_LEN);
    return t;
}

static void test_pending_recovery(void)
{
    char *tmp = rs_test_tmpdir("journal");
    rs_journal *j = open_rw(tmp);
    rs_journal_recovery r;
    rs_journal_entry e, p;
    /* empty journal, no target */
    CU_ASSERT_EQUAL(rs_journal_recover(j, NULL, &r, NULL), RS_OK);
    CU_ASSERT_EQUAL(r, RS_JOURNAL_CONSISTENT);
    for (uint64_t v = 1; v <= 3; v++)
        CU_ASSERT_EQUAL(record(j, v), RS_OK);
    rs_journal_entry d3, d4;
    make_entry(3, &d3);
    make_entry(4, &d4);
    uint8_t o[32];
    memset(o, 0xee, 32);
    rs_journal_target t3 = observed(d3.target_digest, 3), t4 = observed(d4.target_digest, 4), other = observed(o, 99);
    CU_ASSERT_EQUAL(rs_journal_recover(j, &t3, &r, NULL), RS_OK);
    CU_ASSERT_EQUAL(r, RS_JOURNAL_CONSISTENT);

    /* crash after the rename, before the record: committed */
    CU_ASSERT_EQUAL(rs_journal_pending_set(j, &d4, NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_pending_get(j, &p, NULL), RS_OK);
    CU_ASSERT_TRUE(entry_ok(&p));
    rs_journal_entry_clear(&p);
    rs_journal_close(j);
    j = open_rw(tmp);
    CU_ASSERT_EQUAL(rs_journal_recover(j, &t4, &r, NULL), RS_OK);
    CU_ASSERT_EQUAL(r, RS_JOURNAL_COMMITTED);
    rs_journal_target tg;
    CU_ASSERT_EQUAL(rs_journal_target_get(j, &tg, NULL), RS_OK);
    CU_ASSERT(tg.size == 4 && tg.inode == 7 && memcmp(tg.digest, d4.target_digest, 32) == 0);
    CU_ASSERT_EQUAL_FATAL(rs_journal_last(j, &e, NULL), RS_OK);
    CU_ASSERT_EQUAL(e.version, 4);
    CU_ASSERT_TRUE(entry_ok(&e));
    rs_journal_entry_clear(&e);
    CU_ASSERT_EQUAL(rs_journal_pending_get(j, &p, NULL), RS_ENOTFOUND);

    /* crash before the rename: discarded */
    make_entry(5, &e);
    CU_ASSERT_EQUAL(rs_journal_pending_set(j, &e, NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_recover(j, &t4, &r, NULL), RS_OK);
    CU_ASSERT_EQUAL(r, RS_JOURNAL_DISCARDED);
    CU_ASSERT_EQUAL(rs_journal_last(j, &e, NULL), RS_OK);
    CU_ASSERT_EQUAL(e.version, 4);
    rs_journal_entry_clear(&e);

    /* a target that matches neither, with and without pending */
    make_entry(5, &e);
    CU_ASSERT_EQUAL(rs_journal_pending_set(j, &e, NULL), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_recover(j, &other, &r, NULL), RS_OK);
    CU_ASSERT_EQUAL(r, RS_JOURNAL_MISMATCH);
    CU_ASSERT_EQUAL(rs_journal_pending_get(j, &p, NULL), RS_ENOTFOUND);
    CU_ASSERT_EQUAL(rs_journal_recover(j, &other, &r, NULL), RS_OK);
    CU_ASSERT_EQUAL(r, RS_JOURNAL_MISMATCH);
    CU_ASSERT_EQUAL(rs_journal_target_get(j, &tg, NULL), RS_OK);
    CU_ASSERT_EQUAL(tg.size, 4); /* a mismatch keeps what the agent wrote */
    CU_ASSERT_EQUAL(rs_journal_recover(j, NULL, &r, NULL), RS_OK); /* target missing */
    CU_ASSERT_EQUAL(r, RS_JOURNAL_MISMATCH);

    /* record_apply clears pending */
    CU_ASSERT_EQUAL(rs_journal_pending_set(j, &e, NULL), RS_OK);
    CU_ASSERT_EQUAL(record(j, 5), RS_OK);
    CU_ASSERT_EQUAL(rs_journal_pending_get(j, &p, NULL), RS_ENOTFOUND);
    CU_ASSERT_EQUAL(rs_journal_pending_clear(j, NULL), RS_OK);

    rs_journal_event_rec *ev;
    size_t n;
    CU_ASSERT_EQUAL(rs_journal_events_recent(j, "recovery", 10, &ev, &n, NULL), RS_OK);
    CU_ASSERT_EQUAL(n, 5);
    rs_journal_events_free(ev, n);
    CU_ASSERT_STRING_EQUAL(rs_journal_recovery_name(RS_JOURNAL_COMMITTED), "committed");
    rs_journal_close(j);
    rs_test_rmrf(tmp);
    free(tmp);
}

/* ---- a reader while the writer writes ---- */

struct writer_arg {
    const char *dir;
    int n;
    volatile int done;
    int rc;
};

static void *writer_main(void *p)
{
    struct writer_arg *a = p;
    rs_journal *j = NULL;
    a->rc = rs_journal_open(a->dir, NULL, &j, NULL);
    for (int v = 1; a->rc == RS_OK && v <= a->n; v++) {
        rs_journal_entry e;
        make_entry((uint64_t)v, &e);
        a->rc = rs_journal_record_apply(j, &e, NULL);
        if (a->rc == RS_OK && v % 10 == 0)
            a->rc = rs_journal_event(j, RS_LOG_INFO, "apply", (uint64_t)v, "applied %d", v);
    }
    rs_journal_close(j);
    __atomic_store_n(&a->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_concurrent_reader(void)
{
    char *tmp = rs_test_tmpdir("journal");
    rs_journal *init = open_rw(tmp); /* create the schema first */
    rs_journal_close(init);
    rs_journal_opts ro = {.readonly = true, .busy_timeout_ms = 10000};
    rs_journal *r = NULL;
    CU_ASSERT_EQUAL_FATAL(rs_journal_open(tmp, &ro, &r, NULL), RS_OK);
    struct writer_arg a = {tmp, 300, 0, 0};
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, writer_main, &a), 0);
    uint64_t seen = 0;
    int reads = 0, bad = 0, errors = 0, distinct = 0;
    while (!__atomic_load_n(&a.done, __ATOMIC_SEQ_CST)) {
        rs_journal_entry e;
        rs_error err;
        int rc = rs_journal_last(r, &e, &err);
        if (rc == RS_OK) {
            if (!entry_ok(&e) || e.version < seen)
                bad++;
            if (e.version != seen)
                distinct++;
            seen = e.version;
            rs_journal_entry_clear(&e);
            rs_journal_entry *list;
            size_t n;
            if (rs_journal_list(r, 0, 20, &list, &n, NULL) == RS_OK) {
                for (size_t i = 0; i < n; i++)
                    if (!entry_ok(&list[i]) || (i && list[i].version + 1 != list[i - 1].version))
                        bad++;
                rs_journal_entries_free(list, n);
            } else {
                errors++;
            }
        } else if (rc != RS_ENOTFOUND) {
            fprintf(stderr, "reader: %s\n", err.msg);
            errors++;
        }
        reads++;
    }
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(a.rc, RS_OK);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(errors, 0);
    CU_ASSERT(reads > 10);
    rs_journal_entry e;
    CU_ASSERT_EQUAL(rs_journal_last(r, &e, NULL), RS_OK);
    CU_ASSERT_EQUAL(e.version, 300);
    rs_journal_entry_clear(&e);
    printf("\n    reader: %d reads during 300 writes, %d distinct last versions seen\n", reads, distinct);
    rs_journal_close(r);
    rs_test_rmrf(tmp);
    free(tmp);
}

/* ---- readers beside the writer keep its locks and its WAL (issue 9, item 3) ---- */

/* In a child process: is some other process holding a lock on any byte of path? (F_GETLK reports
 * another process's conflicting lock; SQLite locks bytes at 1 GiB, PENDING_BYTE and after.) */
static int locked_by_other(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_RDWR);
        if (fd < 0)
            _exit(2);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        if (fcntl(fd, F_GETLK, &fl) != 0)
            _exit(3);
        _exit(fl.l_type == F_UNLCK ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 4;
}

/* A reader in a process of its own (what regsync-dump does): this test program run again with
 * "--reader DIR" (a fork alone would share the parent's SQLite state). It opens the journal
 * read-only, reads the last version, closes and exits with it (0: none or error). */
static int reader_main(const char *dir)
{
    rs_journal_opts ro = {.readonly = true};
    rs_journal *r = NULL;
    int v = 0;
    rs_journal_entry e;
    if (rs_journal_open(dir, &ro, &r, NULL) == RS_OK && rs_journal_last(r, &e, NULL) == RS_OK) {
        v = e.version < 100 ? (int)e.version : 0;
        rs_journal_entry_clear(&e);
    }
    rs_journal_close(r);
    return v;
}

static uint64_t child_reader_last(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "test_journal", "--reader", dir, (char *)NULL);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? (uint64_t)WEXITSTATUS(st) : 0;
}

static void test_readers_keep_locks(void)
{
    char *tmp = rs_test_tmpdir("journal");
    char path[4300], wal[4400];
    snprintf(path, sizeof path, "%s/journal.db", tmp);
    snprintf(wal, sizeof wal, "%s/journal.db-wal", tmp);
    rs_journal *j = open_rw(tmp);
    for (uint64_t v = 1; v <= 3; v++)
        CU_ASSERT_EQUAL_FATAL(record(j, v), RS_OK);
    CU_ASSERT_EQUAL(locked_by_other(path), 1); /* the writer's SQLite holds its shared lock */

    /* a read-only handle opened and closed in the writer's process (the admin API's /v1/versions)
       must not drop the writer's locks */
    rs_journal_opts ro = {.readonly = true, .skip_integrity_check = true};
    for (int i = 0; i < 2; i++) {
        rs_journal *r = NULL;
        CU_ASSERT_EQUAL_FATAL(rs_journal_open(tmp, &ro, &r, NULL), RS_OK);
        rs_journal_entry e;
        CU_ASSERT_EQUAL(rs_journal_last(r, &e, NULL), RS_OK);
        CU_ASSERT_EQUAL(e.version, 3);
        rs_journal_entry_clear(&e);
        rs_journal_close(r);
        CU_ASSERT_EQUAL(locked_by_other(path), 1);
    }
    /* a reader process beside the writer (regsync-dump journal) leaves the WAL alone, and the
       writer's next commits are seen by the next reader */
    CU_ASSERT_EQUAL(child_reader_last(tmp), 3);
    CU_ASSERT_EQUAL(access(wal, F_OK), 0);
    CU_ASSERT_EQUAL_FATAL(record(j, 4), RS_OK);
    CU_ASSERT_EQUAL(child_reader_last(tmp), 4);

    /* even if something in the writer's process did drop its locks (an open()/close() of the
       file outside SQLite), a reader never checkpoints or deletes the WAL on close */
    int fd = open(path, O_RDONLY);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd); /* drops every POSIX lock this process holds on journal.db */
    CU_ASSERT_EQUAL(locked_by_other(path), 0);
    CU_ASSERT_EQUAL(child_reader_last(tmp), 4);
    CU_ASSERT_EQUAL(access(wal, F_OK), 0);
    CU_ASSERT_EQUAL_FATAL(record(j, 5), RS_OK);
    CU_ASSERT_EQUAL(child_reader_last(tmp), 5);
    rs_journal_close(j);
    rs_journal *r = NULL;
    CU_ASSERT_EQUAL_FATAL(rs_journal_open(tmp, &ro, &r, NULL), RS_OK);
    rs_journal_entry *list;
    size_t n = 0;
    CU_ASSERT_EQUAL(rs_journal_list(r, 0, 10, &list, &n, NULL), RS_OK);
    CU_ASSERT_EQUAL(n, 5);
    rs_journal_entries_free(list, n);
    rs_journal_close(r);
    rs_test_rmrf(tmp);
    free(tmp);
}

/* ---- damaged files ---- */

static void test_corrupt(void)
{
    char *tmp = rs_test_tmpdir("journal");
    char path[4300];
    snprintf(path, sizeof path, "%s/journal.db", tmp);
    rs_journal *j = NULL;
    rs_error err;

    /* not SQLite at all */
    char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 7 + 3);
    rs_test_write_file(path, junk, sizeof junk);
    CU_ASSERT_EQUAL(rs_journal_open(tmp, NULL, &j, &err), RS_ECORRUPT);
    CU_ASSERT_PTR_NULL(j);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
    printf("\n    %s\n", err.msg);
    rs_journal_opts ro = {.readonly = true};
    CU_ASSERT_EQUAL(rs_journal_open(tmp, &ro, &j, &err), RS_ECORRUPT);

    /* a valid header with damaged pages behind it */
    unlink(path);
    j = open_rw(tmp);
    for (uint64_t v = 1; v <= 400; v++)
        CU_ASSERT_EQUAL_FATAL(record(j, v), RS_OK);
    rs_journal_close(j); /* checkpoints the WAL into the file */
    FILE *f = fopen(path, "r+b");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    CU_ASSERT(size > 8 * 4096);
    for (long off = 4096; off < size; off += 4096) { /* scribble on every page but the first */
        fseek(f, off + 8, SEEK_SET);
        fwrite(junk, 1, 200, f);
    }
    fclose(f);
    CU_ASSERT_EQUAL(rs_journal_open(tmp, NULL, &j, &err), RS_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
    printf("    %s\n", err.msg);

    /* an SQLite file from somebody else */
    unlink(path);
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)", NULL, NULL, NULL);
    sqlite3_close(db);
    CU_ASSERT_EQUAL(rs_journal_open(tmp, NULL, &j, &err), RS_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a regsync journal"));

    /* a journal from a newer build */
    unlink(path);
    j = open_rw(tmp);
    rs_journal_close(j);
    sqlite3_open(path, &db);
    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(db);
    CU_ASSERT_EQUAL(rs_journal_open(tmp, NULL, &j, &err), RS_EUNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "newer"));
    rs_test_rmrf(tmp);
    free(tmp);
}

/* ---- kill -9 during a loop of writes ---- */

/* The target: a file holding the version number, replaced by temp + fsync + rename. */
static void target_path(const char *dir, char *out, size_t n) { snprintf(out, n, "%s/target", dir); }

static void write_target(const char *dir, uint64_t v)
{
    char path[4300], tmpp[4400];
    target_path(dir, path, sizeof path);
    snprintf(tmpp, sizeof tmpp, "%s.tmp", path);
    FILE *f = fopen(tmpp, "wb");
    if (!f || fwrite(&v, sizeof v, 1, f) != 1 || fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0)
        _exit(6);
}

static void rename_target(const char *dir)
{
    char path[4300], tmpp[4400];
    target_path(dir, path, sizeof path);
    snprintf(tmpp, sizeof tmpp, "%s.tmp", path);
    if (rename(tmpp, path) != 0)
        _exit(7);
}

/* the version the target holds, 0 when missing */
static uint64_t read_target(const char *dir)
{
    char path[4300];
    target_path(dir, path, sizeof path);
    FILE *f = fopen(path, "rb");
    uint64_t v = 0;
    if (f) {
        if (fread(&v, sizeof v, 1, f) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

static void child_loop(const char *dir)
{
    rs_journal *j = NULL;
    if (rs_journal_open(dir, NULL, &j, NULL) != RS_OK)
        _exit(2);
    rs_journal_entry last;
    uint64_t v = 1;
    if (rs_journal_last(j, &last, NULL) == RS_OK) {
        v = last.version + 1;
        rs_journal_entry_clear(&last);
    }
    for (;; v++) {
        rs_journal_entry e;
        make_entry(v, &e);
        /* the sync engine's protocol: temp file, pending, rename, record */
        write_target(dir, v);
        if (rs_journal_pending_set(j, &e, NULL) != RS_OK)
            _exit(3);
        rename_target(dir);
        rs_journal_target t = {.has_digest = true, .size = v};
        memcpy(t.digest, e.target_digest, 32);
        if (rs_journal_record_apply_ex(j, &e, &t, NULL) != RS_OK)
            _exit(4);
        if (v % 5 == 0 && rs_journal_event(j, RS_LOG_INFO, "apply", v, "applied %llu", (unsigned long long)v) != RS_OK)
            _exit(5);
    }
}

static void test_kill9(void)
{
    char *tmp = rs_test_tmpdir("journal");
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    printf("\n    seed %u\n", seed);
    srand(seed);
    uint64_t prev_last = 0;
    int trials = 12, recoveries[4] = {0};
    for (int t = 0; t < trials; t++) {
        pid_t pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0)
            child_loop(tmp);
        usleep((useconds_t)(20000 + rand() % 200000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CU_ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        if (!WIFSIGNALED(status))
            fprintf(stderr, "child exited with %d\n", WEXITSTATUS(status));

        rs_journal *j = NULL;
        rs_error err;
        int rc = rs_journal_open(tmp, NULL, &j, &err);
        if (rc)
            fprintf(stderr, "reopen after kill -9: %s\n", err.msg);
        CU_ASSERT_FATAL(rc == RS_OK);
        /* first recovery, with the digest of what the target holds */
        uint64_t tv = read_target(tmp);
        rs_journal_entry te;
        make_entry(tv, &te);
        rs_journal_target obs = observed(te.target_digest, tv);
        rs_journal_recovery r;
        CU_ASSERT_EQUAL(rs_journal_recover(j, tv ? &obs : NULL, &r, NULL), RS_OK);
        CU_ASSERT(r != RS_JOURNAL_MISMATCH);
        recoveries[r]++;
        rs_journal_entry last;
        rc = rs_journal_last(j, &last, NULL);
        if (rc == RS_ENOTFOUND && tv == 0) { /* killed before the first version: nothing anywhere */
            printf("    trial %d: killed before version 1, recovery %s\n", t, rs_journal_recovery_name(r));
            rs_journal_close(j);
            continue;
        }
        CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
        CU_ASSERT_TRUE(entry_ok(&last));
        CU_ASSERT(last.version >= prev_last);
        CU_ASSERT_EQUAL(last.version, tv); /* journal and target agree after recovery */
        /* the lineage is gap-free and every entry complete */
        rs_journal_counts c;
        CU_ASSERT_EQUAL(rs_journal_counts_get(j, &c, NULL), RS_OK);
        CU_ASSERT_EQUAL(c.applied, last.version);
        CU_ASSERT_EQUAL(c.first_version, 1);
        rs_journal_counts_clear(&c);
        rs_journal_entry *list;
        size_t n;
        CU_ASSERT_EQUAL(rs_journal_list(j, 0, 50, &list, &n, NULL), RS_OK);
        for (size_t i = 0; i < n; i++)
            CU_ASSERT_TRUE(entry_ok(&list[i]));
        rs_journal_entries_free(list, n);
        /* the target facts match the last entry (stored with it, or by recovery) */
        rs_journal_target tg;
        CU_ASSERT_EQUAL(rs_journal_target_get(j, &tg, NULL), RS_OK);
        CU_ASSERT_EQUAL(tg.size, last.version);
        /* a second recovery finds nothing to do */
        rs_journal_recovery r2;
        CU_ASSERT_EQUAL(rs_journal_recover(j, &obs, &r2, NULL), RS_OK);
        CU_ASSERT_EQUAL(r2, RS_JOURNAL_CONSISTENT);
        printf("    trial %d: killed at version %llu, recovery %s\n", t, (unsigned long long)last.version, rs_journal_recovery_name(r));
        prev_last = last.version;
        rs_journal_entry_clear(&last);
        rs_journal_close(j);
    }
    CU_ASSERT(prev_last > 0);
    printf("    recoveries: %d consistent, %d committed, %d discarded\n", recoveries[0], recoveries[1], recoveries[2]);
    rs_test_rmrf(tmp);
    free(tmp);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--reader") == 0)
        return reader_main(argv[2]);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("journal", NULL, NULL);
    CU_add_test(s, "open: WAL, schema, lock, readers", test_open_wal_lock);
    CU_add_test(s, "persistence across reopen", test_persistence);
    CU_add_test(s, "list ordering and paging", test_list_paging);
    CU_add_test(s, "record rules, rollback, pin, counts", test_record_rules);
    CU_add_test(s, "events", test_events);
    CU_add_test(s, "state and target facts", test_state);
    CU_add_test(s, "pending and recovery", test_pending_recovery);
    CU_add_test(s, "reader while writing", test_concurrent_reader);
    CU_add_test(s, "readers keep the writer's locks and WAL", test_readers_keep_locks);
    CU_add_test(s, "corrupt journal", test_corrupt);
    CU_add_test(s, "kill -9 during writes", test_kill9);
    return rs_test_run();
}
