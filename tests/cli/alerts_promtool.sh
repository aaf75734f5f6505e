#!/usr/bin/env bash
# alerts_promtool.sh: the alert rules of docs/metrics.md, run by `promtool test rules` against the
# series real agents serve, checking which alerts fire and which stay silent.
#
# A fleet on a file:// store: a publish-only agent (ci/pub), region us-west-2 with a1, a2, a3 and
# eu-central-1 with b1, b2, every one scraped (/metrics) twice a few seconds apart in each phase.
# tests/cli/prom_unit.py turns the scrapes into promtool input series as Prometheus would store
# them (target labels job/instance, the agent's own `instance` label as exported_instance,
# counters at their measured rate, ages and lags growing with the clock) and writes one promtool
# test per phase:
#   healthy        12 versions published, everyone in sync: no alert at 10m, 1h, 7h
#   old-publisher  healthy, with the publisher's series as regsync 0.1 served them (its HEAD as
#                  regsync_lag_versions, a growing regsync_lag_seconds; added to the real scrape,
#                  the one synthetic series here): still no alert (the issue's RegsyncLagTooHigh)
#   paused         a2 paused, 11 versions behind: no lag alert, no region alert; at 7h
#                  RegsyncPausedTooLong for a2 only
#   pinned         a3 rolled back (pinned) 4 versions behind: no lag alert, no region alert; at 7h
#                  RegsyncPinnedTooLong for a3 only
#   skewed         a simulated writer (bench regsync-fleet-sim) one hour ahead: RegsyncClockSkew
#   broken-target  b2's target replaced by a directory, a new version: RegsyncInstanceBehind,
#                  RegsyncErrors{kind="target"}, RegsyncNotSyncing and RegsyncNotReady for b2,
#                  RegsyncRegionNotInSync for eu-central-1
#   killed         a3 killed -9: RegsyncAgentDown (not scraped), no region alert; at 2h
#                  RegsyncStaleInstanceNotForgotten (its report outlived forget_after)
#   region-stale   b1 and b2 killed as well: RegsyncRegionStale for eu-central-1
# Negative controls: promtool must fail when an expected alert is left out, and when an alert
# that does not fire is expected. Needs promtool (Debian package prometheus; scripts/deps.sh
# test); loud SKIP without it (fails with RS_REQUIRE_SERVERS=1). About 60-90 s.
source "$(dirname "$0")/lib.bash" "$@"

if ! command -v promtool >/dev/null; then
  e2e_required && fail "promtool required (scripts/deps.sh test installs the prometheus package)"
  skip_test "promtool is not installed (scripts/deps.sh test installs the prometheus package)"
fi
"$PY" -c 'import yaml' 2>/dev/null || fail "python3-yaml is needed (scripts/deps.sh test)"
SIM=$E2E_BUILD/bench/regsync-fleet-sim
[[ -x $SIM ]] || fail "$SIM is not built (cmake --build $E2E_BUILD --target regsync-fleet-sim)"

# the rules, exactly as docs/metrics.md has them (the first yaml block with groups:)
"$PY" - "$SRC/docs/metrics.md" "$WORK/rules.yaml" <<'PY' || fail "no alert rules in docs/metrics.md"
import re, sys
doc = open(sys.argv[1]).read()
blocks = [b for b in re.findall(r'^```ya?ml\n(.*?)^```', doc, re.M | re.S) if 'groups:' in b]
if not blocks:
    sys.exit(1)
open(sys.argv[2], 'w').write(blocks[0])
PY
promtool check rules "$WORK/rules.yaml" >"$WORK/check.out" 2>&1 || { cat "$WORK/check.out"; fail "promtool check rules"; }
say "$(grep -o '[0-9]* rules found' "$WORK/check.out") in docs/metrics.md"

store=$(fresh_store file alerts)
store_dir=${store#file://}
mkdir -p "$WORK/src"
"$GEN" --seed 17 --projects 2 --out "$WORK/src/registry.db" 2>/dev/null || fail "regsync-gen failed"
seed=100
mutate_src() {
  seed=$((seed + 1))
  "$GEN" mutate --seed "$seed" --changes 2 "$WORK/src/registry.db" "$WORK/src/next.db" 2>/dev/null || fail "mutate failed"
  mv -f "$WORK/src/next.db" "$WORK/src/registry.db"
}
common=(poll_interval=200ms heartbeat_interval=1s stale_after=3s max_staleness=2s)
declare -A PORT PID REGION
start_agent() { # start_agent REGION INSTANCE [KEY=VALUE...]
  local region=$1 inst=$2; shift 2
  PORT[$inst]=$(free_port)
  REGION[$inst]=$region
  mkdir -p "$WORK/$inst/feast"
  agent_yaml "$WORK/$inst.yaml" "region=$region" "instance=$inst" "state_dir=$WORK/$inst/state" "${common[@]}" \
    "admin={ listen: \"127.0.0.1:${PORT[$inst]}\" }" "$@"
  e2e_bg "$inst" env REGSYNC_STORE="$store" "$REGSYNCD" run --config "$WORK/$inst.yaml"
  PID[$inst]=$E2E_LAST_PID
}
start_agent ci pub "source=file://$WORK/src/registry.db" publish=true
FOLLOWERS=(a1 a2 a3 b1 b2)
for i in a1 a2 a3; do start_agent us-west-2 $i "target=file://$WORK/$i/feast/registry.db"; done
for i in b1 b2; do start_agent eu-central-1 $i "target=file://$WORK/$i/feast/registry.db"; done
url() { echo "http://127.0.0.1:${PORT[$1]}"; }
for i in pub "${FOLLOWERS[@]}"; do wait_for 10 "$i admin API" http_is 200 "$(url $i)/healthz"; done
target() { echo "127.0.0.1:${PORT[$1]}"; }
status_is() { [[ $(curl -s "$(url "$1")/v1/status" | jq -r "$2") == "$3" ]]; }  # status_is AGENT JQ VALUE
at() { # at VERSION AGENT...: every AGENT has applied VERSION
  local v=$1 i; shift
  for i in "$@"; do status_is "$i" .applied_version "$v" || return 1; done
}
head_v=0
publish_n() { # publish_n N: N new versions through the publishing agent, one after the other
  local k
  for ((k = 0; k < $1; k++)); do
    mutate_src
    head_v=$((head_v + 1))
    wait_for 20 "version $head_v published" status_is pub .head_version "$head_v"
  done
}
view() { curl -s "$(url a1)/v1/drift" | jq -e "$1" >/dev/null; }   # view JQ: a1's fleet view says so

# scrape PHASE AGENT...: each agent's /metrics twice, 5 s or more apart, into $WORK/scrapes/PHASE/<target>/;
# agents named DOWN:NAME are marked as not scrapable. BETWEEN (a command), when set, runs after
# the first pass.
BETWEEN=
scrape() {
  local phase=$1 i d; shift
  local live=()
  for i in "$@"; do
    if [[ $i == DOWN:* ]]; then
      d=$WORK/scrapes/$phase/$(target "${i#DOWN:}"); mkdir -p "$d"; : >"$d/down"
    else
      live+=("$i")
    fi
  done
  local t0
  for i in "${live[@]}"; do
    d=$WORK/scrapes/$phase/$(target "$i"); mkdir -p "$d"
    date +%s.%N >"$d/times"
    curl -sf "$(url "$i")/metrics" >"$d/a.prom" || fail "$phase: scraping $i"
  done
  t0=$(date +%s.%N)
  [[ -n $BETWEEN ]] && eval "$BETWEEN"
  nap "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { d = 5 - (b - a); print (d > 0 ? d : 0) }')"
  for i in "${live[@]}"; do
    d=$WORK/scrapes/$phase/$(target "$i")
    printf ' %s\n' "$(date +%s.%N)" >>"$d/times"
    curl -sf "$(url "$i")/metrics" >"$d/b.prom" || fail "$phase: scraping $i again"
  done
  say "scraped $phase: ${#live[@]} agent(s)$( (($# > ${#live[@]})) && echo ", $(($# - ${#live[@]})) down")"
}
SPEC=$WORK/spec
: >"$SPEC"
spec() { echo "$*" >>"$SPEC"; }
# labels of an alert about one agent (its target plus what regsync_build_info gives)
agent_labels() { echo "instance=$(target "$1"),job=regsync,region=${REGION[$1]},exported_instance=$1,severity=$2${3:+,$3}"; }

step "healthy: 12 versions, everyone in sync"
wait_for 20 "version 1 published (the source as the publisher found it)" status_is pub .head_version 1
head_v=1
publish_n 11
wait_for 30 "every follower at version $head_v" at "$head_v" "${FOLLOWERS[@]}"
wait_for 10 "a1's view: both regions in sync" view '[.regions[].state] == ["in_sync", "in_sync"] and .head.version == '"$head_v"
scrape healthy pub "${FOLLOWERS[@]}"
pubdir=$WORK/scrapes/healthy/$(target pub)
grep -q '^regsync_lag_' "$pubdir/a.prom" "$pubdir/b.prom" && fail "the publish-only agent exports regsync_lag_* (docs/metrics.md: followers only)"
grep -q 'regsync_build_info{.*role="publish"' "$pubdir/b.prom" || fail "the publisher's build_info does not say role=\"publish\""
spec scenario healthy 10m 1h 7h

step "old-publisher: the publisher's series as regsync 0.1 served them"
cp -r "$WORK/scrapes/healthy" "$WORK/scrapes/old-publisher"
for f in a b; do
  d=$WORK/scrapes/old-publisher/$(target pub)
  h=$(sed -n 's/^regsync_head_version //p' "$d/$f.prom")
  ((h > 10)) || fail "the publisher's head ($h) must be above RegsyncLagTooHigh's 10 versions for this phase to mean anything"
  { echo "# TYPE regsync_lag_versions gauge"; echo "regsync_lag_versions $h"
    echo "# TYPE regsync_lag_seconds gauge"; echo "regsync_lag_seconds $([[ $f == a ]] && echo 3600 || echo 3604)"; } >>"$d/$f.prom"
done
spec scenario old-publisher 10m 1h 7h

step "paused: a2 paused, 11 versions behind"
expect_eq "pause a2" 200 "$(http_code "$(url a2)/v1/pause" -X POST)"
publish_n 11
wait_for 30 "the others at version $head_v" at "$head_v" a1 a3 b1 b2
status_is a2 .applied_version 12 || fail "a2 applied a version while paused"
# paused on purpose is not broken: it still polls the store, so it stays ready (max_staleness 2s here)
expect_eq "a2 (paused for longer than max_staleness): /readyz" 200 "$(http_code "$(url a2)/readyz")"
wait_for 10 "a1's view: us-west-2 paused 1/3" view '.regions[] | select(.region == "us-west-2") | .summary == "paused 1/3"'
scrape paused pub "${FOLLOWERS[@]}"
spec scenario paused 10m 1h 7h
spec fire paused 7h RegsyncPausedTooLong "$(agent_labels a2 info)"

step "pinned: a2 resumed, a3 rolled back 4 versions"
expect_eq "resume a2" 200 "$(http_code "$(url a2)/v1/resume" -X POST)"
wait_for 30 "a2 at version $head_v" at "$head_v" a2
pin=$((head_v - 3))
expect_eq "rollback a3 to $pin" 200 "$(http_code "$(url a3)/v1/rollback" -X POST -d "{\"version\": $pin}")"
wait_for 30 "a3 at version $pin" at "$pin" a3
publish_n 1
wait_for 30 "the others at version $head_v" at "$head_v" a1 a2 b1 b2
wait_for 10 "a1's view: us-west-2 behind 1/3 (the pin)" view '.regions[] | select(.region == "us-west-2") | .summary == "behind 1/3"'
scrape pinned pub "${FOLLOWERS[@]}"
spec scenario pinned 10m 1h 7h
spec fire pinned 7h RegsyncPinnedTooLong "$(agent_labels a3 info)"

step "skewed: a writer one hour ahead"
expect_eq "unpin a3" 200 "$(http_code "$(url a3)/v1/unpin" -X POST)"
wait_for 30 "a3 at version $head_v" at "$head_v" a3
e2e_bg sim "$SIM" --store "$store" --regions 1 --instances 1 --region-prefix skewed --heartbeat 1s --skew 1h --quiet
sim_pid=$E2E_LAST_PID
wait_for 15 "a1's view: skewed-00/sim-0000 flagged" view '[.regions[].instances[] | select(.instance == "sim-0000") | .clock_skew.warning] == [true]'
wait_for 10 "a1's view: every region in sync" view '[.regions[].state] | all(. == "in_sync")'
scrape skewed pub "${FOLLOWERS[@]}"
spec scenario skewed 15m
spec fire skewed 15m RegsyncClockSkew region=skewed-00,exported_instance=sim-0000,severity=warning
stop_pid "$sim_pid"
rm -f "$store_dir/regsync/regions/skewed-00/sim-0000"
wait_for 10 "a1's view without the simulated writer" view '[.regions[].region] == ["eu-central-1", "us-west-2"]'

step "broken-target: b2's target replaced by a directory, then a new version"
# the agent rewrites a deleted target at its next poll, which may fall between rm and mkdir: retry
for _ in $(seq 50); do
  rm -f "$WORK/b2/feast/registry.db"
  mkdir "$WORK/b2/feast/registry.db" 2>/dev/null && break
done
[[ -d $WORK/b2/feast/registry.db ]] || fail "could not replace b2's target by a directory"
publish_n 1
wait_for 30 "the others at version $head_v" at "$head_v" a1 a2 a3 b1
wait_for 20 "b2 counts a target error" bash -c "curl -s '$(url b2)/metrics' | grep -q '^regsync_errors_total{kind=\"target\"} [1-9]'"
wait_for 10 "b2 not ready (no successful step for max_staleness)" bash -c "curl -s '$(url b2)/metrics' | grep -qx 'regsync_ready 0'"
wait_for 10 "a1's view: eu-central-1 not in sync" view '.regions[] | select(.region == "eu-central-1") | .state != "in_sync"'
b2_state=$(curl -s "$(url a1)/v1/drift" | jq -r '.regions[] | select(.region == "eu-central-1") | .state')
say "eu-central-1 is $b2_state in the fleet view"
# between the two scrapes, one retry of the write is asked for (POST /v1/sync: at once, whatever the
# backoff) and seen failing, so the measured error rate is not left to the backoff's timing
target_errors() { curl -s "$(url b2)/metrics" | sed -n 's/^regsync_errors_total{kind="target"} //p'; }
kick_b2() {
  local n; n=$(target_errors)
  [[ $(http_code "$(url b2)/v1/sync" -X POST) == 200 ]] || fail "POST /v1/sync on b2"
  wait_for 10 "b2's retry failing again" bash -c "(( \$(curl -s '$(url b2)/metrics' | sed -n 's/^regsync_errors_total{kind=\"target\"} //p') > $n ))"
}
BETWEEN=kick_b2
scrape broken-target pub "${FOLLOWERS[@]}"
BETWEEN=
spec scenario broken-target 20m 1h
for t in 20m 1h; do
  spec fire broken-target $t RegsyncInstanceBehind "$(agent_labels b2 warning)"
  spec fire broken-target $t RegsyncErrors "$(agent_labels b2 warning kind=target)"
  spec fire broken-target $t RegsyncNotSyncing "$(agent_labels b2 critical)"
  spec fire broken-target $t RegsyncNotReady "$(agent_labels b2 warning)"
done
spec fire broken-target 1h RegsyncRegionNotInSync "region=eu-central-1,state=$b2_state,severity=warning"
rmdir "$WORK/b2/feast/registry.db"
expect_eq "b2: sync after the repair" 200 "$(http_code "$(url b2)/v1/sync" -X POST)"
wait_for 30 "b2 at version $head_v" at "$head_v" b2

step "killed: a3 killed -9"
kill -9 "${PID[a3]}"
wait_for 15 "a1's view: a3 stale, us-west-2 in sync 2/2" view \
  '.regions[] | select(.region == "us-west-2") | .summary == "in_sync 2/2" and ([.instances[] | select(.instance == "a3")][0].state == "stale")'
scrape killed pub a1 a2 DOWN:a3 b1 b2
spec scenario killed 10m 2h
for t in 10m 2h; do spec fire killed $t RegsyncAgentDown "instance=$(target a3),job=regsync,severity=critical"; done
spec fire killed 2h RegsyncStaleInstanceNotForgotten region=us-west-2,exported_instance=a3,severity=warning

step "region-stale: b1 and b2 killed as well"
kill -9 "${PID[b1]}" "${PID[b2]}"
wait_for 15 "a1's view: eu-central-1 stale" view '.regions[] | select(.region == "eu-central-1") | .state == "stale"'
scrape region-stale pub a1 a2 DOWN:a3 DOWN:b1 DOWN:b2
spec scenario region-stale 10m
for i in a3 b1 b2; do spec fire region-stale 10m RegsyncAgentDown "instance=$(target $i),job=regsync,severity=critical"; done
spec fire region-stale 10m RegsyncRegionStale region=eu-central-1,severity=critical

step "promtool test rules"
"$PY" "$SRC/tests/cli/prom_unit.py" --rules "$WORK/rules.yaml" --spec "$SPEC" --scrapes "$WORK/scrapes" \
  --out "$WORK/test.yaml" >"$WORK/gen.out" || fail "prom_unit.py failed"
say "promtool test: $(cat "$WORK/gen.out")"
if ! promtool test rules "$WORK/test.yaml" >"$WORK/promtool.out" 2>&1; then
  sed 's/^/    /' "$WORK/promtool.out" | head -n 80 >&2
  fail "promtool test rules: the alerts that fire are not the expected ones (spec: $SPEC)"
fi
grep -q SUCCESS "$WORK/promtool.out" || { cat "$WORK/promtool.out" >&2; fail "promtool test rules printed no SUCCESS"; }
say "promtool: every alert at every time checked; $(grep -c '^fire ' "$SPEC") firing as expected, the rest silent"

step "negative controls: promtool sees a missing and an extra alert"
control() { # control NAME SPEC_FILE PATTERN: promtool must fail, naming PATTERN
  "$PY" "$SRC/tests/cli/prom_unit.py" --rules "$WORK/rules.yaml" --spec "$2" --scrapes "$WORK/scrapes" \
    --out "$WORK/$1.yaml" >/dev/null || fail "prom_unit.py failed ($1)"
  if promtool test rules "$WORK/$1.yaml" >"$WORK/$1.out" 2>&1; then
    fail "negative control $1: promtool passed"
  fi
  grep -q "$3" "$WORK/$1.out" || { cat "$WORK/$1.out" >&2; fail "negative control $1: promtool does not name $3"; }
  say "negative control $1: promtool fails as it should"
}
grep -E '^(scenario|fire) paused ' "$SPEC" | grep -v RegsyncPausedTooLong >"$WORK/spec.missing"
control missing "$WORK/spec.missing" RegsyncPausedTooLong
{ echo "scenario healthy 1h"; echo "fire healthy 1h RegsyncLagTooHigh $(agent_labels pub warning)"; } >"$WORK/spec.extra"
control extra "$WORK/spec.extra" RegsyncLagTooHigh
say "PASS"
