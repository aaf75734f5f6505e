/* dump.h: shared pieces of regsync-dump (tools/dump*.c). */
#ifndef RS_DUMP_H
#define RS_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_error.h"
#include "rs_registry.h"

/* Exit codes. */
enum { DUMP_OK = 0, DUMP_DIFFERENT = 1, DUMP_ERROR = 2 };

/* Reads the raw bytes of SRC: a local path, file:///..., s3://bucket/key, or (for registries)
 * postgresql://... or mysql://... naming a Feast SQL registry. Caller frees *data. */
int dump_read_source(const char *src, uint8_t **data, size_t *len, rs_error *err);
/* Assembles the Registry bytes from a Feast SQL registry (postgresql://..., mysql://...). */
int dump_read_feast_sql(const char *url, uint8_t **data, size_t *len, rs_error *err);
/* Reads and decodes a registry from SRC. */
int dump_load_registry(const char *src, rs_registry **out, rs_error *err);

/* Prints "regsync-dump: <what>: <msg>" on stderr, one line. Returns DUMP_ERROR. */
int dump_fail(const char *what, const rs_error *err);

/* Live systems (dump_live.c): argv[0] is the command name. Each returns an exit code. */
int dump_cmd_head(int argc, char **argv);
int dump_cmd_log(int argc, char **argv);
int dump_cmd_regions(int argc, char **argv);
int dump_cmd_control(int argc, char **argv);
int dump_cmd_journal(int argc, char **argv);
int dump_cmd_diff_versions(int argc, char **argv);   /* diff --versions A B STORE_URL */

#endif
