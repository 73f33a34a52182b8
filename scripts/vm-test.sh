#!/usr/bin/env bash
# The suites on a pure cgroup v2 kernel, the layout Debian 12, Ubuntu 22.04+, Fedora and RHEL 9
# hosts have, in a VM: qemu under software emulation (TCG; no KVM needed) boots Debian's
# cloud kernel (every controller on cgroup2) from an initramfs made here from the build tree
# and the host's runc, crun, python3 and their libraries. Inside (tests/vm/guest-init.sh),
# controllers are enabled as systemd does, with user 1000's user@1000.service delegated to
# it, and the suites of tests/vm/suites run: runc and crun, cold and pooled, rootless with
# the delegated subtree, and doctor. Called by scripts/test.sh.
#
#   scripts/vm-test.sh            build the initramfs, boot, run, report
#   OCIEXEC_VM_TIMEOUT=SECONDS    the whole VM is killed after this long (default 1200)
#   OCIEXEC_VM_SUITES=FILE        other suites than tests/vm/suites (same format)
#
# Prints each suite's result and one summary line; exits 0 only on "VM-TEST: PASS". The
# guest's console is kept in build/vm/console.log (kept for a failed run, with the reason).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=$PWD/build
vm=$build/vm
limit=${OCIEXEC_VM_TIMEOUT:-1200}

fail() {
  echo "vm-test: $*" >&2
  exit 1
}
for tool in qemu-system-x86_64 cpio apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/install-deps.sh"
done
for f in ociexec ociexec-init tests/ociexec_integration_tests tests/test-rootfs/bin/payload; do
  [[ -e $build/$f ]] || fail "$build/$f is missing: build first (scripts/test.sh does)"
done
mkdir -p "$vm"

# The kernel: Debian's cloud flavour (small, every cgroup controller, overlay as a module),
# fetched once with apt-get download and unpacked, never installed on this host.
package=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
  sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -1)
[[ -n $package ]] || fail "no linux-image-cloud-amd64 in the package lists: run apt-get update"
kdir=$vm/$package
if [[ ! -f $kdir.done ]]; then
  rm -rf "$kdir" "$vm"/*.deb
  (cd "$vm" && apt-get download -q "$package" >/dev/null 2>&1) ||
    fail "apt-get download $package failed"
  dpkg-deb -x "$vm"/"$package"_*.deb "$kdir"
  rm -f "$vm"/*.deb
  touch "$kdir.done"
fi
vmlinuz=$(ls "$kdir"/boot/vmlinuz-*)
overlay=$(find "$kdir/lib/modules" -name overlay.ko | head -1)
[[ -f $vmlinuz && -f $overlay ]] || fail "no kernel or overlay.ko in $kdir"

# The initramfs: busybox, the programs the suites run (the build tree at the same absolute
# paths, since the tests have them compiled in), and every library they load.
root=$vm/root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib64,etc,vm}
cp /bin/busybox "$root/bin/busybox"
cp "$src/tests/vm/guest-init.sh" "$root/init"
chmod 0755 "$root/init"
cp "$overlay" "$root/vm/overlay.ko"
copy_libs() {  # FILE: the shared libraries it loads, and the loader (none if static)
  local lib
  for lib in $( (ldd "$1" 2>/dev/null || true) | grep -o '/[^ ]*' || true); do
    [[ -e $root$lib ]] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}
copy_with_libs() {  # FILE [DEST]
  local file=$1 dest=${2:-$1}
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$file" "$root$dest"
  copy_libs "$file"
}
copy_with_libs "$(command -v runc)" /usr/sbin/runc
copy_with_libs "$(command -v crun)" /usr/bin/crun
copy_with_libs /usr/bin/setpriv /usr/bin/setpriv
copy_with_libs /bin/bash /bin/bash
copy_with_libs /usr/bin/env /usr/bin/env
# python3 and its standard library, for the jobs on the built-in host view (its /usr is the
# VM's): the Python and warm-interpreter cases. Without what no job imports (tests, Tk, IDLE,
# the static libpython), with every library its extension modules load.
python=$(readlink -f /usr/bin/python3)
copy_with_libs "$python" "$python"
ln -s "$(basename "$python")" "$root/usr/bin/python3"
pylib=/usr/lib/$(basename "$python")
mkdir -p "$root$pylib"
tar -C "$pylib" --exclude='./config-*' --exclude=./test --exclude=./idlelib --exclude=./tkinter \
  --exclude=./turtledemo --exclude=./ensurepip --exclude=./lib2to3 --exclude=./site-packages \
  --exclude=./dist-packages -cf - . | tar -C "$root$pylib" -xf -
for module in "$pylib"/lib-dynload/*.so; do copy_libs "$module"; done
strip_copy() {  # the build's binaries, at the same paths, without their debug info
  mkdir -p "$root$(dirname "$1")"
  objcopy --strip-debug "$1" "$root$1"
  copy_libs "$1"
}
strip_copy "$build/ociexec"
strip_copy "$build/ociexec-init"
strip_copy "$build/tests/ociexec_integration_tests"
mkdir -p "$root$build/tests" "$root$src/tests/images"
cp -a "$build/tests/test-rootfs" "$root$build/tests/"
# The image case pulls the busybox layout in-process: the cache the tests built, and the
# script that finds it there.
tests/images/make-images.sh "$build/tests/image-cache" "$build/tests/test-rootfs" busybox >/dev/null
mkdir -p "$root$build/tests/image-cache"
cp -a "$build/tests/image-cache/busybox" "$build/tests/image-cache/busybox.done" \
  "$root$build/tests/image-cache/"
cp "$src/tests/images/make-images.sh" "$root$src/tests/images/"
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
ociexec-test:x:1000:1000:ociexec test:/home/ociexec-test:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
ociexec-test:x:1000:
nogroup:x:65534:
EOF
# The suites, with the paths of this build.
sed -e "s|@BUILD@|$build|g" "${OCIEXEC_VM_SUITES:-$src/tests/vm/suites}" >"$root/vm/suites"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$vm/initramfs.cpio.gz"
echo "vm-test: initramfs $(du -h "$vm/initramfs.cpio.gz" | cut -f1), kernel $package"

# Boot. The console is the test's log; the VM powers itself off when done, and is killed
# after $limit seconds whatever happens.
log=$vm/console.log
status=0
timeout -s KILL "$limit" qemu-system-x86_64 -accel tcg -machine q35 -cpu max -smp 2 -m 3072 \
  -nographic -no-reboot -kernel "$vmlinuz" -initrd "$vm/initramfs.cpio.gz" \
  -append "console=ttyS0 quiet panic=-1 loglevel=3" </dev/null >"$log" 2>&1 || status=$?
grep -a '^VM-SUITE ' "$log" || true
summary=$(grep -a '^VM-TEST: ' "$log" | tail -1 | tr -d '\r')
rm -rf "$root"
if [[ $summary == "VM-TEST: PASS"* ]]; then
  echo "vm-test: $summary (pure cgroup v2, $package)"
  exit 0
fi
if ((status == 137)); then
  echo "vm-test: the VM did not finish within ${limit}s (OCIEXEC_VM_TIMEOUT); its console: $log" >&2
else
  echo "vm-test: ${summary:-no summary line from the VM} (qemu exit $status); its console: $log" >&2
fi
# What failed, last, so that a log that keeps only its tail (CI's) still shows it: each failed
# suite's failing checks, then the end of its output.
for name in ${summary#VM-TEST: FAIL}; do
  section=$(tr -d '\r' <"$log" | sed 's/\x1b\[[0-9;]*m//g' |
    awk -v n="$name" '$0 ~ "^== VM suite " n " " {on=1} on {print} $0 ~ "^VM-SUITE " n ":" {on=0}')
  echo "== vm-test: suite $name failed; its failing checks:" >&2
  grep -E -A6 '^[^ ]*:[0-9]+: (ERROR|FATAL ERROR)|TEST CASE:|logged:|values:' <<<"$section" |
    head -n 120 >&2 || true
  echo "== vm-test: the last lines of suite $name:" >&2
  tail -n 40 <<<"$section" >&2
done
[[ $summary == "VM-TEST: FAIL"* ]] || tail -n 60 "$log" | tr -d '\r' >&2
exit 1
