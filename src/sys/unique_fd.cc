#include "sys/unique_fd.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>

namespace ociexec::sys {

void UniqueFd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);  // close errors cannot be acted upon; the fd is gone either way
  fd_ = fd;
}

Error errno_error(std::string_view op, int err) {
  return Error{ErrorKind::kSystem, fmt::format("{}: {}", op, std::strerror(err))};
}

Expected<Pipe> make_pipe(bool nonblocking_read, int size_hint) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return tl::unexpected(errno_error("pipe2", errno));
  Pipe pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
  if (nonblocking_read && ::fcntl(pipe.read.get(), F_SETFL, O_NONBLOCK) != 0)
    return tl::unexpected(errno_error("fcntl O_NONBLOCK", errno));
  if (size_hint > 0) ::fcntl(pipe.read.get(), F_SETPIPE_SZ, size_hint);  // best effort
  return pipe;
}

Expected<SocketPair> make_message_sockets() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
    return tl::unexpected(errno_error("socketpair", errno));
  SocketPair pair{UniqueFd(fds[0]), UniqueFd(fds[1])};
  if (::fcntl(pair.ours.get(), F_SETFL, O_NONBLOCK) != 0)
    return tl::unexpected(errno_error("fcntl O_NONBLOCK", errno));
  return pair;
}

Expected<EventFd> EventFd::create() {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return tl::unexpected(errno_error("eventfd", errno));
  return EventFd(UniqueFd(fd));
}

void EventFd::notify() const noexcept {
  const std::uint64_t one = 1;
  (void)!::write(fd_.get(), &one, sizeof one);
}

void EventFd::clear() const noexcept {
  std::uint64_t count = 0;
  (void)!::read(fd_.get(), &count, sizeof count);
}

Expected<void> write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(errno_error("write", errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Expected<void> pwrite_all(FdRef fd, std::string_view data, std::uint64_t offset) {
  while (!data.empty()) {
    const ssize_t n = ::pwrite(fd.get(), data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(errno_error("pwrite", errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

Expected<void> rewind(FdRef fd, bool truncate) {
  if (truncate && ::ftruncate(fd.get(), 0) != 0)
    return tl::unexpected(errno_error("truncate", errno));
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return tl::unexpected(errno_error("seek", errno));
  return {};
}

Expected<UniqueFd> make_memfd(std::string_view name, std::string_view data) {
  UniqueFd fd(::memfd_create(std::string(name).c_str(), MFD_CLOEXEC));
  if (!fd) return tl::unexpected(errno_error("memfd_create", errno));
  if (auto w = write_all(fd.get(), data); !w) return tl::unexpected(w.error().with_context("memfd"));
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return tl::unexpected(errno_error("lseek memfd", errno));
  return fd;
}

Expected<UniqueFd> open_fd(const std::string& path, int flags, unsigned mode) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC, mode));
  if (!fd) return tl::unexpected(errno_error(fmt::format("open \"{}\"", path), errno));
  return fd;
}

void prefault_writable(void* data, std::size_t len) noexcept {
#ifndef MADV_POPULATE_WRITE
  constexpr int MADV_POPULATE_WRITE = 23;
#endif
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<std::uintptr_t>(data) + page - 1) & ~(page - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(data) + len) & ~(page - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
}

std::string read_once(FdRef fd, std::size_t max) {
  std::string out(max, '\0');
  for (;;) {
    const ssize_t n = ::read(fd.get(), out.data(), max);
    if (n < 0 && errno == EINTR) continue;
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
  }
}

bool readable_now(FdRef fd) {
  pollfd p{fd.get(), POLLIN, 0};
  int rc = 0;
  do rc = ::poll(&p, 1, 0);
  while (rc < 0 && errno == EINTR);
  return rc > 0;
}

Expected<void> send_message(FdRef fd, std::string_view data) {
  for (;;) {
    if (::send(fd.get(), data.data(), data.size(), MSG_NOSIGNAL) >= 0) return {};
    if (errno != EINTR) return tl::unexpected(errno_error("send", errno));
  }
}

Expected<std::string> read_message(FdRef fd, std::size_t max,
                                   std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd.get(), POLLIN, 0};
    const int rc =
        ::poll(&p, 1, static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 1 << 30)));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return tl::unexpected(errno_error("poll", errno));
    if (rc > 0) return read_once(fd, max);
    if (std::chrono::steady_clock::now() >= deadline)
      return tl::unexpected(Error{ErrorKind::kRuntimeTimeout, "read: no message in time"});
  }
}

Expected<std::string> read_all(int fd, std::optional<std::chrono::steady_clock::time_point> deadline) {
  std::string out;
  char buf[16384];
  for (;;) {
    if (deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      const int rc = left.count() > 0
                         ? ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1 << 30)))
                         : 0;
      if (rc < 0 && errno == EINTR) continue;
      if (rc < 0) return tl::unexpected(errno_error("poll", errno));
      if (rc == 0 && std::chrono::steady_clock::now() >= *deadline)
        return tl::unexpected(Error{ErrorKind::kRuntimeTimeout, "read: no end of file in time"});
      if (rc == 0) continue;
    }
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return out;
    if (n < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(errno_error("read", errno));
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace ociexec::sys
