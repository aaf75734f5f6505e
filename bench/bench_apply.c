/* bench_apply: what one agent costs to apply a small change to a large registry on file://, in
 * fresh processes (a forked child would inherit the parent's peak): peak RSS (VmHWM) and the wall
 * time of rs_agent_sync_once, for a new region (bootstrap from the snapshot) and for the same
 * region restarted after a K-object change (rs_mutate) was published: the apply, target write
 * (temp file, fsync, rename, directory fsync) and journal included. Prints the ratio to issue
 * 13's target (peak <= 1.5 x registry + 10 MB). Never fails on a timing.
 *
 *   bench_apply [--changes K] [--keep] REGISTRY...
 *
 * Build it from an older tree with the same source to compare before and after in one run
 * (docs/benchmarks.md). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rs_agent.h"
#include "rs_buf.h"
#include "rs_generate.h"
#include "rs_log.h"
#include "rs_publisher.h"
#include "rs_registry.h"
#include "rs_storage.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long status_kb(const char *field)
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

/* the child: open one agent, sync once; prints "peak_kb start_kb open_ms sync_ms" */
static int child_main(const char *url, const char *dir)
{
    rs_log_configure(RS_LOG_ERROR, false, 2);
    long kb0 = status_kb("VmHWM");
    char state[1100], target[1100];
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(target, sizeof target, "%s/registry.db", dir);
    mkdir(dir, 0755);
    mkdir(state, 0755);
    rs_agent_config cfg = {.region = "bench-apply", .store_url = url, .target = target, .state_dir = state};
    rs_agent *a;
    rs_error err = {0};
    double t0 = now_ms();
    if (rs_agent_open(&cfg, &a, &err)) {
        fprintf(stderr, "bench_apply child: %s\n", err.msg);
        return 1;
    }
    double t1 = now_ms();
    if (rs_agent_sync_once(a, &err)) {
        fprintf(stderr, "bench_apply child: %s\n", err.msg);
        return 1;
    }
    double t2 = now_ms();
    printf("%ld %ld %.1f %.1f\n", status_kb("VmHWM"), kb0, t1 - t0, t2 - t1);
    rs_agent_close(a);
    return 0;
}

typedef struct run {
    long peak_kb, start_kb;
    double open_ms, sync_ms;
} run;

static int child(const char *url, const char *dir, run *r)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/proc/%d/exe --child '%s' '%s'", (int)getpid(), url, dir);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    int n = fscanf(f, "%ld %ld %lf %lf", &r->peak_kb, &r->start_kb, &r->open_ms, &r->sync_ms);
    return pclose(f) == 0 && n == 4 ? 0 : -1;
}

static int publish(rs_publisher *p, const uint8_t *b, size_t n)
{
    rs_registry *r = NULL;
    rs_error err = {0};
    rs_publish_result res;
    int rc = rs_registry_decode(b, n, NULL, &r, &err);
    if (!rc)
        rc = rs_publisher_publish_registry(p, r, "bench", &res, &err);
    rs_registry_free(r);
    if (rc)
        fprintf(stderr, "bench_apply: publish: %s\n", err.msg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2], argv[3]);
    unsigned changes = 10;
    bool keep = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--changes") && i + 1 < argc)
            changes = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--keep"))
            keep = true;
        else {
            fprintf(stderr, "usage: bench_apply [--changes K] [--keep] REGISTRY...\n");
            return 2;
        }
    }
    if (i == argc) {
        fprintf(stderr, "usage: bench_apply [--changes K] [--keep] REGISTRY...\n");
        return 2;
    }
    rs_log_configure(RS_LOG_ERROR, false, 2);
    printf("%-28s %8s %-10s %9s %9s %9s %14s\n", "registry", "MiB", "case", "peak_MiB", "x_reg", "sync_ms", "target");
    for (; i < argc; i++) {
        uint8_t *b = NULL, *m = NULL;
        size_t n = 0, mn = 0;
        rs_error err = {0};
        if (rs_read_file(argv[i], 0, &b, &n, &err)) {
            fprintf(stderr, "bench_apply: %s\n", err.msg);
            return 2;
        }
        char work[] = "/tmp/bench-apply.XXXXXX";
        if (!mkdtemp(work))
            return 2;
        char url[600], dir[600];
        snprintf(url, sizeof url, "file://%s/store", work);
        snprintf(dir, sizeof dir, "%s/region", work);
        rs_storage *s = NULL;
        rs_publisher *p = NULL;
        rs_publisher_opts po = {.publisher_id = "bench-apply"};
        if (rs_storage_open(url, NULL, &s, &err) || rs_publisher_open(s, NULL, NULL, &po, &p, &err)) {
            fprintf(stderr, "bench_apply: %s\n", err.msg);
            return 2;
        }
        run boot = {0}, apply = {0};
        int rc = publish(p, b, n);
        if (!rc)
            rc = child(url, dir, &boot);
        rs_mutation_summary sum;
        if (!rc)
            rc = rs_mutate(b, n, 42, changes, &m, &mn, &sum, &err);
        if (!rc)
            rc = publish(p, m, mn);
        if (!rc)
            rc = child(url, dir, &apply);
        double mib = (double)n / 1048576, lim = 1.5 * mib + 10;
        const char *name = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
        if (rc) {
            printf("%-28s %8.1f failed\n", name, mib);
        } else {
            const run *rr[2] = {&boot, &apply};
            const char *what[2] = {"bootstrap", "apply"};
            for (int k = 0; k < 2; k++) {
                double pk = (double)rr[k]->peak_kb / 1024;
                char t[40];
                snprintf(t, sizeof t, "%s (<=%.0f)", pk <= lim ? "met" : "not met", lim);
                printf("%-28s %8.1f %-10s %9.1f %9.2f %9.0f %14s\n", name, mib, what[k], pk, pk / mib, rr[k]->sync_ms, t);
            }
            printf("%-28s %8s %-10s (%u changes: %u created, %u updated, %u meta-only, %u deleted; process before the agent %.1f MiB)\n",
                   "", "", "", changes, sum.created, sum.updated, sum.meta_only, sum.deleted, (double)apply.start_kb / 1024);
        }
        fflush(stdout);
        rs_publisher_close(p);
        rs_storage_close(s);
        free(b);
        free(m);
        if (!keep) {
            char cmd[700];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
            if (system(cmd) != 0)
                fprintf(stderr, "bench_apply: could not remove %s\n", work);
        }
    }
    return 0;
}
