/* rs_generate.h: deterministic, Feast-shaped registries for tests and benchmarks.
 *
 * rs_generate builds a feast.core.Registry (the bytes of registry.db) from a seed: projects,
 * entities, data sources of several types (file/parquet, BigQuery, Kafka with a batch source,
 * push, request), feature views with many features and tags, on-demand views with opaque UDF
 * bytes, stream feature views, feature services, permissions, project objects, project metadata
 * and infra. The same params give the same bytes on every machine (own PRNG, no clock, no
 * locale). rs_mutate applies k random object changes the way `feast apply`/`feast materialize`
 * would; rs_shuffle reorders objects and map entries without changing content.
 *
 * Ownership: every *out buffer is malloc'd and belongs to the caller (free()). On error *out is
 * NULL. Every function accepts a NULL err. Inputs to rs_mutate/rs_shuffle are trusted test data:
 * they are parsed with protobuf-c, which bounds neither nesting depth nor size.
 * Details and object shapes: docs/generator.md.
 */
#ifndef RS_GENERATE_H
#define RS_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_error.h"

typedef struct rs_gen_params {
    uint64_t seed;
    size_t target_bytes;      /* approximate size of the encoded registry (within a few %);
                               * 0: use the counts below */
    unsigned projects;        /* default 3 */
    /* Per project. With target_bytes == 0 a 0 means the default (4, 10, 12, 3, 2, 4, 2). With
     * target_bytes > 0 the number of feature views is solved for, a 0 elsewhere scales with it,
     * and a non-zero count other than feature_views is kept as given. When any view exists,
     * data_sources is raised to at least 5 and entities to at least 1 so that every reference
     * resolves. */
    unsigned entities, data_sources, feature_views, on_demand_views, stream_views,
        feature_services, permissions;
    unsigned features_per_view;   /* mean; each view has 75%..125% of it; default 20 */
    unsigned tags_per_object;     /* mean; default 4 */
    size_t udf_bytes;             /* mean size of the pickled-UDF stand-in bodies; default 2048 */
    bool registry_fields;         /* write registry_schema_version "1", version_id, last_updated
                                   * (default true) */
} rs_gen_params;

/* What rs_generate_ex produced (per project counts are the same for every project). */
typedef struct rs_gen_stats {
    unsigned projects;
    unsigned entities, data_sources, feature_views, on_demand_views, stream_views,
        feature_services, permissions;   /* per project */
    uint64_t features;                   /* features of all feature and stream views */
    uint64_t infra_objects;
} rs_gen_stats;

void rs_gen_defaults(rs_gen_params *p);

/* Generates a Feast-shaped registry; *out malloc'd (caller frees). Same params -> same bytes.
 * Returns RS_OK, RS_EINVALID (bad params) or RS_ENOMEM. */
int rs_generate(const rs_gen_params *p, uint8_t **out, size_t *len, rs_error *err);
/* Same, also filling *stats when not NULL. */
int rs_generate_ex(const rs_gen_params *p, uint8_t **out, size_t *len, rs_gen_stats *stats,
                   rs_error *err);

typedef struct rs_mutation_summary {
    unsigned created;    /* new objects */
    unsigned updated;    /* spec changed (and meta.last_updated_timestamp moved) */
    unsigned deleted;
    unsigned meta_only;  /* only meta changed: last_updated_timestamp, and for feature views a
                          * new materialization interval */
} rs_mutation_summary;

/* Applies k random object changes to registry bytes, each to a different object of kind
 * entities, feature_views, feature_services, on_demand_feature_views, data_sources,
 * stream_feature_views, permissions (projects: updates only): update a spec field (ttl, a
 * feature added or removed, a tag changed, description), update meta only, create a new object
 * (unique name), delete one. Like Feast, a changed object moves to the end of its list, and
 * version_id/last_updated are refreshed. Untouched objects and unknown top-level fields are kept
 * byte for byte; fields are written grouped by field number. created + updated + deleted +
 * meta_only == k. Deterministic in (input, seed, k). sum may be NULL.
 * Returns RS_OK, RS_ECORRUPT (input does not parse) or RS_ENOMEM. */
int rs_mutate(const uint8_t *in, size_t n, uint64_t seed, unsigned k, uint8_t **out,
              size_t *outlen, rs_mutation_summary *sum, rs_error *err);

/* Same content, different bytes: permutes the objects within every repeated top-level field and
 * the entries of every map at any depth (each object is repacked by protobuf-c). Top-level fields
 * stay grouped by field number; singular and unknown fields are copied as they are.
 * Returns RS_OK, RS_ECORRUPT or RS_ENOMEM. */
int rs_shuffle(const uint8_t *in, size_t n, uint64_t seed, uint8_t **out, size_t *outlen,
               rs_error *err);

/* What rs_inflate produced. */
typedef struct rs_inflate_stats {
    unsigned copies;            /* copies of the inputs */
    unsigned projects_per_copy; /* distinct project names of the inputs */
    size_t objects;             /* objects of repeated fields written (all copies) */
    size_t copy_bytes;          /* bytes one copy adds */
    size_t base_bytes;          /* registry-level and unknown fields, written once */
} rs_inflate_stats;

/* A registry of about target_bytes (the most copies that fit, at least one) made of copies of the
 * nin input registries: copy k of every object has each project reference (`project`,
 * `project_id`, a Project's name) suffixed with "_r%05u" (k), so keys stay unique and references
 * resolve within a copy; everything else (names, features, UDF bodies, tags, meta) is the
 * input's. Infra tables and feature-view version records are copied and renamed the same way,
 * merged into one infra and one history. registry_schema_version, version_id and last_updated
 * come from the first input, unknown top-level fields from each input once. Output grouped by
 * field number. Deterministic in the inputs and target. Objects are repacked by protobuf-c (same
 * content; field order may differ from the input's). stats may be NULL.
 * Returns RS_OK, RS_EINVALID, RS_ECORRUPT (an input does not parse), RS_ETOOBIG (more than
 * 99999 copies) or RS_ENOMEM. */
int rs_inflate(const uint8_t *const *in, const size_t *in_len, size_t nin, size_t target_bytes, uint8_t **out,
               size_t *outlen, rs_inflate_stats *stats, rs_error *err);

#endif
