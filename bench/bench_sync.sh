#!/usr/bin/env bash
# bench/bench_sync.sh: builds bench_sync and runs it on every backend that is available here
# (file:// always; S3, Postgres and MySQL when scripts/s3-server.sh / pg-server.sh / mysql-server.sh
# are running),
# printing one report. Not a test: it prints figures beside targets and baselines, never fails on
# a timing. About 8-10 minutes on 2 cores with the defaults; docs/benchmarks.md explains the output.
#
#   bench/bench_sync.sh [bench_sync flags...]     e.g. --quick, --sizes 1,10 --agents 2,8
#
# Environment: BUILD_DIR (default build-bench, RelWithDebInfo), NO_BUILD=1 to use the binary as
# it is, START_SERVERS=1 to start the test servers when they are not running.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
bin=$build/bench/bench_sync

if [[ ${NO_BUILD:-0} != 1 ]]; then
  if [[ ! -f $build/CMakeCache.txt ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  cmake --build "$build" -j2 --target bench_sync >/dev/null
fi
[[ -x $bin ]] || { echo "bench_sync.sh: $bin is missing (build it or unset NO_BUILD)" >&2; exit 1; }

backends=file
server() { # server NAME SCRIPT: adds NAME when its test server answers (or was started)
  local name=$1 script=$root/scripts/$2
  if ! "$script" status >/dev/null 2>&1 && [[ ${START_SERVERS:-0} == 1 ]]; then
    "$script" start >/dev/null 2>&1 || true
  fi
  if "$script" status >/dev/null 2>&1; then
    eval "$("$script" env)"
    backends+=,$name
  else
    echo "bench_sync.sh: $name skipped: the test server is not running ($script start, or START_SERVERS=1)"
  fi
}
server s3 s3-server.sh
server pg pg-server.sh
server mysql mysql-server.sh

# RGW frees deleted objects only at its garbage collection (hours later by default); the test
# server keeps everything in a 2 GiB memstore shared by every test, and one run here writes and
# deletes ~0.5 GB. Reclaim it when the run ends (also when interrupted).
s3gc() {
  local dir=${RS_S3_DIR:-/tmp/regsync-s3}
  if [[ $backends == *s3* && -f $dir/ceph.conf ]] && command -v radosgw-admin >/dev/null; then
    timeout 120 radosgw-admin -c "$dir/ceph.conf" -n client.admin gc process --include-all >/dev/null 2>&1 ||
      echo "bench_sync.sh: RGW garbage collection failed; deleted objects hold memory until RGW's own GC" >&2
  fi
}
trap s3gc EXIT

echo "bench_sync.sh: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') on $(nproc) cores," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg); backends $backends"
start=$SECONDS
"$bin" --backends "$backends" "$@"
echo "bench_sync.sh: done in $((SECONDS - start)) s"
