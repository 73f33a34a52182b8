// An flock(2) on a lock file, released when the FileLock is destroyed (or its fd closed,
// which the kernel does for a process that dies: a crashed holder never blocks anyone).
#pragma once

#include <filesystem>

#include "ociexec/error.h"
#include "sys/unique_fd.h"

namespace ociexec::sys {

class FileLock {
 public:
  enum class Mode { kShared, kExclusive };
  // Creates the lock file (0600) if needed and waits for the lock.
  static Expected<FileLock> acquire(const std::filesystem::path& path, Mode mode);
  // As acquire, but returns an empty lock (held() false) when another process holds it.
  static Expected<FileLock> try_acquire(const std::filesystem::path& path, Mode mode);
  FileLock() = default;
  [[nodiscard]] bool held() const noexcept { return fd_.valid(); }

 private:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// A directory that its users hold and the last of them removes: each user holds a shared
// flock on the directory from acquire() until release(); a remover takes it exclusively
// without waiting (lock_if_unused), so a directory in use is never removed, and a user that
// locked a directory a remover had just deleted makes a new one.
class DirHold {
 public:
  DirHold() = default;
  // Makes `dir` (its parent must exist) if missing, with `mode`, and holds it; blocks only
  // while a removal is under way.
  static Expected<DirHold> acquire(const std::filesystem::path& dir, unsigned mode);
  void release() noexcept { fd_.reset(); }
  // An exclusive lock on `dir` when nobody holds it (invalid otherwise, or when it is gone):
  // while it is kept, `dir` may be emptied and removed.
  static UniqueFd lock_if_unused(const std::filesystem::path& dir) noexcept;

 private:
  UniqueFd fd_;
};

}  // namespace ociexec::sys
