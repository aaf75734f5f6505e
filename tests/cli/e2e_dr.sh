#!/usr/bin/env bash
# e2e_dr.sh: disaster recovery with real processes (issue 11; docs/operations.md, "Disaster
# recovery"): a primary S3 store (RGW behind scripts/fault-proxy.py, so that it can "die": every
# request is answered with a TCP reset) and a PostgreSQL replica (a table prefix).
#
#   - the publisher (`publish --once`, replicas: [pg]) copies every version to the replica;
#   - agent A reads primary first, agent B replica first (read_from: [pg, primary]); both run
#     `regsyncd run` with poll 200 ms, failover_after 1s;
#   - the primary dies (3 trials): A fails over to pg and keeps serving its version (target
#     unchanged), its first successful poll of pg is timed; the primary comes back: A returns to
#     it (store_returns); new versions reach both agents through either store;
#   - promotion: the primary dies for good, `regsyncd promote --store pg` (epoch 1), a publisher on
#     pg publishes 2 more versions: both agents converge to its digest and record epoch 1;
#   - the old primary comes back with its old publisher and a new source: `publish --once` exits 1
#     ("refusing to publish ... epoch"), and agent A, primary first, stays on pg (the old primary's
#     HEAD is of epoch 0) with the new primary's digest;
#   - each agent's journal: versions strictly increasing (none applied twice) and each applied
#     entry's parent digest is the previous entry's result (none skipped).
# Needs RS_TEST_S3_URL and RS_TEST_PG_URL (a loud SKIP without them; a failure with
# RS_REQUIRE_SERVERS=1).
source "$(dirname "$0")/lib.bash" "$@"

TRIALS=${RS_E2E_DR_TRIALS:-3}
export REGSYNC_ADMIN_TOKEN=e2e-token-$$-$RANDOM

if [[ -z ${RS_TEST_S3_URL:-} || -z ${RS_TEST_PG_URL:-} ]]; then
  if [[ ${RS_REQUIRE_SERVERS:-0} == 1 || ${CI:-} == true ]]; then
    fail "RS_TEST_S3_URL and RS_TEST_PG_URL are required (RS_REQUIRE_SERVERS=1 or CI=true)"
  fi
  echo "*** SKIP $E2E_NAME: needs RS_TEST_S3_URL and RS_TEST_PG_URL (scripts/s3-server.sh, scripts/pg-server.sh) ***"
  exit 0
fi

step "a primary S3 store behind a fault proxy and a PostgreSQL replica"
primary=$(fresh_store s3 drp)
replica=$(fresh_store pg drr)
E2E_STORES+=("$primary" "$replica")
ep=$(sed -n 's/.*[?&]endpoint=http:\/\/\([^&/]*\).*/\1/p' <<<"$primary")
[[ -n $ep ]] || fail "cannot find endpoint=http://HOST:PORT in RS_TEST_S3_URL"
faults=$WORK/faults
start_fault_proxy s3-proxy "$ep" "$faults"
pstore=${primary/endpoint=http:\/\/$ep/endpoint=http://127.0.0.1:$E2E_PROXY_PORT}
say "primary through fault-proxy.py on port $E2E_PROXY_PORT; replica pg (table prefix)"
die() {
  local i quiet=0
  for ((i = 0; i < 20000; i++)); do echo reset; done >"$WORK/resets"
  for ((i = 0; i < 100 && quiet < 3; i++)); do
    if (($(wc -l <"$faults") < 15000)); then cp "$WORK/resets" "$faults"; quiet=0; else quiet=$((quiet + 1)); fi
    sleep 0.05
  done
}
# the proxy pops a line by rewriting the file: a request in flight can write the rest back after
# we changed it, so write it until it stays as we want it
revive() {
  local i quiet=0
  for ((i = 0; i < 100 && quiet < 3; i++)); do
    if [[ -s $faults ]]; then : >"$faults"; quiet=0; else quiet=$((quiet + 1)); fi
    sleep 0.05
  done
}

mkdir -p "$WORK/a" "$WORK/b"
"$GEN" --seed 5 --projects 2 --out "$WORK/src.db" 2>/dev/null || fail "regsync-gen failed"
mutate() { "$GEN" mutate --seed "$1" --changes 3 "$WORK/src.db" "$WORK/next.db" 2>/dev/null && mv -f "$WORK/next.db" "$WORK/src.db" || fail "mutate failed"; }
opts='store_options={ timeout: 1s, connect_timeout: 500ms, max_retries: 0 }'
agent_yaml "$WORK/pub.yaml" region=dr-pub "source=file://$WORK/src.db" publish=true "state_dir=$WORK/pubstate" \
  'admin={ listen: "" }' "$opts"
pa=$(free_port)
pb=$(free_port)
for x in a b; do
  port=$pa order='[]'
  [[ $x == b ]] && port=$pb order='[pg, primary]'
  agent_yaml "$WORK/$x.yaml" "region=dr-$x" "target=file://$WORK/$x/registry.db" "state_dir=$WORK/$x/state" \
    poll_interval=200ms failover_after=1s max_staleness=30s heartbeat_interval=2s "read_from=$order" \
    "admin={ listen: \"127.0.0.1:$port\" }" "$opts"
done
# secrets stay out of files: the stores and the replica come through the environment
pub() { REGSYNC_REPLICAS="pg=$replica" rsd "$1" publish --once --config "$2"; }
status() { curl -s -m 1 "http://127.0.0.1:$1/v1/status"; }
field() { status "$1" | jq -r ".$2"; }

mutate 1
out=$(pub "$pstore" "$WORK/pub.yaml" 2>"$WORK/pub.err") || { show_log "$WORK/pub.err"; fail "publish v1 failed"; }
[[ $out == "published version 1" ]] || fail "publish v1 printed '$out'"
expect_eq "the replica's HEAD after publishing v1" 1 "$(store_head_line "$replica" | cut -d' ' -f1)"
e2e_bg agent-a env REGSYNC_STORE="$pstore" REGSYNC_REPLICAS="pg=$replica" "$REGSYNCD" run --config "$WORK/a.yaml"
pida=$E2E_LAST_PID
e2e_bg agent-b env REGSYNC_STORE="$pstore" REGSYNC_REPLICAS="pg=$replica" "$REGSYNCD" run --config "$WORK/b.yaml"
pidb=$E2E_LAST_PID
d=$(digest "$WORK/src.db")
wait_for 20 "agent A at v1" target_is "$WORK/a/registry.db" "$d"
wait_for 20 "agent B at v1" target_is "$WORK/b/registry.db" "$d"
expect_eq "A reads" primary "$(field "$pa" read_store)"
expect_eq "B reads" pg "$(field "$pb" read_store)"
say "v1 in both targets; A reads the primary, B the pg replica"

step "the primary dies and comes back, $TRIALS times"
times=()
v=1
for ((t = 1; t <= TRIALS; t++)); do
  before=$(field "$pa" store_failovers)
  t0=$(date +%s%3N)
  die
  # A keeps serving v$v and moves to pg; time to its first successful poll there
  got=""
  for ((i = 0; i < 200; i++)); do
    s=$(status "$pa")
    c=$(target_digest "$WORK/a/registry.db")
    [[ $c == "$d" ]] || fail "trial $t: A's target changed during the outage ($c, want $d)"
    if [[ $(jq -r .read_store <<<"$s") == pg && $(jq -r .last_success_ms <<<"$s") -gt $t0 ]]; then
      got=$(($(jq -r .last_success_ms <<<"$s") - t0))
      break
    fi
    sleep 0.05
  done
  [[ -n $got ]] || { show_log "$WORK/agent-a.log"; fail "trial $t: A did not fail over to pg within 10 s (failover_after 1s)"; }
  expect_eq "trial $t: A's failovers" $((before + 1)) "$(field "$pa" store_failovers)"
  times+=("$got")
  say "trial $t: primary dead; A polled pg successfully ${got} ms later (failover_after 1000 ms, poll 200 ms); target kept v$v"
  alive "$pida" || fail "agent A exited"
  r0=$(field "$pa" store_returns)
  revive
  wait_for 10 "A back on the primary" bash -c "[[ \$(curl -s -m 1 http://127.0.0.1:$pa/v1/status | jq -r .read_store) == primary ]]"
  expect_eq "trial $t: A's returns" $((r0 + 1)) "$(field "$pa" store_returns)"
  mutate $((10 + t))
  v=$((v + 1))
  out=$(pub "$pstore" "$WORK/pub.yaml" 2>>"$WORK/pub.err") || { show_log "$WORK/pub.err"; fail "publish v$v failed"; }
  [[ $out == "published version $v" ]] || fail "publish printed '$out' (want version $v)"
  d=$(digest "$WORK/src.db")
  wait_for 10 "A at v$v" target_is "$WORK/a/registry.db" "$d"
  wait_for 10 "B at v$v (through the replica)" target_is "$WORK/b/registry.db" "$d"
  say "trial $t: primary back; A returned to it; v$v reached A (primary) and B (replica)"
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
say "FIGURE failover ms (primary death to first successful poll of the replica), $TRIALS trials: $sorted"

step "promotion: the primary is lost, pg is promoted"
die
out=$(REGSYNC_REPLICAS="pg=$replica" rsd "$pstore" promote --store pg --config "$WORK/pub.yaml" 2>"$WORK/promote.err") ||
  { show_log "$WORK/promote.err"; fail "promote failed"; }
say "$out"
[[ $out == "promoted pg: epoch 1 at version $v;"* ]] || fail "promote printed '$out'"
# the new publisher: store = pg, no replica (the old primary is down)
for k in 1 2; do
  mutate $((30 + k))
  v=$((v + 1))
  out=$(REGSYNC_REPLICAS= rsd "$replica" publish --once --config "$WORK/pub.yaml" 2>>"$WORK/pub.err") || { show_log "$WORK/pub.err"; fail "publish v$v on pg failed"; }
  [[ $out == "published version $v" ]] || fail "publish on pg printed '$out'"
done
d=$(digest "$WORK/src.db")
wait_for 15 "A at v$v (epoch 1)" target_is "$WORK/a/registry.db" "$d"
wait_for 15 "B at v$v (epoch 1)" target_is "$WORK/b/registry.db" "$d"
wait_for 5 "A's epoch 1" bash -c "[[ \$(curl -s -m 1 http://127.0.0.1:$pa/v1/status | jq -r .epoch) == 1 ]]"
expect_eq "B's epoch" 1 "$(field "$pb" epoch)"
metrics=$(curl -s -m 5 "http://127.0.0.1:$pa/metrics")
grep -q '^regsync_store_failovers_total [1-9]' <<<"$metrics" || fail "regsync_store_failovers_total not counted on A: $(grep regsync_store_failovers <<<"$metrics")"
say "both agents at v$v from the promoted pg (epoch 1)"

step "the old primary comes back with its old publisher"
revive
mutate 99
if out=$(pub "$pstore" "$WORK/pub.yaml" 2>"$WORK/old-pub.err"); then
  fail "the old publisher published to the old primary: '$out'"
fi
grep -q "refusing to publish: replica pg .* epoch 1" "$WORK/old-pub.err" || { show_log "$WORK/old-pub.err"; fail "the old publisher's error does not name the fence"; }
say "old publisher refused (exit 1): $(grep -o 'refusing to publish.*' "$WORK/old-pub.err" | head -c 220)"
sleep 2.5 # A probes its preferred store (the old primary) every second
expect_eq "A still reads" pg "$(field "$pa" read_store)"
target_is "$WORK/a/registry.db" "$d" || fail "A's target moved away from the new primary's digest"
grep -q "older than epoch 1" "$WORK/agent-a.log" 2>/dev/null || say "note: A never read the old primary's HEAD after it came back (probe saw epoch 0 and stayed)"

step "journals: nothing applied twice, nothing skipped"
for x in a b; do
  j=$("$DUMP" journal --json --limit 100 "$WORK/$x/state") || fail "regsync-dump journal $x failed"
  bad=$(jq -r '[.versions | reverse | . as $v | range(1; length) | select($v[.].version <= $v[. - 1].version or
          ($v[.].kind == "apply" and $v[.].parent_digest != $v[. - 1].result_digest)) | $v[.].version] | join(",")' <<<"$j")
  [[ -z $bad ]] || fail "agent $x: journal out of order or a skipped version at: $bad"
  expect_eq "agent $x: journal's last version" "$v" "$(jq -r '.versions[0].version' <<<"$j")"
  say "agent $x: journal $(jq -r '[.versions | reverse[] | "\(.version):\(.kind)"] | join(" ")' <<<"$j")"
done
stop_pid "$pida"
stop_pid "$pidb"
say "PASS"
