/* rs_registry_json.h: JSON views of a registry (built on rs_json.h).
 * Every json_t returned is a new reference (caller json_decref); NULL on error (err filled). */
#ifndef RS_REGISTRY_JSON_H
#define RS_REGISTRY_JSON_H

#include <jansson.h>
#include <stdio.h>

#include "rs_registry.h"

/* One object as proto3 JSON (unknown fields by number). String singletons give a JSON string;
 * opaque fields give {"field": N, "bytes": base64}. */
json_t *rs_object_to_json(const rs_object *o, rs_error *err);

/* The whole Registry message as proto3 JSON, unknown fields by number. */
json_t *rs_registry_to_json_full(const rs_registry *r, rs_error *err);

typedef struct rs_dump_filter {
    const char *project;   /* NULL: every project */
    uint32_t kind;         /* 0: every kind */
    const char *name;      /* NULL: every name */
} rs_dump_filter;

/* What `feast registry-dump` prints (BaseRegistry.to_dict): for each project (sorted) a dict with
 * "project" and, when non-empty, dataSources, entities, featureViews, featureServices,
 * onDemandFeatureViews, streamFeatureViews, labelViews, savedDatasets, infra, permissions,
 * projectMetadata; each object as Feast's class writes it back (rs_feast_dict.h, docs/json.md),
 * each list sorted by name. Returns an array of those dicts, or the single dict when f->project
 * is set. */
json_t *rs_registry_dump_json(const rs_registry *r, const rs_dump_filter *f, rs_error *err);

/* Streaming forms, for whole registries: the same text as rs_json_dump_file prints for
 * rs_registry_to_json_full(r) / rs_registry_dump_json(r, f) (no trailing newline), written to out
 * as it is produced: one object converted at a time (project mode keeps a tree of one kind of one
 * project only when it holds a custom data source), nothing registry-sized. Returns RS_OK or the
 * error of the tree functions (a conversion error names the object: "feast.core.Registry:
 * entities[3]: feast.core.Entity: spec.name: ..." in --full), or RS_EIO. On error part of the
 * text may have been written. out is borrowed and fflushed, not closed. */
int rs_registry_write_json_full(const rs_registry *r, FILE *out, rs_error *err);
int rs_registry_write_dump_json(const rs_registry *r, const rs_dump_filter *f, FILE *out, rs_error *err);

/* The Registry field numbers that `feast registry-dump` prints, in its order; 0-terminated. */
extern const uint32_t rs_registry_dump_kinds[];

#endif
