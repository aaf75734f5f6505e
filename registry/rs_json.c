/* rs_json.c: proto3 JSON from protobuf-c descriptors, and a Python-compatible JSON dumper.
 * See rs_json.h for the mapping.
 *
 * One walker visits a message through its descriptor only (offsets, labels, types), so it works
 * for any protobuf-c message, Feast's or regsync's. It emits values to one of two sinks: a jansson
 * tree (rs_json_from_message) or text written directly in the final form (rs_json_write_message).
 * The walker always emits object members in sorted key order with duplicate map keys resolved, so
 * the text sink needs no tree and the two paths print the same bytes (the tests check this). */
#include "rs_json.h"
#include "rs_time.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rs_buf.h"
#include "rs_json_impl.h"

/* ------------------------------------------------------------------------------------------ */
/* Public conversion API                                                                      */

static conv *conv_new(const ProtobufCMessage *m, unsigned flags, rs_error *err, rs_error *local)
{
    if (!m || !m->descriptor || m->descriptor->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC) {
        rs_error_set(err, RS_EINVALID, "rs_json: not a protobuf-c message");
        return NULL;
    }
    conv *c = calloc(1, sizeof *c);
    if (!c) {
        rs_error_set(err, RS_ENOMEM, "%s: out of memory", m->descriptor->name);
        return NULL;
    }
    c->flags = flags;
    c->err = err ? err : local;
    rs_error_clear(c->err);
    c->root = m->descriptor;
    return c;
}

static void conv_free(conv *c)
{
    if (!c)
        return;
    rsj_dcache_free(&c->cache);
    free(c);
}

json_t *rs_json_from_message(const ProtobufCMessage *m, unsigned flags, rs_error *err)
{
    rs_error local;
    conv *c = conv_new(m, flags, err, &local);
    if (!c)
        return NULL;
    json_t *j = NULL;
    if (rsj_emit_message(c, m) == 0)
        j = c->tree_root;
    else
        json_decref(c->tree_root);
    conv_free(c);
    return j;
}

json_t *rs_json_from_bytes(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, unsigned flags,
                           rs_error *err)
{
    static const uint8_t empty[1];
    if (!d || d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC || (!p && n > 0)) {
        rs_error_set(err, RS_EINVALID, "rs_json_from_bytes: bad descriptor or buffer");
        return NULL;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, n, p ? p : empty);
    if (!m) {
        rs_error_set(err, RS_ECORRUPT, "%zu bytes do not parse as %s", n, d->name);
        return NULL;
    }
    json_t *j = rs_json_from_message(m, flags, err);
    protobuf_c_message_free_unpacked(m, NULL);
    return j;
}

static int write_message(const ProtobufCMessage *m, unsigned flags, int level, jout *o, rs_error *err)
{
    rs_error local;
    conv *c = conv_new(m, flags, err, &local);
    if (!c)
        return err ? err->code : RS_EINVALID;
    c->text = o;
    c->base_level = level > 0 ? level : 0;
    int r = rsj_emit_message(c, m) == 0 ? RS_OK : c->err->code;
    if (r == RS_OK && o->err) {
        rsj_fail(c, o->err, "%s", o->err == RS_EIO ? "write failed" : "out of memory");
        r = c->err->code;
    }
    conv_free(c);
    return r;
}

int rs_json_write_message(const ProtobufCMessage *m, unsigned flags, int level, FILE *f, rs_error *err)
{
    if (!f)
        return rs_error_set(err, RS_EINVALID, "rs_json_write_message: no file");
    jout o = {.f = f};
    o.b = &o.own;
    int r = write_message(m, flags, level, &o, err);
    rsj_out_flush(&o);
    rs_buf_free(&o.own);
    if (r == RS_OK && (o.err || ferror(f)))
        r = rs_error_set(err, RS_EIO, "%s: write failed", m->descriptor->name);
    return r;
}

int rs_json_append_message(const ProtobufCMessage *m, unsigned flags, int level, rs_buf *out, rs_error *err)
{
    if (!out)
        return rs_error_set(err, RS_EINVALID, "rs_json_append_message: no buffer");
    size_t keep = out->len;
    jout o = {.b = out};
    int r = write_message(m, flags, level, &o, err);
    if (r != RS_OK)
        out->len = keep;
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* A reusable writer: one 64 KiB buffer and one descriptor cache for many messages.           */

struct rs_json_writer {
    jout o;
    conv c;
    unsigned flags;
};

rs_json_writer *rs_json_writer_new(FILE *f, unsigned flags)
{
    if (!f)
        return NULL;
    rs_json_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->o.f = f;
    w->o.b = &w->o.own;
    w->flags = flags;
    return w;
}

int rs_json_writer_message(rs_json_writer *w, const ProtobufCMessage *m, int level, rs_error *err)
{
    rs_error local;
    if (!w || !m || !m->descriptor || m->descriptor->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
        return rs_error_set(err, RS_EINVALID, "rs_json_writer_message: not a protobuf-c message");
    conv *c = &w->c;
    dcache keep = c->cache; /* the descriptor cache outlives each message */
    memset(c, 0, sizeof *c);
    c->cache = keep;
    c->flags = w->flags;
    c->err = err ? err : &local;
    rs_error_clear(c->err);
    c->root = m->descriptor;
    c->text = &w->o;
    c->base_level = level > 0 ? level : 0;
    int r = rsj_emit_message(c, m) == 0 ? RS_OK : c->err->code;
    if (r == RS_OK && w->o.err) {
        rsj_fail(c, w->o.err, "%s", w->o.err == RS_EIO ? "write failed" : "out of memory");
        r = c->err->code;
    }
    return r;
}

int rs_json_writer_value(rs_json_writer *w, const json_t *j, int level)
{
    if (!w || !j)
        return RS_EINVALID;
    rsj_out_value(&w->o, j, level > 0 ? level : 0);
    return w->o.err;
}

void rs_json_writer_raw(rs_json_writer *w, const char *s, size_t n)
{
    if (w)
        rsj_out_put(&w->o, s, n);
}

void rs_json_writer_indent(rs_json_writer *w, int level)
{
    if (w)
        rsj_out_indent(&w->o, level > 0 ? level : 0);
}

void rs_json_writer_string(rs_json_writer *w, const char *s, size_t n)
{
    if (w)
        rsj_out_string(&w->o, s, n);
}

int rs_json_writer_finish(rs_json_writer *w)
{
    if (!w)
        return RS_EINVALID;
    rsj_out_flush(&w->o);
    int r = w->o.err;
    if (!r && (fflush(w->o.f) != 0 || ferror(w->o.f)))
        r = RS_EIO;
    rs_buf_free(&w->o.own);
    rsj_dcache_free(&w->c.cache);
    free(w);
    return r;
}
