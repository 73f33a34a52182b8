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
cmake -S "$source/examples/rootless" -B "$prefix/rootless-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/rootless-build" >/dev/null
# The same program built with pkg-config instead of CMake (the .pc says /usr/local: the
# prefix is given, as for any relocated install).
c++ -o "$prefix/consumer-pc" "$source/examples/consumer/main.cc" \
  $(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --define-variable=prefix="$prefix" --cflags --libs ociexec)
test -x "$prefix/bin/ociexec"
test -f "$prefix/include/ociexec/ociexec.h"
test -x "$prefix/libexec/ociexec/ociexec-init"
test -x "$prefix/libexec/ociexec/ociexec-fetch"
test -f "$prefix/share/man/man1/ociexec.1" -a -f "$prefix/share/man/man1/ociexec-run.1"
test -f "$prefix/share/bash-completion/completions/ociexec"
if [[ $(id -u) -eq 0 ]]; then
  out=$("$prefix/consumer-build/consumer")
  echo "$out"
  [[ $out == "exit 0, stdout: hello from a container" ]]
  [[ $("$prefix/consumer-pc") == "$out" ]]
  echo "consumer built with pkg-config ran too"
  # The installed CLI finds the installed init for its warm pool.
  state=$prefix/state
  out=$(printf '%s\n' '{"script": "echo pooled"}' '{"script": "echo pooled"}' |
    "$prefix/bin/ociexec" --state-dir "$state" batch --pool 1 -j 1)
  echo "$out" | grep -c '"stdout":"pooled\\n"' | grep -qx 2
  echo "installed CLI: batch with a warm pool ran 2 jobs"
  # The installed CLI pulls through the installed ociexec-fetch, then runs a job on the image.
  cache=$build/tests/image-cache
  "$source/tests/images/make-images.sh" "$cache" "$build/tests/test-rootfs" busybox
  "$prefix/bin/ociexec" pull --image-store "$prefix/store" "oci:$cache/busybox:bb" >/dev/null
  out=$("$prefix/bin/ociexec" --state-dir "$state" run --image-store "$prefix/store" \
    --image "oci:$cache/busybox:bb" --pull never -c 'echo $IMAGE_VAR')
  [[ $out == from-image ]]
  echo "installed CLI: pulled through the installed ociexec-fetch and ran a job on the image"
  # docs/rootless.md's example, run by an unprivileged user.
  user=$("$source/tests/integration/test-user.sh")
  chmod 755 "$prefix"
  out=$(runuser -u "$user" -- env -u XDG_RUNTIME_DIR "$prefix/rootless-build/rootless_example")
  echo "$out"
  [[ $out == "exit 0, stdout: hello from uid 0 in a user namespace"*"unenforced limits: memory pids" ]]
fi
echo "consumer built against the installed package"

# The Python package, where `cmake --install` put it (lib/python3.X/dist-packages under the
# prefix, which Debian's python3 searches for the /usr/local prefix).
if [[ -f $build/python/ociexec/__init__.py ]]; then
  site=$(echo "$prefix"/lib/python3*/dist-packages)
  test -f "$site/ociexec/__init__.pyi" -a -f "$site/ociexec/py.typed"
  code='import ociexec; print("python package", ociexec.__version__)'
  code+='; assert ociexec._find_init() == "'"$prefix"'/libexec/ociexec/ociexec-init", ociexec._find_init()'
  [[ $(id -u) -eq 0 ]] && code+='; print(ociexec.execute_script("echo hi from python"))'
  (cd / && PYTHONPATH=$site /usr/bin/python3 -c "$code")
fi
