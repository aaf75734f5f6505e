/* pg_impl.h: libpq helpers shared by pg.c (the postgresql:// backend) and feast_sql.c (the
 * Feast SQL registry source). Private to storage/.
 *
 * Ownership: strings returned through out-parameters are malloc'd (caller frees); a PGconn from
 * rs_pg_connect belongs to the caller (PQfinish). Messages never contain a password: they name the
 * server with rs_pg_url_display(), never with the connection string.
 */
#ifndef RS_PG_IMPL_H
#define RS_PG_IMPL_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "rs_storage.h"

/* Removes every "name=value" from the query string of url (in place; drops a '?' left empty) and
 * returns the last value, %-decoded, in *value (NULL when absent). RS_OK, RS_ENOMEM or RS_EINVALID
 * (bad escape). */
int rs_pg_url_take_param(char *url, const char *name, char **value, rs_error *err);

/* "postgresql://user@host:port/db" for messages: no password, no query string except host=. */
char *rs_pg_url_display(const char *url);

/* Connects with the libpq URI conninfo (application_name, connect_timeout and TCP keepalives
 * default from opts/app unless the URI sets them; a password_file=PATH parameter is taken out
 * and the password read from PATH now, so a rotated secret counts at the next connect; an
 * unreadable or empty file is RS_EAUTH naming the path), then sets statement_timeout when
 * statement_timeout_ms > 0. Failures are mapped: authentication -> RS_EAUTH (not retryable),
 * refused/unreachable/starting up -> RS_EIO (retryable), bad parameters/SSL -> RS_EINVALID.
 * Messages are prefixed with display. */
int rs_pg_connect(const char *conninfo, const char *display, const char *app, const rs_storage_opts *opts,
                  long statement_timeout_ms, PGconn **out, rs_error *err);

/* Maps a failed query (res may be NULL: the connection broke) to an rs_status and message
 * "<display>: <what>: <server message> (SQLSTATE x)". Returns the code. */
int rs_pg_query_error(PGconn *conn, const PGresult *res, const char *display, const char *what, rs_error *err);

/* The SQLSTATE of res, or "" when none. Borrowed. */
const char *rs_pg_sqlstate(const PGresult *res);

#endif
