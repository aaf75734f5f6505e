/* rs_control.c: see rs_control.h and docs/fleet.md. */
#define RS_ERROR_ORIGIN RS_ORIGIN_DATA /* the errors this file makes (common/rs_error.h) */
#include "rs_control.h"
#include "rs_logproto.h"
#include "rs_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsync/v1/log.pb-c.h"

static const char *const ACTIONS[] = {"pause", "resume", "pin", "unpin", "rollback"};

int rs_control_action_parse(const char *s)
{
    for (int i = 0; s && i < (int)(sizeof ACTIONS / sizeof ACTIONS[0]); i++)
        if (strcmp(s, ACTIONS[i]) == 0)
            return i;
    return -1;
}

const char *rs_control_action_name(rs_control_action a)
{
    return (unsigned)a < sizeof ACTIONS / sizeof ACTIONS[0] ? ACTIONS[a] : "?";
}

int rs_control_encode(const rs_region_control *c, uint8_t **out, size_t *len, rs_error *err)
{
    Regsync__V1__RegionControl m = REGSYNC__V1__REGION_CONTROL__INIT;
    Google__Protobuf__Timestamp at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    m.region = (char *)c->region;
    m.paused = c->paused;
    m.pinned_version = c->pinned_version;
    m.rollback = c->rollback;
    m.by = (char *)c->by;
    if (c->at_ms) {
        at.seconds = c->at_ms / 1000;
        at.nanos = (int32_t)(c->at_ms % 1000) * 1000000;
        m.at = &at;
    }
    m.action = (char *)c->action;
    m.serial = c->serial;
    size_t n = regsync__v1__region_control__get_packed_size(&m);
    *out = malloc(n ? n : 1);
    if (!*out)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    *len = regsync__v1__region_control__pack(&m, *out);
    return RS_OK;
}

int rs_control_decode(const uint8_t *p, size_t n, rs_region_control *out, rs_error *err)
{
    memset(out, 0, sizeof *out);
    Regsync__V1__RegionControl *m = regsync__v1__region_control__unpack(NULL, n, p);
    if (!m)
        return rs_error_set(err, RS_ECORRUPT, "not a regsync.v1.RegionControl message (%zu bytes)", n);
    snprintf(out->region, sizeof out->region, "%s", m->region ? m->region : "");
    out->paused = m->paused;
    out->pinned_version = m->pinned_version;
    out->rollback = m->rollback;
    snprintf(out->by, sizeof out->by, "%s", m->by ? m->by : "");
    /* untrusted: a time beyond what milliseconds in int64 hold is no time */
    if (m->at && m->at->seconds > -(INT64_MAX / 1000 - 1) && m->at->seconds < INT64_MAX / 1000 - 1)
        out->at_ms = m->at->seconds * 1000 + m->at->nanos / 1000000;
    snprintf(out->action, sizeof out->action, "%s", m->action ? m->action : "");
    out->serial = m->serial;
    regsync__v1__region_control__free_unpacked(m, NULL);
    return RS_OK;
}

int rs_control_read(rs_storage *s, const char *region, const char *if_none_match, rs_region_control *out,
                    char etag_out[RS_ETAG_MAX], rs_error *err)
{
    char key[256];
    rs_log_control_key(region, key, sizeof key);
    uint8_t *d;
    size_t l;
    int rc = rs_storage_get(s, key, if_none_match, &d, &l, etag_out, err);
    if (rc)
        return rc;
    rc = rs_control_decode(d, l, out, err);
    free(d);
    if (rc)
        rs_error_prefix(err, "%s", key);
    return rc;
}

int rs_control_apply(rs_storage *s, const char *region, rs_control_action action, uint64_t version, const char *by,
                     rs_region_control *out, rs_error *err)
{
    if ((action == RS_CONTROL_PIN || action == RS_CONTROL_ROLLBACK) && !version)
        return rs_error_set(err, RS_EINVALID, "%s needs a positive version", rs_control_action_name(action));
    if ((unsigned)action > RS_CONTROL_ROLLBACK)
        return rs_error_set(err, RS_EINVALID, "unknown control action %d", (int)action);
    char key[256];
    rs_log_control_key(region, key, sizeof key);
    for (int attempt = 0; attempt < 20; attempt++) {
        rs_region_control c;
        char etag[RS_ETAG_MAX] = "";
        rs_error re = {0};
        int rc = rs_control_read(s, region, NULL, &c, etag, &re);
        bool exists = rc == RS_OK;
        if (rc == RS_ENOTFOUND) {
            memset(&c, 0, sizeof c);
            rc = RS_OK;
        }
        if (rc) {
            if (err)
                *err = re;
            return rc;
        }
        snprintf(c.region, sizeof c.region, "%s", region);
        switch (action) {
        case RS_CONTROL_PAUSE: c.paused = true; break;
        case RS_CONTROL_RESUME: c.paused = false; break;
        case RS_CONTROL_PIN:
            c.pinned_version = version;
            c.rollback = false;
            break;
        case RS_CONTROL_ROLLBACK:
            c.pinned_version = version;
            c.rollback = true;
            break;
        case RS_CONTROL_UNPIN:
            c.pinned_version = 0;
            c.rollback = false;
            break;
        }
        snprintf(c.by, sizeof c.by, "%s", by && *by ? by : "unknown");
        c.at_ms = rs_wall_ms();
        snprintf(c.action, sizeof c.action, "%s", rs_control_action_name(action));
        c.serial++;
        uint8_t *b;
        size_t bl;
        rc = rs_control_encode(&c, &b, &bl, err);
        if (rc)
            return rc;
        rs_error pe = {0};
        rc = rs_storage_put(s, key, b, bl, exists ? RS_PUT_IF_MATCH : RS_PUT_IF_ABSENT, exists ? etag : NULL, NULL, &pe);
        free(b);
        if (rc == RS_ECONFLICT)
            continue; /* another writer changed it: read again and redo the action on top */
        if (rc) {
            if (err)
                *err = pe;
            return rc;
        }
        if (out)
            *out = c;
        return RS_OK;
    }
    return rs_error_set(err, RS_ECONFLICT, "%s: gave up after 20 lost compare-and-swaps", key);
}

bool rs_control_active(const rs_region_control *c) { return c->paused || c->pinned_version; }

void rs_control_describe(const rs_region_control *c, char *out, size_t n)
{
    if (!rs_control_active(c)) {
        snprintf(out, n, "none (last: %s by %s)", c->action[0] ? c->action : "-", c->by[0] ? c->by : "-");
        return;
    }
    char when[48] = "";
    if (c->at_ms)
        rs_time_rfc3339_ms(c->at_ms, when, sizeof when);
    char pin[64] = "";
    if (c->pinned_version)
        snprintf(pin, sizeof pin, "%spinned at %" PRIu64 "%s", c->paused ? ", " : "", c->pinned_version,
                 c->rollback ? " (rollback)" : "");
    snprintf(out, n, "region-wide %s%s by %s%s%s", c->paused ? "pause" : "", pin, c->by, when[0] ? " at " : "", when);
}
