/* rs_gen_impl.h (private to registry/): the pieces shared by the generator, the mutator and
 * the shuffler: a deterministic PRNG, a bump arena (also used as protobuf-c allocator), the object
 * builders and a top-level wire scanner. */
#ifndef RS_GEN_IMPL_H
#define RS_GEN_IMPL_H

#include <protobuf-c/protobuf-c.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feast/core/Registry.pb-c.h"
#include "rs_error.h"
#include "rs_generate.h"

/* ---- PRNG: splitmix64, identical on every platform ---- */
typedef struct gen_rng {
    uint64_t s;
} gen_rng;

uint64_t gen_next(gen_rng *r);
uint32_t gen_below(gen_rng *r, uint32_t n);            /* uniform in [0, n); 0 when n == 0 */
bool gen_chance(gen_rng *r, unsigned percent);
/* An independent stream for (seed, a, b, c, d). */
gen_rng gen_stream(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d);

/* ---- arena: bump allocation, freed all at once; OOM longjmps to *oom ---- */
typedef struct gen_chunk gen_chunk;
typedef struct gen_arena {
    gen_chunk *head;
    jmp_buf *oom;                /* must be set before allocating */
    ProtobufCAllocator pc;       /* protobuf-c allocator backed by this arena */
} gen_arena;

void ga_init(gen_arena *a, jmp_buf *oom);
void *ga_alloc(gen_arena *a, size_t n);               /* zeroed, 16-aligned */
char *ga_strdup(gen_arena *a, const char *s);
char *ga_printf(gen_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void *ga_msg(gen_arena *a, const ProtobufCMessageDescriptor *d);  /* initialised message */
void ga_reset(gen_arena *a);  /* frees everything but keeps one chunk */
void ga_free(gen_arena *a);

/* ---- generator context ---- */
typedef struct gen_counts {
    unsigned entities, data_sources, feature_views, on_demand_views, stream_views,
        feature_services, permissions;
} gen_counts;

/* stream ids for gen_stream(seed, kind, project, index, stream) */
enum { GS_MAIN = 0, GS_FEATURES = 1, GS_FLAGS = 2, GS_META = 3, GS_UDF = 4 };

typedef struct gen_ctx {
    gen_arena *a;
    uint64_t seed;
    unsigned features_per_view, tags_per_object;
    size_t udf_bytes;
    int64_t t0;             /* base wall time of the registry (seconds) */
    unsigned proj;          /* project index, for streams */
    const char *project;    /* project name */
    gen_counts c;           /* counts in this project (references resolve within them) */
} gen_ctx;

void gen_project_name(unsigned idx, char *buf, size_t n);
int64_t gen_base_time(uint64_t seed);

/* Object builders: messages allocated in ctx->a. idx picks the object (names carry it). */
Feast__Core__Entity *gen_entity(gen_ctx *g, unsigned idx);
Feast__Core__DataSource *gen_data_source(gen_ctx *g, unsigned idx, bool embedded);
Feast__Core__FeatureView *gen_feature_view(gen_ctx *g, unsigned idx);
Feast__Core__OnDemandFeatureView *gen_odfv(gen_ctx *g, unsigned idx);
Feast__Core__StreamFeatureView *gen_sfv(gen_ctx *g, unsigned idx);
Feast__Core__FeatureService *gen_feature_service(gen_ctx *g, unsigned idx);
Feast__Core__Permission *gen_permission(gen_ctx *g, unsigned idx);
Feast__Core__Project *gen_project(gen_ctx *g);
Feast__Core__ProjectMetadata *gen_project_metadata(gen_ctx *g);
/* The infra object of feature view idx, or NULL when that view is not online. */
Feast__Core__InfraObject *gen_infra_object(gen_ctx *g, unsigned idx);
/* Random uuid4-style string into buf (37 bytes). */
void gen_uuid(gen_rng *r, char *buf);

/* ---- small message helpers (rs_gen_util.c); messages allocated in g->a ---- */
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(r, arr) ((arr)[gen_below((r), COUNT(arr))])
#define NEW(T, d) ((T *)ga_msg(g->a, &(d)))
/* sets obj->tags/n_tags: about `mean` tags with distinct keys (needs g and r in scope) */
#define TAGS(obj, desc, mean) ((obj)->tags = gen_tags(g, r, &(desc), (mean), &(obj)->n_tags))
typedef Feast__Types__ValueType__Enum vtype;

/* every map<string,string> entry type has this layout */
typedef struct kv_entry {
    ProtobufCMessage base;
    char *key;
    char *value;
} kv_entry;

#define GEN_NTEAMS 6
extern const char *const GEN_TEAMS[GEN_NTEAMS];

/* entries of map type ed (a kv_entry layout), returned as void* for the caller's cast */
void *gen_tags(gen_ctx *g, gen_rng *r, const ProtobufCMessageDescriptor *ed, unsigned mean, size_t *n);
/* a feature with a random value type, sometimes tags and a description, rarely a vector */
Feast__Core__FeatureSpecV2 *gen_feature(gen_ctx *g, gen_rng *r, const char *name);
Feast__Core__FeatureSpecV2 *gen_plain_feature(gen_ctx *g, const char *name, vtype t);
char *gen_owner(gen_ctx *g, gen_rng *r);
/* t plus a random sub-second part (microsecond precision, as Python writes) */
Google__Protobuf__Timestamp *gen_ts(gen_ctx *g, gen_rng *r, int64_t t);
Google__Protobuf__Duration *gen_duration(gen_ctx *g, int64_t s);
/* created within 60 days after g->t0, last_updated equal or up to 10 days later; *cr = created */
void gen_meta_times(gen_ctx *g, gen_rng *r, Google__Protobuf__Timestamp **created,
                    Google__Protobuf__Timestamp **updated, int64_t *cr);

/* ---- top-level wire scan ---- */
typedef struct wfield {
    uint32_t num;
    uint32_t wt;
    size_t off, end;      /* the whole field, tag included: in[off, end) */
    size_t poff, plen;    /* payload of a length-delimited field */
} wfield;

/* Splits a message into its fields. *out malloc'd. RS_ECORRUPT on malformed input. */
int rsg_wire_scan(const uint8_t *p, size_t n, wfield **out, size_t *nf, rs_error *err);
/* The payload of the last length-delimited occurrence of field num, or false. */
bool rsg_wire_find(const uint8_t *p, size_t n, uint32_t num, const uint8_t **v, size_t *vlen);
/* The descriptor of a Registry field that holds messages, or NULL. */
const ProtobufCMessageDescriptor *gen_kind_desc(uint32_t num);

#endif
