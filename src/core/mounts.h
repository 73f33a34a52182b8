// A job's mounts (JobOptions::mounts) checked before anything is made: each target against
// the others and the paths the executor owns, each bind source against the host, and each
// target against the job's root, so that no mount point is ever made in a root that other
// jobs share (the host view's skeleton, a rootless image, a prepared rootfs) or on the host.
#pragma once

#include <vector>

#include "core/host.h"
#include "image/rootfs.h"
#include "ociexec/error.h"
#include "ociexec/options.h"

namespace ociexec::core {

// The mounts as the spec gets them (a tmpfs's size filled in from limits.tmpfs_bytes), or
// kInvalidArgument naming the mount and the fix. `root_writable`: the root is the job's own
// (an image's per-job overlay), where the runtime may make a missing mount point.
Expected<std::vector<Mount>> checked_mounts(const JobOptions& job, const HostFacts& host,
                                            const image::RootfsPlan& root, bool root_writable);

// Whether a file of the executor's may be bound at `target` (/etc/hosts) without a mount
// point being made where none may be: the same rule as for the job's own `mounts` (checked).
bool may_bind_over(const std::string& target, const JobOptions& job,
                   const std::vector<Mount>& mounts, const image::RootfsPlan& root,
                   bool root_writable);

}  // namespace ociexec::core
