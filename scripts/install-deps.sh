#!/usr/bin/env bash
# Installs the Debian packages ociexec needs, by what for:
#   scripts/install-deps.sh --runtime   what a host needs to RUN ociexec (a runtime, pasta,
#                                       newuidmap): nothing to build with
#   scripts/install-deps.sh --build     that, and what building the library, the command,
#                                       its helpers, the Python module and the man pages needs
#                                       (scripts/setup.sh)
#   scripts/install-deps.sh             all of it, and every tool the test suite uses
#                                       (scripts/test.sh)
# Safe to run again; needs root (or sudo).
set -euo pipefail

runtime=(
  runc crun
  uidmap  # newuidmap/newgidmap: rootless jobs map subordinate ids (docs/rootless.md)
  passt   # pasta: --network private (user-mode networking)
)
build=(
  build-essential cmake
  libfmt-dev libyaml-cpp-dev nlohmann-json3-dev libexpected-dev libcli11-dev
  libhiredis-dev  # ociexec worker and submit (Redis Streams)
  # Images: the registry client, layer unpacking and digests
  libcurl4-openssl-dev libarchive-dev libssl-dev libzstd-dev
  python3 python3-dev pybind11-dev
  help2man  # the man pages, made from each subcommand's --help
)
test=(
  doctest-dev busybox-static util-linux
  python3-pytest python3-jsonschema
  golang-github-opencontainers-specs-dev  # the OCI runtime-spec JSON schema
  redis-server python3-redis  # the worker tests' real Redis, and their producer
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer harnesses
  groff-base man-db bsdextrautils  # the man pages checked (groff, man -l, col)
  debhelper dh-python lintian  # the Debian packages built and checked (tests/install/deb_test.sh)
  python3-venv mypy  # pip install into a fresh virtualenv; the Python stubs type-checked
  # The image tests and benchmark: a local registry, image tools, a Debian rootfs, htpasswd
  docker-registry skopeo umoci debootstrap apache2-utils zstd openssl
  golang-github-opencontainers-image-spec-dev  # the OCI image-spec JSON schemas
  # scripts/vm-test.sh: a VM on a pure cgroup v2 kernel (Debian's cloud kernel, fetched
  # there with apt-get download, never installed on this host)
  qemu-system-x86 cpio
)

case ${1:-} in
  --runtime) packages=("${runtime[@]}") ;;
  --build) packages=("${runtime[@]}" "${build[@]}") ;;
  "") packages=("${runtime[@]}" "${build[@]}" "${test[@]}") ;;
  *)
    echo "install-deps: unknown argument '$1'; use --runtime, --build, or nothing for all" >&2
    exit 2
    ;;
esac

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
