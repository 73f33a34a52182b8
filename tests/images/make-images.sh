#!/usr/bin/env bash
# Builds the image tests' OCI layouts into CACHE (once; a stamp marks each complete), or only
# the ones named after ROOTFS:
#   CACHE/busybox:bb      the busybox+payload test rootfs, with Env, WorkingDir and User set
#   CACHE/debian:python   Debian bookworm minbase with python3-minimal (debootstrap, ~30 s)
# Made with umoci from local trees; the Debian mirror is the machine's own apt source.
set -euo pipefail
cache=$1 rootfs=$2
shift 2
wanted=("${@:-busybox debian}")
wanted=" ${wanted[*]} "
done=1
for name in $wanted; do [[ -f $cache/$name.done ]] || done=0; done
((done)) && exit 0  # nothing to build: no lock needed (the rootless suite's users only read)
mkdir -p "$cache"
# One builder at a time (ctest may run the integration suite and the image tests together).
exec 9>"$cache/.lock"
flock 9

build() {  # NAME TAG TREE [umoci config flags...]
  local name=$1 tag=$2 tree=$3
  shift 3
  [[ -f $cache/$name.done ]] && return
  rm -rf "${cache:?}/$name" "$cache/$name.bundle"
  umoci init --layout "$cache/$name"
  umoci new --image "$cache/$name:$tag"
  umoci unpack --image "$cache/$name:$tag" "$cache/$name.bundle" >/dev/null
  cp -a "$tree/." "$cache/$name.bundle/rootfs/"
  umoci repack --image "$cache/$name:$tag" "$cache/$name.bundle"
  umoci config --image "$cache/$name:$tag" "$@"
  rm -rf "$cache/$name.bundle"
  chmod -R a+rX "$cache/$name"  # the rootless suite's users read it too
  touch "$cache/$name.done"
}

[[ $wanted == *" busybox "* ]] && build busybox bb "$rootfs" --config.env IMAGE_VAR=from-image --config.workingdir /srv \
  --config.user 1234:42

if [[ $wanted == *" debian "* && ! -f $cache/debian.done ]]; then
  mirror=$("$(dirname "$0")/../common/debian-mirror.sh")
  rm -rf "$cache/debian.rootfs"
  debootstrap --variant=minbase --include=python3-minimal bookworm "$cache/debian.rootfs" \
    "$mirror" >"$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log"; exit 1; }
  build debian python "$cache/debian.rootfs" --config.env LANG=C.UTF-8 --config.workingdir /app
  rm -rf "$cache/debian.rootfs"
fi
