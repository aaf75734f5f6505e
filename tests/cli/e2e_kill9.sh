#!/usr/bin/env bash
# e2e_kill9.sh: kill -9 at random moments during apply never leaves a torn target, and the agent
# resumes with a journal that agrees with it (issue 4, item 9; docs/journal.md "Crash consistency").
#
# Per backend: a ~5 MB generated registry; a follower daemon (`regsyncd run`, poll 100 ms) applies
# a stream of versions. Each trial publishes one new version (a few object changes), sleeps a
# random 0..300 ms and kills the follower with SIGKILL. After each kill:
#   - the target decodes and its digest is the digest of some published version (never a mix);
#   - `regsyncd sync --once` (the next start) exits 0, leaves no temp file `.registry.db.regsync-*`,
#     its journal says the latest version and the target digest equals that version's digest;
#   - then the daemon starts again for the next trial.
# The log prints where the kills landed (old or new version in the target, temp file present,
# pending row in the journal) and what the journal recovery said, so a run shows it hit the windows.
# Trials: 50 on file:// (RS_E2E_KILL9_TRIALS), 5 on S3, Postgres and MySQL (RS_E2E_KILL9_REMOTE).
E2E_TIME_LIMIT=${E2E_TIME_LIMIT:-480}
source "$(dirname "$0")/lib.bash" "$@"

if ((E2E_SANITIZED)); then # ASan+UBSan binaries: fewer trials, same checks
  TRIALS_FILE=${RS_E2E_KILL9_TRIALS:-15} TRIALS_REMOTE=${RS_E2E_KILL9_REMOTE:-2}
  say "sanitizer build: $TRIALS_FILE trials on file://, $TRIALS_REMOTE on S3, Postgres and MySQL (50 and 5 in the optimized build)"
else
  TRIALS_FILE=${RS_E2E_KILL9_TRIALS:-50} TRIALS_REMOTE=${RS_E2E_KILL9_REMOTE:-5}
fi
SIZE=${RS_E2E_KILL9_SIZE:-5MB}

run_backend() {
  local backend=$1 trials=$2 d=$WORK/$1 store t
  step "$backend: $trials kill -9 trials while a follower applies a ~$SIZE registry"
  store=$(fresh_store "$backend" kill9)
  E2E_STORES+=("$store")
  mkdir -p "$d/feast"
  "$GEN" --seed 9 --size "$SIZE" --out "$d/src.db" 2>/dev/null || fail "regsync-gen failed"
  agent_yaml "$d/pub.yaml" region=k9-pub "source=file://$d/src.db" publish=true "state_dir=$d/pubstate" \
    snapshot_every=10 publisher_id=k9-pub 'admin={ listen: "" }'
  agent_yaml "$d/agent.yaml" region=k9-follower "target=file://$d/feast/registry.db" "state_dir=$d/state" \
    poll_interval=100ms 'admin={ listen: "" }'
  : >"$d/published" # version digest
  publish() { # the digest first, so the kill's delay counts from the end of the publish
    local out v dg
    dg=$(digest "$d/src.db") || fail "$backend: the source does not decode"
    out=$(rsd "$store" publish --once --config "$d/pub.yaml" 2>>"$d/publish.err") ||
      { show_log "$d/publish.err"; fail "$backend: publish --once failed"; }
    [[ $out == "published version "* ]] || fail "$backend: publish --once printed '$out', not a new version"
    v=${out##* }
    echo "$v $dg" >>"$d/published"
    LAST_V=$v
  }
  publish
  local pid=0 old_in=0 new_in=0 none_in=0 temp_seen=0 pending_seen=0 t0 recov
  declare -A recoveries=()
  t0=$(date +%s.%N)
  for ((t = 1; t <= trials; t++)); do
    e2e_bg "$backend-follower" env REGSYNC_STORE="$store" "$REGSYNCD" run --config "$d/agent.yaml"
    pid=$E2E_LAST_PID
    # the next version: a few object changes of the 5 MB registry
    "$GEN" mutate --seed "$((t * 7919))" --changes 5 "$d/src.db" "$d/next.db" 2>/dev/null || fail "mutate failed"
    mv -f "$d/next.db" "$d/src.db"
    publish
    local ms=$((RANDOM % 301))
    nap "$(printf '0.%03d' "$ms")"
    alive "$pid" || { show_log "$WORK/$backend-follower.log"; fail "$backend trial $t: the follower died before the kill"; }
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    # --- right after the kill
    local temps pend td where
    temps=$(temp_files "$d/feast" registry.db)
    local tf=no pf=no
    [[ -n $temps ]] && { ((temp_seen++)); tf=yes; }
    pend=$(journal_pending "$d/state")
    [[ -n $pend && $pend != 0 ]] && { ((pending_seen++)); pf="v$pend"; }
    td=$(target_digest "$d/feast/registry.db")
    [[ $td == undecodable ]] && fail "$backend trial $t: after kill -9 (${ms} ms after publishing $LAST_V) the target does not decode"
    if [[ $td == none ]]; then
      ((t == 1)) || fail "$backend trial $t: the target disappeared after kill -9"
      where=none; ((none_in++))
    else
      local v
      v=$(awk -v d="$td" '$2 == d { print $1 }' "$d/published" | tail -n 1)
      [[ -n $v ]] || fail "$backend trial $t: after kill -9 the target's digest $td is not the digest of any published version"
      if [[ $v == "$LAST_V" ]]; then where=new; ((new_in++)); else where="old(v$v)"; ((old_in++)); fi
    fi
    # --- the next start: sync --once
    rsd "$store" sync --once --config "$d/agent.yaml" >/dev/null 2>"$d/sync.err" ||
      { show_log "$d/sync.err"; fail "$backend trial $t: sync --once after the kill failed"; }
    recov=$(sed -n 's/.*journal recovery result=\([a-z_]*\).*/\1/p' "$d/sync.err" | head -n 1)
    recov=${recov:-consistent}
    recoveries[$recov]=$((${recoveries[$recov]:-0} + 1))
    cat "$d/sync.err" >>"$WORK/$backend-sync.log"
    temps=$(temp_files "$d/feast" registry.db)
    [[ -z $temps ]] || fail "$backend trial $t: temp file(s) left after the next start: $temps"
    local want jr
    want=$(awk -v v="$LAST_V" '$1 == v { print $2 }' "$d/published")
    # the journal's last applied version and its result digest (regsync-dump journal)
    jr=$(journal_last "$d/state")
    expect_eq "$backend trial $t: journal's last applied version and its result digest after sync --once" "$LAST_V $want" "$jr"
    expect_eq "$backend trial $t: target digest after sync --once (version $LAST_V)" "$want" "$(target_digest "$d/feast/registry.db")"
    say "$backend trial $t/$trials: kill -9 ${ms} ms after publishing v$LAST_V: target held $where, temp file $tf, pending row $pf; recovery $recov; sync --once -> v$LAST_V, journal and digest agree"
  done
  local secs
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  local rs="" k
  for k in "${!recoveries[@]}"; do rs+="$k=${recoveries[$k]} "; done
  say "$backend: $trials kills in ${secs}s: target held the new version $new_in times, an older one $old_in, none $none_in; temp file present right after the kill $temp_seen times, journal pending row $pending_seen times; recovery at the next start: $rs"
  say "$backend: PASS"
}

step "kill -9 during apply: $TRIALS_FILE trials on file://, $TRIALS_REMOTE on S3, Postgres and MySQL"
e2e_backends
for backend in "${E2E_BACKEND_LIST[@]}"; do
  if [[ $backend == file ]]; then run_backend file "$TRIALS_FILE"; else run_backend "$backend" "$TRIALS_REMOTE"; fi
done
