#!/usr/bin/env bash
# e2e_signals.sh: SIGTERM and SIGHUP on a running `regsyncd run` (issue 4, item 7).
#
# Per backend:
#   SIGTERM while applying (3 rounds): a new version of a ~5 MB registry is published; the moment
#     the agent's temp file `.registry.db.regsync-*` appears (it is writing the target) it gets
#     SIGTERM. It must exit 0 within 5 s, leave no temp file, and leave a target that is a complete
#     published version which its journal agrees with.
#   SIGHUP with a broken config (poll_interval: "fast"): the agent keeps running on the old one, a
#     log line names the key, /healthz answers 200, and it still follows the next version.
#   SIGHUP with a valid changed config (a project filter include_projects: [proj_00]): the agent
#     says "reloaded" and its target holds only proj_00 (at the latest with the next version).
source "$(dirname "$0")/lib.bash" "$@"

SIZE=${RS_E2E_SIGNALS_SIZE:-5MB}
ROUNDS=${RS_E2E_SIGTERM_ROUNDS:-3}

projects_of() { # the projects a registry holds, sorted, space separated
  "$DUMP" summary "$1" | sed -n '/^PROJECT/,$p' | awk 'NR > 1 && NF { print $1 }' | sort | tr '\n' ' ' | sed 's/ $//'
}
target_projects_are() { [[ $(projects_of "$d/feast/registry.db" 2>/dev/null) == "$1" ]]; }

run_backend() {
  local backend=$1 d=$WORK/$1 store pid r
  step "$backend: SIGTERM while applying ($ROUNDS rounds), SIGHUP with a broken and with a changed config"
  store=$(fresh_store "$backend" signals)
  E2E_STORES+=("$store")
  mkdir -p "$d/feast"
  "$GEN" --seed 5 --size "$SIZE" --out "$d/src.db" 2>/dev/null || fail "regsync-gen failed"
  agent_yaml "$d/pub.yaml" region=sig-pub "source=file://$d/src.db" publish=true "state_dir=$d/pubstate" \
    snapshot_every=10 'admin={ listen: "" }'
  local port; port=$(free_port)
  write_agent_yaml() { # write_agent_yaml POLL_INTERVAL [EXTRA KEY=VALUE...]
    local poll=$1; shift
    agent_yaml "$d/agent.yaml" region=sig-follower "target=file://$d/feast/registry.db" "state_dir=$d/state" \
      "poll_interval=$poll" "admin={ listen: \"127.0.0.1:$port\" }" "$@"
  }
  write_agent_yaml 100ms
  : >"$d/published"
  LAST_V=0
  publish() {
    local out dg
    dg=$(digest "$d/src.db") || fail "$backend: the source does not decode"
    out=$(rsd "$store" publish --once --config "$d/pub.yaml" 2>>"$d/publish.err") ||
      { show_log "$d/publish.err"; fail "$backend: publish --once failed"; }
    [[ $out == "published version "* ]] || fail "$backend: publish --once printed '$out'"
    LAST_V=${out##* }
    echo "$LAST_V $dg" >>"$d/published"
  }
  mutate() {
    "$GEN" mutate --seed "$1" --changes 5 "$d/src.db" "$d/next.db" 2>/dev/null || fail "mutate failed"
    mv -f "$d/next.db" "$d/src.db"
  }
  local log=$WORK/$backend-agent.log

  # ---------------------------------------------------------------- SIGTERM while applying
  local caught=0
  for ((r = 1; r <= ROUNDS; r++)); do
    e2e_bg "$backend-agent" env REGSYNC_STORE="$store" "$REGSYNCD" run --config "$d/agent.yaml"
    pid=$E2E_LAST_PID
    ((r > 1)) && mutate $((r * 31))
    # publish in the background and watch for the agent's temp file meanwhile (the agent may pick
    # the version up before publish --once has exited); SIGTERM the moment it appears
    local dg ppid seen=no deadline
    dg=$(digest "$d/src.db") || fail "$backend: the source does not decode"
    rsd "$store" publish --once --config "$d/pub.yaml" >"$d/pubout" 2>>"$d/publish.err" &
    ppid=$!
    deadline=$((SECONDS + 5))
    while ((SECONDS < deadline)); do # builtins only: a fork per check would be too slow
      if compgen -G "$d/feast/.registry.db.regsync-*" >/dev/null; then seen=yes; break; fi
      alive "$pid" || break
      nap 0.001
    done
    alive "$pid" || { show_log "$log"; fail "$backend round $r: the agent exited before SIGTERM"; }
    kill -TERM "$pid"
    [[ $seen == yes ]] && ((caught++))
    wait "$ppid" || { show_log "$d/publish.err"; fail "$backend round $r: publish --once failed"; }
    local pout; pout=$(<"$d/pubout")
    [[ $pout == "published version "* ]] || fail "$backend round $r: publish --once printed '$pout'"
    LAST_V=${pout##* }
    echo "$LAST_V $dg" >>"$d/published"
    wait_exit "$pid" 10
    ((E2E_EXIT_RC == 0)) || { show_log "$log"; fail "$backend round $r: exit code after SIGTERM is $E2E_EXIT_RC, not 0"; }
    awk -v s="$E2E_EXIT_SECONDS" 'BEGIN { exit !(s < 5) }' ||
      fail "$backend round $r: the agent took ${E2E_EXIT_SECONDS}s to exit after SIGTERM (limit 5 s)"
    local temps; temps=$(temp_files "$d/feast" registry.db)
    [[ -z $temps ]] || fail "$backend round $r: SIGTERM left temp file(s): $temps"
    local td v jr
    td=$(target_digest "$d/feast/registry.db")
    [[ $td != undecodable ]] || fail "$backend round $r: the target does not decode after SIGTERM"
    if [[ $td == none ]]; then
      ((r == 1)) || fail "$backend round $r: the target is gone after SIGTERM"
      v=none
    else
      v=$(awk -v d="$td" '$2 == d { print $1 }' "$d/published" | tail -n 1)
      [[ -n $v ]] || fail "$backend round $r: the target after SIGTERM ($td) is no published version"
      jr=$(journal_last "$d/state")
      expect_eq "$backend round $r: journal's last version and result digest = the target's" "$v $td" "$jr"
    fi
    grep -q 'stopping signal=SIGTERM' "$log" || fail "$backend round $r: no 'stopping signal=SIGTERM' line in the agent log"
    say "$backend round $r: SIGTERM $([[ $seen == yes ]] && echo "while the temp file existed" || echo "(the temp file was not seen within 5 s)"): exit 0 in ${E2E_EXIT_SECONDS}s, no temp file, target = v$v of v$LAST_V, journal agrees"
  done
  ((caught > 0)) || fail "$backend: in $ROUNDS rounds SIGTERM never arrived while the agent was writing the target (no temp file seen)"

  # ---------------------------------------------------------------- SIGHUP
  e2e_bg "$backend-agent" env REGSYNC_STORE="$store" "$REGSYNCD" run --config "$d/agent.yaml"
  pid=$E2E_LAST_PID
  wait_for 30 "$backend: the agent to apply v$LAST_V (journal)" journal_is "$d/state" "$LAST_V"
  wait_for 10 "$backend: /healthz on 127.0.0.1:$port" http_is 200 "http://127.0.0.1:$port/healthz"
  local all_projects; all_projects=$(projects_of "$d/feast/registry.db")
  [[ $all_projects == *proj_00*proj_0* ]] || fail "$backend: the generated registry should have several projects, has '$all_projects'"

  # broken config
  local mark; mark=$(wc -l <"$log")
  write_agent_yaml '"fast"'
  kill -HUP "$pid"
  wait_for 10 "$backend: a log line saying the reload was refused" log_has "$log" "$mark" 'reload refused'
  tail -n +$((mark + 1)) "$log" | grep -q 'poll_interval' ||
    { show_log "$log"; fail "$backend: no log line names the bad key poll_interval after SIGHUP"; }
  say "$backend: SIGHUP with poll_interval: \"fast\": $(tail -n +$((mark + 1)) "$log" | grep 'poll_interval' | head -n 1 | sed 's/^ *//')"
  alive "$pid" || { show_log "$log"; fail "$backend: the agent exited after a SIGHUP with a broken config"; }
  expect_eq "$backend: /healthz after the refused reload" 200 "$(http_code "http://127.0.0.1:$port/healthz")"
  mutate 1001
  publish
  wait_for 30 "$backend: the agent (old config) to follow v$LAST_V after the refused reload" \
    target_is "$d/feast/registry.db" "$(awk -v v="$LAST_V" '$1 == v { print $2 }' "$d/published")"
  say "$backend: the agent kept its old configuration: still serving (/healthz 200) and it applied v$LAST_V"

  # valid changed config: a project filter
  mark=$(wc -l <"$log")
  write_agent_yaml 100ms 'filters={ include_projects: ["proj_00"], exclude_projects: [] }'
  kill -HUP "$pid"
  wait_for 15 "$backend: 'reloaded' in the agent log" log_has "$log" "$mark" 'daemon reloaded'
  alive "$pid" || { show_log "$log"; fail "$backend: the agent exited after a valid SIGHUP"; }
  local immediate=no
  if wait_until 5 target_projects_are "proj_00"; then immediate=yes; fi
  if [[ $immediate == no ]]; then
    say "$backend: NOTE: the new filter was not applied to the target within 5 s of the reload (the target still holds: $(projects_of "$d/feast/registry.db")); publishing a new version"
    mutate 1002
    publish
    wait_for 30 "$backend: the target to hold only proj_00 after the reload and a new version" target_projects_are "proj_00"
  fi
  expect_eq "$backend: /healthz after the reload" 200 "$(http_code "http://127.0.0.1:$port/healthz")"
  local st; st=$(curl -s -m 2 "http://127.0.0.1:$port/v1/status")
  [[ $st == *'"proj_00"'* ]] || fail "$backend: /v1/status does not show the new filter: $st"
  say "$backend: SIGHUP with a new filter: reloaded; the target holds only proj_00 ($([[ $immediate == yes ]] && echo "applied at once" || echo "applied with the next version"))"
  stop_pid "$pid"
  say "$backend: PASS"
}

step "signals: SIGTERM while applying, SIGHUP with a broken and with a changed configuration"
e2e_backends
for backend in "${E2E_BACKEND_LIST[@]}"; do run_backend "$backend"; done
