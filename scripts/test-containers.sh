#!/usr/bin/env bash
# scripts/test-containers.sh: the container image and the compose federation, for real (issue 14).
# Run by scripts/test.sh (so by CI) when it may install and start a container engine: as root, or
# with a Docker engine already answering.
#
#   1. engine     installs Debian's docker.io and docker-compose (and debootstrap) when missing,
#                 with no service started by the install; starts dockerd when no engine answers,
#                 and at the end stops only the dockerd it started
#   2. bases      scripts/container-bases.sh: debian:12, debian:12-slim and the PostgreSQL image,
#                 pulled when a registry answers, else built from Debian packages (debootstrap once)
#   3. image      docker/README.md's "The image alone" blocks as written: docker build (timed; the
#                 image size reported), --version, regsync-dump on a fixture registry; then the
#                 image's own checks: uid 10001, read-only root without capabilities, every shared
#                 library found, the HEALTHCHECK healthy with admin.listen set only in the YAML and
#                 only in the environment (on a port that is not 8470), the entrypoint's dispatch
#   4. compose    docker/README.md's compose walk-through, every command as written, in one shell
#                 session like a user's terminal, once on PostgreSQL (blocks `sh compose` and
#                 `sh compose-pg`) and once on S3 (`sh compose` and `sh compose-s3`); each answer is
#                 checked (below, one check per command: a README command without a check fails
#                 the test). Between the steps: no secret in `docker inspect`, no PostgreSQL on S3.
#   5. teardown   compose down -v for both variants, the test's containers, the secrets it made;
#                 also on failure or interruption (a trap)
#
# What is not verbatim, and why: the host ports 8470-8472 of the commands become free ports
# (REGSYNC_*_PORT, so that parallel runs never collide), the project name becomes a unique one, and
# `docker compose` becomes `docker-compose` when only Compose 1.29 is installed (what the README
# says for that version). A read-only command whose answer is not yet what the README says (the
# federation still settling) is repeated for up to RS_CONTAINERS_SETTLE seconds (default 120).
#
# Environment: CI=true or RS_REQUIRE_CONTAINERS=1: a machine where no engine can run fails instead
# of skipping. RS_CONTAINERS_PULL=auto|never|always (scripts/container-bases.sh --pull).
# RS_CONTAINERS_KEEP=1 keeps the work directory. RS_SHARED_DIR: the fixtures (default ../shared).
# RS_CONTAINERS_VARIANTS="pg s3" (default both).
# Exit codes: 0 passed; 1 failed; 77 skipped (no engine can run here: one line says why).
# Prints "N passed, M failed" last (a skip prints only its one line).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SKIP=77
t_start=$(date +%s)
passed=0 failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
say() { printf '[containers %s +%ss] %s\n' "$(date +%T)" "$(($(date +%s) - t_start))" "$*"; }
require=0
[[ ${CI:-} == true || ${RS_REQUIRE_CONTAINERS:-0} == 1 ]] && require=1
skip_or_fail() {
  if ((require)); then
    echo "FAIL containers: $* (CI=true / RS_REQUIRE_CONTAINERS=1: the container test must run)"
    echo "0 passed, 1 failed"
    exit 1
  fi
  echo "SKIP containers: $*"
  exit $SKIP
}

# ---------------------------------------------------------------- 0. may an engine run here?
engine_answers() { docker info >/dev/null 2>&1; }
if ! engine_answers && [[ $(id -u) != 0 ]]; then
  skip_or_fail "no Docker engine answers and this is not root (cannot install or start one)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rs-containers.XXXXXX")
project=rs-ctest-$$
started_dockerd= secrets_backup= made_secrets=0 sess_pid=
step_t=$(date +%s)
timing=()
phase() {  # phase NAME: closes the previous phase's timer, starts NAME
  local now
  now=$(date +%s)
  [[ -n ${cur_phase:-} ]] && timing+=("$cur_phase $((now - step_t))s")
  cur_phase=$1 step_t=$now
  say "== $1"
}

compose_cmd=()
compose_down_all() {
  ((${#compose_cmd[@]})) || return 0
  local f
  for f in compose.yaml compose.s3.yaml; do
    (cd "$root/docker" && COMPOSE_PROJECT_NAME=$project COMPOSE_FILE=$f "${compose_cmd[@]}" down -v --remove-orphans \
      >>"$work/teardown.log" 2>&1) || true
  done
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n $sess_pid ]] && kill -TERM -- "-$sess_pid" 2>/dev/null
  if engine_answers; then
    compose_down_all
    # whatever this run's label or name left
    docker ps -aq --filter "label=com.docker.compose.project=$project" --filter "label=rs-ctest=$$" |
      xargs -r docker rm -f >/dev/null 2>&1
    docker ps -aq --filter "label=rs-ctest=$$" | xargs -r docker rm -f >/dev/null 2>&1
    docker volume ls -q --filter "label=com.docker.compose.project=$project" | xargs -r docker volume rm >/dev/null 2>&1
    docker network ls -q --filter "label=com.docker.compose.project=$project" | xargs -r docker network rm >/dev/null 2>&1
  fi
  if ((made_secrets)); then rm -rf "$root/docker/secrets"; fi
  [[ -n $secrets_backup ]] && mv "$secrets_backup" "$root/docker/secrets"
  if [[ -n $started_dockerd ]]; then
    say "stopping the dockerd this test started (pid $started_dockerd)"
    kill -TERM "$started_dockerd" 2>/dev/null
    for _ in $(seq 40); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$started_dockerd" 2>/dev/null && { say "dockerd did not stop in 20 s: SIGKILL"; kill -KILL "$started_dockerd"; }
  fi
  if ((rc != 0 && rc != SKIP)) || [[ ${RS_CONTAINERS_KEEP:-0} == 1 ]]; then
    say "work directory kept: $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

finish() {
  phase done
  say "time per phase: ${timing[*]}"
  say "total: $(($(date +%s) - t_start)) s"
  echo "$passed passed, $failed failed"
  ((failed == 0)) && exit 0
  exit 1
}

# ---------------------------------------------------------------- 1. engine
phase engine
if [[ $(id -u) == 0 ]]; then
  want=(docker.io debootstrap openssl curl jq python3-yaml)
  docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || want+=(docker-compose)
  missing=()
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    say "apt-get install ${missing[*]} (no service is started by the install)"
    policy_made=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      printf '#!/bin/sh\n# scripts/test-containers.sh: no service starts during its install\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod +x /usr/sbin/policy-rc.d
      policy_made=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$work/apt.log" 2>&1
    apt_rc=$?
    ((policy_made)) && rm -f /usr/sbin/policy-rc.d
    if ((apt_rc != 0)); then
      tail -n 20 "$work/apt.log"
      bad "installing ${missing[*]} failed"
      finish
    fi
    ok "installed ${missing[*]}"
  fi
fi
if ! engine_answers; then
  command -v dockerd >/dev/null || { bad "no dockerd to start"; finish; }
  say "no engine answers: starting dockerd (log: $work/dockerd.log)"
  setsid dockerd --pidfile "$work/dockerd.pid" >"$work/dockerd.log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 120); do engine_answers && break; kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.5; done
  if ! engine_answers; then
    tail -n 20 "$work/dockerd.log"
    bad "dockerd did not answer within 60 s"
    finish
  fi
  ok "dockerd started (pid $started_dockerd): $(docker version -f 'server {{.Server.Version}}, client {{.Client.Version}}' 2>/dev/null)"
else
  ok "a Docker engine answers: $(docker version -f 'server {{.Server.Version}}' 2>/dev/null)"
fi
if docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
  ok "Compose v2: $(docker compose version --short 2>/dev/null): the README's commands run as written"
elif command -v docker-compose >/dev/null; then
  compose_cmd=(docker-compose)
  ok "Compose $(docker-compose version --short 2>/dev/null) (docker-compose): the README's \`docker compose\` runs as \`docker-compose\`"
else
  bad "no Compose (neither the docker compose plugin nor docker-compose)"
  finish
fi

# ---------------------------------------------------------------- 2. base images
phase bases
images_before=$(docker images -q | wc -l)
say "images present before this run: $images_before"
if ! scripts/container-bases.sh --pull "${RS_CONTAINERS_PULL:-auto}" >"$work/bases.env" 2>"$work/bases.log"; then
  cat "$work/bases.log"
  bad "scripts/container-bases.sh failed"
  finish
fi
sed 's/^/    /' "$work/bases.log"
eval "$(grep '^export REGSYNC_POSTGRES_IMAGE=' "$work/bases.env")"
ok "base images: debian:12, debian:12-slim, ${REGSYNC_POSTGRES_IMAGE:-?}"

# ---------------------------------------------------------------- the README, as blocks
readme=$root/docker/README.md
python3 - "$readme" "$work/blocks" <<'PY' || { bad "reading the blocks of docker/README.md"; finish; }
import os, re, sys
readme, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
lines = open(readme, encoding='utf-8').read().split('\n')
blocks, cur, tag, start = [], None, None, 0
for i, line in enumerate(lines, 1):
    m = re.match(r'^```(\S*)\s*(\S*)\s*$', line)
    if cur is None:
        if m and m.group(1) == 'sh' and m.group(2):
            cur, tag, start = [], m.group(2), i
    elif line.startswith('```'):
        blocks.append((tag, start, cur))
        cur = None
    else:
        cur.append((i, line))
# one command per line; a trailing backslash continues it; comment-only and empty lines are none
n = 0
with open(os.path.join(out, 'index.tsv'), 'w') as idx:
    for tag, start, body in blocks:
        cmd, first = '', None
        for i, line in body:
            if not cmd and (not line.strip() or line.lstrip().startswith('#')):
                continue
            if first is None:
                first = i
            if line.endswith('\\'):
                cmd += line + '\n'
                continue
            cmd += line
            n += 1
            name = f'{n:03d}.sh'
            open(os.path.join(out, name), 'w').write(cmd)
            idx.write(f'{tag}\t{first}\t{name}\n')
            cmd, first = '', None
PY
say "docker/README.md: $(wc -l <"$work/blocks/index.tsv") commands in tagged blocks ($(cut -f1 "$work/blocks/index.tsv" | sort -u | tr '\n' ' '))"

# the documented substitutions: free host ports, a unique project name, docker-compose for 1.29
free_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
P_PUB=$(free_port) P_US=$(free_port) P_EU=$(free_port)
while [[ $P_PUB == "$P_US" || $P_US == "$P_EU" || $P_PUB == "$P_EU" ]]; do P_EU=$(free_port); done
export REGSYNC_PUBLISHER_PORT=$P_PUB REGSYNC_US_WEST_2_PORT=$P_US REGSYNC_EU_CENTRAL_1_PORT=$P_EU
export REGSYNC_POSTGRES_IMAGE
unset COMPOSE_FILE COMPOSE_PROJECT_NAME
adapt() {  # the README command in $1 as this run performs it
  local c=$1
  c=${c//127.0.0.1:8470/127.0.0.1:$P_PUB}
  c=${c//127.0.0.1:8471/127.0.0.1:$P_US}
  c=${c//127.0.0.1:8472/127.0.0.1:$P_EU}
  c=${c//COMPOSE_PROJECT_NAME=regsync-demo/COMPOSE_PROJECT_NAME=$project}
  if [[ ${compose_cmd[*]} == docker-compose ]]; then c=${c//docker compose /docker-compose }; fi
  printf '%s' "$c"
}
say "host ports: publisher $P_PUB, us-west-2 $P_US, eu-central-1 $P_EU; project $project"

# ---------------------------------------------------------------- a shell session like a user's
sess_n=0
sess_start() {  # sess_start DIR: a bash reading commands from a pipe, in its own process group
  mkdir -p "$work/sess"
  rm -f "$work/sess/in"
  mkfifo "$work/sess/in"
  (cd "$1" && exec setsid bash --norc --noprofile <"$work/sess/in" >>"$work/sess/shell.log" 2>&1) &
  sess_pid=$!
  exec {sess_fd}>"$work/sess/in"
}
sess_stop() {
  [[ -n $sess_pid ]] || return 0
  printf 'exit\n' >&"$sess_fd" 2>/dev/null
  exec {sess_fd}>&-
  for _ in $(seq 20); do kill -0 "$sess_pid" 2>/dev/null || break; sleep 0.1; done
  kill -TERM -- "-$sess_pid" 2>/dev/null
  wait "$sess_pid" 2>/dev/null
  sess_pid=
}
OUT= RC=
sess_run() {  # sess_run TIMEOUT COMMAND: runs it in the session; OUT (file) and RC
  local limit=$1 cmd=$2 f
  sess_n=$((sess_n + 1))
  f=$work/sess/$sess_n
  printf '%s\n' "$cmd" >"$f.cmd"
  printf '{ %s\n} >%q 2>&1 </dev/null; echo $? >%q; mv %q %q\n' "$cmd" "$f.out" "$f.rc.tmp" "$f.rc.tmp" "$f.rc" >&"$sess_fd"
  local deadline=$(($(date +%s) + limit))
  while [[ ! -f $f.rc ]]; do
    if (($(date +%s) > deadline)) || ! kill -0 "$sess_pid" 2>/dev/null; then
      OUT=$f.out RC=124
      [[ -f $OUT ]] || : >"$OUT"
      echo "(no answer within ${limit}s: the session is ended)" >>"$OUT"
      kill -TERM -- "-$sess_pid" 2>/dev/null
      sess_pid=
      return
    fi
    sleep 0.2
  done
  OUT=$f.out RC=$(cat "$f.rc")
}
show() {  # the answer of a failed check
  sed 's/^/    | /' "$OUT" | tail -n "${1:-25}"
}

# ---------------------------------------------------------------- the checks, one per command
J() { jq -r "$1" "$OUT" 2>/dev/null; }
svc_line() {  # the `ps -a` line of a service (Compose 1.29: project_svc_1; v2: project-svc-1)
  grep -E "(^|[ _-])${project}[_-]$1[_-]1( |$)" "$OUT" | head -n 1
}
ps_ok() {  # ps_ok VARIANT: one-shots exited 0, the rest up and healthy
  local s l store=postgres
  [[ $1 == s3 ]] && store=s3
  for s in feast-apply publish-once sync-us-west-2 sync-eu-central-1; do
    l=$(svc_line "$s")
    [[ $l =~ Exit\ 0|Exited\ \(0\) ]] || { why="$s: not exited 0 (${l:-no line})"; return 1; }
  done
  for s in "$store" publisher agent-us-west-2 agent-eu-central-1; do
    l=$(svc_line "$s")
    [[ $l =~ Up && $l =~ \(healthy\) ]] || { why="$s: not up and healthy (${l:-no line})"; return 1; }
  done
  if [[ $1 == s3 ]] && [[ -n $(svc_line postgres) ]]; then why="a postgres service runs on S3"; return 1; fi
  return 0
}
summary_has() {  # summary_has YES... -- NO...
  local p want=1
  for p in "$@"; do
    [[ $p == -- ]] && { want=0; continue; }
    if ((want)) && ! grep -q "$p" "$OUT"; then why="no $p"; return 1; fi
    if ((!want)) && grep -q "$p" "$OUT"; then why="$p is there"; return 1; fi
  done
}
region_row() { grep -E "^$1[[:space:]]" "$OUT" | head -n 1; }
# check COMMAND: 0 when the answer is right (why= says what is wrong); 2 when no check exists.
# RETRY=1 for read-only commands (repeated while the federation settles).
check() {
  local c=$1
  why= RETRY=0
  case $c in
    'cd docker') [[ $RC == 0 ]] ;;
    'install -d -m 700 secrets')
      [[ $RC == 0 && $(stat -c %a "$root/docker/secrets") == 700 ]] || { why="secrets/ is not mode 700"; return 1; } ;;
    'openssl rand -hex 16 >secrets/pg_password'*)
      [[ $RC == 0 && $(cat "$root/docker/secrets/pg_password") =~ ^[0-9a-f]{32}$ ]] ;;
    'openssl rand -hex 32 >secrets/admin_token'*)
      [[ $RC == 0 && $(cat "$root/docker/secrets/admin_token") =~ ^[0-9a-f]{64}$ ]] ;;
    'chmod 644 secrets/pg_password secrets/admin_token')
      [[ $RC == 0 && $(stat -c %a "$root/docker/secrets/pg_password") == 644 ]] ;;
    'export COMPOSE_PROJECT_NAME=regsync-demo') [[ $RC == 0 ]] ;;
    'export COMPOSE_FILE=compose.s3.yaml') [[ $RC == 0 ]] ;;
    'docker compose up -d --build') [[ $RC == 0 ]] || { why="exit $RC"; return 1; } ;;
    'docker compose ps -a '*) RETRY=1; [[ $RC == 0 ]] && ps_ok "$variant" ;;
    'curl -s http://127.0.0.1:8471/v1/status '*)
      RETRY=1
      [[ $(J .region) == us-west-2 && $(J .applied_version) == 1 && $(J .head_version) == 1 && $(J .ready) == true &&
         $(J .last_error) == null ]] || { why="expected us-west-2 at version 1 of 1, ready, no error"; return 1; } ;;
    "curl -s 'http://127.0.0.1:8472/readyz?verbose' "*)
      RETRY=1; [[ $(J .status) == ready ]] || { why="not ready"; return 1; } ;;
    "curl -s http://127.0.0.1:8471/metrics | grep -E '^regsync_(applied|head|lag)'")
      RETRY=1
      grep -qE '^regsync_applied_version 1$' "$OUT" && grep -qE '^regsync_head_version 1$' "$OUT" &&
        grep -qE '^regsync_lag_seconds ' "$OUT" || { why="regsync_applied_version 1, regsync_head_version 1, regsync_lag_seconds"; return 1; } ;;
    'docker compose logs agent-eu-central-1 '*)
      RETRY=1
      grep -q 'info daemon started region=eu-central-1' "$OUT" && grep -q 'admin API listening address=0.0.0.0:8470' "$OUT" ||
        { why="no start and admin lines"; return 1; }
      # one line per event: "<time> <level> <module> ..." after Compose's "service | " prefix
      local badl
      badl=$(sed -n 's/^[^|]*| //p' "$OUT" | grep -cvE '^[0-9T:.+-]+Z? (debug|info|warn|error) [a-z_]+ ' || true)
      ((badl == 0)) || { why="$badl lines not in the one-line-per-event format"; return 1; } ;;
    'docker compose exec -T agent-us-west-2 regsync-dump summary /var/lib/feast/registry.db')
      RETRY=1; [[ $RC == 0 ]] && summary_has proj_00 proj_01 -- proj_02 ;;
    'docker compose exec -T agent-eu-central-1 regsync-dump summary /var/lib/feast/registry.db')
      RETRY=1; [[ $RC == 0 ]] && summary_has proj_01 proj_02 -- proj_00 ;;
    'docker compose exec -T publisher regsync-dump regions '*)
      RETRY=1
      [[ $(region_row us-west-2) =~ in_sync && $(region_row eu-central-1) =~ in_sync ]] ||
        { why="us-west-2 and eu-central-1 not both in_sync"; return 1; }
      [[ $RC == 0 ]] || { why="exit $RC: some region is not in sync"; return 1; } ;;
    'docker compose exec -T publisher regsync-dump ls '*)
      RETRY=1; [[ $RC == 0 ]] && grep -q 'regsync/HEAD' "$OUT" && grep -q 'regsync/log/' "$OUT" ;;
    'docker compose run --rm feast-apply '*) [[ $RC == 0 ]] ;;
    "curl -s 'http://127.0.0.1:8470/v1/wait?version=2&regions=all&timeout=30s'")
      [[ $(J .done) == true ]] || { why="not done: expected {\"done\": true, ...}"; return 1; } ;;
    "curl -s 'http://127.0.0.1:8471/v1/diff?from=1&to=2&format=plan'")
      J .plan | grep -qE '^(Created|Updated|Deleted) ' || { why="no plan line"; return 1; } ;;
    *'/v1/rollback')
      [[ $(J .ok) == true && $(J .done) == true && $(J .status.applied_version) == 1 && $(J .status.pinned_version) == 1 ]] ||
        { why="expected ok, done, and the status after the rollback: applied_version 1, pinned_version 1"; return 1; } ;;
    *'/v1/unpin')
      [[ $(J .ok) == true && $(J .done) == true && $(J .status.applied_version) == 2 && $(J .status.pinned_version) == null ]] ||
        { why="expected ok, done, and the status after the unpin: applied_version 2, pinned_version null"; return 1; } ;;
    'docker compose down -v')
      [[ $RC == 0 ]] || return 1
      [[ -z $(docker ps -aq --filter "label=com.docker.compose.project=$project") &&
         -z $(docker volume ls -q --filter "label=com.docker.compose.project=$project") ]] ||
        { why="containers or volumes of the project remain"; return 1; } ;;
    'docker build -f docker/Dockerfile -t regsync:0.1.0 .') [[ $RC == 0 ]] ;;
    'docker run --rm regsync:0.1.0 --version') [[ $RC == 0 ]] && grep -qx 'regsyncd 0.1.0' "$OUT" ;;
    'docker run --rm -v "$PWD:/data:ro" regsync:0.1.0 regsync-dump summary /data/registry.db')
      [[ $RC == 0 ]] && grep -q '^objects: [1-9]' "$OUT" ;;
    'docker run --rm regsync:0.1.0 check-config --example | head -n 3')
      [[ $RC == 0 && $(wc -l <"$OUT") == 3 ]] && grep -q 'regsyncd configuration' "$OUT" ;;
    *) return 2 ;;
  esac
}

# run_block_cmds TAG_REGEX TIMEOUT: every README command whose tag matches, in order, checked
ran_tags=()
run_cmds() {
  local tags=$1 tag line file cmd real t0 rc deadline
  while IFS=$'\t' read -r tag line file; do
    [[ $tag =~ ^($tags)$ ]] || continue
    ran_tags+=("$tag")
    cmd=$(cat "$work/blocks/$file")
    real=$(adapt "$cmd")
    if [[ $cmd == 'docker compose down -v' ]] && ((failed > failed_before)); then dump_logs; fi
    t0=$(date +%s)
    deadline=$((t0 + ${RS_CONTAINERS_SETTLE:-120}))
    while :; do
      sess_run 1500 "$real"
      check "$cmd"; rc=$?
      ((rc == 0 || rc == 2 || RETRY == 0 || RC == 124)) && break
      (($(date +%s) >= deadline)) && break
      sleep 2
    done
    local label="README:$line [$variant] ${cmd//$'\n'/ }"
    if ((rc == 2)); then
      bad "$label: the test has no check for this command (add one to scripts/test-containers.sh)"
    elif ((rc == 0)); then
      ok "$label ($(($(date +%s) - t0)) s)"
    else
      bad "$label: exit $RC${why:+: $why}; the answer:"
      show
    fi
    if [[ -n ${after_hook[$cmd]:-} ]]; then ${after_hook[$cmd]}; fi
    [[ -n $sess_pid ]] || { bad "the session ended; the remaining steps of this walk-through are not run"; return 1; }
  done <"$work/blocks/index.tsv"
}
declare -A after_hook=()
failed_before=0
dump_logs() {
  say "[$variant] a step failed: the federation's last log lines per service, before the teardown:"
  (cd "$root/docker" && COMPOSE_PROJECT_NAME=$project COMPOSE_FILE=$([[ $variant == s3 ]] && echo compose.s3.yaml || echo compose.yaml) \
    "${compose_cmd[@]}" logs --no-color --tail 12 2>&1 | tail -n 120 | sed 's/^/    /')
}

# ---------------------------------------------------------------- 3. the image
phase image
variant=image
sess_start "$root"
run_cmds 'image-build'
sess_stop
img=regsync:0.1.0
if docker image inspect "$img" >/dev/null 2>&1; then
  size=$(docker image inspect -f '{{.Size}}' "$img")
  base=$(docker image inspect -f '{{.Size}}' debian:12-slim)
  say "image $img: $((size / 1000000)) MB (debian:12-slim base $((base / 1000000)) MB, regsync's layers $(((size - base) / 1000000)) MB)"
  if ((size <= 150000000)); then ok "image size $((size / 1000000)) MB <= 150 MB"; else bad "image size $((size / 1000000)) MB > 150 MB"; fi
  docker history --format '{{.Size}}\t{{.CreatedBy}}' "$img" | grep -v '^0B' | cut -c1-150 | sed 's/^/    /'
else
  bad "no image $img: the remaining steps cannot run"
  finish
fi
mkdir -p "$work/data"
fixture=${RS_SHARED_DIR:-$root/../shared}/fixtures/registries/feast-dev__feast__ui_public_registry.db
if [[ -f $fixture ]]; then
  cp "$fixture" "$work/data/registry.db"
  chmod 644 "$work/data/registry.db"
  sess_start "$work/data"
  run_cmds 'image'
  sess_stop
else
  bad "fixture $fixture missing (RS_SHARED_DIR): the README's image commands need a registry.db"
fi
drun() { docker run --rm --label "rs-ctest=$$" "$@"; }
[[ $(drun "$img" id -u 2>&1) == 10001 ]] && ok "image: runs as uid 10001" || bad "image: not uid 10001"
out=$(drun "$img" sh -c 'for p in regsyncd regsync-dump regsync-gen; do ldd /usr/local/bin/$p; done' 2>&1)
if [[ $out == *"=>"* && $out != *"not found"* ]]; then ok "image: every shared library of the three programs is found"
else bad "image: ldd: $(grep 'not found' <<<"$out" | head -n 3)"; fi
out=$(drun "$img" regsync-dump --help 2>&1 | head -n 1)
[[ $out == usage:\ regsync-dump* ]] && ok "entrypoint: regsync-dump ARGS runs regsync-dump" || bad "entrypoint: regsync-dump --help printed: $out"
out=$(drun "$img" regsyncd --version 2>&1)
[[ $out == "regsyncd 0.1.0" ]] && ok "entrypoint: regsyncd ARGS runs regsyncd" || bad "entrypoint: regsyncd --version printed: $out"
out=$(drun "$img" bogus-command 2>&1)
[[ $out == *"unknown command 'bogus-command'"* ]] && ok "entrypoint: an unknown word reaches regsyncd, which names it" ||
  bad "entrypoint: bogus-command printed: $(head -n 2 <<<"$out")"

# the HEALTHCHECK wherever admin.listen comes from; a file:// store inside the container is enough:
# /healthz is liveness (the admin loop turns), not data
mkdir -p "$work/hc"
printf 'hc-token-0123456789abcdef0123\n' >"$work/hc/token"
chmod 644 "$work/hc/token"
cat >"$work/hc/yaml-listen.yaml" <<'YAML'
region: hc-yaml
store: file:///tmp/store
target: /tmp/registry.db
state_dir: /tmp/state
admin: { listen: "0.0.0.0:9000", token_file: /run/secrets/admin_token }
YAML
cat >"$work/hc/env-listen.yaml" <<'YAML'
region: hc-env
store: file:///tmp/store
target: /tmp/registry.db
state_dir: /tmp/state
admin: { token_file: /run/secrets/admin_token }
YAML
chmod 644 "$work"/hc/*.yaml
health_of() {  # health_of NAME: waits up to 60 s for healthy/unhealthy; prints the final status
  local s
  for _ in $(seq 60); do
    s=$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)
    [[ $s == healthy || $s == unhealthy ]] && break
    sleep 1
  done
  echo "$s"
}
hc_run() {  # hc_run NAME CONFIG [docker run options...]: the image as a user would run it, hardened
  local name=$1 cfg=$2; shift 2
  docker run -d --label "rs-ctest=$$" --name "$name" --read-only --cap-drop ALL --security-opt no-new-privileges:true \
    --tmpfs /tmp --health-interval 2s --health-start-period 30s \
    -v "$cfg:/etc/regsync/regsync.yaml:ro" -v "$work/hc/token:/run/secrets/admin_token:ro" "$@" "$img" >/dev/null
}
hc_run "rs-ctest-$$-hc-yaml" "$work/hc/yaml-listen.yaml"
hc_run "rs-ctest-$$-hc-env" "$work/hc/env-listen.yaml" -e REGSYNC_ADMIN_LISTEN=0.0.0.0:9001
hc_run "rs-ctest-$$-hc-dead" "$work/hc/env-listen.yaml" -e REGSYNC_ADMIN_LISTEN=0.0.0.0:9002
for n in yaml env; do
  s=$(health_of "rs-ctest-$$-hc-$n")
  if [[ $s == healthy ]]; then
    ok "HEALTHCHECK healthy with admin.listen from the ${n/yaml/YAML file} ($(docker inspect -f '{{(index .State.Health.Log 0).Output}}' "rs-ctest-$$-hc-$n" | tr -d '\n'))"
  else
    bad "HEALTHCHECK with admin.listen from the ${n/yaml/YAML file}: $s"; docker logs "rs-ctest-$$-hc-$n" 2>&1 | tail -n 5
  fi
done
# a HEALTHCHECK that can fail: the same agent with its admin loop stopped (SIGSTOP) turns unhealthy
health_of "rs-ctest-$$-hc-dead" >/dev/null
docker pause "rs-ctest-$$-hc-dead" >/dev/null 2>&1
out=$(docker exec "rs-ctest-$$-hc-dead" regsyncd healthcheck 2>&1); rc=$?
docker unpause "rs-ctest-$$-hc-dead" >/dev/null 2>&1
if [[ $(docker inspect -f '{{.State.Status}}' "rs-ctest-$$-hc-dead") == running ]]; then
  # paused containers cannot exec: probe a port nothing listens on instead
  out=$(docker exec -e REGSYNC_ADMIN_LISTEN=0.0.0.0:9999 "rs-ctest-$$-hc-dead" regsyncd healthcheck 2>&1); rc=$?
  [[ $rc == 1 && $out == *unhealthy* ]] && ok "regsyncd healthcheck: exit 1 when nothing answers ($out)" ||
    bad "regsyncd healthcheck with nothing listening: exit $rc: $out"
fi
docker logs "rs-ctest-$$-hc-yaml" 2>&1 | grep -q 'chmod 600' && bad "a token file mounted by Docker (root's, 0644) draws a chmod warning" ||
  ok "no permission warning for a token file Docker mounted"
docker rm -f "rs-ctest-$$-hc-yaml" "rs-ctest-$$-hc-env" "rs-ctest-$$-hc-dead" >/dev/null 2>&1

# ---------------------------------------------------------------- 4. the compose walk-throughs
no_secret_in_inspect() {
  local leaks=0 c
  for c in $(docker ps -aq --filter "label=com.docker.compose.project=$project"); do
    if docker inspect "$c" | grep -qF -e "$(cat "$root/docker/secrets/admin_token")" -e "$(cat "$root/docker/secrets/pg_password")"; then
      leaks=$((leaks + 1))
      echo "    secret in docker inspect of $(docker inspect -f '{{.Name}}' "$c")"
    fi
  done
  ((leaks == 0)) && ok "[$variant] no secret in docker inspect of any container (they are files)" ||
    bad "[$variant] $leaks containers show a secret in docker inspect"
}
after_hook['docker compose ps -a     # feast-apply, publish-once, sync-* exited 0; postgres, publisher and agents up (healthy)']=no_secret_in_inspect
after_hook['docker compose ps -a     # feast-apply, publish-once, sync-* exited 0; s3, publisher and agents up (healthy)']=no_secret_in_inspect

if [[ -e $root/docker/secrets ]]; then
  secrets_backup=$work/secrets-of-the-checkout
  mv "$root/docker/secrets" "$secrets_backup"
  say "docker/secrets existed: kept aside in $secrets_backup and put back at the end"
fi
for variant in ${RS_CONTAINERS_VARIANTS:-pg s3}; do
  phase "compose-$variant"
  made_secrets=1 failed_before=$failed
  sess_start "$root"
  run_cmds "compose|compose-$variant"
  sess_stop
  compose_down_all
  rm -rf "$root/docker/secrets"
done
# every tagged block of the README ran
for t in $(cut -f1 "$work/blocks/index.tsv" | sort -u); do
  printf '%s\n' "${ran_tags[@]}" | grep -qx "$t" || bad "README blocks tagged $t were not run"
done
finish
