#!/usr/bin/env bash
# pg-server.sh: a throwaway PostgreSQL 15 cluster for regsync's tests.
#
#   scripts/pg-server.sh start    # initdb in a temp dir, start on a free 127.0.0.1 port (idempotent)
#   scripts/pg-server.sh env      # print the export lines for the tests
#   scripts/pg-server.sh status   # exit 0 when running
#   scripts/pg-server.sh stop     # stop it and remove its directory (idempotent)
#
# Uses Debian's /usr/lib/postgresql/15/bin (initdb, pg_ctl). The server runs as an unprivileged
# user: the current one, or, when started as root, the system user `regsync-test` (created when
# missing). Password (SCRAM) auth over TCP for every role:
#   rs_admin   superuser (RS_TEST_PG_ADMIN_URL)
#   regsync    the role the tests use; owns database regsync_test (RS_TEST_PG_URL)
#   regsync_other  a second login role without rights on regsync's tables
# RS_TEST_PG_BAD_URL is RS_TEST_PG_URL with a wrong password (for the AUTH error tests).
# Data is throwaway: fsync is off. Everything lives in $RS_PG_DIR (default /tmp/regsync-pg-<uid>).
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
RS_PG_DIR=${RS_PG_DIR:-${TMPDIR:-/tmp}/regsync-pg-$(id -u)}
RUN_USER=${RS_PG_USER:-regsync-test}

log() { printf '[pg-server %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "$*"; exit 1; }

# Runs a command as the server's owner.
as_owner() {
  if [[ $(id -u) == 0 ]]; then
    runuser -u "$RUN_USER" -- "$@"
  else
    "$@"
  fi
}

running() {
  [[ -f $RS_PG_DIR/data/postmaster.pid ]] || return 1
  as_owner "$PG_BIN/pg_ctl" -D "$RS_PG_DIR/data" status >/dev/null 2>&1
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

do_start() {
  [[ -x $PG_BIN/initdb ]] || die "no $PG_BIN/initdb: install Debian's postgresql-15 (scripts/deps.sh test)"
  if running; then
    log "already running in $RS_PG_DIR (port $(cat "$RS_PG_DIR/port"))"
    return 0
  fi
  # A stale directory (crash, reboot): start from scratch.
  rm -rf "$RS_PG_DIR"
  if [[ $(id -u) == 0 ]]; then
    if ! id "$RUN_USER" >/dev/null 2>&1; then
      log "creating system user $RUN_USER"
      useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_USER"
    fi
  fi
  mkdir -p "$RS_PG_DIR"
  chmod 700 "$RS_PG_DIR"
  [[ $(id -u) == 0 ]] && chown "$RUN_USER" "$RS_PG_DIR"

  local port admin_pw user_pw other_pw
  port=$(free_port)
  admin_pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  user_pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  other_pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  umask 077
  printf '%s\n' "$admin_pw" >"$RS_PG_DIR/admin.pw"
  printf '%s\n' "$port" >"$RS_PG_DIR/port"
  [[ $(id -u) == 0 ]] && chown "$RUN_USER" "$RS_PG_DIR/admin.pw"

  as_owner "$PG_BIN/initdb" -D "$RS_PG_DIR/data" -U rs_admin --pwfile="$RS_PG_DIR/admin.pw" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$RS_PG_DIR/initdb.log" 2>&1 ||
    { cat "$RS_PG_DIR/initdb.log" >&2; die "initdb failed"; }
  mkdir -p "$RS_PG_DIR/sock"
  [[ $(id -u) == 0 ]] && chown "$RUN_USER" "$RS_PG_DIR/sock"
  cat >>"$RS_PG_DIR/data/postgresql.conf" <<CONF
# pg-server.sh: throwaway test cluster
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$RS_PG_DIR/sock'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
log_connections = off
CONF
  cat >"$RS_PG_DIR/data/pg_hba.conf" <<HBA
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
HBA
  as_owner "$PG_BIN/pg_ctl" -D "$RS_PG_DIR/data" -l "$RS_PG_DIR/server.log" -w -t 30 start >/dev/null ||
    { tail -n 30 "$RS_PG_DIR/server.log" >&2; die "pg_ctl start failed"; }

  PGPASSWORD=$admin_pw psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U rs_admin -d postgres <<SQL
CREATE ROLE regsync LOGIN PASSWORD '$user_pw';
CREATE ROLE regsync_other LOGIN PASSWORD '$other_pw';
CREATE DATABASE regsync_test OWNER regsync;
REVOKE ALL ON DATABASE regsync_test FROM PUBLIC;
GRANT CONNECT ON DATABASE regsync_test TO regsync_other;
SQL
  cat >"$RS_PG_DIR/env" <<ENV
export RS_TEST_PG_URL=postgresql://regsync:$user_pw@127.0.0.1:$port/regsync_test?sslmode=disable
export RS_TEST_PG_ADMIN_URL=postgresql://rs_admin:$admin_pw@127.0.0.1:$port/postgres?sslmode=disable
export RS_TEST_PG_OTHER_URL=postgresql://regsync_other:$other_pw@127.0.0.1:$port/regsync_test?sslmode=disable
export RS_TEST_PG_BAD_URL=postgresql://regsync:wrong-$user_pw@127.0.0.1:$port/regsync_test?sslmode=disable
export RS_TEST_PG_SOCKET_DIR=$RS_PG_DIR/sock
export RS_TEST_PG_PORT=$port
ENV
  log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') running on 127.0.0.1:$port (dir $RS_PG_DIR)"
}

do_stop() {
  if [[ -d $RS_PG_DIR/data ]]; then
    if running; then
      as_owner "$PG_BIN/pg_ctl" -D "$RS_PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
        log "pg_ctl stop failed; see $RS_PG_DIR/server.log"
    fi
  fi
  if [[ -d $RS_PG_DIR ]]; then
    rm -rf "$RS_PG_DIR"
    log "stopped; removed $RS_PG_DIR"
  fi
}

do_env() {
  running || die "not running (scripts/pg-server.sh start)"
  cat "$RS_PG_DIR/env"
}

case ${1:-} in
  start) do_start ;;
  stop) do_stop ;;
  env) do_env ;;
  status) running ;;
  *) echo "usage: $0 start|stop|env|status" >&2; exit 2 ;;
esac
