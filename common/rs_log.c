#include "rs_log.h"
#include "rs_buf.h"
#include "rs_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct {
    rs_log_level min;
    bool json;
    int fd;
} cfg = {RS_LOG_INFO, false, 2};

static const char *names[] = {"debug", "info", "warn", "error", "off"};

void rs_log_configure(rs_log_level min_level, bool json, int fd)
{
    cfg.min = min_level;
    cfg.json = json;
    cfg.fd = fd;
}

int rs_log_level_parse(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    if (strcmp(s, "warning") == 0)
        return RS_LOG_WARN;
    return -1;
}

bool rs_log_enabled(rs_log_level level) { return level >= cfg.min && level < RS_LOG_OFF; }

static void json_str(rs_buf *b, const char *s, size_t n)
{
    rs_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            rs_buf_putc(b, '\\');
            rs_buf_putc(b, c);
        } else if (c < 0x20) {
            rs_buf_printf(b, "\\u%04x", c);
        } else {
            rs_buf_putc(b, c);
        }
    }
    rs_buf_putc(b, '"');
}

/* Splits "event k=v k2=\"a b\"" into JSON fields. Tokens without '=' join the event text. */
static void to_json(rs_buf *b, const char *msg)
{
    rs_buf ev = {0};
    const char *p = msg;
    rs_buf fields = {0};
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *tok = p, *eq = NULL;
        while (*p && *p != ' ' && *p != '=')
            p++;
        if (*p == '=' && p > tok) {
            eq = p++;
            const char *v = p;
            size_t vn;
            rs_buf val = {0};
            if (*p == '"') {
                p++;
                while (*p && *p != '"') {
                    if (*p == '\\' && p[1])
                        p++;
                    rs_buf_putc(&val, (uint8_t)*p++);
                }
                if (*p == '"')
                    p++;
            } else {
                while (*p && *p != ' ')
                    p++;
                vn = (size_t)(p - v);
                rs_buf_append(&val, v, vn);
            }
            rs_buf_putc(&fields, ',');
            json_str(&fields, tok, (size_t)(eq - tok));
            rs_buf_putc(&fields, ':');
            json_str(&fields, val.data ? (const char *)val.data : "", val.len);
            rs_buf_free(&val);
        } else {
            while (*p && *p != ' ')
                p++;
            if (ev.len)
                rs_buf_putc(&ev, ' ');
            rs_buf_append(&ev, tok, (size_t)(p - tok));
        }
    }
    rs_buf_append(b, ",\"event\":", 9);
    json_str(b, ev.data ? (const char *)ev.data : "", ev.len);
    if (fields.len)
        rs_buf_append(b, fields.data, fields.len);
    rs_buf_free(&ev);
    rs_buf_free(&fields);
}

void rs_log(rs_log_level level, const char *module, const char *fmt, ...)
{
    if (!rs_log_enabled(level))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char ts[40];
    rs_time_rfc3339_ms(rs_wall_ms(), ts, sizeof ts);
    rs_buf b = {0};
    if (cfg.json) {
        rs_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":", ts, names[level]);
        json_str(&b, module, strlen(module));
        to_json(&b, msg);
        rs_buf_append(&b, "}\n", 2);
    } else {
        rs_buf_printf(&b, "%s %s %s %s\n", ts, names[level], module, msg);
    }
    if (b.data) {
        ssize_t w = write(cfg.fd, b.data, b.len);
        (void)w;
    }
    rs_buf_free(&b);
}
