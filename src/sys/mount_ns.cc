#include "sys/mount_ns.h"

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "sys/clone_child.h"
#include "sys/process.h"

namespace ociexec::sys {

Expected<UniqueFd> mount_namespace_without(const std::string& hidden) {
  clone_child::NamespaceSetup setup{hidden.c_str()};
  auto pid = clone_vfork(clone_child::make_namespace, &setup, CLONE_FILES);
  if (!pid) return tl::unexpected(pid.error().with_context("mount namespace"));
  ::waitpid(*pid, nullptr, __WALL);
  UniqueFd fd(setup.ns_fd);
  if (setup.err != 0)
    return tl::unexpected(errno_error(
        fmt::format("mount namespace without {}: {}", hidden, setup.step), setup.err));
  return fd;
}

}  // namespace ociexec::sys
