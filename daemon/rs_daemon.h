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
