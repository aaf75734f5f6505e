#!/usr/bin/env bash
# scripts/s3-server.sh: a real S3 server for regsync's tests, on 127.0.0.1.
#
# Ceph RADOS Gateway from Debian 12 (radosgw 16.2) over a one-node cluster: one monitor, one OSD
# that keeps its data in RAM (memstore), cephx on, no manager. Everything lives in $RS_S3_DIR and is
# gone after `stop`. It verifies SigV4 like AWS (signature, x-amz-content-sha256, clock skew), answers
# 304 to If-None-Match on GET and 412 to If-None-Match: * on PUT. STS is enabled so that tests can
# use real temporary credentials with a session token: GetSessionToken, AssumeRole of the role
# regsync-s3 (RS_TEST_S3_ROLE_ARN; the test user may assume it; S3 everything), and
# AssumeRoleWithWebIdentity (the test user may register OIDC providers and roles for it).
#
#   scripts/s3-server.sh install   # Debian packages (needs root; no-op when present)
#   scripts/s3-server.sh start     # (re)start, wait until a signed round trip works, ~2-3 s
#   scripts/s3-server.sh stop      # stop the daemons this script started (by PID)
#   scripts/s3-server.sh status    # exit 0 when running and answering
#   scripts/s3-server.sh env       # export lines for the tests: eval "$(scripts/s3-server.sh env)"
#
# Settings (environment): RS_S3_DIR (/tmp/regsync-s3), RS_S3_PORT (7480), RS_S3_MON_PORT (40100;
# the monitor also uses +1), RS_S3_BUCKET (testbucket), RS_S3_MEM_BYTES (memstore size, 2 GiB).
set -euo pipefail

DIR=${RS_S3_DIR:-/tmp/regsync-s3}
PORT=${RS_S3_PORT:-7480}
MON_PORT=${RS_S3_MON_PORT:-40100}
BUCKET=${RS_S3_BUCKET:-testbucket}
MEM_BYTES=${RS_S3_MEM_BYTES:-2147483648}
REGION=us-east-1                              # RGW accepts any region in the credential scope
ACCESS_KEY=RSTESTACCESSKEY00001
SECRET_KEY=rstestsecretkey000000000000000000000001
STS_KEY=rsstskey00000001                      # exactly 16 characters, as RGW requires
KMS_KEY_ID=regsync-test-key
KMS_KEY_B64=cmVnc3luYy10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDA=   # 32 throwaway bytes

CONF=(-c "$DIR/ceph.conf")
say() { printf '[s3-server %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# curl's own SigV4 (7.75+) is enough for the setup steps; 7.88 needs the payload hash header given.
scurl() {
  curl -sS --aws-sigv4 "aws:amz:${REGION}:s3" --user "${ACCESS_KEY}:${SECRET_KEY}" \
       -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}

cmd_install() {
  local need=()
  for b in radosgw ceph-mon ceph-osd ceph-authtool monmaptool radosgw-admin curl uuidgen; do
    command -v "$b" >/dev/null || need+=("$b")
  done
  if ((${#need[@]} == 0)); then say "packages present"; return; fi
  say "missing: ${need[*]}; installing radosgw ceph-mon ceph-osd curl uuid-runtime"
  local sudo=; [[ $(id -u) == 0 ]] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends radosgw ceph-mon ceph-osd curl uuid-runtime >/dev/null
}

# until SECONDS_MAX WHAT CMD...: poll every 0.1 s
until_ok() {
  local max=$1 what=$2; shift 2
  local end=$((SECONDS + max))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then
      say "timed out waiting for $what (logs: $DIR/log)"; tail -n 15 "$DIR"/log/*.out >&2 || true
      return 1
    fi
    sleep 0.1
  done
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cmd_start() {
  command -v radosgw >/dev/null || die "radosgw is not installed: run '$0 install'"
  cmd_stop quiet
  port_busy "$PORT" && die "127.0.0.1:$PORT is already in use by another process (set RS_S3_PORT)"
  port_busy "$MON_PORT" && die "127.0.0.1:$MON_PORT is already in use (set RS_S3_MON_PORT)"
  rm -rf "$DIR"
  mkdir -p "$DIR"/{mon,osd,rgw,run,log}
  local fsid; fsid=$(uuidgen)
  local addr="[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$((MON_PORT + 1))]"
  cat >"$DIR/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = $addr
public addr = 127.0.0.1
public network = 127.0.0.0/8
keyring = $DIR/keyring
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 1
mon data avail crit = 0
# each map change waits paxos propose interval (1 s by default): startup takes ~18 s without this
paxos propose interval = 0.05
paxos min wait = 0.01
[mon.a]
mon data = $DIR/mon
[osd.0]
osd data = $DIR/osd
osd objectstore = memstore
memstore device bytes = $MEM_BYTES
[client.rgw]
# without tcp_nodelay every keep-alive request waits ~40 ms (Nagle + delayed ACK)
rgw frontends = beast endpoint=127.0.0.1:$PORT tcp_nodelay=1
rgw data = $DIR/rgw
rgw dns name = s3.localhost
rgw sts key = $STS_KEY
rgw s3 auth use sts = true
# server-side encryption over plain HTTP, with RGW's built-in test key store (never for production):
# SSE-KMS key id "$KMS_KEY_ID" works; the key is a fixed throwaway
rgw crypt require ssl = false
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = $KMS_KEY_ID=$KMS_KEY_B64
EOF
  local k="$DIR/keyring"
  ceph-authtool --create-keyring "$k" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$k" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$k" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
  ceph-authtool "$k" --gen-key -n client.rgw --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "$addr" "$DIR/monmap" >/dev/null

  say "monitor on 127.0.0.1:$MON_PORT"
  ceph-mon "${CONF[@]}" --mkfs -i a --monmap "$DIR/monmap" --keyring "$k"
  ceph-mon "${CONF[@]}" -i a -f >"$DIR/log/mon.out" 2>&1 &
  echo $! >"$DIR/mon.pid"

  say "osd (memstore, $((MEM_BYTES >> 20)) MiB)"
  local uuid id; uuid=$(uuidgen)
  id=$(timeout 60 ceph "${CONF[@]}" osd new "$uuid")
  ceph-osd "${CONF[@]}" -i "$id" --mkfs --osd-uuid "$uuid" >"$DIR/log/osd-mkfs.out" 2>&1
  ceph-osd "${CONF[@]}" -i "$id" -f >"$DIR/log/osd.out" 2>&1 &
  echo $! >"$DIR/osd.pid"
  until_ok 60 "the osd" bash -c "timeout 10 ceph ${CONF[*]} osd stat | grep -q '1 up'"

  say "radosgw on 127.0.0.1:$PORT"
  radosgw "${CONF[@]}" -n client.rgw -f >"$DIR/log/rgw.out" 2>&1 &
  echo $! >"$DIR/rgw.pid"
  until_ok 120 "radosgw" curl -sf -o /dev/null "http://127.0.0.1:$PORT/"

  radosgw-admin "${CONF[@]}" user create --uid=regsync-test --display-name="regsync tests" \
      --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
  # let the user ask STS for temporary credentials (GetSessionToken), and manage roles and OIDC
  # providers (the AssumeRole / web identity tests)
  radosgw-admin "${CONF[@]}" caps add --uid=regsync-test --caps="user-policy=*;roles=*;oidc-provider=*" >/dev/null
  curl -sS -f -o /dev/null --aws-sigv4 "aws:amz:${REGION}:iam" --user "${ACCESS_KEY}:${SECRET_KEY}" -X POST \
    --data-urlencode Action=PutUserPolicy --data-urlencode Version=2010-05-08 \
    --data-urlencode UserName=regsync-test --data-urlencode PolicyName=regsync-sts \
    --data-urlencode 'PolicyDocument={"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:GetSessionToken"],"Resource":"*"}]}' \
    "http://127.0.0.1:$PORT/" || say "warning: STS policy not set; session-token tests will skip"
  # a role the test user may assume, allowed everything on S3
  local iam=(curl -sS -f -o /dev/null --aws-sigv4 "aws:amz:${REGION}:iam" --user "${ACCESS_KEY}:${SECRET_KEY}" -X POST
    --data-urlencode Version=2010-05-08)
  "${iam[@]}" --data-urlencode Action=CreateRole --data-urlencode RoleName=regsync-s3 --data-urlencode Path=/ \
    --data-urlencode 'AssumeRolePolicyDocument={"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam:::user/regsync-test"]},"Action":["sts:AssumeRole"]}]}' \
    "http://127.0.0.1:$PORT/" &&
  "${iam[@]}" --data-urlencode Action=PutRolePolicy --data-urlencode RoleName=regsync-s3 --data-urlencode PolicyName=s3 \
    --data-urlencode 'PolicyDocument={"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}' \
    "http://127.0.0.1:$PORT/" || say "warning: role regsync-s3 not created; AssumeRole tests will fail"
  local code
  code=$(scurl -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$PORT/$BUCKET")
  [[ $code == 200 ]] || die "creating bucket $BUCKET: HTTP $code"
  # ready means: a signed PUT, GET and DELETE work
  scurl -f -o /dev/null -X PUT --data-binary 'ready' "http://127.0.0.1:$PORT/$BUCKET/.ready"
  [[ $(scurl -f "http://127.0.0.1:$PORT/$BUCKET/.ready") == ready ]] || die "read-back of the readiness object failed"
  scurl -f -o /dev/null -X DELETE "http://127.0.0.1:$PORT/$BUCKET/.ready"
  say "ready: http://127.0.0.1:$PORT bucket $BUCKET (pids mon $(cat "$DIR/mon.pid") osd $(cat "$DIR/osd.pid") rgw $(cat "$DIR/rgw.pid"))"
}

cmd_stop() {
  local quiet=${1:-} d pid
  for d in rgw osd mon; do            # gateway first, monitor last
    [[ -f $DIR/$d.pid ]] || continue
    pid=$(cat "$DIR/$d.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
      [[ -n $quiet ]] || say "stopped $d ($pid)"
    fi
    rm -f "$DIR/$d.pid"
  done
}

cmd_status() {
  [[ -f $DIR/rgw.pid ]] && kill -0 "$(cat "$DIR/rgw.pid")" 2>/dev/null &&
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/"
}

cmd_env() {
  cat <<EOF
export RS_TEST_S3_URL='s3://$BUCKET/rs-test?endpoint=http://127.0.0.1:$PORT&path_style=true&region=$REGION'
export RS_TEST_S3_ENDPOINT=http://127.0.0.1:$PORT
export RS_TEST_S3_BUCKET=$BUCKET
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_DEFAULT_REGION=$REGION
export AWS_EC2_METADATA_DISABLED=true
export RS_TEST_S3_ROLE_ARN=arn:aws:iam:::role/regsync-s3
EOF
}

case ${1:-} in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
