#include "rs_url.h"
#include "rs_buf.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

static bool secret_param(const char *name, size_t n)
{
    static const char *const words[] = {"password", "passwd", "secret", "token", "signature", "credential", "key"};
    char l[64];
    if (n >= sizeof l)
        n = sizeof l - 1;
    memcpy(l, name, n);
    l[n] = '\0';
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasestr(l, words[i]))
            return strcasecmp(l, "sse_kms_key_id") != 0; /* a key id is not a secret */
    return false;
}

char *rs_url_redact(const char *url)
{
    if (!url)
        return NULL;
    rs_buf b = {0};
    const char *p = url;
    const char *sch = strstr(url, "://");
    if (sch) {
        const char *auth = sch + 3;
        size_t alen = strcspn(auth, "/?#");
        const char *at = NULL;
        for (size_t i = 0; i < alen; i++)
            if (auth[i] == '@')
                at = auth + i;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            rs_buf_append(&b, url, (size_t)(colon - url));
            rs_buf_append(&b, ":***", 4);
            p = at;
        }
    }
    const char *q = strchr(p, '?');
    if (!q) {
        rs_buf_append(&b, p, strlen(p));
    } else {
        rs_buf_append(&b, p, (size_t)(q - p));
        const char *s = q;
        while (*s) {
            rs_buf_putc(&b, (uint8_t)*s++); /* '?' or '&' */
            size_t len = strcspn(s, "&"), nl = strcspn(s, "=&");
            if (nl < len && secret_param(s, nl)) {
                rs_buf_append(&b, s, nl + 1);
                rs_buf_append(&b, "***", 3);
            } else {
                rs_buf_append(&b, s, len);
            }
            s += len;
        }
    }
    if (rs_buf_cstr(&b)) {
        rs_buf_free(&b);
        return NULL;
    }
    return (char *)rs_buf_take(&b, NULL);
}
