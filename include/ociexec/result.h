// The outcome of one script run. exit_code, stdout and stderr come first and a Result unpacks
// as a 3-tuple: `auto [code, out, err] = *ociexec::execute_script("echo hi");`.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "ociexec/options.h"

namespace ociexec {

// The first cause wins: a job killed at its deadline is kTimedOut even if memory also ran out.
enum class Outcome {
  kExited,     // the script's main process exited; exit_code is its status
  kSignaled,   // killed by `signal`; exit_code is 128 + signal
  kTimedOut,   // killed at the deadline; exit_code is -1
  kOomKilled,  // the kernel's OOM killer fired in the job (even if the main process survived)
  kCpuTimeExceeded,  // killed when its CPU time passed limits.cpu_time; exit_code is -1
};

struct EffectiveLimits {
  std::chrono::milliseconds timeout{0};
  std::chrono::milliseconds grace{0};
  std::optional<std::uint64_t> memory_bytes;
  std::optional<double> cpus;
  std::optional<std::int64_t> pids;
  std::uint64_t tmpfs_bytes = 0;
  std::size_t output_cap = 0;
  // The job's --ulimit entries, one per name (the last given), by name.
  std::vector<Ulimit> ulimit;
  std::optional<std::string> cpuset_cpus;  // normalized: "0-3,8"
  std::optional<std::chrono::milliseconds> cpu_time;
  // Limits above that were not enforced ("memory", "cpus", "pids", "cpuset_cpus",
  // "cpu_time"): rootless without a delegated cgroup (with that controller). The timeout, tmpfs sizes and output cap are always enforced.
  std::vector<std::string> unenforced;
};

// A file read from the job after it ended (JobOptions::copy_out).
struct CopiedFile {
  std::string data;
  bool truncated = false;  // cut at copy_out_file_cap, or at what copy_out_cap had left
  // Empty: read. Otherwise why it was not: "no such file or directory", "a symlink: not
  // followed", "a fifo, not a regular file: not read", ...
  std::string error;
  std::uint32_t mode = 0;  // its permission bits
};

struct Result {
  int exit_code = 0;
  std::string stdout_data;
  std::string stderr_data;

  Outcome outcome = Outcome::kExited;
  int signal = 0;  // set for kSignaled, and for kOomKilled when the main process was killed
  std::chrono::nanoseconds wall_time{0};  // from start to the main process' exit
  // When the container was started: the deadline is started_at + limits.timeout.
  std::chrono::steady_clock::time_point started_at{};
  std::optional<std::chrono::nanoseconds> cpu_time;  // user + system of the whole cgroup
  std::optional<std::uint64_t> peak_memory_bytes;    // cgroup high-water mark
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  std::string runtime_name;
  std::string runtime_version;
  std::string container_id;
  bool pooled = false;  // ran in a warm-pool container (created ahead, used by this job only)
  EffectiveLimits limits;
  // JobOptions::copy_out's files, by path: relative to the work dir ("out/report.txt"), or
  // absolute under /tmp ("/tmp/trace.log").
  std::map<std::string, CopiedFile> files;
  // What went wrong around the job without changing its result, one line each: a cleanup
  // step that failed, an init that did not exit after SIGKILL. What was left is gc's to
  // remove (Executor::collect_garbage, or the next executor of a later process).
  std::vector<std::string> warnings;

  // Tuple protocol for structured bindings: (exit_code, stdout_data, stderr_data).
  template <std::size_t I>
  auto& get() & {
    return field<I>(*this);
  }
  template <std::size_t I>
  const auto& get() const& {
    return field<I>(*this);
  }
  template <std::size_t I>
  auto&& get() && {
    return std::move(field<I>(*this));
  }

 private:
  template <std::size_t I, typename Self>
  static auto& field(Self& self) {
    static_assert(I < 3, "a Result unpacks into three values");
    if constexpr (I == 0)
      return self.exit_code;
    else if constexpr (I == 1)
      return self.stdout_data;
    else
      return self.stderr_data;
  }
};

std::string_view to_string(Outcome outcome) noexcept;

}  // namespace ociexec

template <>
struct std::tuple_size<ociexec::Result> : std::integral_constant<std::size_t, 3> {};
template <>
struct std::tuple_element<0, ociexec::Result> {
  using type = int;
};
template <>
struct std::tuple_element<1, ociexec::Result> {
  using type = std::string;
};
template <>
struct std::tuple_element<2, ociexec::Result> {
  using type = std::string;
};
