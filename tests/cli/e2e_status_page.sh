#!/usr/bin/env bash
# e2e_status_page.sh: the status page of a real agent in a fleet, rendered by headless Chromium
# (tests/cli/page_check.py drives it through the DevTools protocol over a pipe).
#
# Fleet on a file:// store: a publish-only agent (ci/pub), region us-west-2 with instances a1, a2,
# a3 and eu-central-1 with b1, b2; four versions published; a2 paused after version 3; b2 killed
# (stale). The page of a1, at a desktop (1280x900) and a phone (390x844) viewport, must show:
#   - one row per region with its summary (us-west-2 "paused 1/3"), one row per instance with the
#     state, version, short digest and heartbeat age /v1/drift gives it, the paused instance at
#     its version with its reason, b2 stale, a1 marked as this agent;
#   - the publisher in the publishers table and nowhere among the regions;
#   - the timeline: one column per version, one cell per instance and version it applied, at the
#     time its report says (recent_applies), and no cell where it did not apply (a2, version 4);
#   - no card, and nothing in a card, reaching outside its box (tests/cli/page/layout.js measures
#     every element; page/probe.js proves the check sees an overflow when there is one), no
#     sideways scrolling of the page, no table scrolling at desktop width, no script error.
# A screenshot of each viewport is kept in the work directory (RS_E2E_KEEP=1 keeps it on success).
# Loud SKIP without chromium (fails with RS_REQUIRE_SERVERS=1). About 30 s.
source "$(dirname "$0")/lib.bash" "$@"

if ! command -v chromium >/dev/null; then
  e2e_required && fail "chromium required (scripts/deps.sh test installs it)"
  skip_test "chromium is not installed (scripts/deps.sh test installs it)"
fi
PAGE=$SRC/tests/cli/page
store=$(fresh_store file page)
mkdir -p "$WORK/src"
"$GEN" --seed 12 --projects 3 --out "$WORK/src/registry.db" 2>/dev/null || fail "regsync-gen failed"
mutate_src() {
  "$GEN" mutate --seed "$1" --changes 3 "$WORK/src/registry.db" "$WORK/src/next.db" 2>/dev/null || fail "mutate failed"
  mv -f "$WORK/src/next.db" "$WORK/src/registry.db"
}
common=(poll_interval=200ms heartbeat_interval=1s stale_after=3s)
# the publisher: a publish-only agent (no target)
agent_yaml "$WORK/pub.yaml" region=ci instance=pub "source=file://$WORK/src/registry.db" publish=true \
  "state_dir=$WORK/pubstate" "${common[@]}" 'admin={ listen: "" }'
e2e_bg pub env REGSYNC_STORE="$store" "$REGSYNCD" run --config "$WORK/pub.yaml"
declare -A PORT PID
start_agent() { # start_agent REGION INSTANCE
  local region=$1 inst=$2
  PORT[$inst]=$(free_port)
  mkdir -p "$WORK/$inst/feast"
  agent_yaml "$WORK/$inst.yaml" "region=$region" "instance=$inst" "target=file://$WORK/$inst/feast/registry.db" \
    "state_dir=$WORK/$inst/state" "${common[@]}" "admin={ listen: \"127.0.0.1:${PORT[$inst]}\" }"
  e2e_bg "$inst" env REGSYNC_STORE="$store" "$REGSYNCD" run --config "$WORK/$inst.yaml"
  PID[$inst]=$E2E_LAST_PID
}
INSTANCES=(us-west-2/a1 us-west-2/a2 us-west-2/a3 eu-central-1/b1 eu-central-1/b2)
for ri in "${INSTANCES[@]}"; do start_agent "${ri%/*}" "${ri#*/}"; done
A=http://127.0.0.1:${PORT[a1]}
for ri in "${INSTANCES[@]}"; do wait_for 10 "$ri admin API" http_is 200 "http://127.0.0.1:${PORT[${ri#*/}]}/healthz"; done
# every instance at VERSION, as each says itself
all_at() { # all_at VERSION REGION/INSTANCE...
  local v=$1 ri; shift
  for ri in "$@"; do
    [[ $(curl -s "http://127.0.0.1:${PORT[${ri#*/}]}/v1/status" | jq .applied_version) == "$v" ]] || return 1
  done
}

step "versions 1 to 3 everywhere, a2 paused, version 4, b2 killed"
wait_for 20 "version 1 everywhere" all_at 1 "${INSTANCES[@]}"
mutate_src 21
wait_for 20 "version 2 everywhere" all_at 2 "${INSTANCES[@]}"
mutate_src 22
wait_for 20 "version 3 everywhere" all_at 3 "${INSTANCES[@]}"
expect_eq "pause a2" 200 "$(http_code "http://127.0.0.1:${PORT[a2]}/v1/pause" -X POST)"
mutate_src 23
wait_for 20 "version 4 on the others" all_at 4 us-west-2/a1 us-west-2/a3 eu-central-1/b1 eu-central-1/b2
kill -9 "${PID[b2]}"
view_ready() {
  curl -s "$A/v1/drift" | jq -e '(.regions[] | select(.region == "us-west-2") | .summary == "paused 1/3")
    and ([.regions[].instances[] | select(.instance == "b2")][0].state == "stale")
    and (.head.version == 4) and ([.publishers[] | select(.instance == "pub")] | length == 1)' >/dev/null
}
wait_for 20 "a1's view: us-west-2 paused 1/3, b2 stale, the publisher listed" view_ready

render() { # render NAME WIDTH HEIGHT: $WORK/NAME.json (and .png), drift read just before
  curl -s "$A/v1/drift" >"$WORK/$1.drift.json"
  timeout 120 "$PY" "$SRC/tests/cli/page_check.py" "$A/" --out "$WORK/$1.json" --width "$2" --height "$3" \
    --wait 'Number(document.body.dataset.refreshes) >= 1' --eval "layout=$PAGE/layout.js" \
    --eval "probe=$PAGE/probe.js" --eval "page=$PAGE/extract.js" --screenshot "$WORK/$1.png" ||
    { cat "$WORK/$1.json" 2>/dev/null; fail "page_check.py failed at ${2}x$3"; }
  say "rendered ${2}x$3 in chromium: $(jq -c '{cards: .results.layout.cards, elements: .results.layout.elements}' "$WORK/$1.json")"
}
# q NAME JQ: jq over {page: the page as extracted, drift: /v1/drift read just before rendering}
q() { jq -n -r --slurpfile p "$WORK/$1.json" --slurpfile d "$WORK/$1.drift.json" "\$p[0] as \$r | \$d[0] as \$drift | $2"; }
qe() { local what=$1; shift; q "$@" | grep -qx true || fail "$what"; }

for vp in "desktop 1280 900" "phone 390 844"; do
  read -r name w h <<<"$vp"
  step "the page at ${w}x$h ($name)"
  render "$name" "$w" "$h"
  expect_eq "$name: script errors" "[]" "$(q "$name" '$r.exceptions + $r.console_errors | tostring')"
  expect_eq "$name: the error banner" "" "$(q "$name" '$r.results.page.errors')"

  # the regions x instances table
  expect_eq "$name: region rows" "eu-central-1 us-west-2" "$(q "$name" '$r.results.page.regions | keys | join(" ")')"
  expect_eq "$name: us-west-2 summary" "paused 1/3" "$(q "$name" '$r.results.page.regions["us-west-2"].cells[1].text | sub("^\\W+"; "")')"
  qe "$name: us-west-2 summary drawn as paused" "$name" '$r.results.page.regions["us-west-2"].cells[1].cls | test("state-paused")'
  expect_eq "$name: instance rows" "$(printf '%s\n' "${INSTANCES[@]}" | sort | paste -sd' ')" \
    "$(q "$name" '$r.results.page.instances | keys | join(" ")')"
  # every instance row says what the drift view says
  q "$name" '[$drift.regions[].instances[] | . as $i | ($i.region + "/" + $i.instance) as $k |
      $r.results.page.instances[$k].cells as $c |
      select(($c[1].text | sub("^\\W+"; "")) != $i.state or ($c[1].cls | test("state-" + $i.state) | not)
             or $c[2].text != ($i.applied_version | tostring) or $c[3].text != $i.applied_digest[0:12]
             or ($c[4].text | test("^[0-9]+ (s|min) ago$") | not)) | {k: $k, cells: $c, state: $i.state}]' >"$WORK/$name.mismatch.json"
  expect_eq "$name: instance rows that differ from /v1/drift" "[]" "$(jq -c . "$WORK/$name.mismatch.json")"
  expect_eq "$name: a2 (paused) at" "paused 3" "$(q "$name" '$r.results.page.instances["us-west-2/a2"].cells | "\(.[1].text | sub("^\\W+"; "")) \(.[2].text)"')"
  qe "$name: a2's reason says paused" "$name" '$r.results.page.instances["us-west-2/a2"].cells[7].text | test("paused at version 3")'
  qe "$name: b2 drawn stale" "$name" '$r.results.page.instances["eu-central-1/b2"].cls | test("stale")'
  qe "$name: a1 marked as this agent" "$name" '$r.results.page.instances["us-west-2/a1"].cls | test("self")'

  # publishers apart
  expect_eq "$name: publishers" "ci/pub" "$(q "$name" '$r.results.page.publishers | keys | join(" ")')"
  expect_eq "$name: the publisher's state and version" "publishing 4" \
    "$(q "$name" '$r.results.page.publishers["ci/pub"].cells | "\(.[1].text | sub("^\\W+"; "")) \(.[2].text)"')"
  expect_eq "$name: the publisher among the regions" "false" "$(q "$name" '$r.results.page.regions | has("ci")')"

  # the timeline: a cell where recent_applies has the version, at its time; none elsewhere
  expect_eq "$name: timeline versions" "[1,2,3,4]" "$(q "$name" '$r.results.page.timeline.versions | tostring')"
  q "$name" '[$drift.regions[].instances[] | . as $i | ($i.region + "/" + $i.instance) as $k |
      ($i.recent_applies | map({key: (.version | tostring), value: .at}) | from_entries) as $at |
      ($r.results.page.timeline.rows[$k] // {}) as $row | $r.results.page.timeline.versions[] | tostring | . as $v |
      select(if $at[$v] then ($row[$v].text | startswith($at[$v][11:19])) | not
             else ($row[$v].cls | test("missing")) | not end) | {k: $k, v: $v, at: $at[$v], cell: $row[$v]}]' >"$WORK/$name.timeline.json"
  expect_eq "$name: timeline cells that differ from recent_applies" "[]" "$(jq -c . "$WORK/$name.timeline.json")"
  qe "$name: a2 has no version 4 in the timeline" "$name" '$r.results.page.timeline.rows["us-west-2/a2"]["4"].cls | test("missing")'
  qe "$name: each version's first apply marked" "$name" \
    '[$r.results.page.timeline.versions[] | tostring as $v | [$r.results.page.timeline.rows[][$v] | select(.cls | test("first"))] | length >= 1] | all'

  # geometry
  expect_eq "$name: layout problems" "[]" "$(q "$name" '$r.results.layout.problems | tostring')"
  qe "$name: the layout check measured the cards" "$name" '$r.results.layout.cards >= 5 and $r.results.layout.elements >= 50'
  qe "$name: the layout check sees an injected overflow" "$name" \
    '[$r.results.probe.problems[] | select(.element // "" | test("overflow-probe"))] | length >= 1'
done
expect_eq "desktop: tables scrolling inside their cards" "[]" "$(q desktop '$r.results.layout.scrolling | tostring')"
say "PASS"
