#include "rs_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *rs_status_name(int code)
{
    switch (code) {
    case RS_OK: return "OK";
    case RS_ENOTFOUND: return "NOTFOUND";
    case RS_ECONFLICT: return "CONFLICT";
    case RS_ENOTMODIFIED: return "NOTMODIFIED";
    case RS_ETIMEOUT: return "TIMEOUT";
    case RS_ECORRUPT: return "CORRUPT";
    case RS_EIO: return "IO";
    case RS_EAUTH: return "AUTH";
    case RS_EINVALID: return "INVALID";
    case RS_ENOMEM: return "NOMEM";
    case RS_ETOOBIG: return "TOOBIG";
    case RS_EUNSUPPORTED: return "UNSUPPORTED";
    case RS_EUNAVAILABLE: return "UNAVAILABLE";
    case RS_ECANCELLED: return "CANCELLED";
    default: return "UNKNOWN";
    }
}

static bool default_retryable(int code)
{
    return code == RS_ETIMEOUT || code == RS_EIO || code == RS_EUNAVAILABLE;
}

const char *rs_error_origin_name(rs_error_origin o)
{
    switch (o) {
    case RS_ORIGIN_STORE: return "store";
    case RS_ORIGIN_SOURCE: return "source";
    case RS_ORIGIN_TARGET: return "target";
    case RS_ORIGIN_JOURNAL: return "journal";
    case RS_ORIGIN_DATA: return "data";
    case RS_ORIGIN_CONFIG: return "config";
    default: return "";
    }
}

static void vset(rs_error *e, rs_error_origin origin, int code, bool retryable, const char *fmt, va_list ap)
{
    e->code = code;
    e->retryable = retryable;
    e->origin = code == RS_OK ? RS_ORIGIN_NONE : origin;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
}

int rs_error_set_at(rs_error *e, rs_error_origin origin, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vset(e, origin, code, default_retryable(code), fmt, ap);
        va_end(ap);
    }
    return code;
}

int rs_error_setr_at(rs_error *e, rs_error_origin origin, int code, bool retryable, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vset(e, origin, code, retryable, fmt, ap);
        va_end(ap);
    }
    return code;
}

int rs_error_set_origin(rs_error *e, rs_error_origin o)
{
    if (!e)
        return RS_OK;
    if (e->code != RS_OK)
        e->origin = o;
    return e->code;
}

int rs_error_prefix(rs_error *e, const char *fmt, ...)
{
    if (!e)
        return RS_OK;
    char pre[RS_ERROR_MSG_MAX], old[RS_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t pl = strlen(pre);
    if (pl > sizeof e->msg - 3)
        pl = sizeof e->msg - 3;
    memcpy(e->msg, pre, pl);
    memcpy(e->msg + pl, ": ", 2);
    size_t room = sizeof e->msg - pl - 3, ol = strlen(old);
    if (ol > room)
        ol = room;
    memcpy(e->msg + pl + 2, old, ol);
    e->msg[pl + 2 + ol] = '\0';
    return e->code;
}

void rs_error_clear(rs_error *e)
{
    if (e) {
        e->code = RS_OK;
        e->retryable = false;
        e->origin = RS_ORIGIN_NONE;
        e->msg[0] = '\0';
    }
}
