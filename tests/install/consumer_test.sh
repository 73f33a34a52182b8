#!/usr/bin/env bash
# Installs ociexec into a temporary prefix, builds examples/consumer against it with
# find_package(ociexec), and (as root, where jobs can run) runs it.
set -euo pipefail
build=$1 source=$2
prefix=$(mktemp -d /tmp/ociexec-install-XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
cmake -S "$source/examples/consumer" -B "$prefix/consumer-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/consumer-build" >/dev/null
test -x "$prefix/bin/ociexec"
test -f "$prefix/include/ociexec/ociexec.h"
if [[ $(id -u) -eq 0 ]]; then
  out=$("$prefix/consumer-build/consumer")
  echo "$out"
  [[ $out == "exit 0, stdout: hello from a container" ]]
fi
echo "consumer built against the installed package"
