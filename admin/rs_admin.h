/* rs_admin.h: regsync's admin HTTP API (libevent evhttp, JSON via jansson).
 *
 * The admin library knows nothing about the sync engine: it serves HTTP and asks a provider
 * (implemented by the daemon) for the data. docs/admin-api.md describes every route.
 *
 * Threads
 *   rs_admin_start creates its own event_base and runs it on its own thread (the daemon's main
 *   thread keeps its signals: admin threads block every signal). It calls evthread_use_pthreads()
 *   once per process. Slow provider calls run on a small worker pool; their replies are always
 *   sent from the loop thread. rs_admin_notify may be called from any thread, including from
 *   inside a provider callback. rs_admin_start / rs_admin_stop are called from one thread (the
 *   daemon's), not from a provider callback.
 *
 * Ownership
 *   rs_admin_start copies everything in rs_admin_config (the token is kept only as a SHA-256
 *   digest). The provider struct is copied; provider->ctx is borrowed and must stay valid, and
 *   the provider callable, until rs_admin_stop returns.
 *   Every json_t a provider callback returns is a NEW reference the admin takes over (it
 *   decrefs it); NULL means "no data" (see each callback). Strings passed to the provider are
 *   borrowed for the duration of the call. rs_admin_bound_address's string belongs to the
 *   rs_admin. rs_admin_stop(NULL) is a no-op.
 */
#ifndef RS_ADMIN_H
#define RS_ADMIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_buf.h"
#include "rs_error.h"

typedef struct rs_admin_config {
    const char *listen;             /* "127.0.0.1:8470", "[::1]:8470", "localhost:8470", "0.0.0.0:8470",
                                       ":8470" (all interfaces); port 0 = ephemeral (tests).
                                       NULL: "127.0.0.1:8470" */
    const char *token;              /* bearer token for every POST; NULL/"" = none. A non-loopback
                                       listen address without a token is refused (RS_EINVALID). */
    const char *tls_cert, *tls_key; /* PEM files; both set: HTTPS only. One without the other:
                                       RS_EINVALID. */
    size_t max_body_bytes;          /* 0: 1 MiB. Larger bodies: 413. */
    size_t max_header_bytes;        /* 0: 16 KiB (request line + headers). Larger: 400. */
    int64_t request_timeout_ms;     /* 0: 10 s. A request must arrive in full within this time of
                                       its first byte (of the accept for a new connection), an
                                       idle connection is closed after it, and a slow provider
                                       call is answered 503 "timeout" after it. */
    unsigned workers;               /* threads for slow provider calls; 0: 2 (max 64) */
    bool auth_reads;                /* also require the token for the /v1/ GET routes and the
                                       status page (never for /healthz, /readyz, /metrics). */
    bool use_listen_fd;             /* serve listen_fd, a socket already bound and listening
                                       (from rs_admin_stop_keep_listener), instead of binding
                                       listen; the loopback/token rule applies to its address.
                                       On success the server owns the socket; on failure the
                                       caller still does. */
    int listen_fd;
} rs_admin_config;

/* The provider: the daemon implements it (tests implement a canned one).
 *
 * FAST calls run on the event-loop thread and must return at once from cached state: a blocked
 * fast call blocks the whole API. SLOW calls run on an admin worker thread and may do storage or
 * SQLite I/O; several slow calls can run at the same time (one per worker), so the provider locks
 * its own state. A slow call returns a new json_t, or NULL with err set; err->code picks the
 * status: RS_ENOTFOUND 404, RS_EINVALID 400, RS_ECONFLICT 409, RS_EUNAVAILABLE/RS_EIO/RS_ETIMEOUT
 * 503, RS_EUNSUPPORTED 501, anything else 500. err->msg goes into the response: never a secret.
 * Any callback pointer may be NULL: its route then answers 501 (healthz always works).
 *
 * The status page (GET /) reads these fields, so providers should return them:
 *   status:   {"region", "applied_version", "head_version", "paused", "pinned_version",
 *              "last_success", "last_error": {"time", "message"} | null, ...}
 *   drift:    {"regions": [{"region", "applied_version", "versions_behind", "lag_seconds",
 *              "state": "in_sync"|"behind"|"diverged"|"modified"|"stale"|"paused", ...}], ...}
 *   versions: {"versions": [{"version", "applied_at", "ops", ...}], "next_before": N | null}
 */
typedef struct rs_admin_provider {
    void *ctx;
    /* FAST: GET /v1/status body (a JSON object). NULL: 503 unavailable. */
    json_t *(*status)(void *ctx);
    /* FAST: GET /readyz. Returns readiness; *checks (may be left NULL) receives a new array of
       {"name": str, "ok": bool, "detail": str}. */
    bool (*ready)(void *ctx, json_t **checks);
    /* FAST: GET /metrics. Appends Prometheus text (use rs_prom_help / rs_prom_sample). */
    void (*metrics)(void *ctx, rs_buf *out);
    /* SLOW: GET /v1/versions?limit=&before= (before 0: from the newest; limit 1..1000). */
    json_t *(*versions)(void *ctx, uint64_t before, unsigned limit, rs_error *err);
    /* SLOW: GET /v1/versions/{n} */
    json_t *(*version)(void *ctx, uint64_t n, rs_error *err);
    /* SLOW: GET /v1/diff?from=&to=[&format=plan]: plan -> {"plan": "..."}, else JSON changes */
    json_t *(*diff)(void *ctx, uint64_t from, uint64_t to, bool plan, rs_error *err);
    /* SLOW: GET /v1/registry[?project=&kind=&name=]; absent filters are NULL */
    json_t *(*registry)(void *ctx, const char *project, const char *kind, const char *name, rs_error *err);
    /* SLOW: GET /v1/drift[?region=&other=]; both NULL (all regions) or both set (two regions) */
    json_t *(*drift)(void *ctx, const char *region, const char *other, rs_error *err);
    /* FAST, optional: GET /v1/drift (all regions, not ?pretty) as ready-made compact JSON text
       ending in a newline: a malloc'd copy (the caller frees it) of what the provider keeps, or
       NULL when it has none yet (then drift() is called on a worker). Never touches a store. */
    char *(*drift_text)(void *ctx, size_t *len);
    /* SLOW: POST /v1/{sync,pause,resume,pin,unpin,rollback,publish}; body is the parsed JSON
       object (borrowed) or NULL when the request had no body. For pin and rollback the admin
       has already checked that body has "version", a positive integer. */
    json_t *(*control)(void *ctx, const char *action, const json_t *body, rs_error *err);
    /* SLOW: POST /v1/promote {"store": "NAME"} (the admin has checked that store is a non-empty
       string): makes that store the primary (regsyncd promote). Answers {"store", "epoch",
       "version", ...}; RS_EINVALID (400) for a name that is no configured store, RS_ECONFLICT
       (409) when the conditional HEAD write lost, RS_ENOTFOUND (404) when the store has no HEAD. */
    json_t *(*promote)(void *ctx, const char *store, rs_error *err);
    /* SLOW, LONG POLL: GET /v1/wait?version=N&regions=all|a,b&timeout=30s. Called on a worker
       when the request arrives, then every 200 ms and at once after rs_admin_notify(), never
       twice at the same time for one request. Returns RS_OK and sets *done (and optionally
       *detail, a new reference) or returns an error (err set; the request ends with it).
       done -> 200 with detail; timeout -> 408 with the last detail. */
    int (*wait_check)(void *ctx, uint64_t version, const char *regions, bool *done, json_t **detail,
                      rs_error *err);
    /* FAST, optional (NULL or returning NULL/""): base URL the status page fetches its data from
       (e.g. another agent's admin API); default is the page's own origin. Borrowed. */
    const char *(*status_page_data_url)(void *ctx);
} rs_admin_provider;

typedef struct rs_admin rs_admin;

/* Validates the config, binds, and starts the loop thread and workers. On success *out owns
 * the server (free with rs_admin_stop). Errors: RS_EINVALID (bad config, non-loopback without a
 * token, unreadable TLS files), RS_EIO (bind/listen failed; the message names the address). */
int rs_admin_start(const rs_admin_config *cfg, const rs_admin_provider *p, rs_admin **out, rs_error *err);

/* The bound address with the actual port: "127.0.0.1:43125", "[::1]:43125". Owned by a. */
const char *rs_admin_bound_address(const rs_admin *a);

/* Thread-safe: something changed; long-poll waiters are re-checked now. NULL is a no-op. */
void rs_admin_notify(rs_admin *a);

/* Stops accepting, answers queued requests and waiters 503 "shutting_down", waits for the
 * provider calls in flight to return, stops the loop and the workers, frees everything. */
void rs_admin_stop(rs_admin *a);

/* Like rs_admin_stop, but the listening socket stays open and listening and is returned (the
 * caller owns it; -1 when there was none): a configuration reload hands it to the next
 * rs_admin_start (use_listen_fd), so that connections arriving meanwhile wait in the kernel's
 * backlog instead of being refused. */
int rs_admin_stop_keep_listener(rs_admin *a);

/* HTTP status for an rs_status code (the mapping above); RS_OK -> 200. */
int rs_admin_http_status(int rs_code);

/* Prometheus text format helpers (exposition format 0.0.4).
 * rs_prom_help: "# HELP name help\n# TYPE name type\n" (help escaped).
 * rs_prom_sample: "name{labels} value\n"; labels is preformatted (`kind="io",x="y"`) or NULL/"";
 *   integral values print without exponent, NaN / +Inf / -Inf as Prometheus spells them.
 * rs_prom_label_escape: appends value with \\, \" and \n escaped, for building labels. */
void rs_prom_help(rs_buf *out, const char *name, const char *type, const char *help);
void rs_prom_sample(rs_buf *out, const char *name, const char *labels, double value);
void rs_prom_label_escape(rs_buf *out, const char *value);

#endif
