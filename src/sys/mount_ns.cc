#include "sys/mount_ns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "sys/process.h"

namespace ociexec::sys {

namespace {

struct NsSetup {
  const char* hidden;
  int ns_fd = -1;
  int err = 0;
  const char* step = "";
};

// Runs in a child that shares our memory and fd table (CLONE_VM | CLONE_FILES | CLONE_VFORK):
// only syscalls here. The fd it opens on its own namespace lands in our table.
int setup_namespace(void* arg) {
  auto* s = static_cast<NsSetup*>(arg);
  auto fail = [s](const char* step) {
    s->err = errno;
    s->step = step;
    return 1;
  };
  if (::unshare(CLONE_NEWNS) != 0) return fail("unshare");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) return fail("make / slave");
  if (::umount2(s->hidden, MNT_DETACH) != 0) return fail("umount");
  s->ns_fd = ::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  if (s->ns_fd < 0) return fail("open /proc/self/ns/mnt");
  return 0;
}

}  // namespace

Expected<UniqueFd> mount_namespace_without(const std::string& hidden) {
  NsSetup setup{hidden.c_str()};
  auto pid = clone_vfork(setup_namespace, &setup, CLONE_FILES);
  if (!pid) return tl::unexpected(pid.error().with_context("mount namespace"));
  ::waitpid(*pid, nullptr, __WALL);
  UniqueFd fd(setup.ns_fd);
  if (setup.err != 0)
    return tl::unexpected(errno_error(
        fmt::format("mount namespace without {}: {}", hidden, setup.step), setup.err));
  return fd;
}

}  // namespace ociexec::sys
