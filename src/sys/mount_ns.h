// Mount namespaces for a runtime that needs another view of the host than ours. crun 1.x
// refuses a hybrid cgroup host while the cgroup2 mount has controllers, and works in a mount
// namespace where that mount is gone; every crun call is then spawned into such a namespace.
#pragma once

#include <string>
#include <vector>

#include "ociexec/error.h"
#include "sys/unique_fd.h"

namespace ociexec::sys {

// A new mount namespace, a slave of ours (nothing propagates back; mounts made here later
// propagate into it only where ours are shared), in which the mount at `hidden` is detached.
// It lives as long as the returned fd (or a process in it). Needs CAP_SYS_ADMIN.
Expected<UniqueFd> mount_namespace_without(const std::string& hidden);

// Watches this process's mount table, for a namespace copied from it that has to be made
// again once the table changes (a slave copy misses what is mounted here later where our
// mounts are private). Mounts below the `ignored` dirs (our own, per job) do not count.
class MountTableWatch {
 public:
  // Opens /proc/self/mountinfo and takes the table as it is now.
  static Expected<MountTableWatch> open(std::vector<std::string> ignored);
  // Whether the table differs from when it was last taken, taking it again. The kernel marks
  // the open file on each mount or unmount (POLLPRI, proc(5)); only then is it read.
  bool changed();

 private:
  MountTableWatch(UniqueFd fd, std::vector<std::string> ignored)
      : fd_(std::move(fd)), ignored_(std::move(ignored)) {}
  [[nodiscard]] std::string table() const;
  UniqueFd fd_;
  std::vector<std::string> ignored_;
  std::string seen_;
};

// Whether this (unprivileged) user can mount an overlay in a user namespace of its own, with
// `userxattr` (Linux 5.11+), as rootless image jobs would: tried in a child process, on
// directories made under `scratch` and removed after. The error says what failed.
Expected<void> try_overlay_in_user_namespace(const std::string& scratch);

}  // namespace ociexec::sys
