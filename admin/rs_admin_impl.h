/* rs_admin_impl.h: what the admin sources share (and the unit tests reach). Not installed,
 * not for the daemon: use rs_admin.h.
 *
 * Threading rule: everything marked "loop" is touched only on the event-loop thread; "mu" fields
 * only with rs_admin.mu held.
 */
#ifndef RS_ADMIN_IMPL_H
#define RS_ADMIN_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rs_admin.h"

struct event_base;
struct event;
struct evhttp;
struct evhttp_request;
struct evhttp_connection;
struct evhttp_bound_socket;
struct bufferevent;
struct evbuffer_cb_entry;
struct evconnlistener;
typedef struct ssl_ctx_st SSL_CTX;

/* ---- routes ---- */
typedef enum rs_route {
    RT_HEALTHZ, RT_READYZ, RT_METRICS, RT_PAGE, RT_STATUS, RT_VERSIONS, RT_VERSION, RT_DIFF,
    RT_REGISTRY, RT_DRIFT, RT_WAIT, RT_SYNC, RT_PAUSE, RT_RESUME, RT_PIN, RT_UNPIN, RT_ROLLBACK,
    RT_PUBLISH, RT_PROMOTE, RT_OTHER, RT_COUNT
} rs_route;

/* The label each route has in regsync_admin_requests_total{route=...}. */
extern const char *const rs_admin_route_names[RT_COUNT];

/* Status codes counted separately in the request metric; others count as "other". */
#define RS_ADMIN_NCODES 16

/* ---- request framing (rs_admin_frame.c) ----
 * libevent 2.1's HTTP parser is lenient where the admin API must not be: it keeps a header value
 * up to a NUL byte (a token followed by NUL and junk matched), takes the first of two
 * Content-Length headers, ignores a header whose name has a space before the colon, and answers a
 * malformed chunk size with 413. Every byte a client sends is therefore fed to this checker before
 * evhttp parses it (the input buffer's callback runs first). It follows the requests' framing the
 * way evhttp does (head up to an empty line; a body by Content-Length or chunked, for the methods
 * evhttp reads a body for) and refuses: a NUL byte or a CR that does not end a line in a head;
 * obsolete line folding; a header name with a space or control character; Content-Length that is
 * not 1 to 18 digits, or two that differ; Transfer-Encoding other than one "chunked"; both
 * Transfer-Encoding and Content-Length; a body on HEAD/TRACE; a chunk size that is not 1 to 15 hex
 * digits alone on its line; chunk data not followed by CRLF; Content-Length or Transfer-Encoding
 * in a trailer. The server then answers 400 itself and closes the connection, and evhttp never
 * sees the request. A head longer than the header limit turns the checker off (evhttp refuses it),
 * as does a first line without a space (not a request line: evhttp answers 400). */
typedef struct rs_frame {
    uint8_t state;
    bool cr;                      /* the previous byte was CR */
    bool have_reqline, body_allowed, has_cl, has_te;
    uint64_t cl;                  /* the Content-Length */
    uint64_t left;                /* body or chunk bytes still to pass */
    uint64_t seen;                /* bytes fed so far */
    uint64_t req_start;           /* offset of the current request's first byte */
    size_t line_len, head_len, max_head;
    const char *why;              /* the reason, when refused (a static string) */
    char line[256];               /* the current line's first bytes */
} rs_frame;

void rs_frame_init(rs_frame *f, size_t max_head);
/* Feeds the next bytes of the stream: 0, or -1 when the stream is refused (f->why). */
int rs_frame_feed(rs_frame *f, const uint8_t *p, size_t n);
bool rs_frame_bad(const rs_frame *f);
bool rs_frame_off(const rs_frame *f);   /* refused, or no longer checked */
void rs_frame_stop(rs_frame *f);        /* no longer checked */

/* ---- per-connection state (loop) ----
 * Created when evhttp asks for a bufferevent (a new connection). It arms the request deadline
 * and closes connections whose request does not arrive in full in time (slowloris). Freed when
 * refs drops to 0: one ref while the connection is open, one per request being handled. */
typedef struct rs_conn {
    struct rs_admin *a;
    struct bufferevent *bev;
    struct evhttp_connection *evcon; /* NULL until set up */
    int fd;
    struct event *setup_ev;
    struct event *deadline_ev;
    struct evbuffer_cb_entry *input_cb;
    int refs;
    int handling;   /* requests handed to a route and not yet answered */
    bool closed;    /* evhttp freed the connection */
    /* Peer-close watch while a long poll holds the connection. evhttp stops reading a connection
       while its request is being answered, so it would not notice a client that went away (its
       close callback runs only when the connection is freed). hup_ev watches the socket itself
       (EV_CLOSED, EPOLLRDHUP; EV_READ for a reset); when the client is gone, on_hup(hup_arg) drops
       the request and the connection is freed at once. If bytes arrive instead (a pipelined
       request, a TLS close_notify), the event stops and the waiter tick polls the socket for
       POLLRDHUP (hup_poll). */
    struct event *hup_ev;
    void (*on_hup)(void *arg);
    void *hup_arg;
    bool hup_poll;
    /* request framing: every byte passes the checker first; a refused stream is answered 400 by
       the server itself (rejected), or, when complete requests come before the bad one, the
       next answer closes the connection (close_after) */
    rs_frame frame;
    bool frame_busy;              /* the input callback is changing the buffer itself */
    bool rejected;
    bool close_after;
} rs_conn;

/* ---- one request being answered (loop) ---- */
typedef struct rs_rctx {
    struct rs_admin *a;
    struct evhttp_request *req;   /* NULL once answered */
    rs_conn *conn;                /* may be NULL (untracked connection) */
    rs_route route;
    bool head;                    /* HEAD: headers only */
    bool pretty;                  /* ?pretty: indented JSON */
    int64_t t0_ns;
} rs_rctx;

typedef enum rs_job_kind {
    JOB_VERSIONS, JOB_VERSION, JOB_DIFF, JOB_REGISTRY, JOB_DRIFT, JOB_CONTROL, JOB_PROMOTE, JOB_WAIT_CHECK
} rs_job_kind;

typedef enum rs_job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE } rs_job_state;

struct rs_waiter;

/* A slow provider call. Created on the loop thread, run by a worker, answered on the loop. */
typedef struct rs_job {
    struct rs_job *next;          /* queue / done list link (mu) */
    rs_job_kind kind;
    rs_job_state state;           /* mu */
    /* inputs (owned by the job, read-only once queued) */
    uint64_t n1, n2;
    unsigned limit;
    bool plan;
    char *s1, *s2, *s3;
    json_t *body;
    /* outputs (written by the worker before it moves the job to the done list) */
    char *out;                    /* serialized JSON body (malloc) */
    size_t out_len;
    rs_error err;
    int rc;                       /* RS_OK or an rs_status */
    bool done;                    /* wait_check */
    json_t *detail;               /* wait_check */
    /* loop-side */
    rs_rctx r;                    /* unused for wait checks */
    struct event *timer;          /* request_timeout for the call (not for wait checks) */
    bool answered;                /* loop: a timeout already answered the request */
    struct rs_waiter *waiter;     /* wait checks */
} rs_job;

/* A /v1/wait long poll (loop). */
typedef struct rs_waiter {
    struct rs_waiter *prev, *next;
    rs_rctx r;
    uint64_t version;
    char *regions;
    int64_t timeout_ms;
    int64_t started_ms;
    struct event *deadline;
    json_t *last_detail;
    bool inflight;                /* a check job is queued or running */
    bool recheck;                 /* rs_admin_notify came while a check was in flight */
    bool finished;                /* answered; freed once no check is in flight */
} rs_waiter;

struct rs_admin {
    /* configuration (read-only after start) */
    rs_admin_provider p;
    char bound[80];
    bool has_token;
    uint8_t token_sha256[32];
    bool auth_reads;
    bool loopback;                /* bound to a loopback address: Host must name loopback */
    bool tls;
    size_t max_body;
    size_t max_header;
    int64_t timeout_ms;
    unsigned nworkers;

    /* libevent (loop) */
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *listener;
    int listen_fd;                /* the listening socket (not closed by libevent); -1: none */
    struct evconnlistener *lev;   /* its listener (freed with the bound socket) */
    struct event *accept_retry_ev;/* re-enables accepting after an accept error (EMFILE) */
    int64_t accept_warned_ms;     /* last accept-error log line (one per 10 s) */
    struct rs_admin *next_live;   /* the list of running servers (rs_admin.c, admins_mu) */
    bool keep_listener;           /* rs_admin_stop_keep_listener: leave listen_fd open */
    SSL_CTX *ssl_ctx;
    struct event *done_ev, *notify_ev, *stop_ev, *tick_ev;
    pthread_t loop_thread;
    bool loop_started;

    /* worker pool */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rs_job *q_head, *q_tail;      /* mu */
    size_t q_len;                 /* mu */
    rs_job *done_head, *done_tail;/* mu */
    unsigned running;             /* mu: jobs being run */
    bool workers_stop;            /* mu */
    pthread_t *workers;
    unsigned nstarted;

    /* loop state */
    rs_conn **conns;              /* indexed by fd */
    size_t nconns;
    rs_waiter *waiters;
    size_t nwaiters;
    bool stopping;
    bool tick_on;

    /* metrics (loop) */
    uint64_t req_count[RT_COUNT][RS_ADMIN_NCODES + 1];
    uint64_t conn_timeouts;
    uint64_t call_timeouts;
    uint64_t busy_rejects;
    uint64_t auth_failures;
    uint64_t waits_abandoned;     /* long polls whose client closed the connection first */
    uint64_t accept_errors;       /* accept() failures (out of file descriptors, ...) */
    atomic_uint_fast64_t notifies;
};

/* ---- rs_admin_util.c ---- */

/* Splits "host:port" / "[v6]:port" / ":port" into host ("" for ":port") and port. */
int rs_admin_parse_listen(const char *listen, char *host, size_t hostn, char *port, size_t portn, rs_error *err);
/* 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104 */
bool rs_admin_sockaddr_is_loopback(const struct sockaddr *sa);
/* A Host header value ("localhost:8470", "127.0.0.1", "[::1]:80") that names loopback. */
bool rs_admin_host_is_loopback(const char *host);
/* Strict positive decimal (no sign, no spaces, no overflow, > 0). Returns 0 or -1. */
int rs_admin_parse_u64(const char *s, uint64_t *out);
/* Formats a sockaddr as "1.2.3.4:80" or "[::1]:80". */
void rs_admin_format_addr(const struct sockaddr *sa, char *out, size_t n);
/* The "code" string of an error body for an HTTP status ("not_found", ...). */
const char *rs_admin_code_name(int http_status);
/* Reason phrase for a status ("Not Found"). */
const char *rs_admin_reason(int http_status);
/* {"error": {"code", "message"}} serialized (malloc'd, NUL-terminated). */
char *rs_admin_error_json(const char *code, const char *message, size_t *len);
/* Index of a status code in the request metric (RS_ADMIN_NCODES = "other") and its label. */
int rs_admin_code_index(int http_status);
extern const int rs_admin_counted_codes[RS_ADMIN_NCODES];

/* Query string: "a=1&b=x%20y&flag". Keys and values are URL-decoded ('+' is a space).
 * Duplicate keys, NUL bytes and more than RS_ADMIN_MAX_PARAMS parameters are errors. */
#define RS_ADMIN_MAX_PARAMS 16
typedef struct rs_admin_query {
    size_t n;
    char *key[RS_ADMIN_MAX_PARAMS];
    char *val[RS_ADMIN_MAX_PARAMS];   /* "" for a bare key */
} rs_admin_query;
int rs_admin_query_parse(const char *raw, rs_admin_query *q, rs_error *err);
const char *rs_admin_query_get(const rs_admin_query *q, const char *key);  /* NULL if absent */
void rs_admin_query_free(rs_admin_query *q);

/* "all" or a comma list of region names ([A-Za-z0-9._-]+). */
bool rs_admin_regions_valid(const char *s);
/* Parses "Authorization: Bearer <tok>"; returns a pointer into value and its length, or NULL. */
const char *rs_admin_bearer(const char *value, size_t *len);

/* ---- rs_admin_routes.c ---- */
/* The route of a request path (the URI's path, %-escapes as sent); for /v1/versions/<tail>
 * *tail points into path, else NULL. RT_OTHER when no route matches. */
rs_route rs_admin_match_route(const char *path, const char **tail);
/* A POST body (len bytes, not NUL-terminated): empty or blank is *out = NULL; otherwise a JSON
 * object without duplicate keys (*out, caller json_decref()s). -1 with the reason in why. */
int rs_admin_parse_body(const char *data, size_t len, json_t **out, char *why, size_t whyn);
void rs_admin_on_request(struct evhttp_request *req, void *arg);
void rs_admin_answer_job(rs_admin *a, rs_job *j);        /* loop: a finished slow call */
void rs_admin_answer_timeout(rs_admin *a, rs_job *j);    /* loop: a slow call timed out */
void rs_admin_wait_checked(rs_admin *a, rs_job *j);      /* loop: a finished wait check */
void rs_admin_wait_deadline(rs_admin *a, rs_waiter *w);  /* loop: a waiter timed out */
void rs_admin_reply_error(rs_rctx *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- rs_admin.c ---- */
/* Queues a job (loop). Returns RS_OK, or RS_EUNAVAILABLE when the queue is full or stopping
 * (the caller answers and frees the job). */
int rs_admin_enqueue(rs_admin *a, rs_job *j);
void rs_admin_job_free(rs_job *j);
void rs_admin_conn_ref(rs_conn *c);
void rs_admin_conn_unref(rs_conn *c);
/* Looks up the tracked connection of a request (loop); NULL if untracked. */
rs_conn *rs_admin_conn_of(rs_admin *a, struct evhttp_request *req);
/* A request arrived in full on its connection (loop): stops the deadline, takes a reference.
 * NULL if the connection is untracked. */
rs_conn *rs_admin_conn_begin(rs_admin *a, struct evhttp_request *req);
/* That request has been answered (loop): re-arms the deadline if the next request is already
 * arriving, drops the reference. NULL is a no-op. */
void rs_admin_conn_answered(rs_conn *c);
/* Watches c's socket while a long poll holds it (loop): when the client closes the connection,
 * cb(arg) runs (it must drop its request: the request is freed with the connection, and call
 * rs_admin_conn_answered), then the connection is freed. rs_admin_conn_answered stops the watch.
 * Returns false when the connection cannot be watched (untracked, closed). */
bool rs_admin_conn_watch_hup(rs_conn *c, void (*cb)(void *arg), void *arg);
/* The waiter tick's fallback for a watch that saw bytes (hup_poll): a poll() for POLLRDHUP; when
 * the client is gone, runs the callback, frees the connection and returns true (loop). */
bool rs_admin_conn_poll_hup(rs_conn *c);
/* Starts the 200 ms waiter tick if needed; schedules a check of w now (loop). */
void rs_admin_wait_schedule(rs_admin *a, rs_waiter *w);
void rs_admin_waiter_free(rs_waiter *w);

/* ---- generated from status_page.html ---- */
extern const unsigned char rs_admin_page_html[];
extern const size_t rs_admin_page_html_len;

#endif
