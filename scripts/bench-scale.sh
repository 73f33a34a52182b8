#!/usr/bin/env bash
# Scale of cost (issue 22): how a job's cost grows with the jobs already running, the state
# dir's size, the image store's size and the job's output. Writes docs/benchmarks-scale.md.
# Run as root; about three minutes.
#   scripts/bench-scale.sh [ROUNDS]     (default 40 timed jobs per row)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build-tests.sh >/dev/null
cache=build/tests/image-cache
tests/images/make-images.sh "$cache" build/tests/test-rootfs busybox
PYTHONPATH=build/python /usr/bin/python3 bench/scale_bench.py "$PWD/build/tests/test-rootfs" \
  "oci:$(readlink -f "$cache")/busybox:bb" docs/benchmarks-scale.md "${1:-40}"
