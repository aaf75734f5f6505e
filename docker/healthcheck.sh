#!/bin/sh
# regsync-healthcheck: the image's HEALTHCHECK. GET /healthz on the admin API over loopback.
#   REGSYNC_HEALTHCHECK_URL   the URL to probe (default: http://127.0.0.1:PORT/healthz with PORT
#                             from REGSYNC_ADMIN_LISTEN, else 8470)
# An agent whose admin API is off (admin.listen: "") has nothing to probe: set
# REGSYNC_HEALTHCHECK_URL=none to report healthy, or disable the check (healthcheck: disable).
url=${REGSYNC_HEALTHCHECK_URL:-}
if [ -z "$url" ]; then
  port=${REGSYNC_ADMIN_LISTEN##*:}
  case $port in ''|*[!0-9]*) port=8470 ;; esac
  url=http://127.0.0.1:$port/healthz
fi
[ "$url" = none ] && exit 0
# https on loopback: the admin certificate is often self-signed; the probe checks liveness, not trust
case $url in https://127.0.0.1*|https://localhost*|https://\[::1\]*) insecure=--insecure ;; *) insecure= ;; esac
exec curl -fsS --max-time 4 $insecure -o /dev/null "$url"
