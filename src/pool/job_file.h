// The job file of a container whose first process is ociexec-init (a pooled container, or a
// job run with an init): what the init needs to run the job, written into the job's directory
// before the container starts. NUL-separated fields:
//   "ociexec-job-2" argc argv... envc env... cwd init("0"|"1")
// Pure code, shared by the library (encode) and the static init (decode).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ociexec::pool {

// bundle::kJobFile in the job directory, which the container sees at /.ociexec (the static
// init is built with this header alone).
inline constexpr std::string_view kJobFileInContainer = "/.ociexec/job";
// How the init's own stderr lines start; the executor reads the failed exec's reason there.
// The longest report ociexec-init writes on kExecStatusFd: an int, then the reason of a
// failed exec (in one write, under PIPE_BUF, so it arrives whole).
inline constexpr std::size_t kExecReportMax = 1024;
// The init's fd on which it reports, one int: a failed exec's errno (> 0); with `init`, the
// signal that killed the job's command, negated (< 0). Passed with --preserve-fds; closed on
// a successful exec of the command (O_CLOEXEC), and when the init exits.
inline constexpr int kExecStatusFd = 3;

struct JobSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "KEY=VALUE", the process's whole environment
  std::string cwd;
  // The init stays pid 1 and runs the command as its child (JobOptions::init): it passes
  // signals on, reaps every orphan and exits as the command did. Otherwise it execs it.
  bool init = false;
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
