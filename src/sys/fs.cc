#include "sys/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>
#include <fmt/std.h>

#include "sys/proc.h"
#include "sys/unique_fd.h"

namespace ociexec::sys {

Expected<std::string> read_file(const fs::path& path) {
  auto fd = open_fd(path.string(), O_RDONLY);
  if (!fd) return tl::unexpected(fd.error());
  auto text = read_all(fd->get());
  if (!text) return tl::unexpected(text.error().with_context(fmt::format("read {}", path)));
  return text;
}

Expected<void> write_new_file(const fs::path& path, std::string_view data, unsigned mode) {
  auto fd = open_fd(path.string(), O_WRONLY | O_CREAT | O_EXCL, mode);
  if (!fd) return tl::unexpected(fd.error());
  if (auto w = write_all(fd->get(), data); !w)
    return tl::unexpected(w.error().with_context(path.string()));
  // The umask must not weaken or strengthen what the caller asked for.
  if (::fchmod(fd->get(), mode) != 0)
    return tl::unexpected(errno_error(fmt::format("chmod {}", path), errno));
  return {};
}

Expected<void> write_file(const fs::path& path, std::string_view data) {
  auto fd = open_fd(path.string(), O_WRONLY);
  if (!fd) return tl::unexpected(fd.error());
  if (auto w = write_all(fd->get(), data); !w)
    return tl::unexpected(w.error().with_context(path.string()));
  return {};
}

Expected<void> replace_file(const fs::path& path, std::string_view data, unsigned mode,
                            const fs::path& tmp) {
  if (auto r = write_new_file(tmp, data, mode); !r) {
    ::unlink(tmp.c_str());
    return r;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return tl::unexpected(errno_error(fmt::format("rename {} to {}", tmp, path), err));
  }
  return {};
}

Expected<void> make_dir(const fs::path& path, unsigned mode, bool exist_ok) {
  if (::mkdir(path.c_str(), mode) == 0) {
    ::chmod(path.c_str(), mode);
    return {};
  }
  if (errno == EEXIST && exist_ok) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return {};
  }
  return tl::unexpected(errno_error(fmt::format("mkdir {}", path), errno));
}

Expected<void> make_dirs(const fs::path& path, unsigned mode) {
  fs::path current;
  for (const auto& part : path) {
    current /= part;
    if (current == "/" || current.empty()) continue;
    if (auto r = make_dir(current, mode, true); !r) return r;
  }
  return {};
}

namespace {

// One directory on the way down from the tree's root: what ".." must be when we climb back to
// it, and its name in its parent (for the rmdir and for messages).
struct Level {
  dev_t dev;
  ino_t ino;
  std::string name;
};

fs::path shown_path(const fs::path& root, const std::vector<Level>& levels, std::string_view leaf) {
  fs::path p = root;
  for (std::size_t i = 1; i < levels.size(); ++i) p /= levels[i].name;
  if (!leaf.empty()) p /= leaf;
  return p;
}

// A directory stream that owns its fd; closed when replaced or destroyed.
class DirStream {
 public:
  ~DirStream() { reset(nullptr); }
  // Takes `fd` (closed on failure too).
  bool open(int fd) {
    DIR* d = fd >= 0 ? ::fdopendir(fd) : nullptr;
    if (!d && fd >= 0) {
      const int err = errno;
      ::close(fd);
      errno = err;
    }
    reset(d);
    return d != nullptr;
  }
  [[nodiscard]] int fd() const { return ::dirfd(dir_); }
  const dirent* next() { return ::readdir(dir_); }

 private:
  void reset(DIR* d) {
    if (dir_) ::closedir(dir_);
    dir_ = d;
  }
  DIR* dir_ = nullptr;
};

}  // namespace

// Depth-first without recursion, holding one directory open at a time (two for a moment while
// stepping down or up): a tree of any depth is removed with a bounded number of fds and a
// bounded stack. Stepping up goes through "..", checked against the device and inode seen on
// the way down, so a directory moved away meanwhile stops the removal instead of leading it
// elsewhere. A directory is read again from its start after each subdirectory is removed;
// what was removed is gone, so that costs only the entries still there.
Expected<void> remove_tree(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return tl::unexpected(errno_error(fmt::format("stat {}", path), errno));
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return tl::unexpected(errno_error(fmt::format("unlink {}", path), errno));
    return {};
  }
  const dev_t device = st.st_dev;
  std::vector<Level> levels{{st.st_dev, st.st_ino, {}}};
  const auto fail = [&](std::string_view op, std::string_view leaf, int err) {
    return tl::unexpected(errno_error(fmt::format("{} {}", op, shown_path(path, levels, leaf)), err));
  };
  DirStream dir;
  if (!dir.open(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)))
    return fail("open", {}, errno);
  while (true) {
    errno = 0;
    const dirent* entry = dir.next();
    if (!entry) {
      if (errno != 0) return fail("readdir", {}, errno);
      if (levels.size() == 1) break;  // the root is empty: removed below
      // This directory is empty: climb to its parent and remove it from there.
      UniqueFd up(::openat(dir.fd(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!up) return fail("open the parent of", {}, errno);
      struct stat ust {};
      const Level& parent = levels[levels.size() - 2];
      if (::fstat(up.get(), &ust) != 0 || ust.st_dev != parent.dev || ust.st_ino != parent.ino)
        return tl::unexpected(Error{ErrorKind::kSystem,
                                    fmt::format("remove {}: it was moved while being removed",
                                                shown_path(path, levels, {}))});
      const std::string name = std::move(levels.back().name);
      levels.pop_back();
      if (!dir.open(up.release())) return fail("opendir", {}, errno);
      if (::unlinkat(dir.fd(), name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
        return fail("rmdir", name, errno);
      continue;
    }
    const std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    struct stat est {};
    if (::fstatat(dir.fd(), entry->d_name, &est, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return fail("stat", name, errno);
    }
    if (!S_ISDIR(est.st_mode)) {
      if (::unlinkat(dir.fd(), entry->d_name, 0) != 0 && errno != ENOENT)
        return fail("unlink", name, errno);
      continue;
    }
    if (est.st_dev != device)
      return tl::unexpected(Error{ErrorKind::kSystem,
                                  fmt::format("remove {}: a mount point; unmount it first",
                                              shown_path(path, levels, name))});
    const int down = ::openat(dir.fd(), entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (down < 0) return fail("open", name, errno);
    struct stat dst {};
    if (::fstat(down, &dst) != 0 || dst.st_dev != est.st_dev || dst.st_ino != est.st_ino) {
      ::close(down);
      return tl::unexpected(Error{ErrorKind::kSystem,
                                  fmt::format("remove {}: it was replaced while being removed",
                                              shown_path(path, levels, name))});
    }
    levels.push_back({est.st_dev, est.st_ino, std::string(name)});
    if (!dir.open(down)) return fail("opendir", {}, errno);
  }
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT)
    return tl::unexpected(errno_error(fmt::format("rmdir {}", path), errno));
  return {};
}

Expected<void> hard_link(const fs::path& from, const fs::path& to) {
  if (::link(from.c_str(), to.c_str()) != 0)
    return tl::unexpected(errno_error(fmt::format("link {} to {}", from, to), errno));
  return {};
}

Expected<void> remove_dir(const fs::path& path) {
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT)
    return tl::unexpected(errno_error(fmt::format("rmdir {}", path), errno));
  return {};
}

Expected<bool> remove_known_tree(const fs::path& dir,
                                 std::initializer_list<std::string_view> files) {
  // unlinkat by name: no directory listing and no stat per entry, which is most of the cost
  // of a generic removal for the few files a bundle or a runtime's state dir holds.
  for (std::string_view name : files) {
    const std::string path = (dir / name).string();
    const bool is_dir = !name.empty() && name.back() == '/';
    if (::unlinkat(AT_FDCWD, path.c_str(), is_dir ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT)
      return errno == ENOTEMPTY || errno == EISDIR || errno == ENOTDIR
                 ? Expected<bool>(false)
                 : tl::unexpected(errno_error(fmt::format("remove {}", path), errno));
  }
  if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
  if (errno == ENOTEMPTY || errno == EEXIST) return false;  // holds something else
  return tl::unexpected(errno_error(fmt::format("rmdir {}", dir), errno));
}

std::optional<bool> on_tmpfs(const fs::path& path) {
  struct statfs st {};
  if (::statfs(path.c_str(), &st) != 0) return std::nullopt;
  return st.f_type == TMPFS_MAGIC;
}

std::optional<fs::path> xdg_dir(const char* variable, std::string_view under_home) {
  if (const char* dir = std::getenv(variable); dir && dir[0] == '/') return fs::path(dir);
  if (const char* home = std::getenv("HOME"); home && home[0] == '/')
    return fs::path(home) / under_home;
  return std::nullopt;
}

std::optional<std::uint64_t> free_bytes(const fs::path& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

Expected<void> bind_mount(const fs::path& source, const fs::path& target) {
  if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0)
    return tl::unexpected(errno_error(fmt::format("bind {} to {}", source, target), errno));
  return {};
}

Expected<void> detach_mount(const fs::path& target) {
  if (::umount2(target.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    return tl::unexpected(errno_error(fmt::format("umount {}", target), errno));
  return {};
}

Expected<void> unmount_below(const fs::path& path) {
  auto text = read_file("/proc/self/mountinfo");
  if (!text) return tl::unexpected(text.error());
  auto mounts = mount_points_below(parse_mountinfo(*text), path.string());
  // Deepest first, so a parent is never detached while a child still pins it.
  std::sort(mounts.begin(), mounts.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& m : mounts) {
    if (::umount2(m.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
      return tl::unexpected(errno_error(fmt::format("umount {}", m), errno));
  }
  return {};
}

}  // namespace ociexec::sys
