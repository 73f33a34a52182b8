#include "sys/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cerrno>

#include <fmt/format.h>

namespace ociexec::sys {

namespace {

bool same_inode(int fd, const std::filesystem::path& path) {
  struct stat a {};
  struct stat b {};
  return ::fstat(fd, &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

// flock(2), retried when a signal interrupts it: 0, or the errno it failed with.
int flock_retrying(int fd, int op) {
  while (::flock(fd, op) != 0)
    if (errno != EINTR) return errno;
  return 0;
}

}  // namespace

Expected<FileLock> FileLock::acquire(const std::filesystem::path& path, Mode mode) {
  auto fd = open_fd(path.string(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (!fd) return tl::unexpected(fd.error().with_context("lock"));
  if (int e = flock_retrying(fd->get(), mode == Mode::kShared ? LOCK_SH : LOCK_EX); e != 0)
    return tl::unexpected(errno_error(fmt::format("flock {}", path.string()), e));
  return FileLock(std::move(*fd));
}

Expected<FileLock> FileLock::try_acquire(const std::filesystem::path& path, Mode mode) {
  auto fd = open_fd(path.string(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (!fd) return tl::unexpected(fd.error().with_context("lock"));
  const int e = flock_retrying(fd->get(), (mode == Mode::kShared ? LOCK_SH : LOCK_EX) | LOCK_NB);
  if (e == EWOULDBLOCK) return FileLock();
  if (e != 0) return tl::unexpected(errno_error(fmt::format("flock {}", path.string()), e));
  return FileLock(std::move(*fd));
}

Expected<DirHold> DirHold::acquire(const std::filesystem::path& dir, unsigned mode) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST)
      return tl::unexpected(errno_error(fmt::format("mkdir {}", dir.string()), errno));
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) continue;  // removed between our mkdir and open: make it again
      return tl::unexpected(errno_error(fmt::format("open {}", dir.string()), errno));
    }
    if (int e = flock_retrying(fd.get(), LOCK_SH); e != 0)
      return tl::unexpected(errno_error(fmt::format("flock {}", dir.string()), e));
    // Locked, but maybe the directory a remover just deleted: then make a new one.
    if (!same_inode(fd.get(), dir)) continue;
    DirHold hold;
    hold.fd_ = std::move(fd);
    return hold;
  }
  return tl::unexpected(
      Error{ErrorKind::kSystem,
            fmt::format("{}: removed again each time it was made (100 times)", dir.string())});
}

UniqueFd DirHold::lock_if_unused(const std::filesystem::path& dir) noexcept {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd || flock_retrying(fd.get(), LOCK_EX | LOCK_NB) != 0) return {};
  return fd;
}

}  // namespace ociexec::sys
