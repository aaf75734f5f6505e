/* seed_protos DIR: writes seed inputs for fuzz_head, fuzz_report and fuzz_control, encoded by
 * the project's own encoders, into DIR/head, DIR/report and DIR/control (which must exist).
 * Built only with -DRS_FUZZ=ON. */
#include "rs_control.h"
#include "rs_drift.h"
#include "rs_logproto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int put(const char *dir, const char *sub, const char *name, uint8_t *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(p, 1, n, f) == n;
    if (f && fclose(f))
        ok = 0;
    free(p);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: seed_protos DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    uint8_t *p;
    size_t n;
    int bad = 0;

    for (int i = 0; i < 3; i++) {
        uint64_t snaps[] = {10, 20, 30};
        rs_head h = {.version = 30 + (uint64_t)i, .oldest_version = 5, .snapshot_version = 30,
                     .snapshots = snaps, .n_snapshots = (size_t)i + 1, .updated_ms = 1764000000000,
                     .format = RS_LOG_FORMAT};
        memset(h.digest, 0xab + i, sizeof h.digest);
        memset(h.content_digest, 0x11, sizeof h.content_digest);
        snprintf(h.publisher, sizeof h.publisher, "publisher-%d@eu-west-1", i);
        char name[32];
        snprintf(name, sizeof name, "head-%d", i);
        bad |= rs_head_encode(&h, &p, &n, NULL) || put(dir, "head", name, p, n);
    }

    char *inc[] = {"fraud*", "ads"}, *exc[] = {"tmp-*"};
    rs_report_key mod[] = {{.kind = 1, .ordinal = 0, .project = "fraud", .name = "driver_stats"}};
    rs_applied_at recent[] = {{.version = 41, .at_ms = 1764000000000}, {.version = 42, .at_ms = 1764000060000}};
    for (int i = 0; i < 2; i++) {
        rs_region_report r = {.region = "eu-west-1", .instance = i ? "agent-7f9c" : "", .format = (uint32_t)i + 1,
                              .applied_version = 42, .head_version = 43, .heartbeat_ms = 1764000090000,
                              .state = "following", .agent = "regsync test", .log_store = "s3://bucket/log/",
                              .include_projects = inc, .n_include = 2, .exclude_projects = exc, .n_exclude = 1,
                              .modified_objects = mod, .n_modified = 1, .recent = recent, .n_recent = 2,
                              .follows = true, .control = "", .last_error = i ? "s3: timeout" : NULL,
                              .has_applied_digest = true};
        memset(r.applied_digest, 0x42, sizeof r.applied_digest);
        char name[32];
        snprintf(name, sizeof name, "report-%d", i);
        bad |= rs_region_report_encode(&r, &p, &n, NULL) || put(dir, "report", name, p, n);
    }

    for (int i = 0; i < 3; i++) {
        rs_region_control c = {.paused = i == 0, .pinned_version = i == 1 ? 41 : 0, .rollback = i == 2,
                               .at_ms = 1764000000000, .serial = (uint64_t)i + 1};
        snprintf(c.region, sizeof c.region, "us-east-%d", i + 1);
        snprintf(c.by, sizeof c.by, "ops@ci");
        snprintf(c.action, sizeof c.action, "%s", rs_control_action_name((rs_control_action)i));
        char name[32];
        snprintf(name, sizeof name, "control-%d", i);
        bad |= rs_control_encode(&c, &p, &n, NULL) || put(dir, "control", name, p, n);
    }
    return bad;
}
