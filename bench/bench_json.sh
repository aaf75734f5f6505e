#!/usr/bin/env bash
# bench_json.sh: `regsync-dump json --full` and project-mode `regsync-dump json` beside
# `protoc --decode` on the same file, for two corpora (generated, and real-shaped: copies of real
# fixtures made by `regsync-gen inflate`), at each size. Prints CPU (user + sys), wall, peak RSS
# (from /usr/bin/time -v) and the ratios to the targets of issue 13:
#   CPU <= 0.5 x protoc --decode; peak RSS <= 1.5 x registry + 20 MB.
# Never fails on a timing. With BEFORE=/path/to/old/regsync-dump the old binary runs beside the
# new one on every case (side by side in one run).
#
#   bench/bench_json.sh                       # builds build-bench, sizes 10 and 100 MB
#   SIZES="1 10" BEFORE=/tmp/regsync-dump-old bench/bench_json.sh
#   NO_BUILD=1 BUILD_DIR=build bench/bench_json.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$here/build-bench}
SIZES=${SIZES:-"10 100"}
SHARED=${RS_SHARED_DIR:-$here/../shared}
FIX=$SHARED/fixtures/registries
REAL_INPUTS=${REAL_INPUTS:-"$FIX/Instawork__feast__data_registry.db $FIX/feast-dev__feast__ui_public_registry.db"}
WORK=${WORK:-$(mktemp -d /tmp/bench-json.XXXXXX)}
BEFORE=${BEFORE:-}

if [ -z "${NO_BUILD:-}" ]; then
  cmake -S "$here" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD_DIR" -j2 --target regsync-dump regsync-gen >/dev/null
fi
DUMP=$BUILD_DIR/tools/regsync-dump
GEN=$BUILD_DIR/bench/regsync-gen
command -v protoc >/dev/null || { echo "bench_json: protoc not found (apt-get install protobuf-compiler)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench_json: /usr/bin/time not found (apt-get install time)" >&2; exit 2; }

TIMEOUT=${TIMEOUT:-900}
# prints "cpu_s wall_s peak_MiB" of one command (stdout to /dev/null); a run stopped after
# TIMEOUT seconds prints ">cpu_s" (the figures up to then)
measure() {
  local out rc=0; out=$(mktemp "$WORK/time.XXXXXX")
  /usr/bin/time -v -o "$out" timeout "$TIMEOUT" "$@" >/dev/null || rc=$?
  awk -F': ' -v rc="$rc" '/User time/{u=$2} /System time/{s=$2} /Elapsed \(wall/{w=$2} /Maximum resident/{m=$2}
    END{n=split(w,a,":"); ws=(n==3)?a[1]*3600+a[2]*60+a[3]:a[1]*60+a[2];
        printf "%s%.2f %.2f %.1f\n", (rc==124)?">":(rc!=0)?"FAILED:":"", u+s, ws, m/1024}' "$out"
  rm -f "$out"
}

echo "bench_json: $(date -u +%FT%TZ) $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg), work dir $WORK"
printf '%-10s %5s %-22s %8s %8s %9s %9s %12s\n' corpus MB work cpu_s wall_s peak_MiB cpu/protoc rss_target
for size in $SIZES; do
  for corpus in generated real; do
    f=$WORK/$corpus-${size}mb.db
    if [ ! -f "$f" ]; then
      if [ "$corpus" = generated ]; then
        "$GEN" --size "${size}MB" --out "$f" 2>/dev/null
      else
        # shellcheck disable=SC2086
        "$GEN" inflate --size "${size}MB" --out "$f" $REAL_INPUTS 2>/dev/null
      fi
    fi
    mib=$(awk -v b="$(stat -L -c %s "$f")" 'BEGIN{printf "%.1f", b/1048576}')
    target=$(awk -v m="$mib" 'BEGIN{printf "%.1f", 1.5*m+20}')
    read -r pc pw pm < <(measure protoc --decode=feast.core.Registry -I"$here/proto" "$here/proto/feast/core/Registry.proto" <"$f")
    printf '%-10s %5s %-22s %8s %8s %9s %9s %12s\n' "$corpus" "$size" "protoc --decode" "$pc" "$pw" "$pm" "1.00" "-"
    for bin in ${BEFORE:+before} after; do
      d=$DUMP; [ "$bin" = before ] && d=$BEFORE
      for mode in full project; do
        args=(json); [ "$mode" = full ] && args+=(--full)
        read -r c w m < <(measure "$d" "${args[@]}" "$f")
        ratio=$(awk -v c="${c#>}" -v p="$pc" 'BEGIN{if (p>0) printf "%.2f", c/p; else print "-"}')
        met=$(awk -v m="$m" -v t="$target" 'BEGIN{print (m<=t)?"met":"not met"}')
        printf '%-10s %5s %-22s %8s %8s %9s %9s %12s\n' "$corpus" "$size" "$bin json${mode:+ $mode}" "$c" "$w" "$m" "$ratio" "$met (<=$target)"
      done
    done
  done
done
[ -n "${KEEP:-}" ] || rm -rf "$WORK"
