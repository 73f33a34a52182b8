#!/usr/bin/env bash
# The Debian packages (debian/), as a user of a fresh Debian host gets them:
#   1. dpkg-buildpackage -us -uc -b on a copy of the tree;
#   2. lintian: no error;
#   3. a fresh root made by debootstrap (minbase) with only what the packages' Depends name
#      (the first of each alternative), where `dpkg -i` must find every dependency;
#   4. there, in a mount namespace of its own (pivot_root into the fresh root, with /proc,
#      /sys and /dev), a job through the installed command, a warm-pool job through the
#      installed ociexec-init, and the contract through the installed Python module;
#   5. nothing left behind: no cgroup of those jobs, no mount (the namespace is gone).
# Usage: deb_test.sh SOURCE_DIR
set -euo pipefail
source=$1
tmp=$(mktemp -d /tmp/ociexec-deb-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS

# 1. The packages, from the tracked and new files (never the build trees).
mkdir "$tmp/src"
if git -C "$source" rev-parse 2>/dev/null; then
  git -C "$source" ls-files -co --exclude-standard -z | (cd "$source" && xargs -0 cp --parents -a -t "$tmp/src")
else
  tar -C "$source" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$tmp/src" -xf -
fi
(cd "$tmp/src" && DEB_BUILD_OPTIONS="parallel=$(nproc) noddebs" dpkg-buildpackage -us -uc -b \
  >"$tmp/build.log" 2>&1) || { tail -30 "$tmp/build.log"; exit 1; }
debs=("$tmp"/ociexec_*.deb "$tmp"/python3-ociexec_*.deb "$tmp"/libociexec-dev_*.deb)
ls "${debs[@]}" >/dev/null
echo "built ${#debs[@]} packages in $((SECONDS - start)) s"

# 2. lintian, errors fail (warnings are printed).
lintian --fail-on error "$tmp"/ociexec_*.changes | tee "$tmp/lintian.log"
echo "lintian: $(grep -c '^E:' "$tmp/lintian.log" || true) errors, $(grep -c '^W:' "$tmp/lintian.log" || true) warnings"

# 3. A fresh root with the runtime packages' dependencies, then the packages.
depends() {  # the first alternative of each Depends entry, not our own packages
  dpkg-deb -f "$1" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/:any//; s/ //g' |
    grep -v '^ociexec$' | grep -v '^$'
}
wanted=$( (depends "$tmp"/ociexec_*.deb; depends "$tmp"/python3-ociexec_*.deb) | sort -u | paste -sd,)
mirror=$("$(dirname "$0")/../common/debian-mirror.sh")
root=$tmp/root
debootstrap --variant=minbase --include="$wanted" bookworm "$root" "$mirror" \
  >"$tmp/debootstrap.log" 2>&1 || { tail -20 "$tmp/debootstrap.log"; exit 1; }
cp "$tmp"/ociexec_*.deb "$tmp"/python3-ociexec_*.deb "$root/tmp/"
chroot "$root" sh -c 'dpkg -i /tmp/ociexec_*.deb /tmp/python3-ociexec_*.deb && rm /tmp/*.deb'
echo "installed into a fresh root with only the packages' Depends: $wanted"

# 4. Jobs in the fresh root, as on a host that has only these packages. Its config file (read
# by the command and by the Python module alike) gives them a cgroup parent of their own.
parent=ociexec-debtest-$$
mkdir -p "$root/etc/ociexec"
printf '%s\n' "cgroup_parent: $parent" "memory: 96m" >"$root/etc/ociexec/config.yaml"
cat >"$root/tmp/check.sh" <<'CHECK'
set -eu
umount -l /.old
test -f /usr/share/man/man1/ociexec-run.1.gz -a -f /usr/share/bash-completion/completions/ociexec
out=$(ociexec run --timeout 30s -c 'echo "hello from $(id -u)"')
[ "$out" = "hello from 65534" ] || { echo "run said: $out"; exit 1; }
echo "installed ociexec: $out"
ociexec run --json -c true | grep -q '"memory_bytes":100663296' || { echo "config not read"; exit 1; }
echo "installed ociexec: /etc/ociexec/config.yaml read (memory 96m, a cgroup parent of its own)"
out=$(ociexec run --timeout 1s -c 'echo before; sleep 30' 2>&1) && exit 1
case $out in before*"Execution timeout (1s)"*) ;; *) echo "timeout said: $out"; exit 1 ;; esac
echo "installed ociexec: the timeout at 1 s"
n=$(printf '%s\n' '{"script": "echo pooled"}' '{"script": "echo pooled"}' |
  ociexec batch --pool 1 -j 1 | grep -c '"stdout":"pooled\\n"' || true)
[ "$n" -eq 2 ] || { echo "batch --pool 1: $n of 2 jobs ran"; exit 1; }
echo "installed ociexec: batch with a warm pool ran 2 jobs"
python3 -c '
import ociexec
assert ociexec.run("true").limits["memory"] == 96 << 20  # the config file, read by Python too
with ociexec.Executor(pool_size=1) as executor:  # its init: /usr/libexec/ociexec/ociexec-init
    assert executor.prewarm() == 1 and executor.run("true").pooled
assert ociexec.execute_script("echo hi from python", 30) == (0, "hi from python\n", "")
code, out, err = ociexec.execute_script("sleep 30", 1)
assert code == -1 and err.startswith("Execution timeout (1s)"), (code, err)
print(f"installed python3-ociexec {ociexec.__version__}: a job, the timeout, the config file, a warm-pool job")'
ociexec gc >/dev/null
CHECK
unshare -m --propagation private sh -c '
  set -e
  root=$1
  mount --bind "$root" "$root"
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --rbind /dev "$root/dev"
  mount -t tmpfs tmpfs "$root/run"
  mkdir -p "$root/.old"
  cd "$root"
  pivot_root . .old
  exec chroot . /bin/sh /tmp/check.sh' sh "$root"

# 5. Nothing of those jobs left: their cgroup parent is gone with its last executor (the
# mounts went with the namespace).
if left=$(ls -d /sys/fs/cgroup/*/"$parent" /sys/fs/cgroup/"$parent" 2>/dev/null); then
  echo "cgroups left behind: $left" >&2
  exit 1
fi
echo "deb packages: built, lintian clean of errors, installed and run in a fresh root in $((SECONDS - start)) s"
