// Owning file descriptors and the raw fd-creating syscalls. Every fd is created O_CLOEXEC so
// that a runtime spawned by another thread never inherits a job's pipe (which would keep the
// pipe open and delay end of file).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "ociexec/error.h"

namespace ociexec::sys {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// A borrowed file descriptor, as it crosses a module boundary: whoever owns it (a UniqueFd,
// the caller) keeps it open for as long as the callee uses it; an FdRef never closes it.
class FdRef {
 public:
  constexpr FdRef() noexcept = default;
  constexpr explicit FdRef(int fd) noexcept : fd_(fd) {}
  FdRef(const UniqueFd& owner) noexcept : fd_(owner.get()) {}  // NOLINT: borrowing is implicit
  [[nodiscard]] constexpr int get() const noexcept { return fd_; }
  [[nodiscard]] constexpr bool valid() const noexcept { return fd_ >= 0; }
  constexpr explicit operator bool() const noexcept { return valid(); }

 private:
  int fd_ = -1;
};

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

// "op: strerror(err)" as a kSystem error.
Error errno_error(std::string_view op, int err);

// A pipe with both ends O_CLOEXEC; the read end optionally O_NONBLOCK and enlarged to
// `size_hint` bytes (best effort) for throughput.
Expected<Pipe> make_pipe(bool nonblocking_read, int size_hint = 0);

// A connected pair of SOCK_SEQPACKET sockets, both O_CLOEXEC, `ours` also O_NONBLOCK: each
// message arrives whole, and a read returns end of file once every copy of the other end is
// closed. `theirs` goes to another process.
struct SocketPair {
  UniqueFd ours;
  UniqueFd theirs;
};
Expected<SocketPair> make_message_sockets();

// A wake-up flag another thread can poll: an eventfd, non-blocking and close-on-exec. One
// thread notify()s; the other polls fd() for POLLIN and clear()s it.
class EventFd {
 public:
  static Expected<EventFd> create();
  void notify() const noexcept;
  void clear() const noexcept;
  [[nodiscard]] FdRef fd() const noexcept { return FdRef(fd_); }

 private:
  explicit EventFd(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// An anonymous in-memory file holding `data`, positioned at offset 0.
Expected<UniqueFd> make_memfd(std::string_view name, std::string_view data);

// Opens `path` with O_CLOEXEC added to `flags`.
Expected<UniqueFd> open_fd(const std::string& path, int flags, unsigned mode = 0);

// Asks the kernel to map writable pages for [data, data + len) in one call
// (MADV_POPULATE_WRITE, Linux 5.14) instead of one page fault per page. Best effort.
void prefault_writable(void* data, std::size_t len) noexcept;

// Writes all of `data` to `fd`, retrying short and interrupted writes.
Expected<void> write_all(int fd, std::string_view data);
// The same at `offset`, leaving the file offset alone (a file another process shares).
Expected<void> pwrite_all(FdRef fd, std::string_view data, std::uint64_t offset = 0);
// Back to offset 0 (`truncate`: and empty).
Expected<void> rewind(FdRef fd, bool truncate = false);

// What one read of `fd` returns, up to `max` bytes: a message written whole to a status pipe
// (a write of up to PIPE_BUF bytes arrives in one piece). Empty at end of file, on an error,
// and when a non-blocking fd holds nothing.
std::string read_once(FdRef fd, std::size_t max);

// Whether `fd` has something to read or its other end is closed, right now (no wait).
bool readable_now(FdRef fd);
// Sends `data` as one message on a socket (no SIGPIPE when the peer is gone: an error).
Expected<void> send_message(FdRef fd, std::string_view data);
// One message (read_once) from a non-blocking `fd`, waiting for it until `deadline`: empty at
// end of file; a kRuntimeTimeout error past the deadline.
Expected<std::string> read_message(FdRef fd, std::size_t max,
                                   std::chrono::steady_clock::time_point deadline);

// Reads everything from `fd` (from its current offset) until end of file; past `deadline`
// (if any) a kRuntimeTimeout error instead.
Expected<std::string> read_all(
    int fd, std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);

}  // namespace ociexec::sys
