/* rs_feast_plan.h: the registry part of `feast plan` between two registries, for one project, in
 * Feast's own text (sdk/python/feast/diff/registry_diff.py, RegistryDiff.to_string, as click
 * prints it to a pipe: no colours). The rules are in docs/json.md ("feast plan text").
 *
 * Ownership: nothing returned is owned by the caller except *out (malloc'd text).
 */
#ifndef RS_FEAST_PLAN_H
#define RS_FEAST_PLAN_H

#include <stddef.h>

#include "rs_registry.h"

/* The plan text from `a` (the registry before) to `b` (after) for `project`: "Created entity x",
 * "Updated feature view y" with "\t<field>: <old> -> <new>" lines, ..., then an empty line; or
 * "No changes to registry\n". *changes counts the objects listed. *out malloc'd. */
int rs_feast_plan(const rs_registry *a, const rs_registry *b, const char *project, char **out, size_t *changes,
                  rs_error *err);

#endif
