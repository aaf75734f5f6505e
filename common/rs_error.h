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

/* What an error is about, set where the error is made (like libgit2's error class), so that a
 * caller reacts to it (error counters, retry policy, readiness) without reading the message. */
typedef enum rs_error_origin {
    RS_ORIGIN_NONE = 0, /* not said (the caller knows from context) */
    RS_ORIGIN_STORE,    /* the global store (storage/: file://, s3://, postgresql://, mysql://) */
    RS_ORIGIN_SOURCE,   /* the publisher's source registry.db */
    RS_ORIGIN_TARGET,   /* the region's copy (the target file and its lock) */
    RS_ORIGIN_JOURNAL,  /* the local journal and state_dir */
    RS_ORIGIN_DATA,     /* bytes that are not what they claim: a registry, log entry, HEAD, report */
    RS_ORIGIN_CONFIG,   /* the configuration */
    RS_ORIGIN_COUNT
} rs_error_origin;

typedef struct rs_error {
    int code;           /* an rs_status */
    bool retryable;     /* a later attempt may succeed (timeouts, 5xx, resets) */
    rs_error_origin origin;
    char msg[RS_ERROR_MSG_MAX];
} rs_error;

/* Short name of an origin ("store", "target", ...; "" for NONE). Never NULL. */
const char *rs_error_origin_name(rs_error_origin o);

/* The origin rs_error_set gives the errors a file makes: a library sets it for all its files
 * (storage/: STORE, registry/: DATA, in CMake), a file may set it before its first include. */
#ifdef RS_ERROR_ORIGIN_OVERRIDE /* one file of a library whose errors are about something else */
#undef RS_ERROR_ORIGIN
#define RS_ERROR_ORIGIN RS_ERROR_ORIGIN_OVERRIDE
#endif
#ifndef RS_ERROR_ORIGIN
#define RS_ERROR_ORIGIN RS_ORIGIN_NONE
#endif

/* Short constant name of a status ("NOTFOUND", ...). Never NULL. */
const char *rs_status_name(int code);

/* Sets *e (when e is not NULL) and returns code, so that `return rs_error_set(...)` works.
 * retryable defaults from the code (TIMEOUT, IO, UNAVAILABLE are retryable). */
int rs_error_set_at(rs_error *e, rs_error_origin origin, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define rs_error_set(e, code, ...) rs_error_set_at((e), RS_ERROR_ORIGIN, (code), __VA_ARGS__)

/* Like rs_error_set with an explicit retryable flag. */
int rs_error_setr_at(rs_error *e, rs_error_origin origin, int code, bool retryable, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define rs_error_setr(e, code, retryable, ...) rs_error_setr_at((e), RS_ERROR_ORIGIN, (code), (retryable), __VA_ARGS__)

/* A library's public function that hands on an error made below it says what it is about: sets
 * e->origin to o when e holds an error (code != RS_OK). Returns e's code (RS_OK for NULL). */
int rs_error_set_origin(rs_error *e, rs_error_origin o);

/* Prefixes the existing message with "prefix: " (keeps the code). Returns e->code or RS_OK. */
int rs_error_prefix(rs_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resets *e to RS_OK with an empty message. */
void rs_error_clear(rs_error *e);

#endif
