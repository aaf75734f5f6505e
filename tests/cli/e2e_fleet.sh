#!/usr/bin/env bash
# e2e_fleet.sh: regions made of instances, with real regsyncd processes (issue 10; issue 9 item 6).
#
# Per backend (file://, S3, PostgreSQL): region us-west-2 with instances a1 a2 a3, region
# eu-central-1 with b1 b2, and a publish-only agent (region ci, instance pub) that publishes the
# source. Every agent: poll 200 ms, heartbeat 1 s, stale_after 2.5 s, forget_after 6 s.
#   1. /v1/wait?regions=all returns once every follower applied v1, never waiting for the publisher.
#   2. a2 is paused (its own POST /v1/pause): /v1/drift (read 5 times) and regsync-dump regions say
#      "paused 1/3" with a2 at version 1; /v1/wait?regions=all answers 408 naming us-west-2/a2 while
#      regions=eu-central-1 answers 200; resume releases it; regions=no-such answers 400.
#   3. a3 is killed (-9): stale after stale_after (the region is in_sync over its 2 live instances),
#      its report pruned from the store after forget_after.
#   4. region-wide pause of eu-central-1 (POST /v1/pause {"scope":"region"} on b1): b1 and b2 keep
#      v2 while v3 is published, b3 started afterwards writes nothing; regsync-dump control shows it;
#      a region-wide resume releases all three.
#   5. a rolling restart replaces a1 a2 by a4 a5, then by a6 a7 (new names each time): after
#      forget_after only a6 and a7 remain in the store.
#   6. clocks (with faketime, file:// only): an agent two days fast, then killed, turns stale;
#      an agent a day slow that keeps reporting stays live; both are flagged for clock skew.
# four backends of several agents each: about 110 s on an idle 2-core machine, 300 s at load 19
E2E_TIME_LIMIT=${E2E_TIME_LIMIT:-720}
source "$(dirname "$0")/lib.bash" "$@"

export REGSYNC_ADMIN_TOKEN=e2e-token-$$-$RANDOM
AUTH=(-H "Authorization: Bearer $REGSYNC_ADMIN_TOKEN")
declare -A PORT PID

# agent BACKEND STORE REGION INSTANCE [follow|publish] [PREFIX...]: starts one regsyncd run
agent() {
  local backend=$1 store=$2 region=$3 inst=$4 role=${5:-follow}
  shift 5 2>/dev/null || shift $#
  local d=$WORK/$backend port
  port=$(free_port)
  local -a kv=(region="$region" instance="$inst" "state_dir=$d/state-$inst" poll_interval=200ms heartbeat_interval=1s
    stale_after=2500ms forget_after=6s "admin={ listen: \"127.0.0.1:$port\" }")
  if [[ $role == publish ]]; then
    kv+=(publish=true "source=file://$d/src.db")
  else
    mkdir -p "$d/feast-$inst"
    kv+=("target=file://$d/feast-$inst/registry.db")
  fi
  agent_yaml "$d/$inst.yaml" "${kv[@]}"
  e2e_bg "$backend-$inst" env REGSYNC_STORE="$store" "$@" "$REGSYNCD" run --config "$d/$inst.yaml"
  PID[$inst]=$E2E_LAST_PID
  PORT[$inst]=$port
  wait_for 15 "$backend: $inst's admin API" http_is 200 "http://127.0.0.1:$port/healthz"
}

api() { curl -s -m 5 "http://127.0.0.1:${PORT[$1]}$2"; }
post() { curl -s -m 5 -X POST "${AUTH[@]}" -d "${3:-}" "http://127.0.0.1:${PORT[$1]}$2"; }
code() { curl -s -o "$WORK/last.json" -m "${3:-10}" -w '%{http_code}' "http://127.0.0.1:${PORT[$1]}$2"; }
summary_of() { api "$1" /v1/drift | jq -r --arg r "$2" '.regions[] | select(.region == $r) | .summary'; }
summary_is() { [[ $(summary_of "$1" "$2") == "$3" ]]; }
inst_field() { api "$1" /v1/drift | jq -r --arg r "$2" --arg i "$3" ".regions[] | select(.region == \$r) | .instances[] | select(.instance == \$i) | $4"; }
inst_is() { [[ $(inst_field "$1" "$2" "$3" "$4") == "$5" ]]; }
applied_is() { [[ $(api "$1" /v1/status | jq -r .applied_version) == "$2" ]]; }
keys_of() { store_keys "$1" "regsync/regions/$2/" | sed "s|regsync/regions/$2/||" | sort | tr '\n' ' ' | sed 's/ $//'; }
keys_are() { [[ $(keys_of "$1" "$2") == "$3" ]]; }

next_source() {
  local d=$1 seed=$2
  "$GEN" mutate --seed "$seed" --changes 3 "$d/src.db" "$d/next.db" 2>/dev/null && mv -f "$d/next.db" "$d/src.db" || fail "mutate failed"
}

run_backend() {
  local backend=$1 d=$WORK/$1 store
  mkdir -p "$d"
  store=$(fresh_store "$backend" fleet)
  E2E_STORES+=("$store")
  step "$backend: two regions of instances and a publisher"
  "$GEN" --seed 5 --projects 2 --out "$d/src.db" 2>/dev/null || fail "regsync-gen failed"
  agent "$backend" "$store" ci pub publish
  for i in a1 a2 a3; do agent "$backend" "$store" us-west-2 $i; done
  for i in b1 b2; do agent "$backend" "$store" eu-central-1 $i; done

  # 1. every follower, never the publisher
  local c; c=$(code a1 "/v1/wait?version=1&regions=all&timeout=30s" 35)
  expect_eq "$backend: /v1/wait v1 regions=all" 200 "$c"
  [[ $(jq -r '.detail.waiting | length' "$WORK/last.json") == 0 ]] || fail "$backend: waiting: $(cat "$WORK/last.json")"
  wait_for 10 "$backend: the fleet view lists the publisher apart" \
    bash -c "curl -s -m 5 http://127.0.0.1:${PORT[a1]}/v1/drift | jq -e '.publishers | length == 1 and (.[0].instance == \"pub\")' >/dev/null"
  [[ $(api a1 /v1/drift | jq -r '[.regions[].region] | sort | join(",")') == "eu-central-1,us-west-2" ]] ||
    fail "$backend: regions in /v1/drift: $(api a1 /v1/drift | jq -c '[.regions[].region]')"
  [[ -z $(curl -s -m 5 "http://127.0.0.1:${PORT[pub]}/metrics" | grep '^regsync_lag_') ]] || fail "$backend: a publish-only agent exports lag"
  say "$backend: v1 everywhere; the publisher is listed apart and exports no lag"

  # 2. one paused instance
  post a2 /v1/pause >/dev/null
  next_source "$d" 11
  wait_for 20 "$backend: a1 at v2" applied_is a1 2
  # every agent's view gets there within a heartbeat; from then on every read says the same
  local r v
  for v in a1 b1 a3; do wait_for 20 "$backend: us-west-2 paused 1/3 on $v" summary_is $v us-west-2 "paused 1/3"; done
  for r in 1 2 3 4 5; do
    for v in a1 b1 a3; do
      local got; got=$(summary_of $v us-west-2)
      [[ $got == "paused 1/3" ]] || fail "$backend: read $r of /v1/drift on $v: us-west-2 is '$got'"
    done
    [[ $(inst_field a3 us-west-2 a2 .applied_version) == 1 ]] || fail "$backend: read $r: a2 not at version 1"
    sleep 0.3
  done
  "$DUMP" regions "$store" >"$d/regions.txt" 2>/dev/null
  grep -q 'paused 1/3' "$d/regions.txt" || { cat "$d/regions.txt"; fail "$backend: regsync-dump regions lacks 'paused 1/3'"; }
  grep -qE '^ +[|`]- a2 +paused +1 ' "$d/regions.txt" || { cat "$d/regions.txt"; fail "$backend: regsync-dump regions: a2 not paused at 1"; }
  c=$(code a1 "/v1/wait?version=2&regions=all&timeout=2s")
  expect_eq "$backend: /v1/wait v2 regions=all while a2 is paused" 408 "$c"
  [[ $(jq -c '.detail.waiting' "$WORK/last.json") == '["us-west-2/a2"]' ]] || fail "$backend: 408 detail: $(cat "$WORK/last.json")"
  c=$(code a1 "/v1/wait?version=2&regions=eu-central-1&timeout=10s")
  expect_eq "$backend: /v1/wait v2 regions=eu-central-1" 200 "$c"
  c=$(code a1 "/v1/wait?version=2&regions=no-such&timeout=20s" 25)
  expect_eq "$backend: /v1/wait for an unknown region" 400 "$c"
  grep -q 'no-such' "$WORK/last.json" || fail "$backend: the 400 does not name the region: $(cat "$WORK/last.json")"
  say "$backend: a2 paused: 'paused 1/3' on every read and in regsync-dump; wait 408 for all, 200 for eu-central-1, 400 for no-such"
  post a2 /v1/resume >/dev/null
  c=$(code a1 "/v1/wait?version=2&regions=all&timeout=20s" 25)
  expect_eq "$backend: /v1/wait after resume" 200 "$c"

  # 3. kill -9: stale, then forgotten
  kill -9 "${PID[a3]}"
  wait_for 15 "$backend: a3 stale" inst_is a1 us-west-2 a3 .state stale
  expect_eq "$backend: us-west-2 over its live instances" "in_sync 2/2" "$(summary_of a1 us-west-2)"
  wait_for 20 "$backend: a3 forgotten (pruned from the store)" keys_are "$store" us-west-2 "a1 a2"
  say "$backend: a3 killed: stale, then pruned after forget_after"

  # 4. a region-wide pause, obeyed by an instance started later
  local out; out=$(post b1 /v1/pause '{"scope":"region","by":"e2e"}')
  [[ $(jq -r .scope <<<"$out") == region ]] || fail "$backend: region-wide pause answered: $out"
  next_source "$d" 12
  wait_for 20 "$backend: a1 at v3" applied_is a1 3
  sleep 1
  applied_is b1 2 || fail "$backend: b1 moved on during a region-wide pause"
  applied_is b2 2 || fail "$backend: b2 moved on during a region-wide pause"
  agent "$backend" "$store" eu-central-1 b3
  wait_for 10 "$backend: b3 paused by its region" bash -c "curl -s -m 5 http://127.0.0.1:${PORT[b3]}/v1/status | jq -e '.paused and .controls.region_paused' >/dev/null"
  [[ ! -e $d/feast-b3/registry.db ]] || fail "$backend: b3 wrote its target during a region-wide pause"
  "$DUMP" control "$store" eu-central-1 >"$d/control.txt" 2>/dev/null || fail "$backend: regsync-dump control failed"
  grep -q 'region-wide pause by e2e' "$d/control.txt" || { cat "$d/control.txt"; fail "$backend: regsync-dump control"; }
  post b2 /v1/resume '{"scope":"region"}' >/dev/null
  c=$(code a1 "/v1/wait?version=3&regions=eu-central-1&timeout=20s" 25)
  expect_eq "$backend: eu-central-1 at v3 after the region-wide resume" 200 "$c"
  wait_for 10 "$backend: b3 at v3" applied_is b3 3
  say "$backend: region-wide pause held b1 b2 and a later b3; resume released all three"

  # 5. a rolling restart, twice, with new names
  local old new
  for pair in a1:a4 a2:a5 a4:a6 a5:a7; do
    old=${pair%%:*} new=${pair##*:}
    agent "$backend" "$store" us-west-2 "$new"
    wait_for 20 "$backend: $new applied v3" applied_is "$new" 3
    stop_pid "${PID[$old]}"
  done
  wait_for 20 "$backend: only the live instances after forget_after" keys_are "$store" us-west-2 "a6 a7"
  expect_eq "$backend: us-west-2 after two rollouts" "in_sync 2/2" "$(summary_of a6 us-west-2)"
  say "$backend: two rolling restarts left exactly a6 a7 after forget_after"

  # 6. clocks (the store's clock is this machine's for file://; faketime changes only the agents')
  if [[ $backend == file ]]; then
    # libfaketime preloaded into regsyncd itself (the faketime wrapper forks: a kill would miss
    # the agent); monotonic clocks stay real, so only the wall clock is off
    local ftlib
    ftlib=$(dpkg -L libfaketime 2>/dev/null | grep -m1 '/libfaketime\.so\.1$' || true)
    if [[ -z $ftlib ]]; then
      e2e_required && fail "libfaketime is required (Debian package faketime; scripts/deps.sh test installs it)"
      skip_part "clock skew" "libfaketime is not installed"
    else
      agent "$backend" "$store" eu-central-1 fast follow env LD_PRELOAD="$ftlib" FAKETIME=+2d FAKETIME_DONT_FAKE_MONOTONIC=1
      agent "$backend" "$store" eu-central-1 slow follow env LD_PRELOAD="$ftlib" FAKETIME=-1d FAKETIME_DONT_FAKE_MONOTONIC=1
      wait_for 20 "$backend: fast at v3" applied_is fast 3
      wait_for 20 "$backend: slow at v3" applied_is slow 3
      wait_for 15 "$backend: the fast clock flagged" inst_is b1 eu-central-1 fast .clock_skew.warning true
      wait_for 15 "$backend: the slow clock flagged" inst_is b1 eu-central-1 slow .clock_skew.warning true
      kill -9 "${PID[fast]}"
      wait_for 15 "$backend: the killed fast agent stale" inst_is b1 eu-central-1 fast .state stale
      sleep 4
      inst_is b1 eu-central-1 slow .live true || fail "$backend: the slow agent that keeps reporting is not live: $(inst_field b1 eu-central-1 slow .)"
      local skew; skew=$(inst_field b1 eu-central-1 slow .clock_skew.seconds)
      say "$backend: clocks: +2d killed -> stale; -1d alive -> live (skew ${skew%.*} s flagged)"
    fi
  fi
  for i in "${!PID[@]}"; do stop_pid "${PID[$i]}"; done
  PID=()
  say "$backend: PASS"
}

step "fleet: instances, roles, region-wide control"
e2e_backends
for backend in "${E2E_BACKEND_LIST[@]}"; do run_backend "$backend"; done
