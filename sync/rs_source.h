/* rs_source.h: where a publisher reads the registry Feast writes, with cheap change checks.
 *
 *   "registry.db" (no scheme)   a key in the global store
 *   file:///path/registry.db, /abs/path/registry.db, s3://bucket/key?...   one object
 *   postgresql://...            a Feast SQL registry (assembled from its tables)
 *   mysql://... (mariadb://)    a Feast SQL registry on MySQL
 *   http://..., https://...     a file served over HTTP(S) (read-only, conditional GET)
 *
 * rs_source_read returns RS_ENOTMODIFIED when the source is unchanged since the last successful
 * read (ETag for objects, a per-table stamp for Feast SQL, the ETag or Last-Modified of an
 * http(s) answer sent back as If-None-Match / If-Modified-Since). Ownership: the caller owns the
 * handle and *data. The store handle passed to rs_source_open is borrowed.
 */
#ifndef RS_SOURCE_H
#define RS_SOURCE_H

#include "rs_storage.h"

typedef struct rs_source rs_source;

int rs_source_open(const char *source, rs_storage *store, const rs_storage_opts *opts, rs_source **out, rs_error *err);
void rs_source_close(rs_source *s);
/* A description without credentials ("s3://bucket/feast/registry.db"). Borrowed. */
const char *rs_source_describe(const rs_source *s);
/* force: read even when unchanged. On RS_OK, tag receives the ETag or stamp of what was read. */
int rs_source_read(rs_source *s, bool force, uint8_t **data, size_t *len, char tag[RS_ETAG_MAX], rs_error *err);
/* Forget the last tag (the next read fetches the data). */
void rs_source_reset(rs_source *s);

#endif
