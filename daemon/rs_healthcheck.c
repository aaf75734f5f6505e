/* rs_healthcheck.c: `regsyncd healthcheck`: GET /healthz on the admin API this configuration
 * describes. See rs_daemon.h. */
#include "rs_daemon.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rs_healthcheck_url(const char *listen, bool tls, char *out, size_t n, rs_error *err)
{
    if (!listen || !*listen)
        return rs_error_set(err, RS_EINVALID,
                            "the admin API is off (admin.listen is empty): nothing to probe; disable the health check instead");
    const char *colon = strrchr(listen, ':');
    if (!colon || !colon[1])
        return rs_error_set(err, RS_EINVALID, "admin.listen '%s' has no port", listen);
    const char *port = colon + 1;
    if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 || atoi(port) > 65535)
        return rs_error_set(err, RS_EINVALID, "admin.listen '%s': bad port", listen);
    if (atoi(port) == 0)
        return rs_error_set(err, RS_EINVALID,
                            "admin.listen '%s': port 0 is chosen when the agent starts; a health check needs a fixed port", listen);
    char host[256];
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof host)
        return rs_error_set(err, RS_EINVALID, "admin.listen '%s': host too long", listen);
    memcpy(host, listen, hl);
    host[hl] = '\0';
    /* a wildcard listens on loopback too: probe that */
    const char *h = host;
    if (!*h || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "*") == 0)
        h = "127.0.0.1";
    else if (strcmp(h, "[::]") == 0 || strcmp(h, "::") == 0)
        h = "[::1]";
    if ((size_t)snprintf(out, n, "%s://%s:%s/healthz", tls ? "https" : "http", h, port) >= n)
        return rs_error_set(err, RS_EINVALID, "admin.listen '%s': too long", listen);
    return RS_OK;
}

static size_t discard(char *p, size_t s, size_t m, void *u)
{
    (void)p;
    (void)u;
    return s * m;
}

int rs_healthcheck(const rs_config *cfg, long timeout_ms, char *url, size_t url_len, rs_error *err)
{
    bool tls = cfg->admin.tls_cert && *cfg->admin.tls_cert;
    int rc = rs_healthcheck_url(cfg->admin.listen, tls, url, url_len, err);
    if (rc)
        return rc;
    CURL *c = curl_easy_init();
    if (!c)
        return rs_error_set(err, RS_ENOMEM, "cannot start an HTTP client");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 4000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    if (tls) {
        /* our own process on a local address: liveness, not trust (the certificate names the
         * service, not the address probed here) */
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (cc != CURLE_OK)
        return rs_error_set(err, RS_EUNAVAILABLE, "%s: %s", url, curl_easy_strerror(cc));
    if (code != 200)
        return rs_error_set(err, RS_EUNAVAILABLE, "%s: HTTP %ld", url, code);
    return RS_OK;
}
