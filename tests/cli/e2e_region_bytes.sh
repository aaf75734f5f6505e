#!/usr/bin/env bash
# e2e_region_bytes.sh BUILD_DIR [SHARED_DIR]: with the real binaries, a region's registry.db is the
# published source byte for byte (`sha256sum`), on file://, S3 and PostgreSQL: every fixture in
# turn (each a whole-registry replacement, published with --allow-destructive), then a generated registry, Feast-like edits and a
# reorder; `regsyncd publish --once` after each source, `regsyncd sync --once` for the region, and
# at the end a new region that bootstraps from a snapshot. 17 s per backend at load 20 (PostgreSQL
# 48 s); process start-up dominates.
source "$(dirname "$0")/lib.bash" "$@"

sha() { sha256sum "$1" | cut -d' ' -f1; }

run_backend() {
  local backend=$1 d=$WORK/$1 store n=0 same=0 out
  step "$backend: publish a sequence of sources, sync a region after each, compare the bytes"
  store=$(fresh_store "$backend" bytes)
  E2E_STORES+=("$store")
  mkdir -p "$d/feast" "$d/late"
  agent_yaml "$d/pub.yaml" region=bytes-pub "source=file://$d/src.db" publish=true "state_dir=$d/pubstate" \
    snapshot_every=5 'admin={ listen: "" }'
  agent_yaml "$d/region.yaml" region=bytes-region "target=file://$d/feast/registry.db" "state_dir=$d/state" \
    'admin={ listen: "" }'
  local sources=()
  if [[ -n $E2E_SHARED && -d $E2E_SHARED/fixtures/registries ]]; then
    sources+=("$E2E_SHARED"/fixtures/registries/*.db)
  else
    e2e_required && fail "RS_REQUIRE_SERVERS=1 or CI=true but the fixtures are missing"
    skip_part "fixtures" "no shared dir (the generated registries still run)"
  fi
  "$GEN" --seed 21 --size 200KB --out "$d/g0.db" 2>/dev/null || fail "regsync-gen failed"
  "$GEN" mutate --seed 22 --changes 8 "$d/g0.db" "$d/g1.db" 2>/dev/null || fail "mutate failed"
  "$GEN" shuffle --seed 23 "$d/g1.db" "$d/g2.db" 2>/dev/null || fail "shuffle failed"
  "$GEN" mutate --seed 24 --changes 8 "$d/g2.db" "$d/g3.db" 2>/dev/null || fail "mutate failed"
  sources+=("$d/g0.db" "$d/g1.db" "$d/g3.db")
  local last=
  for s in "${sources[@]}"; do
    cp "$s" "$d/src.db"
    out=$(rsd "$store" publish --once --allow-destructive --config "$d/pub.yaml" 2>>"$d/publish.err") ||
      { show_log "$d/publish.err"; fail "$backend: publish --once failed for $(basename "$s")"; }
    [[ $out == "published version "* ]] || continue # the same content as the latest version
    last=$s
    rsd "$store" sync --once --config "$d/region.yaml" >/dev/null 2>>"$d/sync.err" ||
      { show_log "$d/sync.err"; fail "$backend: sync --once failed after $(basename "$s")"; }
    n=$((n + 1))
    if [[ $(sha "$d/feast/registry.db") == "$(sha "$s")" ]]; then
      same=$((same + 1))
    else
      fail "$backend: after publishing $(basename "$s") (${out##* }) the region's file is not the source's bytes"
    fi
  done
  say "$backend: $same of $n published versions: the region's sha256 is the source's"
  agent_yaml "$d/late.yaml" region=bytes-late "target=file://$d/late/registry.db" "state_dir=$d/latestate" \
    'admin={ listen: "" }'
  rsd "$store" sync --once --config "$d/late.yaml" >/dev/null 2>>"$d/sync.err" ||
    { show_log "$d/sync.err"; fail "$backend: the new region's sync --once failed"; }
  expect_eq "$backend: a new region (snapshot, then the log) has the source's sha256" "$(sha "$last")" "$(sha "$d/late/registry.db")"
  say "$backend: PASS"
}

e2e_backends
for backend in "${E2E_BACKEND_LIST[@]}"; do run_backend "$backend"; done
