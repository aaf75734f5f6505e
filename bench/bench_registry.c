/* bench_registry: times the registry core on generated registries of 1, 10 and 100 MB (or the
 * sizes given) and prints each figure beside its baseline: protobuf-c's own unpack and pack of
 * the same bytes, and `protoc --decode` for the JSON dump. Prints; never fails on a timing.
 *
 *   bench_registry [--sizes 1,10,100] [--reps N] [--no-protoc] [--real IN,IN... | --no-real]
 *
 * Each size runs on two corpora: generated (rs_generate) and real-shaped (rs_inflate: copies of
 * the real registries IN, by default the two fixtures docs/benchmarks.md names, when present).
 */
#include "rs_bench_support.h"
#include "rs_buf.h"
#include "rs_change.h"
#include "rs_diff.h"
#include "rs_generate.h"
#include "rs_json.h"
#include "rs_registry.h"
#include "rs_registry_json.h"
#include "rs_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static double now_s(void) { return (double)rs_mono_ns() / 1e9; }

static double best_of(int reps, double (*fn)(void *), void *arg)
{
    double best = 1e99;
    for (int i = 0; i < reps; i++) {
        double t = fn(arg);
        if (t < best)
            best = t;
    }
    return best;
}

typedef struct ctx {
    uint8_t *a, *b; /* version A and B (10 objects changed) */
    size_t al, bl;
    rs_registry *ra, *rb;
    rs_change *ch;
    const char *path_a;
} ctx;

static double t_raw_unpack(void *x)
{
    ctx *c = x;
    double t = now_s();
    void *m = rs_raw_unpack(c->a, c->al);
    t = now_s() - t;
    rs_raw_free(m);
    return t;
}

static double t_raw_pack(void *x)
{
    ctx *c = x;
    void *m = rs_raw_unpack(c->a, c->al);
    uint8_t *o;
    double t = now_s();
    rs_raw_pack(m, &o);
    t = now_s() - t;
    free(o);
    rs_raw_free(m);
    return t;
}

static double t_decode_digest(void *x)
{
    ctx *c = x;
    rs_registry *r;
    uint8_t d[32];
    double t = now_s();
    if (rs_registry_decode(c->a, c->al, NULL, &r, NULL))
        return -1;
    rs_registry_digest(r, d);
    t = now_s() - t;
    rs_registry_free(r);
    return t;
}

static double t_full_digest(void *x)
{
    ctx *c = x;
    uint8_t d[32];
    double t = now_s();
    rs_registry_full_rehash(c->ra, d);
    return now_s() - t;
}

static double t_encode(void *x)
{
    ctx *c = x;
    uint8_t *o;
    size_t l;
    double t = now_s();
    rs_registry_encode(c->ra, &o, &l, NULL);
    t = now_s() - t;
    free(o);
    return t;
}

static double t_diff(void *x)
{
    ctx *c = x;
    rs_diff *d;
    double t = now_s();
    rs_diff_compute(c->ra, c->rb, RS_DIFF_PROPS, &d, NULL);
    t = now_s() - t;
    rs_diff_free(d);
    return t;
}

static double apply_update_s;

static double t_apply(void *x)
{
    ctx *c = x;
    rs_registry *r = rs_registry_clone(c->ra);
    uint8_t d[32];
    rs_registry_digest(r, d); /* clean cache first */
    double t = now_s();
    rs_change_apply(r, c->ch, RS_APPLY_CHECK_PARENT, NULL);
    double t1 = now_s();
    rs_registry_digest(r, d);
    double t2 = now_s();
    apply_update_s = t2 - t1;
    rs_registry_free(r);
    return t1 - t;
}

static double t_digest_update(void *x)
{
    t_apply(x);
    return apply_update_s;
}

static double t_json(void *x)
{
    ctx *c = x;
    FILE *f = fopen("/dev/null", "w");
    double t = now_s();
    rs_registry *r;
    rs_registry_decode(c->a, c->al, NULL, &r, NULL);
    rs_registry_write_dump_json(r, NULL, f, NULL); /* streamed, as regsync-dump json */
    t = now_s() - t;
    rs_registry_free(r);
    fclose(f);
    return t;
}

static double t_protoc(void *x)
{
    ctx *c = x;
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "protoc -I%s/proto --decode=feast.core.Registry feast/core/Registry.proto < %s > /dev/null 2>&1",
             RS_SOURCE_DIR_BENCH, c->path_a);
    double t = now_s();
    int rc = system(cmd);
    t = now_s() - t;
    return rc == 0 ? t : -1;
}

/* peak RSS (KiB) of a child that only loads, decodes and digests */
/* peak RSS (KiB) of a fresh process that only loads, decodes and digests: it reports its own
 * VmHWM (a forked or vforked child's ru_maxrss would include this process's pages) */
static long child_rss_decode(const char *path)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "/proc/%d/exe --rss-child '%s'", (int)getpid(), path);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    long kb = -1;
    if (fscanf(f, "%ld", &kb) != 1)
        kb = -1;
    pclose(f);
    return kb;
}

static long self_hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static void row(const char *what, double ours, const char *base_name, double base)
{
    if (base > 0)
        printf("  %-34s %9.1f ms   %-26s %9.1f ms   ratio %6.2fx\n", what, ours * 1e3, base_name, base * 1e3, ours / base);
    else
        printf("  %-34s %9.1f ms\n", what, ours * 1e3);
}

int main(int argc, char **argv)
{
    size_t sizes[8] = {1, 10, 100};
    size_t nsizes = 3;
    int reps = 3;
    bool protoc = system("protoc --version >/dev/null 2>&1") == 0;
    if (argc == 3 && strcmp(argv[1], "--rss-child") == 0) {
        rs_registry *r;
        if (rs_registry_load_file(argv[2], NULL, &r, NULL))
            return 1;
        uint8_t d[32];
        rs_registry_digest(r, d);
        printf("%ld\n", self_hwm_kb());
        rs_registry_free(r);
        return 0;
    }
    char *real_list = NULL;
    bool real = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--real") == 0 && i + 1 < argc) {
            real_list = argv[++i];
        } else if (strcmp(argv[i], "--no-real") == 0) {
            real = false;
        } else if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc) {
            nsizes = 0;
            for (char *s = strtok(argv[++i], ","); s && nsizes < 8; s = strtok(NULL, ","))
                sizes[nsizes++] = (size_t)atol(s);
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--no-protoc") == 0) {
            protoc = false;
        } else {
            fprintf(stderr, "usage: bench_registry [--sizes 1,10,100] [--reps N] [--no-protoc] [--real IN,IN... | --no-real]\n");
            return 2;
        }
    }
    printf("bench_registry: best of %d runs; baselines: protobuf-c unpack/pack of the same bytes, protoc --decode\n", reps);
    /* the real registries copied into the real-shaped corpus */
    uint8_t *rin[8];
    size_t rlen[8], nreal = 0;
    char defaults[4096];
    if (real && !real_list) {
        const char *fx = RS_SOURCE_DIR_BENCH "/../shared/fixtures/registries";
        snprintf(defaults, sizeof defaults, "%s/Instawork__feast__data_registry.db,%s/feast-dev__feast__ui_public_registry.db", fx, fx);
        real_list = defaults;
    }
    for (char *t = real ? strtok(real_list, ",") : NULL; t && nreal < 8; t = strtok(NULL, ","))
        if (rs_read_file(t, 0, &rin[nreal], &rlen[nreal], NULL) == RS_OK)
            nreal++;
        else
            printf("real-shaped corpus: %s not readable, skipped\n", t);
    for (size_t s = 0; s < 2 * nsizes; s++) {
        bool is_real = s % 2 == 1;
        if (is_real && !nreal)
            continue;
        ctx c = {0};
        rs_gen_params p;
        rs_gen_defaults(&p);
        p.seed = 42;
        p.target_bytes = sizes[s / 2] << 20;
        double tg = now_s();
        if (is_real ? rs_inflate((const uint8_t *const *)rin, rlen, nreal, p.target_bytes, &c.a, &c.al, NULL, NULL)
                    : rs_generate(&p, &c.a, &c.al, NULL))
            return 1;
        tg = now_s() - tg;
        if (rs_mutate(c.a, c.al, 43, 10, &c.b, &c.bl, NULL, NULL))
            return 1;
        if (rs_registry_decode(c.a, c.al, NULL, &c.ra, NULL) || rs_registry_decode(c.b, c.bl, NULL, &c.rb, NULL))
            return 1;
        if (rs_change_between(c.ra, c.rb, &c.ch, NULL))
            return 1;
        char path[] = "/tmp/bench-registry-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0 || write(fd, c.a, c.al) != (ssize_t)c.al)
            return 1;
        close(fd);
        c.path_a = path;
        size_t ops = c.ch->n_ops, moved = 0;
        for (size_t i = 0; i < c.ch->n_ops; i++)
            moved += c.ch->ops[i].len;
        printf("\n%zu MB %s registry: %zu bytes, %zu objects (built in %.0f ms); change: %zu ops, %zu object bytes (%.4f%% of the registry)\n",
               sizes[s / 2], is_real ? "real-shaped" : "generated", c.al, rs_registry_count(c.ra), tg * 1e3, ops, moved, 100.0 * (double)moved / (double)c.al);
        {
            /* the order information in the log entry (Operation.position, Change.moves) */
            uint8_t *w;
            size_t with = 0, without = 0, nm = c.ch->n_moves;
            uint32_t *pos = calloc(c.ch->n_ops + 1, sizeof *pos);
            if (pos && rs_change_encode(c.ch, &w, &with, NULL) == RS_OK) {
                free(w);
                for (size_t i = 0; i < c.ch->n_ops; i++) {
                    pos[i] = c.ch->ops[i].position;
                    c.ch->ops[i].position = 0;
                }
                c.ch->n_moves = 0;
                if (rs_change_encode(c.ch, &w, &without, NULL) == RS_OK)
                    free(w);
                for (size_t i = 0; i < c.ch->n_ops; i++)
                    c.ch->ops[i].position = pos[i];
                c.ch->n_moves = nm;
                printf("  log entry of the change: %zu bytes; without the order information %zu bytes (+%zu bytes, "
                       "+%.2f%%)\n",
                       with, without, with - without, without ? 100.0 * (double)(with - without) / (double)without : 0.0);
            }
            free(pos);
        }
        double raw_unpack = best_of(reps, t_raw_unpack, &c);
        double raw_pack = best_of(reps, t_raw_pack, &c);
        double dd = best_of(reps, t_decode_digest, &c);
        double full = best_of(reps, t_full_digest, &c);
        double enc = best_of(reps, t_encode, &c);
        double diff = best_of(reps, t_diff, &c);
        double apply = best_of(reps, t_apply, &c);
        double upd = best_of(reps, t_digest_update, &c);
        double js = best_of(reps > 2 ? 2 : reps, t_json, &c);
        double pc = protoc ? best_of(1, t_protoc, &c) : -1;
        row("decode + digest", dd, "protobuf-c unpack", raw_unpack);
        row("full digest (rehash every object)", full, "protobuf-c unpack", raw_unpack);
        row("encode", enc, "protobuf-c pack", raw_pack);
        row("diff (10 changed objects, props)", diff, "protobuf-c unpack", raw_unpack);
        row("apply (10 changed objects)", apply, "protobuf-c unpack", raw_unpack);
        row("digest update after the change", upd, "full digest", full);
        row("JSON dump (decode + registry-dump)", js, protoc ? "protoc --decode" : "(protoc absent)", pc);
        long rss = child_rss_decode(path);
        printf("  %-34s %9.1f MB   registry %.1f MB   ratio %6.2fx\n", "peak RSS (load + decode + digest)",
               (double)rss / 1024.0, (double)c.al / 1048576.0, (double)rss * 1024.0 / (double)c.al);
        unlink(path);
        rs_change_free(c.ch);
        rs_registry_free(c.ra);
        rs_registry_free(c.rb);
        free(c.a);
        free(c.b);
    }
    for (size_t i = 0; i < nreal; i++)
        free(rin[i]);
    return 0;
}
