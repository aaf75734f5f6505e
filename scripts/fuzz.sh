#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS]: builds the libFuzzer targets with clang (ASan+UBSan) in build-fuzz,
# seeds them, and runs each for SECONDS (default 15; scripts/test.sh passes RS_FUZZ_SECONDS; the
# registry target twice that), one after the other on one core: 12 x 15 s = 3 minutes of fuzzing.
#   RS_FUZZ_TARGETS="head url"   only these targets (default: all)
#   RS_FUZZ_BUILD=DIR            build directory (default build-fuzz); corpora grow in DIR/corpus
# Seeds: registry: every fixture in ../shared and generated registries; change: generated log
# entries; head/report/control: encoded by seed_protos; the others: tests/fuzz/seeds/<target>/;
# every target also gets its tests/fuzz/regressions/<target>/. Limits on every run: -timeout=10
# (a slow input is a finding), -rss_limit_mb=2048 (so is a memory blow-up), -max_len 1 MiB for
# registry inputs (registry, change, feast_rows), 64 KiB for the others; UBSan halts on error.
# A crash, timeout, leak or out-of-memory input is copied to tests/fuzz/regressions/<target>/ (so
# test_fuzz_regressions replays it from then on) and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
root=$PWD
bdir=${RS_FUZZ_BUILD:-$root/build-fuzz}
shared=${RS_SHARED_DIR:-$root/../shared}
all="registry change head report control s3_xml aws_creds url config admin feast_rows"
targets=${RS_FUZZ_TARGETS:-$all}
CC=clang cmake -S . -B "$bdir" -DRS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
build=(seed_changes seed_protos regsync-gen)
for t in $targets; do build+=("fuzz_$t"); done
cmake --build "$bdir" -j2 --target "${build[@]}" >/dev/null
corp=$bdir/corpus
for t in $all; do mkdir -p "$corp/$t"; done
if [[ -d $shared/fixtures/registries ]]; then
  cp -f "$shared"/fixtures/registries/*.db "$corp/registry/" 2>/dev/null || true
else
  echo "fuzz: SKIP fixture seeds: $shared/fixtures not found" >&2
fi
for s in 1 2 3; do "$bdir/bench/regsync-gen" --seed $s --size $((s * 4000)) --out "$corp/registry/gen-$s.db" 2>/dev/null; done
"$bdir/tests/fuzz/seed_changes" "$corp/change" 20
"$bdir/tests/fuzz/seed_protos" "$corp"
for t in $all; do
  cp -f tests/fuzz/seeds/"$t"/* "$corp/$t/" 2>/dev/null || true
  cp -f tests/fuzz/regressions/"$t"/* "$corp/$t/" 2>/dev/null || true
done
# UBSan findings (signed overflow, bad shifts, ...) stop the run like ASan ones
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
status=0
for t in $targets; do
  art=$bdir/artifacts-$t/
  mkdir -p "$art"
  case $t in registry | change | feast_rows) maxlen=1048576 ;; *) maxlen=65536 ;; esac
  # registry: loading its corpus (the fixtures, up to megabytes each) takes seconds of the budget
  tsecs=$secs; [[ $t == registry ]] && tsecs=$((secs * 2))
  echo "fuzz: fuzz_$t for ${tsecs}s"
  if ! "$bdir/tests/fuzz/fuzz_$t" "$corp/$t" -max_total_time="$tsecs" -max_len=$maxlen -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$art" -print_final_stats=1 >"$bdir/fuzz-$t.log" 2>&1; then
    echo "fuzz: fuzz_$t FOUND A CRASH, TIMEOUT, LEAK OR OOM; log: $bdir/fuzz-$t.log" >&2
    tail -n 40 "$bdir/fuzz-$t.log" >&2
    mkdir -p "tests/fuzz/regressions/$t"
    for f in "$art"*; do
      [[ -f $f ]] && cp "$f" "tests/fuzz/regressions/$t/$(basename "$f")" && echo "fuzz: saved $(basename "$f") as a regression input" >&2
    done
    status=1
  fi
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$bdir/fuzz-$t.log" | sed "s/^/fuzz: fuzz_$t /" || true
done
exit $status
