/* rs_daemon.c: configuration -> agent configuration. */
#include "rs_daemon.h"

#include <string.h>

void rs_daemon_agent_config(const rs_config *cfg, rs_agent_config *out)
{
    memset(out, 0, sizeof *out);
    out->region = cfg->region;
    out->instance = cfg->instance && *cfg->instance ? cfg->instance : NULL;
    out->store_url = cfg->store;
    out->source = cfg->source && *cfg->source ? cfg->source : NULL;
    out->target = cfg->target && *cfg->target ? cfg->target : NULL;
    out->state_dir = cfg->state_dir;
    out->publish = cfg->publish;
    out->include_projects = (const char *const *)cfg->filters.include_projects.v;
    out->n_include = cfg->filters.include_projects.n;
    /* ["*"] is the default and means "everything": no filter at all */
    if (out->n_include == 1 && strcmp(out->include_projects[0], "*") == 0)
        out->n_include = 0;
    out->exclude_projects = (const char *const *)cfg->filters.exclude_projects.v;
    out->n_exclude = cfg->filters.exclude_projects.n;
    out->on_local_change = cfg->on_local_change == RS_ON_LOCAL_OVERWRITE ? RS_POLICY_OVERWRITE
                           : cfg->on_local_change == RS_ON_LOCAL_STOP    ? RS_POLICY_STOP
                                                                         : RS_POLICY_KEEP_REGIONAL_META;
    out->snapshot_every = cfg->snapshot_every;
    out->max_delete_fraction = cfg->max_delete_fraction;
    out->retention.versions = cfg->retention.versions;
    out->retention.age_ms = cfg->retention.age_ms;
    out->poll_interval_ms = cfg->poll_interval_ms;
    out->heartbeat_interval_ms = cfg->heartbeat_interval_ms;
    out->stale_after_ms = cfg->stale_after_ms;
    out->forget_after_ms = cfg->forget_after_ms;
    out->max_clock_skew_ms = cfg->max_clock_skew_ms;
    out->max_staleness_ms = cfg->max_staleness_ms;
    out->publisher_id = cfg->publisher_id && *cfg->publisher_id ? cfg->publisher_id : NULL;
    out->compare_full = cfg->ignore_fields.n == 0;
    out->fetch_parallel = cfg->fetch_concurrency > 0 ? (unsigned)cfg->fetch_concurrency : 0;
    out->replicas = (const char *const *)cfg->replicas.v;
    out->n_replicas = cfg->replicas.n;
    out->read_from = (const char *const *)cfg->read_from.v;
    out->n_read_from = cfg->read_from.n;
    out->failover_after_ms = cfg->failover_after_ms;
    out->store_opts.timeout_ms = cfg->store_options.timeout_ms;
    out->store_opts.connect_timeout_ms = cfg->store_options.connect_timeout_ms;
    out->store_opts.max_retries = cfg->store_options.max_retries;
    out->store_opts.ca_bundle = cfg->store_options.ca_bundle && *cfg->store_options.ca_bundle ? cfg->store_options.ca_bundle : NULL;
}
