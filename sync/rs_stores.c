/* rs_stores.c: the stores an agent reads from, in read_from order, and read failover: moving to the
 * next store after failover_after of failed polls (at once from a fenced store, a HEAD of an older
 * epoch), and back to the preferred one when it answers. Agent thread only. See
 * docs/operations.md, "Disaster recovery". */
#include "rs_agent_impl.h"
#include "rs_log.h"
#include "rs_time.h"
#include "rs_url.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Opens one store. tolerant: a store that does not answer now (not a bad URL) is left closed
 * (NULL) and opened again when the agent moves to it. */
static int open_one(rs_agent *a, rs_store_ref *r, bool tolerant, rs_error *err)
{
    rs_error oe = {0};
    int rc = rs_storage_open(r->url, &a->cfg.store_opts, &r->h, &oe);
    if (!rc)
        return RS_OK;
    if (!a->primary_open_error[0])
        snprintf(a->primary_open_error, sizeof a->primary_open_error, "%.60s: %.400s", r->name, oe.msg);
    if (tolerant && rc != RS_EINVALID && rc != RS_ENOMEM) {
        RS_LOGW("agent", "store %s cannot be opened now (tried again when needed) error=\"%s\"", r->name, oe.msg);
        r->h = NULL;
        return RS_OK;
    }
    if (err)
        *err = oe;
    return rs_error_prefix(err, "store %s", r->name);
}

/* The read order: read_from names, or the primary then the replicas as listed. One handle per
 * store; a->store is the first (the preferred one), a->primary the store publishers append to. */
int rs_stores_open(rs_agent *a, const rs_agent_config *cfg, rs_error *err)
{
    size_t n = 1 + cfg->n_replicas;
    a->stores = calloc(n + 1, sizeof *a->stores);
    if (!a->stores)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    const char *names[65];
    const char *urls[65];
    size_t nn = 0;
    if (n > 64)
        return rs_error_set(err, RS_EINVALID, "agent: at most 63 replicas");
    if (cfg->n_read_from) {
        for (size_t i = 0; i < cfg->n_read_from; i++) {
            const char *nm = cfg->read_from[i];
            const char *url = NULL;
            if (strcmp(nm, "primary") == 0)
                url = cfg->store_url;
            for (size_t j = 0; !url && j < cfg->n_replicas; j++) {
                const char *eq = strchr(cfg->replicas[j], '=');
                if (eq && (size_t)(eq - cfg->replicas[j]) == strlen(nm) && strncmp(cfg->replicas[j], nm, strlen(nm)) == 0)
                    url = eq + 1;
            }
            if (!url)
                return rs_error_set(err, RS_EINVALID, "agent: read_from names %s, which is neither primary nor a replica", nm);
            names[nn] = nm;
            urls[nn++] = url;
        }
    } else {
        names[nn] = "primary";
        urls[nn++] = cfg->store_url;
    }
    for (size_t i = 0; i < nn; i++) {
        a->stores[i].name = strdup(names[i]);
        a->stores[i].url = strdup(urls[i]);
        a->n_stores++;
        if (!a->stores[i].name || !a->stores[i].url)
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        int rc = open_one(a, &a->stores[i], nn > 1, err);
        if (rc)
            return rc;
        if (strcmp(names[i], "primary") == 0) {
            a->primary = a->stores[i].h;
            a->cfg.store_url = a->stores[i].url;
        }
    }
    /* without read_from: the replicas after the primary, in their order */
    for (size_t j = 0; !cfg->n_read_from && j < cfg->n_replicas; j++) {
        const char *eq = strchr(cfg->replicas[j], '=');
        if (!eq)
            return rs_error_set(err, RS_EINVALID, "agent: replica %s is not name=url", cfg->replicas[j]);
        rs_store_ref *r = &a->stores[a->n_stores];
        r->name = strndup(cfg->replicas[j], (size_t)(eq - cfg->replicas[j]));
        r->url = strdup(eq + 1);
        a->n_stores++;
        if (!r->name || !r->url)
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        int rc = open_one(a, r, true, err);
        if (rc)
            return rc;
    }
    if (!a->primary) { /* read_from without the primary: publishers still append to it */
        rs_store_ref *r = &a->stores[a->n_stores];
        r->name = strdup("primary");
        r->url = strdup(cfg->store_url);
        if (!r->name || !r->url) {
            free(r->name);
            free(r->url);
            r->name = r->url = NULL;
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        }
        int rc = open_one(a, r, !cfg->publish, err);
        if (rc) {
            free(r->name);
            free(r->url);
            r->name = r->url = NULL;
            return rc;
        }
        a->primary = r->h;
        a->cfg.store_url = r->url;
        a->n_primary_extra = 1; /* kept after the read order, never read from */
    }
    if (cfg->publish && !a->primary)
        return rs_error_set(err, RS_EUNAVAILABLE, "agent: the primary store cannot be opened: %s", a->primary_open_error);
    /* start on the first store that opens (a replica when the primary's region is down) */
    a->cur = 0;
    while (a->cur < a->n_stores && !a->stores[a->cur].h)
        a->cur++;
    if (a->cur == a->n_stores)
        return rs_error_set(err, RS_EUNAVAILABLE, "agent: no store of read_from can be opened (first: %s)", a->primary_open_error);
    if (a->cur)
        RS_LOGW("agent", "starting on store %s: the stores before it in read_from cannot be opened", a->stores[a->cur].name);
    a->store = a->stores[a->cur].h;
    free(a->store_url);
    a->store_url = strdup(a->stores[a->cur].url);
    snprintf(a->st.read_store, sizeof a->st.read_store, "%s", a->stores[a->cur].name);
    a->st.n_stores = a->n_stores;
    return a->store_url ? RS_OK : rs_error_set(err, RS_ENOMEM, "out of memory");
}


/* ------------------------------------------------------------ read failover */

/* Reads from stores[to] from now on. The per-store conditional state (HEAD and control ETags)
 * and the extra handles (parallel fetch, push) belong to the old store: dropped. */
void rs_stores_switch(rs_agent *a, size_t to, bool failover, const char *why)
{
    size_t from = a->cur;
    for (size_t k = 0; k < a->n_stores && !a->stores[to].h; k++) {
        rs_error oe = {0};
        if (rs_storage_open(a->stores[to].url, &a->cfg.store_opts, &a->stores[to].h, &oe) == RS_OK)
            break;
        a->stores[to].h = NULL;
        RS_LOGW("agent", "store %s cannot be opened error=\"%s\"", a->stores[to].name, oe.msg);
        if (!failover)
            return;
        to = (to + 1) % a->n_stores;
    }
    if (!a->stores[to].h || to == from)
        return;
    a->cur = to;
    a->store = a->stores[to].h;
    char *u = strdup(a->stores[to].url);
    if (u) {
        free(a->store_url);
        a->store_url = u;
    }
    for (int i = 0; i < RS_MAX_FETCH; i++) {
        rs_storage_close(a->fetch[i]);
        a->fetch[i] = NULL;
    }
    rs_storage_close(a->watch);
    a->watch = NULL;
    if ((rs_storage_caps(a->store) & RS_CAP_WATCH) && !a->cfg.no_watch)
        rs_storage_open(a->store_url, &a->cfg.store_opts, &a->watch, NULL);
    a->head_etag[0] = '\0';
    a->rctl_etag[0] = '\0';
    a->store_fail_since_mono = 0;
    a->last_pref_probe_mono = rs_mono_ms();
    pthread_mutex_lock(&a->mu);
    if (failover)
        a->st.store_failovers++;
    else
        a->st.store_returns++;
    snprintf(a->st.read_store, sizeof a->st.read_store, "%s", a->stores[to].name);
    a->wake = true; /* poll the new store now, not after another interval */
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    char *ru = rs_url_redact(a->stores[to].url);
    RS_LOGW("agent", "%s store=%s url=\"%s\" from=%s reason=\"%s\"", failover ? "failover" : "returning to the preferred store",
            a->stores[to].name, ru ? ru : "", a->stores[from].name, why);
    rs_journal_event(a->journal, failover ? RS_LOG_WARN : RS_LOG_INFO, "store", a->state_version,
                     "%s: reading from store %s (was %s): %s", failover ? "failover" : "back to the preferred store",
                     a->stores[to].name, a->stores[from].name, why);
    free(ru);
}

/* Before a step: while reading from another store, look at the preferred one now and then and
 * go back to it when it answers with a HEAD of an epoch not older than the highest seen. */
void rs_stores_probe_preferred(rs_agent *a)
{
    if (a->n_stores < 2 || a->cur == 0)
        return;
    int64_t every = a->cfg.poll_interval_ms * 2 > 1000 ? a->cfg.poll_interval_ms * 2 : 1000;
    int64_t now = rs_mono_ms();
    if (now - a->last_pref_probe_mono < every)
        return;
    a->last_pref_probe_mono = now;
    rs_head h;
    char etag[RS_ETAG_MAX];
    rs_error e = {0};
    if (!a->stores[0].h && rs_storage_open(a->stores[0].url, &a->cfg.store_opts, &a->stores[0].h, &e) != RS_OK) {
        a->stores[0].h = NULL;
        return;
    }
    int rc = rs_log_read_head(a->stores[0].h, NULL, &h, etag, &e);
    if (rc)
        return;
    bool ok = h.epoch >= a->max_epoch;
    uint64_t ep = h.epoch;
    rs_head_clear(&h);
    if (!ok) {
        RS_LOGD("agent", "preferred store %s answers at epoch %" PRIu64 " < %" PRIu64 ": staying", a->stores[0].name, ep,
                a->max_epoch);
        return;
    }
    rs_stores_switch(a, 0, false, "it answers again");
}

/* After a step: the current store failed (or is fenced): count, and move on when due. */
void rs_stores_check_failover(rs_agent *a, int64_t step_started)
{
    if (a->n_stores < 2)
        return;
    int64_t now = rs_mono_ms();
    if (!a->store_failed && !a->store_fenced) {
        a->store_fail_since_mono = 0;
        return;
    }
    if (!a->store_fail_since_mono)
        a->store_fail_since_mono = step_started; /* failing since the first failed poll began */
    if (!a->store_fenced && now - a->store_fail_since_mono < a->cfg.failover_after_ms)
        return;
    char why[160];
    if (a->store_fenced)
        snprintf(why, sizeof why, "its HEAD is of an epoch older than %" PRIu64 " (a former primary)", a->max_epoch);
    else
        snprintf(why, sizeof why, "its polls failed for %lld ms", (long long)(now - a->store_fail_since_mono));
    rs_stores_switch(a, (a->cur + 1) % a->n_stores, true, why);
}

