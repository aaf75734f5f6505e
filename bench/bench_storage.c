/* bench_storage: GET/PUT throughput and latency of each storage backend, beside independent
 * clients doing the same, and the cost of one unchanged poll. Prints figures; never fails on
 * timing (exit 1 only when nothing could be set up).
 *
 *   bench_storage [--quick]
 *
 * Backends: a file:// temp dir (always), Postgres from RS_TEST_PG_URL, MySQL from
 * RS_TEST_MYSQL_URL, S3 from RS_TEST_S3_URL (scripts/pg-server.sh env, scripts/mysql-server.sh env,
 * scripts/s3-server.sh env). Baselines: psql (\copy in, COPY ... TO STDOUT out) for Postgres, the
 * mariadb client (an INSERT of a hex literal in, SELECT --raw out) for MySQL, /usr/bin/aws s3 cp
 * for S3, cp for files. Sizes 1 KB, 1 MB, 50 MB. Poll cost: a conditional GET of an unchanged
 * 1 MB object (requests, payload bytes, ms) via rs_storage_get_stats; for Postgres also watch
 * latency; the Feast SQL source's change check and full read on Postgres and MySQL.
 */
#include <libpq-fe.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "feast_sql.h"
#include "mysql_url.h"
#include "rs_buf.h"
#include "rs_storage.h"
#include "rs_time.h"

static bool quick;

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void fill(uint8_t *p, size_t n)
{
    uint64_t x = 0x243F6A8885A308D3ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

static const struct {
    const char *label;
    size_t size;
    int iters, quick_iters;
} SIZES[] = {{"1 KB", 1024, 200, 30}, {"1 MB", 1u << 20, 20, 5}, {"50 MB", 50u << 20, 3, 1}};

static void row(const char *backend, const char *client, const char *op, const char *size, int n, double med_ms,
                double total_ms, size_t bytes)
{
    double mbps = total_ms > 0 ? (double)bytes * n / (1024.0 * 1024.0) / (total_ms / 1000.0) : 0;
    printf("%-10s %-9s %-4s %-6s %5d %11.2f %10.1f\n", backend, client, op, size, n, med_ms, mbps);
}

/* ---------------------------------------------------------------- regsync through the interface */

static void bench_backend(const char *name, const char *url)
{
    rs_storage *s = NULL;
    rs_error err = {0};
    if (rs_storage_open(url, NULL, &s, &err) != RS_OK) {
        printf("%-10s cannot open: %s\n", name, err.msg);
        return;
    }
    for (size_t i = 0; i < sizeof SIZES / sizeof SIZES[0]; i++) {
        int n = quick ? SIZES[i].quick_iters : SIZES[i].iters;
        size_t sz = SIZES[i].size;
        uint8_t *data = malloc(sz);
        fill(data, sz);
        double *lat = calloc((size_t)n, sizeof *lat);
        char key[64];
        snprintf(key, sizeof key, "bench/obj-%zu", sz);
        double total = 0;
        for (int k = 0; k < n; k++) {
            data[0] = (uint8_t)k; /* a new ETag each time */
            int64_t t0 = rs_mono_ns();
            if (rs_storage_put(s, key, data, sz, RS_PUT_ALWAYS, NULL, NULL, &err) != RS_OK)
                printf("  put failed: %s\n", err.msg);
            lat[k] = (double)(rs_mono_ns() - t0) / 1e6;
            total += lat[k];
        }
        row(name, "regsync", "PUT", SIZES[i].label, n, median(lat, n), total, sz);
        total = 0;
        for (int k = 0; k < n; k++) {
            uint8_t *d = NULL;
            size_t len = 0;
            int64_t t0 = rs_mono_ns();
            if (rs_storage_get(s, key, NULL, &d, &len, NULL, &err) != RS_OK)
                printf("  get failed: %s\n", err.msg);
            lat[k] = (double)(rs_mono_ns() - t0) / 1e6;
            total += lat[k];
            free(d);
        }
        row(name, "regsync", "GET", SIZES[i].label, n, median(lat, n), total, sz);
        rs_storage_delete(s, key, NULL);
        free(lat);
        free(data);
    }
    /* one unchanged poll: conditional GET of a 1 MB object */
    size_t sz = 1u << 20;
    uint8_t *data = malloc(sz);
    fill(data, sz);
    char etag[RS_ETAG_MAX];
    rs_storage_put(s, "bench/HEAD", data, sz, RS_PUT_ALWAYS, NULL, etag, NULL);
    int polls = quick ? 20 : 100;
    double *lat = calloc((size_t)polls, sizeof *lat);
    rs_storage_stats a, b;
    rs_storage_get_stats(s, &a);
    for (int k = 0; k < polls; k++) {
        uint8_t *d = NULL;
        size_t len = 0;
        int64_t t0 = rs_mono_ns();
        int rc = rs_storage_get(s, "bench/HEAD", etag, &d, &len, NULL, NULL);
        lat[k] = (double)(rs_mono_ns() - t0) / 1e6;
        if (rc != RS_ENOTMODIFIED)
            printf("  poll: expected NOTMODIFIED, got %s\n", rs_status_name(rc));
        free(d);
    }
    rs_storage_get_stats(s, &b);
    printf("%-10s unchanged poll (conditional GET, 1 MB object): %.2f requests, %.0f payload bytes in, %.0f out, "
           "median %.3f ms\n",
           name, (double)(b.requests - a.requests) / polls, (double)(b.bytes_in - a.bytes_in) / polls,
           (double)(b.bytes_out - a.bytes_out) / polls, median(lat, polls));
    free(lat);
    free(data);
    rs_storage_delete(s, "bench/HEAD", NULL);
    rs_storage_close(s);
}

/* ---------------------------------------------------------------- baselines */

static double run_ms(const char *cmd)
{
    int64_t t0 = rs_mono_ns();
    int st = system(cmd);
    double ms = (double)(rs_mono_ns() - t0) / 1e6;
    if (st != 0)
        return -1;
    return ms;
}

static bool write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static void bench_cmd(const char *backend, const char *client, const char *op, const char *label, size_t sz, int n,
                      const char *cmd)
{
    double *lat = calloc((size_t)n, sizeof *lat);
    double total = 0;
    for (int k = 0; k < n; k++) {
        lat[k] = run_ms(cmd);
        if (lat[k] < 0) {
            printf("%-10s %-9s %-4s %-6s failed: %s\n", backend, client, op, label, cmd);
            free(lat);
            return;
        }
        total += lat[k];
    }
    row(backend, client, op, label, n, median(lat, n), total, sz);
    free(lat);
}

static void bench_psql(const char *url, const char *dir)
{
    /* our own table, written by psql like any other client (the trigger fills etag and size) */
    char tbl[64];
    snprintf(tbl, sizeof tbl, "benchpsql%ld_", (long)getpid());
    char *u = malloc(strlen(url) + 64);
    sprintf(u, "%s%ctable_prefix=%s", url, strchr(url, '?') ? '&' : '?', tbl);
    rs_storage *s = NULL;
    if (rs_storage_open(u, NULL, &s, NULL) != RS_OK) {
        free(u);
        return;
    }
    rs_storage_close(s);
    setenv("RS_BENCH_PG_URL", url, 1);
    for (size_t i = 0; i < sizeof SIZES / sizeof SIZES[0]; i++) {
        int n = quick ? SIZES[i].quick_iters : SIZES[i].iters;
        if (n > 30)
            n = 30; /* each is a psql process */
        size_t sz = SIZES[i].size;
        uint8_t *data = malloc(sz);
        fill(data, sz);
        /* COPY text format: key \t \\x<hex> */
        char path[4200], cmd[9000];
        snprintf(path, sizeof path, "%s/copy-%zu.txt", dir, sz);
        FILE *f = fopen(path, "w");
        fprintf(f, "bench/psql-%zu\t\\\\x", sz);
        for (size_t k = 0; k < sz; k++)
            fprintf(f, "%02x", data[k]);
        fputc('\n', f);
        fclose(f);
        snprintf(cmd, sizeof cmd,
                 "psql \"$RS_BENCH_PG_URL\" -Xq -v ON_ERROR_STOP=1 -c \"DELETE FROM %sobjects WHERE key = "
                 "'bench/psql-%zu'\" -c \"\\copy %sobjects (key, data) FROM '%s'\" >/dev/null",
                 tbl, sz, tbl, path);
        bench_cmd("postgresql", "psql", "PUT", SIZES[i].label, sz, n, cmd);
        snprintf(cmd, sizeof cmd,
                 "psql \"$RS_BENCH_PG_URL\" -Xq -v ON_ERROR_STOP=1 -c \"COPY (SELECT data FROM %sobjects WHERE key = "
                 "'bench/psql-%zu') TO STDOUT (FORMAT binary)\" >/dev/null",
                 tbl, sz);
        bench_cmd("postgresql", "psql", "GET", SIZES[i].label, sz, n, cmd);
        unlink(path);
        free(data);
    }
    PGconn *c = PQconnectdb(url);
    char sql[512];
    snprintf(sql, sizeof sql,
             "DROP TABLE IF EXISTS %1$sobjects, %1$sschema_version; DROP FUNCTION IF EXISTS %1$sobjects_stamp(), "
             "%1$sobjects_notify()",
             tbl);
    PQclear(PQexec(c, sql));
    PQfinish(c);
    free(u);
}

static void bench_cp(const char *dir)
{
    for (size_t i = 0; i < sizeof SIZES / sizeof SIZES[0]; i++) {
        int n = quick ? SIZES[i].quick_iters : SIZES[i].iters;
        if (n > 30)
            n = 30;
        size_t sz = SIZES[i].size;
        uint8_t *data = malloc(sz);
        fill(data, sz);
        char src[4200], cmd[9000];
        snprintf(src, sizeof src, "%s/src-%zu", dir, sz);
        write_file(src, data, sz);
        snprintf(cmd, sizeof cmd, "cp '%s' '%s/dst-%zu' && sync -f '%s/dst-%zu'", src, dir, sz, dir, sz);
        bench_cmd("file", "cp+sync", "PUT", SIZES[i].label, sz, n, cmd);
        snprintf(cmd, sizeof cmd, "cat '%s/dst-%zu' >/dev/null", dir, sz);
        bench_cmd("file", "cat", "GET", SIZES[i].label, sz, n, cmd);
        free(data);
    }
}

static void bench_aws(const char *s3url, const char *dir)
{
    if (access("/usr/bin/aws", X_OK) != 0) {
        printf("s3         aws: /usr/bin/aws not installed\n");
        return;
    }
    /* s3://bucket/prefix?...endpoint=E */
    char bucket[256] = "", prefix[512] = "", endpoint[512] = "";
    const char *p = s3url + 5;
    size_t bl = strcspn(p, "/?");
    snprintf(bucket, sizeof bucket, "%.*s", (int)bl, p);
    p += bl;
    if (*p == '/') {
        size_t pl = strcspn(p + 1, "?");
        snprintf(prefix, sizeof prefix, "%.*s/", (int)pl, p + 1);
    }
    const char *e = strstr(s3url, "endpoint=");
    if (e) {
        e += 9;
        size_t j = 0;
        for (; *e && *e != '&' && j + 1 < sizeof endpoint; e++) {
            if (*e == '%' && e[1] && e[2]) {
                char hx[3] = {e[1], e[2], 0};
                endpoint[j++] = (char)strtol(hx, NULL, 16);
                e += 2;
            } else {
                endpoint[j++] = *e;
            }
        }
        endpoint[j] = '\0';
    }
    setenv("RS_BENCH_EP", endpoint, 1);
    const char *epflag = endpoint[0] ? "--endpoint-url \"$RS_BENCH_EP\"" : "";
    for (size_t i = 0; i < sizeof SIZES / sizeof SIZES[0]; i++) {
        int n = quick ? SIZES[i].quick_iters : SIZES[i].iters;
        if (n > 10)
            n = 10; /* each is an awscli process (~0.5 s of Python start-up) */
        size_t sz = SIZES[i].size;
        uint8_t *data = malloc(sz);
        fill(data, sz);
        char src[4200], cmd[9000];
        snprintf(src, sizeof src, "%s/aws-%zu", dir, sz);
        write_file(src, data, sz);
        snprintf(cmd, sizeof cmd, "/usr/bin/aws %s s3 cp --only-show-errors '%s' 's3://%s/%sbench/aws-%zu'", epflag,
                 src, bucket, prefix, sz);
        bench_cmd("s3", "aws", "PUT", SIZES[i].label, sz, n, cmd);
        snprintf(cmd, sizeof cmd, "/usr/bin/aws %s s3 cp --only-show-errors 's3://%s/%sbench/aws-%zu' - >/dev/null",
                 epflag, bucket, prefix, sz);
        bench_cmd("s3", "aws", "GET", SIZES[i].label, sz, n, cmd);
        snprintf(cmd, sizeof cmd, "/usr/bin/aws %s s3 rm --only-show-errors 's3://%s/%sbench/aws-%zu' >/dev/null",
                 epflag, bucket, prefix, sz);
        run_ms(cmd);
        unlink(src);
        free(data);
    }
}

/* ---------------------------------------------------------------- Postgres extras */

static void bench_watch(const char *url)
{
    char *u = malloc(strlen(url) + 64);
    sprintf(u, "%s%ctable_prefix=benchw%ld_", url, strchr(url, '?') ? '&' : '?', (long)getpid());
    rs_storage *w = NULL, *s = NULL;
    if (rs_storage_open(u, NULL, &w, NULL) || rs_storage_open(u, NULL, &s, NULL)) {
        free(u);
        return;
    }
    char **keys = NULL;
    size_t n = 0;
    rs_storage_watch(w, "", 10, &keys, &n, NULL);
    rs_storage_keys_free(keys, n);
    int reps = quick ? 10 : 50;
    double *lat = calloc((size_t)reps, sizeof *lat);
    for (int k = 0; k < reps; k++) {
        int64_t t0 = rs_mono_ns();
        rs_storage_put(s, "HEAD", (const uint8_t *)"x", 1, RS_PUT_ALWAYS, NULL, NULL, NULL);
        rs_storage_watch(w, "", 2000, &keys, &n, NULL);
        lat[k] = (double)(rs_mono_ns() - t0) / 1e6;
        rs_storage_keys_free(keys, n);
    }
    printf("postgresql watch: put -> notification received, median %.3f ms (%d runs)\n", median(lat, reps), reps);
    free(lat);
    rs_storage_close(w);
    rs_storage_close(s);
    PGconn *c = PQconnectdb(url);
    char sql[512];
    snprintf(sql, sizeof sql,
             "DROP TABLE IF EXISTS benchw%1$ld_objects, benchw%1$ld_schema_version; DROP FUNCTION IF EXISTS "
             "benchw%1$ld_objects_stamp(), benchw%1$ld_objects_notify()",
             (long)getpid());
    PQclear(PQexec(c, sql));
    PQfinish(c);
    free(u);
}

static void bench_feast_sql(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return;
    }
    char sch[64];
    snprintf(sch, sizeof sch, "bench_feast%ld", (long)getpid());
    const char *tables[][2] = {{"entities", "entity"},          {"feature_views", "feature_view"},
                               {"data_sources", "data_source"}, {"feature_services", "feature_service"},
                               {"on_demand_feature_views", "feature_view"}, {"projects", "project"}};
    const int rows[] = {50, 200, 200, 30, 20, 1};
    rs_buf q = {0};
    rs_buf_printf(&q, "CREATE SCHEMA %s; SET search_path = %s;", sch, sch);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        rs_buf_printf(&q,
                      "CREATE TABLE %1$s (%2$s_name VARCHAR(255), project_id VARCHAR(255), last_updated_timestamp "
                      "BIGINT, %2$s_proto BYTEA, PRIMARY KEY (%2$s_name, project_id));"
                      "INSERT INTO %1$s SELECT 'o' || g, 'bench', 1700000000 + g, pg_temp.rnd(2048) "
                      "FROM generate_series(1, %3$d) g;",
                      tables[i][0], tables[i][1], rows[i]);
    }
    rs_buf_cstr(&q);
    /* 2 KB of pseudo-random bytes per row, without pgcrypto */
    PQclear(PQexec(c, "CREATE FUNCTION pg_temp.rnd(n int) RETURNS bytea LANGUAGE sql AS "
                      "$$ SELECT string_agg(decode(md5(random()::text), 'hex'), '') FROM generate_series(1, n / 16) $$"));
    PGresult *r = PQexec(c, (const char *)q.data);
    rs_buf_free(&q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        printf("feast-sql  setup failed: %s", PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return;
    }
    PQclear(r);
    char *u = malloc(strlen(url) + 128);
    sprintf(u, "%s%coptions=-csearch_path%%3D%s", url, strchr(url, '?') ? '&' : '?', sch);
    rs_feast_sql *h = NULL;
    rs_error err = {0};
    if (rs_feast_sql_open(u, NULL, &h, &err) == RS_OK) {
        uint8_t *data = NULL;
        size_t len = 0;
        char *stamp = NULL;
        int64_t t0 = rs_mono_ns();
        rs_feast_sql_read(h, &data, &len, &stamp, &err);
        double read_ms = (double)(rs_mono_ns() - t0) / 1e6;
        int reps = quick ? 20 : 100;
        double *lat = calloc((size_t)reps, sizeof *lat);
        rs_storage_stats a, b;
        rs_feast_sql_get_stats(h, &a);
        for (int k = 0; k < reps; k++) {
            t0 = rs_mono_ns();
            rs_feast_sql_changed(h, stamp, NULL, NULL);
            lat[k] = (double)(rs_mono_ns() - t0) / 1e6;
        }
        rs_feast_sql_get_stats(h, &b);
        printf("feast-sql  full read of 501 rows (%zu bytes): %.2f ms; unchanged poll: %.2f requests, %.0f result "
               "bytes, median %.3f ms\n",
               len, read_ms, (double)(b.requests - a.requests) / reps, (double)(b.bytes_in - a.bytes_in) / reps,
               median(lat, reps));
        free(lat);
        free(data);
        free(stamp);
    } else {
        printf("feast-sql  open failed: %s\n", err.msg);
    }
    rs_feast_sql_close(h);
    char drop[128];
    snprintf(drop, sizeof drop, "DROP SCHEMA %s CASCADE", sch);
    PQclear(PQexec(c, drop));
    PQfinish(c);
    free(u);
}

/* ---------------------------------------------------------------- MySQL */

/* A plain Connector/C connection for set-up and clean-up (not the code under test). */
static MYSQL *my_plain(const char *url)
{
    rs_my_target t;
    if (rs_my_parse_url(url, true, false, &t, NULL) != RS_OK)
        return NULL;
    MYSQL *m = mysql_init(NULL);
    unsigned proto = t.socket ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
    mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
    if (!mysql_real_connect(m, t.host, t.user, t.password, t.db, t.port, t.socket, 0)) {
        mysql_close(m);
        m = NULL;
    }
    rs_my_target_free(&t);
    return m;
}

/* The mariadb command line client as the URL's account (password through MYSQL_PWD). */
static void my_cli_env(const char *url)
{
    rs_my_target t;
    if (rs_my_parse_url(url, true, false, &t, NULL) != RS_OK)
        return;
    char port[16];
    snprintf(port, sizeof port, "%u", t.port);
    setenv("MYSQL_PWD", t.password ? t.password : "", 1);
    setenv("RS_BENCH_MY_USER", t.user, 1);
    setenv("RS_BENCH_MY_HOST", t.host ? t.host : "127.0.0.1", 1);
    setenv("RS_BENCH_MY_PORT", port, 1);
    setenv("RS_BENCH_MY_DB", t.db, 1);
    rs_my_target_free(&t);
}
#define MY_CLI "mariadb --protocol=TCP -h \"$RS_BENCH_MY_HOST\" -P \"$RS_BENCH_MY_PORT\" -u \"$RS_BENCH_MY_USER\" " \
               "--max-allowed-packet=256M \"$RS_BENCH_MY_DB\""

static void my_drop(const char *url, const char *prefix)
{
    MYSQL *m = my_plain(url);
    if (!m)
        return;
    char sql[256];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS `%1$sobjects`, `%1$sschema_version`", prefix);
    mysql_query(m, sql);
    mysql_close(m);
}

static void bench_mysql_cli(const char *url, const char *dir)
{
    /* our own table, written by the client the documented way (etag and size in the statement) */
    char tbl[64];
    snprintf(tbl, sizeof tbl, "benchcli%ld_", (long)getpid());
    char *u = malloc(strlen(url) + 64);
    sprintf(u, "%s%ctable_prefix=%s", url, strchr(url, '?') ? '&' : '?', tbl);
    rs_storage *s = NULL;
    if (rs_storage_open(u, NULL, &s, NULL) != RS_OK) {
        free(u);
        return;
    }
    rs_storage_close(s);
    my_cli_env(url);
    for (size_t i = 0; i < sizeof SIZES / sizeof SIZES[0]; i++) {
        int n = quick ? SIZES[i].quick_iters : SIZES[i].iters;
        if (n > 30)
            n = 30; /* each is a mariadb process */
        size_t sz = SIZES[i].size;
        uint8_t *data = malloc(sz);
        fill(data, sz);
        char path[4200], cmd[9000];
        snprintf(path, sizeof path, "%s/insert-%zu.sql", dir, sz);
        FILE *f = fopen(path, "w");
        fprintf(f, "SET @d = X'");
        for (size_t k = 0; k < sz; k++)
            fprintf(f, "%02x", data[k]);
        fprintf(f, "';\nREPLACE INTO `%sobjects` (`key`, data, etag, size, updated_ms) VALUES ('bench/cli-%zu', @d, "
                   "LEFT(SHA2(@d, 256), 32), LENGTH(@d), 0);\n",
                tbl, sz);
        fclose(f);
        snprintf(cmd, sizeof cmd, MY_CLI " < '%s' >/dev/null", path);
        bench_cmd("mysql", "mariadb", "PUT", SIZES[i].label, sz, n, cmd);
        snprintf(cmd, sizeof cmd,
                 MY_CLI " -N -B --raw -e \"SELECT data FROM \\`%sobjects\\` WHERE \\`key\\` = 'bench/cli-%zu'\" >/dev/null",
                 tbl, sz);
        bench_cmd("mysql", "mariadb", "GET", SIZES[i].label, sz, n, cmd);
        unlink(path);
        free(data);
    }
    my_drop(url, tbl);
    free(u);
}

static void bench_feast_sql_mysql(const char *url)
{
    MYSQL *m = my_plain(getenv("RS_TEST_MYSQL_ADMIN_URL") ? getenv("RS_TEST_MYSQL_ADMIN_URL") : url);
    if (!m) {
        printf("feast-sql  mysql: no admin connection (RS_TEST_MYSQL_ADMIN_URL)\n");
        return;
    }
    char db[64];
    snprintf(db, sizeof db, "bench_feast%ld", (long)getpid());
    const char *tables[][2] = {{"entities", "entity"},          {"feature_views", "feature_view"},
                               {"data_sources", "data_source"}, {"feature_services", "feature_service"},
                               {"on_demand_feature_views", "feature_view"}, {"projects", "project"}};
    const int rows[] = {50, 200, 200, 30, 20, 1};
    char sql[1024];
    snprintf(sql, sizeof sql, "CREATE DATABASE `%s`", db);
    bool ok = mysql_query(m, sql) == 0;
    snprintf(sql, sizeof sql, "GRANT SELECT ON `%s`.* TO 'regsync'@'%%'", db);
    ok = ok && mysql_query(m, sql) == 0;
    for (size_t i = 0; ok && i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(sql, sizeof sql,
                 "CREATE TABLE `%1$s`.%2$s (%3$s_name VARCHAR(255) NOT NULL, project_id VARCHAR(255) NOT NULL, "
                 "last_updated_timestamp BIGINT NOT NULL, %3$s_proto LONGBLOB NOT NULL, PRIMARY KEY (%3$s_name, "
                 "project_id))",
                 db, tables[i][0], tables[i][1]);
        ok = mysql_query(m, sql) == 0;
        /* 2 KB of pseudo-random bytes per row */
        for (int r = 1; ok && r <= rows[i]; r++) {
            /* 2 KB: 32 x the 64 bytes of SHA-512 of a random number */
            snprintf(sql, sizeof sql,
                     "INSERT INTO `%1$s`.%2$s VALUES ('o%3$d', 'bench', %4$d, UNHEX(REPEAT(SHA2(RAND(), 512), 32)))",
                     db, tables[i][0], r, 1700000000 + r);
            ok = mysql_query(m, sql) == 0;
        }
    }
    if (!ok) {
        printf("feast-sql  mysql setup failed: %s\n", mysql_error(m));
    } else {
        /* the source's URL: the test account on the new database */
        rs_my_target t;
        char *u = NULL;
        if (rs_my_parse_url(url, true, false, &t, NULL) == RS_OK) {
            if (asprintf(&u, "mysql://%s:%s@%s:%u/%s?ssl-mode=DISABLED", t.user, t.password ? t.password : "",
                         t.host ? t.host : "127.0.0.1", t.port, db) < 0)
                u = NULL;
            rs_my_target_free(&t);
        }
        rs_feast_sql *h = NULL;
        rs_error err = {0};
        if (u && rs_feast_sql_open(u, NULL, &h, &err) == RS_OK) {
            uint8_t *data = NULL;
            size_t len = 0;
            char *stamp = NULL;
            int64_t t0 = rs_mono_ns();
            rs_feast_sql_read(h, &data, &len, &stamp, &err);
            double read_ms = (double)(rs_mono_ns() - t0) / 1e6;
            int reps = quick ? 20 : 100;
            double *lat = calloc((size_t)reps, sizeof *lat);
            rs_storage_stats a, b;
            rs_feast_sql_get_stats(h, &a);
            for (int k = 0; k < reps; k++) {
                t0 = rs_mono_ns();
                rs_feast_sql_changed(h, stamp, NULL, NULL);
                lat[k] = (double)(rs_mono_ns() - t0) / 1e6;
            }
            rs_feast_sql_get_stats(h, &b);
            printf("feast-sql  mysql: full read of 501 rows (%zu bytes): %.2f ms; unchanged poll: %.2f requests, %.0f "
                   "result bytes, median %.3f ms\n",
                   len, read_ms, (double)(b.requests - a.requests) / reps, (double)(b.bytes_in - a.bytes_in) / reps,
                   median(lat, reps));
            free(lat);
            free(data);
            free(stamp);
        } else {
            printf("feast-sql  mysql open failed: %s\n", err.msg);
        }
        rs_feast_sql_close(h);
        free(u);
    }
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS `%s`", db);
    mysql_query(m, sql);
    mysql_close(m);
}

int main(int argc, char **argv)
{
    quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    char tmpl[] = "/tmp/rs-bench-XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir) {
        perror("mkdtemp");
        return 1;
    }
    printf("%-10s %-9s %-4s %-6s %5s %11s %10s\n", "backend", "client", "op", "size", "n", "median ms", "MB/s");
    char url[4200];
    snprintf(url, sizeof url, "file://%s/store", dir);
    bench_backend("file", url);
    bench_cp(dir);
    const char *pg = getenv("RS_TEST_PG_URL");
    if (pg && *pg) {
        char *u = malloc(strlen(pg) + 64);
        sprintf(u, "%s%ctable_prefix=bench%ld_", pg, strchr(pg, '?') ? '&' : '?', (long)getpid());
        bench_backend("postgresql", u);
        bench_psql(pg, dir);
        PGconn *c = PQconnectdb(pg);
        char sql[512];
        snprintf(sql, sizeof sql,
                 "DROP TABLE IF EXISTS bench%1$ld_objects, bench%1$ld_schema_version; DROP FUNCTION IF EXISTS "
                 "bench%1$ld_objects_stamp(), bench%1$ld_objects_notify()",
                 (long)getpid());
        PQclear(PQexec(c, sql));
        PQfinish(c);
        free(u);
        bench_watch(pg);
        bench_feast_sql(pg);
    } else {
        printf("postgresql skipped: RS_TEST_PG_URL not set\n");
    }
    const char *my = getenv("RS_TEST_MYSQL_URL");
    if (my && *my) {
        char *u = malloc(strlen(my) + 64);
        char prefix[64];
        snprintf(prefix, sizeof prefix, "bench%ld_", (long)getpid());
        sprintf(u, "%s%ctable_prefix=%s", my, strchr(my, '?') ? '&' : '?', prefix);
        bench_backend("mysql", u);
        bench_mysql_cli(my, dir);
        my_drop(my, prefix);
        free(u);
        bench_feast_sql_mysql(my);
    } else {
        printf("mysql skipped: RS_TEST_MYSQL_URL not set\n");
    }
    const char *s3 = getenv("RS_TEST_S3_URL");
    if (s3 && *s3) {
        char *u = malloc(strlen(s3) + 64);
        const char *q = strchr(s3, '?');
        size_t base = q ? (size_t)(q - s3) : strlen(s3);
        sprintf(u, "%.*s/bench-%ld%s", (int)base, s3, (long)getpid(), q ? q : "");
        bench_backend("s3", u);
        bench_aws(s3, dir);
        free(u);
    } else {
        printf("s3 skipped: RS_TEST_S3_URL not set\n");
    }
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
