// A job's devices (JobOptions::devices and gpus) checked and resolved before anything is made:
// each host node stat'ed (a character or block device, its numbers), each CDI name looked up
// in the spec dirs and its edits filled in from the host (the reference implementation's
// rules: a node's missing type and numbers from its host path, its owner the job's user, its
// cgroup access rwm unless the spec says). Refused, each with the fix: a path that is not a
// device, a node path outside /dev or given twice with different devices, a CDI mount over
// a path the executor owns or the job mounts, a mount point that would have to be made in a
// root other jobs share, and rootless, a device the job's user cannot open or whose access
// would need the device cgroup rootless jobs do not have.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/host.h"
#include "image/rootfs.h"
#include "ociexec/error.h"
#include "ociexec/options.h"
#include "spec/spec_builder.h"

namespace ociexec::core {

struct PlannedDevices {
  spec::DeviceEdits edits;
  std::vector<std::string> env;  // the CDI specs' KEY=VALUE, under the job's own
};

// `uid`/`gid`: the job's user; `mounts`: its checked mounts; `root_writable`: the root is the
// job's own overlay (where the runtime may make a mount point).
Expected<PlannedDevices> plan_devices(const JobOptions& job, const HostFacts& host,
                                      const std::vector<std::filesystem::path>& cdi_dirs,
                                      std::uint32_t uid, std::uint32_t gid,
                                      const std::vector<Mount>& mounts,
                                      const image::RootfsPlan& root, bool root_writable);

}  // namespace ociexec::core
