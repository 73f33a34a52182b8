// OCI runtimes (runc, crun): detection, versions, and the pure argv builders for each call.
// Each runtime gets a private --root under the state dir and a JSON --log per job, so its
// messages never mix with the script's output.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgroup/parsers.h"
#include "ociexec/error.h"
#include "ociexec/runtime_info.h"

namespace ociexec::runtime {

struct Invocation {
  std::string binary;
  std::filesystem::path root;  // --root
  std::filesystem::path log;   // --log (JSON lines)
};

// `preserve_fd3`: the init also gets the runtime's fd 3 (--preserve-fds 1).
std::vector<std::string> create_argv(const Invocation& inv, const std::filesystem::path& bundle,
                                     const std::filesystem::path& pid_file, const std::string& id,
                                     bool preserve_fd3 = false);
std::vector<std::string> start_argv(const Invocation& inv, const std::string& id);
std::vector<std::string> delete_argv(const Invocation& inv, const std::string& id);

// "runc version 1.1.5+ds1\n..." -> "1.1.5+ds1"; "" when not recognised.
std::string parse_version(std::string_view version_output);
// The runtime's own error text: the last "error"/"fatal" message of a JSON log, else the last
// non-empty line of `fallback` (what it printed).
std::string error_text(std::string_view json_log, std::string_view fallback);
// How a failed create should be reported: the interpreter missing (127), not executable
// (126), or any other runtime failure.
ErrorKind classify_create_failure(std::string_view text);

// Why crun cannot run on this cgroup layout, or nullopt. crun 1.x refuses hybrid hosts whose
// cgroup2 mount has controllers.
std::optional<std::string> crun_refusal(const cgroup::Layout& layout);
// Whether runtime `name` must run in a mount namespace without the cgroup2 mount here (crun
// on a host crun refuses; ociexec makes that namespace when it runs as root).
bool needs_private_mount_ns(std::string_view name, const cgroup::Layout& layout);

// "path ino size mtime_ns" of the binary at `path`: changes whenever it is replaced or
// upgraded (what a cache of its output is keyed by). Empty when it cannot be read.
std::string binary_identity(const std::string& path);

// Resolves "auto", "runc", "crun" or a path to a runtime that can run here; reads its version.
// With a `cache_dir`, the version is kept there per binary (path, inode, size, mtime), so a
// short-lived CLI does not start the runtime just to ask its version.
Expected<RuntimeInfo> resolve(const std::string& wanted, const cgroup::Layout& layout,
                              std::chrono::milliseconds timeout,
                              const std::filesystem::path& cache_dir = {});
// Reads the version of the runtime at `path` (named `name`).
Expected<RuntimeInfo> probe(const std::string& name, const std::string& path,
                            std::chrono::milliseconds timeout,
                            const std::filesystem::path& cache_dir = {});

}  // namespace ociexec::runtime
