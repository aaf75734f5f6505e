#!/usr/bin/env bash
# e2e_publisher_race.sh: racing publishers never fork or lose a version (issue 4, items 2 and 9).
#
# Per backend: 4 publisher processes, each with its own source files and state_dir, publish N/4
# source states each with `regsyncd publish --once`, concurrently: N changes in all (N=500 on
# file://, RS_E2E_RACE_CHANGES; 100 on S3, Postgres and MySQL, RS_E2E_RACE_REMOTE: timings in
# docs/testing.md). Each state is one unique `regsync-gen mutate` of the publisher's previous one,
# made before the race so the racing loop is only publishes. Meanwhile one follower runs as a daemon
# (`regsyncd run`, 100 ms poll) and another runs `regsyncd sync --once` in a loop. Then:
#   - the log holds exactly regsync/log/1..N (`regsync-dump ls`), no gap, nothing beyond;
#   - each entry's parent is the previous entry's result (no fork);
#   - HEAD says N (a HEAD one behind is repaired by one more publish, and said so);
#   - every published source state (its content digest) is the result of exactly one version,
#     and that is the version `publish --once` printed for it;
#   - both followers converge: target digest = the digest of the source published last, and the
#     journal says N.
# Usage (as CTest runs it): bash tests/cli/e2e_publisher_race.sh BUILD_DIR [SHARED_DIR]
E2E_TIME_LIMIT=${E2E_TIME_LIMIT:-600}
E2E_USE_SHM=1 # a test of the protocol's logic, not of durability: no fsync cost in /dev/shm
source "$(dirname "$0")/lib.bash" "$@"

if ((E2E_SANITIZED)); then # ASan+UBSan binaries: fewer changes, same checks
  N_FILE=${RS_E2E_RACE_CHANGES:-100} N_REMOTE=${RS_E2E_RACE_REMOTE:-40}
  say "sanitizer build: $N_FILE changes on file://, $N_REMOTE on S3, Postgres and MySQL (500 and 100 in the optimized build)"
else
  N_FILE=${RS_E2E_RACE_CHANGES:-500} N_REMOTE=${RS_E2E_RACE_REMOTE:-100}
fi
PUBLISHERS=4

# make_chain I COUNT DIR: a publisher's source states, made before the race so that the racing loop
# is nothing but `publish --once` (the sharper the race, the more compare-and-swaps are lost):
# DIR/v0.db (the base) .. DIR/vCOUNT.db, each one unique mutation of the one before (its content
# differs), and DIR/chain with "k content-digest" lines
make_chain() {
  local i=$1 n=$2 d=$3 k seed prev cd tries
  prev=$(content_digest "$d/v0.db")
  : >"$d/chain"
  for ((k = 1; k <= n; k++)); do
    seed=$((i * 1000000 + k)) tries=0
    while :; do
      "$GEN" mutate --seed "$seed" --changes 1 "$d/v$((k - 1)).db" "$d/v$k.db" 2>/dev/null || { echo "$k mutate-failed"; return 1; }
      cd=$(content_digest "$d/v$k.db")
      [[ $cd != "$prev" ]] && break
      seed=$((seed + 500000))
      ((++tries < 5)) || { echo "$k mutate-no-change"; return 1; }
    done
    echo "$k $cd" >>"$d/chain"
    prev=$cd
  done
}

# make_chains COUNT: the 4 publishers' chains of COUNT states each, in $WORK/chains/pub<i>, made
# once and shared by every backend (a backend racing fewer changes uses the first states)
make_chains() {
  local per=$1 i p pids=()
  mkdir -p "$WORK/chains"
  "$GEN" --seed 42 --projects 2 --out "$WORK/chains/base.db" 2>/dev/null || fail "regsync-gen failed"
  for ((i = 1; i <= PUBLISHERS; i++)); do
    mkdir -p "$WORK/chains/pub$i"
    cp "$WORK/chains/base.db" "$WORK/chains/pub$i/v0.db"
    e2e_bg "chain$i" make_chain "$i" "$per" "$WORK/chains/pub$i"
    pids+=("$E2E_LAST_PID")
  done
  for p in "${pids[@]}"; do wait "$p" || fail "making the source states failed (see $WORK/chain*.log)"; done
  say "$PUBLISHERS x $per source states made (regsync-gen mutate, one object each); every backend uses them"
}

# publish_loop COUNT STORE DIR CHAIN: one publisher process's race: publishes CHAIN/v1.db ..
# vCOUNT.db in order, each with `regsyncd publish --once` (source given with --set); DIR/record
# gets "k rc content-digest what-regsyncd-printed"
publish_loop() {
  local n=$1 store=$2 d=$3 c=$4 k out rc cd
  while read -r k cd; do
    out=$(rsd "$store" publish --once --config "$d/pub.yaml" --set "source=file://$c/v$k.db" 2>>"$d/publish.err")
    rc=$?
    echo "$k $rc $cd $out" >>"$d/record"
  done < <(head -n "$n" "$c/chain")
}

run_backend() {
  local backend=$1 n=$2 store i t0 t1
  step "$backend: $PUBLISHERS publishers race to publish $n changes"
  store=$(fresh_store "$backend" race)
  E2E_STORES+=("$store")
  local per=$((n / PUBLISHERS))
  mkdir -p "$WORK/$backend"
  for ((i = 1; i <= PUBLISHERS; i++)); do
    local d=$WORK/$backend/pub$i
    mkdir -p "$d"
    : >"$d/record"
    # snapshot_every 10: a fresh `publish --once` rebuilds HEAD's state from the newest snapshot
    # plus at most 9 entries (the default 100 would mean up to 99 GETs per publish on S3)
    agent_yaml "$d/pub.yaml" "region=pub-$i" "source=file://$WORK/chains/pub$i/v0.db" publish=true \
      "state_dir=$d/state" snapshot_every=10 "publisher_id=race-pub-$i" 'admin={ listen: "" }'
  done
  # followers: a daemon, and a `sync --once` loop
  local fa=$WORK/$backend/follow-a fb=$WORK/$backend/follow-b
  mkdir -p "$fa/feast" "$fb/feast"
  agent_yaml "$fa/agent.yaml" region=race-follow-a "target=file://$fa/feast/registry.db" "state_dir=$fa/state" \
    poll_interval=100ms 'admin={ listen: "" }'
  agent_yaml "$fb/agent.yaml" region=race-follow-b "target=file://$fb/feast/registry.db" "state_dir=$fb/state" \
    'admin={ listen: "" }'
  e2e_bg "$backend-follow-a" env REGSYNC_STORE="$store" "$REGSYNCD" run --config "$fa/agent.yaml"
  local follower_a=$E2E_LAST_PID

  t0=$(date +%s.%N)
  local pub_pids=()
  for ((i = 1; i <= PUBLISHERS; i++)); do
    e2e_bg "$backend-pub$i" publish_loop "$per" "$store" "$WORK/$backend/pub$i" "$WORK/chains/pub$i"
    pub_pids+=("$E2E_LAST_PID")
  done
  # follower b: sync --once again and again while the publishers run
  local syncs=0 sync_fail=0 sync_early=0
  while :; do
    local running=0 p
    for p in "${pub_pids[@]}"; do alive "$p" && running=1; done
    ((running)) || break
    if ! rsd "$store" sync --once --config "$fb/agent.yaml" >"$fb/last.log" 2>&1; then
      # before the first version sync --once exits 1 on purpose (the init-container gate)
      if grep -q 'nothing is published' "$fb/last.log"; then sync_early=$((sync_early + 1)); else sync_fail=$((sync_fail + 1)); fi
    fi
    cat "$fb/last.log" >>"$WORK/$backend-follow-b.log"
    ((syncs++))
    sleep 1
  done
  for p in "${pub_pids[@]}"; do wait "$p" || fail "$backend: a publisher loop stopped early (see $WORK/$backend-pub*.log)"; done
  t1=$(date +%s.%N)
  local secs; secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  say "$backend: $n publishes by $PUBLISHERS processes took ${secs}s ($(awk -v s="$secs" -v n="$n" 'BEGIN { printf "%.0f", 1000 * s / n }') ms per change overall); follower b ran sync --once $syncs times ($sync_early before the first version, $sync_fail failed while racing)"

  # --- what the publishers saw
  cat "$WORK/$backend"/pub*/record >"$WORK/$backend/all-records"
  local bad
  bad=$(awk '$2 != 0 || $4 != "published"' "$WORK/$backend/all-records")
  if [[ -n $bad ]]; then
    echo "$bad" | head -5 >&2
    show_log "$WORK/$backend/pub1/publish.err"
    fail "$backend: $(wc -l <<<"$bad") publish --once runs did not publish a new version (above: k rc digest output)"
  fi
  local conflicts
  conflicts=$(cat "$WORK/$backend"/pub*/publish.err | sed -n 's/.* conflicts=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
  say "$backend: every publish --once printed 'published version V'; lost compare-and-swaps retried: $conflicts"
  local ndistinct
  ndistinct=$(awk '{ print $3 }' "$WORK/$backend/all-records" | sort -u | wc -l)
  expect_eq "$backend: distinct source states published (content digests)" "$n" "$ndistinct"
  local versions
  versions=$(awk '{ print $6 }' "$WORK/$backend/all-records" | sort -n | uniq | tr '\n' ' ')
  expect_eq "$backend: the versions publish --once printed, each exactly once" "$(seq -s ' ' 1 "$n") " "$versions"

  # --- the log in the store
  local keys
  keys=$(store_keys "$store" regsync/log/) || fail "$backend: regsync-dump ls failed"
  local expected_keys
  expected_keys=$(for ((i = 1; i <= n; i++)); do printf 'regsync/log/%020d\n' "$i"; done)
  if [[ $keys != "$expected_keys" ]]; then
    diff <(echo "$expected_keys") <(echo "$keys") | head -10 >&2
    fail "$backend: the log keys are not exactly regsync/log/1..$n (diff above: < expected, > found)"
  fi
  say "$backend: the log is gap-free: regsync/log/1..$n and nothing else"
  fetch_objects "$store" regsync/log/ "$WORK/$backend/log"
  decode_changes "$WORK/$backend/log"/* >"$WORK/$backend/changes" || fail "$backend: a log entry does not decode"
  # version parent result parent_content result_content ops publisher
  local chain_bad
  chain_bad=$(awk -v n="$n" '
    $1 != NR { print "entry " NR " says version " $1; next }
    NR > 1 && $2 != prev { print "version " $1 ": parent digest is not the result of version " NR - 1 }
    { prev = $3 }' "$WORK/$backend/changes")
  [[ -z $chain_bad ]] || { echo "$chain_bad" | head -5 >&2; fail "$backend: the log is not one chain (above)"; }
  say "$backend: every entry's parent digest is the previous entry's result digest (one chain, no fork)"
  # each source state is the result of exactly one version: the one publish --once printed
  local join_bad
  join_bad=$(awk '
    FNR == NR { v[$5]++; ver[$5] = $1; next }               # changes: result content digest -> version
    { if (v[$3] != 1) print "source state " $3 " is the result of " v[$3] + 0 " versions";
      else if (ver[$3] != $6) print "source state " $3 " is version " ver[$3] " but publish printed " $6 }
  ' "$WORK/$backend/changes" "$WORK/$backend/all-records")
  [[ -z $join_bad ]] || { echo "$join_bad" | head -5 >&2; fail "$backend: source changes and versions do not match one to one (above)"; }
  # cross-check the wire-format reader with regsync's own: `regsync-dump log --json` on a few versions
  if dump_has log; then
    local v cv
    for v in 1 2 $((n / 2)) $((n - 1)) "$n" $((RANDOM % n + 1)); do
      cv=$("$DUMP" log --json "$store" "$v" | jq -r '"\(.version) \(.parent_digest // "-") \(.result_digest) \(.parent_content_digest // "-") \(.result_content_digest)"') ||
        fail "$backend: regsync-dump log --json $v failed"
      expect_eq "$backend: version $v as regsync-dump log --json reads it vs the wire-format reader" \
        "$(awk -v v="$v" '$1 == v { print $1, $2, $3, $4, $5 }' "$WORK/$backend/changes")" "$cv"
    done
    say "$backend: regsync-dump log --json agrees with the wire-format reader on versions 1, 2, $((n / 2)), $((n - 1)), $n and one at random"
  else
    say "$backend: NOTE: this regsync-dump has no 'log' command: entries were read with the test's wire-format reader only"
  fi
  local by_pub
  by_pub=$(awk '{ split($7, a, "/"); c[$7]++ } END { for (p in c) printf "%s=%d ", p, c[p] }' "$WORK/$backend/changes")
  say "$backend: all $n source states appear exactly once, each as the version its publisher printed (entries by publisher: $by_pub)"

  # --- HEAD
  local head hv last_full
  head=$(store_head_line "$store") || fail "$backend: cannot read HEAD"
  hv=${head%% *}
  local last_cd; last_cd=$(awk -v n="$n" '$1 == n { print $5 }' "$WORK/$backend/changes")
  # the source that became version n (what publish --once printed)
  local last_rec last_src
  last_rec=$(grep -H " published version $n\$" "$WORK/$backend"/pub*/record) || fail "$backend: no publisher printed version $n"
  last_src="$WORK/chains/$(basename "$(dirname "${last_rec%%:*}")")/v$(cut -d' ' -f1 <<<"${last_rec#*:}").db"
  last_full=$(digest "$last_src")
  expect_eq "$backend: content digest of the source published as version $n" "$last_cd" "$(content_digest "$last_src")"
  if [[ $hv != "$n" ]]; then
    if [[ $hv == $((n - 1)) ]]; then
      say "$backend: HEAD lags at $hv (a publisher's HEAD update was lost after its entry was written); one more publish repairs it"
      # the same content as version n: nothing to publish, HEAD is repaired
      rsd "$store" publish --once --config "$WORK/$backend/pub1/pub.yaml" --set "source=file://$last_src" >/dev/null 2>&1 ||
        fail "$backend: the repairing publish failed"
      head=$(store_head_line "$store")
      hv=${head%% *}
    fi
    expect_eq "$backend: HEAD version" "$n" "$hv"
  fi
  expect_eq "$backend: HEAD content digest = version $n's result" "$last_cd" "$(awk '{ print $2 }' <<<"$head")"
  expect_eq "$backend: the newest entry in the log (HEAD's log_version)" "$n" "$(awk '{ print $3 }' <<<"$head")"
  say "$backend: HEAD says version $n with its digest"

  # --- followers converge
  wait_for 30 "$backend: follower a (regsyncd run) to apply version $n" journal_is "$fa/state" "$n"
  expect_eq "$backend: follower a's target digest (regsync-dump digest)" "$last_full" "$(target_digest "$fa/feast/registry.db")"
  alive "$follower_a" || fail "$backend: follower a exited"
  stop_pid "$follower_a"
  rsd "$store" sync --once --config "$fb/agent.yaml" >>"$WORK/$backend-follow-b.log" 2>&1 ||
    { show_log "$WORK/$backend-follow-b.log"; fail "$backend: follower b's final sync --once failed"; }
  expect_eq "$backend: follower b's journal (max applied version)" "$n" "$(journal_max "$fb/state")"
  expect_eq "$backend: follower b's target digest" "$last_full" "$(target_digest "$fb/feast/registry.db")"
  local applies_a
  applies_a=$(sqlite3 -readonly "$fa/state/journal.db" "select count(*) || ' rows (' || group_concat(distinct kind) || ')' from applied")
  say "$backend: both followers hold the digest of the source published last ($last_full); journals say $n (follower a: $applies_a)"
  say "$backend: PASS ($n changes, ${secs}s of racing)"
}

step "publisher race: $PUBLISHERS processes, one store; $N_FILE changes on file://, $N_REMOTE on S3, Postgres and MySQL"
e2e_backends
max=0
for backend in "${E2E_BACKEND_LIST[@]}"; do
  if [[ $backend == file ]]; then m=$N_FILE; else m=$N_REMOTE; fi
  ((m % PUBLISHERS == 0)) || fail "the change count $m must be a multiple of $PUBLISHERS"
  ((m > max)) && max=$m
done
((max > 0)) && make_chains $((max / PUBLISHERS))
for backend in "${E2E_BACKEND_LIST[@]}"; do
  if [[ $backend == file ]]; then run_backend file "$N_FILE"; else run_backend "$backend" "$N_REMOTE"; fi
done
