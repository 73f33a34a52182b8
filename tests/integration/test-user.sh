#!/usr/bin/env bash
# Prints the unprivileged user the rootless tests run as, creating it (a system user with no
# home, no login, no password) if missing. Needs root.
set -euo pipefail
user=ociexec-test
id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
echo "$user"
