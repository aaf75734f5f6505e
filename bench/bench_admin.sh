#!/usr/bin/env bash
# bench_admin.sh: load on the admin API's fast routes with wrk; prints requests/s and latency
# percentiles. Never fails (exit 0), whatever happens.
#
#   bench/bench_admin.sh ADDRESS            # a running regsyncd, e.g. 127.0.0.1:8470
#   bench/bench_admin.sh                    # no daemon: the canned test server (two scenarios)
#
# Environment:
#   DURATION=10s  THREADS=2  CONNECTIONS=32   wrk settings (wrk -t2 -c32 -d10s --latency)
#   BUILD_DIR=build                           where tests/test_admin_http was built (canned mode)
#   HANG_ADDRESS=host:port                    with ADDRESS: also run while that agent's store hangs
#                                             (the operator arranges the hang, e.g. scripts/fault-proxy.py)
#
# Canned mode runs the admin library with the test provider (tests/integration/test_admin_http.c,
# RS_ADMIN_SERVE_SECONDS): once as is, and once while 4 slow provider calls hang (each sleeps
# 60 s, as a call to a hung global store would), to show that the fast routes do not wait for them.
set -u

ROUTES=(/healthz /v1/status /metrics)
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=${BUILD_DIR:-$HERE/../build}
PIDS=()

say() { printf '%s\n' "$*"; }
cleanup() {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null
    done
    wait 2>/dev/null
}
trap cleanup EXIT

if ! command -v wrk >/dev/null 2>&1; then
    say "SKIP bench_admin: wrk is not installed (apt-get install wrk)"
    exit 0
fi

# one wrk run -> "route  req/s  p50  p99  errors"
run_wrk() {
    local addr=$1 route=$2 out rps p50 p99 errs
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://$addr$route" 2>&1)
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errs=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {n += 1} END {print n + 0}' <<<"$out")
    if [ -z "$rps" ]; then
        say "  $route: wrk failed: $(head -c 300 <<<"$out")"
        return
    fi
    printf '  %-12s %12s %10s %10s %8s\n' "$route" "$rps" "${p50:-?}" "${p99:-?}" "$errs"
}

table() {
    local title=$1 addr=$2
    say ""
    say "== $title ($addr, wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency)"
    printf '  %-12s %12s %10s %10s %8s\n' route "requests/s" p50 p99 non-2xx
    for r in "${ROUTES[@]}"; do
        run_wrk "$addr" "$r"
    done
}

reachable() { curl -s -o /dev/null --max-time 3 "http://$1/healthz"; }

# starts the canned server in the background (its pid joins PIDS); sets CANNED_ADDR and CANNED_PID
start_canned() {
    local slow_ms=$1 secs=$2 log
    log=$(mktemp)
    RS_ADMIN_SERVE_SECONDS=$secs RS_ADMIN_SERVE_SLOW_MS=$slow_ms "$BUILD_DIR/tests/test_admin_http" >"$log" 2>&1 &
    CANNED_PID=$!
    PIDS+=("$CANNED_PID")
    for _ in $(seq 1 50); do
        if grep -q '^ADDRESS ' "$log"; then
            CANNED_ADDR=$(awk '/^ADDRESS / {print $2; exit}' "$log")
            rm -f "$log"
            return 0
        fi
        sleep 0.1
    done
    rm -f "$log"
    return 1
}

say "bench_admin: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) CPU(s), $(uname -sr)"

if [ $# -ge 1 ] && [ -n "$1" ]; then
    ADDR=$1
    if ! reachable "$ADDR"; then
        say "SKIP bench_admin: nothing answers http://$ADDR/healthz (start regsyncd first)"
        exit 0
    fi
    table "regsyncd" "$ADDR"
    if [ -n "${HANG_ADDRESS:-}" ] && reachable "$HANG_ADDRESS"; then
        table "regsyncd while its global store hangs" "$HANG_ADDRESS"
    fi
    exit 0
fi

if [ ! -x "$BUILD_DIR/tests/test_admin_http" ]; then
    say "SKIP bench_admin: no ADDRESS given and $BUILD_DIR/tests/test_admin_http is not built"
    say "     (cmake --build $BUILD_DIR --target test_admin_http, or pass a running daemon's address)"
    exit 0
fi

secs=$(( ${#ROUTES[@]} * 2 * 15 + 30 ))
if start_canned 0 "$secs"; then
    table "admin library, canned provider" "$CANNED_ADDR"
    kill "$CANNED_PID" 2>/dev/null
else
    say "  could not start the canned server"
fi

if start_canned 60000 "$secs"; then
    HADDR=$CANNED_ADDR
    # four slow calls that hang in the provider for the whole run
    for r in /v1/drift /v1/versions /v1/registry "/v1/diff?from=1&to=2"; do
        curl -s -o /dev/null --max-time 120 "http://$HADDR$r" &
        PIDS+=($!)
    done
    sleep 0.5
    running=$(curl -s "http://$HADDR/metrics" | awk '$1 == "regsync_admin_slow_calls_running" {print $2}')
    table "same, while ${running:-?} provider calls hang (store outage)" "$HADDR"
else
    say "  could not start the canned server"
fi
exit 0
