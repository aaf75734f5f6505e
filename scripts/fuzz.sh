#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS]: builds the libFuzzer targets with clang (ASan+UBSan) in build-fuzz,
# seeds them (registry: every fixture in ../shared and generated registries; change: generated
# log entries), runs each for SECONDS (default 60). A crash is copied to
# tests/fuzz/regressions/<target>/ (so the unit tests replay it from then on) and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
root=$PWD
bdir=${RS_FUZZ_BUILD:-$root/build-fuzz}
shared=${RS_SHARED_DIR:-$root/../shared}
CC=clang cmake -S . -B "$bdir" -DRS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$bdir" -j2 --target fuzz_registry fuzz_change seed_changes regsync-gen >/dev/null
corp=$bdir/corpus
mkdir -p "$corp/registry" "$corp/change"
if [[ -d $shared/fixtures/registries ]]; then
  cp -f "$shared"/fixtures/registries/*.db "$corp/registry/" 2>/dev/null || true
else
  echo "fuzz: SKIP fixture seeds: $shared/fixtures not found" >&2
fi
for s in 1 2 3; do "$bdir/bench/regsync-gen" --seed $s --size $((s * 4000)) --out "$corp/registry/gen-$s.db" 2>/dev/null; done
"$bdir/tests/fuzz/seed_changes" "$corp/change" 20
cp -f tests/fuzz/regressions/registry/* "$corp/registry/" 2>/dev/null || true
cp -f tests/fuzz/regressions/change/* "$corp/change/" 2>/dev/null || true
status=0
for t in registry change; do
  art=$bdir/artifacts-$t/
  mkdir -p "$art"
  echo "fuzz: fuzz_$t for ${secs}s"
  if ! "$bdir/tests/fuzz/fuzz_$t" "$corp/$t" -max_total_time="$secs" -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
       -artifact_prefix="$art" -print_final_stats=1 >"$bdir/fuzz-$t.log" 2>&1; then
    echo "fuzz: fuzz_$t FOUND A CRASH; log: $bdir/fuzz-$t.log" >&2
    tail -n 40 "$bdir/fuzz-$t.log" >&2
    for f in "$art"*; do
      [[ -f $f ]] && cp "$f" "tests/fuzz/regressions/$t/$(basename "$f")" && echo "fuzz: saved $(basename "$f") as a regression input" >&2
    done
    status=1
  fi
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$bdir/fuzz-$t.log" | sed "s/^/fuzz: fuzz_$t /" || true
done
exit $status
