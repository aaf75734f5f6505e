#include "rs_kinds.h"
#include "rs_registry.h"

#include <string.h>

#include "feast/core/Registry.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

/* One row per known top-level field of feast.core.Registry, by field number (wire-facts.md).
 * Designated initializers: a row names every member, so a reordered struct or a missing value is
 * a compile error or an explicit zero, never a shifted column. */
static const rs_kind_info KINDS[] = {
    {.kind = 1, .field = "entities", .json = "entities", .plan = "entity", .desc = &feast__core__entity__descriptor,
     .key = RS_KEY_SPEC, .name_field = 1, .project_field = 9, .meta_field = 2, .singleton = false, .registry_level = false},
    {.kind = 2, .field = "feature_tables", .json = "featureTables", .plan = "feature table", .desc = &feast__core__feature_table__descriptor,
     .key = RS_KEY_SPEC, .name_field = 1, .project_field = 9, .meta_field = 2, .singleton = false, .registry_level = false},
    {.kind = 3, .field = "registry_schema_version", .json = "registrySchemaVersion", .plan = "registry schema version", .desc = NULL,
     .key = RS_KEY_NONE, .name_field = 0, .project_field = 0, .meta_field = 0, .singleton = true, .registry_level = true},
    {.kind = 4, .field = "version_id", .json = "versionId", .plan = "version id", .desc = NULL,
     .key = RS_KEY_NONE, .name_field = 0, .project_field = 0, .meta_field = 0, .singleton = true, .registry_level = true},
    {.kind = 5, .field = "last_updated", .json = "lastUpdated", .plan = "last updated", .desc = &google__protobuf__timestamp__descriptor,
     .key = RS_KEY_NONE, .name_field = 0, .project_field = 0, .meta_field = 0, .singleton = true, .registry_level = true},
    {.kind = 6, .field = "feature_views", .json = "featureViews", .plan = "feature view", .desc = &feast__core__feature_view__descriptor,
     .key = RS_KEY_SPEC, .name_field = 1, .project_field = 2, .meta_field = 2, .singleton = false, .registry_level = false},
    {.kind = 7, .field = "feature_services", .json = "featureServices", .plan = "feature service", .desc = &feast__core__feature_service__descriptor,
     .key = RS_KEY_SPEC, .name_field = 1, .project_field = 2, .meta_field = 2, .singleton = false, .registry_level = false},
    {.kind = 8, .field = "on_demand_feature_views", .json = "onDemandFeatureViews", .plan = "on demand feature view", .desc = &feast__core__on_demand_feature_view__descriptor,
     .key = RS_KEY_SPEC, .name_field = 1, .project_field = 2, .meta_field = 2, .singleton = false, .registry_level = false},
    {.kind = 10, .field = "infra", .json = "infra", .plan = "infra", .desc = &feast__core__infra__descriptor,
     .key = RS_KEY_NONE, .name_field = 0, .project_field = 0, .meta_field = 0, .singleton = true, .registry_level = false},
    {.kind = 11, .field = "saved_datasets", .json = "savedDatasets", .plan = "saved dataset", .desc = &feast__core__saved_dataset__descriptor,
     .key = RS_KEY_SPEC, .name_field = 1, .project_field = 2, .meta_field = 2, .singleton = false, .registry_level = false},
    {.kind = 12, .field = "data_sources", .json = "dataSources", .plan = "data source", .desc = &feast__core__data_source__descriptor,
     .key = RS_KEY_FLAT, .name_field = 20, .project_field = 21, .meta_field = 50, .singleton = false, .registry_level = false},
    {.kind = 13, .field = "validation_references", .json = "validationReferences", .plan = "validation reference", .desc = &feast__core__validation_reference__descriptor,
     .key = RS_KEY_FLAT, .name_field = 1, .project_field = 3, .meta_field = 0, .singleton = false, .registry_level = false},
    {.kind = 14, .field = "stream_feature_views", .json = "streamFeatureViews", .plan = "stream feature view", .desc = &feast__core__stream_feature_view__descriptor,
     .key = RS_KEY_SPEC, .name_field = 1, .project_field = 2, .meta_field = 2, .singleton = false, .registry_level = false},
    {.kind = 15, .field = "project_metadata", .json = "projectMetadata", .plan = "project metadata", .desc = &feast__core__project_metadata__descriptor,
     .key = RS_KEY_PROJECT_ONLY, .name_field = 0, .project_field = 1, .meta_field = 0, .singleton = false, .registry_level = false},
    {.kind = 16, .field = "permissions", .json = "permissions", .plan = "permission", .desc = &feast__core__permission__descriptor,
     .key = RS_KEY_SPEC, .name_field = 1, .project_field = 2, .meta_field = 2, .singleton = false, .registry_level = false},
    {.kind = 17, .field = "projects", .json = "projects", .plan = "project", .desc = &feast__core__project__descriptor,
     .key = RS_KEY_PROJECT_SELF, .name_field = 1, .project_field = 0, .meta_field = 2, .singleton = false, .registry_level = false},
    {.kind = 18, .field = "feature_view_version_history", .json = "featureViewVersionHistory", .plan = "feature view version history", .desc = &feast__core__feature_view_version_history__descriptor,
     .key = RS_KEY_NONE, .name_field = 0, .project_field = 0, .meta_field = 0, .singleton = true, .registry_level = false},
    {.kind = 19, .field = "label_views", .json = "labelViews", .plan = "label view", .desc = &feast__core__label_view__descriptor,
     .key = RS_KEY_SPEC, .name_field = 1, .project_field = 2, .meta_field = 2, .singleton = false, .registry_level = false},
};

const rs_kind_info *rs_kind_info_get(uint32_t kind)
{
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (KINDS[i].kind == kind)
            return &KINDS[i];
    return NULL;
}

const char *rs_kind_field_name(uint32_t kind)
{
    const rs_kind_info *k = rs_kind_info_get(kind);
    return k ? k->field : NULL;
}

const char *rs_kind_json_name(uint32_t kind)
{
    const rs_kind_info *k = rs_kind_info_get(kind);
    return k ? k->json : NULL;
}

const char *rs_kind_plan_name(uint32_t kind)
{
    const rs_kind_info *k = rs_kind_info_get(kind);
    return k ? k->plan : "unknown field";
}

uint32_t rs_kind_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (strcmp(KINDS[i].field, name) == 0 || strcmp(KINDS[i].json, name) == 0)
            return KINDS[i].kind;
    return 0;
}

bool rs_kind_is_known(uint32_t kind) { return rs_kind_info_get(kind) != NULL; }

bool rs_kind_is_singleton(uint32_t kind)
{
    const rs_kind_info *k = rs_kind_info_get(kind);
    return k ? k->singleton : true; /* unknown fields are opaque singletons */
}

bool rs_kind_is_registry_level(uint32_t kind)
{
    const rs_kind_info *k = rs_kind_info_get(kind);
    return k && k->registry_level;
}

uint32_t rs_kind_meta_field(uint32_t kind)
{
    const rs_kind_info *k = rs_kind_info_get(kind);
    return k ? k->meta_field : 0;
}
