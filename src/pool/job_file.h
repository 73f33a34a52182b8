// The job file of a pooled container: what its init (ociexec-init) needs to run the job,
// written into the job's directory just before the container starts. NUL-separated fields:
//   "ociexec-job-1" argc argv... envc env... cwd
// Pure code, shared by the library (encode) and the static init (decode).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ociexec::pool {

// In the job directory (bundle/bundle.h), which the container sees at /.ociexec; the init
// itself is bundle::kInitFile there.
inline constexpr std::string_view kJobFile = "job";
inline constexpr std::string_view kJobFileInContainer = "/.ociexec/job";
// How the init's own stderr lines start; the executor reads the failed exec's reason there.
inline constexpr std::string_view kInitMessagePrefix = "ociexec-init: ";
// The init's fd on which a failed exec is reported (errno, 4 bytes); passed with
// --preserve-fds, closed on a successful exec (O_CLOEXEC).
inline constexpr int kExecStatusFd = 3;

struct JobSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "KEY=VALUE", the process's whole environment
  std::string cwd;
};

// nullopt when a field holds a NUL byte (exec could not pass it) or argv is empty.
std::optional<std::string> encode_job(const JobSpec& job);
// nullopt when the text is not a complete job file of this version.
std::optional<JobSpec> decode_job(std::string_view text);

// Where `name` is found on `path_list` ("a:b:c"), as execvp does; names with a '/' as they
// are. `exists` says whether a candidate is an executable file.
template <typename Exists>
std::optional<std::string> search_path(const std::string& name, std::string_view path_list,
                                       Exists exists) {
  if (name.find('/') != std::string::npos) return name;
  while (true) {
    auto colon = path_list.find(':');
    std::string dir(path_list.substr(0, colon));
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (exists(candidate)) return candidate;
    if (colon == std::string_view::npos) return std::nullopt;
    path_list.remove_prefix(colon + 1);
  }
}

}  // namespace ociexec::pool
