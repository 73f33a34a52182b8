#!/usr/bin/env bash
# The man pages, from the command itself: ociexec(1) and one ociexec-SUBCOMMAND(1) per
# subcommand its --help lists, each made by help2man from that subcommand's --help (its
# first line the page's NAME), through a one-line wrapper named as the page.
#   scripts/make-man.sh OCIEXEC OUT_DIR COMMON_H2M  (sections every page has: dist/man-common.h2m)
set -euo pipefail
ociexec=$(readlink -f "$1")
out=$2
common=$3
version=$("$ociexec" --version | awk '{print $2}')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
rm -f "$out"/*.1

subcommands=$("$ociexec" --help | sed -n '/^Subcommands:/,$p' | awk 'NR > 1 && NF {print $1}')
# The SEE ALSO section names every page.
{
  cat "$common"
  echo
  echo "[SEE ALSO]"
  printf '.BR ociexec (1)'
  for sub in $subcommands; do printf ',\n.BR ociexec-%s (1)' "$sub"; done
  echo "."
} >"$work/include.h2m"

page() {  # page NAME SUBCOMMAND...
  local name=$1
  shift
  printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$ociexec" "$*" >"$work/$name"
  chmod +x "$work/$name"
  local what
  # sed, not head: head would leave early, and SIGPIPE fails the pipeline under pipefail.
  what=$("$ociexec" "$@" --help | sed -n 1p)
  help2man --no-info --no-discard-stderr --version-string="$version" --name="$what" \
    --include="$work/include.h2m" --output="$out/$name.1" "$work/$name"
}
page ociexec
for sub in $subcommands; do page "ociexec-$sub" "$sub"; done
pages=("$out"/*.1)
echo "make-man: ${#pages[@]} pages in $out"
