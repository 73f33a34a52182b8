// Executor failures: what went wrong in ociexec or the runtime, never the script's own outcome.
// A script that exits non-zero, is killed, times out or is OOM-killed is a Result, not an Error.
#pragma once

#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace ociexec {

enum class ErrorKind {
  kInvalidArgument,       // a bad option value: limits, timeout, env, interpreter
  kConfig,                // a configuration file that cannot be read or has bad keys/values
  kRuntimeNotFound,       // no usable OCI runtime (runc/crun) on PATH or at the given path
  kRuntimeFailed,         // the runtime ran and refused; the message carries its own text
  kRuntimeTimeout,        // a runtime call did not finish within its own time limit
  kRootfsNotFound,        // the rootfs directory is missing or not a directory
  kCommandNotFound,       // the interpreter does not exist inside the container
  kCommandNotExecutable,  // the interpreter exists but cannot be executed
  kSystem,                // a host operation failed (file system, pipes, processes)
  kCancelled,             // a submitted job never started: its executor was destroyed first
  kLimitNotEnforced,      // rootless without a delegated cgroup: a limit the job set cannot be
                          // enforced (JobOptions::allow_unenforced_limits runs it anyway)
  kImageNotFound,         // the image (or its tag, digest or platform) is not in the registry,
                          // the OCI layout or the local store
  kImage,                 // an image could not be fetched, verified or unpacked: a bad
                          // manifest, a digest mismatch, a hostile layer, a registry error
  kAuth,                  // the registry refused the credentials, or asked for some
};

// Lower-case, no trailing period; context is prepended as "operation: ...".
struct Error {
  ErrorKind kind = ErrorKind::kSystem;
  std::string message;

  // Returns a copy with `context` prepended: "write bundle: open ...: No space left".
  [[nodiscard]] Error with_context(std::string_view context) const;
};

// Every fallible call returns a value or an Error; no exception crosses the public API.
template <typename T>
using Expected = tl::expected<T, Error>;

// The stable lower-case name of a kind ("runtime_failed"), used in JSON output.
std::string_view to_string(ErrorKind kind) noexcept;

}  // namespace ociexec
