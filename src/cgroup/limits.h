// Changing the limits of a live job cgroup: a pooled container is created with its profile's
// limits, and a job that asks for others gets them written here before it starts. The same
// values runc and crun write from the OCI spec (memory+swap equal to memory: no swap).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ociexec::cgroup {

// The CPU period every job gets (cpu.cfs_period_us on v1, cpu.max's second field on v2, the
// OCI spec's linux.resources.cpu.period); a CPU limit of N CPUs is a quota of N periods.
inline constexpr std::uint64_t kCpuPeriodUs = 100000;
// The quota for `cpus`, in microseconds per kCpuPeriodUs.
std::int64_t cpu_quota_us(double cpus);

struct ResourceLimits {
  std::optional<std::uint64_t> memory_bytes;
  bool limit_swap = true;  // v1 memsw / v2 swap.max, where the host supports it
  std::optional<double> cpus;
  std::optional<std::int64_t> pids;
  // cpuset.cpus; nullopt writes nothing, leaving what the cgroup was made with (a warm pool's
  // containers are made with none, so all CPUs, and a job that names some gets them written).
  std::optional<std::string> cpuset_cpus;
  bool operator==(const ResourceLimits&) const = default;
};

struct LimitWrite {
  std::string controller;  // the v1 hierarchy holding the file; empty on v2
  std::string file;
  std::string value;
};

// The files to write, in order. On v1, memory.memsw.limit_in_bytes may never be below
// memory.limit_in_bytes, so the writer retries a refused memory write after the other one.
std::vector<LimitWrite> limit_writes(bool v2, const ResourceLimits& limits);

}  // namespace ociexec::cgroup
