/* rs_admin_frame.c: the strict request-framing check that reads every request byte before
 * libevent's HTTP parser does (see rs_admin_impl.h, rs_frame). No libevent state here. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rs_admin_impl.h"

enum { FR_HEAD = 0, FR_BODY, FR_CHUNK_SIZE, FR_CHUNK_DATA, FR_CHUNK_END, FR_TRAILER, FR_OFF, FR_BAD };

void rs_frame_init(rs_frame *f, size_t max_head)
{
    memset(f, 0, sizeof *f);
    f->state = FR_HEAD;
    f->max_head = max_head;
}

bool rs_frame_bad(const rs_frame *f) { return f->state == FR_BAD; }
bool rs_frame_off(const rs_frame *f) { return f->state == FR_OFF || f->state == FR_BAD; }
void rs_frame_stop(rs_frame *f)
{
    if (f->state != FR_BAD)
        f->state = FR_OFF;
}

static int bad(rs_frame *f, const char *why)
{
    f->state = FR_BAD;
    f->why = why;
    return -1;
}

static void next_request(rs_frame *f)
{
    f->state = FR_HEAD;
    f->have_reqline = false;
    f->has_cl = f->has_te = false;
    f->cl = 0;
    f->head_len = 0;
    f->req_start = f->seen; /* the byte after the one being fed */
}

static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || strchr("!#$%&'*+-.^_`|~", c);
}

static bool is_hex(unsigned char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

/* evhttp reads a body for these methods only (http.c, evhttp_method_may_have_body in 2.1) */
static bool method_has_body(const char *m, size_t n)
{
    static const char *const with_body[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT"};
    for (size_t i = 0; i < sizeof with_body / sizeof with_body[0]; i++)
        if (strlen(with_body[i]) == n && memcmp(with_body[i], m, n) == 0)
            return true;
    return false;
}

/* A header line (head or trailer) in f->line[0..len). */
static int header_line(rs_frame *f, size_t len, bool trailer)
{
    const char *l = f->line;
    size_t have = len < sizeof f->line ? len : sizeof f->line;
    if (l[0] == ' ' || l[0] == '\t')
        return bad(f, "obsolete line folding (a header line that starts with a space)");
    const char *colon = memchr(l, ':', have);
    if (!colon)
        return bad(f, len > have ? "a header name that is too long" : "a header line without ':'");
    size_t nl = (size_t)(colon - l);
    if (nl == 0)
        return bad(f, "an empty header name");
    for (size_t i = 0; i < nl; i++)
        if (!is_tchar((unsigned char)l[i]))
            return bad(f, "a space or a control character in a header name");
    bool is_cl = nl == 14 && strncasecmp(l, "content-length", 14) == 0;
    bool is_te = nl == 17 && strncasecmp(l, "transfer-encoding", 17) == 0;
    if (!is_cl && !is_te)
        return 0;
    if (trailer)
        return bad(f, "Content-Length or Transfer-Encoding in a chunked trailer");
    if (len > have)
        return bad(f, is_cl ? "a bad Content-Length" : "a bad Transfer-Encoding");
    const char *v = colon + 1, *e = l + len;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    size_t vl = (size_t)(e - v);
    if (is_te) {
        if (f->has_te)
            return bad(f, "more than one Transfer-Encoding header");
        if (vl != 7 || strncasecmp(v, "chunked", 7) != 0)
            return bad(f, "a Transfer-Encoding other than chunked");
        f->has_te = true;
        return 0;
    }
    if (vl == 0 || vl > 18)
        return bad(f, "a bad Content-Length");
    uint64_t n = 0;
    for (size_t i = 0; i < vl; i++) {
        if (v[i] < '0' || v[i] > '9')
            return bad(f, "a bad Content-Length");
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    if (f->has_cl && n != f->cl)
        return bad(f, "two Content-Length headers that differ");
    f->has_cl = true;
    f->cl = n;
    return 0;
}

/* A complete line of a line state. */
static int end_line(rs_frame *f)
{
    size_t len = f->line_len;
    f->line_len = 0;
    switch (f->state) {
    case FR_HEAD:
        if (!f->have_reqline) {
            const char *sp = len ? memchr(f->line, ' ', len < sizeof f->line ? len : sizeof f->line) : NULL;
            if (!sp) {
                f->state = FR_OFF; /* not a request line: libevent answers 400 and closes */
                return 0;
            }
            f->body_allowed = method_has_body(f->line, (size_t)(sp - f->line));
            f->have_reqline = true;
            return 0;
        }
        if (len > 0)
            return header_line(f, len, false);
        /* the end of the head: how the body is framed */
        if (f->has_te && f->has_cl)
            return bad(f, "both Transfer-Encoding and Content-Length");
        if (!f->body_allowed) {
            if (f->has_te || f->cl > 0)
                return bad(f, "a body on a request method that has none");
            next_request(f);
        } else if (f->has_te) {
            f->state = FR_CHUNK_SIZE;
        } else if (f->cl > 0) {
            f->state = FR_BODY;
            f->left = f->cl;
        } else {
            next_request(f);
        }
        return 0;
    case FR_CHUNK_SIZE: {
        if (len == 0 || len > 15)
            return bad(f, "a bad chunk size");
        uint64_t n = 0;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)f->line[i];
            if (!is_hex(c))
                return bad(f, "a bad chunk size");
            n = n * 16 + (uint64_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        if (n == 0) {
            f->state = FR_TRAILER;
        } else {
            f->state = FR_CHUNK_DATA;
            f->left = n;
        }
        return 0;
    }
    case FR_TRAILER:
        if (len == 0) {
            next_request(f);
            return 0;
        }
        return header_line(f, len, true);
    default: return 0;
    }
}

int rs_frame_feed(rs_frame *f, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        switch (f->state) {
        case FR_OFF:
        case FR_BAD: return f->state == FR_BAD ? -1 : 0;
        case FR_BODY:
        case FR_CHUNK_DATA: {
            size_t k = n - i;
            if ((uint64_t)k > f->left)
                k = (size_t)f->left;
            f->left -= k;
            f->seen += k;
            i += k;
            if (f->left == 0) {
                if (f->state == FR_BODY)
                    next_request(f);
                else
                    f->state = FR_CHUNK_END;
            }
            continue;
        }
        case FR_CHUNK_END: {
            uint8_t c = p[i++];
            f->seen++;
            if (c == '\r' && !f->cr) {
                f->cr = true;
            } else if (c == '\n') {
                f->cr = false;
                f->state = FR_CHUNK_SIZE;
            } else {
                return bad(f, "chunk data not followed by CRLF");
            }
            continue;
        }
        default: break; /* the line states */
        }
        uint8_t c = p[i++];
        f->seen++;
        if (f->state == FR_HEAD && ++f->head_len > f->max_head + 1024) {
            f->state = FR_OFF; /* libevent refuses a head over its limit */
            return 0;
        }
        if (c == '\0')
            return bad(f, f->state == FR_CHUNK_SIZE ? "a bad chunk size" : "a NUL byte in the request head");
        if (f->cr) {
            f->cr = false;
            if (c != '\n')
                return bad(f, "a CR that does not end a line");
            if (end_line(f))
                return -1;
            continue;
        }
        if (c == '\r') {
            f->cr = true;
            continue;
        }
        if (c == '\n') {
            if (end_line(f))
                return -1;
            continue;
        }
        if (f->line_len < sizeof f->line)
            f->line[f->line_len] = (char)c;
        if (f->line_len < SIZE_MAX)
            f->line_len++;
    }
    return f->state == FR_BAD ? -1 : 0;
}
