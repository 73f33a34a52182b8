#!/usr/bin/env bash
# Per-job overhead against a bare `runc run` (and crun) of the same bundle, and the time from
# the deadline to the result. Builds first if needed; run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-50}
[[ -f build/CMakeCache.txt ]] || cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$(nproc)" >/dev/null
./build/bench/ociexec_bench build/tests/test-rootfs build/ociexec "$jobs" runc
echo
tests/integration/with-crun.sh ./build/bench/ociexec_bench build/tests/test-rootfs build/ociexec "$jobs" crun
