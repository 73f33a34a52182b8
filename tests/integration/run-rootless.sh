#!/usr/bin/env bash
# Runs the integration suite's rootless cases as an unprivileged user: ociexec-test, created
# here if missing (no password, no login). Needs root to create the user and switch to it.
#   run-rootless.sh INTEGRATION_TESTS_BINARY
set -euo pipefail
bin=$1
user=ociexec-test
if [[ $(id -u) -ne 0 ]]; then
  echo "run-rootless.sh: needs root to run the suite as $user" >&2
  [[ ${CI:-} == true ]] && exit 1 || exit 77
fi
id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
# The binary and the test rootfs must be reachable by that user.
for d in "$(dirname "$bin")"/..; do
  p=$(readlink -f "$d")
  while [[ $p != / ]]; do
    if ! runuser -u "$user" -- test -x "$p"; then
      echo "run-rootless.sh: $p is not searchable by $user; build in a world-readable directory" >&2
      exit 1
    fi
    p=$(dirname "$p")
  done
done
# The cold-path cases that hold rootless, and the rootless ones. Not here: OOM, pids and CPU
# limits and cgroup stats (no cgroup), the warm pool, the CLI cases (they build root configs),
# the escape cases that assume the job is uid 65534 (rootless it is the namespace's root).
cases='rootless:*,a quick script completes*,the result unpacks*,stdin bytes reach*'
cases+=',env entries*,a script killed by a signal*,sh and python3 scripts run on the built-in*'
cases+=',eight jobs run concurrently*,sleep 60 under a 2 s timeout*,the timeout is configurable*'
cases+=',a background process holding stdout*,a 100 MiB output flood*,the output cap is configurable*'
cases+=',stdout and stderr are read concurrently*,escape: the network is unreachable*'
cases+=',escape: seccomp and no capabilities*,escape: host processes are invisible*'
cases+=',escape: no process outlives its job*,escape: the job has its own hostname*'
cases+=',a missing rootfs*,a missing or non-executable interpreter*'
exec runuser -u "$user" -- env -u XDG_RUNTIME_DIR OCIEXEC_TEST_RUNTIME=runc \
  OCIEXEC_TEST_ROOTLESS=1 CI="${CI:-}" "$bin" --test-case="$cases"
