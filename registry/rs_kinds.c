#include "rs_kinds.h"
#include "rs_registry.h"

#include <string.h>

#include "feast/core/Registry.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

static const rs_kind_info KINDS[] = {
    {1, "entities", "entities", "entity", &feast__core__entity__descriptor, RS_KEY_SPEC, 1, 9, 2, false, false},
    {2, "feature_tables", "featureTables", "feature table", &feast__core__feature_table__descriptor, RS_KEY_SPEC, 1, 9, 2, false, false},
    {3, "registry_schema_version", "registrySchemaVersion", "registry schema version", NULL, RS_KEY_NONE, 0, 0, 0, true, true},
    {4, "version_id", "versionId", "version id", NULL, RS_KEY_NONE, 0, 0, 0, true, true},
    {5, "last_updated", "lastUpdated", "last updated", &google__protobuf__timestamp__descriptor, RS_KEY_NONE, 0, 0, 0, true, true},
    {6, "feature_views", "featureViews", "feature view", &feast__core__feature_view__descriptor, RS_KEY_SPEC, 1, 2, 2, false, false},
    {7, "feature_services", "featureServices", "feature service", &feast__core__feature_service__descriptor, RS_KEY_SPEC, 1, 2, 2, false, false},
    {8, "on_demand_feature_views", "onDemandFeatureViews", "on demand feature view", &feast__core__on_demand_feature_view__descriptor, RS_KEY_SPEC, 1, 2, 2, false, false},
    {10, "infra", "infra", "infra", &feast__core__infra__descriptor, RS_KEY_NONE, 0, 0, 0, true, false},
    {11, "saved_datasets", "savedDatasets", "saved dataset", &feast__core__saved_dataset__descriptor, RS_KEY_SPEC, 1, 2, 2, false, false},
    {12, "data_sources", "dataSources", "data source", &feast__core__data_source__descriptor, RS_KEY_FLAT, 20, 21, 50, false, false},
    {13, "validation_references", "validationReferences", "validation reference", &feast__core__validation_reference__descriptor, RS_KEY_FLAT, 1, 3, 0, false, false},
    {14, "stream_feature_views", "streamFeatureViews", "stream feature view", &feast__core__stream_feature_view__descriptor, RS_KEY_SPEC, 1, 2, 2, false, false},
    {15, "project_metadata", "projectMetadata", "project metadata", &feast__core__project_metadata__descriptor, RS_KEY_PROJECT_ONLY, 0, 1, 0, false, false},
    {16, "permissions", "permissions", "permission", &feast__core__permission__descriptor, RS_KEY_SPEC, 1, 2, 2, false, false},
    {17, "projects", "projects", "project", &feast__core__project__descriptor, RS_KEY_PROJECT_SELF, 1, 0, 2, false, false},
    {18, "feature_view_version_history", "featureViewVersionHistory", "feature view version history", &feast__core__feature_view_version_history__descriptor, RS_KEY_NONE, 0, 0, 0, true, false},
    {19, "label_views", "labelViews", "label view", &feast__core__label_view__descriptor, RS_KEY_SPEC, 1, 2, 2, false, false},
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
