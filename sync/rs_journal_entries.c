/* rs_journal_entries.c: the journal's entries (read, list, record an apply), its state keys and the
 * target record, the pending entry and recovery after a crash. See rs_journal.h, docs/journal.md. */
#define RS_ERROR_ORIGIN RS_ORIGIN_JOURNAL /* the errors this file makes (common/rs_error.h) */
#include "rs_journal.h"

#include "rs_buf.h"
#include "rs_time.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "rs_journal_impl.h"

/* ------------------------------------------------------------------------------------------ */
/* entries */

void rs_journal_entry_clear(rs_journal_entry *e)
{
    if (!e)
        return;
    free(e->counts_by_kind);
    free(e->source_etag);
    free(e->publisher);
    memset(e, 0, sizeof *e);
}

void rs_journal_entries_free(rs_journal_entry *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        rs_journal_entry_clear(&v[i]);
    free(v);
}

static int check_entry(rs_journal *j, const rs_journal_entry *e, rs_error *err)
{
    if (!e)
        return jr_jerr(j, err, RS_EINVALID, "no entry");
    if (e->version == 0 || e->version > (uint64_t)INT64_MAX)
        return jr_jerr(j, err, RS_EINVALID, "version %llu out of range", (unsigned long long)e->version);
    if ((unsigned)e->kind > RS_JOURNAL_PIN)
        return jr_jerr(j, err, RS_EINVALID, "version %llu: unknown kind %d", (unsigned long long)e->version, (int)e->kind);
    if (e->ops_put > (uint64_t)INT64_MAX || e->ops_delete > (uint64_t)INT64_MAX)
        return jr_jerr(j, err, RS_EINVALID, "version %llu: operation counts out of range", (unsigned long long)e->version);
    if ((e->source_etag && strlen(e->source_etag) > TEXT_MAX) || (e->publisher && strlen(e->publisher) > TEXT_MAX))
        return jr_jerr(j, err, RS_ETOOBIG, "version %llu: source_etag or publisher longer than %d bytes", (unsigned long long)e->version, TEXT_MAX);
    if (e->counts_by_kind) {
        json_error_t je;
        json_t *v = json_loads(e->counts_by_kind, JSON_REJECT_DUPLICATES, &je);
        bool ok = v && json_is_object(v);
        json_decref(v);
        if (!ok)
            return jr_jerr(j, err, RS_EINVALID, "version %llu: counts_by_kind is not a JSON object", (unsigned long long)e->version);
    }
    return RS_OK;
}

static void bind_digest(sqlite3_stmt *st, int i, bool has, const uint8_t *d)
{
    if (has)
        sqlite3_bind_blob(st, i, d, RS_JOURNAL_DIGEST_LEN, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* binds ENTRY_PARAMS ?1..?14 */
static void bind_entry(sqlite3_stmt *st, const rs_journal_entry *e, int64_t now)
{
    sqlite3_bind_int64(st, 1, (int64_t)e->version);
    sqlite3_bind_text(st, 2, rs_journal_kind_name(e->kind), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, e->applied_at_ms ? e->applied_at_ms : now);
    sqlite3_bind_int64(st, 4, e->published_at_ms);
    sqlite3_bind_int64(st, 5, e->duration_ms);
    bind_digest(st, 6, e->has_parent_digest, e->parent_digest);
    bind_digest(st, 7, e->has_result_digest, e->result_digest);
    bind_digest(st, 8, e->has_filtered_digest, e->filtered_digest);
    bind_digest(st, 9, e->has_target_digest, e->target_digest);
    sqlite3_bind_int64(st, 10, (int64_t)e->ops_put);
    sqlite3_bind_int64(st, 11, (int64_t)e->ops_delete);
    bind_text(st, 12, e->counts_by_kind);
    bind_text(st, 13, e->source_etag);
    bind_text(st, 14, e->publisher);
}

static int col_digest(sqlite3_stmt *st, int c, bool *has, uint8_t *d)
{
    *has = false;
    if (sqlite3_column_type(st, c) == SQLITE_NULL)
        return 0;
    const void *b = sqlite3_column_blob(st, c);
    if (sqlite3_column_bytes(st, c) != RS_JOURNAL_DIGEST_LEN || !b)
        return -1;
    memcpy(d, b, RS_JOURNAL_DIGEST_LEN);
    *has = true;
    return 0;
}

int jr_col_text(sqlite3_stmt *st, int c, char **out)
{
    *out = NULL;
    if (sqlite3_column_type(st, c) == SQLITE_NULL)
        return 0;
    const char *t = (const char *)sqlite3_column_text(st, c);
    if (!t)
        return -1;
    *out = strdup(t);
    return *out ? 0 : -1;
}

/* reads ENTRY_COLS starting at column c0 */
static int read_entry(rs_journal *j, sqlite3_stmt *st, int c0, rs_journal_entry *e, rs_error *err)
{
    memset(e, 0, sizeof *e);
    e->version = (uint64_t)sqlite3_column_int64(st, c0 + 0);
    int k = rs_journal_kind_parse((const char *)sqlite3_column_text(st, c0 + 1));
    e->kind = k < 0 ? RS_JOURNAL_APPLY : (rs_journal_kind)k;
    e->applied_at_ms = sqlite3_column_int64(st, c0 + 2);
    e->published_at_ms = sqlite3_column_int64(st, c0 + 3);
    e->duration_ms = sqlite3_column_int64(st, c0 + 4);
    int bad = col_digest(st, c0 + 5, &e->has_parent_digest, e->parent_digest) |
              col_digest(st, c0 + 6, &e->has_result_digest, e->result_digest) |
              col_digest(st, c0 + 7, &e->has_filtered_digest, e->filtered_digest) |
              col_digest(st, c0 + 8, &e->has_target_digest, e->target_digest);
    e->ops_put = (uint64_t)sqlite3_column_int64(st, c0 + 9);
    e->ops_delete = (uint64_t)sqlite3_column_int64(st, c0 + 10);
    int mem = jr_col_text(st, c0 + 11, &e->counts_by_kind) | jr_col_text(st, c0 + 12, &e->source_etag) |
              jr_col_text(st, c0 + 13, &e->publisher);
    if (k < 0 || bad) {
        uint64_t v = e->version;
        rs_journal_entry_clear(e);
        return jr_jerr(j, err, RS_ECORRUPT, "version %llu: %s", (unsigned long long)v, k < 0 ? "unknown kind" : "digest of the wrong length");
    }
    if (mem) {
        rs_journal_entry_clear(e);
        return jr_jerr(j, err, RS_ENOMEM, "out of memory");
    }
    return RS_OK;
}

/* runs a query returning ENTRY_COLS rows into a growing array */
static int fetch_entries(rs_journal *j, sqlite3_stmt *st, rs_journal_entry **out, size_t *n, rs_error *err)
{
    rs_journal_entry *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = RS_OK, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            rs_journal_entry *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                rc = jr_jerr(j, err, RS_ENOMEM, "out of memory");
                break;
            }
            v = nv;
            cap = nc;
        }
        if ((rc = read_entry(j, st, 0, &v[cnt], err)))
            break;
        cnt++;
    }
    if (rc == RS_OK && s != SQLITE_DONE)
        rc = jr_dberr(j, err, s, "read entries");
    if (rc) {
        rs_journal_entries_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return RS_OK;
}

static int get_one(rs_journal *j, const char *sql, bool bind_version, uint64_t version, rs_journal_entry *out, rs_error *err)
{
    sqlite3_stmt *st;
    int rc = jr_prep(j, sql, &st, err);
    if (rc)
        return rc;
    if (bind_version)
        sqlite3_bind_int64(st, 1, (int64_t)version);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        rc = read_entry(j, st, 0, out, err);
    else if (s == SQLITE_DONE)
        rc = bind_version ? jr_jerr(j, err, RS_ENOTFOUND, "version %llu is not journaled", (unsigned long long)version)
                          : jr_jerr(j, err, RS_ENOTFOUND, "no version applied yet");
    else
        rc = jr_dberr(j, err, s, "read entry");
    sqlite3_finalize(st);
    return rc;
}

int rs_journal_last(rs_journal *j, rs_journal_entry *out, rs_error *err)
{
    if (!j || !out)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    memset(out, 0, sizeof *out);
    return get_one(j, "SELECT " ENTRY_COLS " FROM applied ORDER BY version DESC LIMIT 1", false, 0, out, err);
}

int rs_journal_get(rs_journal *j, uint64_t version, rs_journal_entry *out, rs_error *err)
{
    if (!j || !out)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    memset(out, 0, sizeof *out);
    if (version == 0 || version > (uint64_t)INT64_MAX)
        return jr_jerr(j, err, RS_ENOTFOUND, "version %llu is not journaled", (unsigned long long)version);
    return get_one(j, "SELECT " ENTRY_COLS " FROM applied WHERE version = ?1", true, version, out, err);
}

int rs_journal_list(rs_journal *j, uint64_t before, size_t limit, rs_journal_entry **out, size_t *n, rs_error *err)
{
    if (!j || !out || !n)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    int rc = jr_prep(j, "SELECT " ENTRY_COLS " FROM applied WHERE version < ?1 ORDER BY version DESC LIMIT ?2", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, before == 0 || before > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)before);
    sqlite3_bind_int64(st, 2, limit ? (int64_t)(limit > 1000000 ? 1000000 : limit) : 100);
    rc = fetch_entries(j, st, out, n, err);
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* state */

static int state_put(rs_journal *j, const char *key, const char *value, rs_error *err)
{
    sqlite3_stmt *st;
    int rc;
    if (value)
        rc = jr_prep(j,
                  "INSERT INTO state(key, value, updated_at_ms) VALUES (?1, ?2, ?3) "
                  "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms",
                  &st, err);
    else
        rc = jr_prep(j, "DELETE FROM state WHERE key = ?1", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    if (value) {
        sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, rs_wall_ms());
    }
    int s = sqlite3_step(st);
    rc = s == SQLITE_DONE ? RS_OK : jr_dberr(j, err, s, "write state");
    sqlite3_finalize(st);
    return rc;
}

int jr_writable(rs_journal *j, rs_error *err)
{
    if (!j)
        return rs_error_set(err, RS_EINVALID, "journal: NULL handle");
    if (j->readonly)
        return jr_jerr(j, err, RS_EINVALID, "opened read-only");
    return RS_OK;
}

int rs_journal_state_set(rs_journal *j, const char *key, const char *value, rs_error *err)
{
    int rc = jr_writable(j, err);
    if (rc)
        return rc;
    if (!key || !*key)
        return jr_jerr(j, err, RS_EINVALID, "state: empty key");
    if (value && strlen(value) > 1u << 20)
        return jr_jerr(j, err, RS_ETOOBIG, "state %s: value larger than 1 MiB", key);
    return state_put(j, key, value, err);
}

int rs_journal_state_get(rs_journal *j, const char *key, char **value, rs_error *err)
{
    if (!j || !key || !value)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    *value = NULL;
    sqlite3_stmt *st;
    int rc = jr_prep(j, "SELECT value FROM state WHERE key = ?1", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        *value = strdup(v ? v : "");
        rc = *value ? RS_OK : jr_jerr(j, err, RS_ENOMEM, "out of memory");
    } else if (s == SQLITE_DONE) {
        rc = jr_jerr(j, err, RS_ENOTFOUND, "state %s is not set", key);
    } else {
        rc = jr_dberr(j, err, s, "read state");
    }
    sqlite3_finalize(st);
    return rc;
}

int rs_journal_state_set_i64(rs_journal *j, const char *key, int64_t value, rs_error *err)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)value);
    return rs_journal_state_set(j, key, buf, err);
}

int rs_journal_state_get_i64(rs_journal *j, const char *key, int64_t *value, rs_error *err)
{
    char *v = NULL;
    int rc = rs_journal_state_get(j, key, &v, err);
    if (rc)
        return rc;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end)
        rc = jr_jerr(j, err, RS_ECORRUPT, "state %s: not an integer", key);
    else
        *value = x;
    free(v);
    return rc;
}

static int target_put(rs_journal *j, const rs_journal_target *t, rs_error *err)
{
    char hex[2 * RS_JOURNAL_DIGEST_LEN + 1], num[32];
    int rc;
    if (t->has_digest) {
        rs_hex(t->digest, RS_JOURNAL_DIGEST_LEN, hex);
        rc = state_put(j, RS_JSTATE_TARGET_DIGEST, hex, err);
    } else {
        rc = state_put(j, RS_JSTATE_TARGET_DIGEST, NULL, err);
    }
    if (rc)
        return rc;
    snprintf(num, sizeof num, "%lld", (long long)t->mtime_ns);
    if ((rc = state_put(j, RS_JSTATE_TARGET_MTIME_NS, num, err)))
        return rc;
    snprintf(num, sizeof num, "%llu", (unsigned long long)t->size);
    if ((rc = state_put(j, RS_JSTATE_TARGET_SIZE, num, err)))
        return rc;
    snprintf(num, sizeof num, "%llu", (unsigned long long)t->inode);
    return state_put(j, RS_JSTATE_TARGET_INODE, num, err);
}

int rs_journal_target_set(rs_journal *j, const rs_journal_target *t, rs_error *err)
{
    int rc = jr_writable(j, err);
    if (rc)
        return rc;
    if (!t)
        return jr_jerr(j, err, RS_EINVALID, "target: NULL");
    if ((rc = jr_exec(j, "BEGIN IMMEDIATE", err)))
        return rc;
    if ((rc = target_put(j, t, err))) {
        jr_rollback(j);
        return rc;
    }
    return jr_exec(j, "COMMIT", err);
}

int rs_journal_target_get(rs_journal *j, rs_journal_target *t, rs_error *err)
{
    if (!j || !t)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    memset(t, 0, sizeof *t);
    int64_t mt, sz, ino;
    int rc;
    if ((rc = rs_journal_state_get_i64(j, RS_JSTATE_TARGET_MTIME_NS, &mt, err)) ||
        (rc = rs_journal_state_get_i64(j, RS_JSTATE_TARGET_SIZE, &sz, err)) ||
        (rc = rs_journal_state_get_i64(j, RS_JSTATE_TARGET_INODE, &ino, err)))
        return rc == RS_ENOTFOUND ? jr_jerr(j, err, RS_ENOTFOUND, "the target was never recorded") : rc;
    t->mtime_ns = mt;
    t->size = (uint64_t)sz;
    t->inode = (uint64_t)ino;
    char *hex = NULL;
    rc = rs_journal_state_get(j, RS_JSTATE_TARGET_DIGEST, &hex, err);
    if (rc == RS_OK) {
        if (strlen(hex) != 2 * RS_JOURNAL_DIGEST_LEN || rs_unhex(hex, t->digest, RS_JOURNAL_DIGEST_LEN) != 0)
            rc = jr_jerr(j, err, RS_ECORRUPT, "state %s: not a digest", RS_JSTATE_TARGET_DIGEST);
        else
            t->has_digest = true;
    } else if (rc == RS_ENOTFOUND) {
        rc = RS_OK;
    }
    free(hex);
    if (rc == RS_OK)
        rs_error_clear(err);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* recording */

static const uint8_t *expected_digest(const rs_journal_entry *e)
{
    if (e->has_target_digest)
        return e->target_digest;
    if (e->has_filtered_digest)
        return e->filtered_digest;
    if (e->has_result_digest)
        return e->result_digest;
    return NULL;
}

/* The body of record_apply; the caller holds a write transaction. */
static int record_locked(rs_journal *j, const rs_journal_entry *e, const rs_journal_target *t, rs_error *err)
{
    int64_t now = rs_wall_ms();
    int64_t last = 0;
    int rc = jr_query_i64(j, "SELECT coalesce(max(version), 0) FROM applied", &last, err);
    if (rc)
        return rc;
    int64_t v = (int64_t)e->version;
    bool noop = false;
    if (e->kind == RS_JOURNAL_APPLY) {
        if (v <= last) {
            rs_journal_entry old;
            rc = get_one(j, "SELECT " ENTRY_COLS " FROM applied WHERE version = ?1", true, e->version, &old, err);
            if (rc == RS_OK) {
                bool same = old.has_result_digest == e->has_result_digest &&
                            (!e->has_result_digest || memcmp(old.result_digest, e->result_digest, RS_JOURNAL_DIGEST_LEN) == 0);
                rs_journal_entry_clear(&old);
                if (!same)
                    return jr_jerr(j, err, RS_ECONFLICT, "version %lld is already journaled with a different result digest", (long long)v);
                noop = true;
            } else if (rc == RS_ENOTFOUND) {
                return jr_jerr(j, err, RS_ECONFLICT, "cannot apply version %lld below the last journaled version %lld (use a rollback, pin or bootstrap entry)",
                            (long long)v, (long long)last);
            } else {
                return rc;
            }
        }
    } else if (v <= last) {
        sqlite3_stmt *st;
        if ((rc = jr_prep(j,
                       "INSERT INTO superseded (superseded_at_ms, superseded_by, " ENTRY_COLS ") "
                       "SELECT ?1, ?2, " ENTRY_COLS " FROM applied WHERE version >= ?2 ORDER BY version",
                       &st, err)))
            return rc;
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int64(st, 2, v);
        int s = sqlite3_step(st);
        sqlite3_finalize(st);
        if (s != SQLITE_DONE)
            return jr_dberr(j, err, s, "move superseded versions");
        if ((rc = jr_prep(j, "DELETE FROM applied WHERE version >= ?1", &st, err)))
            return rc;
        sqlite3_bind_int64(st, 1, v);
        s = sqlite3_step(st);
        sqlite3_finalize(st);
        if (s != SQLITE_DONE)
            return jr_dberr(j, err, s, "remove superseded versions");
    }
    if (!noop) {
        sqlite3_stmt *st;
        if ((rc = jr_prep(j, "INSERT INTO applied (" ENTRY_COLS ") VALUES (" ENTRY_PARAMS ")", &st, err)))
            return rc;
        bind_entry(st, e, now);
        int s = sqlite3_step(st);
        sqlite3_finalize(st);
        if (s != SQLITE_DONE)
            return jr_dberr(j, err, s, "insert version");
    }
    if ((rc = jr_exec(j, "DELETE FROM pending", err)))
        return rc;
    if (t && (rc = target_put(j, t, err)))
        return rc;
    return RS_OK;
}

int rs_journal_record_apply_ex(rs_journal *j, const rs_journal_entry *e, const rs_journal_target *target, rs_error *err)
{
    int rc = jr_writable(j, err);
    if (rc || (rc = check_entry(j, e, err)))
        return rc;
    if ((rc = jr_exec(j, "BEGIN IMMEDIATE", err)))
        return rc;
    if ((rc = record_locked(j, e, target, err))) {
        jr_rollback(j);
        return rc;
    }
    return jr_exec(j, "COMMIT", err);
}

int rs_journal_record_apply(rs_journal *j, const rs_journal_entry *e, rs_error *err)
{
    return rs_journal_record_apply_ex(j, e, NULL, err);
}

/* ------------------------------------------------------------------------------------------ */
/* pending and recovery */

int rs_journal_pending_set(rs_journal *j, const rs_journal_entry *e, rs_error *err)
{
    int rc = jr_writable(j, err);
    if (rc || (rc = check_entry(j, e, err)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = jr_prep(j,
                   "INSERT OR REPLACE INTO pending (id, created_at_ms, " ENTRY_COLS ") VALUES (1, ?15, " ENTRY_PARAMS ")",
                   &st, err)))
        return rc;
    int64_t now = rs_wall_ms();
    bind_entry(st, e, now);
    sqlite3_bind_int64(st, 15, now);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? RS_OK : jr_dberr(j, err, s, "write pending");
}

int rs_journal_pending_get(rs_journal *j, rs_journal_entry *out, rs_error *err)
{
    if (!j || !out)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    memset(out, 0, sizeof *out);
    int rc = get_one(j, "SELECT " ENTRY_COLS " FROM pending WHERE id = 1", false, 0, out, err);
    if (rc == RS_ENOTFOUND)
        return jr_jerr(j, err, RS_ENOTFOUND, "no pending version");
    return rc;
}

int rs_journal_pending_clear(rs_journal *j, rs_error *err)
{
    int rc = jr_writable(j, err);
    return rc ? rc : jr_exec(j, "DELETE FROM pending", err);
}

int rs_journal_recover(rs_journal *j, const rs_journal_target *observed, rs_journal_recovery *out, rs_error *err)
{
    const uint8_t *target_digest = observed ? (observed->has_digest ? observed->digest : NULL) : NULL;
    bool missing = observed == NULL;
    int rc = jr_writable(j, err);
    if (rc)
        return rc;
    if (!out)
        return jr_jerr(j, err, RS_EINVALID, "recover: NULL result");
    *out = RS_JOURNAL_CONSISTENT;
    rs_journal_entry pend = {0}, last = {0};
    bool has_pend = false, has_last = false;
    char msg[512] = "";
    uint64_t ev_version = 0;
    if ((rc = jr_exec(j, "BEGIN IMMEDIATE", err)))
        return rc;
    rc = get_one(j, "SELECT " ENTRY_COLS " FROM pending WHERE id = 1", false, 0, &pend, err);
    if (rc == RS_OK)
        has_pend = true;
    else if (rc != RS_ENOTFOUND)
        goto fail;
    rc = get_one(j, "SELECT " ENTRY_COLS " FROM applied ORDER BY version DESC LIMIT 1", false, 0, &last, err);
    if (rc == RS_OK)
        has_last = true;
    else if (rc != RS_ENOTFOUND)
        goto fail;
    rc = RS_OK;
    const uint8_t *exp_last = has_last ? expected_digest(&last) : NULL;
    bool target_is_last = has_last ? (exp_last && target_digest && memcmp(exp_last, target_digest, RS_JOURNAL_DIGEST_LEN) == 0)
                                   : missing;
    if (has_pend) {
        const uint8_t *exp_pend = expected_digest(&pend);
        ev_version = pend.version;
        if (exp_pend && target_digest && memcmp(exp_pend, target_digest, RS_JOURNAL_DIGEST_LEN) == 0) {
            if ((rc = record_locked(j, &pend, observed, err)))
                goto fail;
            *out = RS_JOURNAL_COMMITTED;
            snprintf(msg, sizeof msg, "target holds pending version %llu: recorded it", (unsigned long long)pend.version);
        } else {
            if ((rc = jr_exec(j, "DELETE FROM pending", err)))
                goto fail;
            if (target_is_last) {
                *out = RS_JOURNAL_DISCARDED;
                snprintf(msg, sizeof msg, "target still holds version %llu: dropped pending version %llu",
                         (unsigned long long)(has_last ? last.version : 0), (unsigned long long)pend.version);
            } else {
                *out = RS_JOURNAL_MISMATCH;
                snprintf(msg, sizeof msg, "target %s neither the last version %llu nor pending version %llu",
                         missing ? "is missing: it is" : "holds", (unsigned long long)(has_last ? last.version : 0),
                         (unsigned long long)pend.version);
            }
        }
    } else if (!target_is_last && !(has_last && !exp_last)) {
        *out = RS_JOURNAL_MISMATCH;
        ev_version = has_last ? last.version : 0;
        if (has_last)
            snprintf(msg, sizeof msg, "target %s what version %llu wrote", missing ? "is missing; expected" : "differs from",
                     (unsigned long long)last.version);
        else
            snprintf(msg, sizeof msg, "target exists but the journal is empty");
    }
    if ((*out == RS_JOURNAL_CONSISTENT || *out == RS_JOURNAL_DISCARDED) && observed && (rc = target_put(j, observed, err)))
        goto fail;
    if (*out != RS_JOURNAL_CONSISTENT &&
        (rc = jr_event_insert(j, *out == RS_JOURNAL_MISMATCH ? RS_LOG_WARN : RS_LOG_INFO, "recovery", ev_version, msg, err)))
        goto fail;
    rc = jr_exec(j, "COMMIT", err);
    if (rc)
        goto fail;
    rs_journal_entry_clear(&pend);
    rs_journal_entry_clear(&last);
    return RS_OK;
fail:
    jr_rollback(j);
    rs_journal_entry_clear(&pend);
    rs_journal_entry_clear(&last);
    *out = RS_JOURNAL_CONSISTENT;
    return rc;
}
