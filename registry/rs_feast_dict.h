/* rs_feast_dict.h: what Feast's `BaseRegistry.to_dict(project)` (and so `feast registry-dump`)
 * prints for one object: Feast turns each stored proto into its Python class (`from_proto`) and
 * back (`to_proto`), prints that with MessageToJson, then patches UDF bodies. Every rule this
 * applies is here, one function per kind, and written down in docs/json.md ("Project mode").
 *
 * The functions take the proto3 JSON tree of the stored object (rs_json_from_bytes without
 * RS_JSON_UNKNOWN: Feast's classes drop fields they do not know) and build a new tree; they never
 * fail except on memory. Every json_t returned is a new reference (caller json_decref).
 */
#ifndef RS_FEAST_DICT_H
#define RS_FEAST_DICT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* The object of Registry field `kind` as to_dict prints it. NULL with *skip set when to_dict
 * leaves it out (an on-demand view without a transformation); NULL without *skip on ENOMEM.
 * Kinds to_dict does not print (projects, validation references, feature tables, singletons)
 * return the tree unchanged. */
json_t *rs_feast_dict_object(uint32_t kind, const json_t *stored, bool *skip);

/* What Feast's class writes back for the object (to_proto(from_proto(stored))), before to_dict's
 * patches: every object (an on-demand view without a transformation too), pickled UDF bodies kept.
 * Projects (kind 17) included. What `feast plan` compares (rs_feast_plan.h). */
json_t *rs_feast_round_trip(uint32_t kind, const json_t *stored);

/* The "infra" list of to_dict from the stored feast.core.Infra tree: each InfraObject printed as
 * the table object itself, sorted by name; an empty array when there is none. */
json_t *rs_feast_dict_infra(const json_t *stored_infra);

/* The sort key to_dict sorts a kind's list by (the object's name; for project metadata the
 * project). Borrowed from `dict`; "" when absent. */
const char *rs_feast_dict_sort_key(uint32_t kind, const json_t *dict);

#endif
