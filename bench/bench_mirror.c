/* bench_mirror: what copying each published version to a replica costs (issue 11; docs/operations.md,
 * "Disaster recovery"). Prints figures; never fails on a timing (exit 1 only when nothing could
 * be set up).
 *
 *   bench_mirror [--versions 20] [--kb 200] [--pairs s3>s3,s3>pg,pg>pg,file>file]
 *
 * For each pair "primary>replica", two fresh stores (S3 prefixes of RS_TEST_S3_URL, PostgreSQL
 * table prefixes of RS_TEST_PG_URL, file:// directories under /tmp): a registry of --kb is
 * published, then --versions changes of 3 objects, one at a time; after each publish the new
 * version is copied to the replica with rs_replica_sync (what the publisher does after every
 * version). Per version it measures the publish (requests on the primary, ms) and the copy
 * (requests and payload bytes on both handles, ms), and prints the mean and the ratio
 * copy/publish. The snapshot every 100 versions (the default) is not in the per-version mean
 * except at version 1 (the first copy is reported apart).
 */
#include "rs_generate.h"
#include "rs_log.h"
#include "rs_publisher.h"
#include "rs_replica.h"
#include "rs_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *fresh(const char *kind, int n)
{
    char *u = NULL;
    const char *base = NULL;
    if (strcmp(kind, "file") == 0) {
        char d[256];
        snprintf(d, sizeof d, "/tmp/bench-mirror-%d-%d", (int)getpid(), n);
        char cmd[300];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", d);
        if (system(cmd) != 0)
            return NULL;
        if (asprintf(&u, "file://%s", d) < 0)
            return NULL;
        return u;
    }
    if (strcmp(kind, "s3") == 0) {
        base = getenv("RS_TEST_S3_URL");
        if (!base || !*base)
            return NULL;
        const char *q = strchr(base, '?');
        if (asprintf(&u, "%.*s/bench-mirror-%d-%d%s", q ? (int)(q - base) : (int)strlen(base), base, (int)getpid(), n, q ? q : "") < 0)
            return NULL;
        return u;
    }
    base = getenv(strcmp(kind, "pg") == 0 ? "RS_TEST_PG_URL" : "RS_TEST_MYSQL_URL");
    if (!base || !*base)
        return NULL;
    if (asprintf(&u, "%s%ctable_prefix=bm%d_%d_", base, strchr(base, '?') ? '&' : '?', (int)getpid(), n) < 0)
        return NULL;
    return u;
}

static uint64_t reqs(rs_storage *s)
{
    rs_storage_stats st;
    rs_storage_get_stats(s, &st);
    return st.requests;
}

static uint64_t bytes(rs_storage *s)
{
    rs_storage_stats st;
    rs_storage_get_stats(s, &st);
    return st.bytes_in + st.bytes_out;
}

static int run_pair(const char *pk, const char *rk, int versions, size_t kb, int *seq)
{
    char *pu = fresh(pk, ++*seq), *ru = fresh(rk, ++*seq);
    if (!pu || !ru) {
        printf("%-10s SKIP: no server URL (RS_TEST_S3_URL / RS_TEST_PG_URL / RS_TEST_MYSQL_URL)\n", "");
        free(pu);
        free(ru);
        return 0;
    }
    rs_storage *ps = NULL, *rs = NULL;
    rs_error e = {0};
    if (rs_storage_open(pu, NULL, &ps, &e) || rs_storage_open(ru, NULL, &rs, &e)) {
        fprintf(stderr, "bench_mirror: %s\n", e.msg);
        return 1;
    }
    rs_publisher *p;
    rs_publisher_opts po = {.publisher_id = "bench"};
    if (rs_publisher_open(ps, NULL, NULL, &po, &p, &e)) {
        fprintf(stderr, "bench_mirror: %s\n", e.msg);
        return 1;
    }
    rs_gen_params gp;
    rs_gen_defaults(&gp);
    gp.seed = 7;
    gp.target_bytes = kb * 1024;
    uint8_t *cur;
    size_t cl;
    if (rs_generate(&gp, &cur, &cl, &e)) {
        fprintf(stderr, "bench_mirror: %s\n", e.msg);
        return 1;
    }
    double pub_ms = 0, copy_ms = 0, first_copy_ms = 0;
    uint64_t pub_req = 0, copy_req = 0, copy_bytes = 0, first_req = 0, first_bytes = 0;
    int n = 0;
    for (int v = 0; v <= versions; v++) {
        if (v) {
            uint8_t *m;
            size_t ml;
            if (rs_mutate(cur, cl, 1000 + (uint64_t)v, 3, &m, &ml, NULL, NULL))
                return 1;
            free(cur);
            cur = m;
            cl = ml;
        }
        rs_registry *r;
        if (rs_registry_decode(cur, cl, NULL, &r, &e))
            return 1;
        rs_publish_result res;
        uint64_t r0 = reqs(ps);
        int64_t t0 = rs_mono_ns();
        int rc = rs_publisher_publish_registry(p, r, "b", &res, &e);
        int64_t t1 = rs_mono_ns();
        rs_registry_free(r);
        if (rc) {
            fprintf(stderr, "bench_mirror: publish: %s\n", e.msg);
            return 1;
        }
        uint64_t r1 = reqs(ps), rr1 = reqs(rs), b1 = bytes(ps) + bytes(rs);
        rs_replica_result rr;
        int64_t t2 = rs_mono_ns();
        rc = rs_replica_sync(ps, rs, &rr, &e);
        int64_t t3 = rs_mono_ns();
        if (rc) {
            fprintf(stderr, "bench_mirror: copy: %s\n", e.msg);
            return 1;
        }
        uint64_t cr = (reqs(ps) - r1) + (reqs(rs) - rr1), cb = bytes(ps) + bytes(rs) - b1;
        if (v == 0) {
            first_copy_ms = (double)(t3 - t2) / 1e6;
            first_req = cr;
            first_bytes = cb;
            continue;
        }
        pub_ms += (double)(t1 - t0) / 1e6;
        pub_req += r1 - r0;
        copy_ms += (double)(t3 - t2) / 1e6;
        copy_req += cr;
        copy_bytes += cb;
        n++;
    }
    char pair[32];
    snprintf(pair, sizeof pair, "%s>%s", pk, rk);
    printf("%-10s %8.2f %8.1f | %8.2f %8.1f %9.0f | %6.2f | first copy (%zu KiB registry + snapshot): %" PRIu64 " req, %" PRIu64
           " KiB, %.1f ms\n",
           pair, (double)pub_req / n, pub_ms / n, (double)copy_req / n, copy_ms / n, (double)copy_bytes / n,
           pub_ms > 0 ? copy_ms / pub_ms : 0, kb, first_req, first_bytes / 1024, first_copy_ms);
    free(cur);
    rs_publisher_close(p);
    /* clean up: every key under regsync/ of both stores */
    rs_storage *both[2] = {ps, rs};
    for (int i = 0; i < 2; i++) {
        rs_list_entry *le;
        size_t ln;
        if (rs_storage_list(both[i], "regsync/", &le, &ln, NULL) == RS_OK) {
            for (size_t k = 0; k < ln; k++)
                rs_storage_delete(both[i], le[k].key, NULL);
            rs_storage_list_free(le, ln);
        }
    }
    rs_storage_close(ps);
    rs_storage_close(rs);
    free(pu);
    free(ru);
    return 0;
}

int main(int argc, char **argv)
{
    int versions = 20;
    size_t kb = 200;
    const char *pairs = "file>file,s3>s3,s3>pg,pg>pg";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--versions") == 0 && i + 1 < argc)
            versions = atoi(argv[++i]);
        else if (strcmp(argv[i], "--kb") == 0 && i + 1 < argc)
            kb = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc)
            pairs = argv[++i];
        else {
            fprintf(stderr, "usage: bench_mirror [--versions N] [--kb K] [--pairs p>r,...]\n");
            return 2;
        }
    }
    if (versions < 1)
        versions = 1;
    rs_log_configure(RS_LOG_WARN, false, 2);
    printf("bench_mirror: %d versions of 3 changed objects, registry %zu KiB; per version (mean)\n", versions, kb);
    printf("%-10s %8s %8s | %8s %8s %9s | %6s\n", "pair", "pub req", "pub ms", "copy req", "copy ms", "copy B", "copy/pub");
    char *list = strdup(pairs);
    int seq = 0, rc = 0;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        char *gt = strchr(tok, '>');
        if (!gt) {
            fprintf(stderr, "bench_mirror: pair %s is not primary>replica\n", tok);
            rc = 2;
            continue;
        }
        *gt = '\0';
        if (run_pair(tok, gt + 1, versions, kb, &seq))
            rc = 1;
    }
    free(list);
    return rc;
}
