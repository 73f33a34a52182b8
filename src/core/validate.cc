#include "core/validate.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cgroup/parsers.h"
#include "sys/rlimit.h"
#include "util/invalid.h"

namespace ociexec::core {

namespace {

constexpr std::array<std::string_view, 12> kReservedDirs = {
    "/",    "/usr",  "/bin", "/sbin", "/lib",      "/lib64",
    "/etc", "/proc", "/dev", "/sys",  "/.ociexec", "/dev/shm"};

// One entry per name, the last given winning, in name order (so that equal sets compare
// equal, as the warm pool's profiles do). A hard limit above the executor's own is refused:
// the runtime's setrlimit would fail with "operation not permitted" after the container was
// made, without CAP_SYS_RESOURCE.
Expected<std::vector<Ulimit>> effective_ulimits(const std::vector<Ulimit>& given,
                                                const HostFacts& host) {
  std::map<std::string, Ulimit> by_name;
  for (const auto& u : given) {
    if (u.soft > u.hard)
      return invalid_argument(fmt::format("ulimit {}: the soft limit {} is above the hard limit {}",
                                          u.name, u.soft, u.hard));
    const auto hard = host.hard_rlimits.find(u.name);
    if (hard == host.hard_rlimits.end())
      return invalid_argument(fmt::format("ulimit {:?}: unknown; expected one of {}", u.name,
                                          fmt::join(sys::rlimit_names(), ", ")));
    if (u.hard > hard->second && !host.can_raise_rlimits)
      return invalid_argument(fmt::format(
          "ulimit {}: the hard limit {} is above this host's {}, which only CAP_SYS_RESOURCE "
          "may raise; ask for at most {}",
          u.name, u.hard == kUnlimitedRlimit ? "unlimited" : std::to_string(u.hard), hard->second,
          hard->second));
    by_name[u.name] = u;
  }
  std::vector<Ulimit> out;
  for (auto& [name, u] : by_name) out.push_back(std::move(u));
  return out;
}

// The CPU list, normalized ("1,0-1" -> "0-1"), where each CPU is one this process may run on:
// a cpuset naming others would fail in the runtime after the container was made (v1) or
// leave the job without a CPU.
Expected<std::string> effective_cpuset(const std::string& given, const HostFacts& host) {
  auto cpus = cgroup::parse_cpu_list(given);
  const std::string allowed = cgroup::format_cpu_list(host.allowed_cpus);
  if (!cpus)
    return invalid_argument(
        fmt::format("cpuset-cpus {:?}: expected a CPU list such as 0-3,8; this host "
                    "has {}",
                    given, allowed));
  for (unsigned cpu : *cpus)
    if (!std::binary_search(host.allowed_cpus.begin(), host.allowed_cpus.end(), cpu))
      return invalid_argument(
          fmt::format("cpuset-cpus {:?}: CPU {} is not one this host lets jobs use "
                      "({})",
                      given, cpu, allowed));
  return cgroup::format_cpu_list(*cpus);
}

}  // namespace

bool is_within(std::string_view path, std::string_view dir) {
  if (dir == "/") return true;
  return path == dir ||
         (path.size() > dir.size() && path.substr(0, dir.size()) == dir && path[dir.size()] == '/');
}

bool is_normalized_absolute(std::string_view path) {
  if (path.empty() || path.front() != '/' || path.find('\0') != std::string_view::npos)
    return false;
  if (path == "/") return true;
  if (path.back() == '/') return false;
  const std::string p = std::string(path) + "/";
  return p.find("//") == std::string::npos && p.find("/../") == std::string::npos &&
         p.find("/./") == std::string::npos;
}

std::string format_seconds(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return fmt::format("{}s", ms.count() / 1000);
  return fmt::format("{}s", static_cast<double>(ms.count()) / 1000.0);
}

std::string format_bytes(std::uint64_t bytes) {
  constexpr std::pair<std::uint64_t, char> units[] = {
      {1ULL << 40, 't'}, {1ULL << 30, 'g'}, {1ULL << 20, 'm'}, {1ULL << 10, 'k'}};
  for (auto [size, suffix] : units)
    if (bytes >= size && bytes % size == 0) return fmt::format("{}{}", bytes / size, suffix);
  return fmt::format("{}b", bytes);
}

Expected<EffectiveLimits> validate_job(const JobOptions& job, const HostFacts& host) {
  EffectiveLimits eff;
  if (job.timeout.count() <= 0)
    return invalid_argument(
        fmt::format("timeout {} ms: must be positive, e.g. 30s", job.timeout.count()));
  if (job.timeout > kMaxDuration)
    return invalid_argument(fmt::format("timeout {}: longer than the most a job may run, 365 days",
                                        format_seconds(job.timeout)));
  if (job.grace.count() < 0 || job.grace >= job.timeout)
    return invalid_argument(fmt::format("grace {}: must be at least 0 and less than the timeout {}",
                                        format_seconds(job.grace), format_seconds(job.timeout)));
  eff.timeout = job.timeout;
  if (job.image && job.rootfs)
    return invalid_argument(
        "image and rootfs: give one of them (an image, or a prepared directory)");
  if (job.image && job.image->empty())
    return invalid_argument(
        "image: empty; give a reference such as python:3.12-slim or oci:PATH:REF");
  eff.grace = job.grace;

  const auto& lim = job.limits;
  if (lim.memory_bytes) {
    if (*lim.memory_bytes < kMinMemoryBytes)
      return invalid_argument(
          fmt::format("memory {}: below the minimum of 6m", format_bytes(*lim.memory_bytes)));
    if (host.memory_bytes && *lim.memory_bytes > host.memory_bytes)
      return invalid_argument(fmt::format("memory {}: above this host's {} of RAM",
                                          format_bytes(*lim.memory_bytes),
                                          format_bytes(host.memory_bytes)));
  }
  eff.memory_bytes = lim.memory_bytes;
  if (lim.cpus) {
    double cpus = *lim.cpus;
    if (!std::isfinite(cpus) || cpus < 0.01 || cpus > host.cpus)
      return invalid_argument(
          fmt::format("cpus {}: the range is 0.01 to {} (the CPUs of this host)", cpus, host.cpus));
  }
  eff.cpus = lim.cpus;
  if (lim.pids && *lim.pids < 1)
    return invalid_argument(fmt::format("pids limit {}: must be at least 1", *lim.pids));
  eff.pids = lim.pids;
  if (lim.tmpfs_bytes < kMiB || (host.memory_bytes && lim.tmpfs_bytes > host.memory_bytes))
    return invalid_argument(fmt::format("tmpfs size {}: the range is 1m to the host's RAM",
                                        format_bytes(lim.tmpfs_bytes)));
  eff.tmpfs_bytes = lim.tmpfs_bytes;
  if (lim.cpuset_cpus) {
    auto cpus = effective_cpuset(*lim.cpuset_cpus, host);
    if (!cpus) return tl::unexpected(cpus.error());
    eff.cpuset_cpus = std::move(*cpus);
  }
  if (lim.cpu_time) {
    if (lim.cpu_time->count() <= 0 || *lim.cpu_time > kMaxDuration)
      return invalid_argument(
          fmt::format("cpu time {}: must be positive and at most 365 days, e.g. 10s",
                      format_seconds(*lim.cpu_time)));
    eff.cpu_time = lim.cpu_time;
  }
  eff.output_cap = job.output_cap;
  auto ulimit = effective_ulimits(job.ulimit, host);
  if (!ulimit) return tl::unexpected(ulimit.error());
  eff.ulimit = std::move(*ulimit);

  const std::string& wd = job.workdir;
  if (!is_normalized_absolute(wd))
    return invalid_argument(
        fmt::format("workdir {:?}: must be a normalized absolute path, e.g. /work", wd));
  for (auto reserved : kReservedDirs)
    if (wd == reserved)
      return invalid_argument(
          fmt::format("workdir {:?}: a system directory; choose another, e.g. /work", wd));
  for (const auto& e : job.env) {
    auto eq = e.find('=');
    if (eq == std::string::npos || eq == 0 || e.find('\0') != std::string::npos)
      return invalid_argument(fmt::format("env {:?}: expected KEY=VALUE", e));
  }
  if (job.network == Network::kHost && host.rootless)
    return invalid_argument(
        "network host: root only (a rootless job cannot join the host's network "
        "namespace); run as root, or drop --network host");
  if (!job.interpreter.empty() && job.interpreter.front().empty())
    return invalid_argument("interpreter: empty command");
  for (const auto& a : job.args)
    if (a.find('\0') != std::string::npos)
      return invalid_argument(
          fmt::format("argument {:?}: a NUL byte cannot be passed to a process", a));
  return eff;
}

Expected<void> validate_executor(const ExecutorOptions& o) {
  if (o.cgroup_parent.empty() || o.cgroup_parent.find("..") != std::string::npos ||
      o.cgroup_parent.front() == '/')
    return invalid_argument(fmt::format(
        "cgroup parent \"{}\": expected a relative name such as ociexec", o.cgroup_parent));
  for (const auto& [name, value] :
       {std::pair{"runtime_timeout", o.runtime_timeout}, std::pair{"kill_wait", o.kill_wait},
        std::pair{"pool_max_age", o.pool_max_age}})
    if (value.count() <= 0 || value > kMaxDuration)
      return invalid_argument(fmt::format("{} {}: must be positive and at most 365 days, e.g. 30s",
                                          name, format_seconds(value)));
  return {};
}

}  // namespace ociexec::core
