/* rs_admin.c: the admin server's life cycle: configuration, binding, TLS, the event-loop thread,
 * per-connection deadlines (slowloris), the worker pool for slow provider calls, and the
 * long-poll waiter machinery. Routes live in rs_admin_routes.c.
 *
 * Connection deadline: evhttp's own timeout (evhttp_set_timeout_tv) is an idle timeout, re-armed
 * by every byte, so a client trickling one byte at a time could hold a connection for ever.
 * Each connection therefore gets a timer: armed at accept and again at the first byte of every
 * further request, disarmed when the request has arrived in full and is handed to a route. When
 * it fires the connection is freed. evhttp in libevent 2.1 has no "new connection" hook that
 * gives the evhttp_connection, so: the bufferevent callback (evhttp_set_bevcb) creates the
 * bufferevent and activates a setup event that runs in the same loop pass, right after evhttp
 * has wired the bufferevent to its evhttp_connection (the bufferevent's callback argument), and
 * before any byte can be read from the socket; the setup event registers a close callback.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "rs_admin_impl.h"
#include "rs_log.h"
#include "rs_time.h"

#if !defined(LIBEVENT_VERSION_NUMBER) || LIBEVENT_VERSION_NUMBER < 0x02010000
#error "regsync's admin API needs libevent 2.1 or newer"
#endif

#define MAX_QUEUE 256
#define MAX_FD_TRACKED (1u << 20)
#define WAIT_TICK_MS 200

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_rc;
static void evthread_init(void) { evthread_rc = evthread_use_pthreads(); }

static struct timeval tv_ms(int64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

/* ------------------------------------------------------------------------------------------ */
/* connections                                                                                */

void rs_admin_conn_ref(rs_conn *c)
{
    if (c)
        c->refs++;
}

void rs_admin_conn_unref(rs_conn *c)
{
    if (!c || --c->refs > 0)
        return;
    if (c->setup_ev)
        event_free(c->setup_ev);
    if (c->deadline_ev)
        event_free(c->deadline_ev);
    if (c->hup_ev)
        event_free(c->hup_ev);
    free(c);
}

static void hup_stop(rs_conn *c)
{
    if (c->hup_ev)
        event_del(c->hup_ev);
    c->on_hup = NULL;
    c->hup_arg = NULL;
    c->hup_poll = false;
}

static void conn_closed(rs_conn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    rs_admin *a = c->a;
    if (c->fd >= 0 && (size_t)c->fd < a->nconns && a->conns[c->fd] == c)
        a->conns[c->fd] = NULL;
    event_del(c->deadline_ev);
    hup_stop(c);
    if (c->input_cb && c->bev) {
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->input_cb);
        c->input_cb = NULL;
    }
    c->bev = NULL;
    c->evcon = NULL;
    rs_admin_conn_unref(c); /* the "open" reference */
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    conn_closed(arg);
}

static void arm_deadline(rs_conn *c)
{
    struct timeval tv = tv_ms(c->a->timeout_ms);
    evtimer_add(c->deadline_ev, &tv);
}

/* ---- a request refused by the framing check ---- */

static void conn_drop(rs_conn *c);

static void on_reject_written(struct bufferevent *bev, void *arg)
{
    rs_conn *c = arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
        return;
    rs_admin_conn_ref(c);
    conn_drop(c);
    rs_admin_conn_unref(c);
}

static void on_reject_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what; /* EOF, error or timeout: nobody to answer any more */
    rs_conn *c = arg;
    rs_admin_conn_ref(c);
    conn_drop(c);
    rs_admin_conn_unref(c);
}

/* The server answers 400 itself and closes: evhttp's callbacks are taken off the bufferevent
 * before evhttp reads the refused bytes (this runs inside the input buffer's callback, ahead of
 * evhttp's read callback, which bufferevent looks up afterwards). */
static void reject_now(rs_conn *c, struct evbuffer *in)
{
    rs_admin *a = c->a;
    struct bufferevent *bev = c->bev;
    bufferevent_setcb(bev, NULL, on_reject_written, on_reject_event, c);
    bufferevent_disable(bev, EV_READ);
    c->frame_busy = true;
    evbuffer_drain(in, evbuffer_get_length(in));
    c->frame_busy = false;
    c->rejected = true;
    char msg[256];
    snprintf(msg, sizeof msg, "malformed request: %s", c->frame.why);
    size_t blen = 0;
    char *body = rs_admin_error_json("bad_request", msg, &blen);
    struct evbuffer *out = bufferevent_get_output(bev);
    evbuffer_add_printf(out,
                        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
                        "X-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n",
                        body ? blen : 0);
    if (body)
        evbuffer_add(out, body, blen);
    free(body);
    bufferevent_enable(bev, EV_WRITE);
    a->req_count[RT_OTHER][rs_admin_code_index(400)]++;
}

/* Feeds the bytes just added to the checker; refuses the stream when it says so. */
static void check_framing(rs_conn *c, struct evbuffer *buf, size_t n_added)
{
    size_t len = evbuffer_get_length(buf);
    if (n_added > len) { /* not an append: stop checking rather than guess */
        rs_frame_stop(&c->frame);
        return;
    }
    size_t start = len - n_added;
    uint64_t base = c->frame.seen - start; /* stream offset of the buffer's first byte */
    struct evbuffer_ptr pos;
    if (evbuffer_ptr_set(buf, &pos, start, EVBUFFER_PTR_SET) != 0)
        return;
    struct evbuffer_iovec v[16];
    size_t done = 0;
    while (done < n_added && !rs_frame_off(&c->frame)) {
        int nv = evbuffer_peek(buf, (ev_ssize_t)(n_added - done), &pos, v, 16);
        if (nv <= 0)
            break;
        size_t got = 0;
        for (int i = 0; i < nv && i < 16 && done + got < n_added; i++) {
            size_t k = v[i].iov_len;
            if (k > n_added - done - got)
                k = n_added - done - got;
            if (rs_frame_feed(&c->frame, v[i].iov_base, k) != 0)
                break;
            got += k;
        }
        if (rs_frame_off(&c->frame) || got == 0)
            break;
        done += got;
        if (evbuffer_ptr_set(buf, &pos, got, EVBUFFER_PTR_ADD) != 0)
            break;
    }
    if (!rs_frame_bad(&c->frame))
        return;
    RS_LOGW("admin", "bad_request reason=\"%s\" fd=%d", c->frame.why, c->fd);
    uint64_t cut = c->frame.req_start > base ? c->frame.req_start - base : 0;
    if (cut == 0 && c->handling == 0) {
        reject_now(c, buf);
        return;
    }
    /* complete requests come first: evhttp answers them, the last answer closes the connection,
       and the refused request is cut off the buffer so that evhttp never reads it */
    c->close_after = true;
    if (cut < len) {
        struct evbuffer *keep = evbuffer_new();
        if (keep) {
            c->frame_busy = true;
            evbuffer_remove_buffer(buf, keep, (size_t)cut);
            evbuffer_drain(buf, evbuffer_get_length(buf));
            evbuffer_add_buffer(buf, keep);
            c->frame_busy = false;
            evbuffer_free(keep);
        }
    }
}

/* Bytes arrived: the first byte of a request starts its deadline, and every byte passes the
 * framing check before evhttp parses it. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    rs_conn *c = arg;
    if (c->frame_busy || c->rejected || info->n_added == 0 || c->closed)
        return;
    if (c->handling == 0 && !evtimer_pending(c->deadline_ev, NULL))
        arm_deadline(c);
    if (!rs_frame_off(&c->frame))
        check_framing(c, buf, info->n_added);
}

/* Frees the connection now (the caller holds a reference to c). */
static void conn_drop(rs_conn *c)
{
    if (c->closed || !c->evcon)
        return;
    if (c->input_cb && c->bev) {
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->input_cb);
        c->input_cb = NULL;
    }
    struct evhttp_connection *evcon = c->evcon;
    c->bev = NULL;
    evhttp_connection_free(evcon); /* calls on_conn_close */
    conn_closed(c);                /* in case the close callback did not run */
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_conn *c = arg;
    if (c->closed || c->handling > 0 || !c->evcon)
        return;
    c->a->conn_timeouts++;
    RS_LOGD("admin", "connection_timeout fd=%d limit_ms=%lld", c->fd, (long long)c->a->timeout_ms);
    rs_admin_conn_ref(c);
    conn_drop(c);
    rs_admin_conn_unref(c);
}

/* The client of a watched connection is gone: the owner drops its request, then the connection
 * is freed (evhttp frees the request with it). */
static void hup_fire(rs_conn *c)
{
    void (*cb)(void *) = c->on_hup;
    void *arg = c->hup_arg;
    hup_stop(c);
    rs_admin_conn_ref(c);
    RS_LOGD("admin", "client_gone fd=%d", c->fd);
    if (cb)
        cb(arg);
    conn_drop(c);
    rs_admin_conn_unref(c);
}

static void on_hup_event(evutil_socket_t fd, short what, void *arg)
{
    rs_conn *c = arg;
    if (c->closed || !c->on_hup)
        return;
    if (!(what & EV_CLOSED)) {
        /* readable: end of stream, a reset, or bytes (the socket is not read by evhttp now) */
        char b;
        ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n > 0) {
            /* bytes after the request: keep them for evhttp; watch by polling from now on (a
               level-triggered read event would fire for ever) */
            event_del(c->hup_ev);
            c->hup_poll = true;
            return;
        }
    }
    hup_fire(c);
}

bool rs_admin_conn_watch_hup(rs_conn *c, void (*cb)(void *arg), void *arg)
{
    if (!c || c->closed || c->fd < 0 || !c->evcon)
        return false;
    rs_admin *a = c->a;
    if (!c->hup_ev) {
        short what = EV_READ | EV_PERSIST;
        if (event_base_get_features(a->base) & EV_FEATURE_EARLY_CLOSE)
            what |= EV_CLOSED;
        c->hup_ev = event_new(a->base, c->fd, what, on_hup_event, c);
        if (!c->hup_ev)
            return false;
    }
    c->on_hup = cb;
    c->hup_arg = arg;
    c->hup_poll = false;
    if (event_add(c->hup_ev, NULL) != 0) {
        hup_stop(c);
        return false;
    }
    return true;
}

bool rs_admin_conn_poll_hup(rs_conn *c)
{
    if (!c || c->closed || !c->on_hup || !c->hup_poll || c->fd < 0)
        return false;
    struct pollfd pf = {.fd = c->fd, .events = POLLRDHUP};
    if (poll(&pf, 1, 0) <= 0 || !(pf.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
        return false;
    hup_fire(c);
    return true;
}

static void on_conn_setup(evutil_socket_t fd_, short what, void *arg)
{
    (void)fd_;
    (void)what;
    rs_conn *c = arg;
    rs_admin *a = c->a;
    struct bufferevent *bev = c->bev;
    bufferevent_data_cb rcb = NULL;
    bufferevent_event_cb ecb = NULL;
    void *cbarg = NULL;
    bufferevent_getcb(bev, &rcb, NULL, &ecb, &cbarg);
    struct evhttp_connection *evcon = cbarg;
    if (!rcb && !ecb) {
        /* evhttp already freed the connection (bufferevent_free clears the callbacks) */
        conn_closed(c);
        bufferevent_decref(bev);
        return;
    }
    if (!evcon || evhttp_connection_get_bufferevent(evcon) != bev) {
        static bool warned;
        if (!warned)
            RS_LOGW("admin", "untracked_connection reason=\"unexpected evhttp wiring\" effect=\"no request deadline\"");
        warned = true;
        conn_closed(c);
        bufferevent_decref(bev);
        return;
    }
    c->evcon = evcon;
    c->fd = (int)bufferevent_getfd(bev);
    if (c->fd >= 0 && (size_t)c->fd < MAX_FD_TRACKED) {
        if ((size_t)c->fd >= a->nconns) {
            size_t n = a->nconns ? a->nconns : 64;
            while (n <= (size_t)c->fd)
                n *= 2;
            rs_conn **nc = realloc(a->conns, n * sizeof *nc);
            if (nc) {
                memset(nc + a->nconns, 0, (n - a->nconns) * sizeof *nc);
                a->conns = nc;
                a->nconns = n;
            }
        }
        if ((size_t)c->fd < a->nconns) {
            rs_conn *old = a->conns[c->fd];
            if (old && old != c)
                old->fd = -1; /* stale entry: its connection is gone */
            a->conns[c->fd] = c;
        }
    }
    evhttp_connection_set_closecb(evcon, on_conn_close, c);
    rs_frame_init(&c->frame, a->max_header);
    /* a bufferevent's input buffer runs its callbacks at once (they are not deferred), so
       on_input sees the bytes of every read before evhttp's read callback parses them */
    c->input_cb = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c);
    bufferevent_decref(bev);
}

/* evhttp_set_bevcb: a new connection was accepted. */
static struct bufferevent *on_new_bev(struct event_base *base, void *arg)
{
    rs_admin *a = arg;
    struct bufferevent *bev;
    if (a->ssl_ctx) {
        SSL *ssl = SSL_new(a->ssl_ctx);
        if (!ssl)
            return NULL;
        bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
        if (!bev) {
            SSL_free(ssl);
            return NULL;
        }
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    } else {
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!bev)
        return NULL;
    rs_conn *c = calloc(1, sizeof *c);
    if (!c)
        return bev; /* served without a deadline */
    c->a = a;
    c->bev = bev;
    c->fd = -1;
    c->refs = 1;
    c->setup_ev = event_new(base, -1, 0, on_conn_setup, c);
    c->deadline_ev = evtimer_new(base, on_deadline, c);
    if (!c->setup_ev || !c->deadline_ev) {
        if (c->setup_ev)
            event_free(c->setup_ev);
        if (c->deadline_ev)
            event_free(c->deadline_ev);
        free(c);
        return bev;
    }
    bufferevent_incref(bev); /* keeps bev valid until on_conn_setup, whatever happens first */
    arm_deadline(c);
    event_active(c->setup_ev, EV_TIMEOUT, 0);
    return bev;
}

rs_conn *rs_admin_conn_of(rs_admin *a, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (!evcon)
        return NULL;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    if (!bev)
        return NULL;
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (fd < 0 || (size_t)fd >= a->nconns)
        return NULL;
    rs_conn *c = a->conns[fd];
    return c && c->evcon == evcon && !c->closed ? c : NULL;
}

rs_conn *rs_admin_conn_begin(rs_admin *a, struct evhttp_request *req)
{
    rs_conn *c = rs_admin_conn_of(a, req);
    if (!c)
        return NULL;
    c->handling++;
    event_del(c->deadline_ev); /* the request is in: its answer is bounded elsewhere */
    rs_admin_conn_ref(c);
    return c;
}

void rs_admin_conn_answered(rs_conn *c)
{
    if (!c)
        return;
    hup_stop(c); /* before the answer's bytes go out and the socket may be closed */
    if (c->handling > 0)
        c->handling--;
    if (!c->closed && c->handling == 0 && c->bev && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0 &&
        !evtimer_pending(c->deadline_ev, NULL))
        arm_deadline(c); /* a pipelined request is already arriving */
    rs_admin_conn_unref(c);
}

/* ------------------------------------------------------------------------------------------ */
/* worker pool                                                                                */

void rs_admin_job_free(rs_job *j)
{
    if (!j)
        return;
    if (j->timer)
        event_free(j->timer);
    free(j->s1);
    free(j->s2);
    free(j->s3);
    json_decref(j->body);
    json_decref(j->detail);
    free(j->out);
    free(j);
}

static void on_job_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_job *j = arg;
    rs_admin *a = j->r.a;
    bool dequeued = false;
    pthread_mutex_lock(&a->mu);
    if (j->state == JOB_QUEUED) {
        rs_job **pp = &a->q_head, *prev = NULL;
        while (*pp && *pp != j) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp == j) {
            *pp = j->next;
            if (a->q_tail == j)
                a->q_tail = prev;
            a->q_len--;
            dequeued = true;
        }
    }
    pthread_mutex_unlock(&a->mu);
    a->call_timeouts++;
    rs_admin_answer_timeout(a, j);
    j->answered = true;
    if (dequeued)
        rs_admin_job_free(j);
    /* else: running (or done, not yet collected): freed when collected */
}

int rs_admin_enqueue(rs_admin *a, rs_job *j)
{
    if (a->stopping)
        return RS_ECANCELLED;
    if (j->kind != JOB_WAIT_CHECK) {
        j->timer = evtimer_new(a->base, on_job_timeout, j);
        if (!j->timer)
            return RS_ENOMEM;
    }
    pthread_mutex_lock(&a->mu);
    if (a->workers_stop || a->q_len >= MAX_QUEUE) {
        bool stop = a->workers_stop;
        pthread_mutex_unlock(&a->mu);
        if (!stop)
            a->busy_rejects++;
        return stop ? RS_ECANCELLED : RS_EUNAVAILABLE;
    }
    j->state = JOB_QUEUED;
    j->next = NULL;
    if (a->q_tail)
        a->q_tail->next = j;
    else
        a->q_head = j;
    a->q_tail = j;
    a->q_len++;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    if (j->timer) {
        struct timeval tv = tv_ms(a->timeout_ms);
        evtimer_add(j->timer, &tv);
    }
    return RS_OK;
}

static char *dump_json(json_t *o, bool pretty, size_t *len)
{
    char *s = json_dumps(o, pretty ? JSON_INDENT(2) : JSON_COMPACT);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        return NULL;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    *len = n + 1;
    return t;
}

static void run_job(rs_admin *a, rs_job *j)
{
    const rs_admin_provider *p = &a->p;
    json_t *res = NULL;
    rs_error_clear(&j->err);
    switch (j->kind) {
    case JOB_VERSIONS: res = p->versions(p->ctx, j->n1, j->limit, &j->err); break;
    case JOB_VERSION: res = p->version(p->ctx, j->n1, &j->err); break;
    case JOB_DIFF: res = p->diff(p->ctx, j->n1, j->n2, j->plan, &j->err); break;
    case JOB_REGISTRY: res = p->registry(p->ctx, j->s1, j->s2, j->s3, &j->err); break;
    case JOB_DRIFT: res = p->drift(p->ctx, j->s1, j->s2, &j->err); break;
    case JOB_CONTROL: res = p->control(p->ctx, j->s1, j->body, &j->err); break;
    case JOB_PROMOTE: res = p->promote(p->ctx, j->s1, &j->err); break;
    case JOB_WAIT_CHECK: {
        bool done = false;
        json_t *detail = NULL;
        int rc = p->wait_check(p->ctx, j->n1, j->s1, &done, &detail, &j->err);
        if (rc != RS_OK && j->err.code == RS_OK)
            rs_error_set(&j->err, rc, "wait check failed");
        j->rc = rc;
        j->done = rc == RS_OK && done;
        j->detail = detail;
        return;
    }
    }
    if (res) {
        j->out = dump_json(res, j->r.pretty, &j->out_len);
        json_decref(res);
        j->rc = j->out ? RS_OK : rs_error_set(&j->err, RS_ENOMEM, "cannot serialize the response");
    } else {
        if (j->err.code == RS_OK)
            rs_error_set(&j->err, RS_ENOTFOUND, "no data");
        j->rc = j->err.code;
    }
}

static void *worker_main(void *arg)
{
    rs_admin *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->q_head && !a->workers_stop)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->workers_stop)
            break;
        rs_job *j = a->q_head;
        a->q_head = j->next;
        if (!a->q_head)
            a->q_tail = NULL;
        a->q_len--;
        j->next = NULL;
        j->state = JOB_RUNNING;
        a->running++;
        pthread_mutex_unlock(&a->mu);

        run_job(a, j);

        pthread_mutex_lock(&a->mu);
        a->running--;
        j->state = JOB_DONE;
        if (a->done_tail)
            a->done_tail->next = j;
        else
            a->done_head = j;
        a->done_tail = j;
        event_active(a->done_ev, EV_READ, 0);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static void collect_done(rs_admin *a)
{
    pthread_mutex_lock(&a->mu);
    rs_job *j = a->done_head;
    a->done_head = a->done_tail = NULL;
    pthread_mutex_unlock(&a->mu);
    while (j) {
        rs_job *next = j->next;
        j->next = NULL;
        if (j->timer)
            event_del(j->timer);
        if (j->kind == JOB_WAIT_CHECK) {
            rs_admin_wait_checked(a, j);
        } else if (!j->answered) {
            rs_admin_answer_job(a, j);
        }
        rs_admin_job_free(j);
        j = next;
    }
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    collect_done(arg);
}

/* ------------------------------------------------------------------------------------------ */
/* waiters                                                                                    */

void rs_admin_waiter_free(rs_waiter *w)
{
    if (!w)
        return;
    if (w->deadline)
        event_free(w->deadline);
    json_decref(w->last_detail);
    free(w->regions);
    free(w);
}

static void schedule_check(rs_admin *a, rs_waiter *w)
{
    if (w->finished || w->inflight)
        return;
    rs_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->kind = JOB_WAIT_CHECK;
    j->n1 = w->version;
    j->s1 = strdup(w->regions);
    j->waiter = w;
    if (!j->s1 || rs_admin_enqueue(a, j) != RS_OK) {
        rs_admin_job_free(j);
        return; /* the next tick retries; the deadline still ends the request */
    }
    w->inflight = true;
    w->recheck = false;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_admin *a = arg;
    for (rs_waiter *w = a->waiters, *next; w; w = next) {
        next = w->next;
        if (w->r.conn && w->r.conn->hup_poll && rs_admin_conn_poll_hup(w->r.conn))
            continue; /* the client was gone: w is finished (maybe freed) */
        schedule_check(a, w);
    }
    if (!a->waiters && a->tick_on) {
        event_del(a->tick_ev);
        a->tick_on = false;
    }
}

void rs_admin_wait_schedule(rs_admin *a, rs_waiter *w)
{
    if (!a->tick_on) {
        struct timeval tv = tv_ms(WAIT_TICK_MS);
        event_add(a->tick_ev, &tv);
        a->tick_on = true;
    }
    schedule_check(a, w);
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_admin *a = arg;
    for (rs_waiter *w = a->waiters; w; w = w->next) {
        if (w->inflight)
            w->recheck = true;
        else
            schedule_check(a, w);
    }
}

void rs_admin_notify(rs_admin *a)
{
    if (!a || !a->notify_ev)
        return;
    atomic_fetch_add(&a->notifies, 1);
    event_active(a->notify_ev, EV_READ, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* accept errors                                                                              */

/* accept() failed in a way a retry at once cannot fix (out of file descriptors: EMFILE, ENFILE;
 * ENOBUFS, ENOMEM). The socket stays readable, so a listener left enabled would call accept()
 * again at once, for ever: a busy loop and a log line per call. Accepting pauses for 100 ms
 * instead (connections wait in the backlog), and the log says so once per 10 s. */
/* libevent calls the listener's error callback with the accept callback's argument, which
 * evhttp_bind_listener set to the evhttp: the server is found by it in the list of live servers
 * (only their own loop threads look, and a server leaves the list after its loop stopped). */
static pthread_mutex_t admins_mu = PTHREAD_MUTEX_INITIALIZER;
static rs_admin *admins_live;

static void live_add(rs_admin *a)
{
    pthread_mutex_lock(&admins_mu);
    a->next_live = admins_live;
    admins_live = a;
    pthread_mutex_unlock(&admins_mu);
}

static void live_remove(rs_admin *a)
{
    pthread_mutex_lock(&admins_mu);
    for (rs_admin **pp = &admins_live; *pp; pp = &(*pp)->next_live)
        if (*pp == a) {
            *pp = a->next_live;
            break;
        }
    pthread_mutex_unlock(&admins_mu);
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    int e = EVUTIL_SOCKET_ERROR();
    rs_admin *a = NULL;
    pthread_mutex_lock(&admins_mu);
    for (rs_admin *x = admins_live; x && !a; x = x->next_live)
        if ((void *)x->http == arg && x->lev == lev)
            a = x;
    pthread_mutex_unlock(&admins_mu);
    if (!a) {
        evconnlistener_disable(lev); /* cannot happen; never spin */
        return;
    }
    a->accept_errors++;
    int64_t now = rs_mono_ms();
    if (!a->accept_warned_ms || now - a->accept_warned_ms >= 10000) {
        RS_LOGW("admin", "accept_failed error=\"%s\" errors=%llu effect=\"new connections wait in the backlog; accepting "
                         "again in 100 ms\"",
                strerror(e), (unsigned long long)a->accept_errors);
        a->accept_warned_ms = now;
    }
    evconnlistener_disable(lev);
    struct timeval tv = tv_ms(100);
    evtimer_add(a->accept_retry_ev, &tv);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_admin *a = arg;
    if (a->lev && !a->stopping)
        evconnlistener_enable(a->lev);
}

/* ------------------------------------------------------------------------------------------ */
/* stop                                                                                       */

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_admin *a = arg;
    a->stopping = true;
    if (a->listener) {
        evhttp_del_accept_socket(a->http, a->listener); /* frees the evconnlistener, not the socket */
        a->listener = NULL;
        a->lev = NULL;
    }
    if (a->accept_retry_ev)
        event_del(a->accept_retry_ev);
    if (a->listen_fd >= 0 && !a->keep_listener) {
        close(a->listen_fd);
        a->listen_fd = -1;
    }
    /* the workers have exited: answer what they finished, then what they never started */
    collect_done(a);
    pthread_mutex_lock(&a->mu);
    rs_job *q = a->q_head;
    a->q_head = a->q_tail = NULL;
    a->q_len = 0;
    pthread_mutex_unlock(&a->mu);
    while (q) {
        rs_job *next = q->next;
        if (q->kind == JOB_WAIT_CHECK) {
            if (q->waiter) {
                q->waiter->inflight = false;
                if (q->waiter->finished)
                    rs_admin_waiter_free(q->waiter);
            }
        } else if (!q->answered) {
            rs_admin_reply_error(&q->r, 503, "shutting_down", "the admin API is shutting down");
        }
        rs_admin_job_free(q);
        q = next;
    }
    while (a->waiters) {
        rs_waiter *w = a->waiters;
        rs_admin_reply_error(&w->r, 503, "shutting_down", "the admin API is shutting down");
        a->waiters = w->next;
        if (a->waiters)
            a->waiters->prev = NULL;
        a->nwaiters--;
        event_del(w->deadline);
        rs_admin_waiter_free(w);
    }
    if (a->tick_on) {
        event_del(a->tick_ev);
        a->tick_on = false;
    }
    /* give the answers a moment to reach their clients */
    struct timeval tv = tv_ms(100);
    event_base_loopexit(a->base, &tv);
}

static void *loop_main(void *arg)
{
    rs_admin *a = arg;
    event_base_loop(a->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void stop_workers(rs_admin *a)
{
    pthread_mutex_lock(&a->mu);
    a->workers_stop = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    for (unsigned i = 0; i < a->nstarted; i++)
        pthread_join(a->workers[i], NULL);
    a->nstarted = 0;
}

static void free_admin(rs_admin *a)
{
    live_remove(a);
    if (a->http)
        evhttp_free(a->http); /* frees the connections: their close callbacks free rs_conn */
    if (a->done_ev)
        event_free(a->done_ev);
    if (a->notify_ev)
        event_free(a->notify_ev);
    if (a->stop_ev)
        event_free(a->stop_ev);
    if (a->tick_ev)
        event_free(a->tick_ev);
    if (a->accept_retry_ev)
        event_free(a->accept_retry_ev);
    /* nothing is left in the queues: stop answered it all (or nothing ever ran) */
    while (a->q_head) {
        rs_job *n = a->q_head->next;
        rs_admin_job_free(a->q_head);
        a->q_head = n;
    }
    if (a->base)
        event_base_free(a->base);
    if (a->listen_fd >= 0 && !a->keep_listener)
        close(a->listen_fd);
    if (a->ssl_ctx)
        SSL_CTX_free(a->ssl_ctx);
    free(a->conns);
    free(a->workers);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}

int rs_admin_stop_keep_listener(rs_admin *a)
{
    if (!a)
        return -1;
    a->keep_listener = true; /* read by the loop thread after the stop event (ordered by its activation) */
    int fd = a->listen_fd;
    rs_admin_stop(a);
    return fd;
}

void rs_admin_stop(rs_admin *a)
{
    if (!a)
        return;
    RS_LOGI("admin", "stopping listen=%s%s", a->bound, a->keep_listener ? " (listening socket kept)" : "");
    stop_workers(a); /* waits for the provider calls in flight */
    if (a->loop_started) {
        event_active(a->stop_ev, EV_READ, 0);
        pthread_join(a->loop_thread, NULL);
    }
    free_admin(a);
}

const char *rs_admin_bound_address(const rs_admin *a) { return a ? a->bound : ""; }

/* ------------------------------------------------------------------------------------------ */
/* start                                                                                      */

static int tls_error(rs_error *err, const char *what, const char *path)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return rs_error_set(err, RS_EINVALID, "admin TLS: %s %s: %s", what, path, buf);
}

static int setup_tls(rs_admin *a, const rs_admin_config *cfg, rs_error *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return rs_error_set(err, RS_ENOMEM, "admin TLS: cannot create a context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    a->ssl_ctx = ctx;
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1)
        return tls_error(err, "cannot load the certificate", cfg->tls_cert);
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1)
        return tls_error(err, "cannot load the private key", cfg->tls_key);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return tls_error(err, "the private key does not match the certificate", cfg->tls_key);
    a->tls = true;
    return RS_OK;
}

static int bind_listen(rs_admin *a, const char *listen_addr, bool has_token, evutil_socket_t *out, rs_error *err)
{
    char host[256], port[8];
    int rc = rs_admin_parse_listen(listen_addr, host, sizeof host, port, sizeof port, err);
    if (rc != RS_OK)
        return rc;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (g != 0)
        return rs_error_set(err, RS_EINVALID, "admin listen \"%s\": cannot resolve \"%s\": %s", listen_addr, host,
                            gai_strerror(g));
    /* "" (":port") binds every interface: prefer IPv4's 0.0.0.0 like most daemons do */
    struct addrinfo *ai = res;
    if (!*host)
        for (struct addrinfo *p = res; p; p = p->ai_next)
            if (p->ai_family == AF_INET) {
                ai = p;
                break;
            }
    bool loop = rs_admin_sockaddr_is_loopback(ai->ai_addr);
    if (!loop && !has_token) {
        char shown[96];
        rs_admin_format_addr(ai->ai_addr, shown, sizeof shown);
        freeaddrinfo(res);
        return rs_error_set(err, RS_EINVALID,
                            "admin listen \"%s\" (%s) is not a loopback address: refusing to serve the admin API "
                            "there without a token (set admin.token_file or REGSYNC_ADMIN_TOKEN, or listen on "
                            "127.0.0.1)",
                            listen_addr, shown);
    }
    evutil_socket_t fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        int e = errno;
        freeaddrinfo(res);
        return rs_error_set(err, RS_EIO, "admin listen \"%s\": socket: %s", listen_addr, strerror(e));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* no Nagle (accepted sockets inherit it): a response of more than one segment on a kept-alive
     * connection otherwise waits for the client's delayed ACK, 40 ms per /metrics or /v1/drift */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        close(fd);
        freeaddrinfo(res);
        return rs_error_set(err, RS_EIO, "admin listen \"%s\": %s", listen_addr, strerror(e));
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        int e = errno;
        close(fd);
        return rs_error_set(err, RS_EIO, "admin listen \"%s\": getsockname: %s", listen_addr, strerror(e));
    }
    rs_admin_format_addr((struct sockaddr *)&ss, a->bound, sizeof a->bound);
    a->loopback = rs_admin_sockaddr_is_loopback((struct sockaddr *)&ss);
    *out = fd;
    return RS_OK;
}

/* A socket handed over by rs_admin_stop_keep_listener: check it and what it is bound to. */
static int adopt_listen(rs_admin *a, int fd, bool has_token, rs_error *err)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int acc = 0;
    socklen_t al = sizeof acc;
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) != 0 || !acc)
        return rs_error_set(err, RS_EINVALID, "admin: the inherited socket %d is not a listening socket", fd);
    rs_admin_format_addr((struct sockaddr *)&ss, a->bound, sizeof a->bound);
    a->loopback = rs_admin_sockaddr_is_loopback((struct sockaddr *)&ss);
    if (!a->loopback && !has_token)
        return rs_error_set(err, RS_EINVALID,
                            "admin listen %s is not a loopback address: refusing to serve the admin API there without a "
                            "token (set admin.token_file or REGSYNC_ADMIN_TOKEN, or listen on 127.0.0.1)",
                            a->bound);
    return RS_OK;
}

static int start_threads(rs_admin *a, rs_error *err)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* admin threads never take the daemon's signals */
    int rc = RS_OK;
    a->workers = calloc(a->nworkers, sizeof *a->workers);
    if (!a->workers) {
        rc = rs_error_set(err, RS_ENOMEM, "admin: out of memory");
        goto out;
    }
    for (unsigned i = 0; i < a->nworkers; i++) {
        int e = pthread_create(&a->workers[i], NULL, worker_main, a);
        if (e) {
            rc = rs_error_set(err, RS_EIO, "admin: cannot start a worker thread: %s", strerror(e));
            goto out;
        }
        a->nstarted++;
    }
    int e = pthread_create(&a->loop_thread, NULL, loop_main, a);
    if (e) {
        rc = rs_error_set(err, RS_EIO, "admin: cannot start the event-loop thread: %s", strerror(e));
        goto out;
    }
    a->loop_started = true;
out:
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int rs_admin_start(const rs_admin_config *cfg, const rs_admin_provider *p, rs_admin **out, rs_error *err)
{
    if (out)
        *out = NULL;
    if (!cfg || !p || !out)
        return rs_error_set(err, RS_EINVALID, "rs_admin_start: config, provider and out are required");
    bool has_cert = cfg->tls_cert && *cfg->tls_cert, has_key = cfg->tls_key && *cfg->tls_key;
    if (has_cert != has_key)
        return rs_error_set(err, RS_EINVALID, "admin TLS needs both tls_cert and tls_key (only %s is set)",
                            has_cert ? "tls_cert" : "tls_key");
    if (cfg->request_timeout_ms < 0)
        return rs_error_set(err, RS_EINVALID, "admin request_timeout must not be negative");
    if (cfg->workers > 64)
        return rs_error_set(err, RS_EINVALID, "admin workers: %u is more than 64", cfg->workers);
    pthread_once(&evthread_once, evthread_init);
    if (evthread_rc != 0)
        return rs_error_set(err, RS_EIO, "admin: libevent pthreads support is unavailable");

    rs_admin *a = calloc(1, sizeof *a);
    if (!a)
        return rs_error_set(err, RS_ENOMEM, "admin: out of memory");
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    a->p = *p;
    a->auth_reads = cfg->auth_reads;
    a->max_body = cfg->max_body_bytes ? cfg->max_body_bytes : (size_t)1 << 20;
    a->max_header = cfg->max_header_bytes ? cfg->max_header_bytes : (size_t)16 << 10;
    a->timeout_ms = cfg->request_timeout_ms ? cfg->request_timeout_ms : 10000;
    a->nworkers = cfg->workers ? cfg->workers : 2;
    a->has_token = cfg->token && *cfg->token;
    if (a->has_token) {
        unsigned int dl = 0;
        EVP_Digest(cfg->token, strlen(cfg->token), a->token_sha256, &dl, EVP_sha256(), NULL);
    }
    const char *listen_addr = cfg->listen && *cfg->listen ? cfg->listen : "127.0.0.1:8470";
    evutil_socket_t fd = -1;
    int rc = RS_OK;
    a->listen_fd = -1;
    /* an inherited socket stays the caller's until the start succeeds */
    bool inherited = cfg->use_listen_fd;

    if (has_cert && (rc = setup_tls(a, cfg, err)) != RS_OK)
        goto fail;
    if (inherited) {
        if ((rc = adopt_listen(a, cfg->listen_fd, a->has_token, err)) != RS_OK)
            goto fail;
        fd = cfg->listen_fd;
    } else if ((rc = bind_listen(a, listen_addr, a->has_token, &fd, err)) != RS_OK) {
        goto fail;
    }
    a->base = event_base_new();
    a->http = a->base ? evhttp_new(a->base) : NULL;
    if (!a->http) {
        if (!inherited)
            close(fd);
        rc = rs_error_set(err, RS_ENOMEM, "admin: cannot create the event loop");
        goto fail;
    }
    evhttp_set_max_headers_size(a->http, (ev_ssize_t)a->max_header);
    evhttp_set_max_body_size(a->http, (ev_ssize_t)a->max_body);
    struct timeval idle = tv_ms(a->timeout_ms);
    evhttp_set_timeout_tv(a->http, &idle);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_flags(a->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_gencb(a->http, rs_admin_on_request, a);
    evhttp_set_bevcb(a->http, on_new_bev, a);
    /* our own evconnlistener, without LEV_OPT_CLOSE_ON_FREE: the socket outlives the listener
       when a reload keeps it (backlog 0: it is listening already) */
    struct evconnlistener *lev = evconnlistener_new(a->base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    a->listener = lev ? evhttp_bind_listener(a->http, lev) : NULL;
    if (!a->listener) {
        if (lev)
            evconnlistener_free(lev);
        if (!inherited)
            close(fd);
        rc = rs_error_set(err, RS_EIO, "admin listen \"%s\": cannot accept", a->bound);
        goto fail;
    }
    a->listen_fd = fd; /* ours from here on */
    a->lev = lev;
    a->accept_retry_ev = evtimer_new(a->base, on_accept_retry, a);
    if (!a->accept_retry_ev) {
        rc = rs_error_set(err, RS_ENOMEM, "admin: out of memory");
        goto fail;
    }
    live_add(a);
    evconnlistener_set_error_cb(lev, on_accept_error);
    a->done_ev = event_new(a->base, -1, 0, on_done, a);
    a->notify_ev = event_new(a->base, -1, 0, on_notify, a);
    a->stop_ev = event_new(a->base, -1, 0, on_stop, a);
    a->tick_ev = event_new(a->base, -1, EV_PERSIST, on_tick, a);
    if (!a->done_ev || !a->notify_ev || !a->stop_ev || !a->tick_ev) {
        rc = rs_error_set(err, RS_ENOMEM, "admin: out of memory");
        goto fail;
    }
    if ((rc = start_threads(a, err)) != RS_OK)
        goto fail;
    RS_LOGI("admin", "listening address=%s%s tls=%s token=%s auth_reads=%s workers=%u max_body=%zu "
                     "max_header=%zu request_timeout_ms=%lld",
            a->bound, inherited ? " socket=kept" : "", a->tls ? "on" : "off", a->has_token ? "<set>" : "none", a->auth_reads ? "yes" : "no",
            a->nworkers, a->max_body, a->max_header, (long long)a->timeout_ms);
    *out = a;
    return RS_OK;
fail:
    if (inherited)
        a->keep_listener = true; /* the caller keeps its socket */
    stop_workers(a);
    if (a->loop_started) {
        event_active(a->stop_ev, EV_READ, 0);
        pthread_join(a->loop_thread, NULL);
    }
    free_admin(a);
    return rc;
}
