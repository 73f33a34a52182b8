// Root file systems for jobs. The built-in default is a read-only view of the host: an empty
// skeleton whose /usr (and /bin, /lib*, /sbin where they are real directories) are read-only
// bind mounts of the host's, with a small synthetic /etc that holds no host secrets. The
// skeleton is built once per state directory and shared by all jobs; nothing in it is
// writable from inside a container.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ociexec/error.h"
#include "spec/spec_builder.h"
#include "sys/file_lock.h"

namespace ociexec::image {

// Shared locks on an image's layers (or its flattened root) in the store: prune leaves them
// alone for as long as a copy of the hold lives (a job's plan, a pooled container). Empty for
// a root that needs none.
using RootfsHold = std::shared_ptr<const std::vector<sys::FileLock>>;

struct RootfsPlan {
  std::string root_path;                        // OCI root.path
  // Names this root and no other (the warm pool's profiles key on it): a directory's path
  // with its device and inode; an image's config digest and layers. root_path alone is not
  // enough: two images may end in the same top layer.
  std::string identity;
  std::vector<spec::BindMount> readonly_binds;  // mounts that complete the root
  // An image: its unpacked layers, top first, overlaid per job (root_path is then the top
  // layer's dir), or none (rootless: root_path is the image flattened,
  // read-only); its config's Env, WorkingDir and User.
  bool image = false;
  std::vector<std::string> layers;
  std::vector<std::string> env;
  std::string working_dir;
  std::string user;
  // Keeps the layers from being pruned while a job (or pooled container) uses them.
  RootfsHold hold;
};

// Ensures "<dir>/hostview-N" exists (built atomically) and returns its plan. `dir` is the
// executor's cache dir.
Expected<RootfsPlan> host_view(const std::filesystem::path& dir);

// Removes from `dir` the host-view skeletons of other ociexec versions (with !keep_current,
// this version's too), and half-built ones whose builder died. Called as an executor starts.
void remove_stale_host_views(const std::filesystem::path& dir, bool keep_current = true) noexcept;

// RootfsPlan::identity of a directory: its path, device and inode (a directory replaced
// under the same path is another root).
std::string directory_identity(const std::string& path);

// A prepared root file system directory chosen by the caller.
Expected<RootfsPlan> prepared_rootfs(const std::filesystem::path& dir);

// A file of the root's /etc ("passwd", "group"), at most 1 MiB; nullopt when it has none.
// Read inside the root: no symlink leads out of it. For an image, the topmost layer that has
// it (a whiteout hides it).
std::optional<std::string> read_etc_file(const RootfsPlan& plan, const std::string& name);

// The synthetic /etc files: name -> content.
std::vector<std::pair<std::string, std::string>> synthetic_etc_files();

}  // namespace ociexec::image
