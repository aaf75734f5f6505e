#!/usr/bin/env bash
# scripts/test.sh: the one command that builds regsync and passes every test, on a fresh Debian 12.
#   1. installs what the build and the tests need (scripts/deps.sh test)
#   2. builds twice: build/ (optimized) and build-asan/ (AddressSanitizer + UBSan)
#   3. starts the real test servers: Ceph RGW (S3), PostgreSQL and MariaDB (MySQL), on 127.0.0.1
#   4. runs every CTest test in the optimized build and every CUnit suite in the sanitizer build
#      (servers required: a missing one fails)
#   5. runs the 11 libFuzzer targets for a bounded time (RS_FUZZ_SECONDS, default 15 each: ~3 min)
#   6. runs the container test (scripts/test-containers.sh: the image and the compose federation;
#      skipped, and counted so, where no container engine can run; RS_TEST_CONTAINERS=0 leaves it out)
#   7. stops the servers
# Options (environment): RS_TEST_QUICK=1 skips the sanitizer build and the fuzzers;
# RS_CTEST_ARGS="-R name" narrows the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
log() { printf '\n== %s\n' "$*"; }

log "dependencies"
scripts/deps.sh test

jobs=$(nproc 2>/dev/null || echo 2)
log "build (optimized): build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
if [[ ${RS_TEST_QUICK:-0} != 1 ]]; then
  log "build (ASan+UBSan): build-asan/"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRS_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$jobs"
fi

servers_up=()
cleanup() {
  for s in "${servers_up[@]}"; do scripts/$s-server.sh stop >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

log "test servers"
for s in s3 pg mysql; do
  if [[ -x scripts/$s-server.sh ]]; then
    scripts/$s-server.sh start
    servers_up+=("$s")
    eval "$(scripts/$s-server.sh env)"
  fi
done
export RS_REQUIRE_SERVERS=1
export RS_SHARED_DIR=${RS_SHARED_DIR:-$root/../shared}
[[ -d $RS_SHARED_DIR/fixtures ]] || echo "WARNING: $RS_SHARED_DIR/fixtures not found: fixture tests will SKIP loudly"

status=0 passed=0 failed=0 skipped=0
run_ctest() {  # run_ctest BUILD_DIR EXTRA_CTEST_ARGS ENV...: runs CTest, adds its counts to the totals
  local out=$1/ctest-summary.log dir=$1 extra=$2
  shift 2
  "$@" ctest --test-dir "$dir" --output-on-failure $extra ${RS_CTEST_ARGS:-} 2>&1 | tee "$out" || status=1
  local line total bad
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$out" | tail -n 1 || true)
  if [[ -z $line ]]; then status=1; return; fi
  total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  bad=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  passed=$((passed + total - bad)); failed=$((failed + bad))
  ((bad == 0)) || status=1
}
log "tests (optimized build)"
run_ctest build "" env
if [[ ${RS_TEST_QUICK:-0} != 1 ]]; then
  log "tests (ASan+UBSan build)"
  # the end-to-end scripts (label cli) drive the optimized binaries as separate processes;
  # every library and the daemon's code paths run under the sanitizers in the CUnit suites
  run_ctest build-asan "-LE cli" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  log "fuzzers (${RS_FUZZ_SECONDS:-15}s each)"
  if scripts/fuzz.sh "${RS_FUZZ_SECONDS:-15}"; then passed=$((passed + 1)); else failed=$((failed + 1)); status=1; fi
fi
if [[ ${RS_TEST_CONTAINERS:-1} != 0 ]]; then
  log "containers (scripts/test-containers.sh)"
  crc=0
  scripts/test-containers.sh || crc=$?
  case $crc in
    0) passed=$((passed + 1)) ;;
    77) skipped=$((skipped + 1)) ;;
    *) failed=$((failed + 1)); status=1 ;;
  esac
fi
if [[ $status == 0 ]]; then log "ALL TESTS PASSED"; else log "SOME TESTS FAILED"; fi
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
