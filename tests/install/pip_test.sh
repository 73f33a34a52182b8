#!/usr/bin/env bash
# pip installs the Python package (pyproject.toml) into a fresh virtualenv, as a user's
# requirements would, and runs the contract with the installed package: its metadata, the
# extension and ociexec-init inside it, a job, a timeout, a warm-pool job; then uninstalls it
# and checks nothing of it is left. The build tree's CMake build is reused (nothing compiles
# again). Usage: pip_test.sh BUILD_DIR SOURCE_DIR PYTHON VERSION
set -euo pipefail
build=$1 source=$2 python=$3 version=$4
tmp=$(mktemp -d /tmp/ociexec-pip-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$python" -m venv --system-site-packages "$tmp/venv"
OCIEXEC_CMAKE_BUILD_DIR=$build "$tmp/venv/bin/pip" install --quiet --no-build-isolation \
  --no-index "$source"
site=$("$tmp/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
test -x "$site/ociexec/ociexec-init" -a -f "$site/ociexec/py.typed" -a -f "$site/ociexec/__init__.pyi"

code=$(cat <<PY
import importlib.metadata, ociexec, os
assert importlib.metadata.version("ociexec") == "$version", importlib.metadata.version("ociexec")
assert ociexec.__version__ == "$version", ociexec.__version__
assert ociexec.__file__.startswith("$site/"), ociexec.__file__
assert ociexec._find_init() == "$site/ociexec/ociexec-init", ociexec._find_init()
print("pip package", importlib.metadata.version("ociexec"), "in", os.path.dirname(ociexec.__file__))
PY
)
if [[ $(id -u) -eq 0 ]]; then
  code+=$(cat <<PY

code, out, err = ociexec.execute_script("echo hello from pip", timeout_seconds=30)
assert (code, out, err) == (0, "hello from pip\n", ""), (code, out, err)
code, out, err = ociexec.execute_script("echo before; sleep 30", timeout_seconds=1)
assert code == -1 and out == "before\n" and err.startswith("Execution timeout (1s)"), (code, out, err)
executor = ociexec.Executor(state_dir="$tmp/state", pool_size=1)
result = executor.run("echo pooled", timeout_seconds=30)
assert result.stdout == "pooled\n", result
print("contract: a job, a timeout at 1 s with exit -1, a warm-pool job through the installed ociexec-init")
PY
)
fi
(cd / && env -u PYTHONPATH "$tmp/venv/bin/python" -c "$code")

"$tmp/venv/bin/pip" uninstall --quiet --yes ociexec
if [[ -e $site/ociexec ]] || ls "$site" | grep -q '^ociexec'; then
  echo "pip uninstall left files behind:" "$site"/ociexec* >&2
  exit 1
fi
echo "pip uninstall removed the package"
