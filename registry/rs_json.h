/* rs_json.h: proto3 JSON of any protobuf-c message, driven by its descriptor, and a dumper that
 * prints exactly what Python's json.dumps(obj, indent=2, sort_keys=True) prints.
 *
 * The mapping is the one Feast's `feast registry-dump` uses (Python json_format.MessageToDict):
 *   - keys are the lowerCamelCase JSON names protoc derives from the proto field names;
 *   - implicit-presence fields at their default (0, "", false, empty bytes, enum 0, empty
 *     repeated or map) are omitted; members of a oneof and present message fields are printed
 *     (an empty message prints {});
 *   - enums by name, values the descriptor does not know as numbers;
 *   - 64-bit integers as decimal strings, 32-bit integers as numbers;
 *   - float and double as numbers that print as the shortest round-trip form (a float field goes
 *     through Python's ToShortestFloat, so 0.1f prints 0.1); NaN and infinities as the strings
 *     "NaN", "Infinity", "-Infinity";
 *   - bytes as standard base64 with padding;
 *   - google.protobuf.Timestamp as RFC 3339 UTC ("2024-11-20T16:10:12.123Z", 0/3/6/9 fractional
 *     digits), Duration as "86400s" / "1.500s" / "-0.250s", the wrapper types
 *     (StringValue, Int64Value, ...) as their bare value;
 *   - maps (recognised by protoc's entry-message convention) as objects keyed by the map key as
 *     a string, the last entry winning for a repeated key; repeated fields as arrays.
 * With RS_JSON_UNKNOWN, the fields the descriptor does not know are added under the field number
 * as a string ("9"): an array, in wire order, of the decimal string of a varint (unsigned), the
 * number of a fixed32, the decimal string of a fixed64, or the base64 of a length-delimited
 * payload. Without the flag they are dropped, as MessageToDict drops them. Unknown fields inside
 * well-known types are always dropped (their JSON form is a string).
 *
 * Errors (return NULL and fill err; the message names the field path, e.g.
 * "feast.core.Registry: feature_views[2].spec.name: string is not valid UTF-8"):
 *   RS_ECORRUPT  a string or string map key is not valid UTF-8; a Timestamp outside
 *                0001-01-01..9999-12-31 or with nanos outside 0..999999999; a Duration
 *                outside +-315576000000 s, with |nanos| > 999999999 or with a sign mismatch
 *                (Python and Go refuse these too); RS_ETOOBIG: messages nested deeper than
 *                RS_JSON_MAX_DEPTH; RS_EINVALID: a NULL or non-message argument; RS_ENOMEM.
 *
 * Two ways to print: rs_json_from_message then rs_json_dump_file (a jansson tree you can also
 * edit or embed), or rs_json_write_message / rs_json_append_message, which stream the same bytes
 * without a tree (use these for whole registries). Verified byte for byte against Python's
 * json_format + json.dumps by tests/unit/test_json.c. See docs/json.md.
 *
 * Ownership: the json_t returned is a new reference (caller json_decref). Strings returned by
 * rs_json_dumps are malloc'd (caller free). Nothing keeps a pointer into the message. All
 * functions are reentrant (no global state) and accept a NULL err.
 */
#ifndef RS_JSON_H
#define RS_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rs_buf.h"
#include "rs_error.h"

enum {
    RS_JSON_UNKNOWN = 1u << 0, /* include unknown fields, keyed by field number */
};

/* Maximum nesting of messages, the root message counting as 1 (maps' entry messages do not
 * count: their values do). Deeper input fails with RS_ETOOBIG. */
#define RS_JSON_MAX_DEPTH 100

/* proto3 JSON of a message; new reference (caller json_decref), NULL on error. */
json_t *rs_json_from_message(const ProtobufCMessage *m, unsigned flags, rs_error *err);

/* Unpacks bytes with descriptor d (protobuf-c), converts, frees the message. A parse failure is
 * RS_ECORRUPT naming the message type. n == 0 is a valid, empty message. */
json_t *rs_json_from_bytes(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
                           unsigned flags, rs_error *err);

/* Dumps like Python json.dumps(j, indent=2, sort_keys=True): keys sorted at every level (code
 * point order), two-space indent, each member on its own line ending in "," except the last,
 * ": " after keys, empty containers as {} and []; control characters, DEL and non-ASCII escaped
 * as \uXXXX (lower-case hex, surrogate pairs beyond the BMP); reals printed like Python repr
 * (shortest round-trip: 0.1, 1.0, 1e+16, 1.5e-05). No trailing newline (Python's print adds one;
 * add it yourself to match `feast registry-dump`). Returns RS_OK, RS_EIO (write failed),
 * RS_ENOMEM, or RS_EINVALID (j or f NULL). */
int rs_json_dump_file(const json_t *j, FILE *f);

/* The same text in a malloc'd NUL-terminated string (caller free); *len (may be NULL) gets its
 * length. NULL on allocation failure or when j is NULL. */
char *rs_json_dumps(const json_t *j, size_t *len);

/* Streaming form, for big registries: writes the JSON text of m directly, without a json_t tree
 * (4-5x faster than rs_json_from_message + rs_json_dump_file, and no memory beyond a 64 KiB
 * buffer), byte-identical to rs_json_dump_file(rs_json_from_message(m, flags)).
 * level: the indentation level at which the value sits when it is embedded in an enclosing dump
 * (0 for a whole document): the first character is written where the cursor is, later lines get
 * 2 * level extra spaces. Errors as rs_json_from_message, plus RS_EIO; on error a partial text
 * may already have been written to f (write to a temporary file when that matters). */
int rs_json_write_message(const ProtobufCMessage *m, unsigned flags, int level, FILE *f, rs_error *err);

/* The same text appended to out (see rs_buf.h). On error out is left as it was. */
int rs_json_append_message(const ProtobufCMessage *m, unsigned flags, int level, rs_buf *out,
                           rs_error *err);

/* A writer for many values into one stream (whole registries): one 64 KiB buffer and one cache of
 * descriptor information for every message written, where rs_json_write_message builds both per
 * call. The caller writes the punctuation between values (raw, indent, string) and each value at
 * its level; the text is the same as rs_json_write_message's / rs_json_dump_file's. Errors are
 * sticky: after a write error or ENOMEM every later call does nothing and finish returns it.
 * Ownership: the writer borrows f (the caller closes it); rs_json_writer_finish flushes the buffer
 * to f, fflushes f and frees the writer. */
typedef struct rs_json_writer rs_json_writer;

/* NULL when f is NULL or on ENOMEM. flags: as rs_json_write_message. */
rs_json_writer *rs_json_writer_new(FILE *f, unsigned flags);
/* m's JSON at indentation level `level` (see rs_json_write_message). Errors as it; a partial
 * text may have been written. */
int rs_json_writer_message(rs_json_writer *w, const ProtobufCMessage *m, int level, rs_error *err);
/* A jansson value dumped as rs_json_dump_file does, its later lines indented for `level`. */
int rs_json_writer_value(rs_json_writer *w, const json_t *j, int level);
/* Bytes as they are; a newline and 2 * level spaces; a JSON string (s valid UTF-8, escaped as
 * Python's ensure_ascii does). */
void rs_json_writer_raw(rs_json_writer *w, const char *s, size_t n);
void rs_json_writer_indent(rs_json_writer *w, int level);
void rs_json_writer_string(rs_json_writer *w, const char *s, size_t n);
/* Flushes and frees w. RS_OK, RS_EIO (a write failed) or RS_ENOMEM. */
int rs_json_writer_finish(rs_json_writer *w);

/* The text of rs_json_dump_file(j) with later lines indented for `level`, appended to out (left
 * as it was on error). RS_OK, RS_ENOMEM, RS_EINVALID. */
int rs_json_append_value(const json_t *j, int level, rs_buf *out);

/* protoc's JSON name of a proto field name ("batch_source" -> "batchSource") into out (n bytes,
 * truncated if short). Returns the full length (like snprintf). */
size_t rs_json_name(const char *proto_name, char *out, size_t n);

/* Python repr() of a double into out (>= 32 bytes): "0.1", "1.0", "1e+16", "-1.5e-05",
 * "NaN", "Infinity", "-Infinity" (the last three as json.dumps prints them). Returns the length. */
size_t rs_json_repr_double(double v, char *out, size_t n);

/* Python's ToShortestFloat: the double with the fewest significant digits (>= 6 tried first)
 * that rounds to the float f. rs_json_from_message stores float fields as this value. */
double rs_json_shortest_float(float f);

/* regsync's own JSON (admin API, regsync-dump, reports): a wall time in ms as RFC 3339 UTC with
 * milliseconds, or null for 0 (unknown). A new reference (NULL only without memory). */
json_t *rs_json_time_ms(int64_t ms);

#endif
