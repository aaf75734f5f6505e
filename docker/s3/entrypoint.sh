#!/usr/bin/env bash
# Starts RGW with scripts/s3-server.sh (on 127.0.0.1:$RS_S3_PORT), publishes it on 0.0.0.0:7480
# with socat, and stops both on SIGTERM.
set -euo pipefail
/opt/regsync/s3-server.sh start
socat TCP-LISTEN:7480,fork,reuseaddr "TCP:127.0.0.1:${RS_S3_PORT}" &
fwd=$!
stop() { kill "$fwd" 2>/dev/null || true; /opt/regsync/s3-server.sh stop; exit 0; }
trap stop TERM INT
echo "s3: http://<this container>:7480 bucket ${RS_S3_BUCKET}"
wait "$fwd"
