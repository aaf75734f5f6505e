#!/usr/bin/env bash
# json_feast_reference.sh BUILD_DIR [SHARED_DIR]: `regsync-dump json --project P` is byte for byte
# what Feast's BaseRegistry.to_dict(P) prints (`feast registry-dump`), as computed by the
# independent Python reference tests/reference/feast_dict.py (protobuf messages, protoc-generated
# classes from proto/), for every project of every fixture registry, of generated registries and
# of their variants (an empty infra, unknown fields inside objects, UDFs with source text and
# infra objects of both table kinds). A mismatch prints the first differing line. ~10 s.
set -uo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR [SHARED_DIR]}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
shared=${2:-${RS_SHARED_DIR:-$src/../shared}}
dump=$build/tools/regsync-dump
gen=$build/bench/regsync-gen
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
finish() { echo "$passed passed, $failed failed"; ((failed == 0)); exit $?; }

PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
required=0
[[ ${RS_REQUIRE_SERVERS:-0} == 1 || ${CI:-} == true ]] && required=1
if ! "$PY" -c 'import google.protobuf' 2>/dev/null || ! command -v protoc >/dev/null; then
  echo "*** SKIP json_feast_reference: needs python3-protobuf and protoc (scripts/deps.sh test) ***"
  ((required)) && { bad "python3-protobuf or protoc missing"; finish; }
  echo "*** SKIPPED (exit 77): nothing of json_feast_reference ran ***"
  exit 77
fi
for b in "$dump" "$gen"; do [[ -x $b ]] || { bad "missing $b"; finish; }; done

work=$(mktemp -d "${TMPDIR:-/tmp}/rs-json-ref.XXXXXX")
trap 'rm -rf "$work"' EXIT
inputs=()
if [[ -d $shared/fixtures/registries ]]; then
  inputs+=("$shared"/fixtures/registries/*.db)
else
  echo "*** SKIP fixtures: $shared/fixtures/registries not found (set RS_SHARED_DIR) ***"
  ((required)) && bad "fixtures missing"
fi
mkdir -p "$work/gen"
for seed in 1 2 3 4 5 6; do
  "$gen" --seed "$seed" --size $((20 + seed * 15))KB --out "$work/gen/gen-$seed.db" 2>/dev/null ||
    { bad "regsync-gen --seed $seed"; finish; }
  inputs+=("$work/gen/gen-$seed.db")
done
for seed in 1 4; do
  "$PY" "$src/tests/reference/feast_dict.py" "$src/proto" "$work/ref" variants "$work/gen/gen-$seed.db" \
    "$work/gen/var-$seed" || { bad "reference variants"; finish; }
  inputs+=("$work/gen/var-$seed"/*.db)
done
"$PY" "$src/tests/reference/feast_dict.py" "$src/proto" "$work/ref" dump "${inputs[@]}" ||
  { bad "the Python reference failed"; finish; }

pairs=0
for f in "${inputs[@]}"; do
  base=$(basename "$f")
  d=$work/ref/out/$base
  # the projects regsync sees are the projects the reference sees
  ours=$("$dump" json "$f" | "$PY" -c 'import json,sys; print("\n".join(d["project"] for d in json.load(sys.stdin) if d["project"]))')
  if [[ $ours != "$(sed '/^$/d' "$d/projects.txt")" ]]; then
    bad "$base: projects differ: regsync [$(echo $ours)] reference [$(echo $(cat "$d/projects.txt"))]"
    continue
  fi
  i=0
  while IFS= read -r p; do
    [[ -n $p ]] || continue
    "$dump" json --project "$p" "$f" >"$work/ours.json" 2>"$work/err" || { bad "$base project $p: $(cat "$work/err")"; i=$((i + 1)); continue; }
    pairs=$((pairs + 1))
    if cmp -s "$work/ours.json" "$d/$i.json"; then
      ok
    else
      line=$(cmp "$work/ours.json" "$d/$i.json" | sed -n 's/.* line \([0-9]*\)$/\1/p')
      bad "$base project $p: differs at line ${line:-?}:"
      printf '    regsync:   %s\n    reference: %s\n' "$(sed -n "${line:-1}p" "$work/ours.json")" "$(sed -n "${line:-1}p" "$d/$i.json")"
    fi
    i=$((i + 1))
  done <"$d/projects.txt"
done
echo "(file, project) pairs compared: $pairs"

# ---- `feast plan` text: every ordered fixture pair, for each project both hold; generated
# registries against their mutations (updates with property lines, creations, deletions)
mkdir -p "$work/plan"
: >"$work/plan/listing"
plan_inputs=()
for f in "${inputs[@]}"; do [[ $f == "$work"/gen/var-* ]] || plan_inputs+=("$f"); done
for seed in 1 2 3; do
  "$gen" mutate --seed $((seed * 7)) --changes 12 "$work/gen/gen-$seed.db" "$work/gen/mut-$seed.db" 2>/dev/null ||
    { bad "regsync-gen mutate"; finish; }
done
n=0
declare -A projects_of
add_pair() { # A B: one plan per project both hold
  local p
  for p in ${projects_of[$1]}; do
    [[ " ${projects_of[$2]} " == *" $p "* ]] || continue
    n=$((n + 1))
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$p" "$work/plan/$n.txt" >>"$work/plan/listing"
  done
}
"$PY" "$src/tests/reference/feast_dict.py" "$src/proto" "$work/ref" dump "$work"/gen/mut-*.db ||
  { bad "the Python reference failed"; finish; }
for f in "${plan_inputs[@]}" "$work"/gen/mut-*.db; do
  projects_of[$f]=$(tr '\n' ' ' <"$work/ref/out/$(basename "$f")/projects.txt")
done
for a in "${plan_inputs[@]}"; do
  for b in "${plan_inputs[@]}"; do add_pair "$a" "$b"; done
done
for seed in 1 2 3; do
  add_pair "$work/gen/gen-$seed.db" "$work/gen/mut-$seed.db"
  add_pair "$work/gen/mut-$seed.db" "$work/gen/gen-$seed.db"
done
"$PY" "$src/tests/reference/feast_dict.py" "$src/proto" "$work/ref" plans "$work/plan/listing" ||
  { bad "the Python reference (plans) failed"; finish; }
plans=0 changed=0
while IFS=$'\t' read -r a b p want; do
  "$dump" diff --format feast --project "$p" "$a" "$b" >"$work/ours.txt" 2>"$work/err"
  rc=$?
  plans=$((plans + 1))
  if [[ $rc == 2 ]]; then bad "diff --format feast $(basename "$a") $(basename "$b") $p: $(cat "$work/err")"; continue; fi
  [[ $rc == 1 ]] && changed=$((changed + 1))
  if [[ $rc == 1 && $(head -c 22 "$want") == "No changes to registry" ]] || [[ $rc == 0 && $(head -c 22 "$want") != "No changes to registry" ]]; then
    bad "diff --format feast $(basename "$a") $(basename "$b") $p: exit $rc does not fit the plan"
  fi
  if cmp -s "$work/ours.txt" "$want"; then
    ok
  else
    line=$(cmp "$work/ours.txt" "$want" | sed -n 's/.* line \([0-9]*\)$/\1/p')
    bad "diff --format feast $(basename "$a") -> $(basename "$b") project $p: differs at line ${line:-?}:"
    printf '    regsync:   %s\n    reference: %s\n' "$(sed -n "${line:-1}p" "$work/ours.txt")" "$(sed -n "${line:-1}p" "$want")"
  fi
done <"$work/plan/listing"
echo "feast plan texts compared: $plans ($changed with changes)"
finish
