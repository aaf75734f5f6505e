#!/usr/bin/env bash
# scripts/demo.sh: the main job. Builds regsync and runs a local federation on file://
#   - a global store: a directory, where "Feast" writes registry.db and regsync keeps its log
#   - one publisher (regsyncd publish --once, as a CI step after `feast apply` would run it)
#   - two regional agents (regsyncd run): us-west-2 (projects proj_00, proj_01) and
#     eu-central-1 (every project except proj_00: a data-sovereignty filter)
# It publishes a generated registry, applies a change, shows both regions' positions and the
# plan-style diff of the change, then pauses one region, publishes again and shows the drift.
# Everything lives in ${RS_DEMO_DIR:-/tmp/regsync-demo}; the agents are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "prerequisites and build"
scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target regsyncd regsync-dump regsync-gen >/dev/null
bin=$root/build
regsyncd=$bin/daemon/regsyncd dump=$bin/tools/regsync-dump gen=$bin/bench/regsync-gen

demo=${RS_DEMO_DIR:-/tmp/regsync-demo}
rm -rf "$demo"
mkdir -p "$demo/global" "$demo/us-west-2/feast" "$demo/eu-central-1/feast"
export REGSYNC_ADMIN_TOKEN=demo-token-$$
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

cat >"$demo/publisher.yaml" <<YAML
region: global-ci
store: file://$demo/global
source: registry.db
publish: true
state_dir: $demo/publisher-state
snapshot_every: 10
admin: { listen: "" }
YAML
port=8471
for region in us-west-2 eu-central-1; do
  if [[ $region == us-west-2 ]]; then filt='{ include_projects: ["proj_00", "proj_01"], exclude_projects: [] }'
  else filt='{ include_projects: ["*"], exclude_projects: ["proj_00"] }'; fi
  cat >"$demo/$region.yaml" <<YAML
region: $region
store: file://$demo/global
target: file://$demo/$region/feast/registry.db
state_dir: $demo/$region/state
poll_interval: 500ms
heartbeat_interval: 2s
filters: $filt
admin: { listen: "127.0.0.1:$port" }
YAML
  port=$((port + 1))
done

say "feast apply (simulated): a generated registry, 3 projects, written to the global store"
"$gen" --seed 7 --projects 3 --out "$demo/global/registry.db"
"$dump" summary "$demo/global/registry.db" | sed -n 1,5p

say "publish: registry.db becomes version 1 of the log"
"$regsyncd" publish --once --config "$demo/publisher.yaml"

say "two regional agents start (admin APIs on 127.0.0.1:8471 and :8472)"
for region in us-west-2 eu-central-1; do
  "$regsyncd" --config "$demo/$region.yaml" >"$demo/$region/agent.log" 2>&1 &
  pids+=($!)
done
wait_version() {  # wait_version N: until both regions have applied N (the admin API long-poll)
  for p in 8471 8472; do
    curl -sf "http://127.0.0.1:$p/v1/wait?version=$1&regions=us-west-2,eu-central-1&timeout=30s" >/dev/null ||
      { echo "region on port $p did not reach version $1; its log:"; tail -n 20 "$demo"/*/agent.log; exit 1; }
  done
}
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:8471/healthz >/dev/null && curl -sf http://127.0.0.1:8472/healthz >/dev/null && break; sleep 0.1; done
wait_version 1
for region in us-west-2 eu-central-1; do
  echo "$region: projects in its copy (regsync-dump summary):"
  "$dump" summary "$demo/$region/feast/registry.db" | sed -n '/^PROJECT/,$p'
done

say "feast apply again: 3 objects change; publish makes version 2"
"$gen" mutate --seed 11 --changes 3 "$demo/global/registry.db" "$demo/global/registry.new"
mv "$demo/global/registry.new" "$demo/global/registry.db"
"$regsyncd" publish --once --config "$demo/publisher.yaml"
wait_version 2

say "the change, as a Feast plan (regsync-dump diff --versions 1 2)"
"$dump" diff --versions 1 2 "file://$demo/global" || true

say "both regions' positions (regsync-dump regions)"
"$dump" regions "file://$demo/global"

say "drift: pause eu-central-1, then publish version 3"
curl -sf -X POST -H "Authorization: Bearer $REGSYNC_ADMIN_TOKEN" http://127.0.0.1:8472/v1/pause >/dev/null
"$gen" mutate --seed 12 --changes 2 "$demo/global/registry.db" "$demo/global/registry.new"
mv "$demo/global/registry.new" "$demo/global/registry.db"
"$regsyncd" publish --once --config "$demo/publisher.yaml"
curl -sf "http://127.0.0.1:8471/v1/wait?version=3&regions=us-west-2&timeout=30s" >/dev/null

say "us-west-2 materializes (its Feast writes a feature view's meta): a regional fact, kept"
"$gen" mutate --seed 13 --changes 1 "$demo/us-west-2/feast/registry.db" "$demo/us-west-2/feast/registry.edited"
mv "$demo/us-west-2/feast/registry.edited" "$demo/us-west-2/feast/registry.db"
sleep 3   # the next heartbeat re-reads the copy
"$dump" regions "file://$demo/global" || true   # exit 1: not every region is in sync

say "someone edits a definition in us-west-2's copy by hand: modified"
"$gen" mutate --seed 17 --changes 1 "$demo/us-west-2/feast/registry.db" "$demo/us-west-2/feast/registry.edited"
mv "$demo/us-west-2/feast/registry.edited" "$demo/us-west-2/feast/registry.db"
sleep 3
"$dump" regions "file://$demo/global" || true
curl -s http://127.0.0.1:8471/metrics | grep -E '^regsync_(applied_version|lag_versions|drift_objects)'

say "done: files are in $demo (configs, global store, each region's registry.db, state and agent.log)"
