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

static void vset(rs_error *e, int code, bool retryable, const char *fmt, va_list ap)
{
    e->code = code;
    e->retryable = retryable;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
}

int rs_error_set(rs_error *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vset(e, code, default_retryable(code), fmt, ap);
        va_end(ap);
    }
    return code;
}

int rs_error_setr(rs_error *e, int code, bool retryable, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vset(e, code, retryable, fmt, ap);
        va_end(ap);
    }
    return code;
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
        e->msg[0] = '\0';
    }
}
