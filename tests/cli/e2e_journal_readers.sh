#!/usr/bin/env bash
# e2e_journal_readers.sh: readers of the journal beside a running agent never cost it an entry
# (issue 9, item 3).
#
# The bug: GET /v1/versions opened the journal read-only in the agent's own process, and that open
# first read journal.db's header with open()/close(); close() drops every POSIX lock the process
# holds on the file, the agent's SQLite locks included. A `regsync-dump journal STATE_DIR` started
# later then believed it was the last user of the database: on exit it checkpointed and deleted
# journal.db-wal and -shm under the running agent, whose later commits went to a deleted file and
# were gone after kill -9 (the next start re-bootstrapped).
#
# The test: a follower (`regsyncd run`, admin API on) applies versions one by one while a loop
# runs `regsync-dump journal STATE_DIR` and `GET /v1/versions` beside it without pause. Each
# version is published, then awaited until /v1/versions (the agent's journal) lists it. Then the
# agent is killed with SIGKILL, and with no process left:
#   - `regsync-dump journal` lists every version the agent had applied (1..N), newest N;
#   - journal.db-wal was never missing while the agent ran (checked between versions);
#   - the next start (`sync --once`) resumes from N: no bootstrap.
# file:// only: the journal is local and the same for every store.
# RS_E2E_JOURNAL_VERSIONS (default 25; 10 in a sanitizer build) versions.
source "$(dirname "$0")/lib.bash" "$@"

if ((E2E_SANITIZED)); then
  N=${RS_E2E_JOURNAL_VERSIONS:-10}
  say "sanitizer build: $N versions (25 in the optimized build)"
else
  N=${RS_E2E_JOURNAL_VERSIONS:-25}
fi

store=$(fresh_store file jreaders)
mkdir -p "$WORK/src" "$WORK/feast"
"$GEN" --seed 33 --projects 2 --out "$WORK/src/registry.db" 2>/dev/null || fail "regsync-gen failed"
agent_yaml "$WORK/pub.yaml" region=jr-pub "source=file://$WORK/src/registry.db" publish=true \
  "state_dir=$WORK/pubstate" 'admin={ listen: "" }'
PORT=$(free_port)
A=http://127.0.0.1:$PORT
agent_yaml "$WORK/agent.yaml" region=jr-follower "target=file://$WORK/feast/registry.db" "state_dir=$WORK/state" \
  poll_interval=100ms "admin={ listen: \"127.0.0.1:$PORT\" }"
publish() {
  local out
  out=$(rsd "$store" publish --once --config "$WORK/pub.yaml" 2>>"$WORK/publish.err") ||
    { show_log "$WORK/publish.err"; fail "publish --once failed"; }
  [[ $out == "published version $1" ]] || fail "publish --once printed '$out', expected 'published version $1'"
}
# the agent's journal as the agent's own admin API shows it
api_has() { curl -s -m 2 "$A/v1/versions?limit=1" | jq -e --argjson v "$1" '.versions[0].version == $v' >/dev/null; }

step "version 1 and a follower with its admin API"
publish 1
e2e_bg follower env REGSYNC_STORE="$store" "$REGSYNCD" run --config "$WORK/agent.yaml"
agent=$E2E_LAST_PID
wait_for 15 "the follower's admin API" http_is 200 "$A/healthz"
wait_for 15 "version 1 in the follower's journal" api_has 1

step "readers in a loop: regsync-dump journal and GET /v1/versions, beside the agent"
: >"$WORK/readers.count"
(
  i=0
  while :; do
    "$DUMP" journal --limit 5 "$WORK/state" >/dev/null 2>>"$WORK/readers.err"
    "$DUMP" journal --json --limit 5 "$WORK/state" >/dev/null 2>>"$WORK/readers.err"
    curl -s -m 2 -o /dev/null "$A/v1/versions?limit=5"
    i=$((i + 1))
    echo "$i" >"$WORK/readers.count"
  done
) &
readers=$!
E2E_PIDS+=("$readers")
wal_missing=0
for ((v = 2; v <= N; v++)); do
  "$GEN" mutate --seed "$((v * 131))" --changes 3 "$WORK/src/registry.db" "$WORK/src/next.db" 2>/dev/null || fail "mutate failed"
  mv -f "$WORK/src/next.db" "$WORK/src/registry.db"
  publish "$v"
  wait_for 15 "version $v in the follower's journal (/v1/versions)" api_has "$v"
  [[ -e $WORK/state/journal.db-wal ]] || { wal_missing=$((wal_missing + 1)); say "version $v: journal.db-wal is missing beside the running agent"; }
done
say "$((N - 1)) versions applied while the readers ran $(cat "$WORK/readers.count") rounds"
alive "$agent" || { show_log "$WORK/follower.log"; fail "the follower died"; }

step "kill -9 the agent; the journal must hold every applied version"
kill -KILL "$agent"
wait "$agent" 2>/dev/null
kill "$readers" 2>/dev/null
wait "$readers" 2>/dev/null
"$DUMP" journal --json --limit 1000 "$WORK/state" >"$WORK/journal.json" 2>"$WORK/journal.err" ||
  { show_log "$WORK/journal.err"; fail "regsync-dump journal failed after the kill"; }
got=$(jq -r '[.versions[].version] | sort | map(tostring) | join(" ")' "$WORK/journal.json")
want=$(seq -s ' ' 1 "$N")
expect_eq "versions in the journal after kill -9 (every version the agent applied)" "$want" "$got"
expect_eq "journal.db-wal missing beside the running agent (times)" 0 "$wal_missing"

step "the next start resumes from version $N"
rsd "$store" sync --once --config "$WORK/agent.yaml" >/dev/null 2>"$WORK/sync.err" ||
  { show_log "$WORK/sync.err"; fail "sync --once after the kill failed"; }
grep -q 'bootstrap' "$WORK/sync.err" && { show_log "$WORK/sync.err"; fail "the next start bootstrapped (the journal lost its place)"; }
expect_eq "journal's last version after the next start" "$N" "$(journal_max "$WORK/state")"
say "PASS"
