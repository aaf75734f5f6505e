#!/usr/bin/env bash
# grafana_dashboard.sh: docker/grafana/regsync.json against what real agents serve.
#
#   1. the dashboard's structure: unique panel ids, every panel titled, on the 24-column grid,
#      on the ${datasource} variable, with queries; the region variable;
#   2. every query (panels and variables) names only metrics that real agents serve on /metrics
#      (a fleet on a file:// store: a publish-only agent, us-west-2 with a1 and a2 (paused, behind),
#      eu-central-1 with b1; every metric name of every scrape), and no unknown function; a copy
#      with a made-up metric name must be refused (negative control);
#   3. with a real Prometheus server (Debian package prometheus) scraping those agents every
#      second, every panel query is valid PromQL and returns data: no panel stays empty on a
#      live fleet.
# Loud SKIP of part 3 without the prometheus binary (fails with RS_REQUIRE_SERVERS=1). About 30 s.
source "$(dirname "$0")/lib.bash" "$@"

DASH=$SRC/docker/grafana/regsync.json
"$PY" -c 'import json' || fail "python3 is needed"

step "1. structure"
"$PY" - "$DASH" <<'PY' || fail "the dashboard's structure"
import json, sys
d = json.load(open(sys.argv[1]))
def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get('panels', []))
ps = list(panels(d['panels']))
ids = [p['id'] for p in ps]
problems = []
if len(ids) != len(set(ids)):
    problems.append('duplicate panel ids')
vars_ = {v['name']: v for v in d['templating']['list']}
if vars_.get('datasource', {}).get('type') != 'datasource' or vars_['datasource'].get('query') != 'prometheus':
    problems.append('no datasource variable of type prometheus')
if 'region' not in vars_:
    problems.append('no region variable')
n = 0
for p in ps:
    g = p.get('gridPos', {})
    if not p.get('title'):
        problems.append(f'panel {p["id"]}: no title')
    if g.get('x', 0) + g.get('w', 0) > 24 or g.get('w', 0) <= 0 or g.get('h', 0) <= 0:
        problems.append(f'panel {p["id"]} {p.get("title")}: gridPos {g} outside the 24 columns')
    if p['type'] == 'row':
        continue
    n += 1
    if p.get('datasource', {}).get('uid') != '${datasource}':
        problems.append(f'panel {p["title"]}: datasource is not ${{datasource}}')
    ts = p.get('targets', [])
    if not ts or any(not t.get('expr') for t in ts):
        problems.append(f'panel {p["title"]}: no query')
    if len({t.get('refId') for t in ts}) != len(ts):
        problems.append(f'panel {p["title"]}: duplicate refIds')
    if not p.get('description'):
        problems.append(f'panel {p["title"]}: no description')
if problems:
    sys.exit('\n'.join(problems))
print(f'{n} panels, {sum(len(p.get("targets", [])) for p in ps)} queries')
PY

step "a fleet: publisher, us-west-2 (a1, a2 paused), eu-central-1 (b1)"
store=$(fresh_store file grafana)
mkdir -p "$WORK/src"
"$GEN" --seed 8 --projects 2 --out "$WORK/src/registry.db" 2>/dev/null || fail "regsync-gen failed"
declare -A PORT
start_agent() { # start_agent REGION INSTANCE [KEY=VALUE...]
  local region=$1 inst=$2; shift 2
  PORT[$inst]=$(free_port)
  mkdir -p "$WORK/$inst/feast"
  agent_yaml "$WORK/$inst.yaml" "region=$region" "instance=$inst" "state_dir=$WORK/$inst/state" poll_interval=200ms \
    heartbeat_interval=1s stale_after=3s "admin={ listen: \"127.0.0.1:${PORT[$inst]}\" }" "$@"
  e2e_bg "$inst" env REGSYNC_STORE="$store" "$REGSYNCD" run --config "$WORK/$inst.yaml"
}
start_agent ci pub "source=file://$WORK/src/registry.db" publish=true
start_agent us-west-2 a1 "target=file://$WORK/a1/feast/registry.db"
start_agent us-west-2 a2 "target=file://$WORK/a2/feast/registry.db"
start_agent eu-central-1 b1 "target=file://$WORK/b1/feast/registry.db"
AGENTS=(pub a1 a2 b1)
url() { echo "http://127.0.0.1:${PORT[$1]}"; }
for i in "${AGENTS[@]}"; do wait_for 10 "$i admin API" http_is 200 "$(url $i)/healthz"; done
applied() { [[ $(curl -s "$(url "$1")/v1/status" | jq .applied_version) == "$2" ]]; }
for i in a1 a2 b1; do wait_for 20 "$i at version 1" applied $i 1; done
expect_eq "pause a2" 200 "$(http_code "$(url a2)/v1/pause" -X POST)"
"$GEN" mutate --seed 3 --changes 3 "$WORK/src/registry.db" "$WORK/src/next.db" 2>/dev/null && mv -f "$WORK/src/next.db" "$WORK/src/registry.db"
for i in a1 b1; do wait_for 20 "$i at version 2" applied $i 2; done
curl -s "$(url a1)/v1/drift" | jq -e '.regions[] | select(.region == "us-west-2") | .summary == "paused 1/2"' >/dev/null ||
  wait_for 10 "a1's view: us-west-2 paused 1/2" bash -c "curl -s '$(url a1)/v1/drift' | jq -e '.regions[] | select(.region == \"us-west-2\") | .summary == \"paused 1/2\"'"
for i in "${AGENTS[@]}"; do curl -s "$(url $i)/v1/status" >/dev/null; curl -s -o /dev/null "$(url $i)/v1/wait?version=1&regions=all&timeout=1s"; done

step "2. every query names only metrics the agents serve"
for i in "${AGENTS[@]}"; do curl -sf "$(url $i)/metrics" >"$WORK/metrics.$i.txt" || fail "scraping $i"; done
cat "$WORK"/metrics.*.txt | sed -n 's/^# TYPE \([a-zA-Z_:][a-zA-Z0-9_:]*\) .*/\1/p; s/^\([a-zA-Z_:][a-zA-Z0-9_:]*\)[{ ].*/\1/p' |
  sort -u >"$WORK/served.txt"
say "the agents serve $(wc -l <"$WORK/served.txt") metric names"
cat >"$WORK/check.py" <<'PY'
import json, re, sys
dash, served = json.load(open(sys.argv[1])), set(open(sys.argv[2]).read().split())
FUNCS = {"abs", "absent", "avg", "avg_over_time", "ceil", "changes", "clamp_max", "clamp_min", "count", "count_over_time",
         "delta", "deriv", "floor", "histogram_quantile", "idelta", "increase", "irate", "label_replace", "label_values",
         "max", "max_over_time", "min", "min_over_time", "quantile", "rate", "resets", "round", "scalar", "sort", "sort_desc",
         "sum", "sum_over_time", "time", "timestamp", "topk", "bottomk", "vector", "last_over_time", "stddev"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
def queries():
    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))
    for p in panels(dash["panels"]):
        for t in p.get("targets", []):
            yield p["title"], t["expr"]
    for v in dash["templating"]["list"]:
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if v.get("type") == "query" and q:
            yield "variable " + v["name"], q
bad, names, n = [], set(), 0
for where, q in queries():
    n += 1
    s = re.sub(r'"[^"]*"', '""', q)                             # strings
    s = re.sub(r"\{[^}]*\}", "", s)                              # label matchers
    s = re.sub(r"\[[^\]]*\]", "", s)                             # ranges
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", s)  # label lists
    s = re.sub(r"\$\w+", "", s)
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", s):
        w = m.group(0)
        after = s[m.end():].lstrip()
        if w in FUNCS and (after.startswith("(") or after.startswith("by") or after.startswith("without")):
            continue                                             # sum(...), sum by (...) (...)
        if after.startswith("("):
            if w not in KEYWORDS:
                bad.append(f"{where}: unknown function {w}")
        elif w in KEYWORDS:
            continue
        elif w == "region" and where.startswith("variable"):
            continue                                             # label_values(metric, LABEL)
        elif w not in served:
            bad.append(f"{where}: {w} is not served by the agents")
        else:
            names.add(w)
if bad:
    sys.exit("\n".join(bad))
print(f"{n} queries use {len(names)} metrics, all served")
PY
"$PY" "$WORK/check.py" "$DASH" "$WORK/served.txt" >"$WORK/check.out" 2>&1 || { cat "$WORK/check.out"; fail "queries name metrics the agents do not serve"; }
say "$(cat "$WORK/check.out")"
# negative control: a made-up metric is refused
jq '.panels[1].targets[0].expr = "sum(regsync_made_up_total)"' "$DASH" >"$WORK/bad.json"
"$PY" "$WORK/check.py" "$WORK/bad.json" "$WORK/served.txt" >"$WORK/bad.out" 2>&1 && fail "negative control: a made-up metric was accepted"
grep -q 'regsync_made_up_total is not served' "$WORK/bad.out" || { cat "$WORK/bad.out"; fail "negative control: wrong complaint"; }
say "negative control: a made-up metric is refused"

step "3. a real Prometheus scrapes the agents: every panel returns data"
if ! command -v prometheus >/dev/null; then
  e2e_required && fail "prometheus required (scripts/deps.sh test)"
  skip_part "the panel queries on a real Prometheus" "prometheus is not installed (scripts/deps.sh test)"
  exit 0
fi
PP=$(free_port)
{
  echo "global: { scrape_interval: 1s, evaluation_interval: 1s }"
  echo "scrape_configs:"
  echo "  - job_name: regsync"
  echo "    static_configs:"
  echo "      - targets: [$(for i in "${AGENTS[@]}"; do printf '"127.0.0.1:%s",' "${PORT[$i]}"; done | sed 's/,$//')]"
} >"$WORK/prometheus.yml"
e2e_bg prometheus prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PP" --storage.tsdb.retention.time=1h --log.level=warn
P=http://127.0.0.1:$PP
wait_for 30 "Prometheus ready" http_is 200 "$P/-/ready"
promq() { curl -s --get "$P/api/v1/query" --data-urlencode "query=$1"; }
all_up() { [[ $(promq 'count(up{job="regsync"} == 1)' | jq -r '.data.result[0].value[1]') == "${#AGENTS[@]}" ]]; }
wait_for 30 "every agent scraped" all_up
nap 8   # rate() over the panels' window needs a few samples
"$PY" - "$DASH" "$P" >"$WORK/panels.out" 2>&1 <<'PY' || { cat "$WORK/panels.out"; fail "panel queries on Prometheus"; }
import json, sys, urllib.parse, urllib.request
dash, base = json.load(open(sys.argv[1])), sys.argv[2]
subst = {"$__rate_interval": "10s", "$__interval": "5s", "$__range": "1m", "$region": ".*"}
def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))
bad, n = [], 0
for p in panels(dash["panels"]):
    for t in p.get("targets", []):
        q = t["expr"]
        for k, v in subst.items():
            q = q.replace(k, v)
        r = json.load(urllib.request.urlopen(base + "/api/v1/query?" + urllib.parse.urlencode({"query": q}), timeout=10))
        n += 1
        if r.get("status") != "success":
            bad.append(f"{p['title']} {t['refId']}: {r.get('error')}")
        elif not r["data"]["result"]:
            bad.append(f"{p['title']} {t['refId']}: no data: {q}")
        else:
            print(f"{len(r['data']['result']):3d} series  {p['title']} {t['refId']}")
v = [x for x in dash["templating"]["list"] if x["name"] == "region"][0]
metric = v["definition"].split("(", 1)[1].split(",")[0].strip()
r = json.load(urllib.request.urlopen(base + "/api/v1/label/region/values?" + urllib.parse.urlencode({"match[]": metric}), timeout=10))
print("region variable:", r["data"])
if sorted(r["data"]) != ["ci", "eu-central-1", "us-west-2"]:
    bad.append(f"the region variable lists {r['data']}")
if bad:
    sys.exit("\n".join(bad))
print(f"{n} queries, every one returns data")
PY
sed 's/^/    /' "$WORK/panels.out"
say "PASS"
