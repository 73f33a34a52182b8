#include "ociexec/error.h"
#include "ociexec/options.h"
#include "ociexec/result.h"

#include <fmt/format.h>

namespace ociexec {

Error Error::with_context(std::string_view context) const {
  return Error{kind, fmt::format("{}: {}", context, message)};
}

std::string_view to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::kInvalidArgument: return "invalid_argument";
    case ErrorKind::kConfig: return "config";
    case ErrorKind::kRuntimeNotFound: return "runtime_not_found";
    case ErrorKind::kRuntimeFailed: return "runtime_failed";
    case ErrorKind::kRuntimeTimeout: return "runtime_timeout";
    case ErrorKind::kRootfsNotFound: return "rootfs_not_found";
    case ErrorKind::kCommandNotFound: return "command_not_found";
    case ErrorKind::kCommandNotExecutable: return "command_not_executable";
    case ErrorKind::kSystem: return "system";
    case ErrorKind::kCancelled: return "cancelled";
    case ErrorKind::kLimitNotEnforced: return "limit_not_enforced";
    case ErrorKind::kImageNotFound: return "image_not_found";
    case ErrorKind::kImage: return "image";
    case ErrorKind::kAuth: return "auth";
  }
  return "unknown";
}

std::string_view to_string(OutputStream stream) noexcept {
  return stream == OutputStream::kStdout ? "stdout" : "stderr";
}

std::string_view to_string(Network network) noexcept {
  switch (network) {
    case Network::kHost: return "host";
    case Network::kPrivate: return "private";
    case Network::kPrivateNoHostLoopback: return "private:no-host-loopback";
    case Network::kNone: break;
  }
  return "none";
}

std::string_view to_string(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::kExited: return "exited";
    case Outcome::kSignaled: return "signaled";
    case Outcome::kTimedOut: return "timed_out";
    case Outcome::kOomKilled: return "oom_killed";
    case Outcome::kCpuTimeExceeded: return "cpu_time_exceeded";
  }
  return "unknown";
}

}  // namespace ociexec
