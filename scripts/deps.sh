#!/usr/bin/env bash
# scripts/deps.sh [build|test|all]: installs the Debian 12 packages regsync needs, when missing.
#   build: compiler, CMake, the libraries and protoc-c
#   test:  build + the test servers (Ceph RGW for S3, PostgreSQL, MariaDB), awscli, clang/libFuzzer,
#          protoc (benchmark baseline), chromium (status page test), wrk, hyperfine, prometheus
#          (promtool for the alert rules test, the server for the Grafana dashboard test)
# Needs root (or sudo) only when something is missing.
set -euo pipefail
what=${1:-build}

BUILD_PKGS=(build-essential cmake pkg-config protobuf-c-compiler libprotobuf-c-dev libjansson-dev
  libyaml-dev libcurl4-openssl-dev libssl-dev libpq-dev libmariadb-dev libsqlite3-dev libevent-dev libcunit1-dev
  ca-certificates python3)
TEST_PKGS=(clang libclang-rt-14-dev libfuzzer-14-dev protobuf-compiler radosgw ceph-mon ceph-osd
  uuid-runtime curl awscli postgresql postgresql-client mariadb-server mariadb-client sqlite3 python3-yaml procps iproute2 psmisc
  chromium wrk hyperfine python3-protobuf jq faketime prometheus)

pkgs=("${BUILD_PKGS[@]}")
case $what in
  build) ;;
  test|all) pkgs+=("${TEST_PKGS[@]}") ;;
  *) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=
if [[ $(id -u) != 0 ]]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
