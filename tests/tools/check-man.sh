#!/usr/bin/env bash
# The man pages help2man made (build/doc/man): one per subcommand, each rendering without a
# warning from groff, with its NAME, its synopsis, and every flag its --help lists.
#   tests/tools/check-man.sh MAN_DIR OCIEXEC
set -euo pipefail
dir=$1
ociexec=$2
failed=0
pages=("$dir"/*.1)
if ((${#pages[@]} < 13)); then
  echo "check-man: ${#pages[@]} pages in $dir, expected 13 (is help2man installed?)"
  exit 1
fi
for page in "${pages[@]}"; do
  name=$(basename "$page" .1)
  warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1 || true)
  if [[ -n $warnings ]]; then
    echo "check-man: $name: groff: $warnings"
    failed=1
  fi
  text=$(MANWIDTH=200 man -l "$page" 2>/dev/null | col -b)
  grep -q "^NAME" <<<"$text" || { echo "check-man: $name: no NAME"; failed=1; }
  grep -q "$name - " <<<"$text" || { echo "check-man: $name: no '$name - ' line"; failed=1; }
  sub=${name#ociexec}
  sub=${sub#-}
  # Every long flag of the subcommand's --help is in its page.
  # shellcheck disable=SC2086
  for flag in $("$ociexec" $sub --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
    if ! grep -q -- "$flag" <<<"$text"; then
      echo "check-man: $name: $flag is in --help but not in the page"
      failed=1
    fi
  done
done
((failed == 0)) && echo "check-man: ${#pages[@]} pages, all render cleanly and list every flag"
exit "$failed"
