#!/usr/bin/env bash
# Jobs through Redis (ociexec worker) against local `ociexec batch` (issue 19's figures).
# Writes docs/benchmarks-worker.md. Run as root; about a minute.
#   scripts/bench-worker.sh [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build-tests.sh >/dev/null
status=0
/usr/bin/python3 bench/worker_bench.py "$PWD/build/ociexec" "$PWD/build/tests/test-rootfs" \
  docs/benchmarks-worker.md "${1:-200}" || status=$?
if ((status == 3)); then echo "bench-worker.sh: a target was missed (see the table)" >&2; fi
exit "$status"
