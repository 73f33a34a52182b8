#!/usr/bin/env bash
# The suites under a sanitizer preset (CMakePresets.json):
#   scripts/sanitize.sh [asan|tsan]      (default asan: AddressSanitizer + UBSan + LeakSanitizer)
# Runs the unit tests, the integration suite with crun and with runc in warm-pool containers,
# and (asan) the fuzz regressions and the image tests (the command and ociexec-fetch pulling
# from registries on loopback). Any sanitizer report fails the run (UBSan included: it halts).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-asan}
case $preset in
  asan|tsan) ;;
  *) echo "sanitize.sh: unknown preset \"$preset\"; use asan or tsan" >&2; exit 2 ;;
esac
build=build-$preset
cmake --preset "$preset" -DOCIEXEC_BUILD_PYTHON=OFF >/dev/null
targets=(ociexec_unit_tests ociexec_integration_tests ociexec_cli ociexec_fetch ociexec_init
  ociexec_test_rootfs)
[[ $preset == asan ]] && targets+=($(sed -n 's/^set(OCIEXEC_FUZZ_TARGETS \(.*\))/\1/p' tests/fuzz/CMakeLists.txt | sed 's/\([a-z_]*\)/fuzz_replay_\1/g'))
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >/dev/null

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=99
export TSAN_OPTIONS=halt_on_error=1:exitcode=99:second_deadlock_stack=1
failed=()
run() {
  local name=$1
  shift
  local log
  log=$(mktemp)
  if "$@" >"$log" 2>&1 && ! grep -qE 'Sanitizer|runtime error:' "$log"; then
    echo "sanitize ($preset): $name: $(grep -E '^\[doctest\] test cases|^replayed| passed' "$log" | tail -1)"
  else
    failed+=("$name")
    echo "sanitize ($preset): $name FAILED:"
    grep -E -A12 'ERROR: |WARNING: ThreadSanitizer|runtime error:|FATAL|ERROR:' "$log" | head -40
  fi
  rm -f "$log"
}
run unit "$build/tests/ociexec_unit_tests"
OCIEXEC_TEST_RUNTIME=crun run integration_crun "$build/tests/ociexec_integration_tests"
OCIEXEC_TEST_RUNTIME=runc OCIEXEC_TEST_POOL=1 run integration_runc_pool "$build/tests/ociexec_integration_tests"
if [[ $preset == asan ]]; then
  for t in "$build"/tests/fuzz/fuzz_replay_*; do
    name=${t##*/fuzz_replay_}
    run "fuzz_regressions_$name" "$t" "tests/fuzz/corpus/$name"
  done
  # The image cache of the main build when there is one (debootstrap takes half a minute).
  cache=build/tests/image-cache
  [[ -d $cache ]] || cache=$build/tests/image-cache
  OCIEXEC_TEST_CLI=$PWD/$build/ociexec OCIEXEC_TEST_ROOTFS=$PWD/$build/tests/test-rootfs \
    OCIEXEC_TEST_IMAGE_CACHE=$PWD/$cache run images \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/images
fi
echo "sanitize ($preset): ${#failed[@]} failed${failed:+: ${failed[*]}}"
((${#failed[@]} == 0))
