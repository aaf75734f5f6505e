/* rs_json_impl.h: private to registry/ (docs/architecture.md): what the pieces of rs_json share:
 * the text output buffer, the per-descriptor facts, the conversion context with its two sinks, and
 * the helpers one piece defines for the others. The public interface is rs_json.h. */
#ifndef RS_JSON_IMPL_H
#define RS_JSON_IMPL_H

#include "rs_json.h"
#include "rs_buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------------------------------------ */
/* Text output: Python json.dumps(indent=2, sort_keys=True, ensure_ascii=True) conventions.    */

typedef struct {
    rs_buf *b;  /* where text goes (own, or the caller's) */
    rs_buf own;
    FILE *f;    /* when set, b is flushed to f every 64 KiB */
    int err;
} jout;

/* ------------------------------------------------------------------------------------------ */
/* Per-descriptor facts, computed once per conversion: JSON names, sorted field order, maps.   */

typedef struct {
    const ProtobufCMessageDescriptor *d;
    unsigned *order;    /* field indices sorted by JSON name */
    char **names;       /* JSON name per field index */
    size_t *name_len;
    bool *is_map;
} dinfo;

typedef struct {
    dinfo **slot;
    size_t cap, count;
} dcache;


/* ------------------------------------------------------------------------------------------ */
/* Conversion context: flags, error sink, field path, and the output sink.                    */

typedef struct {
    const char *field; /* proto field name */
    size_t idx;        /* element index, or SIZE_MAX */
    const char *key;   /* map key, or NULL */
} path_frame;

#define STACK_MAX (2 * RS_JSON_MAX_DEPTH + 16)

typedef struct {
    unsigned flags;
    rs_error *err;
    const ProtobufCMessageDescriptor *root;
    int depth;
    size_t nf;
    path_frame f[RS_JSON_MAX_DEPTH + 4];
    dcache cache;
    /* sink: a jansson tree (text == NULL) or text */
    jout *text;
    int base_level;
    json_t *tree_root;
    json_t *tstack[STACK_MAX];
    bool first[STACK_MAX]; /* text: no member written yet */
    bool is_obj[STACK_MAX];
    size_t sp;
    const char *pkey; /* pending key (tree sink) */
    size_t pkey_len;
} conv;

/* rs_json_text.c */
void rsj_out_flush(jout *o);
void rsj_out_put(jout *o, const char *s, size_t n);
void rsj_out_indent(jout *o, int level);
void rsj_out_string(jout *o, const char *s, size_t n);
void rsj_out_value(jout *o, const json_t *j, int level);
/* rs_json_emit.c */
void rsj_path_push(conv *c, const char *field);
path_frame *rsj_path_top(conv *c);
void rsj_path_pop(conv *c);
int rsj_fail(conv *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int rsj_oom(conv *c);
int rsj_e_open(conv *c, bool obj);
int rsj_e_close(conv *c);
void rsj_e_key(conv *c, const char *k, size_t n);
int rsj_e_plain(conv *c, const char *s, size_t n);
int rsj_e_int(conv *c, int64_t v);
int rsj_e_real(conv *c, double v);
int rsj_e_bool(conv *c, bool v);
bool rsj_utf8_valid(const unsigned char *s, size_t n);
int rsj_emit_string(conv *c, const char *s);
int rsj_emit_u64(conv *c, uint64_t v);
int rsj_emit_i64(conv *c, int64_t v);
int rsj_emit_base64(conv *c, const uint8_t *p, size_t n);
const void *rsj_field_ptr(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd);
int rsj_emit_timestamp(conv *c, const ProtobufCMessage *m);
int rsj_emit_duration(conv *c, const ProtobufCMessage *m);
bool rsj_is_wrapper(const char *name);
/* rs_json_walk.c */
void rsj_dcache_free(dcache *dc);
int rsj_emit_message(conv *c, const ProtobufCMessage *m);


#endif
