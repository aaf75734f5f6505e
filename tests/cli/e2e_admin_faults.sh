#!/usr/bin/env bash
# e2e_admin_faults.sh: the admin API and the daemon under the faults of issue 9 (items 8, 9, 10),
# against real `regsyncd run` processes.
#   - /v1/wait slots: 1024 long polls opened and closed at once free their slots at once
#     (regsync_admin_waiters back to 0, regsync_admin_waits_abandoned_total counts them) and the
#     next wait is served, not refused 503;
#   - /v1/wait?regions=no-such answers 400 naming the region, at once;
#   - hostile HTTP, as raw bytes: a token followed by NUL and junk, two Content-Length headers that
#     differ, a bad chunk size: each 400 (and the pause it carried did not happen);
#   - /v1/registry?project=P shows P's infra objects only (its online-store tables);
#   - SIGHUP keeps the admin port: a probe loop (a new connection per probe) during 10 reloads
#     never sees a refused connection or an answer other than 200;
#   - a rollback pin and a pause survive a restart (SIGTERM, and kill -9), as docs/operations.md
#     says;
#   - an empty regsync/HEAD object, on file://, S3 and PostgreSQL: the running agent keeps its copy
#     and reports the error naming regsync/HEAD; `regsync-dump head`, `sync --once` and
#     `publish --once` fail with that message and write nothing; restoring HEAD heals the agent.
#   - out of file descriptors (an agent under ulimit -n 64 and 80 connections): accepting pauses
#     and one line is logged, instead of a busy loop that logs every failed accept();
# RS_E2E_FAULTS_STEPS (default "waits region http infra reload emfile pin head") picks steps.
source "$(dirname "$0")/lib.bash" "$@"
STEPS=" ${RS_E2E_FAULTS_STEPS:-waits region http infra reload emfile pin head} "
want() { [[ $STEPS == *" $1 "* ]]; }

TOKEN=e2e-faults-token-$$
export REGSYNC_ADMIN_TOKEN=$TOKEN
AUTH="Authorization: Bearer $TOKEN"

# raw HTTP: rawhttp PORT PYTHON_BYTES_LITERAL -> the status line of the answer ("none": no answer)
RAW_PY='
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(eval("b\"" + sys.argv[2] + "\""))
buf = b""
end = time.time() + 3
try:
    while time.time() < end and b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d: break
        buf += d
    # the body, when a Content-Length says how long it is
    h, _, body = buf.partition(b"\r\n\r\n")
    cl = [int(l.split(b":")[1]) for l in h.split(b"\r\n") if l.lower().startswith(b"content-length:")]
    while cl and len(body) < cl[0] and time.time() < end:
        d = s.recv(65536)
        if not d: break
        body += d
    buf = h + b"\r\n\r\n" + body
except socket.timeout:
    pass
print(buf.decode(errors="replace").split("\r\n")[0] if buf else "none")
print(buf.decode(errors="replace").rpartition("\r\n\r\n")[2].strip())
'
rawhttp() { "$PY" -c "$RAW_PY" "$@"; }

# N connections that each send a /v1/wait, then "open" in CTL; closed when CTL says "close"
WAITS_PY='
import socket, sys, time
port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
req = b"GET /v1/wait?version=99&timeout=60s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
ss = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
for s in ss: s.sendall(req)
open(ready, "w").write("open\n")
while open(ready).read().strip() != "close": time.sleep(0.02)
for s in ss: s.close()
'

metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
metric_is() { [[ $(metric "$1" "$2") == "$3" ]]; }

store=$(fresh_store file faults)
mkdir -p "$WORK/src"
"$GEN" --seed 51 --projects 3 --out "$WORK/src/registry.db" 2>/dev/null || fail "regsync-gen failed"
agent_yaml "$WORK/pub.yaml" region=faults-pub "source=file://$WORK/src/registry.db" publish=true \
  "state_dir=$WORK/pubstate" 'admin={ listen: "" }'
publish_v() { # publish_v STORE PUBCONFIG EXPECTED_VERSION
  local out
  out=$(rsd "$1" publish --once --config "$2" 2>>"$WORK/publish.err") || { show_log "$WORK/publish.err"; fail "publish --once failed"; }
  expect_eq "publish --once" "published version $3" "$out"
}
mutate_src() {
  "$GEN" mutate --seed "$1" --changes 3 "$WORK/src/registry.db" "$WORK/src/next.db" 2>/dev/null || fail "mutate failed"
  mv -f "$WORK/src/next.db" "$WORK/src/registry.db"
}
publish_v "$store" "$WORK/pub.yaml" 1
PORT=$(free_port)
A=http://127.0.0.1:$PORT
mkdir -p "$WORK/us-west-2/feast"
agent_yaml "$WORK/us-west-2.yaml" region=us-west-2 "target=file://$WORK/us-west-2/feast/registry.db" \
  "state_dir=$WORK/us-west-2/state" poll_interval=200ms heartbeat_interval=1s "admin={ listen: \"127.0.0.1:$PORT\" }"
start_a() {
  e2e_bg us-west-2 env REGSYNC_STORE="$store" "$REGSYNCD" run --config "$WORK/us-west-2.yaml"
  PID_A=$E2E_LAST_PID
  wait_for 10 "the agent's admin API" http_is 200 "$A/healthz"
}
start_a
expect_eq "/v1/wait for version 1" 200 "$(http_code "$A/v1/wait?version=1&regions=us-west-2&timeout=20s" -m 25)"

if want waits; then
step "item 8: 1024 /v1/wait opened and closed at once"
# the daemon and this test each hold one descriptor per connection
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NW=1024
(($(ulimit -n) < NW + 200)) && { NW=$(($(ulimit -n) - 200)); say "open files limited to $(ulimit -n): $NW waits (the cap of 1024 is not reached)"; }
echo > "$WORK/waits.ctl"
e2e_bg waits "$PY" -c "$WAITS_PY" "$PORT" "$NW" "$WORK/waits.ctl"
waits_pid=$E2E_LAST_PID
wait_for 30 "$NW waiters open" metric_is "$A" regsync_admin_waiters "$NW"
abandoned0=$(metric "$A" regsync_admin_waits_abandoned_total)
echo close >"$WORK/waits.ctl"
t0=$(date +%s%N)
wait "$waits_pid"
wait_for 3 "the $NW slots to be free" metric_is "$A" regsync_admin_waiters 0
say "$NW waits closed by their clients: every slot free $((($(date +%s%N) - t0) / 1000000)) ms after the closes began"
expect_eq "regsync_admin_waits_abandoned_total" "$NW" "$(($(metric "$A" regsync_admin_waits_abandoned_total) - abandoned0))"
expect_eq "a new /v1/wait after that" 200 "$(http_code "$A/v1/wait?version=1&timeout=5s" -m 6)"
fi

if want region; then
step "item 9: /v1/wait for a region nobody has heard of"
t0=$(date +%s%N)
out=$(curl -s -w '\n%{http_code}' -m 35 "$A/v1/wait?version=1&regions=us-west-2,no-such&timeout=30s")
ms=$((($(date +%s%N) - t0) / 1000000))
expect_eq "/v1/wait?regions=us-west-2,no-such" 400 "${out##*$'\n'}"
grep -q 'no-such' <<<"$out" || fail "the 400 does not name the region: $out"
((ms < 5000)) || fail "the 400 took ${ms} ms (the wait's timeout was 30 s)"
say "answered 400 in ${ms} ms: $(head -n 1 <<<"$out")"
fi

if want http; then
step "item 10: hostile HTTP against the daemon"
r=$(rawhttp "$PORT" "POST /v1/pause HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nAuthorization: Bearer $TOKEN\\x00junk\\r\\nContent-Length: 0\\r\\n\\r\\n")
expect_eq "a token followed by NUL and junk" "HTTP/1.1 400 Bad Request" "$(head -n 1 <<<"$r")"
grep -q 'NUL byte' <<<"$r" || fail "the 400 does not say why: $r"
expect_eq "paused after that request" false "$(curl -s "$A/v1/status" | jq .paused)"
r=$(rawhttp "$PORT" "POST /v1/sync HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nAuthorization: Bearer $TOKEN\\r\\nContent-Length: 2\\r\\nContent-Length: 40\\r\\n\\r\\n{}")
expect_eq "two Content-Length headers that differ" "HTTP/1.1 400 Bad Request" "$(head -n 1 <<<"$r")"
r=$(rawhttp "$PORT" "POST /v1/sync HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nAuthorization: Bearer $TOKEN\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\nzz\\r\\n{}\\r\\n0\\r\\n\\r\\n")
expect_eq "a bad chunk size" "HTTP/1.1 400 Bad Request" "$(head -n 1 <<<"$r")"
grep -q 'bad chunk size' <<<"$r" || fail "the 400 does not say why: $r"
r=$(rawhttp "$PORT" "POST /v1/sync HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nAuthorization: Bearer $TOKEN\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n2\\r\\n{}\\r\\n0\\r\\n\\r\\n")
expect_eq "a well-formed chunked POST" "HTTP/1.1 200 OK" "$(head -n 1 <<<"$r")"
fi

if want infra; then
step "item 10: /v1/registry?project= shows that project's infra only"
curl -s "$A/v1/registry?project=proj_01&kind=infra" >"$WORK/infra01.json"
n01=$(jq '[.infra[]?.name | strings] | length' "$WORK/infra01.json")
((n01 > 0)) || fail "proj_01 has no infra objects in /v1/registry (the generator makes one table per online view)"
jq -e '[.infra[].name | startswith("proj_01_")] | all' "$WORK/infra01.json" >/dev/null ||
  fail "?project=proj_01 lists another project's infra: $(jq -c '[.infra[].name]' "$WORK/infra01.json")"
all01=$("$DUMP" json "$WORK/us-west-2/feast/registry.db" | jq '[.[0].infra[]?.name | select(startswith("proj_01_"))] | length')
expect_eq "proj_01's tables in /v1/registry?project=proj_01 (all of them, from regsync-dump json)" "$all01" "$n01"
curl -s "$A/v1/registry?kind=infra" >"$WORK/infra-all.json"
# (every project listed, each with infra; an empty answer or no projects would pass all() vacuously)
expect_eq "projects with infra in /v1/registry?kind=infra" 3 "$(jq '[.[] | select((.infra // []) | length > 0)] | length' "$WORK/infra-all.json")"
jq -e 'all(.[]; .project as $p | [.infra[]?.name | startswith($p + "_")] | all)' "$WORK/infra-all.json" >/dev/null ||
  fail "/v1/registry lists a project's infra under another project"
say "proj_01: $n01 infra objects, all its own"
fi

if want reload; then
step "item 9: SIGHUP keeps the admin port open"
PROBE_PY='
import socket, sys, time
port, ctl = int(sys.argv[1]), sys.argv[2]
n = refused = errors = 0; codes = {}; worst = 0.0
while open(ctl).read().strip() != "stop":
    n += 1; t = time.time()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        s.settimeout(2); buf = b""
        while True:
            d = s.recv(4096)
            if not d: break
            buf += d
        s.close()
        c = buf[9:12].decode() if buf.startswith(b"HTTP/") else "none"
        codes[c] = codes.get(c, 0) + 1
    except ConnectionRefusedError: refused += 1
    except Exception: errors += 1
    worst = max(worst, time.time() - t)
    time.sleep(0.002)
print(n, refused, errors, codes.get("200", 0), "%.0f" % (worst * 1000), codes)
'
echo go >"$WORK/probe.ctl"
e2e_bg probe "$PY" -u -c "$PROBE_PY" "$PORT" "$WORK/probe.ctl"
probe_pid=$E2E_LAST_PID
reload0=$(grep -c 'daemon reloaded' "$WORK/us-west-2.log" || true)
for i in $(seq 10); do
  kill -HUP "$PID_A"
  nap 0.3
done
wait_for 10 "10 reloads" bash -c "(( \$(grep -c 'daemon reloaded' '$WORK/us-west-2.log') >= $reload0 + 10 ))"
nap 0.3
echo stop >"$WORK/probe.ctl"
wait "$probe_pid"
read -r pn prefused perrors p200 pworst pcodes <"$WORK/probe.log"
say "$pn probes during 10 reloads: $prefused refused, $perrors errors, $p200 answered 200, slowest ${pworst} ms ($pcodes)"
# the probe ran through the 3 s of reloads (a probe that never ran has nothing refused either)
[[ $pn =~ ^[0-9]+$ ]] && ((pn >= 20)) || fail "the probe made '$pn' requests during the reloads (expected at least 20)"
expect_eq "probes refused during the reloads" 0 "$prefused"
expect_eq "probes without an answer" 0 "$perrors"
expect_eq "probes answered 200" "$pn" "$p200"
grep -q 'socket=kept' "$WORK/us-west-2.log" || fail "the reload did not keep the listening socket"
fi

if want emfile; then
step "the admin API out of file descriptors (an agent with ulimit -n 64, 80 connections)"
FPORT=$(free_port)
mkdir -p "$WORK/ca-central-1/feast"
agent_yaml "$WORK/ca-central-1.yaml" region=ca-central-1 "target=file://$WORK/ca-central-1/feast/registry.db" \
  "state_dir=$WORK/ca-central-1/state" poll_interval=200ms "admin={ listen: \"127.0.0.1:$FPORT\" }"
# ulimit -n sets the soft and the hard limit: regsyncd cannot raise it
e2e_bg ca-central-1 env REGSYNC_STORE="$store" bash -c "ulimit -n 64 && exec '$REGSYNCD' run --config '$WORK/ca-central-1.yaml'"
fpid=$E2E_LAST_PID
wait_for 10 "ca-central-1's admin API" http_is 200 "http://127.0.0.1:$FPORT/healthz"
echo >"$WORK/fd.ctl"
e2e_bg fdwaits "$PY" -c "$WAITS_PY" "$FPORT" 80 "$WORK/fd.ctl"
fdw=$E2E_LAST_PID
wait_for 10 "80 connections open" grep -q open "$WORK/fd.ctl"
nap 2
accept_lines=$(grep -c -E 'accept_failed|Error from accept' "$WORK/ca-central-1.log" || true)
echo close >"$WORK/fd.ctl"
wait "$fdw"
wait_for 10 "ca-central-1 accepting again" http_is 200 "http://127.0.0.1:$FPORT/healthz"
errs=$(metric "http://127.0.0.1:$FPORT" regsync_admin_accept_errors_total)
say "2 s out of descriptors: $accept_lines accept error log line(s), regsync_admin_accept_errors_total $errs, then served again"
((accept_lines >= 1 && accept_lines <= 3)) || fail "accept errors logged $accept_lines times in 2 s (expected one line, not a busy loop)"
((errs >= 1)) || fail "regsync_admin_accept_errors_total is '$errs': the agent never ran out of descriptors"
stop_pid "$fpid"
fi

if want pin; then
step "item 9: a rollback pin and a pause survive a restart"
mutate_src 52
publish_v "$store" "$WORK/pub.yaml" 2
expect_eq "/v1/wait for version 2" 200 "$(http_code "$A/v1/wait?version=2&regions=us-west-2&timeout=20s" -m 25)"
expect_eq "rollback to 1" 200 "$(http_code "$A/v1/rollback" -X POST -H "$AUTH" -d '{"version": 1}')"
applied_is() { [[ $(curl -s "$A/v1/status" | jq .applied_version) == "$1" ]]; }
wait_for 15 "version 1 after the rollback" applied_is 1
v1_digest=$(digest "$WORK/us-west-2/feast/registry.db")
for how in TERM KILL; do
  stop_pid "$PID_A" "$how"
  start_a
  nap 1 # five polls: a forgotten pin would be back at version 2 by now
  curl -s "$A/v1/status" >"$WORK/status-$how.json"
  expect_eq "pinned_version after a restart (SIG$how)" 1 "$(jq .pinned_version "$WORK/status-$how.json")"
  expect_eq "applied_version after a restart (SIG$how)" 1 "$(jq .applied_version "$WORK/status-$how.json")"
  expect_eq "head_version seen after a restart (SIG$how)" 2 "$(jq .head_version "$WORK/status-$how.json")"
  expect_eq "the target after a restart (SIG$how)" "$v1_digest" "$(digest "$WORK/us-west-2/feast/registry.db")"
done
expect_eq "pause" 200 "$(http_code "$A/v1/pause" -X POST -H "$AUTH")"
expect_eq "unpin (while paused)" 200 "$(http_code "$A/v1/unpin" -X POST -H "$AUTH")"
stop_pid "$PID_A" TERM
start_a
nap 1
expect_eq "paused after a restart" true "$(curl -s "$A/v1/status" | jq .paused)"
expect_eq "applied_version while paused" 1 "$(curl -s "$A/v1/status" | jq .applied_version)"
expect_eq "resume" 200 "$(http_code "$A/v1/resume" -X POST -H "$AUTH")"
wait_for 15 "version 2 after resume" applied_is 2
fi
stop_pid "$PID_A" TERM

if want head; then
step "item 10: an empty regsync/HEAD object (file://, S3, PostgreSQL, MySQL)"
# put_head STORE FILE: writes FILE's bytes as the store's regsync/HEAD, behind regsync's back
put_head() {
  local st=$1 f=$2
  case $st in
    file://*) cat "$f" >"${st#file://}/regsync/HEAD" ;;
    s3://*)
      local bp=${st#s3://}; bp=${bp%%\?*}; bp=${bp%/}
      local ep; ep=$(sed -n 's/.*[?&]endpoint=\([^&]*\).*/\1/p' <<<"$st")
      curl -sSf --aws-sigv4 "aws:amz:${AWS_DEFAULT_REGION:-us-east-1}:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -X PUT --data-binary "@$f" "$ep/$bp/regsync/HEAD" >/dev/null ||
        fail "cannot write regsync/HEAD on S3" ;;
    postgres*://*)
      local p; p=$(sed -n 's/.*[?&]table_prefix=\([a-z0-9_]*\).*/\1/p' <<<"$st")
      local conn=${st%%table_prefix=*}; conn=${conn%[?&]}
      psql -qAt "$conn" -v ON_ERROR_STOP=1 -c "update ${p}objects set data = decode('$(od -An -v -tx1 "$f" | tr -d ' \n')', 'hex') where key = 'regsync/HEAD'" >/dev/null ||
        fail "cannot write regsync/HEAD in Postgres" ;;
    mysql://* | mariadb://*)
      # with its etag and size, the way docs/storage.md says another writer must
      local p; p=$(sed -n 's/.*[?&]table_prefix=\([a-z0-9_]*\).*/\1/p' <<<"$st")
      my_sql "$st" "SET @d = X'$(od -An -v -tx1 "$f" | tr -d ' \n')'; UPDATE \`${p}objects\` SET data = @d, etag = LEFT(SHA2(@d, 256), 32), size = LENGTH(@d) WHERE \`key\` = 'regsync/HEAD'" >/dev/null ||
        fail "cannot write regsync/HEAD in MySQL" ;;
  esac
}
e2e_backends
for backend in "${E2E_BACKEND_LIST[@]}"; do
  st=$(fresh_store "$backend" emptyhead)
  E2E_STORES+=("$st")
  d=$WORK/eh-$backend
  mkdir -p "$d/feast" "$d/pubsrc"
  cp "$WORK/src/registry.db" "$d/pubsrc/registry.db"
  agent_yaml "$d/pub.yaml" region=eh-pub "source=file://$d/pubsrc/registry.db" publish=true "state_dir=$d/pubstate" 'admin={ listen: "" }'
  publish_v "$st" "$d/pub.yaml" 1
  EP=$(free_port)
  agent_yaml "$d/agent.yaml" region=eh-follower "target=file://$d/feast/registry.db" "state_dir=$d/state" \
    poll_interval=200ms "admin={ listen: \"127.0.0.1:$EP\" }"
  e2e_bg "eh-$backend" env REGSYNC_STORE="$st" "$REGSYNCD" run --config "$d/agent.yaml"
  E=http://127.0.0.1:$EP
  wait_for 15 "$backend: the follower at version 1" bash -c "[[ \$(curl -s $E/v1/status | jq .applied_version) == 1 ]]"
  before=$(digest "$d/feast/registry.db")
  fetch_objects "$st" regsync/HEAD "$d/saved"
  [[ -s $d/saved/regsync_HEAD ]] || fail "$backend: could not save regsync/HEAD"
  : >"$d/empty"
  put_head "$st" "$d/empty"
  err_names_head() { curl -s "$E/v1/status" | jq -r '.last_error.message // ""' | grep -q 'regsync/HEAD is empty'; }
  wait_for 15 "$backend: the follower reports the empty HEAD" err_names_head
  expect_eq "$backend: applied_version with an empty HEAD" 1 "$(curl -s "$E/v1/status" | jq .applied_version)"
  expect_eq "$backend: the target with an empty HEAD" "$before" "$(digest "$d/feast/registry.db")"
  "$DUMP" head "$st" >/dev/null 2>"$d/dump.err" && fail "$backend: regsync-dump head accepted an empty HEAD"
  grep -q 'regsync/HEAD is empty' "$d/dump.err" || { cat "$d/dump.err"; fail "$backend: regsync-dump head does not name the empty HEAD"; }
  agent_yaml "$d/once.yaml" region=eh-once "target=file://$d/once/registry.db" "state_dir=$d/oncestate" 'admin={ listen: "" }'
  mkdir -p "$d/once"
  rsd "$st" sync --once --config "$d/once.yaml" >/dev/null 2>"$d/once.err" && fail "$backend: sync --once accepted an empty HEAD"
  grep -q 'regsync/HEAD is empty' "$d/once.err" || { cat "$d/once.err"; fail "$backend: sync --once does not name the empty HEAD"; }
  "$GEN" mutate --seed 53 --changes 2 "$d/pubsrc/registry.db" "$d/pubsrc/next.db" 2>/dev/null && mv -f "$d/pubsrc/next.db" "$d/pubsrc/registry.db"
  rsd "$st" publish --once --config "$d/pub.yaml" >/dev/null 2>"$d/pub.err" && fail "$backend: publish --once published over an empty HEAD"
  grep -q 'regsync/HEAD is empty' "$d/pub.err" || { cat "$d/pub.err"; fail "$backend: publish --once does not name the empty HEAD"; }
  store_keys "$st" regsync/log/ | grep -q 'regsync/log/0*2$' && fail "$backend: a refused publish wrote log entry 2"
  put_head "$st" "$d/saved/regsync_HEAD"
  publish_v "$st" "$d/pub.yaml" 2
  wait_for 15 "$backend: the follower at version 2 after HEAD is restored" bash -c "[[ \$(curl -s $E/v1/status | jq .applied_version) == 2 ]]"
  say "$backend: empty HEAD reported ($(sed -n 's/.*\(regsync\/HEAD is empty[^;]*\).*/\1/p' "$d/dump.err" | head -n 1)), copy kept, nothing written; healed"
  stop_pid "$E2E_LAST_PID"
done
fi
say "PASS"
