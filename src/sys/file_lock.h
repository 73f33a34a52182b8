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

}  // namespace ociexec::sys
