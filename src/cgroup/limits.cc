#include "cgroup/limits.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>

#include <fmt/format.h>

#include "cgroup/cgroup.h"
#include "sys/fs.h"
#include "sys/unique_fd.h"

namespace ociexec::cgroup {

namespace fs = std::filesystem;

std::int64_t cpu_quota_us(double cpus) {
  return static_cast<std::int64_t>(std::llround(cpus * static_cast<double>(kCpuPeriodUs)));
}

std::vector<LimitWrite> limit_writes(bool v2, const ResourceLimits& l) {
  const auto period = kCpuPeriodUs;
  const std::string quota = l.cpus ? std::to_string(cpu_quota_us(*l.cpus)) : "";
  std::vector<LimitWrite> w;
  if (v2) {
    w.push_back({"", "memory.max", l.memory_bytes ? std::to_string(*l.memory_bytes) : "max"});
    if (l.limit_swap) w.push_back({"", "memory.swap.max", l.memory_bytes ? "0" : "max"});
    w.push_back({"", "cpu.max", fmt::format("{} {}", l.cpus ? quota : "max", period)});
    w.push_back({"", "pids.max", l.pids ? std::to_string(*l.pids) : "max"});
    if (l.cpuset_cpus) w.push_back({"", "cpuset.cpus", *l.cpuset_cpus});
    return w;
  }
  const std::string mem = l.memory_bytes ? std::to_string(*l.memory_bytes) : "-1";
  w.push_back({"memory", "memory.limit_in_bytes", mem});
  if (l.limit_swap) w.push_back({"memory", "memory.memsw.limit_in_bytes", mem});
  w.push_back({"cpu", "cpu.cfs_period_us", std::to_string(period)});
  w.push_back({"cpu", "cpu.cfs_quota_us", l.cpus ? quota : "-1"});
  w.push_back({"pids", "pids.max", l.pids ? std::to_string(*l.pids) : "max"});
  if (l.cpuset_cpus) w.push_back({"cpuset", "cpuset.cpus", *l.cpuset_cpus});
  return w;
}

Expected<void> JobCgroup::set_limits(const ResourceLimits& limits) const {
  const bool v2 = layout_->mode == Mode::kV2;
  std::vector<std::pair<fs::path, std::string>> pending;
  for (const auto& w : limit_writes(v2, limits)) {
    const Hierarchy* h = v2 ? layout_->find_v2() : layout_->find_v1(w.controller);
    if (!h) continue;  // controller not mounted: the runtime did not limit it either
    pending.emplace_back(dir_in(*h) / w.file, w.value);
  }
  // Two passes: a v1 memory write refused because of its memsw partner succeeds after it.
  for (int pass = 0; pass < 2 && !pending.empty(); ++pass) {
    std::vector<std::pair<fs::path, std::string>> refused;
    Error last;
    for (auto& [path, value] : pending) {
      auto written = sys::write_file(path, value);
      if (written) continue;
      last = written.error().with_context(fmt::format("write {}", value));
      refused.emplace_back(std::move(path), std::move(value));
    }
    if (!refused.empty() && pass == 1) return tl::unexpected(last.with_context("set limits"));
    pending = std::move(refused);
  }
  return {};
}

Expected<void> JobCgroup::adopt(pid_t pid, const ResourceLimits& limits) const {
  for (const auto& dir : directories())
    if (auto r = sys::make_dir(dir, 0755, true); !r) return tl::unexpected(r.error());
  if (auto r = set_limits(limits); !r) return r;
  const std::string text = std::to_string(pid);
  for (const auto& dir : directories()) {
    if (auto r = sys::write_file(dir / "cgroup.procs", text); !r)
      return tl::unexpected(r.error().with_context(fmt::format("move pid {}", pid)));
  }
  return {};
}

}  // namespace ociexec::cgroup
