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
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd->get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(errno_error(fmt::format("write {}", path), errno));
    }
    done += static_cast<std::size_t>(n);
  }
  // The umask must not weaken or strengthen what the caller asked for.
  if (::fchmod(fd->get(), mode) != 0)
    return tl::unexpected(errno_error(fmt::format("chmod {}", path), errno));
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

Expected<void> remove_at(int dirfd, const char* name, dev_t device, const fs::path& shown) {
  struct stat st {};
  if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return tl::unexpected(errno_error(fmt::format("stat {}", shown), errno));
  }
  if (S_ISDIR(st.st_mode)) {
    if (st.st_dev != device)
      return tl::unexpected(Error{
          ErrorKind::kSystem, fmt::format("remove {}: a mount point; unmount it first", shown)});
    UniqueFd sub(::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) return tl::unexpected(errno_error(fmt::format("open {}", shown), errno));
    int dup = ::dup(sub.get());
    DIR* dir = dup >= 0 ? ::fdopendir(dup) : nullptr;
    if (!dir) {
      if (dup >= 0) ::close(dup);
      return tl::unexpected(errno_error(fmt::format("opendir {}", shown), errno));
    }
    Expected<void> result;
    while (auto* entry = ::readdir(dir)) {
      std::string_view n = entry->d_name;
      if (n == "." || n == "..") continue;
      result = remove_at(sub.get(), entry->d_name, device, shown / n);
      if (!result) break;
    }
    ::closedir(dir);
    if (!result) return result;
    if (::unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
      return tl::unexpected(errno_error(fmt::format("rmdir {}", shown), errno));
    return {};
  }
  if (::unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
    return tl::unexpected(errno_error(fmt::format("unlink {}", shown), errno));
  return {};
}

}  // namespace

Expected<void> remove_tree(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return tl::unexpected(errno_error(fmt::format("stat {}", path), errno));
  }
  return remove_at(AT_FDCWD, path.c_str(), st.st_dev, path);
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

std::optional<std::uint64_t> free_bytes(const fs::path& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
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
