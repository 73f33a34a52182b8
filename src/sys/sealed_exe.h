// A sealed in-memory copy of an executable, run through execveat(fd, "", AT_EMPTY_PATH).
//
// runc and crun protect themselves from a container overwriting their binary
// (CVE-2019-5736): unless /proc/self/exe is already a memfd sealed against writes, each call
// first copies or bind-mounts itself and re-executes that copy. A copy sealed once here and
// executed for every call is that protection already, so the runtime skips its own: for crun
// that is a second exec, its dynamic linking and a mount/umount pair per call (about 1.5 ms
// of its 8 ms on the benchmark machine).
#pragma once

#include <string>

#include "ociexec/error.h"
#include "sys/unique_fd.h"

namespace ociexec::sys {

// Copies the ELF executable at `path` into a memfd (close-on-exec) sealed against any
// change (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE, the seals runc and crun
// test for). Refused for a script (a close-on-exec fd cannot run one: its interpreter would
// need the fd after exec) and where the kernel forbids executable memfds (vm.memfd_noexec).
Expected<UniqueFd> sealed_executable_copy(const std::string& path);

}  // namespace ociexec::sys
