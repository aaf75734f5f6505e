/* rs_kinds.h (private to registry/): the per-kind table, with the protobuf-c descriptors. */
#ifndef RS_KINDS_H
#define RS_KINDS_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    RS_KEY_NONE = 0,      /* singleton */
    RS_KEY_SPEC,          /* name = spec(1).name(1), project = spec(1).<project_field> */
    RS_KEY_FLAT,          /* name = <name_field>, project = <project_field> */
    RS_KEY_PROJECT_ONLY,  /* project_metadata: project(1), no name */
    RS_KEY_PROJECT_SELF,  /* projects: name = spec(1).name(1) is the project itself */
} rs_key_style;

typedef struct rs_kind_info {
    uint32_t kind;
    const char *field;      /* Registry field name */
    const char *json;       /* JSON name */
    const char *plan;       /* Feast plan spelling */
    const ProtobufCMessageDescriptor *desc;   /* NULL for scalar singletons (3, 4) */
    rs_key_style key;
    uint32_t name_field;
    uint32_t project_field;
    uint32_t meta_field;    /* field holding meta (timestamps); 0 when none */
    bool singleton;
    bool registry_level;
} rs_kind_info;

const rs_kind_info *rs_kind_info_get(uint32_t kind);  /* NULL for unknown kinds */

#endif
