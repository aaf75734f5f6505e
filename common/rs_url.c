/* rs_url.c: see rs_url.h. */
#include "rs_url.h"
#include "rs_buf.h"
#include "rs_error.h"

#include <stdlib.h>

#include <ctype.h>
#include <string.h>
#include <strings.h>

bool rs_secret_name(const char *leaf)
{
    char l[128];
    size_t n = strlen(leaf);
    if (n >= sizeof l)
        n = sizeof l - 1;
    for (size_t i = 0; i < n; i++)
        l[i] = (char)tolower((unsigned char)leaf[i]);
    l[n] = '\0';
    /* token_file, password_file: the name of a file holding the secret, not the secret */
    if (n > 5 && strcmp(l + n - 5, "_file") == 0)
        return false;
    if (strcmp(l, "token") == 0 || (n > 6 && strcmp(l + n - 6, "_token") == 0))
        return true;
    static const char *const words[] = {"password", "passwd", "secret", "access_key", "api_key",
                                        "apikey", "credential", "private_key", NULL};
    for (int i = 0; words[i]; i++)
        if (strstr(l, words[i]))
            return true;
    return false;
}

static bool query_name_secret(const char *name, size_t n)
{
    char l[64];
    if (n >= sizeof l)
        n = sizeof l - 1;
    memcpy(l, name, n);
    l[n] = '\0';
    if (strcasecmp(l, "sig") == 0 || strcasecmp(l, "pass") == 0 || strcasestr(l, "signature") || strcasestr(l, "security-token"))
        return true;
    return rs_secret_name(l);
}

/* true when url carries a password in its userinfo or a secret-looking query parameter */
bool rs_url_has_secret(const char *url)
{
    const char *sch = strstr(url, "://");
    if (!sch)
        return false;
    const char *auth = sch + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (auth[i] == '@')
            at = auth + i;
    if (at && memchr(auth, ':', (size_t)(at - auth)))
        return true;
    const char *qm = strchr(url, '?');
    while (qm && *qm) {
        const char *p = qm + 1;
        size_t nl = strcspn(p, "=&#");
        if (p[nl] == '=' && query_name_secret(p, nl))
            return true;
        qm = strchr(p, '&');
    }
    return false;
}

char *rs_url_redact(const char *url)
{
    if (!url)
        return NULL;
    rs_buf b = {0};
    const char *sch = strstr(url, "://");
    const char *p = url;
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
            rs_buf_printf(&b, ":<redacted>");
            p = at;
        }
    }
    const char *qm = strchr(p, '?');
    if (!qm) {
        rs_buf_append(&b, p, strlen(p));
    } else {
        rs_buf_append(&b, p, (size_t)(qm - p));
        const char *s = qm;
        while (*s) {
            rs_buf_putc(&b, (uint8_t)*s); /* '?' or '&' */
            s++;
            size_t len = strcspn(s, "&#");
            size_t nl = strcspn(s, "=&#");
            if (nl < len && s[nl] == '=' && query_name_secret(s, nl)) {
                rs_buf_append(&b, s, nl + 1);
                rs_buf_printf(&b, "<redacted>");
            } else {
                rs_buf_append(&b, s, len);
            }
            s += len;
            if (*s == '#') {
                rs_buf_append(&b, s, strlen(s));
                break;
            }
        }
    }
    if (rs_buf_cstr(&b)) {
        rs_buf_free(&b);
        return NULL;
    }
    size_t len;
    return (char *)rs_buf_take(&b, &len);
}

int rs_hexdigit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int rs_pct_decode(const char *s, size_t n, char **out)
{
    *out = NULL;
    char *o = malloc(n + 1);
    if (!o)
        return RS_ENOMEM;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            o[j++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? rs_hexdigit((unsigned char)s[i + 1]) : -1;
        int lo = hi < 0 ? -1 : rs_hexdigit((unsigned char)s[i + 2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(o);
            return RS_EINVALID;
        }
        o[j++] = (char)(hi * 16 + lo);
        i += 2;
    }
    o[j] = '\0';
    *out = o;
    return RS_OK;
}
