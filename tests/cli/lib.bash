# tests/cli/lib.bash: shared helpers for the end-to-end tests (tests/cli/e2e_*.sh). Not a test
# itself (CTest picks up tests/cli/*.sh only). Source it from a test script:
#
#   source "$(dirname "$0")/lib.bash" "$@"      # $1 = build dir, $2 = shared dir (optional)
#
# It sets REGSYNCD, DUMP, GEN, SRC (the source tree), WORK (a fresh temp dir, removed on success,
# kept on failure), installs an EXIT trap that stops every process started with e2e_bg, and a
# watchdog that fails the test after E2E_TIME_LIMIT seconds (default 300).
#
# Backends: e2e_backends sets E2E_BACKEND_LIST to "file" and, when their URLs are set, "s3"
# (RS_TEST_S3_URL), "pg" (RS_TEST_PG_URL) and "mysql" (RS_TEST_MYSQL_URL); a missing URL prints a
# loud SKIP, or fails when RS_REQUIRE_SERVERS=1 or CI=true. RS_E2E_BACKENDS="file s3" restricts the
# list (for local runs).
#
# Skips: skip_part WHAT WHY (a part cannot run: loud line, listed again at the end; with CI=true a
# failure) and skip_test WHY (nothing can run: loud line, exit 77, which CTest reports as skipped;
# with CI=true a failure). e2e_required is true with RS_REQUIRE_SERVERS=1 or CI=true.
#
# Store URLs with secrets (Postgres, MySQL) never go into a YAML file (the configuration refuses them):
# regsyncd gets the store through REGSYNC_STORE (rsd, or `e2e_bg NAME env REGSYNC_STORE=...`).
# More in docs/testing.md.

set -uo pipefail

E2E_BUILD=${1:?usage: $0 BUILD_DIR [SHARED_DIR]}
E2E_SHARED=${2:-}
E2E_BUILD=$(cd "$E2E_BUILD" && pwd)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
REGSYNCD=$E2E_BUILD/daemon/regsyncd
DUMP=$E2E_BUILD/tools/regsync-dump
GEN=$E2E_BUILD/bench/regsync-gen
E2E_NAME=$(basename "$0" .sh)
# a sanitizer build (scripts/test.sh runs CTest in build-asan/ too): binaries are several times
# slower there, so the tests scale their counts down (E2E_SANITIZED=1) and say so
E2E_SANITIZED=0
grep -qE '^RS_SANITIZE:BOOL=(ON|1|TRUE)' "$E2E_BUILD/CMakeCache.txt" 2>/dev/null && E2E_SANITIZED=1
E2E_T0=$(date +%s.%N)
E2E_FAILED=0
E2E_PIDS=()
E2E_STORES=()
E2E_SKIPS=()
E2E_SKIPPED_ALL=0
E2E_TIME_LIMIT=${E2E_TIME_LIMIT:-300}

for b in "$REGSYNCD" "$DUMP" "$GEN"; do
  [[ -x $b ]] || { echo "FAIL $E2E_NAME: $b is not built (cmake --build $E2E_BUILD --target regsyncd regsync-dump regsync-gen)"; exit 1; }
done
for t in curl jq python3 sqlite3; do
  command -v "$t" >/dev/null || { echo "FAIL $E2E_NAME: '$t' is required and not installed"; exit 1; }
done
# the system python when there is one: a pyenv shim costs about a second per start
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3

# E2E_USE_SHM=1 (set by a test before sourcing): work in /dev/shm when it is there (no fsync cost;
# for tests about logic, not durability). RS_E2E_TMP overrides the place.
E2E_TMP=${RS_E2E_TMP:-${TMPDIR:-/tmp}}
[[ -z ${RS_E2E_TMP:-} && ${E2E_USE_SHM:-0} == 1 && -d /dev/shm && -w /dev/shm ]] && E2E_TMP=/dev/shm
WORK=$(mktemp -d "$E2E_TMP/rs-$E2E_NAME.XXXXXX")
# a short, lower-case id for S3 prefixes and Postgres table prefixes
E2E_RUN=$(printf '%x%04x' "$(date +%s)" $((RANDOM)))

# ------------------------------------------------------------------ output and assertions

e2e_elapsed() { awk -v a="$E2E_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '[%s %6ss] %s\n' "$E2E_NAME" "$(e2e_elapsed)" "$*"; }
step() { printf '\n[%s %6ss] == %s\n' "$E2E_NAME" "$(e2e_elapsed)" "$*"; }

# fail MESSAGE: reports and exits (the trap cleans up and keeps WORK for inspection)
fail() {
  printf '[%s %6ss] FAIL: %s\n' "$E2E_NAME" "$(e2e_elapsed)" "$*" >&2
  E2E_FAILED=1
  exit 1
}

# check COND_DESCRIPTION CMD...: runs CMD; fails with the description when it fails
check() {
  local what=$1; shift
  "$@" || fail "$what"
}

# e2e_ci: CI=true (or 1): every skip_part / skip_test is a failure. e2e_required: that, or
# RS_REQUIRE_SERVERS=1 (scripts/test.sh): a missing server or required tool is a failure.
e2e_ci() { [[ ${CI:-} == true || ${CI:-} == 1 ]]; }
e2e_required() { [[ ${RS_REQUIRE_SERVERS:-0} == 1 ]] || e2e_ci; }

# skip_part WHAT WHY: a part of the test cannot run here (an optional tool, server or fixture is
# missing): a loud line now and again at the end; with CI=true the test fails instead
skip_part() {
  printf '\n*** [%s] SKIP %s: %s ***\n' "$E2E_NAME" "$1" "$2"
  printf '*** [%s] SKIP %s: %s ***\n' "$E2E_NAME" "$1" "$2" >&2
  e2e_ci && fail "CI=true: '$1' is required and was skipped ($2)"
  E2E_SKIPS+=("$1: $2")
  return 0
}

# skip_test WHY: nothing of this test can run here: loud, exits 77 (CTest: skipped, not passed);
# with CI=true the test fails instead
skip_test() {
  printf '\n*** [%s] SKIP the whole test: %s ***\n' "$E2E_NAME" "$1"
  printf '*** [%s] SKIP the whole test: %s ***\n' "$E2E_NAME" "$1" >&2
  e2e_ci && fail "CI=true: the test is required and was skipped ($1)"
  E2E_SKIPS+=("the whole test: $1")
  E2E_SKIPPED_ALL=1
  exit 77
}

expect_eq() { # expect_eq WHAT EXPECTED ACTUAL
  [[ $2 == "$3" ]] || fail "$1: expected '$2', got '$3'"
}

# wait_for SECONDS WHAT CMD...: polls CMD every 50 ms until it succeeds; fails after SECONDS
wait_for() {
  local max=$1 what=$2; shift 2
  local end
  end=$(awk -v a="$(date +%s.%N)" -v m="$max" 'BEGIN { printf "%.3f", a + m }')
  while ! "$@" >/dev/null 2>&1; do
    if awk -v e="$end" -v n="$(date +%s.%N)" 'BEGIN { exit !(n >= e) }'; then
      fail "timed out after ${max}s waiting for: $what"
    fi
    sleep 0.05
  done
}

# wait_until SECONDS CMD...: like wait_for, but returns 1 on timeout instead of failing
wait_until() {
  local max=$1; shift
  local end; end=$(awk -v a="$(date +%s.%N)" -v m="$max" 'BEGIN { printf "%.3f", a + m }')
  until "$@" >/dev/null 2>&1; do
    awk -v e="$end" -v n="$(date +%s.%N)" 'BEGIN { exit !(n >= e) }' && return 1
    sleep 0.05
  done
}

# conditions for wait_for / wait_until
journal_is() { [[ $(journal_max "$1") == "$2" ]]; }              # journal_is STATE_DIR VERSION
target_is() { [[ $("$DUMP" digest "$1" 2>/dev/null) == "$2" ]]; } # target_is FILE DIGEST
http_is() { [[ $(http_code "$2") == "$1" ]]; }                   # http_is CODE URL
log_has() { tail -n +"$(($2 + 1))" "$1" | grep -q -- "$3"; }     # log_has FILE AFTER_LINE PATTERN

# show_log FILE [N]: the last N lines of a process log, indented (for failure messages)
show_log() { [[ -f $1 ]] && { echo "--- last ${2:-20} lines of $1:"; tail -n "${2:-20}" "$1" | sed 's/^/    /'; } >&2; return 0; }

# ------------------------------------------------------------------ processes

# e2e_bg NAME CMD...: starts CMD in the background with stdout+stderr in $WORK/NAME.log;
# sets E2E_LAST_PID. Every such process is stopped by the EXIT trap (SIGTERM, then SIGKILL).
e2e_bg() {
  local name=$1; shift
  "$@" >>"$WORK/$name.log" 2>&1 &
  E2E_LAST_PID=$!
  E2E_PIDS+=("$E2E_LAST_PID")
}

alive() { kill -0 "$1" 2>/dev/null; }
# ours PID: PID is still a child of this shell (a reaped pid may have been reused by anyone)
ours() { [[ -r /proc/$1/stat && $(awk '{ print $4 }' "/proc/$1/stat" 2>/dev/null) == "$$" ]]; }

# nap SECONDS: sleep without starting a process (a `sleep` costs tens of ms on a busy machine,
# which matters when the point is to land a signal at a chosen moment)
exec {E2E_NAP_FD}<> <(:)
nap() { read -r -t "$1" -u "$E2E_NAP_FD" _ 2>/dev/null || true; }

# stop_pid PID [SIGNAL]: signal (default TERM), wait up to 5 s, then SIGKILL; reaps it. A process
# that crashed (SIGSEGV, SIGABRT, SIGBUS, SIGFPE: exit 139, 134, 135, 136) fails the test, outside
# the cleanup: a crash at shutdown is a bug even when everything before it passed.
stop_pid() {
  local pid=$1 sig=${2:-TERM} i rc
  if ! alive "$pid"; then
    wait "$pid" 2>/dev/null; rc=$?
  else
    kill -s "$sig" "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.05; done
    alive "$pid" && kill -s KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null; rc=$?
  fi
  if [[ ${E2E_CLEANING:-0} != 1 ]] && ((rc == 134 || rc == 135 || rc == 136 || rc == 139)); then
    fail "process $pid crashed (exit $rc, signal $((rc - 128)))"
  fi
  return 0
}

# wait_exit PID SECONDS: waits for PID to exit; sets E2E_EXIT_RC and E2E_EXIT_SECONDS; fails on timeout
wait_exit() {
  local pid=$1 max=$2 t0 i
  t0=$(date +%s.%N)
  for ((i = 0; i < max * 50; i++)); do alive "$pid" || break; sleep 0.02; done
  if alive "$pid"; then
    fail "process $pid still running ${max}s after the signal"
  fi
  wait "$pid"
  E2E_EXIT_RC=$?
  E2E_EXIT_SECONDS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
}

e2e_cleanup() {
  local rc=$?
  E2E_CLEANING=1
  trap - EXIT INT TERM
  [[ -n ${E2E_WATCHDOG:-} ]] && { kill "$E2E_WATCHDOG" 2>/dev/null; wait "$E2E_WATCHDOG" 2>/dev/null; }
  local p
  local live=()
  for p in "${E2E_PIDS[@]}"; do ours "$p" && live+=("$p"); done
  for p in "${live[@]}"; do kill -s TERM "$p" 2>/dev/null; done
  for p in "${live[@]}"; do stop_pid "$p" KILL >/dev/null 2>&1; done
  ((rc != 0)) && ! ((rc == 77 && E2E_SKIPPED_ALL)) && E2E_FAILED=1
  for p in "${E2E_STORES[@]}"; do e2e_drop_store "$p"; done
  if ((E2E_FAILED)); then
    echo "[$E2E_NAME] FAILED after $(e2e_elapsed)s; logs and stores kept in $WORK" >&2
    exit 1
  fi
  if [[ ${RS_E2E_KEEP:-0} == 1 ]]; then echo "[$E2E_NAME] RS_E2E_KEEP=1: kept $WORK"; else rm -rf "$WORK"; fi
  if ((E2E_SKIPPED_ALL)); then
    echo "*** [$E2E_NAME] SKIPPED (exit 77): ${E2E_SKIPS[-1]#the whole test: } ***"
    exit 77
  fi
  if ((${#E2E_SKIPS[@]})); then
    echo "*** [$E2E_NAME] PASS with ${#E2E_SKIPS[@]} part(s) SKIPPED: ***"
    for p in "${E2E_SKIPS[@]}"; do echo "***   $p"; done
  fi
  echo "[$E2E_NAME] PASS in $(e2e_elapsed)s"
  exit 0
}
trap e2e_cleanup EXIT
trap 'fail "interrupted"' INT TERM

# the watchdog: a test that runs too long fails (and cleans up) instead of hanging CI
( trap 'kill $sp 2>/dev/null; exit 0' TERM; sleep "$E2E_TIME_LIMIT" & sp=$!; wait $sp && kill -s USR1 $$ ) >/dev/null 2>&1 &
E2E_WATCHDOG=$!
trap 'fail "time limit of ${E2E_TIME_LIMIT}s exceeded"' USR1

# ------------------------------------------------------------------ backends and stores

# e2e_backends: sets E2E_BACKEND_LIST to the backends to run (call it in the main shell, not in
# $(...), so that a failure stops the test); a backend without its URL gets a loud SKIP line, or
# fails the test when RS_REQUIRE_SERVERS=1 or CI=true
e2e_backends() {
  local want=${RS_E2E_BACKENDS:-file s3 pg mysql} b var hint
  E2E_BACKEND_LIST=()
  for b in $want; do
    case $b in
      file) E2E_BACKEND_LIST+=(file); continue ;;
      s3) var=RS_TEST_S3_URL hint='scripts/s3-server.sh start; eval "$(scripts/s3-server.sh env)"' ;;
      pg) var=RS_TEST_PG_URL hint='scripts/pg-server.sh start; eval "$(scripts/pg-server.sh env)"' ;;
      mysql) var=RS_TEST_MYSQL_URL hint='scripts/mysql-server.sh start; eval "$(scripts/mysql-server.sh env)"' ;;
      *) fail "RS_E2E_BACKENDS: unknown backend '$b' (file, s3, pg, mysql)" ;;
    esac
    if [[ -n ${!var:-} ]]; then
      E2E_BACKEND_LIST+=("$b")
    elif e2e_required; then
      fail "RS_REQUIRE_SERVERS=1 or CI=true but $var is not set ($hint)"
    else
      skip_part "$b" "$var is not set ($hint)"
    fi
  done
}

# fresh_store BACKEND NAME: prints a store URL nobody else uses (a new directory, S3 prefix or
# Postgres table prefix). The caller must run `E2E_STORES+=("$url")` in the main shell so the
# store is removed at exit (fresh_store runs in a subshell when called as $(...)).
fresh_store() {
  local backend=$1 name=$2
  case $backend in
    file) mkdir -p "$WORK/$name" && echo "file://$WORK/$name" ;;
    s3)
      local base=${RS_TEST_S3_URL%%\?*} q=
      [[ $RS_TEST_S3_URL == *\?* ]] && q="?${RS_TEST_S3_URL#*\?}"
      echo "${base%/}/e2e-$E2E_RUN-$name$q" ;;
    pg)
      local sep='?'
      [[ $RS_TEST_PG_URL == *\?* ]] && sep='&'
      echo "${RS_TEST_PG_URL}${sep}table_prefix=e2e_${E2E_RUN}_${name//[^a-z0-9]/_}_" ;;
    mysql)
      local sep='?'
      [[ $RS_TEST_MYSQL_URL == *\?* ]] && sep='&'
      echo "${RS_TEST_MYSQL_URL}${sep}table_prefix=e2e_${E2E_RUN}_${name//[^a-z0-9]/_}_" ;;
  esac
}

# my_sql URL SQL...: runs SQL with the mariadb client as the account of a mysql:// URL (batch
# output, no column names); the password goes through MYSQL_PWD, never the command line
my_sql() {
  local url=$1; shift
  local rest=${url#*://} user pw hp host port db
  user=${rest%%@*}; pw=${user#*:}; user=${user%%:*}
  hp=${rest#*@}; db=${hp#*/}; db=${db%%\?*}; hp=${hp%%/*}
  host=${hp%:*}; port=${hp##*:}
  MYSQL_PWD=$pw timeout 60 mariadb --protocol=TCP -h "$host" -P "$port" -u "$user" -N -B "$db" -e "$*"
}

# e2e_drop_store URL: best-effort removal of a remote store (file stores go with WORK)
e2e_drop_store() {
  local url=$1
  ((E2E_FAILED)) && return 0   # keep it for inspection
  case $url in
    s3://*)
      command -v aws >/dev/null || return 0
      local bp=${url#s3://}; bp=${bp%%\?*}
      local ep; ep=$(sed -n 's/.*[?&]endpoint=\([^&]*\).*/\1/p' <<<"$url")
      timeout 30 aws s3 rm --quiet --recursive "s3://$bp/" ${ep:+--endpoint-url "$ep"} >/dev/null 2>&1 || true ;;
    postgres*://*)
      command -v psql >/dev/null || return 0
      local p; p=$(sed -n 's/.*[?&]table_prefix=\([a-z0-9_]*\).*/\1/p' <<<"$url")
      [[ -n $p ]] || return 0
      local conn=${url%%table_prefix=*}; conn=${conn%[?&]}
      timeout 30 psql -q "$conn" -v ON_ERROR_STOP=0 >/dev/null 2>&1 <<SQL || true
DROP TABLE IF EXISTS ${p}objects CASCADE;
DROP TABLE IF EXISTS ${p}schema_version CASCADE;
DROP FUNCTION IF EXISTS ${p}objects_stamp() CASCADE;
DROP FUNCTION IF EXISTS ${p}objects_notify() CASCADE;
SQL
      ;;
    mysql://* | mariadb://*)
      command -v mariadb >/dev/null || return 0
      local p; p=$(sed -n 's/.*[?&]table_prefix=\([a-z0-9_]*\).*/\1/p' <<<"$url")
      [[ -n $p ]] || return 0
      my_sql "$url" "DROP TABLE IF EXISTS \`${p}objects\`, \`${p}schema_version\`" >/dev/null 2>&1 || true ;;
  esac
  return 0
}

# store_keys STORE PREFIX: the keys under PREFIX, one per line (regsync-dump ls)
store_keys() {
  "$DUMP" ls "$1" | awk -v p="$2" 'index($3, p) == 1 { print $3 }'
}

# fetch_objects STORE PREFIX DIR: copies every object under PREFIX into DIR (file name = the key
# with "/" turned into "_"; a whole S3 prefix with the aws CLI: the rest of the key). file: copied
# from the directory; s3: aws s3 cp, else regsync-dump ls + cat; Postgres: psql, MySQL: the mariadb
# client (regsync-dump cat reads postgresql:// and mysql:// URLs as Feast SQL registries, not as
# our store).
fetch_objects() {
  local store=$1 prefix=$2 dir=$3
  mkdir -p "$dir"
  case $store in
    postgres*://*)
      command -v psql >/dev/null || fail "psql is needed to read log entries from Postgres"
      local p; p=$(sed -n 's/.*[?&]table_prefix=\([a-z0-9_]*\).*/\1/p' <<<"$store")
      local conn=${store%%table_prefix=*}; conn=${conn%[?&]}
      timeout 60 psql -qAt -F ' ' "$conn" -c "select key, encode(data, 'hex') from ${p}objects where key like '${prefix}%' order by key" |
        "$PY" -c '
import sys, os
d = sys.argv[1]
for line in sys.stdin:
    k, h = line.split()
    open(os.path.join(d, k.replace("/", "_")), "wb").write(bytes.fromhex(h))
' "$dir" || fail "reading $prefix from Postgres failed" ;;
    mysql://* | mariadb://*)
      command -v mariadb >/dev/null || fail "the mariadb client is needed to read log entries from MySQL"
      local p; p=$(sed -n 's/.*[?&]table_prefix=\([a-z0-9_]*\).*/\1/p' <<<"$store")
      my_sql "$store" "SELECT \`key\`, HEX(data) FROM \`${p}objects\` WHERE \`key\` LIKE '${prefix}%' ORDER BY \`key\`" |
        "$PY" -c '
import sys, os
d = sys.argv[1]
for line in sys.stdin:
    k, h = line.rstrip("\n").split("\t")
    open(os.path.join(d, k.replace("/", "_")), "wb").write(bytes.fromhex(h))
' "$dir" || fail "reading $prefix from MySQL failed" ;;
    file://*)
      # a key is a path below the store directory (storage/file.c); copy them in one go
      local keys k root=${store#file://}
      keys=$(store_keys "$store" "$prefix") || fail "regsync-dump ls failed on the store"
      [[ -z $keys ]] && return 0
      "$PY" -c '
import shutil, sys
root, d = sys.argv[1], sys.argv[2]
for k in sys.argv[3:]: shutil.copyfile(root + "/" + k, d + "/" + k.replace("/", "_"))
' "$root" "$dir" $keys || fail "copying $prefix out of the store failed" ;;
    s3://*)
      if [[ $prefix == */ ]] && command -v aws >/dev/null; then
        # one process for the whole prefix (regsync-dump cat is one process per key); the files
        # are named after the rest of the key
        local bp=${store#s3://}; bp=${bp%%\?*}; bp=${bp%/}
        local ep; ep=$(sed -n 's/.*[?&]endpoint=\([^&]*\).*/\1/p' <<<"$store")
        timeout 120 aws s3 cp --quiet --recursive "s3://$bp/$prefix" "$dir/" ${ep:+--endpoint-url "$ep"} ||
          fail "aws s3 cp of $prefix failed"
        return 0
      fi
      fetch_objects_by_key "$store" "$prefix" "$dir" ;;
    *) fetch_objects_by_key "$store" "$prefix" "$dir" ;;
  esac
}

# fetch_objects_by_key STORE PREFIX DIR: regsync-dump ls, then one regsync-dump cat per key
fetch_objects_by_key() {
  local store=$1 prefix=$2 dir=$3 keys
  keys=$(store_keys "$store" "$prefix") || fail "regsync-dump ls failed on the store"
  [[ -z $keys ]] && return 0
  local base=${store%%\?*} q=
  [[ $store == *\?* ]] && q="?${store#*\?}"
  # four at a time: one process per key
  printf '%s\n' $keys | xargs -P 4 -I{} sh -c '"$0" cat "$1/{}$2" > "$3/$(echo {} | tr / _)"' \
    "$DUMP" "${base%/}" "$q" "$dir" || fail "regsync-dump cat failed on the store"
}

# decode_changes DIR...: one line per log entry file (regsync.v1.Change, proto/regsync/v1/log.proto):
#   VERSION PARENT_DIGEST RESULT_DIGEST PARENT_CONTENT_DIGEST RESULT_CONTENT_DIGEST N_OPS PUBLISHER
# sorted by version. A reader of the wire format written from log.proto (field numbers 1, 2, 3, 5,
# 7, 8, 9), so the test does not trust regsync's own decoder. decode_head FILE prints
#   VERSION DIGEST CONTENT_DIGEST OLDEST SNAPSHOT   (regsync.v1.Head: fields 1, 2, 3, 4, 5)
E2E_PB_PY='
import sys, os
def varint(b, i):
    x = s = 0
    while True:
        c = b[i]; i += 1; x |= (c & 0x7f) << s; s += 7
        if c < 0x80: return x, i
def fields(b):
    i, out = 0, {}
    while i < len(b):
        k, i = varint(b, i)
        f, wt = k >> 3, k & 7
        if wt == 0: v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i); v = b[i:i + n]; i += n
            if len(v) != n: raise ValueError("truncated")
        elif wt == 1: v = b[i:i + 8]; i += 8
        elif wt == 5: v = b[i:i + 4]; i += 4
        else: raise ValueError("wire type %d" % wt)
        out.setdefault(f, []).append(v)
    return out
def one(m, f, d=b""): return m.get(f, [d])[-1]
def hx(v): return v.hex() if v else "-"
mode, paths = sys.argv[1], sys.argv[2:]
rows = []
for p in paths:
    try: m = fields(open(p, "rb").read())
    except Exception as e:
        print("%s: not a protobuf message: %s" % (p, e), file=sys.stderr); sys.exit(2)
    if mode == "change":
        rows.append((one(m, 1, 0), hx(one(m, 2)), hx(one(m, 3)), hx(one(m, 8)), hx(one(m, 9)), len(m.get(7, [])),
                     one(m, 5).decode(errors="replace").replace(" ", "_") or "-"))
    else:
        rows.append((one(m, 1, 0), hx(one(m, 2)), hx(one(m, 3)), one(m, 4, 0), one(m, 5, 0)))
for r in sorted(rows): print(*r)
'
decode_changes() { "$PY" -c "$E2E_PB_PY" change "$@"; }
decode_head() { "$PY" -c "$E2E_PB_PY" head "$@"; }

# store_head STORE: decode_head of the store's regsync/HEAD (empty output when there is none)
store_head() {
  local d; d=$(mktemp -d "$WORK/head.XXXXXX")
  fetch_objects "$1" regsync/HEAD "$d"
  [[ -f $d/regsync_HEAD ]] && decode_head "$d/regsync_HEAD"
  rm -rf "$d"
}

# ------------------------------------------------------------------ registries and digests

digest() { "$DUMP" digest "$1"; }                        # full digest of a registry file/URL
content_digest() { "$DUMP" digest --content "$1"; }      # without version_id, last_updated, schema version

# target_digest FILE: digest of a target file, or "none" / "undecodable"
target_digest() {
  [[ -e $1 ]] || { echo none; return; }
  "$DUMP" digest "$1" 2>/dev/null || echo undecodable
}

# temp_files DIR BASE: the agent's temp files next to a target (".BASE.regsync-*")
temp_files() { compgen -G "$1/.$2.regsync-*" || true; }

# The agent's journal, read-only: `regsync-dump journal --json` when this build has it, else sqlite3
# on journal.db (docs/journal.md).
E2E_DUMP_HELP=$("$DUMP" --help 2>&1)
dump_has() { grep -qE "^  $1 " <<<"$E2E_DUMP_HELP"; }

# journal_last STATE_DIR: "VERSION RESULT_DIGEST" of the last applied version (empty: none)
journal_last() {
  if dump_has journal; then
    "$DUMP" journal --json --limit 1 "$1" 2>/dev/null | jq -r '.versions[0] // empty | "\(.version) \(.result_digest)"'
  else
    sqlite3 -readonly "$1/journal.db" 'select version || " " || lower(hex(result_digest)) from applied order by version desc limit 1' 2>/dev/null
  fi
}
journal_max() { local l; l=$(journal_last "$1"); echo "${l%% *}" | sed 's/^$/0/'; }
# journal_pending STATE_DIR: the version of the pending row ("the target is being replaced"), 0: none
journal_pending() {
  if dump_has journal; then
    "$DUMP" journal --json --limit 1 "$1" 2>/dev/null |
      jq -r '.pending | if type == "object" then (.version // 0) elif type == "number" then . else 0 end'
  else
    sqlite3 -readonly "$1/journal.db" 'select coalesce(max(version), 0) from pending' 2>/dev/null
  fi
}

# store_head_line STORE: "VERSION CONTENT_DIGEST LOG_VERSION" of regsync/HEAD (`regsync-dump head`,
# JSON; without it, the wire-format reader below, and LOG_VERSION = VERSION)
store_head_line() {
  if dump_has head; then
    "$DUMP" head "$1" | jq -r '"\(.version) \(.content_digest) \(.log_version // .version)"'
  else
    local h v cd; h=$(store_head "$1")
    read -r v _ cd _ <<<"$h"
    echo "$v $cd $v"
  fi
}

# free_port: an unused TCP port on 127.0.0.1
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# http_code URL [CURL ARGS...]: the HTTP status (000 when no answer within 1 s)
http_code() {
  local url=$1; shift
  curl -s -o /dev/null -m 1 -w '%{http_code}' "$@" "$url" || true
}

# agent_yaml FILE KEY=VALUE...: writes a config file (values are YAML as given)
agent_yaml() {
  local f=$1 kv; shift
  : >"$f"
  for kv in "$@"; do printf '%s: %s\n' "${kv%%=*}" "${kv#*=}" >>"$f"; done
}

# rsd STORE ARGS...: a foreground regsyncd (publish --once, sync --once) with the store given
# through the environment (never in a file), stopped after E2E_CMD_TIMEOUT seconds (default 120;
# exit code 124) so a hang fails the test instead of stalling it (bash runs the watchdog's trap
# only after the foreground command returns)
rsd() {
  local store=$1; shift
  REGSYNC_STORE=$store timeout -k 5 "${E2E_CMD_TIMEOUT:-120}" "$REGSYNCD" "$@"
}

# ------------------------------------------------------------------ a TCP proxy for Postgres outages

# start_tcp_proxy NAME UPSTREAM_HOST UPSTREAM_PORT CONTROL_FILE: a byte relay (scripts/fault-proxy.py
# speaks HTTP only) whose behaviour is the first word of CONTROL_FILE, read every 50 ms:
#   pass   relay both ways
#   hang   relay nothing (data waits in the proxy, new connections are held): a network partition
#   reset  close every connection and every new one at once: a server restart
# Sets E2E_PROXY_PORT; the proxy is stopped at exit like every e2e_bg process.
E2E_TCP_PROXY_PY='
import os, socket, sys, threading, time
up_host, up_port, ctl = sys.argv[1], int(sys.argv[2]), sys.argv[3]
mode = ["pass"]
conns = set()
lock = threading.Lock()
def watch():
    while True:
        try: m = open(ctl).read().split()[0]
        except Exception: m = "pass"
        if m != mode[0]:
            mode[0] = m
            print("mode", m, flush=True)
            if m == "reset":
                with lock:
                    for s in list(conns):
                        try: s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"); s.close()
                        except OSError: pass
                    conns.clear()
        time.sleep(0.05)
def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            while mode[0] == "hang": time.sleep(0.02)
            if mode[0] == "reset": break
            b.sendall(d)
    except OSError: pass
    for s in (a, b):
        try: s.close()
        except OSError: pass
def handle(c):
    while mode[0] == "hang": time.sleep(0.02)
    if mode[0] == "reset":
        c.close(); return
    try: u = socket.create_connection((up_host, up_port))
    except OSError:
        c.close(); return
    with lock: conns.update((c, u))
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(64)
print("listening %d" % srv.getsockname()[1], flush=True)
threading.Thread(target=watch, daemon=True).start()
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
'
start_tcp_proxy() {
  local name=$1 host=$2 port=$3 ctl=$4
  [[ -f $ctl ]] || echo pass >"$ctl"
  e2e_bg "$name" "$PY" -u -c "$E2E_TCP_PROXY_PY" "$host" "$port" "$ctl"
  wait_for 10 "the TCP proxy to listen" grep -q '^listening ' "$WORK/$name.log"
  E2E_PROXY_PORT=$(sed -n 's/^listening //p' "$WORK/$name.log" | head -n 1)
}

# start_fault_proxy NAME UPSTREAM_HOST:PORT FAULT_FILE: scripts/fault-proxy.py (HTTP, per request);
# sets E2E_PROXY_PORT. The request log is $WORK/NAME.requests.
start_fault_proxy() {
  local name=$1 upstream=$2 faults=$3
  : >>"$faults"
  e2e_bg "$name" "$PY" -u "$SRC/scripts/fault-proxy.py" 0 "$upstream" "$faults" "$WORK/$name.requests"
  wait_for 10 "fault-proxy.py to listen" grep -q '^listening ' "$WORK/$name.log"
  E2E_PROXY_PORT=$(sed -n 's/^listening //p' "$WORK/$name.log" | head -n 1)
}
