/* test_registry.c: codec, object index, canonical form, digest, diff and apply, on every real
 * fixture (../shared) and on generated registries (stands alone without ../shared). */
#include "rs_test.h"

#include "rs_buf.h"
#include "rs_change.h"
#include "rs_diff.h"
#include "rs_generate.h"
#include "rs_registry.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ helpers */

static char **fixtures(size_t *n)
{
    const char *sh = rs_test_shared_dir();
    if (!sh) {
        rs_test_skip("fixture registries", "../shared/fixtures not found (set RS_SHARED_DIR)");
        *n = 0;
        return NULL;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/fixtures/registries", sh);
    return rs_test_list_dir(dir, ".db", n);
}

static void digest_of(const rs_registry *r, char out[65])
{
    uint8_t d[RS_DIGEST_LEN];
    rs_registry_digest(r, d);
    rs_hex(d, RS_DIGEST_LEN, out);
}

static rs_registry *decode_ok(const uint8_t *p, size_t n)
{
    rs_registry *r = NULL;
    rs_error e = {0};
    int rc = rs_registry_decode(p, n, NULL, &r, &e);
    if (rc)
        fprintf(stderr, "decode failed: %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    return r;
}

static rs_registry *gen(uint64_t seed, size_t bytes)
{
    rs_gen_params p;
    rs_gen_defaults(&p);
    p.seed = seed;
    p.target_bytes = bytes;
    uint8_t *b;
    size_t l;
    CU_ASSERT_EQUAL_FATAL(rs_generate(&p, &b, &l, NULL), RS_OK);
    rs_registry *r = decode_ok(b, l);
    free(b);
    return r;
}

static size_t count_kind(const rs_registry *r, uint32_t kind)
{
    size_t k = 0;
    for (size_t i = 0; i < rs_registry_count(r); i++)
        if (rs_registry_at(r, i)->kind == kind)
            k++;
    return k;
}

/* ----------------------------------------------------------- fixture tests */

/* Object counts per kind agree with INDEX.tsv (written by an independent decoder). */
static void test_fixture_counts(void)
{
    const char *sh = rs_test_shared_dir();
    if (!sh) {
        rs_test_skip("fixture counts", "../shared not found");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/fixtures/registries/INDEX.tsv", sh);
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[16384];
    static const struct {
        int col;
        uint32_t kind;
    } cols[] = {{13, 1}, {14, 6}, {15, 12}, {16, 8}, {17, 14}, {18, 7}, {19, 11}, {20, 13}, {21, 17}, {22, 16}, {23, 15}, {24, 2}, {25, 19}};
    int rows = 0;
    CU_ASSERT_PTR_NOT_NULL(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f)) {
        char *fields[40] = {0};
        int nf = 0;
        for (char *s = line, *tok; nf < 40 && (tok = strsep(&s, "\t\n"));)
            fields[nf++] = tok;
        if (nf < 32)
            continue;
        snprintf(path, sizeof path, "%s/fixtures/registries/%s", sh, fields[0]);
        rs_registry *r;
        rs_error e = {0};
        int rc = rs_registry_load_file(path, NULL, &r, &e);
        CU_ASSERT_EQUAL(rc, RS_OK);
        if (rc) {
            fprintf(stderr, "%s: %s\n", fields[0], e.msg);
            continue;
        }
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
            size_t want = (size_t)strtoul(fields[cols[c].col - 1], NULL, 10), got = count_kind(r, cols[c].kind);
            if (want != got)
                fprintf(stderr, "%s: kind %u: INDEX says %zu, decoded %zu\n", fields[0], cols[c].kind, want, got);
            CU_ASSERT_EQUAL(want, got);
        }
        CU_ASSERT_EQUAL(strcmp(fields[25], "yes") == 0, count_kind(r, RS_KIND_INFRA) == 1);
        CU_ASSERT_EQUAL(strcmp(fields[26], "yes") == 0, count_kind(r, RS_KIND_FEATURE_VIEW_VERSION_HISTORY) == 1);
        rs_registry_free(r);
        rows++;
    }
    fclose(f);
    CU_ASSERT(rows >= 30);
}

/* encode(decode(x)) keeps every field: same digest, same protoc text as decoded/, same bytes
 * as the original when the original was already in field order. */
static void test_fixture_roundtrip(void)
{
    size_t n;
    char **files = fixtures(&n);
    if (!files)
        return;
    bool have_protoc = system("protoc --version >/dev/null 2>&1") == 0;
    if (!have_protoc)
        rs_test_skip("protoc text comparison", "protoc not installed (scripts/deps.sh test installs it)");
    char *tmp = rs_test_tmpdir("rt");
    for (size_t i = 0; i < n; i++) {
        uint8_t *orig;
        size_t ol;
        CU_ASSERT_EQUAL_FATAL(rs_read_file(files[i], 0, &orig, &ol, NULL), RS_OK);
        rs_registry *r = decode_ok(orig, ol);
        uint8_t *enc;
        size_t el;
        CU_ASSERT_EQUAL_FATAL(rs_registry_encode(r, &enc, &el, NULL), RS_OK);
        rs_registry *r2 = decode_ok(enc, el);
        char d1[65], d2[65];
        digest_of(r, d1);
        digest_of(r2, d2);
        CU_ASSERT_STRING_EQUAL(d1, d2);
        CU_ASSERT_EQUAL(el, ol); /* nothing lost, nothing added */
        /* the same bytes: object order, field order and unknown fields as in the file */
        CU_ASSERT(el == ol && (ol == 0 || memcmp(enc, orig, ol) == 0));
        if (have_protoc) {
            char enc_path[4096], cmd[16384], txt[4096];
            snprintf(enc_path, sizeof enc_path, "%s/enc.db", tmp);
            snprintf(txt, sizeof txt, "%s/enc.txt", tmp);
            CU_ASSERT_EQUAL(rs_test_write_file(enc_path, enc, el), 0);
            const char *base = strrchr(files[i], '/') + 1;
            snprintf(cmd, sizeof cmd,
                     "protoc -I%s/proto --decode=feast.core.Registry feast/core/Registry.proto < %s > %s && "
                     "cmp -s %s %s/fixtures/registries/decoded/%s.txtpb",
                     RS_SOURCE_DIR, enc_path, txt, txt, rs_test_shared_dir(), base);
            int rc = system(cmd);
            if (rc != 0)
                fprintf(stderr, "protoc text of our encoding differs from decoded/ for %s\n", base);
            CU_ASSERT_EQUAL(rc, 0);
        }
        rs_registry_free(r);
        rs_registry_free(r2);
        free(enc);
        free(orig);
    }
    rs_test_rmrf(tmp);
    free(tmp);
    rs_test_free_list(files, n);
}

static void test_not_registries(void)
{
    const char *sh = rs_test_shared_dir();
    if (!sh) {
        rs_test_skip("not-registries", "../shared not found");
        return;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/fixtures/not-registries", sh);
    size_t n;
    char **files = rs_test_list_dir(dir, NULL, &n);
    CU_ASSERT(n >= 3);
    for (size_t i = 0; i < n; i++) {
        rs_registry *r = NULL;
        rs_error e = {0};
        int rc = rs_registry_load_file(files[i], NULL, &r, &e);
        CU_ASSERT_EQUAL(rc, RS_ECORRUPT);
        CU_ASSERT_PTR_NULL(r);
        CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "not a Feast registry"));
        CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, strrchr(files[i], '/') + 1)); /* names the file */
        /* the SQLite impostors hold no Feast tables: no postgresql:// hint for them */
        if (strstr(e.msg, "SQLite")) {
            CU_ASSERT_PTR_NULL(strstr(e.msg, "postgresql://"));
            CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "without Feast's SQL registry tables"));
        }
        rs_registry_free(r);
    }
    rs_test_free_list(files, n);
}

/* An SQLite file that is Feast's SQL registry gets the hint to read it from PostgreSQL; one with
 * other tables does not. Both are real SQLite files written by libsqlite3. */
static void test_sqlite_impostors(void)
{
    char *tmp = rs_test_tmpdir("sqlite");
    static const char *const schemas[2] = {
        "CREATE TABLE projects (project_id VARCHAR(255) PRIMARY KEY, project_name VARCHAR(255), "
        "last_updated_timestamp BIGINT, project_proto BLOB);"
        "CREATE TABLE feature_views (feature_view_name VARCHAR(255), project_id VARCHAR(255), "
        "last_updated_timestamp BIGINT, feature_view_proto BLOB, PRIMARY KEY (feature_view_name, project_id));"
        "CREATE TABLE managed_infra (infra_name VARCHAR(255), project_id VARCHAR(255), "
        "last_updated_timestamp BIGINT, infra_proto BLOB);"
        "CREATE TABLE feast_metadata (project_id VARCHAR(255), metadata_key VARCHAR(50), metadata_value TEXT, "
        "last_updated_timestamp BIGINT);",
        "CREATE TABLE races (player TEXT, time_ms REAL);"};
    for (int k = 0; k < 2; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/registry-%d.db", tmp, k);
        sqlite3 *db;
        CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
        CU_ASSERT_EQUAL(sqlite3_exec(db, schemas[k], NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        rs_registry *r = NULL;
        rs_error e = {0};
        CU_ASSERT_EQUAL(rs_registry_load_file(path, NULL, &r, &e), RS_ECORRUPT);
        if (k == 0) {
            CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "Feast's SQL registry tables"));
            CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "postgresql://"));
        } else {
            CU_ASSERT_PTR_NULL(strstr(e.msg, "postgresql://"));
            CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "without Feast's SQL registry tables"));
        }
        rs_registry_free(r);
    }
    rs_test_rmrf(tmp);
    free(tmp);
}

/* Truncated and bit-flipped registries: an error or a valid registry, never a crash (ASan). */
static void test_damaged(void)
{
    size_t n;
    char **files = fixtures(&n);
    rs_registry *g = gen(7, 50000);
    uint8_t *gb;
    size_t gl;
    CU_ASSERT_EQUAL_FATAL(rs_registry_encode(g, &gb, &gl, NULL), RS_OK);
    rs_registry_free(g);
    uint64_t s = 12345;
    size_t errors = 0, trials = 0;
    for (size_t i = 0; i <= n; i++) {
        uint8_t *orig;
        size_t ol;
        if (i < n) {
            CU_ASSERT_EQUAL_FATAL(rs_read_file(files[i], 0, &orig, &ol, NULL), RS_OK);
        } else {
            orig = malloc(gl);
            memcpy(orig, gb, gl);
            ol = gl;
        }
        if (ol == 0) {
            free(orig);
            continue;
        }
        for (int t = 0; t < 40; t++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            uint8_t *copy = malloc(ol);
            memcpy(copy, orig, ol);
            size_t len = ol;
            if (t < 15)
                len = (size_t)(s >> 33) % ol; /* truncated */
            else
                copy[(s >> 33) % ol] ^= (uint8_t)(1u << ((s >> 20) & 7)); /* one bit flipped */
            rs_registry *r = NULL;
            rs_error e = {0};
            int rc = rs_registry_decode(copy, len, NULL, &r, &e);
            CU_ASSERT(rc == RS_OK || rc == RS_ECORRUPT);
            if (rc) {
                errors++;
                CU_ASSERT(strlen(e.msg) > 10);
                CU_ASSERT_PTR_NULL(r);
            } else {
                /* whatever decoded must round-trip */
                uint8_t *enc;
                size_t el;
                CU_ASSERT_EQUAL(rs_registry_encode(r, &enc, &el, NULL), RS_OK);
                free(enc);
            }
            trials++;
            rs_registry_free(r);
            free(copy);
        }
        free(orig);
    }
    free(gb);
    rs_test_free_list(files, n);
    CU_ASSERT(errors > trials / 4); /* most damage is detected */
}

/* ------------------------------------------------------- schema checks */

static void put_varint(rs_buf *b, uint64_t v) { rs_buf_varint(b, v); }

static void put_len(rs_buf *b, uint32_t field, const void *p, size_t n)
{
    put_varint(b, (uint64_t)field << 3 | 2);
    put_varint(b, n);
    rs_buf_append(b, p, n);
}

static void test_wrong_message(void)
{
    /* a serialized FeatureView (spec: name 1, project 2) is not a Registry */
    rs_buf spec = {0}, fv = {0}, ent = {0}, reg = {0};
    put_len(&spec, 1, "fv", 2);
    put_len(&spec, 2, "proj", 4);
    put_len(&fv, 1, spec.data, spec.len);
    rs_registry *r = NULL;
    rs_error e = {0};
    int rc = rs_registry_decode(fv.data, fv.len, NULL, &r, &e);
    CU_ASSERT_EQUAL(rc, RS_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "not a Feast registry: entities[0].spec"));
    /* FeatureViewSpec bytes where an EntitySpecV2 belongs: project (2, a string) lands on
     * value_type (2, an enum) */
    put_len(&ent, 1, spec.data, spec.len);
    put_len(&reg, 1, ent.data, ent.len);
    rc = rs_registry_decode(reg.data, reg.len, NULL, &r, &e);
    CU_ASSERT_EQUAL(rc, RS_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "entities[0].spec.value_type"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "wire type 2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "byte offset"));
    /* a varint at top level where Feast has a message */
    uint8_t v[] = {0x08, 0x01};
    rc = rs_registry_decode(v, sizeof v, NULL, &r, &e);
    CU_ASSERT_EQUAL(rc, RS_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "top-level field 1 (entities)"));
    rs_buf_free(&spec);
    rs_buf_free(&fv);
    rs_buf_free(&ent);
    rs_buf_free(&reg);
}

static void test_depth_limit(void)
{
    /* data_sources[0] with batch_source nested 200 deep */
    rs_buf cur = {0};
    put_len(&cur, 20, "leaf", 4);
    for (int i = 0; i < 200; i++) {
        rs_buf next = {0};
        put_len(&next, 26, cur.data, cur.len);
        rs_buf_free(&cur);
        cur = next;
    }
    rs_buf reg = {0};
    put_len(&reg, 12, cur.data, cur.len);
    rs_registry *r = NULL;
    rs_error e = {0};
    int rc = rs_registry_decode(reg.data, reg.len, NULL, &r, &e);
    CU_ASSERT_EQUAL(rc, RS_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "deeper than the limit"));
    rs_limits lim = {.max_depth = 250};
    rc = rs_registry_decode(reg.data, reg.len, &lim, &r, &e);
    CU_ASSERT_EQUAL(rc, RS_OK);
    rs_registry_free(r);
    rs_buf_free(&cur);
    rs_buf_free(&reg);
}

/* Unknown top-level fields, unknown nested fields and unknown enum values survive. */
static void test_unknown_kept(void)
{
    rs_buf spec = {0}, ent = {0}, reg = {0};
    put_len(&spec, 1, "driver", 6);
    put_varint(&spec, 2 << 3 | 0);
    put_varint(&spec, 999); /* value_type: not a ValueType we know */
    put_len(&spec, 9, "p", 1);
    put_len(&spec, 77, "future", 6); /* unknown nested field */
    put_len(&ent, 1, spec.data, spec.len);
    put_len(&reg, 1, ent.data, ent.len);
    put_len(&reg, 9, "\x0a\x00", 2);  /* request_feature_views (removed from Feast) */
    put_len(&reg, 9, "\x0a\x01x", 3); /* twice */
    put_varint(&reg, 40 << 3 | 0);    /* an unknown scalar field */
    put_varint(&reg, 5);
    rs_registry *r = decode_ok(reg.data, reg.len);
    CU_ASSERT_EQUAL(rs_registry_count(r), 3);
    const rs_object *o9 = rs_registry_find(r, 9, "", "", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o9);
    CU_ASSERT_EQUAL(o9->len, 4 + 5);
    const rs_object *ent_o = rs_registry_find(r, 1, "p", "driver", 0);
    CU_ASSERT_PTR_NOT_NULL(ent_o);
    uint8_t *enc;
    size_t el;
    CU_ASSERT_EQUAL(rs_registry_encode(r, &enc, &el, NULL), RS_OK);
    CU_ASSERT_EQUAL(el, reg.len);
    CU_ASSERT(memcmp(enc, reg.data, el) == 0); /* already in field order: byte for byte */
    free(enc);
    rs_registry_free(r);
    rs_buf_free(&spec);
    rs_buf_free(&ent);
    rs_buf_free(&reg);
}

/* ------------------------------------------------------------- digest */

static void test_digest_invariance(void)
{
    for (uint64_t seed = 1; seed <= 20; seed++) {
        rs_gen_params p;
        rs_gen_defaults(&p);
        p.seed = seed;
        p.target_bytes = 20000 + seed * 3000;
        uint8_t *b, *sb;
        size_t l, sl;
        CU_ASSERT_EQUAL_FATAL(rs_generate(&p, &b, &l, NULL), RS_OK);
        CU_ASSERT_EQUAL_FATAL(rs_shuffle(b, l, seed * 77, &sb, &sl, NULL), RS_OK);
        CU_ASSERT_EQUAL(l, sl);
        CU_ASSERT(memcmp(b, sb, l) != 0);
        rs_registry *a = decode_ok(b, l), *c = decode_ok(sb, sl);
        char da[65], dc[65];
        digest_of(a, da);
        digest_of(c, dc);
        CU_ASSERT_STRING_EQUAL(da, dc);
        /* the canonical encodings are identical bytes */
        uint8_t *ca, *cc;
        size_t cal, ccl;
        CU_ASSERT_EQUAL(rs_registry_canonical(a, &ca, &cal, NULL), RS_OK);
        CU_ASSERT_EQUAL(rs_registry_canonical(c, &cc, &ccl, NULL), RS_OK);
        CU_ASSERT_EQUAL(cal, ccl);
        CU_ASSERT(cal == ccl && memcmp(ca, cc, cal) == 0);
        /* the canonical encoding is itself a registry with the same digest */
        rs_registry *cr = decode_ok(ca, cal);
        char dcr[65];
        digest_of(cr, dcr);
        CU_ASSERT_STRING_EQUAL(da, dcr);
        rs_registry_free(cr);
        free(ca);
        free(cc);
        rs_registry_free(a);
        rs_registry_free(c);
        free(b);
        free(sb);
    }
}

/* A changed object changes the digest; the content digest ignores version_id. */
static void test_digest_sensitivity(void)
{
    rs_registry *r = gen(3, 30000);
    uint8_t d0[32], c0[32], d1[32], c1[32];
    rs_registry_digest(r, d0);
    rs_registry_content_digest(r, c0);
    CU_ASSERT_EQUAL(rs_registry_put(r, RS_KIND_VERSION_ID, "", "", 0, (const uint8_t *)"other-uuid", 10, NULL), RS_OK);
    rs_registry_digest(r, d1);
    rs_registry_content_digest(r, c1);
    CU_ASSERT(memcmp(d0, d1, 32) != 0);
    CU_ASSERT(memcmp(c0, c1, 32) == 0);
    /* delete an entity: both change */
    const rs_object *o = NULL;
    for (size_t i = 0; i < rs_registry_count(r) && !o; i++)
        if (rs_registry_at(r, i)->kind == RS_KIND_ENTITIES)
            o = rs_registry_at(r, i);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    char p[256], nm[256];
    snprintf(p, sizeof p, "%s", o->project);
    snprintf(nm, sizeof nm, "%s", o->name);
    CU_ASSERT_EQUAL(rs_registry_delete(r, RS_KIND_ENTITIES, p, nm, 0, NULL), RS_OK);
    uint8_t c2[32];
    rs_registry_content_digest(r, c2);
    CU_ASSERT(memcmp(c1, c2, 32) != 0);
    CU_ASSERT_EQUAL(rs_registry_delete(r, RS_KIND_ENTITIES, p, nm, 0, NULL), RS_ENOTFOUND);
    rs_registry_free(r);
}

/* ---------------------------------------------------------- diff / apply */

static void assert_same_bytes(const rs_registry *x, const rs_registry *b)
{
    uint8_t *xb, *bb;
    size_t xl, bl;
    CU_ASSERT_EQUAL_FATAL(rs_registry_encode(x, &xb, &xl, NULL), RS_OK);
    CU_ASSERT_EQUAL_FATAL(rs_registry_encode(b, &bb, &bl, NULL), RS_OK);
    bool same = xl == bl && (xl == 0 || memcmp(xb, bb, xl) == 0);
    if (!same)
        fprintf(stderr, "applied registry: %zu bytes, source: %zu bytes, not the same bytes\n", xl, bl);
    CU_ASSERT(same);
    free(xb);
    free(bb);
}

static void check_apply(const rs_registry *a, const rs_registry *b)
{
    rs_change *c;
    rs_error e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_change_between(a, b, &c, &e), RS_OK);
    c->version = 1;
    /* through the wire form, as the log carries it */
    uint8_t *w;
    size_t wl;
    CU_ASSERT_EQUAL_FATAL(rs_change_encode(c, &w, &wl, NULL), RS_OK);
    rs_change *c2;
    int rc = rs_change_decode(w, wl, &c2, &e);
    if (rc)
        fprintf(stderr, "change decode: %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, RS_OK);
    rs_registry *x = rs_registry_clone(a);
    rc = rs_change_apply(x, c2, RS_APPLY_CHECK_PARENT | RS_APPLY_CHECK_RESULT, &e);
    if (rc)
        fprintf(stderr, "apply: %s\n", e.msg);
    CU_ASSERT_EQUAL(rc, RS_OK);
    char dx[65], db[65];
    digest_of(x, dx);
    digest_of(b, db);
    CU_ASSERT_STRING_EQUAL(dx, db);
    /* and the result is b byte for byte: order, field order, unknown fields */
    assert_same_bytes(x, b);
    /* an entry without the order information (written before Operation.position existed)
     * still applies to the same digest */
    rs_registry *y = rs_registry_clone(a);
    for (size_t i = 0; i < c2->n_ops; i++)
        c2->ops[i].position = 0;
    size_t nm = c2->n_moves;
    c2->n_moves = 0;
    rc = rs_change_apply(y, c2, RS_APPLY_CHECK_PARENT | RS_APPLY_CHECK_RESULT, &e);
    c2->n_moves = nm;
    CU_ASSERT_EQUAL(rc, RS_OK);
    rs_registry_free(y);
    /* applying twice is refused (parent digest) and leaves x as it was */
    if (memcmp(c2->parent_digest, c2->result_digest, RS_DIGEST_LEN) != 0) {
        rc = rs_change_apply(x, c2, RS_APPLY_CHECK_PARENT, &e);
        CU_ASSERT_EQUAL(rc, RS_ECONFLICT);
        digest_of(x, dx);
        CU_ASSERT_STRING_EQUAL(dx, db);
    }
    rs_registry_free(x);
    rs_change_free(c);
    rs_change_free(c2);
    free(w);
}

static void test_apply_fixture_pairs(void)
{
    size_t n;
    char **files = fixtures(&n);
    if (!files)
        return;
    rs_registry **r = calloc(n, sizeof *r);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL_FATAL(rs_registry_load_file(files[i], NULL, &r[i], NULL), RS_OK);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            check_apply(r[i], r[j]);
    for (size_t i = 0; i < n; i++)
        rs_registry_free(r[i]);
    free(r);
    rs_test_free_list(files, n);
}

static void test_apply_generated_property(void)
{
    for (uint64_t seed = 1; seed <= 150; seed++) {
        rs_gen_params p;
        rs_gen_defaults(&p);
        p.seed = seed;
        p.target_bytes = 5000 + (seed % 10) * 4000;
        uint8_t *b, *m, *m2;
        size_t l, ml, m2l;
        CU_ASSERT_EQUAL_FATAL(rs_generate(&p, &b, &l, NULL), RS_OK);
        unsigned k = 1 + (unsigned)(seed % 12);
        CU_ASSERT_EQUAL_FATAL(rs_mutate(b, l, seed * 31, k, &m, &ml, NULL, NULL), RS_OK);
        CU_ASSERT_EQUAL_FATAL(rs_mutate(m, ml, seed * 37, k, &m2, &m2l, NULL, NULL), RS_OK);
        rs_registry *a = decode_ok(b, l), *c = decode_ok(m, ml), *d = decode_ok(m2, m2l);
        check_apply(a, c);
        check_apply(c, d);
        check_apply(a, d);
        check_apply(d, a);
        rs_registry_free(a);
        rs_registry_free(c);
        rs_registry_free(d);
        free(b);
        free(m);
        free(m2);
    }
}

/* Reordered sources: objects created in the middle of each kind's list, updates, deletes and
 * renames on a shuffled registry, and a whole-registry replacement; the result is the source's
 * bytes every time. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static void test_apply_keeps_source_order(void)
{
    size_t moved = 0;
    uint64_t seeds = SANITIZED ? 50 : 200; /* a sanitizer build is several times slower */
    for (uint64_t seed = 1; seed <= seeds; seed++) {
        rs_gen_params p;
        rs_gen_defaults(&p);
        p.seed = seed;
        p.target_bytes = 4000 + (seed % 7) * 3000;
        uint8_t *b, *s1, *m, *s2;
        size_t l, s1l, ml, s2l;
        CU_ASSERT_EQUAL_FATAL(rs_generate(&p, &b, &l, NULL), RS_OK);
        CU_ASSERT_EQUAL_FATAL(rs_shuffle(b, l, seed * 7, &s1, &s1l, NULL), RS_OK);
        CU_ASSERT_EQUAL_FATAL(rs_mutate(s1, s1l, seed * 13, 1 + (unsigned)(seed % 10), &m, &ml, NULL, NULL), RS_OK);
        CU_ASSERT_EQUAL_FATAL(rs_shuffle(m, ml, seed * 17, &s2, &s2l, NULL), RS_OK);
        rs_registry *a = decode_ok(b, l), *sa = decode_ok(s1, s1l), *mm = decode_ok(m, ml), *sm = decode_ok(s2, s2l);
        check_apply(a, sa);  /* only the order changed */
        check_apply(sa, mm); /* Feast-like edits on a reordered registry */
        check_apply(mm, sm); /* reorder after edits */
        check_apply(a, sm);
        rs_change *c;
        CU_ASSERT_EQUAL_FATAL(rs_change_between(a, sa, &c, NULL), RS_OK);
        moved += c->n_moves;
        rs_change_free(c);
        /* a whole-registry replacement by another generated registry */
        rs_registry *other = gen(seed + 1000, 6000);
        check_apply(sm, other);
        check_apply(other, a);
        rs_registry_free(other);
        rs_registry_free(a);
        rs_registry_free(sa);
        rs_registry_free(mm);
        rs_registry_free(sm);
        free(b);
        free(s1);
        free(m);
        free(s2);
    }
    CU_ASSERT(moved > 0); /* the shuffles did exercise moves */
}

/* Order information that does not fit the registry is refused before anything changes. */
static void test_apply_refuses_bad_positions(void)
{
    rs_registry *a = gen(12, 20000);
    uint8_t *b0, *m;
    size_t l0, ml;
    CU_ASSERT_EQUAL_FATAL(rs_registry_encode(a, &b0, &l0, NULL), RS_OK);
    CU_ASSERT_EQUAL_FATAL(rs_mutate(b0, l0, 9, 6, &m, &ml, NULL, NULL), RS_OK);
    rs_registry *b = decode_ok(m, ml);
    rs_change *c;
    CU_ASSERT_EQUAL_FATAL(rs_change_between(a, b, &c, NULL), RS_OK);
    size_t p1 = c->n_ops, p2 = c->n_ops;
    for (size_t k = 0; k < c->n_ops; k++)
        if (c->ops[k].type == RS_OP_PUT) {
            if (p1 == c->n_ops)
                p1 = k;
            else if (p2 == c->n_ops)
                p2 = k;
        }
    CU_ASSERT_FATAL(p2 < c->n_ops);
    char before[65], after[65];
    digest_of(a, before);
    uint32_t keep1 = c->ops[p1].position;
    for (int t = 0; t < 3; t++) {
        c->ops[p1].position = t == 0 ? (uint32_t)rs_registry_count(b) + 1 : t == 1 ? c->ops[p2].position : 0;
        rs_error e = {0};
        int rc = rs_change_apply(a, c, RS_APPLY_CHECK_PARENT | RS_APPLY_CHECK_RESULT, &e);
        if (t < 2) {
            CU_ASSERT_EQUAL(rc, RS_ECORRUPT);
            CU_ASSERT(strstr(e.msg, "position") != NULL);
            digest_of(a, after);
            CU_ASSERT_STRING_EQUAL(before, after);
        } else {
            CU_ASSERT_EQUAL(rc, RS_OK); /* no position: allowed, as in old entries */
        }
    }
    c->ops[p1].position = keep1;
    rs_change_free(c);
    rs_registry_free(a);
    rs_registry_free(b);
    free(b0);
    free(m);
}

/* A tampered change is refused and the registry stays as it was. */
static void test_apply_refuses_tampering(void)
{
    rs_registry *a = gen(11, 20000);
    uint8_t *b0, *m;
    size_t l0, ml;
    CU_ASSERT_EQUAL_FATAL(rs_registry_encode(a, &b0, &l0, NULL), RS_OK);
    CU_ASSERT_EQUAL_FATAL(rs_mutate(b0, l0, 5, 6, &m, &ml, NULL, NULL), RS_OK);
    rs_registry *b = decode_ok(m, ml);
    rs_change *c;
    CU_ASSERT_EQUAL_FATAL(rs_change_between(a, b, &c, NULL), RS_OK);
    /* flip a byte of the first PUT's object bytes */
    size_t k;
    for (k = 0; k < c->n_ops && c->ops[k].type != RS_OP_PUT; k++)
        ;
    CU_ASSERT_FATAL(k < c->n_ops);
    c->ops[k].data[c->ops[k].len / 2] ^= 0x20;
    char before[65], after[65];
    digest_of(a, before);
    rs_error e = {0};
    int rc = rs_change_apply(a, c, RS_APPLY_CHECK_PARENT | RS_APPLY_CHECK_RESULT, &e);
    CU_ASSERT(rc == RS_ECORRUPT);
    CU_ASSERT(strlen(e.msg) > 0);
    digest_of(a, after);
    CU_ASSERT_STRING_EQUAL(before, after);
    rs_change_free(c);
    rs_registry_free(a);
    rs_registry_free(b);
    free(b0);
    free(m);
}

/* A meta-only change is classified meta and hidden from the plan unless --all. */
static void test_diff_classes(void)
{
    size_t n;
    char **files = fixtures(&n);
    rs_registry *a = gen(21, 30000);
    uint8_t *b0, *m;
    size_t l0, ml;
    CU_ASSERT_EQUAL_FATAL(rs_registry_encode(a, &b0, &l0, NULL), RS_OK);
    rs_mutation_summary sum = {0};
    /* try seeds until the mutator made exactly one meta-only change */
    uint64_t seed;
    for (seed = 1; seed < 200; seed++) {
        CU_ASSERT_EQUAL_FATAL(rs_mutate(b0, l0, seed, 1, &m, &ml, &sum, NULL), RS_OK);
        if (sum.meta_only == 1)
            break;
        free(m);
    }
    CU_ASSERT_FATAL(seed < 200);
    rs_registry *b = decode_ok(m, ml);
    rs_diff *d;
    CU_ASSERT_EQUAL_FATAL(rs_diff_compute(a, b, RS_DIFF_PROPS, &d, NULL), RS_OK);
    size_t meta = 0, reg = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (d->items[i].classes == RS_CLASS_META) {
            meta++;
            CU_ASSERT(d->items[i].nprops > 0);
            for (size_t p = 0; p < d->items[i].nprops; p++)
                CU_ASSERT_EQUAL(strncmp(d->items[i].props[p].path, "meta", 4), 0);
        }
        if (d->items[i].classes == RS_CLASS_REGISTRY)
            reg++;
    }
    CU_ASSERT_EQUAL(meta, 1);
    CU_ASSERT(reg >= 1); /* version_id / last_updated moved */
    CU_ASSERT_EQUAL(rs_diff_count(d, RS_CLASS_SPEC), 0);
    CU_ASSERT_EQUAL(rs_diff_count(d, RS_CLASS_SPEC | RS_CLASS_META | RS_CLASS_REGISTRY), d->n);
    char *txt = NULL;
    size_t tl = 0;
    FILE *f = open_memstream(&txt, &tl);
    rs_diff_print_plan(d, RS_CLASS_SPEC, f);
    fclose(f);
    CU_ASSERT_STRING_EQUAL(txt, "No changes to registry\n");
    free(txt);
    rs_diff_free(d);
    rs_registry_free(a);
    rs_registry_free(b);
    free(b0);
    free(m);
    rs_test_free_list(files, n);
}

/* Plan text names created, deleted and updated objects and the changed property. */
static void test_plan_text(void)
{
    rs_buf s1 = {0}, s2 = {0}, e1 = {0}, e2 = {0}, ra = {0}, rb = {0};
    put_len(&s1, 1, "driver", 6);
    put_len(&s1, 3, "old description", 15);
    put_len(&s1, 9, "p", 1);
    put_len(&s2, 1, "driver", 6);
    put_len(&s2, 3, "new description", 15);
    put_len(&s2, 9, "p", 1);
    put_len(&e1, 1, s1.data, s1.len);
    put_len(&e2, 1, s2.data, s2.len);
    put_len(&ra, 1, e1.data, e1.len);
    put_len(&rb, 1, e2.data, e2.len);
    rs_buf ds = {0};
    put_len(&ds, 20, "src", 3);
    put_len(&ds, 21, "p", 1);
    put_len(&rb, 12, ds.data, ds.len);
    rs_registry *a = decode_ok(ra.data, ra.len), *b = decode_ok(rb.data, rb.len);
    rs_diff *d;
    CU_ASSERT_EQUAL_FATAL(rs_diff_compute(a, b, RS_DIFF_PROPS, &d, NULL), RS_OK);
    char *txt = NULL;
    size_t tl = 0;
    FILE *f = open_memstream(&txt, &tl);
    rs_diff_print_plan(d, RS_CLASS_SPEC, f);
    fclose(f);
    CU_ASSERT_STRING_EQUAL(txt, "Updated entity driver\n\tdescription: \"old description\" -> \"new description\"\n"
                                "Created data source src\n");
    free(txt);
    rs_diff_free(d);
    rs_registry_free(a);
    rs_registry_free(b);
    rs_buf_free(&s1);
    rs_buf_free(&s2);
    rs_buf_free(&e1);
    rs_buf_free(&e2);
    rs_buf_free(&ra);
    rs_buf_free(&rb);
    rs_buf_free(&ds);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("registry", NULL, NULL);
    CU_add_test(s, "fixture object counts match INDEX.tsv", test_fixture_counts);
    CU_add_test(s, "fixtures round-trip (digest, size, protoc text)", test_fixture_roundtrip);
    CU_add_test(s, "not-registries are refused with a reason", test_not_registries);
    CU_add_test(s, "SQLite files: the postgresql:// hint only for Feast's SQL registry", test_sqlite_impostors);
    CU_add_test(s, "truncated and bit-flipped input", test_damaged);
    CU_add_test(s, "another message type is refused", test_wrong_message);
    CU_add_test(s, "nesting depth is bounded", test_depth_limit);
    CU_add_test(s, "unknown fields and enum values are kept", test_unknown_kept);
    CU_add_test(s, "digest ignores object and map order", test_digest_invariance);
    CU_add_test(s, "digest follows content; content digest ignores version_id", test_digest_sensitivity);
    CU_add_test(s, "apply(diff(a,b),a) == b for every fixture pair", test_apply_fixture_pairs);
    CU_add_test(s, "apply(diff(a,b),a) == b for generated pairs", test_apply_generated_property);
    CU_add_test(s, "apply gives the source's bytes: reorders, mid-list creations, replacements",
                test_apply_keeps_source_order);
    CU_add_test(s, "bad positions refused, state kept", test_apply_refuses_bad_positions);
    CU_add_test(s, "tampered change refused, state kept", test_apply_refuses_tampering);
    CU_add_test(s, "diff classes: meta-only hidden from the plan", test_diff_classes);
    CU_add_test(s, "plan text", test_plan_text);
    return rs_test_run();
}
