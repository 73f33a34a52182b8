#!/usr/bin/env bash
# The generated bash completion (build/doc/completion/ociexec), as bash calls it: the words
# typed so far in COMP_WORDS, the candidates read back from COMPREPLY.
#   tests/tools/check-completion.sh COMPLETION_FILE
set -euo pipefail
# shellcheck source=/dev/null
source "$1"
failed=0
complete_words() {  # the words typed, the last one being completed
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _ociexec
  printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
expect() {  # expect "WANTED" WORD...
  local want=$1
  shift
  local got
  got=$(complete_words "$@")
  if [[ $got != "$want" ]]; then
    echo "check-completion: '$*': got '$got', wanted '$want'"
    failed=1
  fi
}
contains() {  # contains CANDIDATE WORD...
  local want=$1
  shift
  if [[ " $(complete_words "$@") " != *" $want "* ]]; then
    echo "check-completion: '$*': '$want' is not among the candidates"
    failed=1
  fi
}
expect "rmi run" ociexec r
expect "run" ociexec --config /etc/x.yaml ru
expect "--device" ociexec run --dev
expect "--gpus" ociexec run --timeout 5 --gp
expect "host none private private:no-host-loopback" ociexec run --network ""
expect "crun" ociexec run --runtime cr
expect "all" ociexec run --gpus ""
expect "prune" ociexec image ""
expect "json jsonl" ociexec images --format j
expect "--quiet" ociexec pull --qu
expect "--force" ociexec rmi --fo
contains "--config" ociexec run --con
contains "--redis" ociexec worker --red
contains "--version" ociexec --ver
# After the script, a word is the script's argument: no subcommands offered there.
contains "/etc/hostname" ociexec run /bin/true /etc/hostn
# A flag's value is never taken for a subcommand: "batch" here is --state-dir's value.
expect "--device" ociexec --state-dir batch run --dev
((failed == 0)) && echo "check-completion: all cases passed"
exit "$failed"
