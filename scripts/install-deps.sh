#!/usr/bin/env bash
# Installs every Debian package ociexec needs to build, test and run its sample job.
# Safe to run again; needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake
  libfmt-dev libyaml-cpp-dev nlohmann-json3-dev libexpected-dev libcli11-dev doctest-dev
  runc crun busybox-static
  python3 python3-dev python3-pytest python3-jsonschema pybind11-dev
  golang-github-opencontainers-specs-dev
  util-linux
  uidmap  # newuidmap/newgidmap: rootless jobs map subordinate ids (docs/rootless.md)
  passt   # pasta: --network private (user-mode networking)
  libhiredis-dev  # ociexec worker and submit (Redis Streams)
  redis-server python3-redis  # the worker tests' real Redis, and their producer
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer harnesses
  # Images: the registry client, layer unpacking and digests
  libcurl4-openssl-dev libarchive-dev libssl-dev libzstd-dev
  # The image tests and benchmark: a local registry, image tools, a Debian rootfs, htpasswd
  docker-registry skopeo umoci debootstrap apache2-utils zstd openssl
  golang-github-opencontainers-image-spec-dev  # the OCI image-spec JSON schemas
  # scripts/vm-test.sh: a VM on a pure cgroup v2 kernel (Debian's cloud kernel, fetched
  # there with apt-get download, never installed on this host)
  qemu-system-x86 cpio
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
