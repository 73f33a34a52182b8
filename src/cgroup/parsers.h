// Pure parsers for cgroup v1 and v2 files and for the host's cgroup layout. No I/O: the
// callers read the files; the unit tests feed fixture text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sys/proc.h"

namespace ociexec::cgroup {

enum class Mode {
  kV1,      // only v1 hierarchies
  kHybrid,  // v1 controllers plus a cgroup2 mount (e.g. /sys/fs/cgroup/unified)
  kV2,      // the unified hierarchy only
};

struct Hierarchy {
  std::string mount_point;
  bool v2 = false;
  std::vector<std::string> controllers;  // v1: from the mount options ("cpu", "name=systemd")
};

struct Layout {
  Mode mode = Mode::kV1;
  std::vector<Hierarchy> hierarchies;
  // Controllers enabled on the cgroup2 mount (its cgroup.controllers); crun refuses a hybrid
  // host where this is not empty.
  std::vector<std::string> unified_controllers;

  [[nodiscard]] const Hierarchy* find_v1(std::string_view controller) const;
  [[nodiscard]] const Hierarchy* find_v2() const;
};

// Builds the layout from /proc/self/mountinfo entries (cgroup and cgroup2 mounts only).
Layout layout_from_mounts(const std::vector<sys::MountInfo>& mounts,
                          std::string_view unified_controllers_text);

std::string_view to_string(Mode mode) noexcept;

// "12345\n" -> 12345; "max" -> nullopt; garbage -> nullopt.
std::optional<std::uint64_t> parse_single_value(std::string_view text);
// "key value" per line (memory.events, cpu.stat, memory.oom_control); nullopt if absent.
std::optional<std::uint64_t> parse_keyed_value(std::string_view text, std::string_view key);
// cgroup.procs: one pid per line.
std::vector<int> parse_pid_list(std::string_view text);

// A CPU list as cpuset.cpus and /proc/self/status's Cpus_allowed_list write it, "0-3,8,10-11":
// the CPUs in order, each once; nullopt for anything else (blanks, "3-1", an empty list, a
// CPU above kMaxCpu). format_cpu_list writes the shortest form back.
inline constexpr unsigned kMaxCpu = 8191;
std::optional<std::vector<unsigned>> parse_cpu_list(std::string_view text);
std::string format_cpu_list(const std::vector<unsigned>& cpus);

}  // namespace ociexec::cgroup
