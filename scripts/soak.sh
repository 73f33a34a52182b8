#!/usr/bin/env bash
# The soak suite, one command: N jobs (default 10000) at concurrency 8, mixing clean and
# non-zero exits, timeouts, SIGTERM-ignoring jobs with setsid children, OOM kills, fork bombs,
# 100 MiB floods, deaths by signal, stdin echoes and runtime failures; every result checked
# against its kind, then nothing may be left behind. CI runs 1000 jobs (ctest -R soak).
#   scripts/soak.sh [JOBS] [RUNTIME] [POOL]     e.g. scripts/soak.sh 10000 runc 0
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-tests.sh >/dev/null
exec ./build/tests/ociexec_soak build/tests/test-rootfs build/ociexec-init "${1:-10000}" \
  "${2:-auto}" "${3:-4}"
