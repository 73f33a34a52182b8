#!/usr/bin/env bash
# The image benchmark, one command: installs what it needs, builds, makes the test images
# (busybox, and Debian with python3-minimal), serves them from a local docker-registry, and
# compares `ociexec pull` with `podman pull`, and jobs on an image with jobs on a directory.
# Writes docs/benchmarks-images.md. Run as root; about 2 minutes.
#   scripts/bench-images.sh [PULL_ROUNDS] [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build-tests.sh >/dev/null
cache=build/tests/image-cache
tests/images/make-images.sh "$cache" build/tests/test-rootfs
status=0
PYTHONPATH=tests/images /usr/bin/python3 tests/images/bench_images.py "$PWD/build/ociexec" \
  "$PWD/build/tests/test-rootfs" "$PWD/$cache" docs/benchmarks-images.md "${1:-5}" "${2:-100}" ||
  status=$?
if ((status == 3)); then echo "bench-images.sh: a target was missed (see the table)" >&2; fi
exit "$status"
