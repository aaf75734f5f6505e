/* rs_promote.c: naming a configured store and promoting it; shared by `regsyncd promote`,
 * `regsyncd mirror` and POST /v1/promote (docs/operations.md, "Promoting a replica"). */
#include "rs_daemon.h"
#include "rs_replica.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *rs_daemon_resolve_store(const rs_config *cfg, const char *s, bool allow_url, const char **name)
{
    *name = s;
    if (!s)
        return NULL;
    if (strstr(s, "://"))
        return allow_url ? s : NULL;
    if (!cfg)
        return NULL;
    if (strcmp(s, "primary") == 0)
        return cfg->store;
    return rs_config_replica_url(cfg, s);
}

rs_storage_opts rs_daemon_store_opts(const rs_config *cfg)
{
    rs_storage_opts o = {0};
    if (cfg) {
        o.timeout_ms = cfg->store_options.timeout_ms;
        o.connect_timeout_ms = cfg->store_options.connect_timeout_ms;
        o.max_retries = cfg->store_options.max_retries;
        o.ca_bundle = cfg->store_options.ca_bundle && *cfg->store_options.ca_bundle ? cfg->store_options.ca_bundle : NULL;
    }
    return o;
}

int rs_daemon_promote(const rs_config *cfg, const char *store, bool allow_url, const char *via, uint64_t *epoch_out,
                      uint64_t *version_out, rs_error *err)
{
    const char *name;
    const char *url = rs_daemon_resolve_store(cfg, store, allow_url, &name);
    if (!url)
        return rs_error_set(err, RS_EINVALID, "promote: store %.200s is neither \"primary\" nor a replica in the configuration%s",
                            store ? store : "(none)", allow_url ? " nor a store URL" : "");
    rs_storage_opts so = rs_daemon_store_opts(cfg);
    rs_storage *s = NULL;
    int rc = rs_storage_open(url, &so, &s, err);
    if (rc)
        return rs_error_prefix(err, "promote %s", name);
    /* every other configured store that answers contributes its epoch */
    rs_storage *others[65];
    size_t n = 0;
    if (cfg) {
        const char *urls[65];
        size_t nu = 0;
        urls[nu++] = cfg->store;
        for (size_t i = 0; i < cfg->replicas.n && nu < 65; i++)
            urls[nu++] = strchr(cfg->replicas.v[i], '=') + 1;
        for (size_t i = 0; i < nu; i++) {
            if (strcmp(urls[i], url) == 0)
                continue;
            rs_storage_opts qo = so;
            qo.max_retries = -1; /* the lost primary must not hold the promotion up */
            if (rs_storage_open(urls[i], &qo, &others[n], NULL) == RS_OK)
                n++;
        }
    }
    char by[200], host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    snprintf(by, sizeof by, "%s on %s", via && *via ? via : "regsyncd promote", host);
    rc = rs_replica_promote(s, others, n, by, epoch_out, version_out, err);
    for (size_t i = 0; i < n; i++)
        rs_storage_close(others[i]);
    rs_storage_close(s);
    return rc;
}
