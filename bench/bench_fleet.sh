#!/usr/bin/env bash
# bench/bench_fleet.sh: the fleet view at scale (issue 10's benchmark). Not a test: it prints
# figures and ratios, never fails on a timing.
#
# For each backend (S3 on the RGW test server, PostgreSQL, and file:// for reference) and each
# fleet size (20 and 200 instances over 10 regions): regsync-fleet-sim (bench/) writes the reports
# of N-3 simulated follower instances and rewrites them every heartbeat, as agents do; three real
# agents (regsyncd run, region-00, real-1 with the admin API) follow the store. Measured on real-1:
#
#   - store requests per poll: its own requests (regsync_store_requests_total: HEAD, the region's
#     control record, its report) plus its fleet view's (the `refresh` object of every refresh in
#     the window, read from /v1/drift), over its polls; on S3 also counted from outside by
#     scripts/fault-proxy.py in front of real-1 (every request it sends, by kind);
#   - one fleet-view refresh: requests, bytes and time when nothing changed, and the first one
#     after a publish changed every report;
#   - /v1/drift and /v1/wait (every instance already there) under wrk -c32: p50, p99, requests/s.
# The figures for 20 and 200 instances side by side, and their ratios.
#
#   bench/bench_fleet.sh
#
# Environment: BUILD_DIR (default build-bench, RelWithDebInfo), NO_BUILD=1 to use the binaries as
# they are, BACKENDS (default "s3 pg file"), SIZES (default "20 200"), REGIONS (10), HEARTBEAT (5s),
# POLL (1s), WINDOW (seconds of steady state measured, default 30), WRK_SECONDS (10), WRK_CONN (32),
# START_SERVERS=1 to start the test servers (scripts/s3-server.sh, scripts/pg-server.sh, with their
# RS_S3_* / RS_PG_* environment) when they are not running. About 2 minutes per backend and size.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
if [[ ${NO_BUILD:-0} != 1 ]]; then
  [[ -f $build/CMakeCache.txt ]] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j2 --target regsyncd regsync-dump regsync-gen regsync-fleet-sim >/dev/null
fi
REGSYNCD=$build/daemon/regsyncd GEN=$build/bench/regsync-gen SIM=$build/bench/regsync-fleet-sim
for b in "$REGSYNCD" "$GEN" "$SIM"; do [[ -x $b ]] || { echo "bench_fleet.sh: $b is missing" >&2; exit 1; }; done
for t in curl jq wrk python3; do command -v $t >/dev/null || { echo "bench_fleet.sh: $t is needed (scripts/deps.sh test)" >&2; exit 1; }; done
PY=python3; [[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3

BACKENDS=${BACKENDS:-s3 pg file} SIZES=${SIZES:-20 200} REGIONS=${REGIONS:-10}
HEARTBEAT=${HEARTBEAT:-5s} POLL=${POLL:-1s} WINDOW=${WINDOW:-30} WRK_SECONDS=${WRK_SECONDS:-10} WRK_CONN=${WRK_CONN:-32}
work=$(mktemp -d "${TMPDIR:-/tmp}/rs-bench-fleet.XXXXXX")
run=$(printf '%x' "$(date +%s)")
pids=()
stores=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for p in "${stores[@]}"; do drop_store "$p"; done
  rm -rf "$work"
}
trap cleanup EXIT
bg() { local log=$1; shift; "$@" >>"$log" 2>&1 & pids+=($!); LAST=$!; }
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
now() { date +%s.%N; }
wait_until() { # wait_until SECONDS CMD...
  local end; end=$(awk -v a="$(now)" -v m="$1" 'BEGIN { printf "%.3f", a + m }'); shift
  until "$@" >/dev/null 2>&1; do
    awk -v e="$end" -v n="$(now)" 'BEGIN { exit !(n >= e) }' && return 1
    sleep 0.2
  done
}

server() { # server NAME SCRIPT: 0 when its test server answers (or was started)
  local script=$root/scripts/$2
  if ! "$script" status >/dev/null 2>&1 && [[ ${START_SERVERS:-0} == 1 ]]; then "$script" start >/dev/null 2>&1 || true; fi
  "$script" status >/dev/null 2>&1 || { echo "bench_fleet.sh: $1 skipped: its test server is not running ($script start, or START_SERVERS=1)"; return 1; }
  eval "$("$script" env)"
}
drop_store() {
  local url=$1
  case $url in
    s3://*)
      command -v aws >/dev/null || return 0
      local bp=${url#s3://}; bp=${bp%%\?*}
      local ep; ep=$(sed -n 's/.*[?&]endpoint=\([^&]*\).*/\1/p' <<<"$url")
      timeout 60 aws s3 rm --quiet --recursive "s3://$bp/" ${ep:+--endpoint-url "$ep"} >/dev/null 2>&1 || true ;;
    postgres*://*)
      local p; p=$(sed -n 's/.*[?&]table_prefix=\([a-z0-9_]*\).*/\1/p' <<<"$url")
      local conn=${url%%table_prefix=*}; conn=${conn%[?&]}
      timeout 30 psql -q "$conn" >/dev/null 2>&1 <<SQL || true
DROP TABLE IF EXISTS ${p}objects CASCADE;
DROP TABLE IF EXISTS ${p}schema_version CASCADE;
DROP FUNCTION IF EXISTS ${p}objects_stamp() CASCADE;
DROP FUNCTION IF EXISTS ${p}objects_notify() CASCADE;
SQL
      ;;
  esac
}
store_url() { # store_url BACKEND NAME
  case $1 in
    file) mkdir -p "$work/$2" && echo "file://$work/$2" ;;
    s3) local base=${RS_TEST_S3_URL%%\?*} q=; [[ $RS_TEST_S3_URL == *\?* ]] && q="?${RS_TEST_S3_URL#*\?}"
        echo "${base%/}/bench-fleet-$run-$2$q" ;;
    pg) local sep='?'; [[ $RS_TEST_PG_URL == *\?* ]] && sep='&'
        echo "${RS_TEST_PG_URL}${sep}table_prefix=bf_${run}_${2//[^a-z0-9]/_}_" ;;
  esac
}
metric() { sed -n "s/^$2 //p" "$1" | head -n 1; }   # metric FILE NAME
fsum() { awk '{ s += $1 } END { printf "%.0f", s }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # utime + stime of PID, in clock ticks
# wrk_p URL PID [CONNECTIONS SECONDS]: "p50_ms p99_ms req_per_s non2xx cpu_ms_per_request" (wrk
# --latency; the CPU time PID spent during the run over the requests wrk completed)
wrk_p() {
  local c0 c1 out
  c0=$(cpu_ticks "$2")
  local c=${3:-$WRK_CONN}
  out=$(wrk -t"$((c < 2 ? c : 2))" -c"$c" -d"${4:-$WRK_SECONDS}s" --latency "$1" 2>&1)
  c1=$(cpu_ticks "$2")
  echo "$out" >>"$work/wrk.log"
  CPU_MS=$(( (c1 - c0) * 1000 / $(getconf CLK_TCK) )) "$PY" -c '
import re, sys
t = sys.stdin.read()
def ms(v, u): return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[u]
p = dict((k, ms(v, u)) for k, v, u in re.findall(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", t, re.M))
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
n = re.search(r"(\d+) requests in", t)
import os
cpu = float(os.environ["CPU_MS"]) / int(n.group(1)) if n and int(n.group(1)) else -1
print("%.2f %.2f %.0f %s %.3f" % (p.get("50", -1), p.get("99", -1), float(rps.group(1)) if rps else -1,
                                   bad.group(1) if bad else 0, cpu))
' <<<"$out"
}

results=$work/results.tsv
: >"$results"
run_case() { # run_case BACKEND N
  local backend=$1 n=$2 dir=$work/$1-$2
  mkdir -p "$dir/src"
  local store; store=$(store_url "$backend" "n$n")
  stores+=("$store")
  "$GEN" --seed 5 --projects 3 --out "$dir/src/registry.db" 2>/dev/null
  printf 'region: ci\ninstance: bench-publisher\nsource: file://%s/src/registry.db\npublish: true\nstate_dir: %s/pubstate\nadmin: { listen: "" }\n' \
    "$dir" "$dir" >"$dir/pub.yaml"
  REGSYNC_STORE=$store "$REGSYNCD" publish --once --config "$dir/pub.yaml" >/dev/null 2>>"$dir/publish.log"
  bg "$dir/sim.log" env REGSYNC_STORE="$store" "$SIM" --regions "$REGIONS" --instances $((n - 3)) --heartbeat "$HEARTBEAT" --quiet
  local sim=$LAST
  # real-1 reaches S3 through fault-proxy.py, which logs every request it sends
  local store1=$store proxy=
  if [[ $backend == s3 ]]; then
    bg "$dir/proxy.log" "$PY" -u "$root/scripts/fault-proxy.py" 0 "${RS_TEST_S3_ENDPOINT#http://}" "$dir/faults" "$dir/requests.log"
    proxy=$LAST
    wait_until 10 grep -q '^listening ' "$dir/proxy.log"
    local pp; pp=$(sed -n 's/^listening //p' "$dir/proxy.log" | head -n 1)
    store1=${store//${RS_TEST_S3_ENDPOINT}/http://127.0.0.1:$pp}
  fi
  local port; port=$(free_port)
  local i agents=()
  for i in 1 2 3; do
    local listen='""'; [[ $i == 1 ]] && listen="\"127.0.0.1:$port\""
    printf 'region: region-00\ninstance: real-%s\ntarget: %s/real-%s/registry.db\nstate_dir: %s/real-%s/state\npoll_interval: %s\nheartbeat_interval: %s\nstale_after: 60s\nadmin: { listen: %s }\n' \
      "$i" "$dir" "$i" "$dir" "$i" "$POLL" "$HEARTBEAT" "$listen" >"$dir/real-$i.yaml"
    mkdir -p "$dir/real-$i"
    local st=$store; [[ $i == 1 ]] && st=$store1
    bg "$dir/real-$i.log" env REGSYNC_STORE="$st" "$REGSYNCD" run --config "$dir/real-$i.yaml"
    agents+=("$LAST")
  done
  local A=http://127.0.0.1:$port
  view_has() { [[ $(curl -s "$A/v1/drift" | jq '[.regions[].instances_total] | add') == "$1" ]]; }
  if ! wait_until 90 view_has "$n"; then
    echo "bench_fleet.sh: $backend n=$n: real-1's view never listed $n instances" >&2
    tail -n 5 "$dir"/real-1.log >&2
    for p in "$sim" "${agents[@]}" $proxy; do stop "$p"; done
    return 0
  fi
  sleep 2
  # ---- steady state: WINDOW seconds
  curl -s "$A/metrics" >"$dir/m0.txt"
  local r0; r0=$(grep -c . "$dir/requests.log" 2>/dev/null || echo 0)
  local t_end; t_end=$(awk -v a="$(now)" -v w="$WINDOW" 'BEGIN { printf "%.3f", a + w }')
  : >"$dir/refresh.jsonl"
  while awk -v e="$t_end" -v n="$(now)" 'BEGIN { exit !(n < e) }'; do
    curl -s "$A/v1/drift" | jq -c '{refreshed, refresh}' >>"$dir/refresh.jsonl"
    sleep 0.5
  done
  curl -s "$A/metrics" >"$dir/m1.txt"
  local r1; r1=$(grep -c . "$dir/requests.log" 2>/dev/null || echo 0)
  # the refreshes seen in the window (each once), minus the one that was in place at its start
  jq -s -c 'unique_by(.refreshed) | .[1:]' "$dir/refresh.jsonl" >"$dir/refreshes.json"
  local nref freq fbytes fms
  nref=$(jq length "$dir/refreshes.json")
  freq=$(jq '[.[].refresh.requests] | add // 0' "$dir/refreshes.json")
  fbytes=$(jq '[.[].refresh.bytes_in] | add // 0' "$dir/refreshes.json")
  fms=$(jq '[.[].refresh.duration_ms] | add // 0' "$dir/refreshes.json")
  local polls req
  polls=$(( $(metric "$dir/m1.txt" regsync_polls_total) - $(metric "$dir/m0.txt" regsync_polls_total) ))
  req=$(( $(metric "$dir/m1.txt" regsync_store_requests_total) - $(metric "$dir/m0.txt" regsync_store_requests_total) ))
  local proxied=- kinds=-
  if [[ -n $proxy ]]; then
    proxied=$((r1 - r0))
    kinds=$(sed -n "$((r0 + 1)),${r1}p" "$dir/requests.log" | "$PY" -c '
import collections, sys
c = collections.Counter()
for l in sys.stdin:
    w = l.split()
    if len(w) < 2 or w[0] == "CONNECTION": continue
    m, path = w[0], w[1]
    k = ("LIST" if "list-type" in path else "HEAD" if path.split("?")[0].endswith("/regsync/HEAD")
         else "control" if "/regsync/control/" in path else "report" if "/regsync/regions/" in path else "other")
    c[m + ":" + k] += 1
print(",".join("%s=%d" % kv for kv in sorted(c.items())))')
  fi
  # ---- a publish changes every report: the first refresh after it
  "$GEN" mutate --seed 9 --changes 3 "$dir/src/registry.db" "$dir/src/next.db" 2>/dev/null
  mv -f "$dir/src/next.db" "$dir/src/registry.db"
  REGSYNC_STORE=$store "$REGSYNCD" publish --once --config "$dir/pub.yaml" >/dev/null 2>>"$dir/publish.log"
  : >"$dir/refresh2.jsonl"
  all_at2() { curl -s "$A/v1/drift" | jq -e '[.regions[].instances[].applied_version] | all(. == 2)' >/dev/null; }
  local t2=0
  local t_pub; t_pub=$(now)
  while ! all_at2; do
    curl -s "$A/v1/drift" | jq -c '{refreshed, refresh}' >>"$dir/refresh2.jsonl"
    sleep 0.5
    (( $(awk -v a="$t_pub" -v n="$(now)" 'BEGIN { print (n - a > 60) }') )) && break
  done
  t2=$(awk -v a="$t_pub" -v n="$(now)" 'BEGIN { printf "%.1f", n - a }')
  curl -s "$A/v1/drift" | jq -c '{refreshed, refresh}' >>"$dir/refresh2.jsonl"
  local creq cbytes cms
  read -r creq cbytes cms < <(jq -s -r 'unique_by(.refreshed) | max_by(.refresh.requests) | "\(.refresh.requests) \(.refresh.bytes_in) \(.refresh.duration_ms)"' "$dir/refresh2.jsonl")
  # ---- latency under wrk
  local dsize wsize
  dsize=$(curl -s -o /dev/null -w '%{size_download}' "$A/v1/drift")
  local wurl="$A/v1/wait?version=2&regions=all&timeout=5s"
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$wurl") == 200 ]] || echo "bench_fleet.sh: $backend n=$n: /v1/wait is not done at once" >&2
  wsize=$(curl -s -o /dev/null -w '%{size_download}' "$wurl")
  local d w d1
  d=$(wrk_p "$A/v1/drift" "${agents[0]}")
  w=$(wrk_p "$wurl" "${agents[0]}")
  d1=$(wrk_p "$A/v1/drift" "${agents[0]}" 1 5)   # one connection: the time of one request alone
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$backend" "$n" "$polls" "$req" "$nref" "$freq" "$fbytes" "$fms" \
    "$creq" "$cbytes" "$cms" "$t2" "$dsize" "$wsize" "$d" "$w" "$proxied" "$kinds" "$d1" >>"$results"
  echo "bench_fleet.sh: $backend n=$n: polls $polls, own requests $req, $nref refreshes ($freq requests, $fbytes bytes)," \
       "after a publish: $creq requests $cbytes bytes; drift $dsize bytes [p50 p99 rps non2xx cpu_ms] $d, c1 $d1; wait $w;" \
       "proxy $proxied $kinds"
  for p in "$sim" "${agents[@]}" $proxy; do stop "$p"; done
}

echo "bench_fleet.sh: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg);" \
     "sizes $SIZES over $REGIONS regions, heartbeat $HEARTBEAT, poll $POLL, window ${WINDOW}s, wrk -c$WRK_CONN ${WRK_SECONDS}s"
start=$SECONDS
for backend in $BACKENDS; do
  case $backend in
    s3) server s3 s3-server.sh || continue ;;
    pg) server pg pg-server.sh || continue ;;
    file) ;;
    *) echo "bench_fleet.sh: unknown backend $backend" >&2; exit 2 ;;
  esac
  for n in $SIZES; do run_case "$backend" "$n"; done
done

echo
"$PY" - "$results" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
def f(x):
    try: return float(x)
    except ValueError: return None
print("store requests of real-1 (follower, poll 1 per POLL, report and fleet refresh per heartbeat) and its fleet view:")
print(f"{'backend':8} {'inst':>5} {'polls':>6} {'own/poll':>9} {'view/poll':>10} {'total/poll':>11} {'refreshes':>9} "
      f"{'req/refresh':>11} {'B/refresh':>10} {'ms/refresh':>10} | {'after publish: req':>18} {'bytes':>9} {'ms':>6} {'all at v2 (s)':>13}")
res = {}
for r in rows:
    b, n, polls, req, nref, freq, fbytes, fms, creq, cbytes, cms, t2, dsize, wsize = r[:14]
    d50, d99, drps, dbad, dcpu = r[14].split()
    w50, w99, wrps, wbad, wcpu = r[15].split()
    polls, req, nref, freq, fbytes, fms = map(float, (polls, req, nref, freq, fbytes, fms))
    own = req / polls if polls else float("nan")
    view = freq / polls if polls else float("nan")
    res[(b, n)] = dict(total=own + view, rq=freq / nref if nref else float("nan"), d99=float(d99), w99=float(w99),
                       dsize=float(dsize), cbytes=f(cbytes) or 0, creq=f(creq) or 0, dcpu=float(dcpu), wcpu=float(wcpu))
    print(f"{b:8} {n:>5} {polls:6.0f} {own:9.2f} {view:10.2f} {own + view:11.2f} {nref:9.0f} "
          f"{(freq / nref if nref else 0):11.1f} {(fbytes / nref if nref else 0):10.0f} {(fms / nref if nref else 0):10.1f} | "
          f"{creq:>18} {cbytes:>9} {cms:>6} {t2:>13}")
    if r[16] != "-":
        print(f"{'':8} {'':>5} S3 requests real-1 sent in the window, counted by the proxy: {r[16]} "
              f"({float(r[16]) / polls:.2f} per poll): {r[17]}")
print()
print("admin API of real-1 under wrk -c32 (ms; CPU: the agent's CPU time per request; c1: one connection):")
print(f"{'backend':8} {'inst':>5} | {'/v1/drift bytes':>15} {'p50':>7} {'p99':>7} {'req/s':>7} {'non-2xx':>7} {'CPU':>6} {'c1 p50':>7} | "
      f"{'/v1/wait bytes':>14} {'p50':>7} {'p99':>7} {'req/s':>7} {'non-2xx':>7} {'CPU':>6}")
for r in rows:
    d50, d99, drps, dbad, dcpu = r[14].split()
    w50, w99, wrps, wbad, wcpu = r[15].split()
    c50 = r[18].split()[0]
    print(f"{r[0]:8} {r[1]:>5} | {r[12]:>15} {d50:>7} {d99:>7} {drps:>7} {dbad:>7} {dcpu:>6} {c50:>7} | "
          f"{r[13]:>14} {w50:>7} {w99:>7} {wrps:>7} {wbad:>7} {wcpu:>6}")
print()
sizes = sorted({int(n) for (_, n) in res})
if len(sizes) >= 2:
    lo, hi = str(sizes[0]), str(sizes[-1])
    print(f"ratios {hi} / {lo} instances (1.0: independent of the fleet's size):")
    for b in sorted({b for (b, _) in res}):
        if (b, lo) in res and (b, hi) in res:
            x, y = res[(b, lo)], res[(b, hi)]
            q = lambda k: f"{y[k] / x[k]:.2f}" if x[k] else "-"
            print(f"  {b:6} store requests per poll {q('total')}, per refresh {q('rq')}; /v1/drift p99 {q('d99')}, CPU per "
                  f"request {q('dcpu')} (its size {q('dsize')}); /v1/wait p99 {q('w99')}, CPU per request {q('wcpu')}; "
                  f"refresh after a publish: requests {q('creq')}, bytes {q('cbytes')}")
PY
echo "bench_fleet.sh: done in $((SECONDS - start)) s"
