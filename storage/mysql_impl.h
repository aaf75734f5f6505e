/* mysql_impl.h: MariaDB Connector/C helpers shared by mysql.c (the mysql:// backend) and
 * feast_sql_mysql.c (Feast's SQL registry on MySQL). Private to storage/.
 *
 * URL: mysql://user:password@host:port/db?ssl-mode=...&ssl-ca=...&table_prefix=... (also
 * mariadb://). host may be a %-encoded absolute path (a unix socket: /cloudsql/p:r:i with the
 * Cloud SQL Auth Proxy's unix-socket mode) or absent with ?socket=/path. See docs/storage.md.
 *
 * Deadlines: every call that talks to the server runs under a deadline (rs_my_deadline_begin):
 * the connection's I/O waits go through our own wait function (Connector/C's MARIADB_OPT_IO_WAIT),
 * which gives up when the deadline passes; the caller then sees a client error, asks
 * rs_my_deadline_expired() and drops the connection (rs_my_close). The deadline lives in a
 * thread-local variable (the wait function gets no user pointer); a handle is used by one thread
 * at a time, so that is enough.
 *
 * Ownership: strings in rs_my_target are malloc'd and freed (the password wiped) by
 * rs_my_target_free; a MYSQL from rs_my_connect belongs to the caller (rs_my_close). Messages
 * never contain a password: they name the server with rs_my_target.display.
 */
#ifndef RS_MYSQL_IMPL_H
#define RS_MYSQL_IMPL_H

#include <mysql.h>
#include <stdbool.h>
#include <stdint.h>

#include "rs_storage.h"

#include "mysql_url.h"

typedef struct rs_my_session {
    bool mariadb;              /* server flavour (MariaDB or MySQL) */
    unsigned long max_packet;  /* the session's max_allowed_packet */
    bool tls;                  /* the connection uses TLS */
    char version[64];
} rs_my_session;

/* Connects under opts->connect_timeout_ms (default 5000), then sets the session: sql_mode with
 * STRICT_ALL_TABLES (never a silent truncation), time_zone UTC, and when stmt_timeout_ms > 0 the
 * server-side statement limit (max_statement_time on MariaDB, max_execution_time on MySQL) and
 * the InnoDB / metadata lock waits; reads max_allowed_packet. found_rows: UPDATE reports matched
 * rows (CLIENT_FOUND_ROWS). Errors: authentication -> RS_EAUTH, refused/unreachable -> RS_EIO
 * (retryable), unknown database / bad TLS settings -> RS_EINVALID, a certificate that does not
 * verify -> RS_EAUTH. Messages start with t->display. */
int rs_my_connect(const rs_my_target *t, const char *app, const rs_storage_opts *opts, long stmt_timeout_ms,
                  bool found_rows, MYSQL **out, rs_my_session *info, rs_error *err);
/* Closes without waiting for the server (the socket is shut down first). m may be NULL. */
void rs_my_close(MYSQL *m);

/* The call deadline of this thread: begin(ms) starts one (ms <= 0: 60000), end() clears it. */
void rs_my_deadline_begin(long timeout_ms);
void rs_my_deadline_end(void);
/* true when the current (or last) call ran out of its deadline. */
bool rs_my_deadline_expired(void);

/* Maps an error (mysql_errno / mysql_stmt_errno, sqlstate, message) to an rs_status and message
 * "<display>: <what>: <message> (MySQL error N, SQLSTATE S)". max_packet (0: unknown) is named in
 * the message of packet-size errors. Returns the code. Connection-level errors are retryable. */
int rs_my_error_code(unsigned code, const char *sqlstate, const char *msg, const char *display, const char *what,
                     unsigned long max_packet, rs_error *err);
int rs_my_error(MYSQL *m, const char *display, const char *what, unsigned long max_packet, rs_error *err);
int rs_my_stmt_error(MYSQL_STMT *st, const char *display, const char *what, unsigned long max_packet, rs_error *err);
/* true when the error code means the connection is gone (reconnect before the next call). */
bool rs_my_conn_broken(unsigned code);

/* A text-protocol statement under a deadline of timeout_ms. res (may be NULL: the result, if
 * any, is discarded) receives the stored result (caller mysql_free_result()s). */
int rs_my_query(MYSQL *m, const char *display, const char *what, const char *sql, long timeout_ms, MYSQL_RES **res,
                rs_error *err);

#endif
