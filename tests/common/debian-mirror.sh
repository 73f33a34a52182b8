#!/usr/bin/env bash
# Prints the Debian mirror this machine's apt uses (deb822 debian.sources, else
# sources.list), for the debootstraps the tests make their fixtures with.
set -euo pipefail
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | sed -n 1p)
[[ -n $mirror ]] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)
[[ -n $mirror ]] || { echo "debian-mirror.sh: no Debian mirror in apt's sources" >&2; exit 1; }
echo "$mirror"
