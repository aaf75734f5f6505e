/* dump_live.c: regsync-dump on live systems: HEAD, one log entry, the region drift table, the
 * local journal, and the diff between two versions of the log. Read-only: nothing here writes
 * to a store or a journal. Exit codes as for the rest of the tool: 0 ok / same / all in sync,
 * 1 different / some region not in sync, 2 error (one line on stderr naming the URL or
 * directory and the reason). */
#include "dump.h"
#include "rs_buf.h"
#include "rs_control.h"
#include "rs_diff.h"
#include "rs_drift.h"
#include "rs_fleet.h"
#include "rs_journal.h"
#include "rs_journal_json.h"
#include "rs_json.h"
#include "rs_logproto.h"
#include "rs_storage.h"
#include "rs_time.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int live_usage(const char *msg)
{
    fprintf(stderr, "regsync-dump: %s (regsync-dump --help for usage)\n", msg);
    return DUMP_ERROR;
}

static int emit_json(json_t *j)
{
    if (!j) {
        fprintf(stderr, "regsync-dump: out of memory\n");
        return DUMP_ERROR;
    }
    int rc = rs_json_dump_file(j, stdout);
    fputc('\n', stdout);
    json_decref(j);
    return rc || fflush(stdout) ? DUMP_ERROR : DUMP_OK;
}

/* A positive decimal version. */
static int parse_version(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return -1;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v == 0 || v > INT64_MAX)
        return -1;
    *out = v;
    return 0;
}

static int open_store(const char *url, rs_storage **s)
{
    rs_error err = {0};
    if (rs_storage_open(url, NULL, s, &err))
        return dump_fail(url, &err);
    return DUMP_OK;
}

/* Reads HEAD; with allow_empty a store without a log gives an empty head. */
static int read_head(rs_storage *s, const char *url, bool allow_empty, rs_head *h)
{
    rs_error err = {0};
    int rc = rs_log_read_head(s, NULL, h, NULL, &err);
    if (rc == RS_ENOTFOUND && allow_empty) {
        memset(h, 0, sizeof *h);
        return DUMP_OK;
    }
    if (rc == RS_ENOTFOUND) {
        fprintf(stderr, "regsync-dump: %s: no regsync log here (%s not found)\n", url, RS_KEY_HEAD);
        return DUMP_ERROR;
    }
    if (rc)
        return dump_fail(url, &err);
    return DUMP_OK;
}

static void hex(const uint8_t *d, char out[2 * RS_DIGEST_LEN + 1]) { rs_hex(d, RS_DIGEST_LEN, out); }

static void short_hex(const uint8_t *d, char out[13])
{
    char h[2 * RS_DIGEST_LEN + 1];
    hex(d, h);
    memcpy(out, h, 12);
    out[12] = 0;
}

static const char *kind_name(uint32_t kind, char *buf, size_t n)
{
    const char *k = rs_kind_field_name(kind);
    if (k && *k)
        return k;
    snprintf(buf, n, "field_%u", kind);
    return buf;
}

/* ------------------------------------------------------------------ head */

int dump_cmd_head(int argc, char **argv)
{
    if (argc != 2)
        return live_usage("head: expected one STORE_URL");
    const char *url = argv[1];
    rs_storage *s;
    if (open_store(url, &s))
        return DUMP_ERROR;
    rs_head h;
    char etag[RS_ETAG_MAX] = "";
    rs_error err = {0};
    int rc = rs_log_read_head(s, NULL, &h, etag, &err);
    if (rc == RS_ENOTFOUND) {
        rs_storage_close(s);
        fprintf(stderr, "regsync-dump: %s: no regsync log here (%s not found)\n", url, RS_KEY_HEAD);
        return DUMP_ERROR;
    }
    if (rc) {
        rs_storage_close(s);
        return dump_fail(url, &err);
    }
    json_t *j = rs_drift_head_json(&h);
    json_object_set_new(j, "etag", json_string(etag));
    /* the log is the truth when HEAD lags it (a publisher died between its two writes) */
    rs_change **extra = NULL;
    size_t nextra = 0;
    rs_error pe = {0};
    if (rs_log_probe_beyond(s, h.version, &extra, &nextra, &pe) == RS_OK)
        json_object_set_new(j, "log_version", json_integer((json_int_t)(nextra ? extra[nextra - 1]->version : h.version)));
    else
        json_object_set_new(j, "log_version", json_null());
    rs_changes_free(extra, nextra);
    rs_head_clear(&h);
    rs_storage_close(s);
    return emit_json(j);
}

/* ------------------------------------------------------------------- log */

static json_t *change_json(const rs_change *c)
{
    char h[2 * RS_DIGEST_LEN + 1], kb[32];
    json_t *o = json_object();
    json_object_set_new(o, "version", json_integer((json_int_t)c->version));
    json_object_set_new(o, "published", rs_json_time_ms(c->published_ms));
    json_object_set_new(o, "publisher", json_string(c->publisher ? c->publisher : ""));
    json_object_set_new(o, "source", json_string(c->source ? c->source : ""));
    json_object_set_new(o, "source_etag", json_string(c->source_etag ? c->source_etag : ""));
    hex(c->parent_digest, h);
    json_object_set_new(o, "parent_digest", json_string(h));
    hex(c->result_digest, h);
    json_object_set_new(o, "result_digest", json_string(h));
    hex(c->parent_content_digest, h);
    json_object_set_new(o, "parent_content_digest", json_string(h));
    hex(c->result_content_digest, h);
    json_object_set_new(o, "result_content_digest", json_string(h));
    json_t *ops = json_array();
    size_t puts = 0, dels = 0;
    json_t *by_kind = json_object();
    for (size_t i = 0; i < c->n_ops; i++) {
        const rs_op *op = &c->ops[i];
        json_t *x = json_object();
        json_object_set_new(x, "type", json_string(op->type == RS_OP_PUT ? "PUT" : "DELETE"));
        json_object_set_new(x, "kind", json_integer(op->kind));
        const char *kn = kind_name(op->kind, kb, sizeof kb);
        json_object_set_new(x, "kindName", json_string(kn));
        json_object_set_new(x, "project", json_string(op->project ? op->project : ""));
        json_object_set_new(x, "name", json_string(op->name ? op->name : ""));
        if (op->ordinal)
            json_object_set_new(x, "ordinal", json_integer(op->ordinal));
        if (op->type == RS_OP_PUT) {
            json_object_set_new(x, "bytes", json_integer((json_int_t)op->len));
            hex(op->hash, h);
            json_object_set_new(x, "hash", json_string(h));
            puts++;
        } else {
            dels++;
        }
        json_t *cnt = json_object_get(by_kind, kn);
        if (cnt)
            json_integer_set(cnt, json_integer_value(cnt) + 1);
        else
            json_object_set_new(by_kind, kn, json_integer(1));
        json_array_append_new(ops, x);
    }
    json_object_set_new(o, "ops", ops);
    json_t *counts = json_object();
    json_object_set_new(counts, "put", json_integer((json_int_t)puts));
    json_object_set_new(counts, "delete", json_integer((json_int_t)dels));
    json_object_set_new(counts, "by_kind", by_kind);
    json_object_set_new(o, "counts", counts);
    return o;
}

/* The registry before the change and after it, for a property-level view. */
static int change_diff(rs_storage *s, const rs_head *h, const rs_change *c, rs_registry **before, rs_registry **after,
                       rs_diff **d, rs_error *err)
{
    *before = *after = NULL;
    *d = NULL;
    rs_drift_ctx *ctx = rs_drift_ctx_new(s);
    if (!ctx)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    int rc = rs_drift_materialize(ctx, h, c->version - 1, before, err);
    rs_drift_ctx_free(ctx);
    if (rc)
        return rc;
    *after = rs_registry_clone(*before);
    if (!*after)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    rc = rs_change_apply(*after, c, RS_APPLY_CHECK_PARENT | RS_APPLY_CHECK_RESULT, err);
    if (!rc)
        rc = rs_diff_compute(*before, *after, RS_DIFF_PROPS, d, err);
    return rc;
}

int dump_cmd_log(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, 0, 'j'}, {"all", no_argument, 0, 'a'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    bool as_json = false, all = false;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = true; break;
        case 'a': all = true; break;
        default: return live_usage("log: bad option");
        }
    }
    if (optind != argc - 2)
        return live_usage("log: expected STORE_URL VERSION");
    const char *url = argv[optind];
    uint64_t version;
    if (parse_version(argv[optind + 1], &version))
        return live_usage("log: VERSION must be a positive integer");
    rs_storage *s;
    if (open_store(url, &s))
        return DUMP_ERROR;
    rs_head h;
    if (read_head(s, url, false, &h)) {
        rs_storage_close(s);
        return DUMP_ERROR;
    }
    rs_change *ch;
    rs_error err = {0};
    int rc = rs_log_read_entry(s, version, &ch, NULL, &err);
    if (rc == RS_ENOTFOUND) {
        fprintf(stderr, "regsync-dump: %s: log entry %" PRIu64 " not found (HEAD is at %" PRIu64 ", oldest retained %" PRIu64 ")\n",
                url, version, h.version, h.oldest_version);
        rs_head_clear(&h);
        rs_storage_close(s);
        return DUMP_ERROR;
    }
    if (rc) {
        rs_head_clear(&h);
        rs_storage_close(s);
        return dump_fail(url, &err);
    }
    rs_registry *before, *after;
    rs_diff *d;
    rs_error de = {0};
    int drc = change_diff(s, &h, ch, &before, &after, &d, &de);
    unsigned show = all ? (RS_CLASS_SPEC | RS_CLASS_META | RS_CLASS_REGISTRY) : RS_CLASS_SPEC;
    int out = DUMP_OK;
    if (as_json) {
        json_t *j = change_json(ch);
        if (!drc) {
            json_t *dj = rs_diff_to_json(d, show);
            json_object_set(j, "changes", json_object_get(dj, "changes"));
            json_decref(dj);
        } else {
            json_object_set_new(j, "changes", json_null());
            json_object_set_new(j, "changes_error", json_string(de.msg));
        }
        out = emit_json(j);
    } else {
        char ts[48] = "-", p[2 * RS_DIGEST_LEN + 1], r[2 * RS_DIGEST_LEN + 1];
        if (ch->published_ms)
            rs_time_rfc3339_ms(ch->published_ms, ts, sizeof ts);
        size_t puts, dels;
        rs_change_counts(ch, &puts, &dels, NULL);
        hex(ch->parent_digest, p);
        hex(ch->result_digest, r);
        printf("version:    %" PRIu64 "\n", ch->version);
        printf("published:  %s by %s\n", ts, ch->publisher && *ch->publisher ? ch->publisher : "-");
        if (ch->source && *ch->source)
            printf("source:     %s\n", ch->source);
        if (ch->source_etag && *ch->source_etag)
            printf("source tag: %s\n", ch->source_etag);
        printf("parent:     %s\n", p);
        printf("result:     %s\n", r);
        printf("operations: %zu put, %zu delete\n\n", puts, dels);
        if (!drc) {
            rs_diff_print_plan(d, show, stdout);
            size_t hidden = rs_diff_count(d, RS_CLASS_SPEC | RS_CLASS_META | RS_CLASS_REGISTRY) - rs_diff_count(d, show);
            if (hidden)
                printf("(%zu meta or registry-level change(s) not shown; --all shows them)\n", hidden);
        } else {
            /* the parent version cannot be rebuilt: the operations without property detail */
            fprintf(stderr, "regsync-dump: %s: version %" PRIu64 " cannot be rebuilt (%s); operations only\n", url,
                    version - 1, de.msg);
            for (size_t i = 0; i < ch->n_ops; i++) {
                const rs_op *op = &ch->ops[i];
                const char *kn = rs_kind_plan_name(op->kind);
                char kb[32];
                if (!kn || !*kn) {
                    snprintf(kb, sizeof kb, "unknown field %u", op->kind);
                    kn = kb;
                }
                printf("%s %s %s%s%s%s\n", op->type == RS_OP_PUT ? "Put" : "Deleted", kn, op->name,
                       op->project && *op->project ? " (project " : "", op->project ? op->project : "",
                       op->project && *op->project ? ")" : "");
            }
        }
        if (fflush(stdout))
            out = DUMP_ERROR;
    }
    rs_diff_free(d);
    rs_registry_free(before);
    rs_registry_free(after);
    rs_change_free(ch);
    rs_head_clear(&h);
    rs_storage_close(s);
    return out;
}

/* --------------------------------------------------------------- regions */

static void fmt_age(int64_t ms, char *out, size_t n)
{
    if (ms < 0) {
        snprintf(out, n, "-");
        return;
    }
    int64_t s = ms / 1000;
    if (s < 120)
        snprintf(out, n, "%" PRId64 "s ago", s);
    else if (s < 7200)
        snprintf(out, n, "%" PRId64 "m ago", s / 60);
    else if (s < 172800)
        snprintf(out, n, "%" PRId64 "h ago", s / 3600);
    else
        snprintf(out, n, "%" PRId64 "d ago", s / 86400);
}

static void fmt_lag(double sec, char *out, size_t n)
{
    if (sec <= 0)
        snprintf(out, n, "-");
    else if (sec < 120)
        snprintf(out, n, "%.1fs", sec);
    else if (sec < 7200)
        snprintf(out, n, "%lldm", (long long)(sec / 60));
    else if (sec < 172800)
        snprintf(out, n, "%lldh", (long long)(sec / 3600));
    else
        snprintf(out, n, "%lldd", (long long)(sec / 86400));
}

/* "feature_views proj_00/driver_0001", or just "version_id" for a singleton. */
static void object_text(const json_t *o, char *out, size_t n)
{
    const char *k = json_string_value(json_object_get(o, "kindName"));
    const char *p = json_string_value(json_object_get(o, "project"));
    const char *nm = json_string_value(json_object_get(o, "name"));
    snprintf(out, n, "%s%s%s%s%s", k ? k : "?", (p && *p) || (nm && *nm) ? " " : "", p && *p ? p : "",
             p && *p && nm && *nm ? "/" : "", nm ? nm : "");
}

static void print_pair_text(const json_t *p)
{
    const json_t *regs = json_object_get(p, "regions");
    for (size_t i = 0; i < json_array_size(regs); i++) {
        const json_t *r = json_array_get(regs, i);
        const json_t *m = json_object_get(r, "digest_matches_log");
        printf("%s at version %" JSON_INTEGER_FORMAT ", digest %s\n", json_string_value(json_object_get(r, "region")),
               json_integer_value(json_object_get(r, "applied_version")),
               json_is_null(m) ? "not reported" : json_is_true(m) ? "matches the log" : "DOES NOT match the log");
    }
    const json_t *d = json_object_get(p, "differences");
    size_t i;
    json_t *o;
    char what[600];
    json_array_foreach(d, i, o)
    {
        object_text(o, what, sizeof what);
        const char *only = json_string_value(json_object_get(o, "only_in"));
        char where[160];
        snprintf(where, sizeof where, "%s%s", only ? "only in " : "differs", only ? only : "");
        printf("%-8s %-20s %s  %s%s\n", json_string_value(json_object_get(o, "class")), where, what,
               json_is_true(json_object_get(o, "expected")) ? "expected: " : "",
               json_string_value(json_object_get(o, "reason")));
    }
    const char *lists[] = {"regional_meta", "local_modifications"};
    for (size_t l = 0; l < 2; l++) {
        json_array_foreach(json_object_get(p, lists[l]), i, o)
        {
            object_text(o, what, sizeof what);
            printf("%-8s %-20s %s  %s%s (%s)\n", l == 0 ? "meta" : "local", l == 0 ? "kept" : "modified", what,
                   json_is_true(json_object_get(o, "expected")) ? "expected: " : "",
                   json_string_value(json_object_get(o, "reason")), json_string_value(json_object_get(o, "region")));
        }
    }
    const json_t *sum = json_object_get(p, "summary");
    printf("%" JSON_INTEGER_FORMAT " expected, %" JSON_INTEGER_FORMAT " unexpected\n",
           json_integer_value(json_object_get(sum, "expected")), json_integer_value(json_object_get(sum, "unexpected")));
}

int dump_cmd_regions(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, 0, 'j'},
                                         {"stale-after", required_argument, 0, 's'},
                                         {"pair", required_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    bool as_json = false;
    int64_t stale_after = 0;
    const char *pair_x = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = true; break;
        case 's':
            if (rs_duration_parse_ms(optarg, &stale_after) || stale_after <= 0)
                return live_usage("regions: --stale-after wants a duration like 90s or 5m");
            break;
        case 'p': pair_x = optarg; break;
        default: return live_usage("regions: bad option");
        }
    }
    const char *pair_y = NULL, *url;
    if (pair_x) {
        /* --pair X Y STORE_URL */
        if (optind != argc - 2)
            return live_usage("regions: expected --pair REGION OTHER STORE_URL");
        pair_y = argv[optind];
        url = argv[optind + 1];
    } else {
        if (optind != argc - 1)
            return live_usage("regions: expected one STORE_URL");
        url = argv[optind];
    }
    rs_storage *s;
    if (open_store(url, &s))
        return DUMP_ERROR;
    rs_head h;
    if (read_head(s, url, true, &h)) {
        rs_storage_close(s);
        return DUMP_ERROR;
    }
    rs_error err = {0};
    int out = DUMP_OK;
    rs_drift_ctx *ctx = rs_drift_ctx_new(s);
    if (pair_x) {
        rs_region_report x = {0}, y = {0};
        json_t *p = NULL;
        int rc = rs_drift_read_report(s, pair_x, &x, &err);
        if (!rc)
            rc = rs_drift_read_report(s, pair_y, &y, &err);
        if (!rc)
            rc = rs_drift_pair(ctx, &h, &x, &y, &p, &err);
        if (rc) {
            out = dump_fail(url, &err);
        } else if (as_json) {
            json_int_t unexpected = json_integer_value(json_object_get(json_object_get(p, "summary"), "unexpected"));
            out = emit_json(p);
            if (out == DUMP_OK && unexpected)
                out = DUMP_DIFFERENT;
        } else {
            print_pair_text(p);
            json_int_t unexpected = json_integer_value(json_object_get(json_object_get(p, "summary"), "unexpected"));
            json_decref(p);
            out = fflush(stdout) ? DUMP_ERROR : unexpected ? DUMP_DIFFERENT : DUMP_OK;
        }
        rs_region_report_clear(&x);
        rs_region_report_clear(&y);
        goto done;
    }
    /* the fleet view, read once: ages from the store's clock (nothing observed over time) */
    rs_fleet_opts fo = {.stale_after_ms = stale_after};
    rs_fleet *fl = rs_fleet_new(s, &fo);
    if (!fl || rs_fleet_refresh(fl, &err)) {
        if (!fl)
            rs_error_set(&err, RS_ENOMEM, "out of memory");
        rs_fleet_free(fl);
        out = dump_fail(url, &err);
        goto done;
    }
    const rs_fleet_snap *fs = rs_fleet_snapshot(fl);
    bool all_in_sync = true;
    for (size_t i = 0; i < fs->n_regions; i++)
        if (strcmp(fs->regions[i].state, RS_DRIFT_IN_SYNC) != 0)
            all_in_sync = false;
    if (as_json) {
        out = emit_json(rs_fleet_to_json(fs));
    } else {
        if (h.version) {
            char d[13], t[48] = "-";
            short_hex(h.digest, d);
            if (h.updated_ms)
                rs_time_rfc3339_ms(h.updated_ms, t, sizeof t);
            printf("HEAD %" PRIu64 "  digest %s  updated %s\n\n", h.version, d, t);
        } else {
            printf("HEAD none (nothing published yet)\n\n");
        }
        /* a tree: each region with its state over its live instances, then every instance */
        printf("%-28s %-9s %8s %7s %7s %10s %-10s %5s  %s\n", "REGION / INSTANCE", "STATE", "APPLIED", "BEHIND", "LAG",
               "HEARTBEAT", "READS", "EPOCH", "REASON");
        for (size_t g = 0; g < fs->n_regions; g++) {
            const rs_fleet_region *rg = &fs->regions[g];
            printf("%-28s %-9s %8" PRIu64 " %7s %7s %10s %-10s %5s  %s (%zu of %zu instance(s) live)\n", rg->region, rg->state,
                   rg->min_applied, "", "", "", "", "", rg->summary, rg->n_live, rg->n_instances);
            for (size_t k = rg->first; k < rg->first + rg->n_instances; k++) {
                const rs_fleet_instance *in = &fs->instances[k];
                char name[80], lag[24], age[24], skew[64] = "";
                snprintf(name, sizeof name, "  %s %s", k + 1 == rg->first + rg->n_instances ? "`-" : "|-",
                         in->report->instance[0] ? in->report->instance : "(region layout)");
                fmt_lag(in->row.lag_seconds, lag, sizeof lag);
                fmt_age(in->age_ms, age, sizeof age);
                if (in->skew_warning)
                    snprintf(skew, sizeof skew, " [clock %+.0f s off the store's]", (double)in->skew_ms / 1000.0);
                /* the store it reads from and its epoch: "-" from agents older than issue 11 */
                printf("%-28s %-9s %8" PRIu64 " %7" PRIu64 " %7s %10s %-10.10s %5" PRIu64 "  %s%s\n", name,
                       in->superseded ? "superseded" : in->state, in->report->applied_version, in->row.versions_behind, lag, age,
                       in->report->read_store[0] ? in->report->read_store : "-", in->report->epoch, in->row.reason, skew);
                if (in->report->epoch_change[0]) {
                    char t[48] = "-";
                    if (in->report->epoch_change_at_ms)
                        rs_time_rfc3339_ms(in->report->epoch_change_at_ms, t, sizeof t);
                    printf("%-28s %s at %s\n", "", in->report->epoch_change, t);
                }
            }
        }
        if (fs->n_publishers) {
            printf("\n%-28s %-9s %8s %10s  %s\n", "PUBLISHER", "STATE", "LAST", "HEARTBEAT", "LAST ERROR");
            for (size_t k = 0; k < fs->n_publishers; k++) {
                const rs_fleet_instance *in = &fs->publishers[k];
                char name[160], age[24];
                snprintf(name, sizeof name, "%s/%s", in->report->region, in->report->instance[0] ? in->report->instance : "-");
                fmt_age(in->age_ms, age, sizeof age);
                printf("%-28s %-9s %8" PRIu64 " %10s  %s\n", name, in->state, in->report->last_published_version, age,
                       in->report->last_error[0] ? in->report->last_error : "-");
            }
        }
        if (!fs->n_regions && !fs->n_publishers)
            printf("(no region reports under %s)\n", RS_PREFIX_REGIONS);
        if (fflush(stdout))
            out = DUMP_ERROR;
    }
    if (out == DUMP_OK && !all_in_sync)
        out = DUMP_DIFFERENT;
    rs_fleet_snap_release(fs);
    rs_fleet_free(fl);
done:
    rs_drift_ctx_free(ctx);
    rs_head_clear(&h);
    rs_storage_close(s);
    return out;
}

/* --------------------------------------------------------------- control */

static json_t *control_json(const rs_region_control *c)
{
    char d[256];
    rs_control_describe(c, d, sizeof d);
    json_t *o = json_object();
    json_object_set_new(o, "region", json_string(c->region));
    json_object_set_new(o, "paused", json_boolean(c->paused));
    json_object_set_new(o, "pinned_version", c->pinned_version ? json_integer((json_int_t)c->pinned_version) : json_null());
    json_object_set_new(o, "rollback", json_boolean(c->rollback));
    json_object_set_new(o, "action", json_string(c->action));
    json_object_set_new(o, "by", json_string(c->by));
    json_object_set_new(o, "at", rs_json_time_ms(c->at_ms));
    json_object_set_new(o, "serial", json_integer((json_int_t)c->serial));
    json_object_set_new(o, "in_force", json_string(d));
    return o;
}

int dump_cmd_control(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, 0, 'j'}, {"set", required_argument, 0, 's'}, {"by", required_argument, 0, 'b'}, {0, 0, 0, 0}};
    bool as_json = false;
    const char *set_region = NULL, *by = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = true; break;
        case 's': set_region = optarg; break;
        case 'b': by = optarg; break;
        default: return live_usage("control: bad option");
        }
    }
    rs_error err = {0};
    if (set_region) {
        /* control --set REGION ACTION [VERSION] --by NAME STORE_URL */
        int left = argc - optind;
        if (left < 2 || left > 3)
            return live_usage("control --set: expected REGION ACTION [VERSION] --by NAME STORE_URL");
        const char *action = argv[optind];
        int a = rs_control_action_parse(action);
        if (a < 0)
            return live_usage("control --set: ACTION is pause, resume, pin, unpin or rollback");
        uint64_t v = 0;
        if (left == 3) {
            char *end;
            errno = 0;
            unsigned long long x = strtoull(argv[optind + 1], &end, 10);
            if (errno || *end || !x || argv[optind + 1][0] == '-')
                return live_usage("control --set: VERSION must be a positive integer");
            v = x;
        }
        if ((a == RS_CONTROL_PIN || a == RS_CONTROL_ROLLBACK) != (left == 3))
            return live_usage("control --set: pin and rollback take a VERSION, the other actions none");
        if (!by || !*by)
            return live_usage("control --set: --by NAME says who sets it (it is recorded)");
        const char *url = argv[argc - 1];
        rs_storage *s;
        if (open_store(url, &s))
            return DUMP_ERROR;
        rs_region_control out;
        int rc = rs_control_apply(s, set_region, (rs_control_action)a, v, by, &out, &err);
        rs_storage_close(s);
        if (rc)
            return dump_fail(url, &err);
        if (as_json)
            return emit_json(control_json(&out));
        char d[256];
        rs_control_describe(&out, d, sizeof d);
        printf("%s: %s (serial %" PRIu64 ")\n", set_region, d, out.serial);
        return fflush(stdout) ? DUMP_ERROR : DUMP_OK;
    }
    if (argc - optind < 1 || argc - optind > 2)
        return live_usage("control: expected STORE_URL [REGION]");
    const char *url = argv[optind], *only = argc - optind == 2 ? argv[optind + 1] : NULL;
    rs_storage *s;
    if (open_store(url, &s))
        return DUMP_ERROR;
    rs_list_entry *e = NULL;
    size_t n = 0;
    int out = DUMP_OK;
    if (rs_storage_list(s, RS_PREFIX_CONTROL, &e, &n, &err)) {
        rs_storage_close(s);
        return dump_fail(url, &err);
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *region = e[i].key + strlen(RS_PREFIX_CONTROL);
        if (only && strcmp(region, only) != 0)
            continue;
        rs_region_control rc;
        rs_error re = {0};
        if (rs_control_read(s, region, NULL, &rc, NULL, &re) != RS_OK) {
            fprintf(stderr, "regsync-dump: %s: %s\n", e[i].key, re.msg);
            out = DUMP_ERROR;
            continue;
        }
        json_array_append_new(arr, control_json(&rc));
    }
    rs_storage_list_free(e, n);
    rs_storage_close(s);
    if (as_json) {
        int r = emit_json(arr);
        return out ? out : r;
    }
    if (!json_array_size(arr))
        printf("(no region-wide control records%s%s)\n", only ? " for " : "", only ? only : "");
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        printf("%-20s %s (last: %s by %s, serial %" JSON_INTEGER_FORMAT ")\n", json_string_value(json_object_get(o, "region")),
               json_string_value(json_object_get(o, "in_force")), json_string_value(json_object_get(o, "action")),
               json_string_value(json_object_get(o, "by")), json_integer_value(json_object_get(o, "serial")));
    }
    json_decref(arr);
    return fflush(stdout) ? DUMP_ERROR : out;
}

/* --------------------------------------------------------------- journal */

static void short_or_dash(bool has, const uint8_t *d, char out[13])
{
    if (has)
        short_hex(d, out);
    else
        snprintf(out, 13, "-");
}

int dump_cmd_journal(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, 0, 'j'}, {"limit", required_argument, 0, 'l'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    bool as_json = false;
    uint64_t limit = 50;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = true; break;
        case 'l':
            if (parse_version(optarg, &limit) || limit > 100000)
                return live_usage("journal: --limit wants a number from 1 to 100000");
            break;
        default: return live_usage("journal: bad option");
        }
    }
    if (optind != argc - 1)
        return live_usage("journal: expected one STATE_DIR");
    const char *dir = argv[optind];
    rs_journal_opts jo = {.readonly = true};
    rs_journal *j;
    rs_error err = {0};
    int rc = rs_journal_open(dir, &jo, &j, &err);
    if (rc == RS_ENOTFOUND) {
        fprintf(stderr, "regsync-dump: %s: no journal here (%s not found)\n", dir, RS_JOURNAL_FILE);
        return DUMP_ERROR;
    }
    if (rc)
        return dump_fail(dir, &err);
    rs_journal_entry *v = NULL;
    size_t n = 0;
    rc = rs_journal_list(j, 0, (size_t)limit, &v, &n, &err);
    if (rc) {
        rs_journal_close(j);
        return dump_fail(dir, &err);
    }
    rs_journal_entry pend = {0};
    bool has_pending = rs_journal_pending_get(j, &pend, NULL) == RS_OK;
    int out = DUMP_OK;
    if (as_json) {
        json_t *root = json_object();
        json_object_set_new(root, "journal", json_string(rs_journal_path(j)));
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, rs_journal_entry_json(&v[i]));
        json_object_set_new(root, "versions", arr);
        json_object_set_new(root, "pending", has_pending ? rs_journal_entry_json(&pend) : json_null());
        out = emit_json(root);
    } else {
        printf("journal %s\n", rs_journal_path(j));
        if (has_pending)
            printf("pending: version %" PRIu64 " (a replacement of the target was under way; the agent settles it at its "
                   "next start)\n",
                   pend.version);
        printf("\n%8s %-9s %-24s %11s %-12s %-12s %-12s  %s\n", "VERSION", "KIND", "APPLIED AT", "OPS", "RESULT",
               "FILTERED", "TARGET", "PUBLISHER");
        for (size_t i = 0; i < n; i++) {
            const rs_journal_entry *e = &v[i];
            char t[48] = "-", ops[32], rd[13], fd[13], td[13];
            if (e->applied_at_ms)
                rs_time_rfc3339_ms(e->applied_at_ms, t, sizeof t);
            snprintf(ops, sizeof ops, "+%" PRIu64 " -%" PRIu64, e->ops_put, e->ops_delete);
            short_or_dash(e->has_result_digest, e->result_digest, rd);
            short_or_dash(e->has_filtered_digest, e->filtered_digest, fd);
            short_or_dash(e->has_target_digest, e->target_digest, td);
            printf("%8" PRIu64 " %-9s %-24s %11s %-12s %-12s %-12s  %s\n", e->version, rs_journal_kind_name(e->kind), t,
                   ops, rd, fd, td, e->publisher ? e->publisher : "-");
        }
        if (!n)
            printf("(no applied versions)\n");
        if (fflush(stdout))
            out = DUMP_ERROR;
    }
    rs_journal_entry_clear(&pend);
    rs_journal_entries_free(v, n);
    rs_journal_close(j);
    return out;
}

/* ------------------------------------------------------- diff --versions */

int dump_cmd_diff_versions(int argc, char **argv)
{
    bool as_json = false, all = false;
    const char *url = NULL;
    uint64_t va = 0, vb = 0;
    bool have_versions = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else if (strcmp(argv[i], "--all") == 0) {
            all = true;
        } else if (strcmp(argv[i], "--versions") == 0) {
            if (i + 2 >= argc || parse_version(argv[i + 1], &va) || parse_version(argv[i + 2], &vb))
                return live_usage("diff: --versions wants two positive version numbers A B");
            have_versions = true;
            i += 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return live_usage("diff: unknown option");
        } else if (!url) {
            url = argv[i];
        } else {
            return live_usage("diff --versions A B: expected one STORE_URL");
        }
    }
    if (!have_versions || !url)
        return live_usage("diff: expected --versions A B STORE_URL");
    rs_storage *s;
    if (open_store(url, &s))
        return DUMP_ERROR;
    rs_head h;
    if (read_head(s, url, false, &h)) {
        rs_storage_close(s);
        return DUMP_ERROR;
    }
    rs_drift_ctx *ctx = rs_drift_ctx_new(s);
    rs_registry *a = NULL, *b = NULL;
    rs_error err = {0};
    int out = DUMP_OK;
    /* the lower version first: the second is reached by applying the entries in between */
    uint64_t lo = va < vb ? va : vb, hi = va < vb ? vb : va;
    rs_registry *rlo = NULL, *rhi = NULL;
    /* (errors name the version: materialize's own, or the log entry's key) */
    int rc = ctx ? rs_drift_materialize(ctx, &h, lo, &rlo, &err) : rs_error_set(&err, RS_ENOMEM, "out of memory");
    if (!rc)
        rc = rs_drift_materialize(ctx, &h, hi, &rhi, &err);
    if (rc) {
        out = dump_fail(url, &err);
        goto done;
    }
    a = va <= vb ? rlo : rhi;
    b = va <= vb ? rhi : rlo;
    rs_diff *d;
    if (rs_diff_compute(a, b, RS_DIFF_PROPS, &d, &err)) {
        out = dump_fail(url, &err);
        goto done;
    }
    unsigned show = all ? (RS_CLASS_SPEC | RS_CLASS_META | RS_CLASS_REGISTRY) : RS_CLASS_SPEC;
    size_t k = rs_diff_count(d, show);
    rc = as_json ? rs_diff_print_json(d, show, stdout) : rs_diff_print_plan(d, show, stdout);
    rs_diff_free(d);
    out = rc || fflush(stdout) ? DUMP_ERROR : k ? DUMP_DIFFERENT : DUMP_OK;
done:
    rs_registry_free(rlo);
    rs_registry_free(rhi);
    rs_drift_ctx_free(ctx);
    rs_head_clear(&h);
    rs_storage_close(s);
    return out;
}
