// Reading /proc: process identity (pid plus start time, which survives pid reuse), children,
// open fds and mounts. The parsers are pure and unit-tested on fixture text.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ociexec::sys {

// Field 22 of /proc/<pid>/stat (clock ticks since boot); nullopt when the process is gone.
std::optional<std::uint64_t> process_start_time(pid_t pid);
std::optional<std::uint64_t> parse_stat_start_time(std::string_view stat_text);
// Field 4 of /proc/<pid>/stat.
std::optional<pid_t> parse_stat_ppid(std::string_view stat_text);
// True when `pid` runs and started at `start_time`: the same process, not a recycled pid.
bool process_alive(pid_t pid, std::uint64_t start_time);
// Direct children of `parent` (any state, zombies included) and whether each is a zombie.
struct ChildInfo {
  pid_t pid;
  bool zombie;
};
std::vector<ChildInfo> children_of(pid_t parent);
// Every process on the host with its parent, from one pass over /proc.
struct ProcessInfo {
  pid_t pid;
  pid_t ppid;
  bool zombie;
};
std::vector<ProcessInfo> list_processes();
std::size_t open_fd_count();

struct MountInfo {
  std::string root;         // field 4: root of the mount within its file system
  std::string mount_point;  // field 5, unescaped
  std::string fs_type;      // after the " - " separator
  std::string super_options;
};
std::vector<MountInfo> parse_mountinfo(std::string_view text);
std::vector<std::string> mount_points_below(const std::vector<MountInfo>& mounts,
                                            const std::string& prefix);

}  // namespace ociexec::sys
