/* rs_registry.h: a Feast registry (feast.core.Registry, the bytes of registry.db) as a set of
 * objects, with a canonical digest.
 *
 * An object is one element of a repeated top-level field of Registry, keyed by
 * (kind = the Registry field number, project, name, ordinal). Singular top-level fields
 * (registry_schema_version 3, version_id 4, last_updated 5, infra 10,
 * feature_view_version_history 18) are singleton objects with empty project and name. A top-level
 * field this build does not know is an opaque singleton holding every occurrence of that field
 * (tag included), byte for byte. Where project and name live per kind: docs/objects.md.
 *
 * Ownership: rs_registry_decode copies nothing it does not need: the registry keeps its own
 * copy of the input (or takes the caller's buffer with rs_registry_decode_take). Object pointers
 * returned by the accessors are borrowed and stay valid until the registry is modified or freed.
 * Every function accepts a NULL err; rs_registry_free accepts NULL.
 */
#ifndef RS_REGISTRY_H
#define RS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_error.h"

#define RS_DIGEST_LEN 32

/* Registry field numbers (kinds). */
enum {
    RS_KIND_ENTITIES = 1,
    RS_KIND_FEATURE_TABLES = 2,
    RS_KIND_REGISTRY_SCHEMA_VERSION = 3,
    RS_KIND_VERSION_ID = 4,
    RS_KIND_LAST_UPDATED = 5,
    RS_KIND_FEATURE_VIEWS = 6,
    RS_KIND_FEATURE_SERVICES = 7,
    RS_KIND_ON_DEMAND_FEATURE_VIEWS = 8,
    RS_KIND_REQUEST_FEATURE_VIEWS = 9, /* removed from Feast; kept opaque */
    RS_KIND_INFRA = 10,
    RS_KIND_SAVED_DATASETS = 11,
    RS_KIND_DATA_SOURCES = 12,
    RS_KIND_VALIDATION_REFERENCES = 13,
    RS_KIND_STREAM_FEATURE_VIEWS = 14,
    RS_KIND_PROJECT_METADATA = 15,
    RS_KIND_PERMISSIONS = 16,
    RS_KIND_PROJECTS = 17,
    RS_KIND_FEATURE_VIEW_VERSION_HISTORY = 18,
    RS_KIND_LABEL_VIEWS = 19,
};

typedef struct rs_limits {
    size_t max_registry_bytes;  /* 0: 1 GiB */
    size_t max_object_bytes;    /* 0: 256 MiB */
    unsigned max_depth;         /* nesting of messages; 0: 64 */
    uint32_t max_unknown_field; /* highest unknown top-level field number accepted; 0: 64 */
} rs_limits;

typedef struct rs_object {
    uint32_t kind;
    uint32_t ordinal;         /* 0 unless several objects share (kind, project, name) */
    const char *project;      /* "" when none */
    const char *name;         /* "" for singletons */
    const uint8_t *data;      /* the field's payload (opaque kinds: tagged occurrences) */
    size_t len;
    uint8_t hash[RS_DIGEST_LEN]; /* SHA-256 of the canonical form */
} rs_object;

typedef struct rs_registry rs_registry;

/* Decodes registry.db bytes. Checks the wire format of every field the schema knows (types,
 * lengths, nesting depth, UTF-8 strings), so that a file that is not a Feast registry (SQLite,
 * text, another message) is refused with RS_ECORRUPT and a message naming the field path and
 * byte offset. limits may be NULL. */
int rs_registry_decode(const uint8_t *data, size_t len, const rs_limits *limits, rs_registry **out,
                       rs_error *err);
/* Same, taking ownership of data (malloc'd) on success and on failure. */
int rs_registry_decode_take(uint8_t *data, size_t len, const rs_limits *limits, rs_registry **out,
                            rs_error *err);
/* Reads and decodes a local file; errors are prefixed with the path. */
int rs_registry_load_file(const char *path, const rs_limits *limits, rs_registry **out, rs_error *err);

/* An empty registry. */
rs_registry *rs_registry_new(void);
rs_registry *rs_registry_clone(const rs_registry *r);
void rs_registry_free(rs_registry *r);

/* Serializes the objects in the registry's order: the order of the decoded file (a singular or
 * unknown top-level field where it first occurred), with the changes put and
 * rs_registry_set_positions made since. Each object is written as its tag, its length and its
 * bytes exactly as decoded or put, so decoding a file written with minimal length varints and
 * each singular field once (as protobuf writers do) and encoding it gives the same bytes.
 * *out is malloc'd (caller frees; non-NULL even when empty). */
int rs_registry_encode(const rs_registry *r, uint8_t **out, size_t *len, rs_error *err);

/* The bytes rs_registry_encode would return, handed to sink object by object without building
 * them (for writing a large registry with bounded memory): head is the object's tag and length
 * (head_len <= 20; 0 for an opaque kind, whose data holds its tags), data the object's bytes;
 * both borrowed for the call only. Stops at and returns the first non-zero return of sink. */
typedef int (*rs_encode_sink)(void *ctx, const uint8_t *head, size_t head_len, const uint8_t *data, size_t data_len);
int rs_registry_encode_to(const rs_registry *r, rs_encode_sink sink, void *ctx);
/* The length of rs_registry_encode's output. O(count). */
size_t rs_registry_encoded_size(const rs_registry *r);
/* Objects in encode order. */
size_t rs_registry_count(const rs_registry *r);
const rs_object *rs_registry_at(const rs_registry *r, size_t i);
const rs_object *rs_registry_find(const rs_registry *r, uint32_t kind, const char *project, const char *name,
                                  uint32_t ordinal);

/* Inserts or replaces an object (validated and canonicalized like decode). For singletons
 * project and name are "". For opaque kinds data is the tagged occurrences. A replaced object
 * keeps its place in the order; a new one goes after the last object of the same or a lower
 * kind (fields this build does not know are passed over). */
int rs_registry_put(rs_registry *r, uint32_t kind, const char *project, const char *name, uint32_t ordinal,
                    const uint8_t *data, size_t len, rs_error *err);
/* Where an object goes in the order: position is 1-based over the whole registry. */
typedef struct rs_position {
    uint32_t kind;
    const char *project;
    const char *name;
    uint32_t ordinal;
    uint32_t position;
} rs_position;

/* Moves the k listed objects to their positions; every other object keeps its relative order and
 * fills the remaining places. RS_ECORRUPT (r unchanged) when an object is missing, a position is
 * outside 1..count, or two entries share a position or an object. O(count + k). */
int rs_registry_set_positions(rs_registry *r, const rs_position *v, size_t k, rs_error *err);

/* Removes an object; RS_ENOTFOUND when absent. */
int rs_registry_delete(rs_registry *r, uint32_t kind, const char *project, const char *name, uint32_t ordinal,
                       rs_error *err);

/* The digest of everything, and of the content only (kinds 3, 4, 5 left out). O(1): kept up to
 * date by decode, put and delete. */
void rs_registry_digest(const rs_registry *r, uint8_t out[RS_DIGEST_LEN]);
void rs_registry_content_digest(const rs_registry *r, uint8_t out[RS_DIGEST_LEN]);
/* Sub-digests, computed on demand over the objects of one kind / one project. */
void rs_registry_kind_digest(const rs_registry *r, uint32_t kind, uint8_t out[RS_DIGEST_LEN]);
void rs_registry_project_digest(const rs_registry *r, const char *project, uint8_t out[RS_DIGEST_LEN]);

/* Canonical encoding of the whole registry: objects sorted by key, each in canonical form.
 * Independent of list and map order. *out malloc'd. */
int rs_registry_canonical(const rs_registry *r, uint8_t **out, size_t *len, rs_error *err);

/* Distinct non-empty projects named by objects, sorted. The array is malloc'd (caller frees it);
 * the strings are borrowed from r and valid until r changes. */
const char **rs_registry_projects(const rs_registry *r, size_t *n);

/* A new registry holding only the objects whose project passes keep(project, ctx); objects
 * without a project (singletons) are always kept. */
int rs_registry_filter(const rs_registry *r, bool (*keep)(const char *project, void *ctx), void *ctx,
                       rs_registry **out, rs_error *err);

/* Kind metadata. NULL / "" for unknown kinds. */
const char *rs_kind_field_name(uint32_t kind);   /* "feature_views" */
const char *rs_kind_json_name(uint32_t kind);    /* "featureViews" */
const char *rs_kind_plan_name(uint32_t kind);    /* "feature view" */
/* Kind from a Registry field name ("feature_views") or JSON name; 0 when unknown. */
uint32_t rs_kind_from_name(const char *name);
bool rs_kind_is_known(uint32_t kind);
bool rs_kind_is_singleton(uint32_t kind);
/* Registry-level kinds: registry_schema_version, version_id, last_updated. */
bool rs_kind_is_registry_level(uint32_t kind);
/* The field of an object of this kind that holds its meta (timestamps, materialization
 * intervals): 2 for spec/meta kinds, 50 for data sources; 0 when the kind has none. */
uint32_t rs_kind_meta_field(uint32_t kind);

/* Object bytes made of `base` with every occurrence of top-level field `field` replaced by the
 * occurrences of that field in `donor` (none: the field is removed). Wire-level; both inputs
 * must be well-formed messages. *out malloc'd (caller frees). */
int rs_object_splice_field(const uint8_t *base, size_t base_len, const uint8_t *donor, size_t donor_len, uint32_t field,
                           uint8_t **out, size_t *out_len, rs_error *err);

#endif
