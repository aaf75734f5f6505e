/* rs_buf.h: a growable byte buffer.
 *
 * The buffer owns data (malloc'd); rs_buf_free releases it; rs_buf_take hands it to the caller
 * (who then frees it with free()). A zeroed rs_buf is a valid empty buffer.
 */
#ifndef RS_BUF_H
#define RS_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct rs_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} rs_buf;

/* All return RS_OK or RS_ENOMEM. */
int rs_buf_reserve(rs_buf *b, size_t extra);
int rs_buf_append(rs_buf *b, const void *p, size_t n);
int rs_buf_putc(rs_buf *b, uint8_t c);
int rs_buf_printf(rs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a protobuf base-128 varint. */
int rs_buf_varint(rs_buf *b, uint64_t v);
/* Ensures data is NUL-terminated (the NUL is not counted in len). */
int rs_buf_cstr(rs_buf *b);
void rs_buf_reset(rs_buf *b);   /* len = 0, keeps the memory */
void rs_buf_free(rs_buf *b);    /* frees and zeroes */
/* Returns data (caller frees) and zeroes *b. */
uint8_t *rs_buf_take(rs_buf *b, size_t *len);

/* Lower-case hex of n bytes into out (2n+1 chars incl. NUL). */
void rs_hex(const uint8_t *p, size_t n, char *out);
/* Parses 2n hex chars into n bytes. Returns 0 or -1. */
int rs_unhex(const char *s, uint8_t *out, size_t n);

/* Writes all n bytes to fd (in pieces of at most 1 GiB, retrying on EINTR and short writes).
 * 0, or -1 with errno set (a write that returns 0 is EIO). */
int rs_write_all(int fd, const void *p, size_t n);

/* Reads a whole file (caller frees *data). Errors name the path. max = 0: no limit. */
struct rs_error;
int rs_read_file(const char *path, size_t max, uint8_t **data, size_t *len, struct rs_error *err);

#endif
