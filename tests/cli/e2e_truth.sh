#!/usr/bin/env bash
# e2e_truth.sh: real regsyncd processes say only what is true under faults (issue 9, items 1, 2, 7).
#
# Per backend (file://, S3, PostgreSQL):
#   1. `regsyncd publish --once` refuses a 0-byte source, the two bytes 0a 00 (an entity without a
#      name), a file concatenated with itself, and a source that deletes 70% (then 100%) of the
#      objects: exit 1, a message naming the problem, HEAD and the log untouched. With
#      --allow-destructive the 70% deletion publishes.
#   2. A follower (`regsyncd run`, poll 200 ms, max_staleness 2s) whose target lives on its own
#      tmpfs (root only; `RS_REQUIRE_SERVERS=1` makes a missing root a failure):
#        - the tmpfs is filled: the next version cannot be written. /v1/status keeps the previous
#          applied_version and digest, says state "error" with the ENOSPC message in `error`,
#          /readyz turns 503 after max_staleness, /v1/drift and the region report say the region is
#          behind with the failed version, regsync_state{state="error"} is 1 and
#          regsync_errors_total{kind="target"} counts; the journal still ends at the old version;
#        - space comes back: the agent writes the version by itself (backoff), /readyz 200,
#          `error` null, `last_error` kept;
#        - the tmpfs is remounted read-only (EROFS): the same, then rw again and recovery;
#        - the target is deleted: rewritten within a poll.
#   3. A second `regsyncd run` on the same target refuses to start and names the holder.
source "$(dirname "$0")/lib.bash" "$@"

export REGSYNC_ADMIN_TOKEN=e2e-token-$$-$RANDOM
MNTS=()
cleanup_mounts() { local m; for m in "${MNTS[@]}"; do umount -l "$m" 2>/dev/null; done; }
trap 'e2e_rc=$?; cleanup_mounts; (exit $e2e_rc); e2e_cleanup' EXIT

# can_mount: root (or a user namespace would be needed; not used here)
CAN_MOUNT=0
if [[ $(id -u) == 0 ]]; then
  probe=$(mktemp -d "$WORK/probe.XXXXXX")
  mount -t tmpfs -o size=64k tmpfs "$probe" 2>/dev/null && { umount "$probe"; CAN_MOUNT=1; }
fi
if ((!CAN_MOUNT)); then
  if e2e_required; then
    fail "mounting a tmpfs needs root (a full and a read-only target filesystem); scripts/test.sh runs as root in CI"
  fi
  skip_part "target faults" "mounting a tmpfs needs root"
fi

# metric NAME LABELS: the value of one sample from /metrics
metric() { curl -s -m 2 "$BASE/metrics" | awk -v n="$1{$2}" '$1 == n { print $2 }'; }
status_field() { curl -s -m 2 "$BASE/v1/status" | jq -r "$1"; }
applied_is() { [[ $(status_field .applied_version) == "$1" ]]; }
state_is() { [[ $(status_field .state) == "$1" ]]; }

publish_refusals() {
  local backend=$1 store=$2 d=$3
  step "$backend: the publisher refuses garbage and destructive sources"
  agent_yaml "$d/pub.yaml" region=truth-pub "source=file://$d/src.db" publish=true "state_dir=$d/pubstate" \
    'admin={ listen: "" }'
  "$GEN" --seed 21 --projects 2 --out "$d/good.db" 2>/dev/null || fail "regsync-gen failed"
  cp "$d/good.db" "$d/src.db"
  local out
  out=$(rsd "$store" publish --once --config "$d/pub.yaml" 2>"$d/pub.err") || fail "$backend: publish v1: $(cat "$d/pub.err")"
  expect_eq "$backend: first publish" "published version 1" "$out"
  local head0; head0=$(store_head_line "$store")
  # name: what to write into the source; want: a piece of the error message
  local -a names=(empty 0a00 twice shrunk emptied) wants=("empty (0 bytes)" "has an empty name" "a second object with the key"
    "more than max_delete_fraction 0.50" "deletes all")
  : >"$d/src-empty"
  printf '\x0a\x00' >"$d/src-0a00"
  cat "$d/good.db" "$d/good.db" >"$d/src-twice"
  # 70% and 100% of the objects deleted: a project filter drops projects; keep few objects
  "$PY" - "$d/good.db" "$d/src-shrunk" "$d/src-emptied" <<'PY' || fail "cannot build the shrunk sources"
import sys
# a registry is a sequence of top-level fields; keep the singletons (3, 4, 5, 10, 18) and the
# first 30% (then 0%) of the keyed objects, in file order (wire format only)
def varint(b, i):
    x = s = 0
    while True:
        c = b[i]; i += 1; x |= (c & 0x7f) << s; s += 7
        if c < 0x80: return x, i
b = open(sys.argv[1], "rb").read()
fields, i = [], 0
while i < len(b):
    start = i
    k, i = varint(b, i)
    f, wt = k >> 3, k & 7
    if wt == 0: _, i = varint(b, i)
    elif wt == 2:
        n, i = varint(b, i); i += n
    elif wt == 1: i += 8
    elif wt == 5: i += 4
    fields.append((f, b[start:i]))
single = {3, 4, 5, 10, 18}
keyed = [x for x in fields if x[0] not in single]
for path, pct in ((sys.argv[2], 30), (sys.argv[3], 0)):
    keep = set(id(x) for x in keyed[: len(keyed) * pct // 100])
    open(path, "wb").write(b"".join(x[1] for x in fields if x[0] in single or id(x) in keep))
PY
  local i rc
  for i in "${!names[@]}"; do
    cp "$d/src-${names[$i]}" "$d/src.db"
    out=$(rsd "$store" publish --once --config "$d/pub.yaml" 2>&1); rc=$?
    ((rc == 1)) || fail "$backend: publish of the ${names[$i]} source: exit $rc (want 1): $out"
    [[ $out == *"${wants[$i]}"* ]] || fail "$backend: publish of the ${names[$i]} source said '$out' (want '${wants[$i]}')"
    say "$backend: ${names[$i]} source refused: ${out:0:150}"
  done
  expect_eq "$backend: HEAD after the refusals" "$head0" "$(store_head_line "$store")"
  [[ -z $(store_keys "$store" regsync/log/ | grep -v '0001$') ]] || fail "$backend: a log entry beyond 1 was written"
  cp "$d/src-shrunk" "$d/src.db"
  out=$(rsd "$store" publish --once --allow-destructive --config "$d/pub.yaml" 2>"$d/pub.err") ||
    fail "$backend: --allow-destructive: $(cat "$d/pub.err")"
  expect_eq "$backend: publish --allow-destructive" "published version 2" "$out"
  say "$backend: --allow-destructive published the 70% deletion as version 2"
  cp "$d/good.db" "$d/src.db"
  out=$(rsd "$store" publish --once --config "$d/pub.yaml" 2>"$d/pub.err") || fail "$backend: publish v3: $(cat "$d/pub.err")"
  expect_eq "$backend: publish v3 (objects come back)" "published version 3" "$out"
}

# next_version STORE D SEED: publishes a new version (a few objects changed); prints its digest
next_version() {
  local store=$1 d=$2 seed=$3
  "$GEN" mutate --seed "$seed" --changes 3 "$d/src.db" "$d/next.db" 2>/dev/null && mv -f "$d/next.db" "$d/src.db" ||
    fail "mutate failed"
  rsd "$store" publish --once --config "$d/pub.yaml" >/dev/null 2>>"$d/publish.err" || { show_log "$d/publish.err"; fail "publish failed"; }
  digest "$d/src.db"
}

target_faults() {
  local backend=$1 store=$2 d=$3
  step "$backend: target write failures are not reported as applied"
  local mnt=$d/mnt
  mkdir -p "$mnt"
  local vsize; vsize=$(stat -c %s "$d/src.db")
  # room for the target, its temp file and the lock file, with 25% to spare
  mount -t tmpfs -o size=$((vsize * 5 / 2 + 65536)) tmpfs "$mnt" || fail "mount tmpfs failed"
  MNTS+=("$mnt")
  local port; port=$(free_port)
  BASE=http://127.0.0.1:$port
  agent_yaml "$d/agent.yaml" region=truth-agent "target=file://$mnt/registry.db" "state_dir=$d/state" \
    poll_interval=200ms max_staleness=2s heartbeat_interval=1s stale_after=30s "admin={ listen: \"127.0.0.1:$port\" }"
  e2e_bg "$backend-agent" env REGSYNC_STORE="$store" "$REGSYNCD" run --config "$d/agent.yaml"
  local pid=$E2E_LAST_PID log=$WORK/$backend-agent.log
  local v=3 dv; dv=$(digest "$d/src.db")
  wait_for 30 "$backend: the agent to apply v$v" target_is "$mnt/registry.db" "$dv"
  wait_for 10 "$backend: /readyz 200" http_is 200 "$BASE/readyz"

  # -- a full disk
  local free; free=$(df -B1 --output=avail "$mnt" | tail -n 1)
  dd if=/dev/zero of="$mnt/filler" bs=4096 count=$((free / 4096)) 2>/dev/null
  sync
  local next; next=$(next_version "$store" "$d" 31); v=4
  wait_for 10 "$backend: state error after the failed write" state_is error
  local st; st=$(curl -s -m 2 "$BASE/v1/status")
  expect_eq "$backend: applied_version while the disk is full" 3 "$(jq -r .applied_version <<<"$st")"
  expect_eq "$backend: head_version while the disk is full" 4 "$(jq -r .head_version <<<"$st")"
  local err; err=$(jq -r '.error.message // empty' <<<"$st")
  [[ $err == *"No space left on device"* ]] || fail "$backend: /v1/status error while the disk is full: '$err' ($st)"
  expect_eq "$backend: the target keeps v3" "$dv" "$(target_digest "$mnt/registry.db")"
  expect_eq "$backend: journal while the disk is full" 3 "$(journal_max "$d/state")"
  wait_for 6 "$backend: /readyz 503 after max_staleness" http_is 503 "$BASE/readyz"
  [[ $(metric regsync_state 'state="error"') == 1 ]] || fail "$backend: regsync_state{state=\"error\"} is not 1"
  local te; te=$(metric regsync_errors_total 'kind="target"')
  [[ ${te:-0} -ge 1 ]] || fail "$backend: regsync_errors_total{kind=\"target\"} is '${te:-}'"
  local drift; drift=$(curl -s -m 5 "$BASE/v1/drift")
  local row; row=$(jq -c '.regions[] | select(.region == "truth-agent")' <<<"$drift")
  expect_eq "$backend: drift state while the disk is full" behind "$(jq -r .state <<<"$row")"
  [[ $(jq -r .reason <<<"$row") == *"version 4 failed"* ]] || fail "$backend: drift reason: $row"
  expect_eq "$backend: drift applied_version" 3 "$(jq -r .applied_version <<<"$row")"
  say "$backend: disk full: applied 3, head 4, state error, /readyz 503, drift '$(jq -r .reason <<<"$row" | cut -c1-120)'"
  # a failed write is retried with backoff, not at every poll: count the attempts over 3 s
  local m0; m0=$(grep -c 'kind=target' "$log")
  sleep 3
  local m1; m1=$(grep -c 'kind=target' "$log")
  say "$backend: $((m1 - m0)) retries in 3 s (poll 200 ms: at most 15 without backoff)"
  ((m1 - m0 < 10)) || fail "$backend: $((m1 - m0)) write attempts in 3 s: no backoff"
  rm -f "$mnt/filler"
  local t0; t0=$(date +%s.%N)
  wait_for 90 "$backend: the agent to write v4 by itself once space is back" target_is "$mnt/registry.db" "$next"
  wait_for 10 "$backend: applied 4" applied_is 4
  wait_for 10 "$backend: /readyz 200 after recovery" http_is 200 "$BASE/readyz"
  st=$(curl -s -m 2 "$BASE/v1/status")
  expect_eq "$backend: error after recovery" null "$(jq -c .error <<<"$st")"
  [[ $(jq -r '.last_error.message' <<<"$st") == *"No space left"* ]] || fail "$backend: last_error lost after recovery: $st"
  expect_eq "$backend: journal after recovery" 4 "$(journal_max "$d/state")"
  say "$backend: space back: v4 written $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s later, /readyz 200, error null, last_error kept"
  dv=$next

  # -- a read-only filesystem
  mount -o remount,ro "$mnt" || fail "remount ro failed"
  next=$(next_version "$store" "$d" 32)
  wait_for 10 "$backend: state error on a read-only target" state_is error
  expect_eq "$backend: applied_version on a read-only target" 4 "$(status_field .applied_version)"
  [[ $(status_field '.error.message') == *"Read-only file system"* ]] || fail "$backend: error on a read-only target: $(status_field .error)"
  expect_eq "$backend: journal on a read-only target" 4 "$(journal_max "$d/state")"
  mount -o remount,rw "$mnt" || fail "remount rw failed"
  wait_for 90 "$backend: v5 written once the filesystem is writable" target_is "$mnt/registry.db" "$next"
  wait_for 10 "$backend: applied 5" applied_is 5
  say "$backend: read-only filesystem: applied stayed 4 with EROFS; v5 written once writable"

  # -- the target deleted
  rm -f "$mnt/registry.db"
  wait_for 5 "$backend: the deleted target to be rewritten" target_is "$mnt/registry.db" "$next"
  expect_eq "$backend: journal after the rewrite" 5 "$(journal_max "$d/state")"
  say "$backend: a deleted target was rewritten within a poll"

  # -- a second agent on the same target
  step "$backend: one agent per target"
  agent_yaml "$d/agent2.yaml" region=truth-intruder "target=file://$mnt/registry.db" "state_dir=$d/state2" \
    poll_interval=200ms 'admin={ listen: "" }'
  local out rc
  out=$(REGSYNC_STORE=$store timeout 20 "$REGSYNCD" run --config "$d/agent2.yaml" 2>&1); rc=$?
  ((rc == 1)) || fail "$backend: a second agent on the same target: exit $rc (want 1): $(tail -n 3 <<<"$out")"
  [[ $out == *"already written by another regsync agent"*"region truth-agent"* ]] ||
    fail "$backend: the second agent's error does not name the holder: $out"
  say "$backend: a second agent was refused: $(grep -o 'target .*' <<<"$out" | head -n 1 | cut -c1-160)"
  alive "$pid" || fail "$backend: the agent exited"
  stop_pid "$pid"
  umount "$mnt" && MNTS=("${MNTS[@]/$mnt/}")
}

run_backend() {
  local backend=$1 d=$WORK/$1 store
  mkdir -p "$d"
  store=$(fresh_store "$backend" truth)
  E2E_STORES+=("$store")
  publish_refusals "$backend" "$store" "$d"
  if ((CAN_MOUNT)); then target_faults "$backend" "$store" "$d"; fi
  say "$backend: PASS"
}

step "truthful state under faults"
e2e_backends
for backend in "${E2E_BACKEND_LIST[@]}"; do run_backend "$backend"; done
