#!/usr/bin/env bash
# e2e_outage.sh: a global-store outage; the region keeps serving and catches up afterwards
# (issue 4, item 9; DESIGN.md section 6).
#
# Per backend, one agent (`regsyncd run`, poll 200 ms, max_staleness 2s, admin API on a free port,
# REGSYNC_ADMIN_TOKEN set) follows a store; version 1 is in its target. Then the store goes away:
#   file://  the store directory is renamed away (and back afterwards);
#   s3       the agent reaches RGW through scripts/fault-proxy.py, which answers every request
#            with 503 SlowDown or lets it hang (blocks of 20 x 503, then 3 x hang, repeated);
#   pg, mysql  the agent reaches Postgres / MySQL through a TCP relay that first holds every byte
#            (a network partition), then resets every connection (a server restart).
# During the outage a publisher (with a direct path to the store) publishes version 2, and:
#   - the target keeps version 1 (unchanged digest), checked again and again;
#   - /healthz answers 200 within 1 s every time (curl -m 1), and POST /v1/sync answers 200 (after
#     a step that saw it, or done: false after 70% of admin.request_timeout);
#   - /readyz turns 503 (not fresh) within max_staleness + 3 s and /v1/status shows the error.
# When the store is back, the agent applies version 2 by itself, /readyz is 200 again and the
# journal says 2. Last, a second outage: SIGTERM must stop the agent within 10 s even though its
# store calls fail or hang (Kubernetes waits 30 s before SIGKILL). On Postgres and MySQL the partition is
# bounded by the client-side deadline (store_options.timeout) of storage/pg.c and storage/mysql.c.
source "$(dirname "$0")/lib.bash" "$@"

OUTAGE_S=${RS_E2E_OUTAGE_SECONDS:-6}
export REGSYNC_ADMIN_TOKEN=e2e-token-$$-$RANDOM

run_backend() {
  local backend=$1 d=$WORK/$1 store agent_store pub_store port pid
  step "$backend: a ${OUTAGE_S}s outage of the global store"
  store=$(fresh_store "$backend" outage)
  E2E_STORES+=("$store")
  mkdir -p "$d/feast"
  "$GEN" --seed 3 --projects 2 --out "$d/src.db" 2>/dev/null || fail "regsync-gen failed"
  pub_store=$store
  agent_store=$store
  local faults=$d/faults ctl=$d/proxy-mode
  case $backend in
    s3)
      local ep; ep=$(sed -n 's/.*[?&]endpoint=http:\/\/\([^&/]*\).*/\1/p' <<<"$store")
      [[ -n $ep ]] || fail "s3: cannot find endpoint=http://HOST:PORT in RS_TEST_S3_URL"
      start_fault_proxy "$backend-proxy" "$ep" "$faults"
      agent_store=${store/endpoint=http:\/\/$ep/endpoint=http://127.0.0.1:$E2E_PROXY_PORT}
      say "s3: the agent goes through fault-proxy.py on port $E2E_PROXY_PORT (RGW at $ep); the publisher does not" ;;
    pg | mysql)
      local hp; hp=$(sed -n 's/.*@\([^/?]*\).*/\1/p' <<<"$store")
      [[ $hp == *:* ]] || fail "$backend: the store URL has no host:port after @"
      start_tcp_proxy "$backend-proxy" "${hp%:*}" "${hp##*:}" "$ctl"
      agent_store=${store/@$hp/@127.0.0.1:$E2E_PROXY_PORT}
      say "$backend: the agent goes through a TCP relay on port $E2E_PROXY_PORT (the server at $hp); the publisher does not" ;;
  esac
  agent_yaml "$d/pub.yaml" region=outage-pub "source=file://$d/src.db" publish=true "state_dir=$d/pubstate" \
    'admin={ listen: "" }'
  port=$(free_port)
  agent_yaml "$d/agent.yaml" region=outage-follower "target=file://$d/feast/registry.db" "state_dir=$d/state" \
    poll_interval=200ms max_staleness=2s heartbeat_interval=1s stale_after=3s \
    "admin={ listen: \"127.0.0.1:$port\" }" \
    'store_options={ timeout: 1s, connect_timeout: 500ms, max_retries: 1 }'
  local base=http://127.0.0.1:$port

  local d1 d2
  d1=$(digest "$d/src.db")
  rsd "$pub_store" publish --once --config "$d/pub.yaml" >/dev/null 2>>"$d/publish.err" || { show_log "$d/publish.err"; fail "$backend: publish v1 failed"; }
  e2e_bg "$backend-agent" env REGSYNC_STORE="$agent_store" "$REGSYNCD" run --config "$d/agent.yaml"
  pid=$E2E_LAST_PID
  local log=$WORK/$backend-agent.log
  wait_for 30 "$backend: the agent to apply v1" target_is "$d/feast/registry.db" "$d1"
  wait_for 10 "$backend: /readyz 200 before the outage" http_is 200 "$base/readyz"
  say "$backend: v1 is in the target, /readyz 200"

  # ---------------------------------------------------------------- outage
  case $backend in
    file)
      mv "${store#file://}" "${store#file://}.away" || fail "cannot rename the store away"
      pub_store=$store.away ;;
    s3)
      local i
      for ((i = 0; i < 300; i++)); do printf '503\n%.0s' {1..20}; printf 'hang\n%.0s' {1..3}; done >"$faults" ;;
    pg | mysql)
      echo hang >"$ctl" ;;
  esac
  local t_out log_mark; t_out=$(date +%s.%N); log_mark=$(wc -l <"$log")
  say "$backend: outage begins"
  "$GEN" mutate --seed 77 --changes 3 "$d/src.db" "$d/next.db" 2>/dev/null && mv -f "$d/next.db" "$d/src.db" || fail "mutate failed"
  d2=$(digest "$d/src.db")
  local out
  out=$(rsd "$pub_store" publish --once --config "$d/pub.yaml" 2>>"$d/publish.err") || { show_log "$d/publish.err"; fail "$backend: publish v2 during the outage failed"; }
  [[ $out == "published version 2" ]] || fail "$backend: publish during the outage printed '$out'"
  say "$backend: v2 published while the agent cannot reach the store"

  local checks=0 maxh=0 not_ready_at="" sync_code="" sync_pid="" half_done=0 t c h
  while :; do
    t=$(awk -v a="$t_out" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    awk -v t="$t" -v m="$OUTAGE_S" 'BEGIN { exit !(t >= m) }' && break
    if [[ ($backend == pg || $backend == mysql) && $half_done == 0 ]] && awk -v t="$t" -v m="$OUTAGE_S" 'BEGIN { exit !(t >= m / 2) }'; then
      # did the agent notice the partition? (store_options.timeout is 1s)
      local errs; errs=$(tail -n +$((log_mark + 1)) "$log" | grep -c 'error kind=store')
      if ((errs == 0)); then
        fail "$backend: no store error in the agent log during ${t}s of partition (store_options.timeout is 1s): the agent is blocked in a store call"
      else
        say "$backend: the agent reported $errs store error(s) during ${t}s of partition"
      fi
      echo reset >"$ctl"; half_done=1
      say "$backend: the relay now resets every connection (a server restart)"
    fi
    alive "$pid" || { show_log "$log"; fail "$backend: the agent exited during the outage"; }
    # /healthz: 200, fast
    h=$(curl -s -o /dev/null -m 1 -w '%{http_code} %{time_total}' "$base/healthz" || true)
    [[ ${h%% *} == 200 ]] || fail "$backend: /healthz answered '${h%% *}' ${t}s into the outage (want 200 within 1 s)"
    maxh=$(awk -v a="$maxh" -v b="${h##* }" 'BEGIN { print (b > a ? b : a) }')
    # the target keeps v1
    c=$(target_digest "$d/feast/registry.db")
    [[ $c == "$d1" ]] || fail "$backend: ${t}s into the outage the target changed: $c (want v1 $d1)"
    if [[ -z $not_ready_at && $(http_code "$base/readyz") != 200 ]]; then not_ready_at=$t; fi
    if [[ -z $sync_pid ]] && awk -v t="$t" 'BEGIN { exit !(t >= 1) }'; then
      # the answer waits for a step that saw the request, at most 70% of admin.request_timeout
      # (10 s here), then says done: false (docs/admin-api.md); meanwhile the probes above go on
      curl -s -o "$WORK/$backend-sync.json" -m 9 -w '%{http_code} %{time_total}' -X POST \
        -H "Authorization: Bearer $REGSYNC_ADMIN_TOKEN" "$base/v1/sync" >"$WORK/$backend-sync.code" 2>/dev/null &
      sync_pid=$!
    fi
    ((checks++))
    sleep 0.25
  done
  [[ -n $sync_pid ]] || fail "$backend: the outage ended before POST /v1/sync was sent"
  wait "$sync_pid" || true
  sync_code=$(cat "$WORK/$backend-sync.code")
  [[ ${sync_code%% *} == 2* ]] || fail "$backend: POST /v1/sync answered '${sync_code%% *}' during the outage (want 2xx within 9 s)"
  [[ $(jq -r .ok "$WORK/$backend-sync.json") == true ]] || fail "$backend: POST /v1/sync during the outage: $(cat "$WORK/$backend-sync.json")"
  sync_code="${sync_code%% *} in ${sync_code##* }s (done: $(jq -r .done "$WORK/$backend-sync.json"))"
  if [[ -z $not_ready_at ]]; then
    # max_staleness is 2 s: allow 3 s more than that from the start of the outage
    wait_until 3 bash -c "[[ \$(curl -s -o /dev/null -m 1 -w '%{http_code}' '$base/readyz') != 200 ]]" &&
      not_ready_at=later
  fi
  [[ -n $not_ready_at ]] || { curl -s -m 1 "$base/readyz" >&2; fail "$backend: /readyz still 200 after the outage lasted $OUTAGE_S s (max_staleness 2s)"; }
  local ready_body; ready_body=$(curl -s -m 1 "$base/readyz")
  local status; status=$(curl -s -m 1 "$base/v1/status")
  local last_error; last_error=$(jq -r '.last_error.message // empty' <<<"$status" 2>/dev/null)
  [[ -n $last_error ]] || fail "$backend: /v1/status shows no last_error during the outage: $status"
  say "$backend: during the outage: target kept v1 ($checks checks), /healthz 200 every time (slowest ${maxh}s), POST /v1/sync $sync_code, /readyz not ready after ${not_ready_at}s; last_error: ${last_error:0:160}"
  say "$backend: /readyz said: $(tr -d '\n' <<<"$ready_body" | cut -c1-200)"

  # ---------------------------------------------------------------- recovery
  case $backend in
    file)
      local root=${store#file://}
      if [[ -e $root ]]; then
        say "file: NOTE: something recreated the store directory during the outage: $(cd "$root" && find . -type f | tr '\n' ' ')"
        mv "$root" "$root.during-outage"
      fi
      mv "$root.away" "$root" || fail "cannot rename the store back" ;;
    s3)
      : >"$faults"
      say "s3: faults injected: $(grep -c ' -> 503' "$WORK/$backend-proxy.requests") x 503, $(grep -c ' -> hang' "$WORK/$backend-proxy.requests") x hang" ;;
    pg | mysql)
      echo pass >"$ctl" ;;
  esac
  local t_back; t_back=$(date +%s.%N)
  say "$backend: the store is back"
  wait_for 20 "$backend: the agent to apply v2 after the outage" target_is "$d/feast/registry.db" "$d2"
  local caught; caught=$(awk -v a="$t_back" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  wait_for 10 "$backend: /readyz 200 again" http_is 200 "$base/readyz"
  expect_eq "$backend: journal after the outage" 2 "$(journal_max "$d/state")"
  alive "$pid" || fail "$backend: the agent exited"
  say "$backend: caught up to v2 ${caught}s after the store came back; /readyz 200; journal says 2"

  # ---------------------------------------------------------------- SIGTERM during an outage
  # Kubernetes sends SIGTERM and waits terminationGracePeriodSeconds (30 s by default): the agent
  # must not sit in a hung store call. (store_options.timeout is 1s here.)
  case $backend in
    file) mv "${store#file://}" "${store#file://}.away2" ;;
    s3) for ((i = 0; i < 200; i++)); do echo hang; done >"$faults" ;;
    pg | mysql) echo hang >"$ctl" ;;
  esac
  sleep 1.5
  alive "$pid" || fail "$backend: the agent exited"
  kill -TERM "$pid"
  local t_term; t_term=$(date +%s.%N)
  local i2
  for ((i2 = 0; i2 < 100; i2++)); do alive "$pid" || break; sleep 0.1; done # 10 s
  local term_s; term_s=$(awk -v a="$t_term" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  case $backend in
    file) mv "${store#file://}.away2" "${store#file://}" 2>/dev/null || true ;;
    s3) : >"$faults" ;;
    pg | mysql) echo pass >"$ctl" ;;
  esac
  if alive "$pid"; then
    wait_exit "$pid" 20
    local what="SIGTERM during an outage: the agent did not exit within 10 s; it exited (code $E2E_EXIT_RC) ${E2E_EXIT_SECONDS}s after the store came back"
    fail "$backend: $what"
  else
    wait "$pid"; local trc=$?
    ((trc == 0)) || fail "$backend: SIGTERM during an outage: exit code $trc"
    say "$backend: SIGTERM during an outage: exit 0 after ${term_s}s"
  fi
  say "$backend: PASS"
}

step "global-store outage: the region keeps serving and catches up"
e2e_backends
for backend in "${E2E_BACKEND_LIST[@]}"; do run_backend "$backend"; done
