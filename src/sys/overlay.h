// The writable root of a job on an image: a tmpfs (its size caps what the job writes) that
// holds the overlay's upper and work dirs, and the overlay of the read-only layers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ociexec/error.h"

namespace ociexec::sys {

// Mounts a tmpfs of `tmpfs_bytes` on `rw_dir` and the overlay (lower dirs `lowers`, top
// first) on `target`; both directories exist and are empty. On failure nothing stays mounted.
// `mount_ns_fd` >= 0: in that mount namespace (the one crun runs in on a hybrid host, which
// sees no mount made in ours), from a short-lived thread of ours that joins it.
Expected<void> mount_overlay_root(const std::filesystem::path& rw_dir,
                                  const std::filesystem::path& target,
                                  const std::vector<std::string>& lowers,
                                  std::uint64_t tmpfs_bytes, int mount_ns_fd = -1);

// Detaches the overlay, then the tmpfs under it (in `mount_ns_fd` when >= 0).
Expected<void> unmount_overlay_root(const std::filesystem::path& rw_dir,
                                    const std::filesystem::path& target, int mount_ns_fd = -1);

}  // namespace ociexec::sys
