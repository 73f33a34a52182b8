#!/usr/bin/env bash
# Runs the integration suite's rootless cases as unprivileged users (test-user.sh): one with no
# subordinate ids, one with (newuidmap/newgidmap map them), then with a cgroup delegated. Needs root to create the user and switch to it.
#   run-rootless.sh INTEGRATION_TESTS_BINARY
set -euo pipefail
bin=$1
if [[ $(id -u) -ne 0 ]]; then
  echo "run-rootless.sh: needs root to create the test user and run the suite as it" >&2
  [[ ${CI:-} == true ]] && exit 1 || exit 77
fi
user=$("$(dirname "$0")/test-user.sh")
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
# limits and cgroup stats (no cgroup), the warm pool, the CLI cases that need those, the
# escape cases that assume the job is uid 65534 as root sees it.
cases='rootless:*,a quick script completes*,the result unpacks*,stdin bytes reach*'
cases+=',env entries*,a script killed by a signal*,sh and python3 scripts run on the built-in*'
cases+=',eight jobs run concurrently*,sleep 60 under a 2 s timeout*,the timeout is configurable*'
cases+=',a background process holding stdout*,a 100 MiB output flood*,the output cap is configurable*'
cases+=',stdout and stderr are read concurrently*,escape: the network is unreachable*'
cases+=',escape: seccomp and no capabilities*,escape: host processes are invisible*'
cases+=',escape: no process outlives its job*,escape: the job has its own hostname*'
cases+=',a missing rootfs*,a missing or non-executable interpreter*'
cases+=',SIGKILL of the CLI mid-job*,SIGTERM twice to the CLI*,cli: timeout exits 124*'
cases+=",cli: the script's output passes through*,images: each job gets a fresh writable*"
cases+=',init:*,args:*,live output:*,cli: run passes*,cli: a reader that goes away*,cli: batch --stream*'
cases+=',cpu time:*,cpuset:*,cpu limits:*,mounts:*,network host:*,network private:*,files:*,devices:*'
# pasta, which runs as the user for --network private, opens /dev/net/tun: the kernel and
# udev make it 0666; some hosts and containers tighten it to 0600. Standard for the run only.
made=()
tun_mode=$(stat -c %a /dev/net/tun 2>/dev/null || true)
cleanup() {
  for d in "${made[@]}"; do rmdir "$d"/*/ 2>/dev/null || true; rmdir "$d" 2>/dev/null || true; done
  [[ -n $tun_mode ]] && chmod "$tun_mode" /dev/net/tun
  return 0
}
trap cleanup EXIT
[[ -n $tun_mode ]] && chmod 0666 /dev/net/tun
run_as() {
  local who=$1
  shift
  runuser -u "$who" -- env -u XDG_RUNTIME_DIR OCIEXEC_TEST_RUNTIME=runc OCIEXEC_TEST_ROOTLESS=1 \
    CI="${CI:-}" "$@"
}
echo "== rootless as $user (no subordinate ids: a single-id mapping), no cgroup delegated"
run_as "$user" "$bin" --test-case="$cases"
ids_user=$("$(dirname "$0")/test-user.sh" --subids)
echo "== rootless as $ids_user (subordinate ids: jobs run as 65534 mapped onto them)"
run_as "$ids_user" "$bin" --test-case="$cases"

# Then with a cgroup delegated to the user: the memory and pids v1 hierarchies' directory
# ociexec-rootless-test, chowned to it (as an administrator would; on cgroup v2, systemd's
# Delegate=yes gives the user a subtree instead).
parent=ociexec-rootless-test
if [[ -d /sys/fs/cgroup/memory && -d /sys/fs/cgroup/pids ]]; then
  for c in memory pids; do
    d=/sys/fs/cgroup/$c/$parent
    mkdir -p "$d" && made+=("$d")
    chown -R "$user" "$d"
  done
else
  echo "run-rootless.sh: delegation is tested on v1 hosts (memory and pids hierarchies); this host has none" >&2
  [[ ${CI:-} == true ]] && exit 1 || exit 77
fi
echo "== rootless, cgroup $parent delegated (memory, pids)"
run_as "$user" OCIEXEC_TEST_DELEGATED=1 OCIEXEC_TEST_CGROUP_PARENT="$parent" "$bin" \
  --test-case="rootless with a delegated cgroup*,a quick script completes*,sleep 60 under a 2 s timeout*,cpu time:*,cpuset:*"
