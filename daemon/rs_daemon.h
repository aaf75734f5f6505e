/* rs_daemon.h: the pieces of regsyncd that tests link: turning a validated configuration into
 * an agent configuration, and the admin API provider backed by a running agent.
 *
 * Ownership: rs_daemon_agent_config fills *out with pointers borrowed from cfg (which must
 * outlive it). The provider context owns its own read-only journal handle and store handle and
 * borrows the agent and the config.
 */
#ifndef RS_DAEMON_H
#define RS_DAEMON_H

#include "rs_agent.h"
#include "rs_config.h"

#ifdef RS_HAVE_ADMIN
#include "rs_admin.h"
#endif

void rs_daemon_agent_config(const rs_config *cfg, rs_agent_config *out);

/* `regsyncd healthcheck`: the URL of the admin API's /healthz for admin.listen (a wildcard host
 * becomes loopback; https when tls is true) into out (n bytes). RS_EINVALID, with a message that
 * says why, when the API is off, or the port is missing, bad or 0. */
int rs_healthcheck_url(const char *listen, bool tls, char *out, size_t n, rs_error *err);
/* GETs that URL within timeout_ms (0: 4000; TLS not verified: it is our own process); RS_OK on
 * HTTP 200, RS_EUNAVAILABLE otherwise. url (url_len bytes) receives the URL probed. */
int rs_healthcheck(const rs_config *cfg, long timeout_ms, char *url, size_t url_len, rs_error *err);

/* A store named by the user: "primary" (cfg->store), a replica's name, or (allow_url) a store URL.
 * *name gets the printable name (s itself). The URL returned is borrowed from cfg or is s; NULL when
 * s names nothing. */
const char *rs_daemon_resolve_store(const rs_config *cfg, const char *s, bool allow_url, const char **name);
/* The storage options of cfg's store_options (cfg NULL: defaults). Strings borrowed from cfg. */
rs_storage_opts rs_daemon_store_opts(const rs_config *cfg);

/* `regsyncd promote --store S` and POST /v1/promote: makes store S (resolved as above) the primary:
 * rs_replica_promote on it with every other configured store that answers contributing its epoch
 * (a store that does not answer is skipped at once: the lost primary must not hold it up).
 * via: who asks ("regsyncd promote", "admin API"), recorded with the host name as HEAD's publisher.
 * Errors: RS_EINVALID when S names no store, RS_ENOTFOUND when S has no HEAD, RS_ECONFLICT when
 * S's HEAD changed while promoting (the conditional write lost), else the store's error. */
int rs_daemon_promote(const rs_config *cfg, const char *store, bool allow_url, const char *via, uint64_t *epoch_out,
                      uint64_t *version_out, rs_error *err);

typedef struct rs_provider rs_provider;

/* A provider for the admin API over agent a (borrowed) configured by cfg (borrowed). */
int rs_provider_new(rs_agent *a, const rs_config *cfg, rs_provider **out, rs_error *err);
void rs_provider_free(rs_provider *p);
#ifdef RS_HAVE_ADMIN
void rs_provider_fill(rs_provider *p, rs_admin_provider *out);
/* So that long polls are re-checked after each agent step and fleet refresh. Set it to NULL
 * before the admin API stops. */
void rs_provider_set_admin(rs_provider *p, rs_admin *admin);
#endif

#endif
