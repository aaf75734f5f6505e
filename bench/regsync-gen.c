/* regsync-gen: writes deterministic Feast-shaped registries, mutates and shuffles them.
 * See docs/generator.md. Exit status: 0 done, 2 usage or I/O error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "rs_buf.h"
#include "rs_error.h"
#include "rs_generate.h"

static void usage(FILE *f)
{
    fputs("usage:\n"
          "  regsync-gen [--seed N] [--size SIZE | --projects N ...] [--out FILE]\n"
          "  regsync-gen mutate --seed N --changes K IN OUT\n"
          "  regsync-gen shuffle --seed N IN OUT\n"
          "  regsync-gen inflate --size SIZE --out FILE IN...\n"
          "\n"
          "generate options:\n"
          "  --seed N               PRNG seed (default 1); same options, same bytes\n"
          "  --size SIZE            approximate registry size: 100KB, 10MB, 1GB (KB=1000; KiB=1024)\n"
          "  --projects N           projects (default 3)\n"
          "  --entities N --data-sources N --feature-views N --on-demand-views N\n"
          "  --stream-views N --feature-services N --permissions N\n"
          "                         objects per project (0: default, or scaled with --size)\n"
          "  --features-per-view N  mean features per feature view (default 20)\n"
          "  --tags-per-object N    mean tags per object (default 4)\n"
          "  --udf-bytes SIZE       mean pickled-UDF body size of on-demand views (default 2KiB)\n"
          "  --no-registry-fields   omit registry_schema_version, version_id, last_updated\n"
          "  --out FILE             output file, '-' for stdout (default stdout unless a terminal)\n"
          "mutate: K random object changes (update, meta-only, create, delete), new version_id\n"
          "shuffle: same content, objects and map entries in another order\n"
          "inflate: copies of real registries (each copy's projects renamed <project>_r00000, _r00001, ...)\n"
          "         up to SIZE, objects keeping their shapes: a real-shaped benchmark corpus\n"
          "A one-line summary goes to stderr.\n",
          f);
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno || end == s || *end || *s == '-')
        return -1;
    *v = x;
    return 0;
}

static int parse_uint(const char *s, unsigned *v)
{
    uint64_t x;
    if (parse_u64(s, &x) || x > 0xffffffffu)
        return -1;
    *v = (unsigned)x;
    return 0;
}

/* 1234, 100KB, 1.5MB, 2GiB */
static int parse_size(const char *s, size_t *v)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || x < 0 || *s == '-')
        return -1;
    static const struct {
        const char *suf;
        double mul;
    } S[] = {{"", 1},       {"B", 1},        {"K", 1e3},           {"KB", 1e3},
             {"M", 1e6},    {"MB", 1e6},     {"G", 1e9},           {"GB", 1e9},
             {"KiB", 1024}, {"MiB", 1048576}, {"GiB", 1073741824.0}};
    for (size_t i = 0; i < sizeof S / sizeof S[0]; i++)
        if (!strcasecmp(end, S[i].suf)) {
            double r = x * S[i].mul;
            if (r > 1e15)
                return -1;
            *v = (size_t)(r + 0.5);
            return 0;
        }
    return -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int write_out(const char *path, const uint8_t *p, size_t n)
{
    bool std = !strcmp(path, "-");
    FILE *f = std ? stdout : fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "regsync-gen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t w = n ? fwrite(p, 1, n, f) : 0;
    int rc = std ? fflush(f) : fclose(f);
    if (w != n || rc != 0) {
        fprintf(stderr, "regsync-gen: %s: write failed: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int read_in(const char *path, uint8_t **p, size_t *n)
{
    rs_error e = {0};
    if (rs_read_file(path, 0, p, n, &e)) {
        fprintf(stderr, "regsync-gen: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static int inflate_main(int nin, char **paths, size_t target, const char *out_path)
{
    if (nin < 1 || !target || !out_path) {
        fprintf(stderr, "regsync-gen inflate: needs --size SIZE, --out FILE and at least one IN (see --help)\n");
        return 2;
    }
    uint8_t **in = calloc((size_t)nin, sizeof *in);
    size_t *len = calloc((size_t)nin, sizeof *len);
    int rc = in && len ? 0 : 2;
    for (int i = 0; i < nin && rc == 0; i++)
        if (read_in(paths[i], &in[i], &len[i]))
            rc = 2;
    uint8_t *buf = NULL;
    size_t n = 0;
    rs_inflate_stats st = {0};
    rs_error err = {0};
    double t0 = now_s();
    if (rc == 0 && rs_inflate((const uint8_t *const *)in, len, (size_t)nin, target, &buf, &n, &st, &err)) {
        fprintf(stderr, "regsync-gen inflate: %s\n", err.msg);
        rc = 2;
    }
    for (int i = 0; in && i < nin; i++)
        free(in[i]);
    free(in);
    free(len);
    if (rc == 0 && write_out(out_path, buf, n))
        rc = 2;
    free(buf);
    if (rc == 0)
        fprintf(stderr,
                "regsync-gen inflate: wrote %s: %zu bytes, %u copies x %u projects of %d input(s), %zu objects, "
                "%zu bytes per copy, %.2f s\n",
                out_path, n, st.copies, st.projects_per_copy, nin, st.objects, st.copy_bytes, now_s() - t0);
    return rc;
}

enum { O_SEED = 256, O_SIZE, O_PROJECTS, O_ENTITIES, O_DS, O_FV, O_ODFV, O_SFV, O_FS, O_PERM, O_FPV,
       O_TAGS, O_UDF, O_NOREG, O_OUT, O_CHANGES, O_HELP };

static const struct option OPTS[] = {
    {"seed", required_argument, 0, O_SEED},
    {"size", required_argument, 0, O_SIZE},
    {"projects", required_argument, 0, O_PROJECTS},
    {"entities", required_argument, 0, O_ENTITIES},
    {"data-sources", required_argument, 0, O_DS},
    {"feature-views", required_argument, 0, O_FV},
    {"on-demand-views", required_argument, 0, O_ODFV},
    {"stream-views", required_argument, 0, O_SFV},
    {"feature-services", required_argument, 0, O_FS},
    {"permissions", required_argument, 0, O_PERM},
    {"features-per-view", required_argument, 0, O_FPV},
    {"tags-per-object", required_argument, 0, O_TAGS},
    {"udf-bytes", required_argument, 0, O_UDF},
    {"no-registry-fields", no_argument, 0, O_NOREG},
    {"out", required_argument, 0, O_OUT},
    {"changes", required_argument, 0, O_CHANGES},
    {"help", no_argument, 0, O_HELP},
    {0, 0, 0, 0},
};

static int bad(const char *opt, const char *val)
{
    fprintf(stderr, "regsync-gen: bad value for --%s: '%s' (see --help)\n", opt, val);
    return 2;
}

int main(int argc, char **argv)
{
    enum { GEN, MUTATE, SHUFFLE, INFLATE } mode = GEN;
    if (argc > 1 && !strcmp(argv[1], "mutate"))
        mode = MUTATE;
    else if (argc > 1 && !strcmp(argv[1], "inflate"))
        mode = INFLATE;
    else if (argc > 1 && !strcmp(argv[1], "shuffle"))
        mode = SHUFFLE;
    if (mode != GEN) {
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    rs_gen_params p;
    rs_gen_defaults(&p);
    p.seed = 1;
    const char *out_path = NULL;
    unsigned changes = 0;
    bool have_changes = false;
    int c, li;
    while ((c = getopt_long(argc, argv, "h", OPTS, &li)) != -1) {
        unsigned *u = NULL;
        switch (c) {
        case O_SEED:
            if (parse_u64(optarg, &p.seed))
                return bad("seed", optarg);
            continue;
        case O_SIZE:
            if (parse_size(optarg, &p.target_bytes))
                return bad("size", optarg);
            continue;
        case O_UDF:
            if (parse_size(optarg, &p.udf_bytes))
                return bad("udf-bytes", optarg);
            continue;
        case O_NOREG: p.registry_fields = false; continue;
        case O_OUT: out_path = optarg; continue;
        case O_CHANGES:
            if (parse_uint(optarg, &changes))
                return bad("changes", optarg);
            have_changes = true;
            continue;
        case 'h':
        case O_HELP: usage(stdout); return 0;
        case O_PROJECTS: u = &p.projects; break;
        case O_ENTITIES: u = &p.entities; break;
        case O_DS: u = &p.data_sources; break;
        case O_FV: u = &p.feature_views; break;
        case O_ODFV: u = &p.on_demand_views; break;
        case O_SFV: u = &p.stream_views; break;
        case O_FS: u = &p.feature_services; break;
        case O_PERM: u = &p.permissions; break;
        case O_FPV: u = &p.features_per_view; break;
        case O_TAGS: u = &p.tags_per_object; break;
        default: usage(stderr); return 2;
        }
        if (parse_uint(optarg, u))
            return bad(OPTS[li].name, optarg);
    }
    rs_error err = {0};
    double t0 = now_s();
    uint8_t *buf = NULL;
    size_t len = 0;

    if (mode == GEN) {
        if (optind != argc) {
            fprintf(stderr, "regsync-gen: unexpected argument '%s' (see --help)\n", argv[optind]);
            return 2;
        }
        if (!out_path) {
            if (isatty(STDOUT_FILENO)) {
                fprintf(stderr, "regsync-gen: refusing to write a binary registry to a terminal; use --out FILE\n");
                return 2;
            }
            out_path = "-";
        }
        rs_gen_stats st;
        if (rs_generate_ex(&p, &buf, &len, &st, &err)) {
            fprintf(stderr, "regsync-gen: %s\n", err.msg);
            return 2;
        }
        double t1 = now_s();
        int rc = write_out(out_path, buf, len);
        free(buf);
        if (rc)
            return 2;
        fprintf(stderr,
                "regsync-gen: wrote %s: %zu bytes, seed %" PRIu64 ", %u projects x {entities %u, data_sources %u, "
                "feature_views %u, on_demand_feature_views %u, stream_feature_views %u, feature_services %u, "
                "permissions %u}, %" PRIu64 " features, %" PRIu64 " infra objects, generated in %.2f s\n",
                out_path, len, p.seed, st.projects, st.entities, st.data_sources, st.feature_views,
                st.on_demand_views, st.stream_views, st.feature_services, st.permissions, st.features,
                st.infra_objects, t1 - t0);
        return 0;
    }

    if (mode == INFLATE)
        return inflate_main(argc - optind, argv + optind, p.target_bytes, out_path);

    if (argc - optind != 2) {
        fprintf(stderr, "regsync-gen %s: needs IN and OUT (see --help)\n", mode == MUTATE ? "mutate" : "shuffle");
        return 2;
    }
    if (mode == MUTATE && !have_changes) {
        fprintf(stderr, "regsync-gen mutate: --changes K is required\n");
        return 2;
    }
    const char *in_path = argv[optind], *o_path = argv[optind + 1];
    uint8_t *in = NULL;
    size_t n = 0;
    if (read_in(in_path, &in, &n))
        return 2;
    t0 = now_s();
    rs_mutation_summary sum = {0};
    int rc = mode == MUTATE ? rs_mutate(in, n, p.seed, changes, &buf, &len, &sum, &err)
                            : rs_shuffle(in, n, p.seed, &buf, &len, &err);
    free(in);
    if (rc) {
        fprintf(stderr, "regsync-gen: %s: %s\n", in_path, err.msg);
        return 2;
    }
    double t1 = now_s();
    rc = write_out(o_path, buf, len);
    free(buf);
    if (rc)
        return 2;
    if (mode == MUTATE)
        fprintf(stderr,
                "regsync-gen mutate: %s -> %s: %u changes (created %u, updated %u, meta_only %u, deleted %u), "
                "%zu -> %zu bytes, seed %" PRIu64 ", %.2f s\n",
                in_path, o_path, changes, sum.created, sum.updated, sum.meta_only, sum.deleted, n, len, p.seed, t1 - t0);
    else
        fprintf(stderr, "regsync-gen shuffle: %s -> %s: %zu -> %zu bytes, seed %" PRIu64 ", %.2f s\n", in_path,
                o_path, n, len, p.seed, t1 - t0);
    return 0;
}
