// File-system helpers used by bundles, the rootfs skeleton and gc. Paths are plain strings or
// std::filesystem paths; every error names the operation and the path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "ociexec/error.h"

namespace ociexec::sys {

namespace fs = std::filesystem;

Expected<std::string> read_file(const fs::path& path);
// Creates `path` (which must not exist) with `mode` and writes `data`.
Expected<void> write_new_file(const fs::path& path, std::string_view data, unsigned mode = 0644);
// Writes `data` to the existing file `path` (a cgroup or /proc control file: one write).
Expected<void> write_file(const fs::path& path, std::string_view data);
// Replaces `path` whole with `data`: written to `tmp` (which must not exist), then renamed
// over it, so that no reader ever sees half of it. `tmp` is gone either way.
Expected<void> replace_file(const fs::path& path, std::string_view data, unsigned mode,
                            const fs::path& tmp);
// mkdir; an existing directory is fine when `exist_ok`.
Expected<void> make_dir(const fs::path& path, unsigned mode, bool exist_ok);
// mkdir -p with `mode` for the directories it creates.
Expected<void> make_dirs(const fs::path& path, unsigned mode);
// link(2): `to` becomes another name of `from` (the same file system).
Expected<void> hard_link(const fs::path& from, const fs::path& to);
// rmdir: fails (ENOTEMPTY, ...) unless `path` is an empty directory; a missing one is fine.
Expected<void> remove_dir(const fs::path& path);
// rm -rf that never follows symlinks and refuses to descend into another file system.
Expected<void> remove_tree(const fs::path& path);
// Removes `files` from `dir` (relative names; a trailing '/' marks a subdirectory, removed
// after the files listed before it), then `dir` itself. Returns false, with `dir` still there,
// when it held something else: the caller chooses the fallback.
Expected<bool> remove_known_tree(const fs::path& dir,
                                 std::initializer_list<std::string_view> files);

// A user's XDG base directory: $`variable` when it is an absolute path, else $HOME/`under_home`
// (".config", ".local/share"); nullopt when neither is set to an absolute path.
std::optional<fs::path> xdg_dir(const char* variable, std::string_view under_home);

// Bytes an unprivileged writer may still use on the file system holding `path`.
std::optional<std::uint64_t> free_bytes(const fs::path& path);
// Whether `path` is on a tmpfs; nullopt when its file system cannot be looked at.
std::optional<bool> on_tmpfs(const fs::path& path);

// Binds `source` (a file, e.g. /proc/PID/ns/net) onto the existing `target`.
Expected<void> bind_mount(const fs::path& source, const fs::path& target);
// Detaches the mount at `target` (lazily: open fds keep what they hold); none there is fine.
Expected<void> detach_mount(const fs::path& target);
// Detaches every mount at or below `path` (deepest first).
Expected<void> unmount_below(const fs::path& path);

// Runs a callable when the scope ends, unless dismissed.
class ScopeExit {
 public:
  explicit ScopeExit(std::function<void()> fn) : fn_(std::move(fn)) {}
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;
  ~ScopeExit() {
    if (fn_) fn_();
  }
  void dismiss() noexcept { fn_ = nullptr; }

 private:
  std::function<void()> fn_;
};

}  // namespace ociexec::sys
