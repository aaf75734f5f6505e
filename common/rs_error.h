/* rs_error.h: the one error enum of regsync, and an error struct with a message.
 *
 * Every fallible function returns RS_OK (0) or a negative rs_status, and fills an optional
 * rs_error (callers may pass NULL). The message names what failed and where; it never contains
 * a secret. rs_error lives on the caller's stack: nothing to free.
 */
#ifndef RS_ERROR_H
#define RS_ERROR_H

#include <stdbool.h>
#include <stddef.h>

typedef enum rs_status {
    RS_OK = 0,
    RS_ENOTFOUND = -1,     /* key, file, object or version does not exist */
    RS_ECONFLICT = -2,     /* a conditional write lost: the object exists or changed */
    RS_ENOTMODIFIED = -3,  /* conditional read: the caller's ETag is still current */
    RS_ETIMEOUT = -4,      /* an operation ran out of time */
    RS_ECORRUPT = -5,      /* input is not what it claims to be (bad registry, bad log entry) */
    RS_EIO = -6,           /* local or network I/O failed */
    RS_EAUTH = -7,         /* credentials missing, wrong or refused */
    RS_EINVALID = -8,      /* bad argument, URL or configuration */
    RS_ENOMEM = -9,        /* allocation failed */
    RS_ETOOBIG = -10,      /* input exceeds a configured limit */
    RS_EUNSUPPORTED = -11, /* the backend or build cannot do this */
    RS_EUNAVAILABLE = -12, /* the server is there but refuses for now (5xx, SlowDown) */
    RS_ECANCELLED = -13,   /* stopped on request (shutdown) */
} rs_status;

#define RS_ERROR_MSG_MAX 512

typedef struct rs_error {
    int code;           /* an rs_status */
    bool retryable;     /* a later attempt may succeed (timeouts, 5xx, resets) */
    char msg[RS_ERROR_MSG_MAX];
} rs_error;

/* Short constant name of a status ("NOTFOUND", ...). Never NULL. */
const char *rs_status_name(int code);

/* Sets *e (when e is not NULL) and returns code, so that `return rs_error_set(...)` works.
 * retryable defaults from the code (TIMEOUT, IO, UNAVAILABLE are retryable). */
int rs_error_set(rs_error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like rs_error_set with an explicit retryable flag. */
int rs_error_setr(rs_error *e, int code, bool retryable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefixes the existing message with "prefix: " (keeps the code). Returns e->code or RS_OK. */
int rs_error_prefix(rs_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resets *e to RS_OK with an empty message. */
void rs_error_clear(rs_error *e);

#endif
