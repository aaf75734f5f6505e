#!/usr/bin/env bash
# fleet_skew_first_sight.sh: clock skew as a fleet view measures it when it sees a report for the
# first time (an agent that starts, or restarts, beside running instances).
#
# A heartbeat rewrites the same bytes, so a report's written_at is that of its last change of
# content while the store's modification time is that of the last heartbeat. In a reader's first
# listing the difference only bounds a writer's lead from below: a writer ahead is flagged at
# once, one behind only once a change of its report is seen; a report that appears after the
# first listing is measured at once. The bug this guards against: every instance whose report had
# not changed for max_clock_skew + heartbeat_interval was flagged "behind" by any agent that
# started later (the status page showed "clock -54 s" on every healthy pod).
#
# Real agents on a file:// store, plus regsync-fleet-sim (bench/) for writers whose clocks are
# an hour off, which no real agent here can be made to be. About 15 s.
source "$(dirname "$0")/lib.bash" "$@"

SIM=$E2E_BUILD/bench/regsync-fleet-sim
[[ -x $SIM ]] || fail "$SIM is not built (cmake --build $E2E_BUILD --target regsync-fleet-sim)"
store=$(fresh_store file skew)
mkdir -p "$WORK/src"
"$GEN" --seed 4 --projects 2 --out "$WORK/src/registry.db" 2>/dev/null || fail "regsync-gen failed"
agent_yaml "$WORK/pub.yaml" region=ci instance=pub "source=file://$WORK/src/registry.db" publish=true \
  "state_dir=$WORK/pubstate" 'admin={ listen: "" }'
publish() { rsd "$store" publish --once --config "$WORK/pub.yaml" >>"$WORK/publish.log" 2>&1 || { show_log "$WORK/publish.log"; fail "publish --once failed"; }; }

start_agent() { # start_agent NAME REGION [KEY=VALUE...]: sets PORT_<NAME>
  local name=$1 region=$2; shift 2
  local port; port=$(free_port)
  mkdir -p "$WORK/$name/feast"
  agent_yaml "$WORK/$name.yaml" "region=$region" "instance=$name" "target=file://$WORK/$name/feast/registry.db" \
    "state_dir=$WORK/$name/state" poll_interval=200ms heartbeat_interval=1s stale_after=5s \
    "admin={ listen: \"127.0.0.1:$port\" }" "$@"
  e2e_bg "$name" env REGSYNC_STORE="$store" "$REGSYNCD" run --config "$WORK/$name.yaml"
  eval "PORT_$name=$port"
  wait_for 10 "$name admin API" http_is 200 "http://127.0.0.1:$port/healthz"
}
applied_is() { [[ $(curl -s "$1/v1/status" | jq .applied_version) == "$2" ]]; }
# skew_of VIEW REGION/INSTANCE: "WARNING SECONDS" as VIEW's /v1/drift shows it (clock_skew is null
# when unknown: "false null")
skew_of() {
  curl -s "$1/v1/drift" | jq -r --arg k "$2" '.regions[].instances[] | select(.region + "/" + .instance == $k) |
    "\(.clock_skew.warning // false) \(.clock_skew.seconds // null)"'
}
listed() { [[ -n $(skew_of "$1" "$2") ]]; }

step "x1 applies version 1, then its report's content stays the same for 4 s"
publish
start_agent x1 us-west-2
X=http://127.0.0.1:$PORT_x1
wait_for 15 "x1 at version 1" applied_is "$X" 1
# two simulated writers, an hour ahead and an hour behind, whose reports are there before y1 starts
e2e_bg sim-ahead "$SIM" --store "$store" --regions 1 --instances 1 --region-prefix ahead --heartbeat 1s --skew 1h --duration 60s --quiet
e2e_bg sim-behind "$SIM" --store "$store" --regions 1 --instances 1 --region-prefix behind --heartbeat 1s --skew -1h --duration 60s --quiet
nap 4

step "y1 starts: its first listing flags no clock skew on x1, the writer ahead at once"
start_agent y1 eu-central-1 max_clock_skew=500ms
Y=http://127.0.0.1:$PORT_y1
wait_for 15 "y1's view lists x1 and the simulated writers" bash -c \
  "$(declare -f skew_of listed); listed '$Y' us-west-2/x1 && listed '$Y' ahead-00/sim-0000 && listed '$Y' behind-00/sim-0000"
read -r warn secs <<<"$(skew_of "$Y" us-west-2/x1)"
say "y1 sees x1: warning=$warn seconds=$secs"
expect_eq "x1 (a right clock, an unchanged report) flagged by a view that saw it first" false "$warn"
[[ $secs == null ]] || awk -v s="$secs" 'BEGIN { exit !(s > -1.5) }' || fail "x1's skew measured as $secs s on first sight"
read -r warn secs <<<"$(skew_of "$Y" ahead-00/sim-0000)"
expect_eq "a writer 1 h ahead, first listing: warning" true "$warn"
awk -v s="$secs" 'BEGIN { exit !(s > 3500 && s < 3700) }' || fail "a writer 1 h ahead measured at $secs s"
read -r warn secs <<<"$(skew_of "$Y" behind-00/sim-0000)"
expect_eq "a writer 1 h behind, first listing: no warning yet" false "$warn"
expect_eq "a writer 1 h behind, first listing: skew unknown" null "$secs"

step "a writer an hour behind that appears after y1's first listing is measured at once"
e2e_bg sim-late "$SIM" --store "$store" --regions 1 --instances 1 --region-prefix late --heartbeat 1s --skew -1h --duration 60s --quiet
late_flagged() { [[ $(skew_of "$Y" late-00/sim-0000) == true* ]]; }
wait_for 15 "the late writer 1 h behind flagged" late_flagged

step "the writer an hour behind that y1 listed first is flagged once its report changes"
"$GEN" mutate --seed 9 --changes 3 "$WORK/src/registry.db" "$WORK/src/next.db" 2>/dev/null || fail "mutate failed"
mv -f "$WORK/src/next.db" "$WORK/src/registry.db"
publish
behind_flagged() { [[ $(skew_of "$Y" behind-00/sim-0000) == true* ]]; }
wait_for 15 "the writer 1 h behind flagged once its report changed" behind_flagged
read -r warn secs <<<"$(skew_of "$Y" behind-00/sim-0000)"
awk -v s="$secs" 'BEGIN { exit !(s < -3500 && s > -3700) }' || fail "a writer 1 h behind measured at $secs s"
wait_for 15 "x1 at version 2" applied_is "$X" 2
read -r warn secs <<<"$(skew_of "$Y" us-west-2/x1)"
expect_eq "x1 after its report changed (version 2), still no warning" false "$warn"
say "PASS"
