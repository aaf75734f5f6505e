/* bench_sync: what following the log costs, on each backend (issue 4 item 10). Prints every
 * figure beside its target or baseline; never fails on a timing (exit 1 only when nothing could
 * be set up).
 *
 *   bench_sync [--backends file,s3,pg,mysql] [--agents 2,8,32] [--changes 30] [--prop-mb 1]
 *              [--sizes 1,10,100] [--big-backends file,s3] [--idle-s 30] [--poll-ms 1000]
 *              [--per-change 3] [--baseline-gets 3] [--idle-agents 2] [--pg-modes push]
 *              [--no-rss] [--keep] [--quick]
 *
 * Backends: a file:// directory under /tmp (always), S3 from RS_TEST_S3_URL, Postgres from
 * RS_TEST_PG_URL, MySQL from RS_TEST_MYSQL_URL (scripts/s3-server.sh env, scripts/pg-server.sh
 * env, scripts/mysql-server.sh env); every case gets its own prefix (S3) or table_prefix
 * (Postgres, MySQL), removed at the end. MySQL has no push: its agents poll. Agents are in-process, one thread
 * each (rs_agent_run), each with its own target file and state_dir.
 *
 * 1. Propagation: a registry of --prop-mb is published, N agents follow it with a --poll-ms poll;
 *    then --changes changes of 10 objects are published one at a time, each after a random pause
 *    of up to one poll interval (so the publish falls at a random phase of every agent's poll).
 *    Latency: from the publish call until every one of the N agents reports the version applied
 *    (status applied_version, which is set after the target was written and fsynced). On
 *    Postgres the agents use push (LISTEN/NOTIFY) as they do in production; --pg-modes push,poll
 *    adds a run where the agents' watch handle is dropped before they start (poll only).
 * 2. Per registry size: --idle-agents agents bootstrap, then --per-change changes of 10 objects
 *    are published and each agent is stepped once on this thread (bytes moved to the region,
 *    requests, and the wall time of the step: HEAD, fetch, apply, encode, write + fsync +
 *    rename + directory fsync, journal, report). Then all agents of all sizes run idle on their
 *    threads for --idle-s seconds; counts are extrapolated to an hour. Remote agents talk through
 *    a counting TCP relay in this process, so the bytes on the wire (headers included) are
 *    measured as well as the payload. Baseline: what Feast does on every registry refresh
 *    (S3: HEAD bucket + GET of the whole registry.db), at the same interval: whole GETs of the
 *    same registry through the same kind of handle are timed and counted, the HEAD bucket added
 *    as one request without a body.
 * 3. Peak RSS: a fresh process (this program re-executed through /proc/<pid>/exe: a forked child
 *    would inherit this process's peak) opens one agent and runs sync --once: a new region
 *    bootstrapping the largest registry, then the same region resuming and applying a 10-object
 *    change. It prints its own VmHWM.
 *
 * Uses the agent's public API only (rs_agent.h): the status's store counters cover every handle,
 * and rs_agent_config.no_watch makes a polling Postgres agent.
 */
#include "mysql_url.h"
#include "rs_agent.h"
#include "rs_journal.h"
#include "rs_generate.h"
#include "rs_log.h"
#include "rs_logproto.h"
#include "rs_publisher.h"
#include "rs_registry.h"
#include "rs_time.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <mysql.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MB (1024.0 * 1024.0)
#define MAXV 16

/* ------------------------------------------------------------------ options */

static struct {
    char backends[64];
    size_t agents[MAXV], nagents;
    int changes;
    double prop_mb;
    size_t sizes[MAXV], nsizes;
    char big[64];          /* backends that also run sizes above 10 MB */
    int idle_s, poll_ms, per_change, baseline_gets, idle_agents;
    char pg_modes[32];
    bool rss, keep;
} O = {.backends = "file,s3,pg,mysql",
       .agents = {2, 8, 32},
       .nagents = 3,
       .changes = 30,
       .prop_mb = 1,
       .sizes = {1, 10, 100},
       .nsizes = 3,
       .big = "file,s3",
       .idle_s = 30,
       .poll_ms = 1000,
       .per_change = 3,
       .baseline_gets = 3,
       .idle_agents = 2,
       .pg_modes = "push",
       .rss = true};

static char workdir[256];

static bool in_list(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; p && *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == n && strncmp(p, item, n) == 0)
            return true;
        p = c ? c + 1 : NULL;
    }
    return false;
}

static size_t parse_sizes(char *s, size_t *out)
{
    size_t n = 0;
    for (char *t = strtok(s, ","); t && n < MAXV; t = strtok(NULL, ","))
        if (atol(t) > 0)
            out[n++] = (size_t)atol(t);
    return n;
}

/* ------------------------------------------------------------------ small helpers */

static double now_ms(void) { return (double)rs_mono_ns() / 1e6; }

static void sleep_ms(double ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(fmod(ms, 1000.0) * 1e6)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* nearest rank: with 30 samples p99 is the largest */
static double pct(const double *v, size_t n, double p)
{
    if (!n)
        return NAN;
    double *c = malloc(n * sizeof *c);
    memcpy(c, v, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_d);
    size_t k = (size_t)ceil(p * (double)n);
    double r = c[k ? k - 1 : 0];
    free(c);
    return r;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

static void rmrf(const char *dir) { nftw(dir, rm_one, 32, FTW_DEPTH | FTW_PHYS); }

static void mkdirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

/* VmHWM (peak) or VmRSS (now) of this process, KiB */
static long self_status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256], fmt[64];
    snprintf(fmt, sizeof fmt, "%s: %%ld kB", field);
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, fmt, &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static long self_hwm_kb(void) { return self_status_kb("VmHWM"); }

static const char *human(double bytes, char *buf, size_t n)
{
    if (bytes < 0 || isnan(bytes))
        snprintf(buf, n, "-");
    else if (bytes < 10 * 1024)
        snprintf(buf, n, "%.0f B", bytes);
    else if (bytes < 10 * MB)
        snprintf(buf, n, "%.1f KB", bytes / 1024);
    else if (bytes < 10 * 1024 * MB)
        snprintf(buf, n, "%.1f MB", bytes / MB);
    else
        snprintf(buf, n, "%.1f GB", bytes / (1024 * MB));
    return buf;
}

/* ------------------------------------------------------------------ counting TCP relay */

/* Forwards 127.0.0.1:port to 127.0.0.1:up_port and counts the bytes each way: the bytes an
 * agent puts on the wire, headers and protocol included (not TCP/IP framing). */
typedef struct relay {
    int lfd, port, up_port;
    atomic_uint_fast64_t up, down; /* client->server, server->client */
    atomic_int threads;
    atomic_bool stop;
    pthread_t th;
} relay;

typedef struct pump_arg {
    relay *r;
    int c, s;
} pump_arg;

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void *relay_pump(void *arg)
{
    pump_arg *pa = arg;
    relay *r = pa->r;
    static __thread char buf[65536];
    struct pollfd fds[2] = {{.fd = pa->c, .events = POLLIN}, {.fd = pa->s, .events = POLLIN}};
    while (!atomic_load(&r->stop)) {
        int pr = poll(fds, 2, 100);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            break;
        bool done = false;
        for (int i = 0; i < 2 && !done; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) {
                done = true;
                break;
            }
            if (i == 0)
                atomic_fetch_add(&r->up, (uint64_t)n);
            else
                atomic_fetch_add(&r->down, (uint64_t)n);
            if (!write_all(fds[1 - i].fd, buf, (size_t)n))
                done = true;
        }
        if (done)
            break;
    }
    close(pa->c);
    close(pa->s);
    free(pa);
    atomic_fetch_sub(&r->threads, 1);
    return NULL;
}

static void *relay_accept(void *arg)
{
    relay *r = arg;
    while (!atomic_load(&r->stop)) {
        struct pollfd p = {.fd = r->lfd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int c = accept(r->lfd, NULL, NULL);
        if (c < 0)
            continue;
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->up_port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(c);
            if (s >= 0)
                close(s);
            continue;
        }
        pump_arg *pa = malloc(sizeof *pa);
        *pa = (pump_arg){r, c, s};
        atomic_fetch_add(&r->threads, 1);
        pthread_t t;
        if (pthread_create(&t, NULL, relay_pump, pa) != 0) {
            atomic_fetch_sub(&r->threads, 1);
            close(c);
            close(s);
            free(pa);
            continue;
        }
        pthread_detach(t);
    }
    return NULL;
}

static relay *relay_start(int up_port)
{
    relay *r = calloc(1, sizeof *r);
    r->up_port = up_port;
    r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (r->lfd < 0 || bind(r->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(r->lfd, 128) != 0 ||
        getsockname(r->lfd, (struct sockaddr *)&sa, &sl) != 0) {
        if (r->lfd >= 0)
            close(r->lfd);
        free(r);
        return NULL;
    }
    r->port = ntohs(sa.sin_port);
    if (pthread_create(&r->th, NULL, relay_accept, r) != 0) {
        close(r->lfd);
        free(r);
        return NULL;
    }
    return r;
}

static void relay_stop(relay *r)
{
    if (!r)
        return;
    atomic_store(&r->stop, true);
    pthread_join(r->th, NULL);
    for (int i = 0; i < 300 && atomic_load(&r->threads) > 0; i++)
        sleep_ms(10);
    close(r->lfd);
    if (atomic_load(&r->threads) == 0)
        free(r); /* else leaked on purpose: a pump still holds it */
}

/* The URL with its first "127.0.0.1:<port>" pointed at a new relay; NULL when there is none. */
static char *relay_url(const char *url, relay **out)
{
    *out = NULL;
    const char *p = strstr(url, "127.0.0.1:");
    if (!p)
        return NULL;
    const char *d = p + strlen("127.0.0.1:");
    int port = atoi(d);
    const char *e = d;
    while (*e >= '0' && *e <= '9')
        e++;
    if (port <= 0)
        return NULL;
    relay *r = relay_start(port);
    if (!r)
        return NULL;
    size_t n = strlen(url) + 16;
    char *u = malloc(n);
    snprintf(u, n, "%.*s%d%s", (int)(d - url), url, r->port, e);
    *out = r;
    return u;
}

/* ------------------------------------------------------------------ stores */

static char *store_url(const char *be, const char *tag)
{
    char *u = NULL;
    if (strcmp(be, "file") == 0) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/%s/store", workdir, tag);
        mkdirs(dir);
        if (asprintf(&u, "file://%s", dir) < 0)
            return NULL;
    } else if (strcmp(be, "s3") == 0) {
        const char *b = getenv("RS_TEST_S3_URL");
        const char *q = strchr(b, '?');
        int bl = q ? (int)(q - b) : (int)strlen(b);
        if (asprintf(&u, "%.*s/bench-sync-%d-%s%s", bl, b, (int)getpid(), tag, q ? q : "") < 0)
            return NULL;
    } else {
        const char *b = getenv(strcmp(be, "mysql") == 0 ? "RS_TEST_MYSQL_URL" : "RS_TEST_PG_URL");
        if (asprintf(&u, "%s%ctable_prefix=bs%d_%s_", b, strchr(b, '?') ? '&' : '?', (int)getpid(), tag) < 0)
            return NULL;
    }
    return u;
}

/* Removes what a case wrote: S3 keys, Postgres tables (file:// goes with the work dir). */
static void drop_store(const char *be, const char *url, const char *tag)
{
    if (O.keep)
        return;
    if (strcmp(be, "s3") == 0) {
        rs_storage *s = NULL;
        if (rs_storage_open(url, NULL, &s, NULL) == RS_OK) {
            rs_list_entry *e = NULL;
            size_t n = 0;
            if (rs_storage_list(s, "", &e, &n, NULL) == RS_OK)
                for (size_t i = 0; i < n; i++)
                    rs_storage_delete(s, e[i].key, NULL);
            rs_storage_list_free(e, n);
            rs_storage_close(s);
        }
    } else if (strcmp(be, "pg") == 0) {
        PGconn *c = PQconnectdb(getenv("RS_TEST_PG_URL"));
        if (PQstatus(c) == CONNECTION_OK) {
            char p[64], sql[512];
            snprintf(p, sizeof p, "bs%d_%s_", (int)getpid(), tag);
            snprintf(sql, sizeof sql,
                     "DROP TABLE IF EXISTS %1$sobjects, %1$sschema_version; "
                     "DROP FUNCTION IF EXISTS %1$sobjects_stamp(), %1$sobjects_notify()",
                     p);
            PQclear(PQexec(c, sql));
        }
        PQfinish(c);
    } else if (strcmp(be, "mysql") == 0) {
        MYSQL *m = mysql_init(NULL);
        rs_my_target t;
        if (m && rs_my_parse_url(url, true, false, &t, NULL) == RS_OK) {
            unsigned proto = MYSQL_PROTOCOL_TCP;
            mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
            if (mysql_real_connect(m, t.host, t.user, t.password, t.db, t.port, t.socket, 0)) {
                char sql[256];
                snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS `%1$sobjects`, `%1$sschema_version`",
                         t.table_prefix ? t.table_prefix : "regsync_");
                mysql_query(m, sql);
            }
            rs_my_target_free(&t);
        }
        mysql_close(m);
    }
}

/* ------------------------------------------------------------------ agents */

typedef struct slot {
    rs_agent *a;
    pthread_t th;
    bool running;
    char dir[512];
} slot;

static void *agent_thread(void *arg)
{
    rs_agent_run(((slot *)arg)->a);
    return NULL;
}

/* The counters of every storage handle of the agent (main, replicas, parallel fetch, watch), as
 * the agent's thread summed them after its last step (rs_agent_status.store). */
static void agent_stats(rs_agent *a, rs_storage_stats *o)
{
    rs_agent_status st;
    rs_agent_status_get(a, &st);
    *o = st.store;
}

static int open_agents(const char *url, const char *root, size_t n, bool no_watch, slot *v)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(v[i].dir, sizeof v[i].dir, "%s/a%03zu", root, i);
        char state[600], target[600], region[32];
        snprintf(state, sizeof state, "%s/state", v[i].dir);
        snprintf(target, sizeof target, "%s/registry.db", v[i].dir);
        snprintf(region, sizeof region, "bench-%03zu", i);
        mkdirs(state);
        rs_agent_config cfg = {.region = region,
                               .store_url = url,
                               .target = target,
                               .state_dir = state,
                               .poll_interval_ms = O.poll_ms,
                               .no_watch = no_watch};
        rs_error err = {0};
        if (rs_agent_open(&cfg, &v[i].a, &err) != RS_OK) {
            printf("  cannot open agent %zu: %s\n", i, err.msg);
            return -1;
        }
    }
    return 0;
}

static void start_agents(slot *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].a && !v[i].running)
            v[i].running = pthread_create(&v[i].th, NULL, agent_thread, &v[i]) == 0;
}

static void stop_agents(slot *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].running)
            rs_agent_stop(v[i].a);
    for (size_t i = 0; i < n; i++)
        if (v[i].running) {
            pthread_join(v[i].th, NULL);
            v[i].running = false;
        }
}

static void close_agents(slot *v, size_t n)
{
    stop_agents(v, n);
    for (size_t i = 0; i < n; i++) {
        rs_agent_close(v[i].a);
        v[i].a = NULL;
    }
}

static uint64_t applied(rs_agent *a)
{
    rs_agent_status s;
    rs_agent_status_get(a, &s);
    return s.applied_version;
}

static bool wait_all(slot *v, size_t n, uint64_t version, double timeout_ms)
{
    double end = now_ms() + timeout_ms;
    for (size_t i = 0; i < n; i++)
        while (applied(v[i].a) < version) {
            if (now_ms() > end)
                return false;
            sleep_ms(5);
        }
    return true;
}

/* ------------------------------------------------------------------ registries */

static int generate(double mb, uint8_t **out, size_t *len)
{
    rs_gen_params p;
    rs_gen_defaults(&p);
    p.seed = 42;
    p.target_bytes = (size_t)(mb * MB);
    rs_error err = {0};
    if (rs_generate(&p, out, len, &err) != RS_OK) {
        printf("  generate %.0f MB: %s\n", mb, err.msg);
        return -1;
    }
    return 0;
}

/* Replaces *cur by a version with k = 10 objects changed. */
static int next_version(uint8_t **cur, size_t *len, uint64_t seed)
{
    uint8_t *o;
    size_t ol;
    rs_error err = {0};
    if (rs_mutate(*cur, *len, seed, 10, &o, &ol, NULL, &err) != RS_OK) {
        printf("  mutate: %s\n", err.msg);
        return -1;
    }
    free(*cur);
    *cur = o;
    *len = ol;
    return 0;
}

static rs_registry *decode(const uint8_t *p, size_t n)
{
    rs_registry *r = NULL;
    rs_error err = {0};
    if (rs_registry_decode(p, n, NULL, &r, &err) != RS_OK)
        printf("  decode: %s\n", err.msg);
    return r;
}

/* Publishes a decoded registry; returns the version (0 on error) and the call's time. */
static uint64_t publish(rs_publisher *pub, rs_registry *r, double *ms, size_t *entry_bytes)
{
    rs_publish_result res;
    rs_error err = {0};
    double t0 = now_ms();
    int rc = rs_publisher_publish_registry(pub, r, "bench", &res, &err);
    if (ms)
        *ms = now_ms() - t0;
    if (rc) {
        printf("  publish: %s\n", err.msg);
        return 0;
    }
    if (entry_bytes)
        *entry_bytes = res.entry_bytes;
    return res.version;
}

typedef struct pubctx {
    char *url;
    rs_storage *s;
    rs_publisher *p;
} pubctx;

static int pub_open(pubctx *c, const char *url)
{
    c->url = strdup(url);
    rs_error err = {0};
    if (rs_storage_open(url, NULL, &c->s, &err) != RS_OK) {
        printf("  cannot open %s: %s\n", url, err.msg);
        return -1;
    }
    rs_publisher_opts po = {.publisher_id = "bench-publisher"};
    if (rs_publisher_open(c->s, NULL, NULL, &po, &c->p, &err) != RS_OK) {
        printf("  publisher: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static void pub_close(pubctx *c)
{
    rs_publisher_close(c->p);
    rs_storage_close(c->s);
    free(c->url);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------------ 1. propagation */

typedef struct prop_res {
    char backend[8], mode[8];
    size_t n;
    int got;
    double p50, p99, a50, a99, pub_ms;
} prop_res;

static prop_res props[64];
static size_t nprops;

static void run_propagation(const char *be, const char *mode, size_t n)
{
    bool push = strcmp(mode, "push") == 0;
    char tag[24];
    snprintf(tag, sizeof tag, "p%zu%s", n, push ? "push" : "poll");
    char *url = store_url(be, tag);
    char root[512];
    snprintf(root, sizeof root, "%s/%s", workdir, tag);
    pubctx pc = {0};
    slot *ag = calloc(n, sizeof *ag);
    uint8_t *cur = NULL;
    size_t len = 0;
    prop_res *res = &props[nprops++];
    memset(res, 0, sizeof *res);
    snprintf(res->backend, sizeof res->backend, "%s", be);
    snprintf(res->mode, sizeof res->mode, "%s", mode);
    res->n = n;
    double *all = calloc((size_t)O.changes, sizeof *all), *each = calloc((size_t)O.changes * n, sizeof *each),
           *pubms = calloc((size_t)O.changes, sizeof *pubms);
    size_t neach = 0;
    if (pub_open(&pc, url) || generate(O.prop_mb, &cur, &len))
        goto out;
    bool can_push = rs_storage_caps(pc.s) & RS_CAP_WATCH;
    if (push && !can_push)
        goto out;
    rs_registry *r = decode(cur, len);
    uint64_t v = r ? publish(pc.p, r, NULL, NULL) : 0;
    rs_registry_free(r);
    if (!v || open_agents(url, root, n, !push, ag))
        goto out;
    start_agents(ag, n);
    if (!wait_all(ag, n, v, 180000)) {
        printf("  %s %s N=%zu: agents did not bootstrap within 180 s\n", be, mode, n);
        goto out;
    }
    /* warm-up: an agent opens its push connection (LISTEN) at its first wait, after the first step */
    sleep_ms(O.poll_ms + 500.0);
    double *t = calloc(n, sizeof *t);
    for (int c = 0; c < O.changes; c++) {
        if (next_version(&cur, &len, 1000 + (uint64_t)c))
            break;
        r = decode(cur, len);
        if (!r)
            break;
        /* a random phase against every agent's poll (push: a short random pause) */
        sleep_ms((double)(rnd() % (uint64_t)(push ? 100 : O.poll_ms)));
        double t0 = now_ms();
        v = publish(pc.p, r, &pubms[c], NULL);
        rs_registry_free(r);
        if (!v)
            break;
        size_t left = n;
        for (size_t i = 0; i < n; i++)
            t[i] = -1;
        while (left && now_ms() - t0 < 30000) {
            for (size_t i = 0; i < n; i++)
                if (t[i] < 0 && applied(ag[i].a) >= v) {
                    t[i] = now_ms() - t0;
                    left--;
                }
            if (left)
                sleep_ms(1);
        }
        if (left) {
            printf("  %s %s N=%zu: change %d not applied by %zu agent(s) after 30 s\n", be, mode, n, c, left);
            break;
        }
        double mx = 0;
        for (size_t i = 0; i < n; i++) {
            each[neach++] = t[i];
            if (t[i] > mx)
                mx = t[i];
        }
        all[res->got++] = mx;
    }
    free(t);
    res->p50 = pct(all, (size_t)res->got, 0.5);
    res->p99 = pct(all, (size_t)res->got, 0.99);
    res->a50 = pct(each, neach, 0.5);
    res->a99 = pct(each, neach, 0.99);
    res->pub_ms = pct(pubms, (size_t)res->got, 0.5);
out:
    close_agents(ag, n);
    pub_close(&pc);
    drop_store(be, url, tag);
    free(ag);
    free(cur);
    free(all);
    free(each);
    free(pubms);
    free(url);
    if (!O.keep)
        rmrf(root);
}

/* ------------------------------------------------------------------ 2. sizes */

typedef struct child_info {
    double open_ms, sync_ms;      /* open: loads the local copy and the journal; sync: sync --once */
    uint64_t requests, bytes_in;
    long rss_after_kb;            /* resident after sync --once, agent still open */
} child_info;

typedef struct size_res {
    char backend[8];
    size_t mb;
    bool ok;
    size_t reg_bytes;
    double pub1_ms;                         /* first version: entry + snapshot + HEAD */
    double boot_ms, boot_in;                /* a new region */
    double ch_in, ch_out, ch_req, ch_entry; /* per change per agent (means) */
    double ch_pub_ms, ch_step_ms, ch_journal_ms, ch_cpu_ms;
    /* idle, per agent-hour */
    double window_s, polls_h, req_h, req_poll, in_h, out_h, wire_h, wire_poll, hb_h, cpu_ms_poll;
    bool have_wire;
    /* Feast-style baseline */
    double base_get_ms, base_req_get, base_bytes_get, base_req_h, base_bytes_h, base_write_ms;
    /* peak RSS of a fresh process */
    long rss_boot_kb, rss_resume_kb, rss_start_kb;
    double rss_boot_ms, rss_resume_ms;
    child_info boot_ci, resume_ci;
} size_res;

static size_res sres[64];
static size_t nsres;

typedef struct size_case {
    size_res *res;
    char tag[16];
    char *url, *agent_url;
    relay *rl;
    pubctx pc;
    slot *ag;
    uint8_t *cur;
    size_t len;
    /* idle window snapshots */
    rs_storage_stats s0[64];
    uint64_t polls0[64], hb0[64];
    double cpu0[64];
    uint64_t wire0;
} size_case;

static double thread_cpu_ms(pthread_t th)
{
    clockid_t cid;
    struct timespec ts;
    if (pthread_getcpuclockid(th, &cid) != 0 || clock_gettime(cid, &ts) != 0)
        return NAN;
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Runs a fresh process that syncs one agent; returns its VmHWM (KiB) or -1. */
static long rss_child(const char *url, const char *dir, double *ms, long *start_kb, child_info *ci)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/proc/%d/exe --rss-child '%s' '%s'", (int)getpid(), url, dir);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    long kb = -1, kb0 = -1;
    if (fscanf(f, "%ld %ld %lf %lf %lf %" SCNu64 " %" SCNu64 " %ld", &kb, &kb0, ms, &ci->open_ms, &ci->sync_ms,
               &ci->requests, &ci->bytes_in, &ci->rss_after_kb) != 8)
        kb = -1;
    pclose(f);
    if (start_kb)
        *start_kb = kb0;
    return kb;
}

static int rss_child_main(const char *url, const char *dir)
{
    rs_log_configure(RS_LOG_ERROR, false, 2);
    long kb0 = self_hwm_kb();
    char state[1024], target[1024];
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(target, sizeof target, "%s/registry.db", dir);
    mkdirs(state);
    rs_agent_config cfg = {.region = "bench-rss", .store_url = url, .target = target, .state_dir = state};
    rs_agent *a;
    rs_error err = {0};
    double t0 = now_ms();
    if (rs_agent_open(&cfg, &a, &err)) {
        fprintf(stderr, "rss child: %s\n", err.msg);
        return 1;
    }
    double t1 = now_ms();
    if (rs_agent_sync_once(a, &err)) {
        fprintf(stderr, "rss child: %s\n", err.msg);
        return 1;
    }
    double t2 = now_ms();
    rs_storage_stats st;
    agent_stats(a, &st);
    /* peak, start, total ms, open ms (loads the local copy), sync ms, requests, bytes in, resident now */
    printf("%ld %ld %.1f %.1f %.1f %" PRIu64 " %" PRIu64 " %ld\n", self_hwm_kb(), kb0, t2 - t0, t1 - t0, t2 - t1,
           st.requests, st.bytes_in, self_status_kb("VmRSS"));
    rs_agent_close(a);
    return 0;
}

static int size_setup(const char *be, size_t mb, size_case *sc)
{
    size_res *res = sc->res;
    snprintf(sc->tag, sizeof sc->tag, "s%zu", mb);
    sc->url = store_url(be, sc->tag);
    sc->agent_url = relay_url(sc->url, &sc->rl);
    if (!sc->agent_url)
        sc->agent_url = strdup(sc->url);
    res->have_wire = sc->rl != NULL;
    size_t na = (size_t)O.idle_agents;
    sc->ag = calloc(na, sizeof *sc->ag);
    char root[512];
    snprintf(root, sizeof root, "%s/%s", workdir, sc->tag);
    if (pub_open(&sc->pc, sc->url) || generate((double)mb, &sc->cur, &sc->len))
        return -1;
    res->reg_bytes = sc->len;
    /* what Feast writes and reads: the whole registry.db, here in the same store */
    rs_error err = {0};
    if (rs_storage_put(sc->pc.s, "registry.db", sc->cur, sc->len, RS_PUT_ALWAYS, NULL, NULL, &err) != RS_OK) {
        printf("  put registry.db: %s\n", err.msg);
        return -1;
    }
    rs_registry *r = decode(sc->cur, sc->len);
    uint64_t v = r ? publish(sc->pc.p, r, &res->pub1_ms, NULL) : 0;
    rs_registry_free(r);
    if (!v || open_agents(sc->agent_url, root, na, false, sc->ag))
        return -1;
    /* a new region: bootstrap from the snapshot */
    double boot_ms = 0, boot_in = 0;
    for (size_t i = 0; i < na; i++) {
        rs_storage_stats a, b;
        agent_stats(sc->ag[i].a, &a);
        double t0 = now_ms();
        if (rs_agent_sync_once(sc->ag[i].a, &err)) {
            printf("  agent %zu bootstrap: %s\n", i, err.msg);
            return -1;
        }
        boot_ms += now_ms() - t0;
        agent_stats(sc->ag[i].a, &b);
        boot_in += (double)(b.bytes_in - a.bytes_in);
    }
    res->boot_ms = boot_ms / (double)na;
    res->boot_in = boot_in / (double)na;
    /* changes of 10 objects, each agent stepped once on this thread */
    size_t nsteps = (size_t)O.per_change * na;
    double *step = calloc(nsteps, sizeof *step), *jms = calloc(nsteps, sizeof *jms), *cpu = calloc(nsteps, sizeof *cpu),
           *pubs = calloc((size_t)O.per_change, sizeof *pubs);
    size_t ns = 0;
    double in = 0, out = 0, req = 0, entry = 0;
    int done = 0;
    for (int c = 0; c < O.per_change; c++) {
        if (next_version(&sc->cur, &sc->len, 5000 + (uint64_t)c))
            break;
        r = decode(sc->cur, sc->len);
        size_t eb = 0;
        v = r ? publish(sc->pc.p, r, &pubs[c], &eb) : 0;
        rs_registry_free(r);
        if (!v)
            break;
        entry += (double)eb;
        for (size_t i = 0; i < na; i++) {
            rs_storage_stats a, b;
            agent_stats(sc->ag[i].a, &a);
            bool changed = false;
            double t0 = now_ms(), c0 = thread_cpu_ms(pthread_self());
            int rc = rs_agent_step(sc->ag[i].a, &changed, &err);
            step[ns] = now_ms() - t0;
            cpu[ns] = thread_cpu_ms(pthread_self()) - c0;
            agent_stats(sc->ag[i].a, &b);
            if (rc || applied(sc->ag[i].a) != v) {
                printf("  agent %zu change %d: not applied (%s)\n", i, c, rc ? err.msg : "no change seen");
                continue;
            }
            rs_journal_entry je = {0};
            /* a read-only handle beside the agent's (docs/journal.md: readers never disturb it) */
            char jdir[700];
            snprintf(jdir, sizeof jdir, "%s/state", sc->ag[i].dir);
            rs_journal_opts jo = {.readonly = true};
            rs_journal *jh = NULL;
            jms[ns] = rs_journal_open(jdir, &jo, &jh, NULL) == RS_OK && rs_journal_last(jh, &je, NULL) == RS_OK
                          ? (double)je.duration_ms
                          : NAN;
            rs_journal_close(jh);
            rs_journal_entry_clear(&je);
            ns++;
            in += (double)(b.bytes_in - a.bytes_in);
            out += (double)(b.bytes_out - a.bytes_out);
            req += (double)(b.requests - a.requests);
        }
        done++;
    }
    if (ns) {
        res->ch_in = in / (double)ns;
        res->ch_out = out / (double)ns;
        res->ch_req = req / (double)ns;
        res->ch_entry = entry / done;
        res->ch_step_ms = pct(step, ns, 0.5);
        res->ch_journal_ms = pct(jms, ns, 0.5);
        res->ch_cpu_ms = pct(cpu, ns, 0.5);
        res->ch_pub_ms = pct(pubs, (size_t)done, 0.5);
    }
    free(step);
    free(cpu);
    free(jms);
    free(pubs);
    /* Feast-style baseline: whole GETs of registry.db through a handle of the same kind */
    {
        rs_storage_stats a, b;
        rs_storage_get_stats(sc->pc.s, &a);
        double tot = 0;
        int ok = 0;
        uint8_t *last = NULL;
        size_t lastn = 0;
        for (int k = 0; k < O.baseline_gets; k++) {
            uint8_t *d = NULL;
            size_t dn = 0;
            double t0 = now_ms();
            if (rs_storage_get(sc->pc.s, "registry.db", NULL, &d, &dn, NULL, &err) == RS_OK) {
                tot += now_ms() - t0;
                ok++;
                free(last);
                last = d;
                lastn = dn;
            }
        }
        rs_storage_get_stats(sc->pc.s, &b);
        if (ok) {
            double per_hour = 3600000.0 / O.poll_ms;
            res->base_get_ms = tot / ok;
            res->base_req_get = (double)(b.requests - a.requests) / ok + (strcmp(be, "s3") == 0 ? 1 : 0);
            res->base_bytes_get = (double)(b.bytes_in - a.bytes_in) / ok;
            res->base_req_h = res->base_req_get * per_hour;
            res->base_bytes_h = res->base_bytes_get * per_hour;
            /* and what writing it as a file costs (write + fsync + rename) */
            char tmp[600], dst[600];
            snprintf(tmp, sizeof tmp, "%s/feast-copy.tmp", root);
            snprintf(dst, sizeof dst, "%s/feast-copy.db", root);
            double t0 = now_ms();
            int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            bool w = fd >= 0 && write_all(fd, (const char *)last, lastn) && fsync(fd) == 0;
            if (fd >= 0)
                close(fd);
            if (w && rename(tmp, dst) == 0)
                res->base_write_ms = now_ms() - t0;
            unlink(dst);
        }
        free(last);
    }
    res->ok = true;
    return 0;
}

static void size_rss(size_case *sc)
{
    size_res *res = sc->res;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s/rss", workdir, sc->tag);
    res->rss_boot_kb = rss_child(sc->url, dir, &res->rss_boot_ms, &res->rss_start_kb, &res->boot_ci);
    if (res->rss_boot_kb < 0)
        return;
    if (next_version(&sc->cur, &sc->len, 9000))
        return;
    rs_registry *r = decode(sc->cur, sc->len);
    uint64_t v = r ? publish(sc->pc.p, r, NULL, NULL) : 0;
    rs_registry_free(r);
    if (v)
        res->rss_resume_kb = rss_child(sc->url, dir, &res->rss_resume_ms, NULL, &res->resume_ci);
    /* bring the idle agents to the latest version before the idle window */
    for (int i = 0; i < O.idle_agents; i++)
        rs_agent_sync_once(sc->ag[i].a, NULL);
}

static void idle_mark(size_case *sc, bool end)
{
    size_res *res = sc->res;
    size_t na = (size_t)O.idle_agents;
    uint64_t dp = 0, dhb = 0, dreq = 0, din = 0, dout = 0;
    double cpu = 0;
    for (size_t i = 0; i < na; i++) {
        rs_storage_stats s;
        agent_stats(sc->ag[i].a, &s);
        rs_agent_status st;
        rs_agent_status_get(sc->ag[i].a, &st);
        double c = sc->ag[i].running ? thread_cpu_ms(sc->ag[i].th) : 0;
        if (!end) {
            sc->s0[i] = s;
            sc->polls0[i] = st.polls;
            sc->hb0[i] = st.heartbeats;
            sc->cpu0[i] = c;
        } else {
            dp += st.polls - sc->polls0[i];
            dhb += st.heartbeats - sc->hb0[i];
            dreq += s.requests - sc->s0[i].requests;
            din += s.bytes_in - sc->s0[i].bytes_in;
            dout += s.bytes_out - sc->s0[i].bytes_out;
            cpu += c - sc->cpu0[i];
        }
    }
    uint64_t wire = sc->rl ? atomic_load(&sc->rl->up) + atomic_load(&sc->rl->down) : 0;
    if (!end) {
        sc->wire0 = wire;
        return;
    }
    double w = res->window_s, k = 3600.0 / w / (double)na;
    res->polls_h = (double)dp * k;
    res->req_h = (double)dreq * k;
    res->hb_h = (double)dhb * k;
    res->req_poll = dp ? (double)(dreq - dhb) / (double)dp : NAN;
    res->in_h = (double)din * k;
    res->out_h = (double)dout * k;
    res->wire_h = (double)(wire - sc->wire0) * k;
    res->wire_poll = dp ? (double)(wire - sc->wire0) / (double)dp : NAN;
    res->cpu_ms_poll = dp ? cpu / (double)dp : NAN;
}

static void size_teardown(const char *be, size_case *sc)
{
    if (sc->ag)
        close_agents(sc->ag, (size_t)O.idle_agents);
    pub_close(&sc->pc);
    relay_stop(sc->rl);
    if (sc->url)
        drop_store(be, sc->url, sc->tag);
    free(sc->ag);
    free(sc->cur);
    free(sc->url);
    free(sc->agent_url);
    if (!O.keep) {
        char root[512];
        snprintf(root, sizeof root, "%s/%s", workdir, sc->tag);
        rmrf(root);
    }
}

static void run_sizes(const char *be)
{
    size_case cases[MAXV];
    memset(cases, 0, sizeof cases);
    size_t nc = 0;
    size_t largest = 0;
    for (size_t i = 0; i < O.nsizes; i++) {
        size_t mb = O.sizes[i];
        if (mb > 10 && !in_list(O.big, be)) {
            printf("  %zu MB: skipped on %s (--big-backends %s)\n", mb, be, O.big);
            continue;
        }
        size_case *sc = &cases[nc++];
        sc->res = &sres[nsres++];
        memset(sc->res, 0, sizeof *sc->res);
        snprintf(sc->res->backend, sizeof sc->res->backend, "%s", be);
        sc->res->mb = mb;
        double t0 = now_ms();
        if (size_setup(be, mb, sc)) {
            printf("  %zu MB: setup failed\n", mb);
            sc->res->ok = false;
            continue;
        }
        printf("  %zu MB: set up, bootstrapped, %d changes stepped, baseline timed in %.1f s\n", mb, O.per_change,
               (now_ms() - t0) / 1000);
        fflush(stdout);
        if (mb >= largest)
            largest = mb;
    }
    if (O.rss)
        for (size_t i = 0; i < nc; i++)
            if (cases[i].res->ok && cases[i].res->mb == largest) {
                size_rss(&cases[i]);
                printf("  %zu MB: peak RSS measured in fresh processes\n", largest);
            }
    /* the idle window: every agent of every size at once, on its own thread */
    for (size_t i = 0; i < nc; i++)
        if (cases[i].res->ok)
            start_agents(cases[i].ag, (size_t)O.idle_agents);
    sync(); /* the 100 MB files just written are not flushed by an idle agent's first fsync */
    sleep_ms(1500); /* first steps (a heartbeat each) are not idle */
    for (size_t i = 0; i < nc; i++)
        if (cases[i].res->ok)
            idle_mark(&cases[i], false);
    double t0 = now_ms();
    sleep_ms(O.idle_s * 1000.0);
    double w = (now_ms() - t0) / 1000;
    for (size_t i = 0; i < nc; i++)
        if (cases[i].res->ok) {
            cases[i].res->window_s = w;
            idle_mark(&cases[i], true);
        }
    printf("  idle window: %.1f s, %d agent(s) per size\n", w, O.idle_agents);
    for (size_t i = 0; i < nc; i++)
        size_teardown(be, &cases[i]);
}

/* ------------------------------------------------------------------ report */

static const char *child_desc(const child_info *c, double total_ms, char *buf, size_t n)
{
    char in[32];
    snprintf(buf, n, "%.0f ms (open %.0f + sync %.0f; %" PRIu64 " requests, %s in); resident after %.0f MB", total_ms,
             c->open_ms, c->sync_ms, c->requests, human((double)c->bytes_in, in, sizeof in), (double)c->rss_after_kb / 1024);
    return buf;
}

static void print_backend(const char *be)
{
    char b1[128], b2[128], b3[32], b4[32], b5[32];
    double target_poll = O.poll_ms + 500.0;
    printf("\n== %s: propagation (publish call -> all N agents applied; registry %.0f MB, 10-object changes; "
           "p99 = nearest rank, i.e. the worst of %d)\n",
           be, O.prop_mb, O.changes);
    printf("  %-5s %4s %7s %9s %9s %11s %11s %10s   %s\n", "mode", "N", "changes", "p50 ms", "p99 ms", "agent p50", "agent p99",
           "publish", "target p99");
    for (size_t i = 0; i < nprops; i++) {
        prop_res *p = &props[i];
        if (strcmp(p->backend, be))
            continue;
        bool push = strcmp(p->mode, "push") == 0;
        double tg = push ? 100 : target_poll;
        printf("  %-5s %4zu %7d %9.0f %9.0f %11.0f %11.0f %7.1f ms   < %.0f ms: %s\n", p->mode, p->n, p->got, p->p50, p->p99,
               p->a50, p->a99, p->pub_ms, tg, p->got == 0 ? "not measured" : p->p99 < tg ? "met" : "NOT met");
    }
    bool any = false;
    for (size_t i = 0; i < nsres; i++)
        any |= strcmp(sres[i].backend, be) == 0 && sres[i].ok;
    if (!any)
        return;
    printf("\n== %s: idle cost per agent-hour (measured over the window, x 3600/window; poll %d ms, heartbeat 30 s)\n", be,
           O.poll_ms);
    printf("  %-6s %7s %8s %9s %10s %10s %10s %9s %9s %8s | %-33s %s\n", "size", "polls/h", "req/h", "req/poll", "payload in",
           "payload out", "wire", "wire/poll", "cpu/poll", "hb/h", "Feast-style (whole GET each poll)", "bytes ratio");
    for (size_t i = 0; i < nsres; i++) {
        size_res *s = &sres[i];
        if (strcmp(s->backend, be) || !s->ok)
            continue;
        char wire[32], wpoll[32], base[48];
        if (s->have_wire) {
            human(s->wire_h, wire, sizeof wire);
            snprintf(wpoll, sizeof wpoll, "%.0f B", s->wire_poll);
        } else {
            snprintf(wire, sizeof wire, "n/a");
            snprintf(wpoll, sizeof wpoll, "n/a");
        }
        snprintf(base, sizeof base, "%.0f req, %s", s->base_req_h, human(s->base_bytes_h, b1, sizeof b1));
        double ours = s->have_wire ? s->wire_h : s->in_h + s->out_h;
        char ratio[48];
        if (ours > 0)
            snprintf(ratio, sizeof ratio, "%.0fx fewer", s->base_bytes_h / ours);
        else
            snprintf(ratio, sizeof ratio, "(regsync: 0 B)");
        printf("  %3zu MB %7.0f %8.0f %9.2f %10s %10s %10s %9s %6.3f ms %8.0f | %-33s %s\n", s->mb, s->polls_h, s->req_h,
               s->req_poll, human(s->in_h, b2, sizeof b2), human(s->out_h, b3, sizeof b3), wire, wpoll, s->cpu_ms_poll,
               s->hb_h, base, ratio);
    }
    printf("  target: an idle poll is one request and under 1 KB on the wire\n");
    for (size_t i = 0; i < nsres; i++) {
        size_res *s = &sres[i];
        if (strcmp(s->backend, be) || !s->ok)
            continue;
        bool one = s->req_poll < 1.05, small = s->have_wire ? s->wire_poll < 1024 : true;
        printf("    %3zu MB: %.2f requests per poll, %s per poll (heartbeats included): %s\n", s->mb, s->req_poll,
               s->have_wire ? (snprintf(b1, sizeof b1, "%.0f B on the wire", s->wire_poll), b1) : "no wire (local files)",
               one && small ? "met" : "NOT met");
    }
    printf("\n== %s: per change of 10 objects (each agent stepped once; means over %d changes x %d agents)\n", be, O.per_change,
           O.idle_agents);
    printf("  %-6s %11s %10s %10s %8s %9s %9s %8s %8s %8s %10s | %-18s %s\n", "size", "registry", "entry", "in/region",
           "% moved", "out", "requests", "step ms", "cpu ms", "journal", "publish", "Feast GET+write", "new region");
    for (size_t i = 0; i < nsres; i++) {
        size_res *s = &sres[i];
        if (strcmp(s->backend, be) || !s->ok)
            continue;
        double pctm = 100.0 * s->ch_in / (double)s->reg_bytes;
        char feast[48], boot[64];
        snprintf(feast, sizeof feast, "%.0f + %.0f ms", s->base_get_ms, s->base_write_ms);
        snprintf(boot, sizeof boot, "%s in %.0f ms", human(s->boot_in, b5, sizeof b5), s->boot_ms);
        printf("  %3zu MB %11s %10s %10s %7.3f%% %9s %9.1f %8.0f %8.0f %8.0f %7.0f ms | %-18s %s\n", s->mb,
               human((double)s->reg_bytes, b1, sizeof b1), human(s->ch_entry, b2, sizeof b2), human(s->ch_in, b3, sizeof b3),
               pctm, human(s->ch_out, b4, sizeof b4), s->ch_req, s->ch_step_ms, s->ch_cpu_ms, s->ch_journal_ms, s->ch_pub_ms,
               feast, boot);
    }
    for (size_t i = 0; i < nsres; i++) {
        size_res *s = &sres[i];
        if (strcmp(s->backend, be) || !s->ok)
            continue;
        double pctm = 100.0 * s->ch_in / (double)s->reg_bytes;
        printf("    %3zu MB: moves %.3f%% of the registry to each region (target < 1%% at 100 MB): %s\n", s->mb, pctm,
               s->mb < 100 ? "(informative below 100 MB)" : pctm < 1 ? "met" : "NOT met");
    }
    for (size_t i = 0; i < nsres; i++) {
        size_res *s = &sres[i];
        if (strcmp(s->backend, be) || !s->ok || s->rss_boot_kb <= 0)
            continue;
        double reg = (double)s->reg_bytes / MB, lim = 3 * reg + 10;
        double boot = (double)s->rss_boot_kb / 1024, res = (double)s->rss_resume_kb / 1024;
        printf("\n== %s: agent peak RSS, fresh process, %zu MB registry (%.1f MB; target < 3x + 10 MB = %.0f MB)\n", be, s->mb,
               reg, lim);
        printf("  new region (bootstrap from snapshot), sync --once: %7.1f MB  %.2fx  %s  %s\n", boot, boot / reg,
               child_desc(&s->boot_ci, s->rss_boot_ms, b1, sizeof b1), boot < lim ? "met" : "NOT met");
        if (s->rss_resume_kb > 0)
            printf("  restart + apply a 10-object change,  sync --once: %7.1f MB  %.2fx  %s  %s\n", res, res / reg,
                   child_desc(&s->resume_ci, s->rss_resume_ms, b2, sizeof b2), res < lim ? "met" : "NOT met");
        printf("  (the process before opening the agent: %.1f MB)\n", (double)s->rss_start_kb / 1024);
    }
}

static void print_summary(void)
{
    printf("\n== summary (targets from issue 4)\n");
    printf("  %-5s %-22s %-14s %-34s %s\n", "store", "what", "measured", "target", "");
    for (size_t i = 0; i < nprops; i++) {
        prop_res *p = &props[i];
        if (!p->got)
            continue;
        bool push = strcmp(p->mode, "push") == 0;
        double tg = push ? 100 : O.poll_ms + 500.0;
        char what[40], m[32], t[48];
        snprintf(what, sizeof what, "p99 propagation %s N=%zu", p->mode, p->n);
        snprintf(m, sizeof m, "%.0f ms", p->p99);
        snprintf(t, sizeof t, "< %.0f ms", tg);
        printf("  %-5s %-22s %-14s %-34s %s\n", p->backend, what, m, t, p->p99 < tg ? "met" : "NOT met");
    }
    for (size_t i = 0; i < nsres; i++) {
        size_res *s = &sres[i];
        if (!s->ok)
            continue;
        char what[40], m[48];
        snprintf(what, sizeof what, "idle poll, %zu MB", s->mb);
        if (s->have_wire)
            snprintf(m, sizeof m, "%.2f req, %.0f B", s->req_poll, s->wire_poll);
        else
            snprintf(m, sizeof m, "%.2f req", s->req_poll);
        printf("  %-5s %-22s %-14s %-34s %s\n", s->backend, what, m, "1 request, < 1 KB",
               s->req_poll < 1.05 && (!s->have_wire || s->wire_poll < 1024) ? "met" : "NOT met");
        snprintf(what, sizeof what, "change moves, %zu MB", s->mb);
        snprintf(m, sizeof m, "%.3f%%", 100.0 * s->ch_in / (double)s->reg_bytes);
        printf("  %-5s %-22s %-14s %-34s %s\n", s->backend, what, m,
               s->mb < 100 ? "(< 1% is the 100 MB target)" : "< 1% of the registry",
               s->mb < 100 ? "" : 100.0 * s->ch_in / (double)s->reg_bytes < 1 ? "met" : "NOT met");
        snprintf(what, sizeof what, "apply 10 objs, %zu MB", s->mb);
        snprintf(m, sizeof m, "%.0f ms", s->ch_step_ms);
        printf("  %-5s %-22s %-14s %-34s\n", s->backend, what, m, "(printed; fsync included)");
        if (s->rss_boot_kb > 0) {
            double reg = (double)s->reg_bytes / MB, lim = 3 * reg + 10;
            double worst = (double)(s->rss_boot_kb > s->rss_resume_kb ? s->rss_boot_kb : s->rss_resume_kb) / 1024;
            snprintf(what, sizeof what, "peak RSS, %zu MB", s->mb);
            snprintf(m, sizeof m, "%.0f MB", worst);
            char t[48];
            snprintf(t, sizeof t, "< %.0f MB", lim);
            printf("  %-5s %-22s %-14s %-34s %s\n", s->backend, what, m, t, worst < lim ? "met" : "NOT met");
        }
    }
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr, "usage: bench_sync [--backends file,s3,pg,mysql] [--agents 2,8,32] [--changes 30] [--prop-mb 1]\n"
                    "                  [--sizes 1,10,100] [--big-backends file,s3] [--idle-s 30] [--poll-ms 1000]\n"
                    "                  [--per-change 3] [--baseline-gets 3] [--idle-agents 2] [--pg-modes push]\n"
                    "                  [--no-rss] [--keep] [--quick]\n");
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--rss-child") == 0)
        return rss_child_main(argv[2], argv[3]);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0)
            O.keep = true;
        else if (strcmp(a, "--no-rss") == 0)
            O.rss = false;
        else if (strcmp(a, "--quick") == 0) {
            O.changes = 10;
            O.idle_s = 10;
            O.nsizes = 2; /* 1 and 10 MB */
            O.nagents = 2;
            O.per_change = 2;
        } else if (!v) {
            usage();
            return 2;
        } else if (strcmp(a, "--backends") == 0)
            snprintf(O.backends, sizeof O.backends, "%s", v), i++;
        else if (strcmp(a, "--big-backends") == 0)
            snprintf(O.big, sizeof O.big, "%s", v), i++;
        else if (strcmp(a, "--pg-modes") == 0)
            snprintf(O.pg_modes, sizeof O.pg_modes, "%s", v), i++;
        else if (strcmp(a, "--agents") == 0)
            O.nagents = parse_sizes(v, O.agents), i++;
        else if (strcmp(a, "--sizes") == 0)
            O.nsizes = parse_sizes(v, O.sizes), i++;
        else if (strcmp(a, "--changes") == 0)
            O.changes = atoi(v), i++;
        else if (strcmp(a, "--prop-mb") == 0)
            O.prop_mb = atof(v), i++;
        else if (strcmp(a, "--idle-s") == 0)
            O.idle_s = atoi(v), i++;
        else if (strcmp(a, "--poll-ms") == 0)
            O.poll_ms = atoi(v), i++;
        else if (strcmp(a, "--per-change") == 0)
            O.per_change = atoi(v), i++;
        else if (strcmp(a, "--baseline-gets") == 0)
            O.baseline_gets = atoi(v), i++;
        else if (strcmp(a, "--idle-agents") == 0)
            O.idle_agents = atoi(v), i++;
        else {
            usage();
            return 2;
        }
    }
    if (O.changes < 1 || O.poll_ms < 10 || O.idle_s < 1 || O.per_change < 1 || O.idle_agents < 1 || O.idle_agents > 64 ||
        O.baseline_gets < 1 || O.prop_mb <= 0) {
        usage();
        return 2;
    }
    for (size_t i = 0; i < O.nagents; i++)
        if (O.agents[i] > 100) {
            fprintf(stderr, "bench_sync: at most 100 agents\n");
            return 2;
        }
    rs_log_configure(RS_LOG_ERROR, false, 2);
    snprintf(workdir, sizeof workdir, "/tmp/bench-sync-XXXXXX");
    if (!mkdtemp(workdir)) {
        perror("mkdtemp");
        return 1;
    }
    const char *names[4] = {"file", "s3", "pg", "mysql"};
    const char *envs[4] = {NULL, "RS_TEST_S3_URL", "RS_TEST_PG_URL", "RS_TEST_MYSQL_URL"};
    bool run[4];
    printf("bench_sync: in-process agents (one thread each, own target file and state_dir), poll %d ms, %ld cores; "
           "work dir %s\n",
           O.poll_ms, sysconf(_SC_NPROCESSORS_ONLN), workdir);
    printf("  propagation: registry %.0f MB, %d changes of 10 objects, N = ", O.prop_mb, O.changes);
    for (size_t i = 0; i < O.nagents; i++)
        printf("%s%zu", i ? "," : "", O.agents[i]);
    printf("; sizes:");
    for (size_t i = 0; i < O.nsizes; i++)
        printf(" %zu", O.sizes[i]);
    printf(" MB (above 10 MB only on %s); idle window %d s\n", O.big, O.idle_s);
    int ran = 0;
    for (int b = 0; b < 4; b++) {
        run[b] = in_list(O.backends, names[b]) && (!envs[b] || (getenv(envs[b]) && *getenv(envs[b])));
        if (in_list(O.backends, names[b]) && !run[b])
            printf("  %s: skipped (%s is not set)\n", names[b], envs[b]);
    }
    for (int b = 0; b < 4; b++) {
        if (!run[b])
            continue;
        ran++;
        const char *be = names[b];
        printf("\n-- %s: running\n", be);
        fflush(stdout);
        double t0 = now_ms();
        const char *modes = strcmp(be, "pg") == 0 ? O.pg_modes : "poll";
        const char *order[2] = {"push", "poll"};
        for (int m = 0; m < 2; m++) {
            if (!in_list(modes, order[m]))
                continue;
            for (size_t i = 0; i < O.nagents; i++) {
                double t1 = now_ms();
                run_propagation(be, order[m], O.agents[i]);
                printf("  propagation %s N=%zu: %.1f s\n", order[m], O.agents[i], (now_ms() - t1) / 1000);
                fflush(stdout);
            }
        }
        run_sizes(be);
        printf("-- %s: %.1f s\n", be, (now_ms() - t0) / 1000);
        fflush(stdout);
    }
    for (int b = 0; b < 4; b++)
        if (run[b])
            print_backend(names[b]);
    print_summary();
    if (!O.keep)
        rmrf(workdir);
    return ran ? 0 : 1;
}
