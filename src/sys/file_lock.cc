#include "sys/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>

#include <fmt/format.h>

namespace ociexec::sys {


Expected<FileLock> FileLock::acquire(const std::filesystem::path& path, Mode mode) {
  auto fd = open_fd(path.string(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (!fd) return tl::unexpected(fd.error().with_context("lock"));
  const int op = mode == Mode::kShared ? LOCK_SH : LOCK_EX;
  while (::flock(fd->get(), op) != 0) {
    if (errno != EINTR) return tl::unexpected(errno_error(fmt::format("flock {}", path.string()), errno));
  }
  return FileLock(std::move(*fd));
}

Expected<FileLock> FileLock::try_acquire(const std::filesystem::path& path, Mode mode) {
  auto fd = open_fd(path.string(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (!fd) return tl::unexpected(fd.error().with_context("lock"));
  const int op = (mode == Mode::kShared ? LOCK_SH : LOCK_EX) | LOCK_NB;
  while (::flock(fd->get(), op) != 0) {
    if (errno == EWOULDBLOCK) return FileLock();
    if (errno != EINTR) return tl::unexpected(errno_error(fmt::format("flock {}", path.string()), errno));
  }
  return FileLock(std::move(*fd));
}

}  // namespace ociexec::sys
