#!/usr/bin/env bash
# The benchmark, one command: installs what it needs (podman, bubblewrap), builds, makes the
# busybox test rootfs an OCI image (for ociexec's store and podman's), and runs every
# contender on the same rootfs and job in one run. Prints the tables and writes docs/benchmarks.md
# (and docs/benchmarks-worker.md: jobs through Redis). Run as root; about 6 minutes.
#   scripts/bench.sh [JOBS]     (default 100 jobs per contender and job)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-100}

bash scripts/install-deps.sh
missing=()
for p in podman bubblewrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

bash scripts/build-tests.sh >/dev/null

# The same rootfs as an image, for both: an OCI layout (umoci, as the image tests build it),
# which ociexec pulls into its store, and the same layout copied into podman's storage.
cache=build/tests/image-cache
tests/images/make-images.sh "$cache" build/tests/test-rootfs busybox
podman rmi -f localhost/ociexec-bench:busybox >/dev/null 2>&1 || true
skopeo copy -q "oci:$cache/busybox:bb" containers-storage:localhost/ociexec-bench:busybox

status=0
./build/bench/ociexec_bench build/tests/test-rootfs build/ociexec docs/benchmarks.md "$jobs" \
  "oci:$(readlink -f "$cache")/busybox:bb" || status=$?
podman rmi -f localhost/ociexec-bench:busybox >/dev/null 2>&1 || true
# Jobs through Redis (ociexec worker) against local batch: docs/benchmarks-worker.md.
worker_status=0
/usr/bin/python3 bench/worker_bench.py "$PWD/build/ociexec" "$PWD/build/tests/test-rootfs" \
  docs/benchmarks-worker.md 200 || worker_status=$?
((worker_status == 0 || status != 0)) || status=$worker_status
if ((status == 3)); then
  echo "bench.sh: some targets were missed (see the Targets table)" >&2
fi
exit "$status"
