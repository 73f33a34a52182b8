// Root file systems for jobs. The built-in default is a read-only view of the host: an empty
// skeleton whose /usr (and /bin, /lib*, /sbin where they are real directories) are read-only
// bind mounts of the host's, with a small synthetic /etc that holds no host secrets. The
// skeleton is built once per state directory and shared by all jobs; nothing in it is
// writable from inside a container.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "ociexec/error.h"
#include "spec/spec_builder.h"

namespace ociexec::image {

struct RootfsPlan {
  std::string root_path;                        // OCI root.path
  std::vector<spec::BindMount> readonly_binds;  // mounts that complete the root
};

// Ensures "<state_dir>/hostview" exists (built atomically) and returns its plan.
Expected<RootfsPlan> host_view(const std::filesystem::path& state_dir);

// Removes host-view skeletons of other ociexec versions, and half-built ones whose builder
// died. Called once as an executor starts.
void remove_stale_host_views(const std::filesystem::path& state_dir) noexcept;

// A prepared root file system directory chosen by the caller.
Expected<RootfsPlan> prepared_rootfs(const std::filesystem::path& dir);

// The synthetic /etc files: name -> content.
std::vector<std::pair<std::string, std::string>> synthetic_etc_files();

}  // namespace ociexec::image
