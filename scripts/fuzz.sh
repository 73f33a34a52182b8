#!/usr/bin/env bash
# Fuzzes every parser of outside input with libFuzzer (clang, ASan+UBSan, LeakSanitizer):
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Each target starts from its kept inputs (tests/fuzz/corpus/<name>/) and runs for SECONDS
# (default 60). A crash, a leak, a hang (-timeout) or memory over -rss_limit_mb fails the run;
# the input that did it is copied into the corpus, where the ordinary suite replays it
# (ctest fuzz_regressions_<name>) once the bug is fixed. With OCIEXEC_FUZZ_KEEP=1, inputs that
# reached new code are merged into the corpus as well (-merge=1 keeps only those that add
# coverage); by default the corpus grows by regressions only.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
bash scripts/install-deps.sh >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(config units runtime_log cgroup_files mountinfo job_file batch_line shebang image_docs
    layer cdi_spec)
fi

build=build-fuzz
if [[ -f $build/CMakeCache.txt ]]; then
  cmake -S . -B $build >/dev/null  # picks up new targets
else
  # A unity build: the library compiles in a fraction of the time, which the suite needs.
  CC=clang CXX=clang++ cmake -S . -B $build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOCIEXEC_FUZZ=ON \
    -DCMAKE_UNITY_BUILD=ON \
    -DOCIEXEC_BUILD_PYTHON=OFF -DOCIEXEC_STATIC_CLI=OFF \
    -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
    >/dev/null
fi
cmake --build $build -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
total_runs=0
for t in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/$t
  mkdir -p "$work/$t/new" "$work/$t/artifacts"
  log=$work/$t/log
  set +e
  # UBSan findings abort (-fno-sanitize-recover); LeakSanitizer runs at exit of each input.
  UBSAN_OPTIONS=print_stacktrace=1 "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$work/$t/artifacts/" "$work/$t/new" "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  total_runs=$((total_runs + runs))
  # Keep what made it fail, and on request what reached new code.
  if [[ ${OCIEXEC_FUZZ_KEEP:-} == 1 ]]; then
    "$build/tests/fuzz/fuzz_$t" -merge=1 "$corpus" "$work/$t/new" >/dev/null 2>&1 || true
  fi
  for a in "$work/$t/artifacts"/*; do
    [[ -e $a ]] || continue
    cp "$a" "$corpus/regression-$(basename "$a")"
  done
  if ((rc != 0)); then
    failed+=("$t")
    echo "fuzz: $t FAILED after $runs inputs:"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|fuzz property|ALARM|Test unit written)' "$log" | head -8
  else
    echo "fuzz: $t: $runs inputs in ${seconds}s, corpus $(ls "$corpus" | wc -l) files, no crash, leak or hang"
  fi
done
echo "fuzz: ${#targets[@]} targets, $total_runs inputs fuzzed, ${#failed[@]} failed${failed:+: ${failed[*]}}"
((${#failed[@]} == 0))
