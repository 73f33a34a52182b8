// A job's cgroup: one directory "<parent>/<id>" in every mounted hierarchy, created by the
// runtime from linux.cgroupsPath. This layer reads statistics, kills every member and removes
// the directories; each operation is safe to repeat and to run on a half-removed cgroup.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cgroup/limits.h"
#include "cgroup/parsers.h"
#include "ociexec/error.h"
#include "sys/file_lock.h"
#include "sys/unique_fd.h"

namespace ociexec::cgroup {

Expected<Layout> detect_layout();

struct Stats {
  std::optional<std::uint64_t> peak_memory_bytes;
  std::optional<std::chrono::nanoseconds> cpu_time;
  std::uint64_t oom_kills = 0;
};

class JobCgroup {
 public:
  JobCgroup(const Layout& layout, std::string parent, std::string id)
      : layout_(&layout), parent_(std::move(parent)), id_(std::move(id)) {}

  // The value for the OCI spec's linux.cgroupsPath; empty in a layout without hierarchies
  // (rootless: the container gets no cgroup).
  [[nodiscard]] std::string spec_path() const {
    return layout_->hierarchies.empty() ? std::string() : "/" + parent_ + "/" + id_;
  }
  [[nodiscard]] std::vector<std::filesystem::path> directories() const;
  [[nodiscard]] bool exists() const;

  // Reads what the kernel accounted; must run before the runtime deletes the cgroup.
  [[nodiscard]] Stats read_stats() const;
  // The CPU time of all members so far (v2 cpu.stat usage_usec, v1 cpuacct.usage): one read
  // of one file, as the supervisor's CPU-time limit polls it. nullopt: not accounted here.
  [[nodiscard]] std::optional<std::chrono::nanoseconds> cpu_time() const;
  // Rewrites the memory, CPU and pids limits of the live cgroup (cgroup/limits.h).
  Expected<void> set_limits(const ResourceLimits& limits) const;
  // Rootless, where no runtime makes the cgroup: makes the directories, writes `limits`, and
  // moves `pid` (the container's init, before it starts) into each.
  Expected<void> adopt(pid_t pid, const ResourceLimits& limits) const;
  // Whether SIGKILL reaches every member with one write (cgroup.kill, v2 on Linux 5.14+).
  [[nodiscard]] bool kills_atomically() const;
  // Sends `sig` to every member process (SIGKILL through cgroup.kill on v2 where available).
  // Returns how many processes were found.
  std::size_t signal_all(int sig) const;
  // Kills what is left, then removes the directories, retrying while the kernel still
  // tears the last processes down. The shared parent stays (see ParentHold).
  Expected<void> remove() const;

 private:
  [[nodiscard]] std::filesystem::path dir_in(const Hierarchy& h) const;
  const Layout* layout_;
  std::string parent_;
  std::string id_;
};

// The parent of every job cgroup ("ociexec" under each hierarchy) is shared by all executors
// using it, and must not outlive them. The runtime creates it (mkdir -p) and never removes it.
// Each executor holds a shared flock on the parent directory (in the first hierarchy) from its
// first job until it is destroyed, so jobs never pay for re-creating it; removal takes the
// lock exclusively without waiting, so the last executor out removes it and a parent in use is
// never removed under a runtime that is creating a job cgroup in it.
class ParentHold {
 public:
  ParentHold() = default;
  // Creates the parent's lock directory if missing and holds it; blocks only while a
  // removal is under way.
  static Expected<ParentHold> acquire(const Layout& layout, const std::string& parent);
  void release() noexcept { dir_.release(); }

 private:
  sys::DirHold dir_;
};

// Removes the parent from every hierarchy when no job cgroup is in it and no executor holds
// it. Best effort: a parent in use is left to the executor that uses it.
void remove_parent_if_unused(const Layout& layout, const std::string& parent) noexcept;

// Rootless: the part of `host` where this user may make job cgroups under `parent`, i.e. a
// delegated subtree. v1: the memory, cpu and pids hierarchies whose `<mount>/<parent>` this
// user may write; v2: the unified hierarchy if it may write `<mount>/<parent>`, with the
// controllers of that parent's cgroup.subtree_control. No hierarchies: nothing delegated.
Layout delegated_layout(const Layout& host, const std::string& parent);
// Whether `layout` can limit `controller` ("memory", "cpu", "pids", "cpuset").
bool has_controller(const Layout& layout, std::string_view controller);
// Whether a job cgroup in `layout` accounts its CPU time (v2: always; v1: cpuacct).
bool accounts_cpu_time(const Layout& layout);

// Ids of the job cgroups under `parent` in any hierarchy.
std::vector<std::string> list_job_cgroups(const Layout& layout, const std::string& parent);

// Whether swap can be limited (v1 needs memory.memsw.*; v2 has memory.swap.max).
bool swap_limit_supported(const Layout& layout);

}  // namespace ociexec::cgroup
