#!/usr/bin/env bash
# scripts/container-bases.sh: the base images docker/Dockerfile, docker/s3/Dockerfile and
# docker/compose.yaml need, with or without a container registry.
#
#   debian:12          the build stage's base (and docker/s3's)
#   debian:12-slim     the runtime stage's base
#   PostgreSQL 15      the compose federation's store: postgres:15-bookworm when pulled,
#                      regsync-postgres:15 (docker/postgres/Dockerfile) when built
#
# For each image: present already -> kept; else, when a registry answers (--pull auto, the
# default: one try, 60 s at most, and no further try once one failed) it is pulled; else it is
# built from Debian packages, the path for machines behind a firewall that reach a Debian mirror
# but no container registry:
#   debootstrap --variant=minbase bookworm (once, from the host's Debian mirror) ->
#   `docker import` as debian:12; the same tree without documentation, manual pages and locales
#   (and dpkg told to leave them out later, as Debian's slim images do) -> debian:12-slim;
#   `docker build docker/postgres` (Debian's postgresql-15) -> regsync-postgres:15.
# Prints, last, the line to use for the compose files: export REGSYNC_POSTGRES_IMAGE=NAME
#
# usage: scripts/container-bases.sh [--pull auto|never|always] [--mirror URL] [--keep-rootfs DIR]
#   --pull auto     (default) pull when a registry answers, build otherwise
#   --pull never    build from Debian packages (air-gapped)
#   --pull always   pull; fail when the registry does not answer
#   --mirror URL    the Debian mirror for debootstrap and the images' apt sources
#                   (default: the host's, from /etc/apt/sources.list[.d], else deb.debian.org)
# Needs a running Docker engine, and root (debootstrap) when something is built.
# Exit codes: 0 ok; 1 failed; 2 usage.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
pull=auto mirror=
while (($#)); do
  case $1 in
    --pull) pull=$2; shift 2 ;;
    --mirror) mirror=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "container-bases: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $pull in auto|never|always) ;; *) echo "container-bases: --pull auto|never|always" >&2; exit 2 ;; esac
say() { printf '[container-bases %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info)"

have() { docker image inspect "$1" >/dev/null 2>&1; }
registry_ok=1
[[ $pull == never ]] && registry_ok=0
try_pull() {  # try_pull IMAGE: 0 when pulled
  ((registry_ok)) || return 1
  say "pull $1"
  if timeout 60 docker pull -q "$1" >/dev/null 2>&1; then return 0; fi
  [[ $pull == always ]] && die "cannot pull $1"
  say "no registry answers for $1: building from Debian packages from now on"
  registry_ok=0
  return 1
}

host_mirror() {
  local u
  u=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n 1 || true)
  [[ -n $u ]] || u=$(sed -n 's/^deb \(\[[^]]*\] \)\?\([^ ]*\) bookworm .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n 1 || true)
  echo "${u:-http://deb.debian.org/debian}"
}

rootfs=
cleanup() { [[ -n $rootfs && -d $rootfs ]] && rm -rf "$rootfs"; return 0; }
trap cleanup EXIT

make_rootfs() {  # debootstrap once into $rootfs
  [[ -n $rootfs ]] && return 0
  [[ $(id -u) == 0 ]] || die "building the Debian base needs root (debootstrap)"
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  mirror=${mirror:-$(host_mirror)}
  local sec=${mirror%/debian}/debian-security
  rootfs=$(mktemp -d /var/tmp/regsync-rootfs.XXXXXX)
  say "debootstrap --variant=minbase bookworm from $mirror (about 1 to 3 minutes)"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 ||
    { tail -n 20 "$rootfs.log" >&2; die "debootstrap failed (log above)"; }
  rm -f "$rootfs.log"
  # what Debian's own images carry: the deb822 sources with updates and security, apt kept lean
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $sec
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
CONF
  echo 'Acquire::GzipIndexes "true";' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
  echo 'APT::AutoRemove::SuggestsImportant "false";' >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/tmp/* "$rootfs"/root/.bash_history
  : >"$rootfs/etc/machine-id"
  echo bookworm >"$rootfs/etc/hostname"
}

import_rootfs() {  # import_rootfs TAG [tar options...]
  local tag=$1; shift
  say "docker import $tag"
  tar --numeric-owner --xattrs -C "$rootfs" "$@" -c . |
    docker import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --message "debootstrap --variant=minbase bookworm (scripts/container-bases.sh)" - "$tag" >/dev/null
}

if have debian:12; then say "debian:12 present"
elif ! try_pull debian:12; then make_rootfs; import_rootfs debian:12; fi

if have debian:12-slim; then say "debian:12-slim present"
elif ! try_pull debian:12-slim; then
  make_rootfs
  # slim: what dpkg would not install (Debian's slim images: /etc/dpkg/dpkg.cfg.d/docker)
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'CONF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CONF
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/groff/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/lintian/* "$rootfs"/usr/share/linda/*
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  import_rootfs debian:12-slim
fi

pg_image=postgres:15-bookworm
if have "$pg_image"; then say "$pg_image present"
elif have regsync-postgres:15; then pg_image=regsync-postgres:15; say "$pg_image present"
elif ! try_pull "$pg_image"; then
  pg_image=regsync-postgres:15
  say "docker build $pg_image (docker/postgres: Debian's postgresql-15)"
  docker build -q -t "$pg_image" -f docker/postgres/Dockerfile docker/postgres >/dev/null ||
    die "docker build of docker/postgres failed"
fi
for i in debian:12 debian:12-slim "$pg_image"; do
  say "$i: $(docker image inspect -f '{{.Size}}' "$i" | awk '{printf "%.0f MB", $1 / 1e6}')"
done
echo "export REGSYNC_POSTGRES_IMAGE=$pg_image"
