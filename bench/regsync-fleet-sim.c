/* regsync-fleet-sim: writes the reports of many simulated follower instances into a global store
 * and rewrites them every heartbeat, as real agents do (the same bytes while nothing changes; a
 * new body, with a new written_at and one more recent apply, when HEAD moves). For the fleet
 * benchmark (bench/bench_fleet.sh) and the tests that need reports no real agent writes (a
 * writer whose clock is off). Not an agent: it applies nothing and reads only HEAD.
 *
 *   regsync-fleet-sim --store URL [--regions N] [--instances N] [--heartbeat DUR]
 *                     [--duration DUR | --once] [--region-prefix P] [--instance-prefix P]
 *                     [--skew [-]DUR] [--quiet]
 *
 * Instance i (sim-0000 ...) belongs to region i % N (region-00 ...). Each simulated instance
 * follows HEAD at once: applied_version = HEAD, its digests = HEAD's digest (what an unfiltered
 * follower reports). Prints one summary line per second of rounds to stderr unless --quiet, and
 * a last line "rounds R puts P requests Q bytes_out B round_ms_p50 X round_ms_max Y" on stdout.
 * Exit 0, 1 on a store error that persists, 2 on a usage error. SIGINT/SIGTERM end it. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rs_drift.h"
#include "rs_error.h"
#include "rs_log.h"
#include "rs_logproto.h"
#include "rs_storage.h"
#include "rs_time.h"

#define MAX_RECENT 10

typedef struct sim_instance {
    char region[64];
    char instance[64];
    char key[256];
    rs_applied_at recent[MAX_RECENT];
    size_t n_recent;
    uint8_t *body; /* the current report (rewritten as is while nothing changes) */
    size_t len;
} sim_instance;

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fputs("usage: regsync-fleet-sim --store URL [--regions N] [--instances N] [--heartbeat DUR]\n"
          "                         [--duration DUR | --once] [--region-prefix P] [--instance-prefix P]\n"
          "                         [--skew [-]DUR] [--quiet]\n"
          "  --regions N          regions (default 10): region-00, region-01, ...\n"
          "  --instances N        simulated follower instances over all regions (default 200)\n"
          "  --heartbeat DUR      rewrite every report this often (default 30s)\n"
          "  --duration DUR       stop after this long (default: until SIGINT/SIGTERM)\n"
          "  --once               write every report once and exit\n"
          "  --region-prefix P    region names P-00, P-01, ... (default region)\n"
          "  --instance-prefix P  instance names P-0000, ... (default sim)\n"
          "  --skew [-]DUR        the simulated writers' clocks are this far ahead (or behind)\n"
          "  --quiet              no progress lines on stderr\n"
          "The store URL may also come from REGSYNC_STORE (Postgres passwords: PGPASSWORD).\n",
          f);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Composes instance in's report for this HEAD (h NULL: nothing published yet). */
static int compose(sim_instance *in, const rs_head *h, const char *store_url, int64_t hb_ms, int64_t started_ms,
                   int64_t skew_ms, rs_error *err)
{
    rs_region_report r;
    memset(&r, 0, sizeof r);
    char agent[128];
    snprintf(agent, sizeof agent, "fleet-sim/%d regsync-fleet-sim", (int)getpid());
    r.region = in->region;
    r.instance = in->instance;
    r.format = 2;
    r.follows = true;
    r.state = h ? "following" : "waiting";
    r.agent = agent;
    r.log_store = (char *)store_url;
    r.heartbeat_interval_ms = hb_ms;
    r.started_at_ms = started_ms + skew_ms;
    r.written_at_ms = rs_wall_ms() + skew_ms;
    if (h) {
        r.applied_version = h->version;
        r.head_version = h->version;
        r.has_applied_digest = r.has_written_digest = r.has_target_digest = true;
        memcpy(r.applied_digest, h->digest, RS_DIGEST_LEN);
        memcpy(r.written_digest, h->digest, RS_DIGEST_LEN);
        memcpy(r.target_digest, h->digest, RS_DIGEST_LEN);
        r.has_applied_content_digest = true;
        memcpy(r.applied_content_digest, h->content_digest, RS_DIGEST_LEN);
        r.applied_at_ms = r.written_at_ms;
        r.published_at_ms = h->updated_ms;
    }
    r.recent = in->recent;
    r.n_recent = in->n_recent;
    uint8_t *body = NULL;
    size_t len = 0;
    int rc = rs_region_report_encode(&r, &body, &len, err);
    if (rc)
        return rc;
    free(in->body);
    in->body = body;
    in->len = len;
    return RS_OK;
}

int main(int argc, char **argv)
{
    const char *store = getenv("REGSYNC_STORE"), *rprefix = "region", *iprefix = "sim";
    long n_regions = 10, n_inst = 200;
    int64_t hb_ms = 30000, duration_ms = -1, skew_ms = 0;
    bool once = false, quiet = false;
    enum { O_STORE = 1, O_REGIONS, O_INSTANCES, O_HB, O_DURATION, O_ONCE, O_RPREFIX, O_IPREFIX, O_SKEW, O_QUIET, O_HELP };
    static const struct option opts[] = {{"store", required_argument, NULL, O_STORE},
                                         {"regions", required_argument, NULL, O_REGIONS},
                                         {"instances", required_argument, NULL, O_INSTANCES},
                                         {"heartbeat", required_argument, NULL, O_HB},
                                         {"duration", required_argument, NULL, O_DURATION},
                                         {"once", no_argument, NULL, O_ONCE},
                                         {"region-prefix", required_argument, NULL, O_RPREFIX},
                                         {"instance-prefix", required_argument, NULL, O_IPREFIX},
                                         {"skew", required_argument, NULL, O_SKEW},
                                         {"quiet", no_argument, NULL, O_QUIET},
                                         {"help", no_argument, NULL, O_HELP},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_STORE: store = optarg; break;
        case O_REGIONS: n_regions = strtol(optarg, NULL, 10); break;
        case O_INSTANCES: n_inst = strtol(optarg, NULL, 10); break;
        case O_HB:
            if (rs_duration_parse_ms(optarg, &hb_ms) || hb_ms < 100) {
                fprintf(stderr, "regsync-fleet-sim: --heartbeat %s: a duration of 100ms or more\n", optarg);
                return 2;
            }
            break;
        case O_DURATION:
            if (rs_duration_parse_ms(optarg, &duration_ms)) {
                fprintf(stderr, "regsync-fleet-sim: --duration %s: not a duration\n", optarg);
                return 2;
            }
            break;
        case O_ONCE: once = true; break;
        case O_RPREFIX: rprefix = optarg; break;
        case O_IPREFIX: iprefix = optarg; break;
        case O_SKEW: {
            bool neg = optarg[0] == '-';
            if (rs_duration_parse_ms(optarg + (neg ? 1 : 0), &skew_ms)) {
                fprintf(stderr, "regsync-fleet-sim: --skew %s: not a duration\n", optarg);
                return 2;
            }
            if (neg)
                skew_ms = -skew_ms;
            break;
        }
        case O_QUIET: quiet = true; break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!store || !*store || optind != argc || n_regions < 1 || n_regions > 100 || n_inst < 1 || n_inst > 100000) {
        usage(stderr);
        return 2;
    }
    rs_log_configure(RS_LOG_WARN, false, 2);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    int ret = 1;
    rs_error e = {0};
    rs_storage *s = NULL;
    sim_instance *in = calloc((size_t)n_inst, sizeof *in);
    size_t cap_rounds = 1024, n_rounds = 0;
    int64_t *round_ms = malloc(cap_rounds * sizeof *round_ms);
    rs_head h;
    memset(&h, 0, sizeof h);
    bool has_head = false, composed = false;
    char head_etag[RS_ETAG_MAX] = "";
    uint64_t puts = 0;
    if (!in || !round_ms) {
        fprintf(stderr, "regsync-fleet-sim: out of memory\n");
        goto done;
    }
    if (rs_storage_open(store, NULL, &s, &e)) {
        fprintf(stderr, "regsync-fleet-sim: %s\n", e.msg);
        goto done;
    }
    for (long i = 0; i < n_inst; i++) {
        snprintf(in[i].region, sizeof in[i].region, "%s-%02ld", rprefix, i % n_regions);
        snprintf(in[i].instance, sizeof in[i].instance, "%s-%04ld", iprefix, i);
        rs_log_instance_key(in[i].region, in[i].instance, in[i].key, sizeof in[i].key);
    }
    int64_t started = rs_wall_ms(), t0 = rs_mono_ms(), last_print = t0;
    int failures = 0;
    while (!g_stop) {
        int64_t r0 = rs_mono_ms();
        /* HEAD moved: every instance "applies" it now (a new body); else the same bytes again */
        rs_head nh;
        char etag[RS_ETAG_MAX] = "";
        int rc = rs_log_read_head(s, head_etag[0] ? head_etag : NULL, &nh, etag, &e);
        bool changed = !composed;
        if (rc == RS_OK) {
            rs_head_clear(&h);
            h = nh;
            has_head = true;
            snprintf(head_etag, sizeof head_etag, "%s", etag);
            changed = true;
        } else if (rc != RS_ENOTMODIFIED && rc != RS_ENOTFOUND) {
            fprintf(stderr, "regsync-fleet-sim: reading HEAD: %s\n", e.msg);
            if (++failures > 5)
                goto done;
        }
        if (changed) {
            int64_t now = rs_wall_ms() + skew_ms;
            for (long i = 0; i < n_inst; i++) {
                if (has_head && (!in[i].n_recent || in[i].recent[in[i].n_recent - 1].version != h.version)) {
                    if (in[i].n_recent == MAX_RECENT) {
                        memmove(in[i].recent, in[i].recent + 1, (MAX_RECENT - 1) * sizeof *in[i].recent);
                        in[i].n_recent--;
                    }
                    in[i].recent[in[i].n_recent++] = (rs_applied_at){h.version, now};
                }
                if (compose(&in[i], has_head ? &h : NULL, rs_storage_url(s), hb_ms, started, skew_ms, &e)) {
                    fprintf(stderr, "regsync-fleet-sim: %s\n", e.msg);
                    goto done;
                }
            }
            composed = true;
        }
        for (long i = 0; i < n_inst && !g_stop; i++) {
            if (rs_storage_put(s, in[i].key, in[i].body, in[i].len, RS_PUT_ALWAYS, NULL, NULL, &e)) {
                fprintf(stderr, "regsync-fleet-sim: writing %s: %s\n", in[i].key, e.msg);
                if (++failures > 5)
                    goto done;
                continue;
            }
            puts++;
        }
        int64_t took = rs_mono_ms() - r0;
        if (n_rounds == cap_rounds) {
            int64_t *nr = realloc(round_ms, 2 * cap_rounds * sizeof *nr);
            if (!nr)
                goto done;
            round_ms = nr;
            cap_rounds *= 2;
        }
        round_ms[n_rounds++] = took;
        int64_t now = rs_mono_ms();
        if (!quiet && now - last_print >= 1000) {
            fprintf(stderr, "regsync-fleet-sim: round %zu: %ld reports in %" PRId64 " ms (HEAD %" PRIu64 ")\n", n_rounds,
                    n_inst, took, has_head ? h.version : 0);
            last_print = now;
        }
        if (once || (duration_ms >= 0 && now - t0 >= duration_ms))
            break;
        /* the next round one heartbeat after this one started */
        while (!g_stop && rs_mono_ms() - r0 < hb_ms && (duration_ms < 0 || rs_mono_ms() - t0 < duration_ms)) {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (duration_ms >= 0 && rs_mono_ms() - t0 >= duration_ms)
            break;
    }
    rs_storage_stats st;
    rs_storage_get_stats(s, &st);
    qsort(round_ms, n_rounds, sizeof *round_ms, cmp_i64);
    printf("rounds %zu puts %" PRIu64 " requests %" PRIu64 " bytes_out %" PRIu64 " round_ms_p50 %" PRId64
           " round_ms_max %" PRId64 "\n",
           n_rounds, puts, st.requests, st.bytes_out, n_rounds ? round_ms[n_rounds / 2] : 0,
           n_rounds ? round_ms[n_rounds - 1] : 0);
    ret = 0;
done:
    if (in)
        for (long i = 0; i < n_inst; i++)
            free(in[i].body);
    free(in);
    free(round_ms);
    rs_head_clear(&h);
    rs_storage_close(s);
    return ret;
}
