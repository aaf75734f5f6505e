#!/usr/bin/env bash
# skip_accounting.sh BUILD_DIR [SHARED_DIR]: a skipped test is reported as skipped, never as
# passed, and with CI=true it is a failure (issue 9, item 14). Checks, on the real tools:
#   1. scripts/ctest-counts.sh on the output of a real CTest run of a small project with one
#      passing, one failing and one skipping (exit 77, SKIP_RETURN_CODE) test: "1 1 1"
#   2. the CUnit runner (tests/rs_test.c): test_pg without any server URL exits 77 and says what is
#      missing; with RS_REQUIRE_SERVERS=1 or CI=true it exits 1
#   3. tests/cli/lib.bash: skip_test exits 77, skip_part passes with the skip listed at the end; both
#      fail with CI=true
# About 2 s of CPU (13 s wall at load 14 on the shared 2-core machine: the CTest project and four
# lib.bash start-ups). Prints "N passed, M failed" last.
set -uo pipefail
build=${1:?usage: skip_accounting.sh BUILD_DIR [SHARED_DIR]}
build=$(cd "$build" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
passed=0 failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
finish() { echo "$passed passed, $failed failed"; ((failed == 0)); exit $?; }
expect() { # expect WHAT EXPECTED ACTUAL
  if [[ $2 == "$3" ]]; then ok "$1: $3"; else bad "$1: expected '$2', got '$3'"; fi
}
command -v ctest >/dev/null || { bad "ctest is required"; finish; }
work=$(mktemp -d "${TMPDIR:-/tmp}/rs-skip-accounting.XXXXXX")
trap 'rm -rf "$work"' EXIT
# the runs below decide for themselves whether servers are required
clean_env=(env -u CI -u RS_REQUIRE_SERVERS -u RS_TEST_PG_URL)

echo "== 1. scripts/ctest-counts.sh on a real CTest run"
mkdir -p "$work/proj"
cat >"$work/proj/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(counts NONE)
enable_testing()
add_test(NAME passes COMMAND sh -c "exit 0")
add_test(NAME fails COMMAND sh -c "exit 1")
add_test(NAME skips COMMAND sh -c "echo '*** SKIP everything: nothing here ***'; exit 77")
add_test(NAME passes_too COMMAND sh -c "exit 0")
set_tests_properties(passes fails skips passes_too PROPERTIES SKIP_RETURN_CODE 77)
EOF
cmake -S "$work/proj" -B "$work/proj/b" >/dev/null 2>&1 || bad "cmake of the small project failed"
ctest --test-dir "$work/proj/b" >"$work/ctest.log" 2>&1
grep -q '(Skipped)' "$work/ctest.log" || { cat "$work/ctest.log"; bad "CTest did not list the skipped test"; }
expect "counts of 2 passing, 1 failing, 1 skipping test" "2 1 1" "$("$src/scripts/ctest-counts.sh" "$work/ctest.log")"
grep -q 'tests passed, 1 tests failed out of 4' "$work/ctest.log" && ok "(CTest's own line counts the skipped one as passed: 75% of 4)"
: >"$work/empty.log"
"$src/scripts/ctest-counts.sh" "$work/empty.log" >/dev/null && bad "ctest-counts.sh accepted a log without a summary" ||
  ok "a log without CTest's summary line is an error"

echo "== 2. the CUnit runner (tests/rs_test.c) on test_pg without a server"
tp=$build/tests/test_pg
if [[ ! -x $tp ]]; then
  bad "$tp is not built"
else
  "${clean_env[@]}" "$tp" >"$work/pg.out" 2>&1
  expect "test_pg without RS_TEST_PG_URL: exit code" 77 "$?"
  grep -q '\*\*\* SKIP test_pg (every test): RS_TEST_PG_URL not set' "$work/pg.out" && ok "it says what is missing" ||
    bad "no loud SKIP line naming RS_TEST_PG_URL"
  grep -q 'SKIPPED: every test of this program was skipped' "$work/pg.out" && ok "it says that everything skipped" ||
    bad "no closing SKIPPED line"
  "${clean_env[@]}" RS_REQUIRE_SERVERS=1 "$tp" >"$work/pg-req.out" 2>&1
  expect "test_pg with RS_REQUIRE_SERVERS=1: exit code" 1 "$?"
  "${clean_env[@]}" CI=true "$tp" >"$work/pg-ci.out" 2>&1
  expect "test_pg with CI=true: exit code" 1 "$?"
fi

echo "== 3. tests/cli/lib.bash: skip_test and skip_part"
cat >"$work/whole.sh" <<EOF
source "$src/tests/cli/lib.bash" "$build"
skip_test "the frobnicator is not installed"
say "not reached"
EOF
cat >"$work/part.sh" <<EOF
source "$src/tests/cli/lib.bash" "$build"
skip_part "frobnication" "the frobnicator is not installed"
say "the rest ran"
EOF
"${clean_env[@]}" bash "$work/whole.sh" "$build" >"$work/whole.out" 2>&1
expect "skip_test: exit code" 77 "$?"
grep -q 'SKIP the whole test: the frobnicator is not installed' "$work/whole.out" && ok "skip_test says why" || bad "skip_test: no loud line"
grep -q 'not reached' "$work/whole.out" && bad "skip_test did not stop the test"
"${clean_env[@]}" CI=true bash "$work/whole.sh" "$build" >"$work/whole-ci.out" 2>&1
expect "skip_test with CI=true: exit code" 1 "$?"
"${clean_env[@]}" bash "$work/part.sh" "$build" >"$work/part.out" 2>&1
expect "skip_part: exit code" 0 "$?"
grep -q 'PASS with 1 part(s) SKIPPED' "$work/part.out" && grep -q '\*\*\*   frobnication: the frobnicator' "$work/part.out" &&
  ok "skip_part: listed again at the end" || { cat "$work/part.out"; bad "skip_part: not listed at the end"; }
grep -q 'the rest ran' "$work/part.out" || bad "skip_part stopped the test"
"${clean_env[@]}" CI=true bash "$work/part.sh" "$build" >"$work/part-ci.out" 2>&1
expect "skip_part with CI=true: exit code" 1 "$?"
finish
