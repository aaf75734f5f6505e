#!/usr/bin/env bash
# scripts/check-headers.sh [SOURCE_DIR]: the header rule of docs/architecture.md, run by every build
# (target check_headers in CMakeLists.txt). A header named *_impl.h is private to its folder: only
# files of that folder include it, and the white-box tests under tests/ (which test a library's
# internals on purpose). Anything else (another library, tools/, bench/) includes public headers
# only. Exits 1 listing every violation.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
bad=0
declare -A owner
while IFS= read -r h; do owner[$(basename "$h")]=$(dirname "$h"); done < <(git ls-files '*_impl.h' 2>/dev/null || find . -name '*_impl.h' -not -path './build*' | sed 's|^\./||')
while IFS= read -r f; do
  dir=$(dirname "$f")
  case $f in tests/*) continue ;; esac
  while IFS= read -r inc; do
    o=${owner[$inc]:-}
    [[ -n $o && $o != "$dir" ]] || continue
    echo "check-headers: $f includes $inc, private to $o/ (use its public header)" >&2
    bad=1
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*_impl\.h\)".*/\1/p' "$f")
done < <(git ls-files '*.c' '*.h' 2>/dev/null || find . \( -name '*.c' -o -name '*.h' \) -not -path './build*' | sed 's|^\./||')
exit $bad
