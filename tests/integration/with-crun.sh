#!/usr/bin/env bash
# Runs a command with OCIEXEC_TEST_RUNTIME=crun. On a hybrid-cgroup host crun refuses to run
# while the cgroup2 mount has controllers, so the command gets a private mount namespace
# where that mount is gone; on other hosts it runs as it is.
set -euo pipefail
export OCIEXEC_TEST_RUNTIME=crun
unified=/sys/fs/cgroup/unified
if [[ $(id -u) -eq 0 ]] && mountpoint -q "$unified" && [[ -n $(cat "$unified/cgroup.controllers" 2>/dev/null) ]]; then
  exec unshare -m -- sh -c "umount '$unified' && exec \"\$@\"" sh "$@"
fi
exec "$@"
