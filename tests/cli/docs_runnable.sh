#!/usr/bin/env bash
# tests/cli/docs_runnable.sh BUILD_DIR [SHARED_DIR]: the documentation's commands, run.
#
# 1. Every fenced block whose info string is `sh runnable` in docs/*.md, docker/README.md and
#    docker/k8s/README.md is extracted and run with bash -euo pipefail: the blocks of one page
#    in order, in one temporary directory per page (a block may use files an earlier block of
#    the same page made), each in its own session that is ended afterwards (so a daemon a block
#    forgot cannot outlive it), with BUILD_DIR's regsyncd, regsync-dump and regsync-gen first on
#    PATH, 120 s at most per block. Every block must exit 0.
# 2. The runnable blocks together cover: check-config, publish --once, sync --once, regsync-dump
#    json/summary/diff, and a rollback through the admin API.
# 3. docs/metrics.md names every metric a running agent exports on /metrics, and its alert rules
#    parse as YAML and use only exported metrics.
# Blocks use admin port 127.0.0.1:18470 (not 8470, so a running agent is not disturbed).
# RS_DOCS_VERBOSE=1 also prints what each passing block printed.
# Prints "N passed, M failed" last; exits 1 when anything failed.
set -uo pipefail
build=${1:?usage: docs_runnable.sh BUILD_DIR [SHARED_DIR]}
build=$(cd "$build" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
passed=0 failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
finish() { echo "$passed passed, $failed failed"; ((failed == 0)); exit $?; }

for b in daemon/regsyncd tools/regsync-dump bench/regsync-gen; do
  [[ -x $build/$b ]] || { bad "missing $build/$b (build the regsyncd, regsync-dump and regsync-gen targets)"; finish; }
done
for t in curl python3 setsid; do
  command -v "$t" >/dev/null || { bad "missing tool $t"; finish; }
done
export PATH="$build/daemon:$build/tools:$build/bench:$PATH"
unset REGSYNC_ADMIN_TOKEN REGSYNC_CONFIG
while read -r v; do unset "$v"; done < <(env | sed -n 's/^\(REGSYNC_[A-Z0-9_]*\)=.*/\1/p')
work=$(mktemp -d "${TMPDIR:-/tmp}/rs-docs.XXXXXX")
trap 'rm -rf "$work"' EXIT

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- 1. extract and run
pages=()
for p in "$root"/docs/*.md "$root/docker/README.md" "$root/docker/k8s/README.md"; do
  [[ -f $p ]] && pages+=("$p")
done
python3 - "$work/blocks" "${pages[@]}" <<'PY' || { bad "extracting the blocks"; finish; }
import os, re, sys
out = sys.argv[1]
os.makedirs(out)
fence = re.compile(r'^(\s*)(```+|~~~+)\s*([^`]*)$')
for page in sys.argv[2:]:
    lines = open(page, encoding='utf-8').read().split('\n')
    blocks, cur, marker, lineno = [], None, None, 0
    for i, line in enumerate(lines, 1):
        m = fence.match(line)
        if cur is None:
            if m and m.group(3).split()[:2] == ['sh', 'runnable']:
                cur, marker, lineno = [], m.group(2), i
        elif m and m.group(2).startswith(marker) and not m.group(3).strip():
            blocks.append((lineno, '\n'.join(cur) + '\n'))
            cur = None
        else:
            cur.append(line)
    if cur is not None:
        sys.exit(f"{page}:{lineno}: runnable block not closed")
    slug = re.sub(r'[^A-Za-z0-9]+', '_', '/'.join(page.split('/')[-2:]))
    for n, (lineno, text) in enumerate(blocks, 1):
        with open(os.path.join(out, f"{slug}__{n:02d}__{lineno}.sh"), 'w') as f:
            f.write(f"# {page}:{lineno}\n{text}")
        with open(os.path.join(out, 'index.tsv'), 'a') as f:
            f.write(f"{page}\t{lineno}\t{slug}__{n:02d}__{lineno}.sh\n")
PY
[[ -s $work/blocks/index.tsv ]] || { bad "no runnable block in docs/"; finish; }

run_block() {  # run_block PAGE_DIR FILE LABEL: in its own session, 120 s at most
  local dir=$1 file=$2 label=$3 pid watchdog rc
  (cd "$dir" && exec setsid bash -euo pipefail "$file" >"$file.out" 2>&1) &
  pid=$!
  ( sleep 120; kill -TERM -- "-$pid" 2>/dev/null; sleep 2; kill -KILL -- "-$pid" 2>/dev/null ) >/dev/null 2>&1 &
  watchdog=$!
  wait "$pid"; rc=$?
  kill "$watchdog" 2>/dev/null; wait "$watchdog" 2>/dev/null
  kill -TERM -- "-$pid" 2>/dev/null || true   # whatever the block left running
  if ((rc == 0)); then
    ok "$label"
    [[ ${RS_DOCS_VERBOSE:-0} == 1 ]] && sed 's/^/    | /' "$file.out"
  else
    bad "$label (exit $rc); its output:"
    sed 's/^/    | /' "$file.out" | tail -n 40
    echo "    block:"; sed 's/^/    > /' "$file" | head -n 60
  fi
}

if port_busy 18470; then
  bad "127.0.0.1:18470 is in use: the documentation's examples need it"
else
  declare -A page_dir=()
  while IFS=$'\t' read -r page line file; do
    if [[ -z ${page_dir[$page]:-} ]]; then
      page_dir[$page]=$(mktemp -d "$work/page.XXXXXX")
    fi
    run_block "${page_dir[$page]}" "$work/blocks/$file" "${page#"$root"/}:$line"
  done <"$work/blocks/index.tsv"
fi

# ---------------------------------------------------------------- 2. coverage
all=$(cat "$work"/blocks/*.sh)
need=("regsyncd check-config" "regsyncd publish --once" "regsyncd sync --once" "regsync-dump json"
      "regsync-dump summary" "regsync-dump diff" "/v1/rollback")
for n in "${need[@]}"; do
  if grep -qF -- "$n" <<<"$all"; then ok "runnable blocks cover: $n"; else bad "no runnable block runs: $n"; fi
done
for p in operations metrics security; do
  if cut -f1 "$work/blocks/index.tsv" | grep -qxF "$root/docs/$p.md"; then
    ok "docs/$p.md has runnable blocks"
  else
    bad "docs/$p.md has no runnable block"
  fi
done

# ---------------------------------------------------------------- 3. metrics.md vs /metrics
m=$work/metrics
mkdir -p "$m/global" "$m/feast"
regsync-gen --seed 5 --projects 1 --out "$m/global/registry.db" 2>/dev/null
cat >"$m/agent.yaml" <<YAML
region: docs-metrics
store: file://$m/global
target: $m/feast/registry.db
state_dir: $m/state
publish: true
poll_interval: 200ms
admin: { listen: "127.0.0.1:0" }
YAML
regsyncd run --config "$m/agent.yaml" >"$m/agent.log" 2>&1 &
agent=$!
addr=
for _ in $(seq 100); do
  addr=$(sed -n 's/.*admin API listening address=\([^ ]*\).*/\1/p' "$m/agent.log" | head -n 1)
  [[ -n $addr ]] && curl -sf "http://$addr/healthz" >/dev/null && break
  sleep 0.1
done
# wait for the first version, so every metric has a value
curl -sf "http://$addr/v1/wait?version=1&regions=docs-metrics&timeout=20s" >/dev/null 2>&1 || true
if [[ -n $addr ]] && curl -sf "http://$addr/metrics" >"$m/metrics.txt"; then
  ok "an agent serves /metrics"
  missing=$(sed -n 's/^# TYPE \([a-zA-Z_:][a-zA-Z0-9_:]*\) .*/\1/p' "$m/metrics.txt" | sort -u | while read -r name; do
    grep -q "\`$name\`\|\`$name{" "$root/docs/metrics.md" || echo "$name"
  done)
  if [[ -z $missing ]]; then ok "docs/metrics.md names every exported metric"
  else bad "docs/metrics.md does not name: $(echo $missing)"; fi
  if python3 - "$root/docs/metrics.md" "$m/metrics.txt" <<'PY'
import re, sys, yaml
doc = open(sys.argv[1]).read()
exported = set(re.findall(r'^# TYPE (\S+) ', open(sys.argv[2]).read(), re.M))
rules = [b for b in re.findall(r'^```ya?ml\n(.*?)^```', doc, re.M | re.S) if 'groups:' in b]
if not rules:
    sys.exit("docs/metrics.md has no alert rules (a yaml block with groups:)")
n = 0
for text in rules:
    data = yaml.safe_load(text)
    for g in data['groups']:
        for r in g['rules']:
            n += 1
            for k in ('alert', 'expr'):
                if k not in r:
                    sys.exit(f"rule without {k}: {r}")
            for name in re.findall(r'\b(regsync_[a-z0-9_]+)', r['expr']):
                if name not in exported:
                    sys.exit(f"alert {r['alert']}: {name} is not exported")
print(f"{n} alert rules")
PY
  then ok "docs/metrics.md alert rules parse and use exported metrics"
  else bad "docs/metrics.md alert rules"; fi
else
  bad "no /metrics from a test agent; its log:"; tail -n 20 "$m/agent.log"
fi
kill "$agent" 2>/dev/null; wait "$agent" 2>/dev/null

finish
