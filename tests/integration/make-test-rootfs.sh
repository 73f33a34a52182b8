#!/usr/bin/env bash
# Builds the integration tests' root file system: static busybox, the static test payload,
# and the directories the executor mounts over. Made locally; nothing is downloaded.
set -euo pipefail
out=$1 payload=$2
busybox=/bin/busybox  # from busybox-static: no libraries needed in the rootfs
[[ -x $busybox ]] || { echo "make-test-rootfs: busybox not found; run scripts/install-deps.sh" >&2; exit 1; }
rm -rf "$out.tmp"
mkdir -p "$out.tmp"/{bin,etc,tmp,work,proc,dev,sys,mnt,.ociexec}
chmod 1777 "$out.tmp/tmp"
cp "$busybox" "$out.tmp/bin/busybox"
for applet in sh cat echo env id ls sleep true false hostname printf kill ps; do
  ln -s busybox "$out.tmp/bin/$applet"
done
cp "$payload" "$out.tmp/bin/payload"
cp "$payload" "$out.tmp/bin/payload-suid"
chmod 4755 "$out.tmp/bin/payload-suid"  # root-owned setuid: the escape suite tries it
printf 'not a program\n' > "$out.tmp/not-executable"
chmod 0644 "$out.tmp/not-executable"
printf 'root:s3cret:1:0:99999:7:::\n' > "$out.tmp/etc/shadow"
chmod 0600 "$out.tmp/etc/shadow"  # root-only: a rootless job must not read it
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/work:/bin/false\n' > "$out.tmp/etc/passwd"
# What --network host and private bind over (a shared root without them gets no bind).
printf '127.0.0.1\tlocalhost\n' > "$out.tmp/etc/hosts"
: > "$out.tmp/etc/resolv.conf"
rm -rf "$out"
mv "$out.tmp" "$out"
