#!/usr/bin/env bash
# Builds build/ with the tests, benchmarks and fuzz replays: what the test and benchmark
# scripts run. scripts/setup.sh builds without them; this turns them on.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
elif ! grep -q '^OCIEXEC_BUILD_TESTS:BOOL=ON' build/CMakeCache.txt; then
  cmake -S . -B build -DOCIEXEC_BUILD_TESTS=ON >/dev/null
fi
cmake --build build -j "$(nproc)" "$@"
