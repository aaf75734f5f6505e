/* rs_target.h: where a region's copy of the registry is written.
 *
 *   file:///var/lib/feast/registry.db or /var/lib/feast/registry.db
 *       atomic replace: temp file in the same directory, write, fsync, mode and owner of the old
 *       file kept, rename over the target, fsync the directory. A reader (Feast) sees the old
 *       file or the new one, never a mix. One agent per target (rs_target_lock); stale temp
 *       files from a killed process are removed when the lock is taken.
 *   s3://bucket/key?..., postgresql://..., mysql://... (a storage URL naming one object)
 *       one unconditional put of the whole object (regional buckets)
 *
 * Ownership: the caller owns the handle and every buffer returned.
 */
#ifndef RS_TARGET_H
#define RS_TARGET_H

#include "rs_registry.h"
#include "rs_storage.h"

typedef struct rs_target rs_target;

typedef struct rs_target_stamp {
    bool exists;
    int64_t mtime_ns;
    uint64_t size;
    uint64_t inode;
    char etag[RS_ETAG_MAX];   /* storage targets */
} rs_target_stamp;

/* Opens a target; takes no lock (see rs_target_lock). */
int rs_target_open(const char *target, const rs_storage_opts *opts, rs_target **out, rs_error *err);
void rs_target_close(rs_target *t);
const char *rs_target_describe(const rs_target *t);
bool rs_target_is_file(const rs_target *t);
/* One writer per file target: an flock(2) on <dir>/.<name>.regsync.lock, held until
 * rs_target_close (or the process dies), whose content names the holder (pid, host, owner).
 * RS_ECONFLICT, naming the holder, when another handle or process holds it; RS_EIO when the
 * lock file cannot be created (read-only or full directory): rs_target_write tries again and
 * writes nothing without the lock. Taking it removes stale temp files of a killed writer.
 * Storage targets: no lock (RS_OK). owner may be NULL (keep the previous one). */
int rs_target_lock(rs_target *t, const char *owner, rs_error *err);
bool rs_target_locked(const rs_target *t);
const char *rs_target_path(const rs_target *t);  /* file targets: the path; else NULL */

int rs_target_write(rs_target *t, const uint8_t *data, size_t len, rs_target_stamp *stamp_out, rs_error *err);
/* The same for a registry's encoding (rs_registry_encode's bytes), written from the objects' own
 * bytes with writev, 512 objects per call, without a registry-sized buffer (file targets; a
 * storage target encodes it and puts it whole). Same atomic replace and errors. */
int rs_target_write_registry(rs_target *t, const rs_registry *r, rs_target_stamp *stamp_out, rs_error *err);
/* RS_ENOTFOUND when the target does not exist yet. */
int rs_target_read(rs_target *t, uint8_t **data, size_t *len, rs_target_stamp *stamp_out, rs_error *err);
/* Cheap: stat for files, a conditional read for storage targets. */
int rs_target_stat(rs_target *t, rs_target_stamp *out, rs_error *err);
bool rs_target_stamp_equal(const rs_target_stamp *a, const rs_target_stamp *b);

#endif
