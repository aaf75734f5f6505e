#!/usr/bin/env bash
# tests/cli/secrets_health.sh BUILD_DIR [SHARED_DIR]: what the container image relies on, without
# a container engine (issue 14):
#   healthcheck    `regsyncd healthcheck` probes the admin.listen of the configuration wherever it
#                  was set (the YAML, REGSYNC_ADMIN_LISTEN, --set; the file named by REGSYNC_CONFIG
#                  when no --config), a wildcard host on loopback; exit 1 (never 2) when nothing
#                  answers, the admin API is off, the port is 0 or the configuration is invalid
#   password_file  a postgresql:// URL with password_file=PATH connects with the password in that
#                  file (against the real test server, which wants SCRAM passwords); a missing file
#                  and a wrong password fail naming the file / the server; the configuration
#                  accepts the parameter in the YAML (a path, not a secret)
#   token file     REGSYNC_ADMIN_TOKEN_FILE gives the admin token: POSTs need exactly it
# Postgres parts need RS_TEST_PG_URL (scripts/pg-server.sh); without it they SKIP loudly, and fail
# with RS_REQUIRE_SERVERS=1. Prints "N passed, M failed" last.
set -uo pipefail
build=${1:?usage: secrets_health.sh BUILD_DIR [SHARED_DIR]}
build=$(cd "$build" && pwd)
regsyncd=$build/daemon/regsyncd dump=$build/tools/regsync-dump gen=$build/bench/regsync-gen
passed=0 failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
finish() { echo "$passed passed, $failed failed"; ((failed == 0)); exit $?; }
for b in "$regsyncd" "$dump" "$gen"; do [[ -x $b ]] || { bad "missing $b"; finish; }; done
while read -r v; do unset "$v"; done < <(env | sed -n 's/^\(REGSYNC_[A-Z0-9_]*\)=.*/\1/p')
unset PGPASSWORD PGPASSFILE
work=$(mktemp -d "${TMPDIR:-/tmp}/rs-secrets.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
expect_rc() {  # expect_rc RC LABEL CMD...: runs CMD, output in $work/out
  local want=$1 label=$2 rc
  shift 2
  "$@" >"$work/out" 2>&1; rc=$?
  if [[ $rc == "$want" ]]; then ok "$label (exit $rc: $(head -c 160 "$work/out" | tr '\n' ' '))"
  else bad "$label: exit $rc, expected $want: $(head -c 400 "$work/out")"; fi
}

# ---------------------------------------------------------------- healthcheck
mkdir -p "$work/store" "$work/feast"
"$gen" --seed 4 --projects 1 --out "$work/src.db" 2>/dev/null || { bad "regsync-gen"; finish; }
printf 'hc-token-0123456789abcdef\n' >"$work/token"
chmod 600 "$work/token"
pa=$(free_port) pb=$(free_port)
cat >"$work/a.yaml" <<YAML
region: hc-a
store: file://$work/store
target: $work/feast/a.db
state_dir: $work/state-a
poll_interval: 200ms
admin: { listen: "0.0.0.0:$pa", token_file: $work/token }
log: { level: warn }
YAML
cat >"$work/b.yaml" <<YAML
region: hc-b
store: file://$work/store
target: $work/feast/b.db
state_dir: $work/state-b
poll_interval: 200ms
log: { level: warn }
YAML
"$regsyncd" run --config "$work/a.yaml" >"$work/a.log" 2>&1 &
pids+=($!)
REGSYNC_ADMIN_LISTEN=127.0.0.1:$pb "$regsyncd" run --config "$work/b.yaml" >"$work/b.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$pa/healthz" >/dev/null && curl -sf "http://127.0.0.1:$pb/healthz" >/dev/null && break
  sleep 0.1
done
expect_rc 0 "healthcheck: admin.listen 0.0.0.0:$pa from the YAML (probed on 127.0.0.1)" "$regsyncd" healthcheck --config "$work/a.yaml"
grep -q "http://127.0.0.1:$pa/healthz" "$work/out" && ok "healthcheck names the URL it probed" || bad "healthcheck output: $(cat "$work/out")"
expect_rc 0 "healthcheck: the file named by REGSYNC_CONFIG, no --config" env REGSYNC_CONFIG="$work/a.yaml" "$regsyncd" healthcheck
expect_rc 0 "healthcheck: admin.listen from REGSYNC_ADMIN_LISTEN" env REGSYNC_ADMIN_LISTEN=127.0.0.1:$pb "$regsyncd" healthcheck --config "$work/b.yaml"
expect_rc 0 "healthcheck: admin.listen from --set" "$regsyncd" healthcheck --config "$work/b.yaml" --set admin.listen=127.0.0.1:$pb
expect_rc 1 "healthcheck: a port nothing listens on" env REGSYNC_ADMIN_LISTEN=127.0.0.1:$(free_port) "$regsyncd" healthcheck --config "$work/b.yaml"
grep -q unhealthy "$work/out" && ok "healthcheck says unhealthy" || bad "no 'unhealthy' in: $(cat "$work/out")"
expect_rc 1 "healthcheck: admin API off" "$regsyncd" healthcheck --config "$work/b.yaml" --set admin.listen=
grep -q "admin API is off" "$work/out" && ok "healthcheck says the admin API is off" || bad "$(cat "$work/out")"
expect_rc 1 "healthcheck: port 0" "$regsyncd" healthcheck --config "$work/b.yaml" --set admin.listen=127.0.0.1:0
expect_rc 1 "healthcheck: an invalid configuration is 1, not 2" "$regsyncd" healthcheck --config "$work/b.yaml" --set poll_interval=fast
kill -STOP "${pids[0]}"
expect_rc 1 "healthcheck: an agent that does not answer (SIGSTOP) within 4 s" "$regsyncd" healthcheck --config "$work/a.yaml"
kill -CONT "${pids[0]}"

# ---------------------------------------------------------------- the token from REGSYNC_ADMIN_TOKEN_FILE
pc=$(free_port)
REGSYNC_ADMIN_TOKEN_FILE=$work/token REGSYNC_ADMIN_LISTEN=127.0.0.1:$pc "$regsyncd" run --config "$work/b.yaml" \
  --set region=hc-c --set state_dir="$work/state-c" --set target="$work/feast/c.db" >"$work/c.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$pc/healthz" >/dev/null && break; sleep 0.1; done
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$pc/v1/sync")
[[ $code == 401 ]] && ok "REGSYNC_ADMIN_TOKEN_FILE: a POST without the token is 401" || bad "POST without token: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$work/token")" "http://127.0.0.1:$pc/v1/sync")
[[ $code == 200 ]] && ok "REGSYNC_ADMIN_TOKEN_FILE: a POST with the file's token is 200" || bad "POST with token: $code"

# ---------------------------------------------------------------- password_file
if [[ -z ${RS_TEST_PG_URL:-} ]]; then
  if [[ ${RS_REQUIRE_SERVERS:-0} == 1 || ${CI:-} == true ]]; then bad "RS_TEST_PG_URL is not set (RS_REQUIRE_SERVERS=1 or CI=true)"; else echo "*** SKIP pg: RS_TEST_PG_URL is not set: password_file not tested ***"; fi
  finish
fi
read -r url_nopw pw < <(python3 - "$RS_TEST_PG_URL" <<'PY'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
pw = urllib.parse.unquote(u.password or '')
netloc = u.username + '@' + u.hostname + (f':{u.port}' if u.port else '')
prefix = f'e2e_pwfile_{__import__("os").getpid()}_'
q = u.query + ('&' if u.query else '') + 'table_prefix=' + prefix
print(urllib.parse.urlunsplit((u.scheme, netloc, u.path, q, '')), pw)
PY
)
[[ -n $pw ]] || { bad "RS_TEST_PG_URL has no password: password_file cannot be tested against it"; finish; }
printf '%s\n' "$pw" >"$work/pgpw"
chmod 600 "$work/pgpw"
expect_rc 2 "postgresql:// without a password: the server refuses" "$dump" ls "$url_nopw"
grep -q "wants a password" "$work/out" && ok "the error says a password is wanted" || bad "$(cat "$work/out")"
expect_rc 0 "postgresql:// with password_file=: connects" "$dump" ls "$url_nopw&password_file=$work/pgpw"
expect_rc 2 "password_file= naming a missing file" "$dump" ls "$url_nopw&password_file=$work/nope"
grep -q "password_file $work/nope" "$work/out" && ok "the error names the file" || bad "$(cat "$work/out")"
printf 'wrong-password\n' >"$work/pgbad"
expect_rc 2 "password_file= with a wrong password" "$dump" ls "$url_nopw&password_file=$work/pgbad"
grep -qi "authentication failed" "$work/out" && ok "the error is the server's authentication failure" || bad "$(cat "$work/out")"
grep -q "wrong-password" "$work/out" && bad "the password appears in the error" || ok "the password does not appear in the error"
# the agent: password_file in the YAML is a path, accepted, shown as is; it publishes and follows
cat >"$work/pg.yaml" <<YAML
region: pg-pwfile
store: "$url_nopw&password_file=$work/pgpw"
source: file://$work/src.db
publish: true
target: $work/feast/pg.db
state_dir: $work/state-pg
admin: { listen: "" }
log: { level: warn }
YAML
expect_rc 0 "check-config accepts password_file= in the YAML store URL" "$regsyncd" check-config --config "$work/pg.yaml"
grep -q "password_file=$work/pgpw" "$work/out" && ok "check-config shows the path (not a secret)" || bad "$(grep store "$work/out")"
expect_rc 0 "publish --once on PostgreSQL with password_file=" "$regsyncd" publish --once --config "$work/pg.yaml"
expect_rc 0 "sync --once on PostgreSQL with password_file=" "$regsyncd" sync --once --config "$work/pg.yaml"
"$dump" diff "$work/src.db" "$work/feast/pg.db" >/dev/null && ok "the synced copy is the source" || bad "the synced copy differs"
if command -v psql >/dev/null; then
  prefix=$(sed -n 's/.*table_prefix=\([a-z0-9_]*\).*/\1/p' <<<"$url_nopw")
  psql -q "$RS_TEST_PG_URL" -c "DROP TABLE IF EXISTS ${prefix}objects, ${prefix}schema_version CASCADE" >/dev/null 2>&1 || true
fi
finish
