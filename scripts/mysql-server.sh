#!/usr/bin/env bash
# mysql-server.sh: a throwaway MariaDB (Debian's mariadb-server 10.11) for regsync's tests.
#
#   scripts/mysql-server.sh start    # a fresh datadir, start on a free 127.0.0.1 port (idempotent)
#   scripts/mysql-server.sh env      # print the export lines for the tests
#   scripts/mysql-server.sh status   # exit 0 when running and answering
#   scripts/mysql-server.sh stop     # stop it (by PID) and remove its directory (idempotent)
#
# Everything lives in $RS_MYSQL_DIR (default ${TMPDIR:-/tmp}/regsync-mysql-<uid>); the port is
# $RS_MYSQL_PORT or a free one. The server runs as an unprivileged user: the current one, or, when
# started as root, the system user `regsync-test` (created when missing). TLS is on, with a CA and
# a server certificate for 127.0.0.1 made here (RS_TEST_MYSQL_CA); plain TCP is allowed too.
# Accounts (password auth over TCP; the passwords are random per start):
#   rs_admin        every privilege (RS_TEST_MYSQL_ADMIN_URL)
#   regsync         owns database regsync_test (RS_TEST_MYSQL_URL)
#   regsync_other   may log in, no privilege on regsync_test (RS_TEST_MYSQL_OTHER_URL; tests grant
#                   it what they need, for the least-privilege checks)
#   regsync_tls     REQUIRE SSL, same rights as regsync (RS_TEST_MYSQL_TLS_URL, without ssl-mode)
# RS_TEST_MYSQL_BAD_URL is RS_TEST_MYSQL_URL with a wrong password. max_allowed_packet is 256 MB
# (the tests store 100 MB values). Data is throwaway: no binary log, no doublewrite, lazy flush.
set -euo pipefail

MYSQLD=${RS_MYSQLD:-/usr/sbin/mariadbd}
INSTALL_DB=${RS_MYSQL_INSTALL_DB:-/usr/bin/mariadb-install-db}
RS_MYSQL_DIR=${RS_MYSQL_DIR:-${TMPDIR:-/tmp}/regsync-mysql-$(id -u)}
RUN_USER=${RS_MYSQL_USER:-regsync-test}

log() { printf '[mysql-server %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "$*"; exit 1; }

as_owner() {
  if [[ $(id -u) == 0 ]]; then
    runuser -u "$RUN_USER" -- "$@"
  else
    "$@"
  fi
}

server_pid() {
  [[ -f $RS_MYSQL_DIR/mysqld.pid ]] || return 1
  local pid; pid=$(cat "$RS_MYSQL_DIR/mysqld.pid" 2>/dev/null) || return 1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && grep -q mariadbd "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

running() {
  server_pid >/dev/null || return 1
  [[ -S $RS_MYSQL_DIR/mysqld.sock ]]
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

pw() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

make_certs() {
  local d=$RS_MYSQL_DIR/tls
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=regsync test CA" \
    -keyout "$d/ca.key" -out "$d/ca.pem" >/dev/null 2>&1 || die "openssl: cannot make the test CA"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$d/server.key" \
    -out "$d/server.csr" >/dev/null 2>&1 || die "openssl: cannot make the server key"
  printf 'subjectAltName=IP:127.0.0.1\n' >"$d/san.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 7 \
    -extfile "$d/san.ext" -out "$d/server.pem" >/dev/null 2>&1 || die "openssl: cannot sign the server certificate"
  # a second CA that signed nothing here (for the wrong-CA test)
  openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=some other CA" \
    -keyout "$d/other-ca.key" -out "$d/other-ca.pem" >/dev/null 2>&1 || die "openssl: cannot make the second CA"
  chmod 644 "$d"/*.pem
  [[ $(id -u) == 0 ]] && chown -R "$RUN_USER" "$d"
  return 0
}

do_start() {
  [[ -x $MYSQLD ]] || die "no $MYSQLD: install Debian's mariadb-server (scripts/deps.sh test)"
  [[ -x $INSTALL_DB ]] || die "no $INSTALL_DB: install Debian's mariadb-server (scripts/deps.sh test)"
  if running; then
    log "already running in $RS_MYSQL_DIR (port $(cat "$RS_MYSQL_DIR/port"))"
    return 0
  fi
  # a stale directory (crash, reboot): start from scratch; a live server of ours is stopped first
  do_stop quiet
  if [[ $(id -u) == 0 ]] && ! id "$RUN_USER" >/dev/null 2>&1; then
    log "creating system user $RUN_USER"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_USER"
  fi
  mkdir -p "$RS_MYSQL_DIR"
  chmod 700 "$RS_MYSQL_DIR"
  [[ $(id -u) == 0 ]] && chown "$RUN_USER" "$RS_MYSQL_DIR"
  local port=${RS_MYSQL_PORT:-$(free_port)}
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && die "127.0.0.1:$port is already in use (set RS_MYSQL_PORT)"
  local admin_pw user_pw other_pw tls_pw
  admin_pw=$(pw) user_pw=$(pw) other_pw=$(pw) tls_pw=$(pw)
  umask 077
  printf '%s\n' "$port" >"$RS_MYSQL_DIR/port"
  make_certs

  cat >"$RS_MYSQL_DIR/my.cnf" <<CNF
# mysql-server.sh: throwaway test server
[mariadbd]
datadir = $RS_MYSQL_DIR/data
socket = $RS_MYSQL_DIR/mysqld.sock
pid-file = $RS_MYSQL_DIR/mysqld.pid
log-error = $RS_MYSQL_DIR/server.log
bind-address = 127.0.0.1
port = $port
skip-name-resolve
skip-log-bin
max_connections = 300
max_allowed_packet = 256M
performance_schema = OFF
innodb_buffer_pool_size = 128M
innodb_log_file_size = 512M
innodb_flush_log_at_trx_commit = 0
innodb_doublewrite = 0
innodb_flush_method = O_DIRECT_NO_FSYNC
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
ssl-ca = $RS_MYSQL_DIR/tls/ca.pem
ssl-cert = $RS_MYSQL_DIR/tls/server.pem
ssl-key = $RS_MYSQL_DIR/tls/server.key
CNF
  [[ $(id -u) == 0 ]] && chown "$RUN_USER" "$RS_MYSQL_DIR/my.cnf" "$RS_MYSQL_DIR/port"

  # accounts: made by the server itself at its first start (--init-file runs with every privilege)
  cat >"$RS_MYSQL_DIR/init.sql" <<SQL
CREATE USER IF NOT EXISTS 'rs_admin'@'%' IDENTIFIED BY '$admin_pw';
GRANT ALL PRIVILEGES ON *.* TO 'rs_admin'@'%' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS regsync_test;
CREATE USER IF NOT EXISTS 'regsync'@'%' IDENTIFIED BY '$user_pw';
GRANT ALL PRIVILEGES ON regsync_test.* TO 'regsync'@'%';
CREATE USER IF NOT EXISTS 'regsync_other'@'%' IDENTIFIED BY '$other_pw';
CREATE USER IF NOT EXISTS 'regsync_tls'@'%' IDENTIFIED BY '$tls_pw' REQUIRE SSL;
GRANT ALL PRIVILEGES ON regsync_test.* TO 'regsync_tls'@'%';
SQL
  chmod 600 "$RS_MYSQL_DIR/init.sql"
  [[ $(id -u) == 0 ]] && chown "$RUN_USER" "$RS_MYSQL_DIR/init.sql"

  as_owner "$INSTALL_DB" --defaults-file="$RS_MYSQL_DIR/my.cnf" --auth-root-authentication-method=socket \
    --skip-test-db >"$RS_MYSQL_DIR/install.log" 2>&1 ||
    { tail -n 30 "$RS_MYSQL_DIR/install.log" >&2; die "mariadb-install-db failed"; }
  as_owner "$MYSQLD" --defaults-file="$RS_MYSQL_DIR/my.cnf" --init-file="$RS_MYSQL_DIR/init.sql" \
    >>"$RS_MYSQL_DIR/server.out" 2>&1 </dev/null &
  local i
  for ((i = 0; i < 600; i++)); do
    running && break
    if ! kill -0 $! 2>/dev/null; then
      tail -n 30 "$RS_MYSQL_DIR/server.log" >&2 || true
      die "mariadbd exited during start (log: $RS_MYSQL_DIR/server.log)"
    fi
    sleep 0.1
  done
  running || { tail -n 30 "$RS_MYSQL_DIR/server.log" >&2 || true; die "mariadbd did not start within 60 s"; }
  # ready means: the test account can log in over TCP and sees its database
  for ((i = 0; i < 100; i++)); do
    MYSQL_PWD=$user_pw mariadb --protocol=TCP -h 127.0.0.1 -P "$port" -u regsync -N -e 'SELECT 1' regsync_test \
      >/dev/null 2>&1 && break
    sleep 0.1
  done
  MYSQL_PWD=$user_pw mariadb --protocol=TCP -h 127.0.0.1 -P "$port" -u regsync -N -e 'SELECT 1' regsync_test \
    >/dev/null || die "the test account cannot log in (log: $RS_MYSQL_DIR/server.log)"
  rm -f "$RS_MYSQL_DIR/init.sql"

  local q='ssl-mode=DISABLED'
  cat >"$RS_MYSQL_DIR/env" <<ENV
export RS_TEST_MYSQL_URL='mysql://regsync:$user_pw@127.0.0.1:$port/regsync_test?$q'
export RS_TEST_MYSQL_ADMIN_URL='mysql://rs_admin:$admin_pw@127.0.0.1:$port/regsync_test?$q'
export RS_TEST_MYSQL_OTHER_URL='mysql://regsync_other:$other_pw@127.0.0.1:$port/regsync_test?$q'
export RS_TEST_MYSQL_BAD_URL='mysql://regsync:wrong-$user_pw@127.0.0.1:$port/regsync_test?$q'
export RS_TEST_MYSQL_TLS_URL='mysql://regsync_tls:$tls_pw@127.0.0.1:$port/regsync_test'
export RS_TEST_MYSQL_CA=$RS_MYSQL_DIR/tls/ca.pem
export RS_TEST_MYSQL_OTHER_CA=$RS_MYSQL_DIR/tls/other-ca.pem
export RS_TEST_MYSQL_SOCKET=$RS_MYSQL_DIR/mysqld.sock
export RS_TEST_MYSQL_PORT=$port
ENV
  log "MariaDB $("$MYSQLD" --version | awk '{print $3}') running on 127.0.0.1:$port (dir $RS_MYSQL_DIR, pid $(server_pid))"
}

do_stop() {
  local quiet=${1:-} pid i
  if pid=$(server_pid); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "mariadbd ($pid) did not stop within 30 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  if [[ -d $RS_MYSQL_DIR ]]; then
    rm -rf "$RS_MYSQL_DIR"
    [[ -n $quiet ]] || log "stopped; removed $RS_MYSQL_DIR"
  fi
}

do_env() {
  running || die "not running (scripts/mysql-server.sh start)"
  cat "$RS_MYSQL_DIR/env"
}

case ${1:-} in
  start) do_start ;;
  stop) do_stop ;;
  env) do_env ;;
  status) running && [[ -f $RS_MYSQL_DIR/env ]] ;;
  *) echo "usage: $0 start|stop|env|status" >&2; exit 2 ;;
esac
