/* rs_journal_events.c: the journal's events (insert, read, keep the newest max_events), counts and
 * pruning of old entries. See rs_journal.h, docs/journal.md. */
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

static const char *const level_names[] = {"debug", "info", "warn", "error"};
/* ------------------------------------------------------------------------------------------ */
/* events */

int jr_event_insert(rs_journal *j, rs_log_level level, const char *kind, uint64_t version, const char *msg, rs_error *err)
{
    sqlite3_stmt *st;
    int rc = jr_prep(j, "INSERT INTO events (at_ms, level, kind, version, message) VALUES (?1, ?2, ?3, ?4, ?5)", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, rs_wall_ms());
    sqlite3_bind_text(st, 2, level_names[(unsigned)level < 4 ? level : RS_LOG_ERROR], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_TRANSIENT);
    if (version && version <= (uint64_t)INT64_MAX)
        sqlite3_bind_int64(st, 4, (int64_t)version);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_text(st, 5, msg, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s != SQLITE_DONE)
        return jr_dberr(j, err, s, "insert event");
    if (++j->inserts_since_prune >= 64) {
        j->inserts_since_prune = 0;
        if ((rc = jr_prep(j, "DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?1)", &st, err)))
            return rc;
        sqlite3_bind_int64(st, 1, (int64_t)j->max_events);
        s = sqlite3_step(st);
        sqlite3_finalize(st);
        if (s != SQLITE_DONE)
            return jr_dberr(j, err, s, "prune events");
    }
    return RS_OK;
}

int rs_journal_event(rs_journal *j, rs_log_level level, const char *kind, uint64_t version, const char *fmt, ...)
{
    int rc = jr_writable(j, NULL);
    if (rc)
        return rc;
    if (!kind || !*kind || !fmt)
        return jr_jerr(j, NULL, RS_EINVALID, "event: empty kind or message");
    char msg[EVENT_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return jr_event_insert(j, level, kind, version, msg, NULL);
}

void rs_journal_events_free(rs_journal_event_rec *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].kind);
        free(v[i].message);
    }
    free(v);
}

static int fetch_events(rs_journal *j, sqlite3_stmt *st, rs_journal_event_rec **out, size_t *n, rs_error *err)
{
    rs_journal_event_rec *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = RS_OK, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            rs_journal_event_rec *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                rc = jr_jerr(j, err, RS_ENOMEM, "out of memory");
                break;
            }
            v = nv;
            cap = nc;
        }
        rs_journal_event_rec *r = &v[cnt];
        memset(r, 0, sizeof *r);
        r->id = sqlite3_column_int64(st, 0);
        r->at_ms = sqlite3_column_int64(st, 1);
        const char *lv = (const char *)sqlite3_column_text(st, 2);
        int l = lv ? rs_log_level_parse(lv) : -1;
        r->level = l < 0 ? RS_LOG_ERROR : (rs_log_level)l;
        r->version = sqlite3_column_type(st, 4) == SQLITE_NULL ? 0 : (uint64_t)sqlite3_column_int64(st, 4);
        cnt++;
        if (jr_col_text(st, 3, &r->kind) || jr_col_text(st, 5, &r->message) || !r->kind || !r->message) {
            rc = jr_jerr(j, err, RS_ENOMEM, "out of memory");
            break;
        }
    }
    if (rc == RS_OK && s != SQLITE_DONE)
        rc = jr_dberr(j, err, s, "read events");
    if (rc) {
        rs_journal_events_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return RS_OK;
}

#define EVENT_COLS "id, at_ms, level, kind, version, message"

int rs_journal_events(rs_journal *j, int64_t since_id, size_t limit, rs_journal_event_rec **out, size_t *n, rs_error *err)
{
    if (!j || !out || !n)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    int rc = jr_prep(j, "SELECT " EVENT_COLS " FROM events WHERE id > ?1 ORDER BY id LIMIT ?2", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, since_id);
    sqlite3_bind_int64(st, 2, limit ? (int64_t)(limit > 1000000 ? 1000000 : limit) : 100);
    rc = fetch_events(j, st, out, n, err);
    sqlite3_finalize(st);
    return rc;
}

int rs_journal_events_recent(rs_journal *j, const char *kind, size_t limit, rs_journal_event_rec **out, size_t *n, rs_error *err)
{
    if (!j || !out || !n)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    int rc = jr_prep(j,
                  kind ? "SELECT " EVENT_COLS " FROM events WHERE kind = ?1 ORDER BY id DESC LIMIT ?2"
                       : "SELECT " EVENT_COLS " FROM events ORDER BY id DESC LIMIT ?2",
                  &st, err);
    if (rc)
        return rc;
    if (kind)
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, limit ? (int64_t)(limit > 1000000 ? 1000000 : limit) : 100);
    rc = fetch_events(j, st, out, n, err);
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* counts and pruning */

void rs_journal_counts_clear(rs_journal_counts *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_event_kinds; i++)
        free(c->event_kinds[i].kind);
    free(c->event_kinds);
    memset(c, 0, sizeof *c);
}

int rs_journal_counts_get(rs_journal *j, rs_journal_counts *out, rs_error *err)
{
    if (!j || !out)
        return rs_error_set(err, RS_EINVALID, "journal: NULL argument");
    memset(out, 0, sizeof *out);
    int rc = jr_exec(j, "BEGIN", err); /* one consistent snapshot */
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    int s;
    if ((rc = jr_prep(j, "SELECT count(*), coalesce(min(version), 0), coalesce(max(version), 0), coalesce(max(applied_at_ms), 0) FROM applied",
                   &st, err)))
        goto fail;
    if ((s = sqlite3_step(st)) != SQLITE_ROW) {
        rc = jr_dberr(j, err, s, "count versions");
        goto fail;
    }
    out->applied = (uint64_t)sqlite3_column_int64(st, 0);
    out->first_version = (uint64_t)sqlite3_column_int64(st, 1);
    out->last_version = (uint64_t)sqlite3_column_int64(st, 2);
    out->last_applied_at_ms = sqlite3_column_int64(st, 3);
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = jr_prep(j, "SELECT kind, count(*) FROM applied GROUP BY kind", &st, err)))
        goto fail;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int k = rs_journal_kind_parse((const char *)sqlite3_column_text(st, 0));
        if (k >= 0)
            out->by_kind[k] = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    st = NULL;
    int64_t x;
    if ((rc = jr_query_i64(j, "SELECT count(*) FROM superseded", &x, err)))
        goto fail;
    out->superseded = (uint64_t)x;
    if ((rc = jr_query_i64(j, "SELECT count(*) FROM events", &x, err)))
        goto fail;
    out->events = (uint64_t)x;
    if ((rc = jr_prep(j, "SELECT level, count(*) FROM events GROUP BY level", &st, err)))
        goto fail;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *lv = (const char *)sqlite3_column_text(st, 0);
        int l = lv ? rs_log_level_parse(lv) : -1;
        if (l >= 0 && l < RS_LOG_OFF)
            out->events_by_level[l] = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = jr_prep(j, "SELECT kind, count(*) FROM events GROUP BY kind ORDER BY kind", &st, err)))
        goto fail;
    size_t cap = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n_event_kinds == cap) {
            size_t nc = cap ? cap * 2 : 8;
            void *nv = realloc(out->event_kinds, nc * sizeof *out->event_kinds);
            if (!nv) {
                rc = jr_jerr(j, err, RS_ENOMEM, "out of memory");
                goto fail;
            }
            out->event_kinds = nv;
            cap = nc;
        }
        const char *k = (const char *)sqlite3_column_text(st, 0);
        out->event_kinds[out->n_event_kinds].kind = strdup(k ? k : "");
        out->event_kinds[out->n_event_kinds].n = (uint64_t)sqlite3_column_int64(st, 1);
        if (!out->event_kinds[out->n_event_kinds].kind) {
            rc = jr_jerr(j, err, RS_ENOMEM, "out of memory");
            goto fail;
        }
        out->n_event_kinds++;
    }
    if (s != SQLITE_DONE) {
        rc = jr_dberr(j, err, s, "count events");
        goto fail;
    }
    sqlite3_finalize(st);
    return jr_exec(j, "COMMIT", err);
fail:
    sqlite3_finalize(st);
    jr_rollback(j);
    rs_journal_counts_clear(out);
    return rc;
}

int rs_journal_prune(rs_journal *j, int64_t before_ms, uint64_t *n, rs_error *err)
{
    int rc = jr_writable(j, err);
    if (rc)
        return rc;
    if (n)
        *n = 0;
    if ((rc = jr_exec(j, "BEGIN IMMEDIATE", err)))
        return rc;
    const char *sqls[] = {"DELETE FROM superseded WHERE superseded_at_ms < ?1", "DELETE FROM events WHERE at_ms < ?1"};
    uint64_t total = 0;
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st;
        if ((rc = jr_prep(j, sqls[i], &st, err)))
            goto fail;
        sqlite3_bind_int64(st, 1, before_ms);
        int s = sqlite3_step(st);
        sqlite3_finalize(st);
        if (s != SQLITE_DONE) {
            rc = jr_dberr(j, err, s, "prune");
            goto fail;
        }
        total += (uint64_t)sqlite3_changes(j->db);
    }
    if ((rc = jr_exec(j, "COMMIT", err)))
        goto fail;
    if (n)
        *n = total;
    return RS_OK;
fail:
    jr_rollback(j);
    return rc;
}
