/* rs_journal_impl.h: private to sync/ (docs/architecture.md): what the pieces of the journal share:
 * the handle, the column lists of an entry, and the SQL and error helpers one piece defines for the
 * others. The public interface is rs_journal.h. */
#ifndef RS_JOURNAL_IMPL_H
#define RS_JOURNAL_IMPL_H

#include "rs_journal.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define APPLICATION_ID 0x5253594a /* 'RSYJ' */
#define EVENT_MSG_MAX 4096
#define TEXT_MAX 4096

struct rs_journal {
    sqlite3 *db;
    char *path;
    int lock_fd;
    bool readonly;
    size_t max_events;
    unsigned inserts_since_prune;
    char errmsg[RS_ERROR_MSG_MAX];
};


#define ENTRY_COLS                                                                                                  \
    "version, kind, applied_at_ms, published_at_ms, duration_ms, parent_digest, result_digest, filtered_digest, " \
    "target_digest, ops_put, ops_delete, counts_by_kind, source_etag, publisher"
#define ENTRY_PARAMS "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14"

/* rs_journal.c */
int jr_jerr(rs_journal *j, rs_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int jr_dberr(rs_journal *j, rs_error *err, int rc, const char *op);
int jr_exec(rs_journal *j, const char *sql, rs_error *err);
int jr_prep(rs_journal *j, const char *sql, sqlite3_stmt **st, rs_error *err);
void jr_rollback(rs_journal *j);
int jr_query_i64(rs_journal *j, const char *sql, int64_t *out, rs_error *err);
/* rs_journal_entries.c */
int jr_col_text(sqlite3_stmt *st, int c, char **out);
int jr_writable(rs_journal *j, rs_error *err);
int jr_event_insert(rs_journal *j, rs_log_level level, const char *kind, uint64_t version, const char *msg, rs_error *err);


#endif
