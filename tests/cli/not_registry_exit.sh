#!/usr/bin/env bash
# not_registry_exit.sh BUILD_DIR [SHARED_DIR]: a source that is not a Feast registry gets the same
# reason from `regsync-dump` (exit 2, input error) and `regsyncd publish --once` (exit 1, the
# command failed, nothing published), and an SQLite file gets the postgresql:// hint only when it
# holds Feast's SQL registry tables. Real files: ../shared/fixtures/not-registries and two SQLite
# databases made with sqlite3. ~2 s.
set -uo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR [SHARED_DIR]}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
shared=${2:-${RS_SHARED_DIR:-$src/../shared}}
dump=$build/tools/regsync-dump
regsyncd=$build/daemon/regsyncd
passed=0 failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
finish() { echo "$passed passed, $failed failed"; ((failed == 0)); exit $?; }
for b in "$dump" "$regsyncd"; do [[ -x $b ]] || { bad "missing $b"; finish; }; done
command -v sqlite3 >/dev/null || { bad "sqlite3 is required (scripts/deps.sh test)"; finish; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rs-not-registry.XXXXXX")
trap 'rm -rf "$work"' EXIT
files=()
if [[ -d $shared/fixtures/not-registries ]]; then
  for f in "$shared"/fixtures/not-registries/*; do [[ $(basename "$f") == INDEX.tsv ]] || files+=("$f"); done
else
  echo "*** SKIP the not-registries fixtures: $shared/fixtures/not-registries not found ***"
  [[ ${RS_REQUIRE_SERVERS:-0} == 1 || ${CI:-} == true ]] && bad "fixtures missing"
fi
sqlite3 "$work/feast_sql.db" "CREATE TABLE projects (project_id VARCHAR(255) PRIMARY KEY, project_proto BLOB);
  CREATE TABLE feature_views (feature_view_name VARCHAR(255), project_id VARCHAR(255), feature_view_proto BLOB);
  CREATE TABLE managed_infra (infra_name VARCHAR(255), project_id VARCHAR(255), infra_proto BLOB);
  CREATE TABLE feast_metadata (project_id VARCHAR(255), metadata_key VARCHAR(50), metadata_value TEXT);"
sqlite3 "$work/other.db" "CREATE TABLE races (player TEXT, time_ms REAL);"
files+=("$work/feast_sql.db" "$work/other.db")

i=0
for f in "${files[@]}"; do
  i=$((i + 1))
  name=$(basename "$f")
  "$dump" json "$f" >/dev/null 2>"$work/dump.err"
  drc=$?
  mkdir -p "$work/p$i"
  cat >"$work/p$i/publisher.yaml" <<EOF
region: ci
store: file://$work/p$i/global
source: $f
publish: true
state_dir: $work/p$i/state
admin: { listen: "" }
EOF
  mkdir -p "$work/p$i/global"
  "$regsyncd" publish --once --config "$work/p$i/publisher.yaml" >/dev/null 2>"$work/pub.err"
  prc=$?
  [[ $drc == 2 ]] && ok "$name: regsync-dump exits 2" || bad "$name: regsync-dump exited $drc"
  [[ $prc == 1 ]] && ok "$name: regsyncd publish --once exits 1" || bad "$name: publish --once exited $prc"
  reason=$(grep -o 'not a Feast registry.*' "$work/dump.err" | head -1)
  if [[ -n $reason ]] && grep -qF -- "$reason" "$work/pub.err"; then
    ok "$name: the same reason from both ($reason)"
  else
    bad "$name: reasons differ: dump [$(cat "$work/dump.err")] publish [$(cat "$work/pub.err")]"
  fi
  [[ -e $work/p$i/global/regsync/HEAD ]] && bad "$name: something was published" || ok "$name: nothing published"
  if head -c 15 "$f" | grep -q 'SQLite format 3'; then
    if [[ $name == feast_sql.db ]]; then
      grep -q 'postgresql://' "$work/dump.err" && ok "$name: the postgresql:// hint for Feast's SQL tables" ||
        bad "$name: no postgresql:// hint: $(cat "$work/dump.err")"
    else
      grep -q 'postgresql://' "$work/dump.err" && bad "$name: a postgresql:// hint for an SQLite file without Feast's tables" ||
        ok "$name: no postgresql:// hint"
    fi
  fi
done
finish
