/* rs_diff.h: object-level and property-level differences between two registries, and the plan
 * (Feast `feast plan` style) and JSON renderings.
 *
 * Ownership: rs_diff_compute returns a diff the caller frees with rs_diff_free. Its object
 * pointers (a, b) are borrowed from the two registries, which must outlive the diff.
 */
#ifndef RS_DIFF_H
#define RS_DIFF_H

#include <stdio.h>

#include "rs_registry.h"

typedef enum { RS_CHANGE_CREATED = 1, RS_CHANGE_DELETED = 2, RS_CHANGE_UPDATED = 3 } rs_change_type;

/* Classes of difference. */
enum {
    RS_CLASS_SPEC = 1u << 0,     /* serving-relevant definition */
    RS_CLASS_META = 1u << 1,     /* timestamps, materialization intervals, versions in meta */
    RS_CLASS_REGISTRY = 1u << 2, /* registry-level: version_id, last_updated, registry_schema_version */
};

typedef struct rs_prop_change {
    char *path;      /* JSON-name path inside the object: "spec.ttl", "spec.features[conv_rate].valueType" */
    char *old_val;   /* compact JSON of the old value, NULL when absent */
    char *new_val;   /* compact JSON of the new value, NULL when absent */
    unsigned cls;    /* one RS_CLASS_* */
} rs_prop_change;

typedef struct rs_obj_change {
    rs_change_type type;
    uint32_t kind;
    uint32_t ordinal;
    const char *project;  /* borrowed from the registries */
    const char *name;
    unsigned classes;     /* union of RS_CLASS_* of this change */
    const rs_object *a;   /* NULL for CREATED */
    const rs_object *b;   /* NULL for DELETED */
    rs_prop_change *props;  /* with RS_DIFF_PROPS, for UPDATED */
    size_t nprops;
} rs_obj_change;

typedef struct rs_diff {
    rs_obj_change *items;  /* sorted by (kind, project, name, ordinal) */
    size_t n;
} rs_diff;

enum {
    RS_DIFF_PROPS = 1u << 0,  /* compute property-level detail of updates */
};

int rs_diff_compute(const rs_registry *a, const rs_registry *b, unsigned flags, rs_diff **out, rs_error *err);
void rs_diff_free(rs_diff *d);

/* Which classes to show: RS_CLASS_SPEC for a Feast-like plan; add META and REGISTRY for --all.
 * Returns how many object changes are shown. */
size_t rs_diff_count(const rs_diff *d, unsigned show);
/* Feast-plan text: "Created entity driver", "Updated feature view fv\n\tttl: \"86400s\" -> \"3600s\"",
 * "No changes to registry" when nothing is shown. */
int rs_diff_print_plan(const rs_diff *d, unsigned show, FILE *f);
/* JSON: {"changes": [{"type","kind","kindName","project","name","classes":[...],"properties":[...]}]} */
int rs_diff_print_json(const rs_diff *d, unsigned show, FILE *f);
/* The same as a jansson value (new reference). */
struct json_t;
struct json_t *rs_diff_to_json(const rs_diff *d, unsigned show);

#endif
