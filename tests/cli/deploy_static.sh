#!/usr/bin/env bash
# tests/cli/deploy_static.sh BUILD_DIR [SHARED_DIR]: checks of the deployment files that need no
# Docker engine and no cluster, and the image's build script itself.
#
#   yaml        every YAML file under docker/ parses
#   compose     services reference files that exist (configs, Dockerfiles, their COPY sources),
#               declared volumes, existing dependencies; distinct loopback host ports; each region
#               has its own volumes, a one-shot `sync --once`, and an agent that waits for it
#   configs     `regsyncd check-config` accepts docker/config/*.yaml and the k8s ConfigMap's
#               regsync.yaml exactly as the services run them (their flags and environment, with
#               placeholders for the env-only secrets), also with compose.s3.yaml's store
#   k8s         init container with `sync --once`, liveness /healthz and readiness /readyz on the
#               admin port that regsync.yaml listens on, REGSYNC_ADMIN_TOKEN from a Secret,
#               container credentials endpoint with a projected token, a shared emptyDir whose
#               path matches Feast's registry.path, a short cache_ttl_seconds; replicas >= 3, each
#               pod's instance from POD_NAME (downward API) in the init container and the sidecar
#   image       Dockerfile: debian:12 stages, build-image.sh, the runtime package list, non-root,
#               HEALTHCHECK, ENTRYPOINT/CMD, no secrets; .dockerignore
#   man         docs/man pages describe every command of `regsyncd --help` and
#               `regsync-dump --help`, and render without warnings (when groff is installed)
#   config doc  docs/configuration.md names every key of `regsyncd check-config --json`
#   links       relative links of the deployment docs resolve
#   build       scripts/build-image.sh (the Dockerfile's build steps): in BUILD_DIR itself when it is
#               configured as the image's build is (RelWithDebInfo), else in BUILD_DIR/image-build;
#               skipped for sanitizer builds (its ldd check is about the release build)
# Prints "N passed, M failed" last; exits 1 when anything failed.
set -uo pipefail
build=${1:?usage: deploy_static.sh BUILD_DIR [SHARED_DIR]}
build=$(cd "$build" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
regsyncd=$build/daemon/regsyncd dump=$build/tools/regsync-dump
passed=0 failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
finish() { echo "$passed passed, $failed failed"; ((failed == 0)); exit $?; }
for b in "$regsyncd" "$dump"; do [[ -x $b ]] || { bad "missing $b"; finish; }; done
python3 -c 'import yaml' 2>/dev/null || { bad "python3-yaml is needed (scripts/deps.sh test)"; finish; }
while read -r v; do unset "$v"; done < <(env | sed -n 's/^\(REGSYNC_[A-Z0-9_]*\)=.*/\1/p')
work=$(mktemp -d "${TMPDIR:-/tmp}/rs-deploy.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ------------------------------------------------------------ yaml, compose, k8s, image (python)
# The python part prints "ok ..." / "FAIL ..." lines, and writes the check-config runs it wants
# (one per line: ENV_JSON<TAB>CONFIG_FILE<TAB>ARGS_JSON<TAB>LABEL) to $work/checks.tsv.
python3 - "$root" "$work" >"$work/py.out" 2>&1 <<'PY'
import glob, json, os, re, shlex, sys
import yaml

root, work = sys.argv[1], sys.argv[2]
docker = os.path.join(root, 'docker')
checks = open(os.path.join(work, 'checks.tsv'), 'w')
def ok(m): print('ok   ' + m)
def bad(m): print('FAIL ' + m)
def expect(cond, m):
    (ok if cond else bad)(m)
    return cond
TOKEN = 'placeholder-token-0123456789abcdef'   # for env-only secrets
PLACEHOLDER = {'REGSYNC_ADMIN_TOKEN': TOKEN, 'REGSYNC_PG_PASSWORD': 'placeholder-password'}

# ---- every YAML file parses
docs = {}
files = sorted(glob.glob(os.path.join(docker, '**', '*.yaml'), recursive=True) +
               glob.glob(os.path.join(docker, '**', '*.yml'), recursive=True))
expect(len(files) >= 8, f'{len(files)} YAML files under docker/')
for f in files:
    rel = os.path.relpath(f, root)
    try:
        docs[rel] = [d for d in yaml.safe_load_all(open(f)) if d is not None]
        ok(f'parses: {rel}')
    except Exception as e:
        bad(f'parses: {rel}: {e}')

def interpolate(value):
    """compose interpolation with placeholders: ${VAR:?msg}, ${VAR:-default}, ${VAR}, $$"""
    def rep(m):
        name, op, arg = m.group(1), m.group(2) or '', m.group(3) or ''
        if name in PLACEHOLDER:
            return PLACEHOLDER[name]
        if op in (':-', '-'):
            return arg
        if op in (':?', '?'):
            raise KeyError(f'{name} is required and has no placeholder in this test')
        return ''
    s = re.sub(r'\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?([^}]*)\}', rep, str(value))
    return s.replace('$$', '$')

def dockerfile_copies(path):
    """COPY sources of a Dockerfile (not --from), relative to the repository root"""
    out = []
    for line in open(path):
        line = line.strip()
        if line.upper().startswith('COPY ') and '--from' not in line:
            parts = [p for p in line.split()[1:] if not p.startswith('--')]
            out += parts[:-1]
    return out

# ---- compose
def merge_spec(cur, spec):
    for k, v in spec.items():
        if k == 'extends':
            continue
        if isinstance(v, dict) and isinstance(cur.get(k), dict):
            cur[k] = {**cur[k], **v}
        elif k in ('secrets', 'volumes', 'ports') and isinstance(v, list) and isinstance(cur.get(k), list):
            cur[k] = cur[k] + [x for x in v if x not in cur[k]]
        else:
            cur[k] = v
def load_compose(*names):
    """the files merged as Compose does, `extends: {file, service}` resolved (without the base's
    depends_on, as Compose leaves it out)"""
    merged = {'services': {}, 'volumes': {}, 'secrets': {}}
    for n in names:
        d = docs.get(f'docker/{n}', [{}])[0]
        for k in ('volumes', 'secrets'):
            merged[k].update(d.get(k) or {})
        for s, spec in (d.get('services') or {}).items():
            cur = merged['services'].setdefault(s, {})
            ext = spec.get('extends')
            if ext:
                base = docs.get(f'docker/{ext["file"]}', [{}])[0].get('services', {}).get(ext['service'])
                if expect(base is not None, f'compose {n} {s}: extends {ext["file"]} {ext["service"]}, which exists'):
                    expect('depends_on' not in base, f'compose {ext["file"]} {ext["service"]}: no depends_on (Compose 1.29 cannot extend that)')
                    merge_spec(cur, {k: v for k, v in base.items() if k != 'depends_on'})
            merge_spec(cur, spec)
    return merged

compose = load_compose('compose.yaml')
services = compose['services']
expect({'postgres', 'publisher'} <= set(services), 'compose: postgres and publisher services')
regions = sorted(s[len('agent-'):] for s in services if s.startswith('agent-'))
expect(len(regions) >= 2, f'compose: two regional agents ({", ".join(regions)})')
ports = {}
for name, spec in services.items():
    b = spec.get('build')
    if b:
        ctx = os.path.normpath(os.path.join(docker, b.get('context', '.')))
        df = os.path.join(ctx, b.get('dockerfile', 'Dockerfile'))
        if expect(os.path.isfile(df), f'compose {name}: build file {os.path.relpath(df, root)} exists'):
            missing = [c for c in dockerfile_copies(df) if not glob.glob(os.path.join(ctx, c))]
            expect(not missing, f'compose {name}: COPY sources of {os.path.relpath(df, root)} exist {missing or ""}')
    for v in spec.get('volumes') or []:
        src = v.split(':')[0]
        if src.startswith('.') or src.startswith('/'):
            expect(os.path.exists(os.path.normpath(os.path.join(docker, src))), f'compose {name}: mounted {src} exists')
        else:
            expect(src in compose['volumes'], f'compose {name}: volume {src} is declared')
    for dep, cond in (spec.get('depends_on') or {}).items():
        expect(dep in services, f'compose {name}: depends on an existing service {dep}')
    for p in spec.get('ports') or []:
        p = interpolate(str(p))   # the default of ${REGSYNC_*_PORT:-N}
        parts = p.split(':')
        host_ip, host_port = (parts[0], parts[1]) if len(parts) == 3 else ('0.0.0.0', parts[0])
        expect(host_ip == '127.0.0.1', f'compose {name}: host port {host_port} bound to 127.0.0.1 only')
        if host_port in ports:
            bad(f'compose: host port {host_port} used by {ports[host_port]} and {name}')
        ports[host_port] = name
expect(len(ports) >= 3, f'compose: distinct host ports {sorted(ports)}')
want_ports = {'8471': 'agent-us-west-2', '8472': 'agent-eu-central-1'}
expect(all(ports.get(p) == s for p, s in want_ports.items()), 'compose: region admin ports 8471 and 8472')
region_volumes = {}
for r in regions:
    agent, init = services[f'agent-{r}'], services.get(f'sync-{r}')
    if not expect(init is not None, f'compose: one-shot sync-{r}'):
        continue
    cmd = init.get('command') or []
    expect(cmd[:2] == ['sync', '--once'], f'compose sync-{r}: runs `sync --once`')
    dep = (agent.get('depends_on') or {}).get(f'sync-{r}', {})
    expect(dep.get('condition') == 'service_completed_successfully',
           f'compose agent-{r}: waits for sync-{r} (service_completed_successfully)')
    expect(init.get('restart', 'no') == 'no', f'compose sync-{r}: not restarted')
    vols = {v.split(':')[0] for v in agent.get('volumes') or [] if not v.startswith('.')}
    expect(vols == {v.split(':')[0] for v in init.get('volumes') or [] if not v.startswith('.')},
           f'compose sync-{r}: the same volumes as agent-{r}')
    region_volumes[r] = vols
for r, vols in region_volumes.items():
    for o, other in region_volumes.items():
        if o < r:
            expect(not (vols & other), f'compose: {r} and {o} share no volume')
secret_env = re.compile(r'(TOKEN|PASSWORD|SECRET)', re.I)
for name, spec in services.items():
    for k, v in (spec.get('environment') or {}).items():
        if secret_env.search(k) and not k.endswith('_FILE'):
            bad(f'compose {name}: {k} is a secret in the environment (docker inspect shows it): use a file')
    for sec in spec.get('secrets') or []:
        sname = sec if isinstance(sec, str) else sec.get('source')
        f = (compose['secrets'].get(sname) or {}).get('file', '')
        expect(f.startswith('./secrets/'), f'compose {name}: secret {sname} is a file under docker/secrets ({f})')
for n in ('compose.yaml', 'compose.s3.yaml'):
    expect('name' not in docs.get(f'docker/{n}', [{}])[0], f'{n}: no top-level name: (Compose 1.29 refuses it)')
expect('postgres' not in load_compose('compose.s3.yaml')['services'], 'compose.s3.yaml: no PostgreSQL service')

# check-config runs for the compose services (with compose.s3.yaml too)
placeholder_token = os.path.join(work, 'admin_token')
open(placeholder_token, 'w').write(TOKEN + '\n')
os.chmod(placeholder_token, 0o600)
for files_, label in ((('compose.yaml',), 'compose'), (('compose.s3.yaml',), 'compose+s3')):
    c = load_compose(*files_)
    for name, spec in c['services'].items():
        cmd = spec.get('command') or []
        if spec.get('image', '').startswith('regsync') and '--config' in cmd and not spec.get('entrypoint'):
            cfg_mount = [v for v in spec.get('volumes') or [] if v.split(':')[1] == cmd[cmd.index('--config') + 1]]
            if not expect(len(cfg_mount) == 1, f'{label} {name}: its --config file is mounted'):
                continue
            host = os.path.normpath(os.path.join(docker, cfg_mount[0].split(':')[0]))
            env = {k: interpolate(v) for k, v in (spec.get('environment') or {}).items()}
            # the compose secret admin_token (/run/secrets/admin_token in the container)
            if 'admin_token' in (spec.get('secrets') or []):
                env['REGSYNC_ADMIN_TOKEN_FILE'] = placeholder_token
            args = [a for a in cmd if a not in ('run', 'sync', 'publish', '--once')]
            i = args.index('--config'); del args[i:i + 2]
            checks.write(f'{json.dumps(env)}\t{host}\t{json.dumps(args)}\t{label} {name}\n')

# ---- s3 server image: uses the tests' script
s3df = os.path.join(docker, 's3', 'Dockerfile')
if os.path.isfile(s3df):
    expect('scripts/s3-server.sh' in open(s3df).read(), 'docker/s3/Dockerfile uses scripts/s3-server.sh')

# ---- Kubernetes
k8s = {}
for rel, ds in docs.items():
    if rel.startswith('docker/k8s/'):
        for d in ds:
            if isinstance(d, dict) and 'kind' in d:
                k8s[(d['kind'], (d.get('metadata') or {}).get('name', ''))] = d
kust = docs.get('docker/k8s/kustomization.yaml', [{}])[0]
for r in kust.get('resources', []):
    expect(os.path.isfile(os.path.join(docker, 'k8s', r)), f'k8s kustomization: {r} exists')
deps_ = [d for (k, _), d in k8s.items() if k == 'Deployment']
cms = {n: d for (k, n), d in k8s.items() if k == 'ConfigMap'}
if expect(len(deps_) == 1, 'k8s: one Deployment'):
    pod = deps_[0]['spec']['template']['spec']
    vols = {v['name']: v for v in pod.get('volumes', [])}
    inits, ctrs = pod.get('initContainers', []), pod.get('containers', [])
    regsync_yaml_text, rcm = None, None
    for n, cm in cms.items():
        if 'regsync.yaml' in (cm.get('data') or {}):
            regsync_yaml_text, rcm = cm['data']['regsync.yaml'], n
    expect(regsync_yaml_text is not None, f'k8s: a ConfigMap with regsync.yaml ({rcm})')
    rcfg = yaml.safe_load(regsync_yaml_text or '{}')
    feast_text = next((cm['data']['feature_store.yaml'] for cm in cms.values() if 'feature_store.yaml' in (cm.get('data') or {})), None)
    expect(feast_text is not None, 'k8s: a ConfigMap with feature_store.yaml')
    fcfg = yaml.safe_load(feast_text or '{}')
    frag = docs.get('docker/k8s/feature_store.yaml', [{}])[0]
    expect(frag.get('registry') == (fcfg or {}).get('registry'), 'k8s: feature_store.yaml fragment = the ConfigMap\'s registry block')
    reg = (fcfg or {}).get('registry') or {}
    expect(isinstance(reg, dict) and 0 < int(reg.get('cache_ttl_seconds', 600)) <= 60,
           f'k8s: Feast cache_ttl_seconds is short ({reg.get("cache_ttl_seconds")})')

    def mounts_of(c):
        return {m['mountPath']: m for m in c.get('volumeMounts', [])}
    def where(c, path):
        """the volume and in-volume path of an absolute path in container c"""
        best = None
        for mp, m in mounts_of(c).items():
            if path == mp or path.startswith(mp.rstrip('/') + '/'):
                if best is None or len(mp) > len(best[0]):
                    best = (mp, m)
        if best is None:
            return None
        return best[1]['name'], os.path.relpath(path, best[0]), best[1]
    def is_regsync(c):
        return 'regsync' in c.get('image', '')
    def argv(c):
        a = (c.get('command') or []) + (c.get('args') or [])
        return ' '.join(a)

    init = [c for c in inits if is_regsync(c)]
    if expect(len(init) == 1, 'k8s: a regsync init container'):
        init = init[0]
        expect(re.search(r'regsyncd\s+sync\s+--once\b|^sync --once', argv(init)) is not None,
               'k8s init container: runs `regsyncd sync --once`')
    side = [c for c in ctrs if is_regsync(c)]
    feast = [c for c in ctrs if 'feast' in c.get('image', '') and not is_regsync(c)]
    if expect(len(side) == 1 and len(feast) == 1, 'k8s: a Feast container and a regsync sidecar'):
        side, feast = side[0], feast[0]
        expect(argv(side).startswith('run --config') or 'regsyncd run' in argv(side), 'k8s sidecar: `regsyncd run`')
        listen_port = int(str(rcfg['admin']['listen']).rsplit(':', 1)[1])
        named = {p.get('name'): p['containerPort'] for p in side.get('ports', [])}
        def probe_ok(p, path):
            g = (p or {}).get('httpGet') or {}
            port = named.get(g.get('port'), g.get('port'))
            return g.get('path') == path and port == listen_port
        expect(probe_ok(side.get('livenessProbe'), '/healthz'), f'k8s sidecar: liveness GET /healthz on admin port {listen_port}')
        expect(probe_ok(side.get('readinessProbe'), '/readyz'), f'k8s sidecar: readiness GET /readyz on admin port {listen_port}')
        env = {e['name']: e for e in side.get('env', [])}
        expect('REGSYNC_ADMIN_TOKEN' not in env, 'k8s sidecar: no admin token in the environment')
        tfile = str((rcfg.get('admin') or {}).get('token_file', ''))
        tw = where(side, tfile) if tfile else None
        tsec = (vols.get(tw[0], {}) if tw else {}).get('secret') or {}
        expect(bool(tsec.get('secretName')), f'k8s sidecar: admin.token_file {tfile} is on a Secret volume ({tsec.get("secretName")})')
        # a fleet: several pods, each its own instance named after the pod (docs/fleet.md)
        expect(int(deps_[0]['spec'].get('replicas', 1)) >= 3, f'k8s: replicas >= 3 ({deps_[0]["spec"].get("replicas")})')
        for c in [init, side]:
            pn = {x['name']: x for x in c.get('env', [])}.get('POD_NAME', {})
            expect(((pn.get('valueFrom') or {}).get('fieldRef') or {}).get('fieldPath') == 'metadata.name',
                   f'k8s {c["name"]}: POD_NAME from the downward API (metadata.name)')
        expect(not rcfg.get('instance'), 'k8s: regsync.yaml leaves instance to its default ($POD_NAME)')
        for c in [init, side]:
            e = {x['name']: x for x in c.get('env', [])}
            uri = (e.get('AWS_CONTAINER_CREDENTIALS_FULL_URI') or {}).get('value', '')
            tf = (e.get('AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE') or {}).get('value', '')
            expect(uri.startswith('http://169.254.170.23/') or uri.startswith('https://'),
                   f'k8s {c["name"]}: AWS_CONTAINER_CREDENTIALS_FULL_URI ({uri})')
            w = where(c, tf) if tf else None
            proj = vols.get(w[0], {}).get('projected', {}) if w else {}
            sat = [s['serviceAccountToken'] for s in proj.get('sources', []) if 'serviceAccountToken' in s]
            expect(bool(sat) and sat[0].get('path') == w[1],
                   f'k8s {c["name"]}: AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE is a projected service account token')
            for k, x in e.items():
                if secret_env.search(k) and not re.search(r'_(FILE|URI|PATH)$', k) and 'value' in x:
                    bad(f'k8s {c["name"]}: {k} has a literal value')
        # the shared registry file
        target = str(rcfg.get('target', '')).replace('file://', '')
        t_side, t_init = where(side, target), where(init, target)
        f_feast = where(feast, str(reg.get('path', '')))
        if expect(t_side and t_init and f_feast, 'k8s: target and Feast registry.path are on mounted volumes'):
            expect(t_side[:2] == t_init[:2] == f_feast[:2],
                   f'k8s: regsync target and Feast registry.path are the same file ({t_side[0]}/{t_side[1]})')
            expect('emptyDir' in vols.get(t_side[0], {}), f'k8s: the registry volume {t_side[0]} is an emptyDir')
            expect(f_feast[2].get('readOnly') is True, 'k8s: Feast mounts the registry read-only')
        cm_mount = where(side, '/etc/regsync/regsync.yaml')
        expect(cm_mount and vols.get(cm_mount[0], {}).get('configMap', {}).get('name') == rcm,
               'k8s sidecar: regsync.yaml mounted from the ConfigMap')
        expect(pod.get('securityContext', {}).get('fsGroup') == 10001 or
               side.get('securityContext', {}).get('runAsUser') == 10001, 'k8s: runs as uid 10001')
        # check-config as the containers run it
        cfg_file = os.path.join(work, 'k8s-regsync.yaml')
        open(cfg_file, 'w').write(regsync_yaml_text)
        init_args = shlex.split(re.search(r'regsyncd\s+sync\s+--once\s+([^\n]*)', argv(init)).group(1))
        i = init_args.index('--config'); del init_args[i:i + 2]
        # the Secret volume's file, here a placeholder
        tok_env = {'REGSYNC_ADMIN_TOKEN_FILE': placeholder_token}
        checks.write(f'{json.dumps(tok_env)}\t{cfg_file}\t{json.dumps(init_args)}\tk8s init container\n')
        checks.write(f'{json.dumps(tok_env)}\t{cfg_file}\t[]\tk8s sidecar\n')
expect(any(k == 'ServiceAccount' for k, _ in k8s), 'k8s: a ServiceAccount')
expect(not any(k == 'Secret' for k, _ in k8s), 'k8s: no Secret with a value in the repository')

# ---- the Dockerfiles: no `# syntax=` directive (BuildKit would pull that frontend from a
# registry, which machines behind a firewall do not reach)
for f in glob.glob(os.path.join(docker, '**', 'Dockerfile'), recursive=True):
    expect(not re.search(r'^#\s*syntax\s*=', open(f).read(), re.M | re.I),
           f'{os.path.relpath(f, root)}: no # syntax= directive (it needs a registry)')

# ---- the Dockerfile
df = os.path.join(docker, 'Dockerfile')
text = open(df).read()
froms = re.findall(r'^FROM\s+(\S+)', text, re.M)
args = dict(re.findall(r'^ARG\s+(\w+)=(\S+)', text, re.M))
bases = [args.get(f[2:-1], f) if f.startswith('${') else f for f in froms]
expect(len(bases) >= 2 and all(b.startswith('debian:12') or b.startswith('debian:bookworm') for b in bases),
       f'Dockerfile: multi-stage on Debian 12 ({", ".join(bases)})')
expect('scripts/deps.sh build' in text and 'scripts/build-image.sh' in text, 'Dockerfile: build stage runs deps.sh build and build-image.sh')
expect('runtime-packages.txt' in text, 'Dockerfile: runtime stage installs docker/runtime-packages.txt')
expect(re.search(r'^USER\s+10001', text, re.M) is not None, 'Dockerfile: USER 10001 (non-root)')
expect(re.search(r'^HEALTHCHECK\b.*CMD \["regsyncd", "healthcheck"\]', text, re.M) is not None,
       'Dockerfile: HEALTHCHECK regsyncd healthcheck (the configuration\'s admin.listen)')
expect(re.search(r'^ENTRYPOINT\s+\["/usr/local/bin/regsync-entrypoint"\]', text, re.M) is not None and
       'docker/entrypoint.sh /usr/local/bin/regsync-entrypoint' in text, 'Dockerfile: ENTRYPOINT docker/entrypoint.sh')
ep = open(os.path.join(docker, 'entrypoint.sh')).read()
expect(all(w in ep for w in ('regsync-dump', 'regsync-gen', 'healthcheck', 'exec regsyncd')), 'entrypoint.sh: dispatches by the first word')
expect(re.search(r'^CMD\s+\["run"\]', text, re.M) is not None and
       re.search(r'^ENV\s+REGSYNC_CONFIG=/etc/regsync/regsync.yaml', text, re.M) is not None,
       'Dockerfile: CMD run, with REGSYNC_CONFIG=/etc/regsync/regsync.yaml')
expect(not re.search(r'^(ENV|ARG)\s+\S*(TOKEN|PASSWORD|SECRET|ACCESS_KEY)', text, re.M | re.I),
       'Dockerfile: no secret in ENV or ARG')
missing = [c for c in dockerfile_copies(df) if not glob.glob(os.path.join(root, c))]
expect(not missing, f'Dockerfile: COPY sources exist {missing or ""}')
di = os.path.join(root, '.dockerignore')
if expect(os.path.isfile(di), '.dockerignore exists'):
    pats = [l.strip() for l in open(di) if l.strip() and not l.startswith('#')]
    expect('.git' in pats and any(p.startswith('build') for p in pats), '.dockerignore: leaves out .git and build trees')
pkgs = [l.split('#')[0].strip() for l in open(os.path.join(docker, 'runtime-packages.txt'))]
pkgs = {p for p in pkgs if p}
want = {'libprotobuf-c1', 'libjansson4', 'libyaml-0-2', 'libcurl4', 'libssl3', 'libpq5', 'libsqlite3-0',
        'libevent-2.1-7', 'libevent-pthreads-2.1-7', 'libevent-openssl-2.1-7', 'ca-certificates'}
expect(want <= pkgs, f'runtime-packages.txt: the runtime libraries {sorted(want - pkgs) or ""}')
expect(not [p for p in pkgs if p.endswith('-dev')], 'runtime-packages.txt: no -dev package')
checks.close()
PY
py_rc=$?
while read -r line; do
  case $line in
    ok\ *) ok "${line#ok   }" ;;
    FAIL\ *) bad "${line#FAIL }" ;;
    *) echo "$line" ;;
  esac
done <"$work/py.out"
((py_rc == 0)) || bad "the python checks crashed (exit $py_rc)"

# ------------------------------------------------------------ check-config as the services run it
while IFS=$'\t' read -r envjson cfg argsjson label; do
  mapfile -t envs < <(python3 -c 'import json,sys; [print(f"{k}={v}") for k,v in json.loads(sys.argv[1]).items()]' "$envjson")
  mapfile -t args < <(python3 -c 'import json,sys; [print(a) for a in json.loads(sys.argv[1])]' "$argsjson")
  if out=$(env "${envs[@]}" "$regsyncd" check-config --config "$cfg" "${args[@]}" 2>&1); then
    ok "check-config: $label (${cfg#"$root"/})"
  else
    bad "check-config: $label (${cfg#"$root"/}):"; sed 's/^/    | /' <<<"$out"
  fi
done < <([[ -f $work/checks.tsv ]] && cat "$work/checks.tsv")
n=$(wc -l <"$work/checks.tsv" 2>/dev/null || echo 0)
((n >= 8)) && ok "check-config ran for $n service configurations" || bad "only $n service configurations checked"
for f in "$root"/docker/config/*.yaml; do
  # without a token the non-loopback admin address is refused: the env placeholder matters
  if "$regsyncd" check-config --config "$f" >/dev/null 2>&1; then
    grep -q 'listen: *"\?\(127\.\|localhost\|\[::1\]\|""\)' "$f" && ok "${f#"$root"/}: loopback admin" ||
      bad "${f#"$root"/}: accepted a non-loopback admin address without a token"
  else
    ok "${f#"$root"/}: needs its admin token (file or REGSYNC_ADMIN_TOKEN) for its admin address"
  fi
done

# ------------------------------------------------------------ man pages vs --help
commands_of() {  # the COMMAND words of a --help text: lines "  word ..." (two spaces)
  sed -n 's/^  \([a-z][a-z-]*\)\( .*\)\{0,1\}$/\1/p' | sort -u
}
check_man() {  # check_man PAGE HELP_TEXT LABEL
  local page=$1 help=$2 label=$3 c missing=() n=0
  while read -r c; do
    n=$((n + 1))
    # described: a bold command word at the start of a .TP tag or a synopsis line
    grep -qE "^\.(B|BR|BI) ${c//-/\\\\?-}( |$)|^\.B regsync[a-z\\-]* ${c//-/\\\\?-}( |$)" "$page" || missing+=("$c")
  done < <(commands_of <<<"$help")
  if ((n == 0)); then bad "$label: no command found in --help"; return; fi
  if ((${#missing[@]} == 0)); then ok "$label: the man page describes all $n commands of --help"
  else bad "$label: ${page#"$root"/} lacks: ${missing[*]}"; fi
}
help=$("$regsyncd" --help) && check_man "$root/docs/man/regsyncd.8" "$help" "regsyncd" || bad "regsyncd --help"
help=$("$dump" --help) && check_man "$root/docs/man/regsync-dump.1" "$help" "regsync-dump" || bad "regsync-dump --help"
# every option of regsyncd --help is in its man page
missing=$("$regsyncd" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u | while read -r o; do
  grep -qF -- "${o//-/\\-}" "$root/docs/man/regsyncd.8" || echo "$o"; done)
[[ -z $missing ]] && ok "regsyncd: the man page names every option of --help" || bad "regsyncd.8 lacks options: $missing"
if command -v groff >/dev/null; then
  for p in "$root"/docs/man/*.[18]; do
    w=$(groff -man -Tutf8 -ww -z "$p" 2>&1)
    [[ -z $w ]] && ok "groff renders ${p#"$root"/} without warnings" || bad "groff ${p#"$root"/}: $w"
  done
else
  echo "note: groff not installed; man pages not rendered"
fi

# ------------------------------------------------------------ configuration.md vs check-config --json
printf 'region: x\nstore: file:///tmp/x\ntarget: /tmp/x/registry.db\nstate_dir: /tmp/x/state\n' >"$work/min.yaml"
if "$regsyncd" check-config --json --config "$work/min.yaml" >"$work/effective.json" 2>/dev/null; then
  missing=$(python3 - "$work/effective.json" "$root/docs/configuration.md" <<'PY'
import json, sys
cfg, doc = json.load(open(sys.argv[1])), open(sys.argv[2]).read()
def keys(d, pre=''):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from keys(v, pre + k + '.')
        else:
            yield pre + k
for k in keys(cfg):
    if k == 'warnings':          # diagnostics, not a key
        continue
    if f'`{k}`' not in doc:
        print(k)
PY
)
  n=$(python3 -c 'import json,sys
def c(d): return sum(c(v) if isinstance(v, dict) else 1 for v in d.values())
print(c(json.load(open(sys.argv[1]))))' "$work/effective.json")
  [[ -z $missing ]] && ok "docs/configuration.md names all $n keys of check-config --json" ||
    bad "docs/configuration.md lacks: $(echo $missing)"
else
  bad "regsyncd check-config --json on a minimal config"
fi

# ------------------------------------------------------------ relative links of the deployment docs
for d in docs/operations.md docs/metrics.md docs/security.md docker/README.md docker/k8s/README.md; do
  [[ -f $root/$d ]] || { bad "missing $d"; continue; }
  broken=$(grep -oE '\]\([^)#:]+(#[^)]*)?\)' "$root/$d" | sed -E 's/^\]\(([^)#]+).*/\1/' | while read -r l; do
    [[ -e $(dirname "$root/$d")/$l ]] || echo "$l"; done)
  [[ -z $broken ]] && ok "$d: relative links resolve" || bad "$d: broken links: $(echo $broken)"
done

# ------------------------------------------------------------ the image's build script
if grep -q '^RS_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  echo "note: sanitizer build: scripts/build-image.sh runs in the optimized build's test run"
elif [[ ${RS_SKIP_IMAGE_BUILD:-0} == 1 ]]; then
  echo "note: RS_SKIP_IMAGE_BUILD=1: scripts/build-image.sh not run"
else
  # an optimized, unsanitized build dir configured like the image's is reused (its targets are
  # up to date, so this costs seconds); any other gets its own image-build/ inside it
  cache=$build/CMakeCache.txt image_build=$build/image-build
  if grep -q '^CMAKE_BUILD_TYPE:STRING=RelWithDebInfo$' "$cache" 2>/dev/null &&
     ! grep -q '^RS_FUZZ:BOOL=ON' "$cache" && ! grep -q '^RS_WERROR:BOOL=OFF' "$cache" &&
     { ! grep -q '^CMAKE_INSTALL_PREFIX:' "$cache" || grep -q '^CMAKE_INSTALL_PREFIX:PATH=/usr/local$' "$cache"; }; then
    image_build=$build
  fi
  if "$root/scripts/build-image.sh" --no-deps --build-dir "$image_build" --stage "$work/stage" \
       >"$work/image.log" 2>&1; then
    ok "scripts/build-image.sh: build, install, staged programs and ldd check"
    grep '^\[build-image\] \(ldd\|note\)' "$work/image.log" | sed 's/^/    /'
  else
    bad "scripts/build-image.sh; its output:"; grep -v '^\[ *[0-9]*%\]' "$work/image.log" | tail -n 30 | sed 's/^/    | /'
  fi
fi

finish
