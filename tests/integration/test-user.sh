#!/usr/bin/env bash
# Prints an unprivileged user for the rootless tests, creating it if missing (a system user:
# no home, no login, no password). Needs root.
#   test-user.sh               ociexec-test: no subordinate ids (jobs get a single-id mapping)
#   test-user.sh --subids      ociexec-test-ids: 65536 subordinate uids and gids
set -euo pipefail
if [[ ${1:-} == --subids ]]; then
  user=ociexec-test-ids
  id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
  if ! grep -q "^$user:" /etc/subuid 2>/dev/null || ! grep -q "^$user:" /etc/subgid 2>/dev/null; then
    # A range no other entry uses: above every range there.
    top=$(cat /etc/subuid /etc/subgid 2>/dev/null | awk -F: '{ e = $2 + $3; if (e > m) m = e } END { print m + 0 }')
    start=$(( top > 1000000 ? top : 1000000 ))
    usermod --add-subuids "$start-$((start + 65535))" --add-subgids "$start-$((start + 65535))" "$user"
  fi
else
  user=ociexec-test
  id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
fi
echo "$user"
