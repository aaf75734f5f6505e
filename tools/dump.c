/* regsync-dump: prints registries, digests, diffs, and on live systems HEAD, log entries, region
 * reports (the drift table) and the journal (dump_live.c).
 * Exit codes: 0 ok / same, 1 different (diff), 2 error. */
#include "dump.h"
#include "rs_buf.h"
#include "rs_diff.h"
#include "rs_feast_plan.h"
#include "rs_json.h"
#include "rs_log.h"
#include "rs_registry_json.h"
#include "rs_storage.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char USAGE[] =
    "usage: regsync-dump COMMAND [options] ARGS\n"
    "\n"
    "Registries (REGISTRY is a path, file:///path, s3://bucket/key, or postgresql://... / mysql://... for a Feast\n"
    "SQL registry):\n"
    "  json [--full] [--project P] [--kind K] [--name N] REGISTRY\n"
    "        JSON shaped like `feast registry-dump` (an array of per-project dicts; one dict with --project);\n"
    "        --full: the whole Registry message as proto3 JSON, unknown fields by number.\n"
    "        K is a Registry field name (entities, feature_views, data_sources, ...).\n"
    "  summary REGISTRY      objects per kind and project: counts, bytes, sub-digests\n"
    "  digest [--content] REGISTRY   the 64-hex-digit digest (--content: without version_id, last_updated,\n"
    "                        registry_schema_version)\n"
    "  canon REGISTRY        the canonical encoding (a valid registry.db) to stdout\n"
    "  diff [--json] [--all] A B\n"
    "        Feast-plan-style differences (or JSON); --all also shows meta and registry-level changes.\n"
    "        Exit 0 = same, 1 = different, 2 = error.\n"
    "  diff --format feast [--project P] A B\n"
    "        exactly the registry part of what `feast plan` prints for project P (the only project when\n"
    "        there is one): data sources and the __dummy entity left out, Feast's property names and values.\n"
    "\n"
    "Storage (URL is file:///dir, s3://bucket/prefix?..., postgresql://..., mysql://...):\n"
    "  cat URL               raw bytes of one object to stdout\n"
    "  ls URL                keys, sizes and ETags under a store URL\n"
    "\n"
    "Live systems (STORE_URL is the global store regsync publishes to):\n"
    "  head STORE_URL        regsync/HEAD as JSON: version, digests, oldest, snapshots, publisher, updated,\n"
    "                        and log_version (the newest entry in the log; above version when HEAD lags)\n"
    "  log [--json] [--all] STORE_URL VERSION\n"
    "        one log entry: header and the plan of its change (--all: meta and registry-level too);\n"
    "        --json: the entry with its operations (type, kind, project, name, bytes, hash) and digests\n"
    "  regions [--json] [--stale-after DURATION] STORE_URL\n"
    "        the fleet as a tree: each region (its state over its live instances, e.g. paused 1/3), then\n"
    "        each instance: STATE APPLIED BEHIND LAG HEARTBEAT REASON; publish-only agents apart.\n"
    "        States in_sync, behind, modified, diverged, paused, stale (stale after 2m unless set; ages\n"
    "        from the store's clock). Exit 0 = every region in sync, 1 = some region is not, 2 = error.\n"
    "  regions [--json] --pair A B STORE_URL\n"
    "        the object-level differences between two copies at their versions (A, B: region/instance,\n"
    "        or a region: its most recently written instance); filtered projects and kept regional meta\n"
    "        are expected. Exit 1 when anything unexpected differs.\n"
    "  control [--json] STORE_URL [REGION]\n"
    "        region-wide control records (regsync/control/<region>): pause and pin in force, by whom, when\n"
    "  control --set REGION ACTION [VERSION] --by NAME STORE_URL\n"
    "        sets one: ACTION is pause, resume, pin VERSION, unpin or rollback VERSION; every instance of\n"
    "        the region obeys it within one poll (compare-and-swap; nothing else is changed)\n"
    "  journal [--json] [--limit N] STATE_DIR\n"
    "        applied versions from an agent's journal (read-only), newest first (default 50)\n"
    "  diff [--json] [--all] --versions A B STORE_URL\n"
    "        rebuilds versions A and B from the log and prints their differences; exit codes as diff.\n"
    "\n"
    "Any command exits 2 with a one-line error on stderr naming the input and the reason.\n";

static int usage_error(const char *msg)
{
    fprintf(stderr, "regsync-dump: %s\n%s", msg, USAGE);
    return DUMP_ERROR;
}

static int print_json(json_t *j)
{
    int rc = rs_json_dump_file(j, stdout);
    fputc('\n', stdout);
    json_decref(j);
    if (fflush(stdout) != 0 || rc)
        return DUMP_ERROR;
    return DUMP_OK;
}

/* ------------------------------------------------------------------ json */

static int cmd_json(int argc, char **argv)
{
    static const struct option opts[] = {{"full", no_argument, 0, 'f'},
                                         {"project", required_argument, 0, 'p'},
                                         {"kind", required_argument, 0, 'k'},
                                         {"name", required_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    bool full = false;
    rs_dump_filter f = {0};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'f': full = true; break;
        case 'p': f.project = optarg; break;
        case 'k':
            f.kind = rs_kind_from_name(optarg);
            if (!f.kind) {
                fprintf(stderr, "regsync-dump: --kind %s: not a Registry field (entities, feature_views, data_sources, "
                                "feature_services, on_demand_feature_views, stream_feature_views, label_views, "
                                "saved_datasets, permissions, projects, project_metadata, infra, ...)\n",
                        optarg);
                return DUMP_ERROR;
            }
            break;
        case 'h': fputs(USAGE, stdout); return DUMP_OK;
        default: return usage_error("json: bad option");
        }
    }
    if (optind != argc - 1)
        return usage_error("json: expected one REGISTRY");
    const char *src = argv[optind];
    rs_registry *r;
    rs_error err = {0};
    if (dump_load_registry(src, &r, &err))
        return dump_fail(src, &err);
    json_t *j;
    if (full) {
        rs_registry *view = r;
        if (f.project || f.kind || f.name) {
            /* keep only the matching objects, then print them as a Registry */
            view = rs_registry_new();
            for (size_t i = 0; view && i < rs_registry_count(r); i++) {
                const rs_object *o = rs_registry_at(r, i);
                if ((f.project && strcmp(o->project, f.project) != 0) || (f.kind && o->kind != f.kind) ||
                    (f.name && strcmp(o->name, f.name) != 0))
                    continue;
                if (rs_registry_put(view, o->kind, o->project, o->name, o->ordinal, o->data, o->len, &err))
                    break;
            }
        }
        j = err.code ? NULL : rs_registry_to_json_full(view, &err);
        if (view != r)
            rs_registry_free(view);
    } else {
        j = rs_registry_dump_json(r, &f, &err);
    }
    rs_registry_free(r);
    if (!j)
        return dump_fail(src, &err);
    return print_json(j);
}

/* --------------------------------------------------------------- summary */

typedef struct cell {
    uint32_t kind;
    const char *project;
    size_t count, bytes;
} cell;

static int cmd_summary(int argc, char **argv)
{
    if (argc != 2)
        return usage_error("summary: expected one REGISTRY");
    const char *src = argv[1];
    rs_registry *r;
    rs_error err = {0};
    if (dump_load_registry(src, &r, &err))
        return dump_fail(src, &err);
    size_t n = rs_registry_count(r), nc = 0, total = 0;
    cell *cells = calloc(n ? n : 1, sizeof *cells);
    for (size_t i = 0; i < n; i++) {
        const rs_object *o = rs_registry_at(r, i);
        total += o->len;
        size_t k;
        for (k = 0; k < nc; k++)
            if (cells[k].kind == o->kind && strcmp(cells[k].project, o->project) == 0)
                break;
        if (k == nc) {
            cells[nc].kind = o->kind;
            cells[nc].project = o->project;
            nc++;
        }
        cells[k].count++;
        cells[k].bytes += o->len;
    }
    uint8_t d[RS_DIGEST_LEN];
    char h[2 * RS_DIGEST_LEN + 1];
    rs_registry_digest(r, d);
    rs_hex(d, RS_DIGEST_LEN, h);
    printf("registry: %s\n", src);
    printf("objects: %zu, object bytes: %zu\n", n, total);
    printf("digest:         %s\n", h);
    rs_registry_content_digest(r, d);
    rs_hex(d, RS_DIGEST_LEN, h);
    printf("content digest: %s\n\n", h);
    printf("%-30s %-28s %7s %11s  %s\n", "KIND", "PROJECT", "COUNT", "BYTES", "DIGEST (kind within project)");
    for (size_t k = 0; k < nc; k++) {
        /* sub-digest of this kind within this project */
        rs_registry *sub = rs_registry_new();
        for (size_t i = 0; i < n; i++) {
            const rs_object *o = rs_registry_at(r, i);
            if (o->kind == cells[k].kind && strcmp(o->project, cells[k].project) == 0)
                rs_registry_put(sub, o->kind, o->project, o->name, o->ordinal, o->data, o->len, NULL);
        }
        rs_registry_kind_digest(sub, cells[k].kind, d);
        rs_registry_free(sub);
        rs_hex(d, 8, h);
        char kname[40];
        if (rs_kind_field_name(cells[k].kind))
            snprintf(kname, sizeof kname, "%s", rs_kind_field_name(cells[k].kind));
        else
            snprintf(kname, sizeof kname, "unknown field %u", cells[k].kind);
        printf("%-30s %-28s %7zu %11zu  %s\n", kname, cells[k].project[0] ? cells[k].project : "-", cells[k].count,
               cells[k].bytes, h);
    }
    printf("\n%-30s %s\n", "KIND", "DIGEST");
    uint32_t seen[64] = {0};
    for (size_t k = 0; k < nc; k++) {
        uint32_t kind = cells[k].kind;
        if (kind < 64 && seen[kind]++)
            continue;
        rs_registry_kind_digest(r, kind, d);
        rs_hex(d, RS_DIGEST_LEN, h);
        printf("%-30s %s\n", rs_kind_field_name(kind) ? rs_kind_field_name(kind) : "unknown", h);
    }
    size_t np;
    const char **projects = rs_registry_projects(r, &np);
    if (np)
        printf("\n%-30s %s\n", "PROJECT", "DIGEST");
    for (size_t i = 0; i < np; i++) {
        rs_registry_project_digest(r, projects[i], d);
        rs_hex(d, RS_DIGEST_LEN, h);
        printf("%-30s %s\n", projects[i], h);
    }
    free(projects);
    free(cells);
    rs_registry_free(r);
    return fflush(stdout) ? DUMP_ERROR : DUMP_OK;
}

/* ---------------------------------------------------------- digest, canon */

static int cmd_digest(int argc, char **argv)
{
    bool content = false;
    int i = 1;
    if (i < argc && strcmp(argv[i], "--content") == 0) {
        content = true;
        i++;
    }
    if (i != argc - 1)
        return usage_error("digest: expected one REGISTRY");
    rs_registry *r;
    rs_error err = {0};
    if (dump_load_registry(argv[i], &r, &err))
        return dump_fail(argv[i], &err);
    uint8_t d[RS_DIGEST_LEN];
    char h[2 * RS_DIGEST_LEN + 1];
    if (content)
        rs_registry_content_digest(r, d);
    else
        rs_registry_digest(r, d);
    rs_hex(d, RS_DIGEST_LEN, h);
    puts(h);
    rs_registry_free(r);
    return fflush(stdout) ? DUMP_ERROR : DUMP_OK;
}

static int cmd_canon(int argc, char **argv)
{
    if (argc != 2)
        return usage_error("canon: expected one REGISTRY");
    rs_registry *r;
    rs_error err = {0};
    if (dump_load_registry(argv[1], &r, &err))
        return dump_fail(argv[1], &err);
    uint8_t *b;
    size_t l;
    int rc = rs_registry_canonical(r, &b, &l, &err);
    rs_registry_free(r);
    if (rc)
        return dump_fail(argv[1], &err);
    rc = rs_write_all(1, b, l);
    free(b);
    return rc ? DUMP_ERROR : DUMP_OK;
}

/* ------------------------------------------------------------------ diff */

/* `feast plan`'s registry text for one project (the only project of both registries when
 * none is named). Takes a and b. */
static int diff_feast(rs_registry *a, rs_registry *b, const char *project, const char *const files[2])
{
    rs_error err = {0};
    char *only = NULL;
    int rc = DUMP_ERROR;
    if (!project) {
        rs_registry *u = rs_registry_clone(a);
        for (size_t i = 0; u && i < rs_registry_count(b); i++) {
            const rs_object *o = rs_registry_at(b, i);
            if (o->project[0] && !rs_registry_find(u, o->kind, o->project, o->name, o->ordinal))
                rs_registry_put(u, o->kind, o->project, o->name, o->ordinal, o->data, o->len, NULL);
        }
        size_t np = 0;
        const char **ps = u ? rs_registry_projects(u, &np) : NULL;
        if (np == 1)
            only = strdup(ps[0]);
        else {
            fprintf(stderr, "regsync-dump: diff --format feast: %s; name one with --project P\n",
                    np ? "the registries hold several projects" : "the registries hold no project");
            for (size_t i = 0; i < np; i++)
                fprintf(stderr, "  %s\n", ps[i]);
        }
        free(ps);
        rs_registry_free(u);
        if (!only)
            goto out;
        project = only;
    }
    char *text;
    size_t changes;
    if (rs_feast_plan(a, b, project, &text, &changes, &err)) {
        dump_fail(files[1], &err);
        goto out;
    }
    fputs(text, stdout);
    free(text);
    rc = fflush(stdout) ? DUMP_ERROR : changes ? DUMP_DIFFERENT : DUMP_OK;
out:
    free(only);
    rs_registry_free(a);
    rs_registry_free(b);
    return rc;
}

static int cmd_diff(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--versions") == 0)
            return dump_cmd_diff_versions(argc, argv);
    bool as_json = false, all = false, feast = false;
    const char *files[2], *project = NULL;
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = true;
        else if (strcmp(argv[i], "--all") == 0)
            all = true;
        else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            const char *fmt = argv[++i];
            if (strcmp(fmt, "feast") == 0)
                feast = true;
            else if (strcmp(fmt, "json") == 0)
                as_json = true;
            else if (strcmp(fmt, "plan") != 0)
                return usage_error("diff: --format is plan, feast or json");
        } else if (strcmp(argv[i], "--project") == 0 && i + 1 < argc)
            project = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            return usage_error("diff: unknown option");
        else if (nf < 2)
            files[nf++] = argv[i];
        else
            return usage_error("diff: expected two registries A B");
    }
    if (nf != 2)
        return usage_error("diff: expected two registries A B");
    rs_registry *a, *b;
    rs_error err = {0};
    if (dump_load_registry(files[0], &a, &err))
        return dump_fail(files[0], &err);
    if (dump_load_registry(files[1], &b, &err)) {
        rs_registry_free(a);
        return dump_fail(files[1], &err);
    }
    if (feast)
        return diff_feast(a, b, project, files);
    if (project) {
        rs_registry_free(a);
        rs_registry_free(b);
        return usage_error("diff: --project goes with --format feast");
    }
    rs_diff *d;
    int rc = rs_diff_compute(a, b, RS_DIFF_PROPS, &d, &err);
    if (rc) {
        rs_registry_free(a);
        rs_registry_free(b);
        return dump_fail("diff", &err);
    }
    unsigned show = all ? (RS_CLASS_SPEC | RS_CLASS_META | RS_CLASS_REGISTRY) : RS_CLASS_SPEC;
    size_t k = rs_diff_count(d, show);
    rc = as_json ? rs_diff_print_json(d, show, stdout) : rs_diff_print_plan(d, show, stdout);
    rs_diff_free(d);
    rs_registry_free(a);
    rs_registry_free(b);
    if (rc || fflush(stdout))
        return DUMP_ERROR;
    return k ? DUMP_DIFFERENT : DUMP_OK;
}

/* ---------------------------------------------------------------- cat, ls */

static int cmd_cat(int argc, char **argv)
{
    if (argc != 2)
        return usage_error("cat: expected one URL");
    uint8_t *data;
    size_t len;
    rs_error err = {0};
    if (dump_read_source(argv[1], &data, &len, &err))
        return dump_fail(argv[1], &err);
    int rc = rs_write_all(1, data, len);
    free(data);
    return rc ? DUMP_ERROR : DUMP_OK;
}

static int cmd_ls(int argc, char **argv)
{
    if (argc != 2)
        return usage_error("ls: expected one store URL");
    rs_storage *s;
    rs_error err = {0};
    if (rs_storage_open(argv[1], NULL, &s, &err))
        return dump_fail(argv[1], &err);
    rs_list_entry *e;
    size_t n;
    int rc = rs_storage_list(s, "", &e, &n, &err);
    if (rc) {
        rs_storage_close(s);
        return dump_fail(argv[1], &err);
    }
    for (size_t i = 0; i < n; i++)
        printf("%12llu  %-36s  %s\n", (unsigned long long)e[i].size, e[i].etag, e[i].key);
    rs_storage_list_free(e, n);
    rs_storage_close(s);
    return fflush(stdout) ? DUMP_ERROR : DUMP_OK;
}


int main(int argc, char **argv)
{
    /* a CLI: only warnings and errors from the libraries (REGSYNC_LOG_LEVEL=info shows more) */
    const char *lvl = getenv("REGSYNC_LOG_LEVEL");
    int level = lvl ? rs_log_level_parse(lvl) : -1;
    rs_log_configure(level >= 0 ? (rs_log_level)level : RS_LOG_WARN, false, 2);
    if (argc < 2)
        return usage_error("missing COMMAND");
    const char *cmd = argv[1];
    argc--;
    argv++;
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("regsync-dump %s\n", RS_VERSION_STRING);
        return DUMP_OK;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(USAGE, stdout);
        return DUMP_OK;
    }
    if (strcmp(cmd, "json") == 0)
        return cmd_json(argc, argv);
    if (strcmp(cmd, "summary") == 0)
        return cmd_summary(argc, argv);
    if (strcmp(cmd, "digest") == 0)
        return cmd_digest(argc, argv);
    if (strcmp(cmd, "canon") == 0)
        return cmd_canon(argc, argv);
    if (strcmp(cmd, "diff") == 0)
        return cmd_diff(argc, argv);
    if (strcmp(cmd, "cat") == 0)
        return cmd_cat(argc, argv);
    if (strcmp(cmd, "ls") == 0)
        return cmd_ls(argc, argv);
    if (strcmp(cmd, "head") == 0)
        return dump_cmd_head(argc, argv);
    if (strcmp(cmd, "log") == 0)
        return dump_cmd_log(argc, argv);
    if (strcmp(cmd, "regions") == 0)
        return dump_cmd_regions(argc, argv);
    if (strcmp(cmd, "control") == 0)
        return dump_cmd_control(argc, argv);
    if (strcmp(cmd, "journal") == 0)
        return dump_cmd_journal(argc, argv);
    fprintf(stderr, "regsync-dump: unknown command '%s'\n%s", cmd, USAGE);
    return DUMP_ERROR;
}
