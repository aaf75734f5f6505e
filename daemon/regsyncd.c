/* regsyncd: the regsync agent daemon. See `regsyncd --help` and docs/operations.md. */
#include "rs_daemon.h"
#include "rs_log.h"
#include "rs_replica.h"
#include "rs_time.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

static const char USAGE[] =
    "usage: regsyncd [COMMAND] --config FILE [--set key=value]...\n"
    "\n"
    "Commands:\n"
    "  run (default)              follow the global log into the target (and publish when publish: true),\n"
    "                             serve the admin API, until SIGTERM; SIGHUP reloads the configuration\n"
    "  sync --once                bring the target to the latest (or pinned) version, then exit;\n"
    "                             for an init container, so Feast never starts on an empty registry\n"
    "                             (exits 1 while nothing is published)\n"
    "  publish --once             publish the source if its content changed, then exit; for CI after\n"
    "                             `feast apply`. Refuses an empty source, objects without a name or\n"
    "                             project, and a change deleting more than max_delete_fraction of the\n"
    "                             objects, unless --allow-destructive\n"
    "  check-config               validate the configuration, list every problem by key, print the\n"
    "                             effective configuration (secrets shown as <set>)\n"
    "  mirror --to STORE          keep a replica in step: copy the log entries and snapshots it lacks, then\n"
    "                             HEAD (idempotent, resumable); every poll_interval until SIGTERM, or once\n"
    "                             with --once. STORE: a replica name from `replicas`, \"primary\", or a URL;\n"
    "                             --from STORE (default: the primary `store`). With two URLs no --config\n"
    "                             is needed\n"
    "  promote --store STORE      make a replica the primary after the primary is lost: writes its HEAD with\n"
    "                             epoch = 1 + the highest epoch of every reachable store (conditional write);\n"
    "                             agents then ignore the old primary and its publisher refuses to publish\n"
    "  healthcheck                GET /healthz on the admin API the configuration describes (admin.listen\n"
    "                             from the file, REGSYNC_ADMIN_LISTEN or --set); exit 0 when it answers 200,\n"
    "                             1 otherwise: a container HEALTHCHECK\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE          YAML configuration (keys: docs/configuration.md); default: the file named\n"
    "                             by REGSYNC_CONFIG, if set\n"
    "  -s, --set KEY=VALUE        override one key (dotted path, e.g. admin.listen=127.0.0.1:9000);\n"
    "                             environment variables REGSYNC_<KEY> override the file, --set overrides both\n"
    "      --once                 with sync, publish and mirror\n"
    "      --from, --to STORE     with mirror\n"
    "      --store STORE          with promote\n"
    "      --allow-destructive    with publish: let this one publish delete any number of objects\n"
    "      --json                 with check-config: print the effective configuration as JSON\n"
    "      --example              with check-config: print an annotated example configuration and exit\n"
    "  -h, --help                 this text\n"
    "  -V, --version              the version\n"
    "\n"
    "Exit codes: 0 success; 1 the command failed (store unreachable, bad source, ...);\n"
    "            2 usage or configuration error (healthcheck: 1).\n";

typedef struct daemon_state {
    rs_config *cfg;
    rs_agent *agent;
    rs_provider *provider;
#ifdef RS_HAVE_ADMIN
    rs_admin *admin;
    int admin_fd;             /* a listening socket kept across a reload for the next admin; -1 */
#endif
    pthread_t thread;
    bool thread_running;
    struct event_base *base;
    const char *config_path;
    const char *const *overrides;
    size_t n_overrides;
} daemon_state;

static void configure_logging(const rs_config *cfg)
{
    rs_log_configure(cfg->log.level, cfg->log.format == RS_LOG_FORMAT_JSON, 2);
    for (size_t i = 0; i < cfg->warnings.n; i++)
        RS_LOGW("config", "%s", cfg->warnings.v[i]);
}

static int load_config(const char *path, const char *const *ov, size_t nov, rs_config **out)
{
    rs_error err = {0};
    rs_config_problems probs = {0};
    int rc = rs_config_load_ex(path, NULL, ov, nov, out, &probs, &err);
    if (rc) {
        if (probs.n) {
            char *t = rs_config_problems_text(&probs);
            fprintf(stderr, "regsyncd: invalid configuration%s%s (%zu problem%s):\n%s", path ? " " : "", path ? path : "",
                    probs.n, probs.n == 1 ? "" : "s", t ? t : "");
            free(t);
        } else {
            fprintf(stderr, "regsyncd: %s\n", err.msg);
        }
        rs_config_problems_free(&probs);
        return rc;
    }
    rs_config_problems_free(&probs);
    return RS_OK;
}

static void *agent_thread(void *arg)
{
    rs_agent_run((rs_agent *)arg);
    return NULL;
}

static void block_signals(sigset_t *old)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &s, old);
}

/* Opens the agent and the admin API and starts the agent's thread. */
static int start(daemon_state *d)
{
    rs_agent_config ac;
    rs_daemon_agent_config(d->cfg, &ac);
    rs_error err = {0};
    int rc = rs_agent_open(&ac, &d->agent, &err);
    if (rc) {
        RS_LOGE("daemon", "cannot start the agent error=\"%s\"", err.msg);
        return rc;
    }
    rc = rs_provider_new(d->agent, d->cfg, &d->provider, &err);
    if (rc) {
        RS_LOGE("daemon", "cannot start the admin provider error=\"%s\"", err.msg);
        return rc;
    }
    sigset_t old;
    block_signals(&old); /* threads created now do not take the daemon's signals */
#ifdef RS_HAVE_ADMIN
    if (d->cfg->admin.listen && *d->cfg->admin.listen) {
        rs_admin_config adc = {.listen = d->cfg->admin.listen,
                               .token = d->cfg->admin.token,
                               .tls_cert = d->cfg->admin.tls_cert && *d->cfg->admin.tls_cert ? d->cfg->admin.tls_cert : NULL,
                               .tls_key = d->cfg->admin.tls_key && *d->cfg->admin.tls_key ? d->cfg->admin.tls_key : NULL,
                               .max_body_bytes = d->cfg->admin.max_body_bytes,
                               .max_header_bytes = d->cfg->admin.max_header_bytes,
                               .request_timeout_ms = d->cfg->admin.request_timeout_ms,
                               .auth_reads = d->cfg->admin.auth_reads};
        if (d->admin_fd >= 0) { /* a reload kept the socket: no moment without a listener */
            adc.use_listen_fd = true;
            adc.listen_fd = d->admin_fd;
        }
        rs_admin_provider ap;
        rs_provider_fill(d->provider, &ap);
        rc = rs_admin_start(&adc, &ap, &d->admin, &err);
        if (rc == RS_OK)
            d->admin_fd = -1; /* the admin owns it now */
        if (rc) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            RS_LOGE("daemon", "cannot start the admin API error=\"%s\"", err.msg);
            return rc;
        }
        rs_provider_set_admin(d->provider, d->admin);
        RS_LOGI("daemon", "admin API listening address=%s", rs_admin_bound_address(d->admin));
    }
#endif
    if (pthread_create(&d->thread, NULL, agent_thread, d->agent) != 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        RS_LOGE("daemon", "cannot start the agent thread");
        return RS_EIO;
    }
    d->thread_running = true;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    char *store = rs_config_redact_url(d->cfg->store);
    RS_LOGI("daemon", "started region=%s store=\"%s\" target=\"%s\" publish=%s", d->cfg->region, store ? store : "",
            d->cfg->target ? d->cfg->target : "", d->cfg->publish ? "true" : "false");
    free(store);
    return RS_OK;
}

/* keep_listener: the admin's listening socket stays open for the next start (a reload with the
 * same admin.listen). */
static void stop(daemon_state *d, bool keep_listener)
{
    if (d->agent && d->thread_running) {
        rs_agent_stop(d->agent);
        pthread_join(d->thread, NULL);
        d->thread_running = false;
    }
#ifdef RS_HAVE_ADMIN
    /* nothing may notify the admin API once it is being freed (the provider's fleet thread runs
       until rs_provider_free) */
    if (d->provider && d->admin)
        rs_provider_set_admin(d->provider, NULL);
    if (keep_listener && d->admin && d->admin_fd < 0) {
        d->admin_fd = rs_admin_stop_keep_listener(d->admin);
    } else {
        rs_admin_stop(d->admin);
        if (!keep_listener && d->admin_fd >= 0) {
            close(d->admin_fd);
            d->admin_fd = -1;
        }
    }
    d->admin = NULL;
#else
    (void)keep_listener;
#endif
    rs_provider_free(d->provider);
    d->provider = NULL;
    rs_agent_close(d->agent);
    d->agent = NULL;
}

static void on_term(evutil_socket_t sig, short ev, void *arg)
{
    (void)ev;
    daemon_state *d = arg;
    RS_LOGI("daemon", "stopping signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    event_base_loopbreak(d->base);
}

static bool admin_listen_same(const rs_config *a, const rs_config *b)
{
#ifdef RS_HAVE_ADMIN
    const char *x = a->admin.listen ? a->admin.listen : "", *y = b->admin.listen ? b->admin.listen : "";
    return *x && strcmp(x, y) == 0;
#else
    (void)a;
    (void)b;
    return false;
#endif
}

static void on_hup(evutil_socket_t sig, short ev, void *arg)
{
    (void)sig;
    (void)ev;
    daemon_state *d = arg;
    RS_LOGI("daemon", "reloading config=\"%s\"", d->config_path ? d->config_path : "");
    rs_config *nc = NULL;
    if (load_config(d->config_path, d->overrides, d->n_overrides, &nc)) {
        RS_LOGE("daemon", "reload refused: the new configuration is invalid; keeping the old one");
        return;
    }
    /* the same admin address: the listening socket is handed to the new admin API, so probes
       never meet a closed port (connections wait in the backlog for the moment of the restart) */
    bool same_listen = admin_listen_same(d->cfg, nc);
    stop(d, same_listen);
    rs_config *old = d->cfg;
    d->cfg = nc;
    configure_logging(nc);
    if (start(d) != RS_OK) {
        RS_LOGE("daemon", "reload: the new configuration does not start; going back to the old one");
        stop(d, same_listen);
        d->cfg = old;
        rs_config_free(nc);
        configure_logging(old);
        if (start(d) != RS_OK) {
            RS_LOGE("daemon", "the old configuration does not start either; exiting");
            event_base_loopbreak(d->base);
        }
        return;
    }
    rs_config_free(old);
    RS_LOGI("daemon", "reloaded");
}

/* A daemon that serves up to 1024 long polls and 256 queued calls needs more descriptors than
 * the usual soft limit of 1024: raise it to the hard limit (at most 65536), as servers do. */
static void raise_open_files(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            RS_LOGD("daemon", "open_files_limit was=%llu now=%llu", (unsigned long long)was, (unsigned long long)want);
    }
}

static int run(daemon_state *d)
{
    raise_open_files();
    evthread_use_pthreads();
    d->base = event_base_new();
    if (!d->base) {
        fprintf(stderr, "regsyncd: cannot create the event loop\n");
        return EXIT_FAILED;
    }
    struct event *t = evsignal_new(d->base, SIGTERM, on_term, d);
    struct event *i = evsignal_new(d->base, SIGINT, on_term, d);
    struct event *h = evsignal_new(d->base, SIGHUP, on_hup, d);
    event_add(t, NULL);
    event_add(i, NULL);
    event_add(h, NULL);
    if (start(d) != RS_OK) {
        stop(d, false);
        event_free(t);
        event_free(i);
        event_free(h);
        event_base_free(d->base);
        return EXIT_FAILED;
    }
    event_base_dispatch(d->base);
    stop(d, false);
    event_free(t);
    event_free(i);
    event_free(h);
    event_base_free(d->base);
    RS_LOGI("daemon", "stopped");
    return EXIT_OK;
}

static int once(daemon_state *d, bool publish, bool allow_destructive)
{
    rs_agent_config ac;
    rs_daemon_agent_config(d->cfg, &ac);
    ac.allow_destructive = allow_destructive;
    if (publish) {
        if (!ac.source) {
            fprintf(stderr, "regsyncd: publish --once needs `source` in the configuration\n");
            return EXIT_USAGE;
        }
        ac.publish = true;
        ac.target = NULL;
    } else {
        if (!ac.target) {
            fprintf(stderr, "regsyncd: sync --once needs `target` in the configuration\n");
            return EXIT_USAGE;
        }
        ac.publish = false;
    }
    rs_error err = {0};
    rs_agent *a;
    if (rs_agent_open(&ac, &a, &err)) {
        fprintf(stderr, "regsyncd: %s\n", err.msg);
        return EXIT_FAILED;
    }
    int rc;
    if (publish) {
        uint64_t v = 0;
        bool changed = false;
        rc = rs_agent_publish_once(a, &v, &changed, &err);
        if (!rc)
            printf("%s version %" PRIu64 "\n", changed ? "published" : "unchanged at", v);
    } else {
        rc = rs_agent_sync_once(a, &err);
        if (!rc) {
            rs_agent_status s;
            rs_agent_status_get(a, &s);
            if (!s.has_state) {
                /* the init-container gate: Feast must not start on an empty registry */
                fprintf(stderr, "regsyncd: nothing is published in the global store yet: the target was not written\n");
                rc = RS_ENOTFOUND;
            } else
                printf("target at version %" PRIu64 " (head %" PRIu64 ")\n", s.applied_version, s.head_version);
            rs_agent_report(a, NULL);
        }
    }
    if (rc && err.msg[0])
        fprintf(stderr, "regsyncd: %s\n", err.msg);
    rs_agent_close(a);
    return rc ? EXIT_FAILED : EXIT_OK;
}

/* ------------------------------------------------------------ mirror, promote */

static volatile sig_atomic_t g_mirror_stop;
static void on_mirror_signal(int sig)
{
    (void)sig;
    g_mirror_stop = 1;
}

static int mirror(const rs_config *cfg, const char *from, const char *to, bool once_only)
{
    const char *fname, *tname;
    const char *furl = rs_daemon_resolve_store(cfg, from ? from : "primary", true, &fname);
    const char *turl = to ? rs_daemon_resolve_store(cfg, to, true, &tname) : NULL;
    if (!to) {
        fprintf(stderr, "regsyncd: mirror needs --to (a replica name or a store URL)\n");
        return EXIT_USAGE;
    }
    if (!furl || !turl) {
        fprintf(stderr, "regsyncd: mirror: %s is neither a URL, \"primary\" nor a replica in the configuration\n",
                !furl ? (from ? from : "primary") : to);
        return EXIT_USAGE;
    }
    if (strcmp(furl, turl) == 0) {
        fprintf(stderr, "regsyncd: mirror: --from and --to are the same store\n");
        return EXIT_USAGE;
    }
    rs_storage_opts so = rs_daemon_store_opts(cfg);
    rs_storage *src = NULL, *dst = NULL;
    rs_error err = {0};
    if (rs_storage_open(furl, &so, &src, &err) || rs_storage_open(turl, &so, &dst, &err)) {
        fprintf(stderr, "regsyncd: mirror: %s\n", err.msg);
        rs_storage_close(src);
        return EXIT_FAILED;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_mirror_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int64_t every = cfg ? cfg->poll_interval_ms : 5000;
    int rc = EXIT_OK;
    RS_LOGI("mirror", "mirroring from=%s to=%s%s", fname, tname, once_only ? " once" : "");
    while (!g_mirror_stop) {
        rs_replica_result r;
        int64_t t0 = rs_mono_ms();
        rs_error e = {0};
        int mrc = rs_replica_sync(src, dst, &r, &e);
        if (mrc) {
            RS_LOGE("mirror", "copy failed from=%s to=%s error=\"%s\"", fname, tname, e.msg);
            if (once_only) {
                fprintf(stderr, "regsyncd: mirror: %s\n", e.msg);
                rc = EXIT_FAILED;
            }
        } else if (r.head_written) {
            RS_LOGI("mirror", "copied to=%s version=%" PRIu64 " from=%" PRIu64 " epoch=%" PRIu64 " entries=%" PRIu64 " skipped=%" PRIu64
                              " snapshots=%" PRIu64 " deleted=%" PRIu64 " ms=%lld",
                    tname, r.dst_version, r.dst_version_before, r.src_epoch, r.entries_copied, r.entries_skipped,
                    r.snapshots_copied, r.entries_deleted, (long long)(rs_mono_ms() - t0));
            if (once_only)
                printf("mirrored %s to version %" PRIu64 " (epoch %" PRIu64 "): %" PRIu64 " entries, %" PRIu64 " snapshots copied, %" PRIu64
                       " already there%s\n",
                       tname, r.dst_version, r.src_epoch, r.entries_copied, r.snapshots_copied, r.entries_skipped,
                       r.rejoined ? " (rejoined from an older epoch)" : "");
        } else if (once_only) {
            printf("%s in step at version %" PRIu64 "\n", tname, r.dst_version);
        }
        if (once_only)
            break;
        for (int64_t left = every; left > 0 && !g_mirror_stop; left -= 100)
            usleep(100000);
    }
    rs_storage_close(src);
    rs_storage_close(dst);
    return rc;
}

static int promote(const rs_config *cfg, const char *store)
{
    const char *name;
    if (!store || !rs_daemon_resolve_store(cfg, store, true, &name)) {
        fprintf(stderr, "regsyncd: promote needs --store: a replica name from the configuration or a store URL\n");
        return EXIT_USAGE;
    }
    rs_error err = {0};
    uint64_t epoch = 0, version = 0;
    if (rs_daemon_promote(cfg, store, true, "regsyncd promote", &epoch, &version, &err)) {
        fprintf(stderr, "regsyncd: promote: %s\n", err.msg);
        return EXIT_FAILED;
    }
    RS_LOGW("promote", "promoted store=%s epoch=%" PRIu64 " version=%" PRIu64, name, epoch, version);
    printf("promoted %s: epoch %" PRIu64 " at version %" PRIu64 "; point `store` at it (and list the old primary under "
           "replicas once it is back)\n",
           name, epoch, version);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'}, {"set", required_argument, 0, 's'},
                                         {"once", no_argument, 0, 'o'},         {"json", no_argument, 0, 'j'},
                                         {"allow-destructive", no_argument, 0, 'D'},         {"example", no_argument, 0, 'e'},
                                         {"help", no_argument, 0, 'h'},         {"version", no_argument, 0, 'V'},
                                         {"from", required_argument, 0, 'F'},   {"to", required_argument, 0, 'T'},
                                         {"store", required_argument, 0, 'S'},
                                         {0, 0, 0, 0}};
    const char *config = getenv("REGSYNC_CONFIG"), *cmd = "run";
    if (config && !*config)
        config = NULL;
    const char **ov = calloc((size_t)argc + 1, sizeof *ov);
    size_t nov = 0;
    bool once_flag = false, json = false, example = false, allow_destructive = false;
    const char *from = NULL, *to = NULL, *pstore = NULL;
    int c;
    if (argc > 1 && argv[1][0] != '-') {
        cmd = argv[1];
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    while ((c = getopt_long(argc, argv, "c:s:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 's': ov[nov++] = optarg; break;
        case 'o': once_flag = true; break;
        case 'D': allow_destructive = true; break;
        case 'F': from = optarg; break;
        case 'T': to = optarg; break;
        case 'S': pstore = optarg; break;
        case 'j': json = true; break;
        case 'e': example = true; break;
        case 'h': fputs(USAGE, stdout); free(ov); return EXIT_OK;
        case 'V': printf("regsyncd %s\n", RS_VERSION_STRING); free(ov); return EXIT_OK;
        default: fputs(USAGE, stderr); free(ov); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "regsyncd: unexpected argument '%s'\n%s", argv[optind], USAGE);
        free(ov);
        return EXIT_USAGE;
    }
    bool is_run = strcmp(cmd, "run") == 0, is_sync = strcmp(cmd, "sync") == 0, is_pub = strcmp(cmd, "publish") == 0,
         is_check = strcmp(cmd, "check-config") == 0, is_health = strcmp(cmd, "healthcheck") == 0,
         is_mirror = strcmp(cmd, "mirror") == 0, is_promote = strcmp(cmd, "promote") == 0;
    if (!is_run && !is_sync && !is_pub && !is_check && !is_health && !is_mirror && !is_promote) {
        fprintf(stderr, "regsyncd: unknown command '%s'\n%s", cmd, USAGE);
        free(ov);
        return EXIT_USAGE;
    }
    if ((from || to) && !is_mirror) {
        fprintf(stderr, "regsyncd: --from and --to go with mirror\n");
        free(ov);
        return EXIT_USAGE;
    }
    if (pstore && !is_promote) {
        fprintf(stderr, "regsyncd: --store goes with promote\n");
        free(ov);
        return EXIT_USAGE;
    }
    if (is_mirror || is_promote) {
        /* two URLs need no configuration; names need it */
        bool urls_only = is_mirror ? (from && to && strstr(from, "://") && strstr(to, "://")) : (pstore && strstr(pstore, "://") && !config);
        rs_config *mc = NULL;
        if (!urls_only || config) {
            if (load_config(config, ov, nov, &mc)) {
                free(ov);
                return EXIT_USAGE;
            }
            configure_logging(mc);
        }
        int mrc = is_mirror ? mirror(mc, from, to, once_flag) : promote(mc, pstore);
        rs_config_free(mc);
        free(ov);
        return mrc;
    }
    if ((is_sync || is_pub) && !once_flag) {
        fprintf(stderr, "regsyncd: %s needs --once (the daemon itself is `regsyncd run`)\n", cmd);
        free(ov);
        return EXIT_USAGE;
    }
    if (allow_destructive && !is_pub) {
        fprintf(stderr, "regsyncd: --allow-destructive goes with publish --once\n");
        free(ov);
        return EXIT_USAGE;
    }
    if (is_check && example) {
        fputs(rs_config_default_yaml(), stdout);
        free(ov);
        return EXIT_OK;
    }
    daemon_state d = {.config_path = config, .overrides = ov, .n_overrides = nov};
#ifdef RS_HAVE_ADMIN
    d.admin_fd = -1;
#endif
    if (load_config(config, ov, nov, &d.cfg)) {
        free(ov);
        /* a health check answers 0 or 1 (Docker reserves 2) */
        return is_health ? EXIT_FAILED : EXIT_USAGE;
    }
    configure_logging(d.cfg);
    int rc;
    if (is_health) {
        char url[320] = "";
        rs_error err = {0};
        if (rs_healthcheck(d.cfg, 4000, url, sizeof url, &err) == RS_OK) {
            printf("healthy: %s\n", url);
            rc = EXIT_OK;
        } else {
            fprintf(stderr, "regsyncd healthcheck: unhealthy: %s\n", err.msg);
            rc = EXIT_FAILED;
        }
    } else if (is_check) {
        char *text = rs_config_describe(d.cfg, json);
        fputs(text ? text : "", stdout);
        free(text);
        if (!json)
            printf("configuration OK\n");
        rc = EXIT_OK;
    } else if (is_run) {
        rc = run(&d);
    } else {
        rc = once(&d, is_pub, allow_destructive);
    }
    rs_config_free(d.cfg);
    free(ov);
    return rc;
}
