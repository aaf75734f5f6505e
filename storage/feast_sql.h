/* feast_sql.h: Feast's SQL registry (registry_type: sql, on PostgreSQL or MySQL, CloudSQL too) as a
 * read-only source of a whole feast.core.Registry.
 *
 * Feast's SQL registry keeps one table per kind (entities, feature_views, ..., projects,
 * feature_view_version_history, feast_metadata); each row's <kind>_proto (BYTEA, MySQL BLOB or
 * LONGBLOB) is one serialized
 * object. rs_feast_sql_read() reads every table in one REPEATABLE READ snapshot and assembles the
 * serialized Registry: each row becomes one occurrence of the Registry field of its kind, rows
 * ordered by (project_id, name) in byte order, kinds in field-number order. Tables that do not
 * exist (older Feast) are skipped. Object bytes are emitted as stored, except that a missing or
 * different project field is set to the row's project_id (as Feast does); a MySQL value exactly as
 * long as its column type allows (64 KB BLOB) is refused as cut (RS_ECORRUPT). See docs/storage.md
 * for the full mapping (infra, project metadata, version history, last_updated).
 *
 * rs_feast_sql_changed() costs one small query (per table: row count, max last_updated_timestamp,
 * sum of row versions on Postgres, a sum of row digests on MySQL), so polling an unchanged
 * registry moves a few hundred bytes.
 *
 * Ownership: the caller owns the handle (rs_feast_sql_close accepts NULL) and every buffer
 * returned through an out-parameter (free()). A handle is not thread-safe. Errors never contain
 * the password.
 */
#ifndef RS_FEAST_SQL_H
#define RS_FEAST_SQL_H

#include <stddef.h>
#include <stdint.h>

#include "rs_error.h"
#include "rs_storage.h"

typedef struct rs_feast_sql rs_feast_sql;

/* url: a libpq URI (postgresql:// or postgres://), or the SQLAlchemy form Feast's
 * feature_store.yaml uses (postgresql+psycopg://, postgresql+psycopg2://, postgresql+pg8000://);
 * or a MySQL URL (mysql://, mariadb://, mysql+pymysql://, mysql+mysqldb://, ...; see
 * mysql_impl.h). Postgres tables are found through the connection's search_path (set it with
 * options=-csearch_path%3DS), MySQL tables in the URL's database.
 * opts may be NULL (connect_timeout_ms, statement_timeout_ms and max_retries are used).
 * Fails with RS_ENOTFOUND when none of Feast's tables is visible. */
int rs_feast_sql_open(const char *url, const rs_storage_opts *opts, rs_feast_sql **out, rs_error *err);
void rs_feast_sql_close(rs_feast_sql *h);

/* Assembles the whole Registry. *data is malloc'd (non-NULL even when empty). stamp_out (may be
 * NULL) receives the change stamp of the same snapshot (malloc'd), for rs_feast_sql_changed. */
int rs_feast_sql_read(rs_feast_sql *h, uint8_t **data, size_t *len, char **stamp_out, rs_error *err);

/* One query. RS_OK when the registry changed since prev_stamp (always when prev_stamp is NULL),
 * RS_ENOTMODIFIED when it did not; new_stamp_out (may be NULL) receives the current stamp
 * (malloc'd) in both cases. */
int rs_feast_sql_changed(rs_feast_sql *h, const char *prev_stamp, char **new_stamp_out, rs_error *err);

/* Names of the Feast tables found (borrowed; valid until the next call on h). */
size_t rs_feast_sql_tables(const rs_feast_sql *h, const char *const **names);

/* Requests, bytes received, retries, errors since open. */
void rs_feast_sql_get_stats(const rs_feast_sql *h, rs_storage_stats *out);

/* "postgresql://user@host:port/db" (no password). Borrowed. */
const char *rs_feast_sql_url(const rs_feast_sql *h);

#endif
