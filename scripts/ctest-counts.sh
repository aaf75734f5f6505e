#!/usr/bin/env bash
# scripts/ctest-counts.sh LOG: prints "PASSED FAILED SKIPPED" for the output of one CTest run.
#
# CTest's summary line ("N% tests passed, F tests failed out of T") counts a skipped test (one
# that exited with its SKIP_RETURN_CODE, 77 here) among the passed ones; the skipped ones are
# listed after it, one per line, under "The following tests did not run:" as
#   "<tab>  3 - name (Skipped)".
# So: skipped = those lines, failed = F, passed = T - F - skipped. Exits 1 (and prints nothing)
# when LOG holds no summary line (CTest did not get to the end). Used by scripts/test.sh; checked
# by tests/cli/skip_accounting.sh against a real CTest run.
set -uo pipefail
log=${1:?usage: ctest-counts.sh CTEST_OUTPUT_FILE}
line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
[[ -n $line ]] || exit 1
total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
failed=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
# the "did not run" list of the last run in the log (a log may hold one run only, but be safe)
skipped=$(awk '
  /tests passed, [0-9]+ tests? failed out of/ { n = 0; inlist = 0 }
  /^The following tests did not run:/ { inlist = 1; next }
  inlist && /^[ \t]+[0-9]+ - .* \(Skipped\)[ \t]*$/ { n++; next }
  inlist && !/^[ \t]+[0-9]+ - / { inlist = 0 }
  END { print n + 0 }' "$log")
echo "$((total - failed - skipped)) $failed $skipped"
