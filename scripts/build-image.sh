#!/usr/bin/env bash
# scripts/build-image.sh: the build steps of docker/Dockerfile, runnable without a Docker engine.
# The Dockerfile's build stage runs exactly this script; CI runs it on the host
# (tests/cli/deploy_static.sh), so the image recipe is exercised on machines without Docker.
#
#   1. scripts/deps.sh build           the -dev packages (a no-op when they are present)
#   2. configure and build             regsyncd, regsync-dump, regsync-gen in BUILD_DIR
#                                      (RelWithDebInfo, warnings are errors)
#   3. cmake --install --strip         into STAGE (DESTDIR) under PREFIX (cmake/install.cmake)
#   4. verify the staged programs      --help and --version run, man pages are in place, and a
#                                      publish + sync round trip on file:// works
#   5. check the runtime packages      every shared library the staged programs load (ldd) must
#                                      belong to a Debian package that docker/runtime-packages.txt
#                                      or the debian:12 base image brings in (directly or as a
#                                      dependency); a library outside them fails the build
#
# usage: scripts/build-image.sh [--build-dir DIR] [--stage DIR] [--prefix PREFIX] [--jobs N]
#                               [--no-deps] [--check-only]
#   --build-dir DIR   default: build-image/ in the source tree
#   --stage DIR       default: BUILD_DIR/stage; the image copies STAGE/PREFIX
#   --prefix PREFIX   default: /usr/local
#   --jobs N          default: 2 (the machines this project builds on have 2 cores)
#   --no-deps         do not run scripts/deps.sh
#   --check-only      steps 4 and 5 only, on an existing STAGE
# Exit codes: 0 ok; 1 a step failed; 2 usage.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_dir=$root/build-image stage= prefix=/usr/local jobs=2 deps=1 check_only=0
while (($#)); do
  case $1 in
    --build-dir) build_dir=$2; shift 2 ;;
    --stage) stage=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --no-deps) deps=0; shift ;;
    --check-only) check_only=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "build-image: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $build_dir = /* ]] || build_dir=$root/$build_dir
stage=${stage:-$build_dir/stage}
[[ $stage = /* ]] || stage=$root/$stage
pkg_list=${RS_RUNTIME_PACKAGES:-$root/docker/runtime-packages.txt}   # (a different list: for tests of this check)
say() { printf '[build-image] %s\n' "$*"; }
die() { printf '[build-image] FAILED: %s\n' "$*" >&2; exit 1; }

if ((!check_only)); then
  if ((deps)); then say "dependencies (scripts/deps.sh build)"; scripts/deps.sh build; fi
  say "configure $build_dir"
  cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRS_SANITIZE=OFF -DRS_FUZZ=OFF \
    -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
  say "build regsyncd regsync-dump regsync-gen (-j$jobs)"
  cmake --build "$build_dir" -j"$jobs" --target regsyncd regsync-dump regsync-gen
  say "install into $stage$prefix"
  rm -rf "$stage"
  DESTDIR=$stage cmake --install "$build_dir" --prefix "$prefix" --strip >/dev/null
fi

# ---------------------------------------------------------------- 4. the staged programs
bin=$stage$prefix/bin
for f in "$bin/regsyncd" "$bin/regsync-dump" "$bin/regsync-gen" \
         "$stage$prefix/share/man/man8/regsyncd.8" "$stage$prefix/share/man/man1/regsync-dump.1"; do
  [[ -f $f ]] || die "not staged: ${f#"$stage"}"
done
for p in regsyncd regsync-dump regsync-gen; do
  out=$("$bin/$p" --help 2>&1) || die "$p --help exits $?"
  [[ $out == *usage* ]] || die "$p --help does not print a usage"
  # --version where the program's help offers it; regsyncd must
  if [[ $p == regsyncd ]] || grep -qE -- '--version([^a-z]|$)' <<<"$out"; then
    v=$("$bin/$p" --version 2>&1) || die "$p --version exits $?"
    say "$p --version: $v"
  else
    say "note: $p --help lists no --version"
  fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/global"
"$bin/regsync-gen" --seed 3 --projects 2 --out "$tmp/global/registry.db" 2>/dev/null
cat >"$tmp/pub.yaml" <<YAML
region: image-check
store: file://$tmp/global
publish: true
state_dir: $tmp/pub
admin: { listen: "" }
log: { level: warn }
YAML
cat >"$tmp/region.yaml" <<YAML
region: image-check-region
store: file://$tmp/global
target: $tmp/feast/registry.db
state_dir: $tmp/region
admin: { listen: "" }
log: { level: warn }
YAML
mkdir -p "$tmp/feast"
"$bin/regsyncd" publish --once --config "$tmp/pub.yaml" >/dev/null || die "staged regsyncd publish --once failed"
"$bin/regsyncd" sync --once --config "$tmp/region.yaml" >/dev/null || die "staged regsyncd sync --once failed"
"$bin/regsync-dump" diff "$tmp/global/registry.db" "$tmp/feast/registry.db" >/dev/null ||
  die "the synced copy differs from the published registry"
say "staged programs run: publish --once, sync --once and diff agree"

# ---------------------------------------------------------------- 5. runtime packages vs ldd
[[ -f $pkg_list ]] || die "missing $pkg_list"
[[ -d /var/lib/dpkg/info ]] || die "the runtime package check needs dpkg's database (Debian)"
for p in regsyncd regsync-dump regsync-gen; do ldd "$bin/$p" | sed "s|^|$p |"; done >"$tmp/ldd.txt"
dpkg-query -W -f='${Package}\t${Status}\t${Priority}\t${Depends}, ${Pre-Depends}\t${Provides}\n' >"$tmp/pkgs.tsv"
python3 - "$pkg_list" "$tmp/ldd.txt" "$tmp/pkgs.tsv" <<'PY' || die "shared libraries not covered; add their packages to docker/runtime-packages.txt"
import glob, os, re, sys
pkg_list, ldd_txt, pkgs_tsv = sys.argv[1:4]
wanted = [l.split('#')[0].strip() for l in open(pkg_list)]
wanted = [w for w in wanted if w]
if not wanted:
    sys.exit("  docker/runtime-packages.txt lists no package")
installed, deps, provides, required = set(), {}, {}, []
for line in open(pkgs_tsv):
    name, status, prio, dep, prov = (line.rstrip('\n').split('\t') + [''] * 5)[:5]
    if not status.endswith('installed') or 'not-installed' in status or 'config-files' in status:
        continue
    installed.add(name)
    deps[name] = dep
    if prio == 'required':
        required.append(name)
    for v in prov.split(','):
        v = re.sub(r'\(.*?\)', '', v).strip()
        if v:
            provides.setdefault(v, set()).add(name)
def depends_of(p):
    out = set()
    for alt in deps.get(p, '').split(','):
        for c in alt.split('|'):
            c = re.sub(r'\(.*?\)', '', c).strip().split(':')[0]
            if not c:
                continue
            if c in installed:
                out.add(c)
            out |= provides.get(c, set())
    return out
# the closure of: the listed runtime packages + what every debian:12 image has (required, apt)
covered, queue = set(), list(wanted) + ['apt'] + required
while queue:
    p = queue.pop()
    if p in covered:
        continue
    covered.add(p)
    if p not in installed:
        if p in wanted:
            print(f"[build-image] note: {p} (runtime list) is not installed here; its dependencies are not followed")
        continue
    queue.extend(depends_of(p) - covered)
# which package ships each file (dpkg's .list files), with the /lib <-> /usr/lib spellings of usrmerge
owner = {}
for lst in glob.glob('/var/lib/dpkg/info/*.list'):
    pkg = os.path.basename(lst)[:-5].split(':')[0]
    with open(lst, errors='replace') as f:
        for path in f:
            owner.setdefault(path.rstrip('\n'), pkg)
def owner_of(path):
    for cand in (path, os.path.realpath(path)):
        for form in (cand, re.sub(r'^/usr/lib', '/lib', cand), re.sub(r'^/lib', '/usr/lib', cand),
                     re.sub(r'^/usr/lib64', '/lib64', cand), re.sub(r'^/lib64', '/usr/lib64', cand)):
            if form in owner:
                return owner[form]
    return None
problems, seen, used = [], {}, set()
for line in open(ldd_txt):
    prog, rest = line.split(' ', 1)
    rest = rest.strip()
    if not rest or 'linux-vdso' in rest or 'statically linked' in rest:
        continue
    if 'not found' in rest:
        problems.append(f"{prog}: {rest.split()[0]} not found")
        continue
    path = rest.split('=>', 1)[1].split()[0] if '=>' in rest else rest.split()[0]
    if path in seen:
        continue
    seen[path] = pkg = owner_of(path)
    if pkg is None:
        problems.append(f"{prog}: {path} belongs to no Debian package")
        continue
    used.add(pkg)
    if pkg not in covered:
        problems.append(f"{prog}: {path} (package {pkg}) is not covered by the runtime list nor the base image")
for p in problems:
    print("  " + p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"[build-image] ldd: {len(seen)} shared libraries from {len(used)} packages, all covered by "
      "docker/runtime-packages.txt + debian:12")
# ca-certificates and curl are not libraries: TLS roots and the HEALTHCHECK
for w in wanted:
    if w.startswith('lib') and w not in used:
        print(f"[build-image] note: {w} is listed but no staged program loads a library from it")
PY
say "ok: $stage$prefix"
