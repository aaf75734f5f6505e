/* rs_control.h: region-wide control records, regsync/control/<region> (regsync.v1.RegionControl).
 *
 * An operator (POST /v1/pause?scope=region, regsync-dump control --set ...) writes one record per
 * region; every instance of that region reads it with a conditional GET at every poll and obeys
 * it on top of its own (instance) controls: paused when either says so; the region's pin wins
 * over the instance's. Writes are read-modify-write with a compare-and-swap on the record's ETag
 * (created only-if-absent), retried when another writer got there first, so two operators never
 * lose each other's change. See docs/fleet.md.
 *
 * Ownership: rs_region_control owns nothing on the heap (fixed buffers). Functions borrow the
 * storage handle. Every function accepts a NULL err.
 */
#ifndef RS_CONTROL_H
#define RS_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#include "rs_storage.h"

typedef struct rs_region_control {
    char region[64];
    bool paused;
    uint64_t pinned_version;   /* 0: none */
    bool rollback;             /* the pin came from a rollback */
    char by[160];              /* who set it */
    int64_t at_ms;             /* when (the writer's wall clock) */
    char action[16];           /* pause, resume, pin, unpin, rollback */
    uint64_t serial;           /* increases with every change */
} rs_region_control;

typedef enum rs_control_action {
    RS_CONTROL_PAUSE,
    RS_CONTROL_RESUME,
    RS_CONTROL_PIN,
    RS_CONTROL_UNPIN,
    RS_CONTROL_ROLLBACK,
} rs_control_action;

/* "pause" ... "rollback" -> action; -1 when unknown. */
int rs_control_action_parse(const char *s);
const char *rs_control_action_name(rs_control_action a);

int rs_control_encode(const rs_region_control *c, uint8_t **out, size_t *len, rs_error *err);
int rs_control_decode(const uint8_t *p, size_t n, rs_region_control *out, rs_error *err);

/* Reads the region's record. RS_ENOTFOUND: none (nothing region-wide in force). With
 * if_none_match: RS_ENOTMODIFIED when unchanged. etag_out may be NULL. */
int rs_control_read(rs_storage *s, const char *region, const char *if_none_match, rs_region_control *out,
                    char etag_out[RS_ETAG_MAX], rs_error *err);

/* Applies an action to the region's record (version: pin and rollback) with compare-and-swap;
 * *out (may be NULL) receives the record as written. RS_EINVALID for a bad action/version. */
int rs_control_apply(rs_storage *s, const char *region, rs_control_action action, uint64_t version, const char *by,
                     rs_region_control *out, rs_error *err);

/* One line: "paused, pinned at 41 (rollback) by ops@ci at 2026-...", or "none". */
void rs_control_describe(const rs_region_control *c, char *out, size_t n);
/* True when the record holds anything in force (a pause or a pin). */
bool rs_control_active(const rs_region_control *c);

#endif
