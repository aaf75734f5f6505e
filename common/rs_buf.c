#include "rs_buf.h"
#include "rs_url.h"
#include "rs_error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rs_buf_reserve(rs_buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return RS_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2)
            return RS_ENOMEM;
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return RS_ENOMEM;
    b->data = p;
    b->cap = cap;
    return RS_OK;
}

int rs_buf_append(rs_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return RS_OK;
    if (rs_buf_reserve(b, n))
        return RS_ENOMEM;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return RS_OK;
}

int rs_buf_putc(rs_buf *b, uint8_t c)
{
    if (rs_buf_reserve(b, 1))
        return RS_ENOMEM;
    b->data[b->len++] = c;
    return RS_OK;
}

int rs_buf_printf(rs_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return RS_EINVALID;
    if (rs_buf_reserve(b, (size_t)n + 1))
        return RS_ENOMEM;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return RS_OK;
}

int rs_buf_varint(rs_buf *b, uint64_t v)
{
    if (rs_buf_reserve(b, 10))
        return RS_ENOMEM;
    uint8_t *p = b->data + b->len;
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    b->len = (size_t)(p - b->data);
    return RS_OK;
}

int rs_buf_cstr(rs_buf *b)
{
    if (rs_buf_reserve(b, 1))
        return RS_ENOMEM;
    b->data[b->len] = '\0';
    return RS_OK;
}

void rs_buf_reset(rs_buf *b) { b->len = 0; }

void rs_buf_free(rs_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

uint8_t *rs_buf_take(rs_buf *b, size_t *len)
{
    uint8_t *p = b->data;
    if (len)
        *len = b->len;
    if (!p)
        p = malloc(1);
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void rs_hex(const uint8_t *p, size_t n, char *out)
{
    static const char h[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = h[p[i] >> 4];
        out[2 * i + 1] = h[p[i] & 15];
    }
    out[2 * n] = '\0';
}

int rs_unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = rs_hexdigit((unsigned char)s[2 * i]), lo = hi < 0 ? -1 : rs_hexdigit((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return s[2 * n] == '\0' ? 0 : -1;
}

int rs_read_file(const char *path, size_t max, uint8_t **data, size_t *len, rs_error *err)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rs_error_set(err, errno == ENOENT ? RS_ENOTFOUND : RS_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return rs_error_set(err, RS_EIO, "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return rs_error_set(err, RS_EINVALID, "%s: is a directory, not a file", path);
    }
    rs_buf b = {0};
    int rc = RS_OK;
    /* exactly the file's size (+2 to see EOF without growing): no power-of-two slack */
    b.cap = (size_t)st.st_size + 2;
    b.data = malloc(b.cap);
    if (!b.data) {
        rc = rs_error_set(err, RS_ENOMEM, "%s: cannot allocate %lld bytes", path, (long long)st.st_size);
        goto out;
    }
    for (;;) {
        /* the size from fstat is usually exact: grow only when the file grew */
        if (b.cap - b.len < 2 && rs_buf_reserve(&b, 65536)) {
            rc = rs_error_set(err, RS_ENOMEM, "%s: out of memory", path);
            goto out;
        }
        ssize_t n = read(fd, b.data + b.len, b.cap - b.len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = rs_error_set(err, RS_EIO, "%s: read: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        b.len += (size_t)n;
        if (max && b.len > max) {
            rc = rs_error_set(err, RS_ETOOBIG, "%s: larger than the limit of %zu bytes", path, max);
            goto out;
        }
    }
out:
    close(fd);
    if (rc) {
        rs_buf_free(&b);
        return rc;
    }
    *data = rs_buf_take(&b, len);
    return RS_OK;
}

int rs_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *q = p;
    while (n) {
        ssize_t w = write(fd, q, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        q += w;
        n -= (size_t)w;
    }
    return 0;
}
