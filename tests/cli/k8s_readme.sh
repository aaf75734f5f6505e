#!/usr/bin/env bash
# tests/cli/k8s_readme.sh BUILD_DIR [SHARED_DIR]: docker/k8s/README.md's commands, as written.
#
# Every line of the page's ```sh blocks, in order, in one shell session in a scratch directory
# (with `docker` linking to the checkout's, so the page's relative paths resolve) and BUILD_DIR's
# programs first on PATH:
#   - commands that need a cluster or AWS (kubectl, aws) cannot run here: each is checked against
#     the manifests instead: the namespace it names is kustomization.yaml's, a Secret it creates is
#     the one the Deployment mounts with the key the configuration reads, a file it reads was made
#     by an earlier step, the Deployment, container, port and service account it names exist;
#     `kubectl apply -k` also builds the kustomization with `kubectl kustomize` (offline) when
#     kubectl is installed, and says so when it is not;
#   - `curl` of the pod's admin API (after the port-forward) runs against a real `regsyncd run` with
#     the ConfigMap's regsync.yaml, on a file:// store and local paths (REGSYNC_* overrides), on the
#     port the page forwards (8470 becomes a free one), and must answer 200 with JSON;
#   - everything else runs as written and must exit 0.
# A line the test does not know fails it. Prints "N passed, M failed" last.
set -uo pipefail
build=${1:?usage: k8s_readme.sh BUILD_DIR [SHARED_DIR]}
build=$(cd "$build" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
page=$root/docker/k8s/README.md
passed=0 failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
finish() { echo "$passed passed, $failed failed"; ((failed == 0)); exit $?; }
for b in daemon/regsyncd tools/regsync-dump bench/regsync-gen; do
  [[ -x $build/$b ]] || { bad "missing $build/$b"; finish; }
done
python3 -c 'import yaml' 2>/dev/null || { bad "python3-yaml is needed (scripts/deps.sh test)"; finish; }
export PATH="$build/daemon:$build/tools:$build/bench:$PATH"
while read -r v; do unset "$v"; done < <(env | sed -n 's/^\(REGSYNC_[A-Z0-9_]*\)=.*/\1/p')
work=$(mktemp -d "${TMPDIR:-/tmp}/rs-k8s.XXXXXX")
agent= sess=
cleanup() {
  [[ -n $sess ]] && exec {sess}>&-
  if [[ -n $agent ]]; then kill "$agent" 2>/dev/null; wait "$agent" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/cwd"
ln -s "$root/docker" "$work/cwd/docker"

# the commands of the page and the facts of the manifests, as JSON lines / one JSON object
python3 - "$page" "$root/docker/k8s" "$work" <<'PY' || { bad "reading $page and the manifests"; finish; }
import glob, json, os, re, sys
import yaml
page, k8s, work = sys.argv[1:4]
cmds, cur, inblock, cont = [], None, False, ''
for i, line in enumerate(open(page, encoding='utf-8').read().split('\n'), 1):
    s = line.strip()
    if s.startswith('```'):
        if not inblock:
            inblock = s[3:].split()[:1] == ['sh']
        else:
            inblock = False
        continue
    if not inblock or not s or s.startswith('#'):
        continue
    if s.endswith('\\'):
        cont += s[:-1] + ' '
        continue
    cmds.append({'line': i, 'cmd': cont + s})
    cont = ''
json.dump(cmds, open(os.path.join(work, 'cmds.json'), 'w'))
objs = []
for f in sorted(glob.glob(os.path.join(k8s, '*.yaml'))):
    for d in yaml.safe_load_all(open(f)):
        if isinstance(d, dict) and 'kind' in d:
            objs.append(d)
kust = yaml.safe_load(open(os.path.join(k8s, 'kustomization.yaml')))
dep = [o for o in objs if o['kind'] == 'Deployment'][0]
pod = dep['spec']['template']['spec']
cm = [o for o in objs if o['kind'] == 'ConfigMap' and 'regsync.yaml' in (o.get('data') or {})][0]
rcfg = yaml.safe_load(cm['data']['regsync.yaml'])
facts = {
    'namespace': kust.get('namespace'),
    'deployments': [o['metadata']['name'] for o in objs if o['kind'] == 'Deployment'],
    'serviceaccounts': [o['metadata']['name'] for o in objs if o['kind'] == 'ServiceAccount'],
    'pod_sa': pod.get('serviceAccountName'),
    'containers': [c['name'] for c in pod.get('containers', []) + pod.get('initContainers', [])],
    'ports': sorted({p['containerPort'] for c in pod.get('containers', []) for p in c.get('ports', [])}),
    # secret volumes: name -> secretName, and the mount paths of each in the regsync containers
    'secret_mounts': {},
    'token_file': (rcfg.get('admin') or {}).get('token_file', ''),
    'listen': (rcfg.get('admin') or {}).get('listen', ''),
}
vols = {v['name']: v for v in pod.get('volumes', [])}
for c in pod.get('containers', []) + pod.get('initContainers', []):
    if 'regsync' not in c.get('image', ''):
        continue
    for m in c.get('volumeMounts', []):
        sec = (vols.get(m['name']) or {}).get('secret')
        if sec:
            facts['secret_mounts'].setdefault(sec['secretName'], {})[c['name']] = m['mountPath']
json.dump(facts, open(os.path.join(work, 'facts.json'), 'w'))
PY
F() { jq -r "$1" "$work/facts.json"; }
ns=$(F .namespace)

# a shell session for the commands that run
exec {sess}> >(cd "$work/cwd" && exec bash --norc --noprofile >"$work/session.log" 2>&1)
n=0
run_here() {  # run_here CMD: in the session; sets RC and OUT
  n=$((n + 1))
  printf '{ %s\n} >%q 2>&1 </dev/null; echo $? >%q.tmp; mv %q.tmp %q\n' "$1" "$work/$n.out" "$work/$n.rc" "$work/$n.rc" "$work/$n.rc" >&"$sess"
  for _ in $(seq 600); do [[ -f $work/$n.rc ]] && break; sleep 0.1; done
  OUT=$work/$n.out RC=$(cat "$work/$n.rc" 2>/dev/null || echo 124)
}
free_port() { python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
fwd_port=

start_agent() {  # the sidecar's configuration, run for real on a file:// store, as the port-forward target
  local p=$1
  fwd_port=$(free_port)
  mkdir -p "$work/store" "$work/feast"
  regsync-gen --seed 3 --projects 2 --out "$work/src.db" 2>/dev/null
  printf 'region: k8s-pub\nstore: file://%s\nsource: file://%s\npublish: true\nstate_dir: %s\nadmin: { listen: "" }\n' \
    "$work/store" "$work/src.db" "$work/pubstate" >"$work/pub.yaml"
  regsyncd publish --once --config "$work/pub.yaml" >/dev/null 2>&1 || { bad "publishing a version for the sidecar"; return 1; }
  REGSYNC_STORE=file://$work/store REGSYNC_TARGET=$work/feast/registry.db REGSYNC_STATE_DIR=$work/state \
    REGSYNC_ADMIN_LISTEN=127.0.0.1:$fwd_port REGSYNC_ADMIN_TOKEN_FILE=$work/cwd/admin-token REGSYNC_LOG_FORMAT=text \
    regsyncd run --config "$work/cwd/regsync.yaml" >"$work/agent.log" 2>&1 &
  agent=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$fwd_port/healthz" >/dev/null && return 0; sleep 0.1; done
  bad "the sidecar configuration does not start: $(tail -n 3 "$work/agent.log")"
  return 1
}

count=$(jq length "$work/cmds.json")
((count > 0)) || { bad "no command in $page"; finish; }
for ((i = 0; i < count; i++)); do
  cmd=$(jq -r ".[$i].cmd" "$work/cmds.json")
  label="k8s/README.md:$(jq -r ".[$i].line" "$work/cmds.json") $cmd"
  read -ra w <<<"$cmd"
  case $cmd in
    'aws eks create-pod-identity-association '*)
      [[ $cmd =~ --namespace\ ([^ ]+) && ${BASH_REMATCH[1]} == "$ns" ]] &&
        [[ $cmd =~ --service-account\ ([^ ]+) ]] && sa=${BASH_REMATCH[1]} &&
        F '.serviceaccounts[]' | grep -qx "$sa" && [[ $(F .pod_sa) == "$sa" ]] &&
        ok "$label (checked: namespace $ns, the pod's service account $sa)" ||
        bad "$label: namespace or service account does not match the manifests" ;;
    "kubectl create namespace "*)
      [[ ${w[3]} == "$ns" ]] && ok "$label (checked: kustomization.yaml's namespace)" || bad "$label: the namespace is $ns" ;;
    "kubectl -n $ns create secret generic "*)
      name=${w[6]}
      if [[ $cmd =~ --from-file=([^=]+)=([^ ]+) ]]; then
        key=${BASH_REMATCH[1]} file=${BASH_REMATCH[2]}
        tf=$(F .token_file)
        mounts=$(jq -r --arg s "$name" '.secret_mounts[$s] // {} | to_entries[] | "\(.key) \(.value)"' "$work/facts.json")
        if [[ ! -s $work/cwd/$file ]]; then bad "$label: $file was not made by an earlier step"
        elif [[ -z $mounts ]]; then bad "$label: no regsync container mounts the Secret $name"
        elif grep -q "regsync-init" <<<"$mounts" && grep -q " $(dirname "$tf")$" <<<"$mounts" && [[ $(basename "$tf") == "$key" ]] &&
             [[ $(wc -l <<<"$mounts") -ge 2 ]]; then
          ok "$label (checked: $file exists; both regsync containers mount Secret $name where admin.token_file $tf reads key $key)"
        else
          bad "$label: admin.token_file $tf is not key $key of Secret $name as mounted ($mounts)"
        fi
      else
        bad "$label: not --from-file (the page's secrets are files)"
      fi ;;
    "kubectl apply -k docker/k8s")
      if command -v kubectl >/dev/null; then
        if kubectl kustomize "$root/docker/k8s" >"$work/kustomized.yaml" 2>"$work/kustomize.err" &&
           python3 -c 'import sys, yaml
d = [x for x in yaml.safe_load_all(open(sys.argv[1])) if x]
assert len(d) >= 5 and all(x["metadata"].get("namespace") == sys.argv[2] for x in d if x["kind"] != "Namespace")' "$work/kustomized.yaml" "$ns"; then
          ok "$label (checked: kubectl kustomize builds $(grep -c '^kind:' "$work/kustomized.yaml") objects, all in namespace $ns)"
        else
          bad "$label: kubectl kustomize: $(head -n 3 "$work/kustomize.err")"
        fi
      else
        echo "note: kubectl is not installed: kustomization.yaml not built (deploy_static checks its resources)"
        [[ -f $root/docker/k8s/kustomization.yaml ]] && ok "$label (checked: kustomization.yaml exists)" || bad "$label: no kustomization.yaml"
      fi ;;
    "kubectl -n $ns rollout status deploy/"*)
      F '.deployments[]' | grep -qx "${w[5]#deploy/}" && ok "$label (checked: Deployment ${w[5]#deploy/})" || bad "$label: no such Deployment" ;;
    "kubectl -n $ns logs deploy/"*)
      d=${w[4]#deploy/} c=${w[6]:-}
      F '.deployments[]' | grep -qx "$d" && F '.containers[]' | grep -qx "$c" &&
        ok "$label (checked: Deployment $d, container $c)" || bad "$label: no Deployment $d or container $c" ;;
    "kubectl -n $ns port-forward deploy/"*)
      p=${w[5]}
      if F '.ports[]' | grep -qx "$p" && [[ $(F .listen) == *":$p" ]]; then
        ok "$label (checked: container port $p is admin.listen's; the sidecar's configuration runs locally in its place)"
        start_agent "$p"
      else
        bad "$label: $p is not a container port / admin.listen"
      fi ;;
    "curl -s http://127.0.0.1:8470/"*|"curl -s 'http://127.0.0.1:8470/"*)
      if [[ -z $fwd_port ]]; then bad "$label: no port-forward before it"; continue; fi
      real=${cmd//127.0.0.1:8470/127.0.0.1:$fwd_port}
      run_here "$real -w '\n%{http_code}'"
      code=$(tail -n 1 "$OUT")
      if [[ $RC == 0 && $code == 200 ]] && head -n -1 "$OUT" | jq -e . >/dev/null 2>&1; then
        ok "$label (ran against the sidecar configuration: 200, JSON)"
      else
        bad "$label: exit $RC, HTTP $code: $(head -c 300 "$OUT")"
      fi ;;
    kubectl\ *|aws\ *)
      bad "$label: a cluster command this test does not know how to check" ;;
    *)
      run_here "$cmd"
      if [[ $RC == 0 ]]; then ok "$label"; else bad "$label: exit $RC:"; sed 's/^/    | /' "$OUT" | tail -n 10; fi ;;
  esac
done
# the page's check-config really read the token file of step 4
grep -q 'configuration OK' "$work"/*.out && ok "check-config printed: configuration OK" || bad "no check-config run said: configuration OK"
finish
