/* rs_logproto.h: the versioned log in the global store, identical on every backend.
 *
 *   regsync/HEAD                               Head (protobuf regsync.v1.Head)
 *   regsync/log/<20-digit version>             Change (regsync.v1.Change), immutable
 *   regsync/snapshots/<20-digit version>.db    a plain Feast registry.db at that version
 *   regsync/regions/<region>/<instance>        RegionStatus of one agent (the fleet: rs_fleet.h)
 *   regsync/regions/<region>                   the same, written by regsync before instances
 *   regsync/control/<region>                   RegionControl: a region-wide pause/pin (rs_control.h)
 *
 * Appending version N+1: create log/N+1 only if absent (the commit point), then replace HEAD only
 * if it is still the one read. A reader that finds log/N+1 while HEAD says N treats the log as
 * the truth; a publisher repairs HEAD. See docs/sync.md.
 *
 * Ownership: rs_head owns its snapshots array (rs_head_clear frees it). Everything returned
 * through out-parameters is owned by the caller. Functions take a storage handle they do not own.
 */
#ifndef RS_LOGPROTO_H
#define RS_LOGPROTO_H

#include "rs_change.h"
#include "rs_registry.h"
#include "rs_storage.h"

#define RS_LOG_FORMAT 1
#define RS_KEY_HEAD "regsync/HEAD"
#define RS_PREFIX_LOG "regsync/log/"
#define RS_PREFIX_SNAPSHOTS "regsync/snapshots/"
#define RS_PREFIX_REGIONS "regsync/regions/"
#define RS_PREFIX_CONTROL "regsync/control/"

typedef struct rs_head {
    uint64_t version;                     /* 0: empty log */
    uint8_t digest[RS_DIGEST_LEN];
    uint8_t content_digest[RS_DIGEST_LEN];
    uint64_t oldest_version;              /* oldest retained log entry */
    uint64_t snapshot_version;            /* newest snapshot, 0: none */
    uint64_t *snapshots;                  /* retained snapshots, ascending */
    size_t n_snapshots;
    char publisher[128];
    int64_t updated_ms;
    uint32_t format;
    uint64_t epoch;                       /* promotion epoch: 0 until the first `regsyncd promote`;
                                             readers ignore a HEAD older than the highest seen */
} rs_head;

void rs_head_clear(rs_head *h);
int rs_head_copy(rs_head *dst, const rs_head *src);

/* Key helpers: out must hold 64 bytes. */
void rs_log_entry_key(uint64_t version, char *out);
void rs_log_snapshot_key(uint64_t version, char *out);
void rs_log_region_key(const char *region, char *out, size_t n);   /* the region layout (format 1) */
void rs_log_instance_key(const char *region, const char *instance, char *out, size_t n);
void rs_log_control_key(const char *region, char *out, size_t n);

int rs_head_encode(const rs_head *h, uint8_t **out, size_t *len, rs_error *err);
int rs_head_decode(const uint8_t *p, size_t n, rs_head *out, rs_error *err);

/* Reads HEAD. RS_ENOTFOUND: no log yet. With if_none_match: RS_ENOTMODIFIED when unchanged. */
int rs_log_read_head(rs_storage *s, const char *if_none_match, rs_head *out, char etag[RS_ETAG_MAX], rs_error *err);
/* Writes HEAD: only if absent (if_match NULL) or only if its ETag is still if_match. */
int rs_log_write_head(rs_storage *s, const rs_head *h, const char *if_match, char etag_out[RS_ETAG_MAX], rs_error *err);

/* Reads and validates one log entry (version must match its key). RS_ENOTFOUND when absent. */
int rs_log_read_entry(rs_storage *s, uint64_t version, rs_change **out, size_t *bytes, rs_error *err);
/* Creates log/<c->version> only if absent: RS_ECONFLICT when another publisher got there first. */
int rs_log_append_entry(rs_storage *s, const rs_change *c, size_t *bytes, rs_error *err);

int rs_log_write_snapshot(rs_storage *s, uint64_t version, const rs_registry *r, rs_error *err);
/* Reads a snapshot and checks it decodes; the caller checks its digest against the log. */
int rs_log_read_snapshot(rs_storage *s, uint64_t version, rs_registry **out, size_t *bytes, rs_error *err);

/* The newest version present in the log, starting from `from` (HEAD's version): probes
 * log/from+1, from+2, ... (the log is the truth when HEAD lags). Reads the entries it finds into
 * *extra (caller frees with rs_changes_free), so they are not fetched twice. */
int rs_log_probe_beyond(rs_storage *s, uint64_t from, rs_change ***extra, size_t *n, rs_error *err);
void rs_changes_free(rs_change **v, size_t n);

/* Rebuilds the registry at `version`: newest snapshot <= version, then the log. */
int rs_log_materialize(rs_storage *s, const rs_head *h, uint64_t version, rs_registry **out, rs_error *err);

typedef struct rs_retention {
    uint64_t versions;     /* keep at least this many newest versions; 0: 1000 */
    int64_t age_ms;        /* keep entries younger than this; 0: 7 days */
} rs_retention;

/* Compaction: moves HEAD's oldest_version forward (CAS) and then deletes older entries and
 * snapshots. Never removes what HEAD needs: the newest snapshot and every entry after it. */
int rs_log_compact(rs_storage *s, const rs_retention *ret, uint64_t *deleted, rs_error *err);

#endif
