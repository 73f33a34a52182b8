#include "sys/confined.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <dirent.h>

#include <cerrno>

#include <fmt/format.h>

namespace ociexec::sys {

namespace {

std::string joined(const std::vector<std::string>& path, std::size_t count) {
  std::string s;
  for (std::size_t i = 0; i < count; ++i) {
    if (i) s += '/';
    s += path[i];
  }
  return s.empty() ? "." : s;
}

}  // namespace

std::vector<std::string> confined_components(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view c = path.substr(start, slash - start);
    if (c == "..") {
      if (!out.empty()) out.pop_back();
    } else if (!c.empty() && c != ".") {
      out.emplace_back(c);
    }
    start = slash + 1;
  }
  return out;
}

int openat2_retrying(int dir_fd, const char* path, int flags, std::uint64_t resolve) {
  open_how how{};
  how.flags = static_cast<__u64>(static_cast<unsigned>(flags | O_CLOEXEC));
  how.resolve = resolve;
  while (true) {
    const long fd = ::syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
    if (fd >= 0 || (errno != EINTR && errno != EAGAIN)) return static_cast<int>(fd);
  }
}

Expected<UniqueFd> open_in_root(int root_fd, const std::vector<std::string>& path,
                                std::size_t count, int flags) {
  const std::string rel = joined(path, count);
  const int fd = openat2_retrying(root_fd, rel.c_str(), flags,
                                  RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
  if (fd < 0)
    return tl::unexpected(errno_error(fmt::format("open {:?} inside its root", rel), errno));
  return UniqueFd(fd);
}

Expected<UniqueFd> make_dirs_in_root(int root_fd, const std::vector<std::string>& path,
                                     std::size_t count) {
  auto whole = open_in_root(root_fd, path, count, O_DIRECTORY | O_RDONLY);
  if (whole || count == 0) return whole;
  // Walk down, creating what is missing; each step resolves from the root again.
  UniqueFd dir;
  for (std::size_t i = 0; i < count; ++i) {
    auto next = open_in_root(root_fd, path, i + 1, O_DIRECTORY | O_RDONLY);
    if (!next) {
      auto parent = open_in_root(root_fd, path, i, O_DIRECTORY | O_RDONLY);
      if (!parent) return parent;
      if (::mkdirat(parent->get(), path[i].c_str(), 0755) != 0) {
        if (errno != EEXIST)
          return tl::unexpected(
              errno_error(fmt::format("mkdir {:?} inside its root", joined(path, i + 1)), errno));
        // Something that is not a directory: a symlink leading nowhere in this root, or a
        // file. Nothing is created through it.
        return tl::unexpected(
            Error{ErrorKind::kImage,
                  fmt::format("{:?} is not a directory there (a symlink to one missing in it, "
                              "or a file): refused",
                              joined(path, i + 1))});
      }
      next = open_in_root(root_fd, path, i + 1, O_DIRECTORY | O_RDONLY);
      if (!next) return next;
    }
    dir = std::move(*next);
  }
  return dir;
}

Expected<UniqueFd> open_dir(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return tl::unexpected(errno_error(fmt::format("open {:?}", path), errno));
  return UniqueFd(fd);
}

Expected<void> write_file_at(int dir_fd, const std::string& name, std::string_view data,
                             unsigned mode) {
  UniqueFd fd(
      ::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd) return tl::unexpected(errno_error(fmt::format("create {:?}", name), errno));
  while (!data.empty()) {
    const ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return tl::unexpected(errno_error(fmt::format("write {:?}", name), errno));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Expected<void> remove_at(int dir_fd, const std::string& name) {
  if (::unlinkat(dir_fd, name.c_str(), 0) == 0 || errno == ENOENT) return {};
  if (errno != EISDIR && errno != EPERM)
    return tl::unexpected(errno_error(fmt::format("remove {:?}", name), errno));
  const int fd = ::openat(dir_fd, name.c_str(), O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return tl::unexpected(errno_error(fmt::format("open {:?}", name), errno));
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return tl::unexpected(errno_error(fmt::format("list {:?}", name), errno));
  }
  std::vector<std::string> children;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (n != "." && n != "..") children.emplace_back(n);
  }
  Expected<void> result;
  for (const auto& c : children)
    if (auto r = remove_at(::dirfd(d), c); !r && result) result = r;
  ::closedir(d);
  if (!result) return result;
  if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return tl::unexpected(errno_error(fmt::format("rmdir {:?}", name), errno));
  return {};
}

}  // namespace ociexec::sys
