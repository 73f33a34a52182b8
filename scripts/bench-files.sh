#!/usr/bin/env bash
# Files in and out, and live output, measured (issue 18's figures): copy-out throughput of a
# 100 MiB file through the library, and the CLI's peak memory while it passes 1 GiB of
# output through. Writes docs/benchmarks-files.md. Run as root; about a minute.
#   scripts/bench-files.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build-tests.sh >/dev/null
status=0
PYTHONPATH=build/python /usr/bin/python3 bench/files_bench.py "$PWD/build/ociexec" \
  "$PWD/build/tests/test-rootfs" docs/benchmarks-files.md "${1:-7}" || status=$?
if ((status == 3)); then echo "bench-files.sh: a target was missed (see the table)" >&2; fi
exit "$status"
