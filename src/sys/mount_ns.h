// Mount namespaces for a runtime that needs another view of the host than ours. crun 1.x
// refuses a hybrid cgroup host while the cgroup2 mount has controllers, and works in a mount
// namespace where that mount is gone; every crun call is then spawned into such a namespace.
#pragma once

#include <string>

#include "ociexec/error.h"
#include "sys/unique_fd.h"

namespace ociexec::sys {

// A new mount namespace, a slave of ours (mounts made here later propagate into it, nothing
// propagates back), in which the mount at `hidden` is detached. It lives as long as the
// returned fd (or a process in it). Needs CAP_SYS_ADMIN.
Expected<UniqueFd> mount_namespace_without(const std::string& hidden);

// Whether this (unprivileged) user can mount an overlay in a user namespace of its own, with
// `userxattr` (Linux 5.11+), as rootless image jobs would: tried in a child process, on
// directories made under `scratch` and removed after. The error says what failed.
Expected<void> try_overlay_in_user_namespace(const std::string& scratch);

}  // namespace ociexec::sys
