// cgroup v1 and v2 files (memory.events, cpu.stat, memory.max, cgroup.procs, ...) and
// /proc/<pid>/stat, as the kernel or a hostile container could leave them.
#include "cgroup/parsers.h"
#include "util/text.h"
#include "fuzz.h"
#include "sys/proc.h"

OCIEXEC_FUZZ_TARGET(const std::uint8_t* data, std::size_t size) {
  const auto text = ociexec::fuzz::text(data, size);
  (void)ociexec::cgroup::parse_single_value(text);
  for (const char* key : {"oom_kill", "usage_usec", "under_oom", "max", ""})
    (void)ociexec::cgroup::parse_keyed_value(text, key);
  for (const auto& w : ociexec::text::words(text))
    ociexec::fuzz::require(!w.empty(), "empty word");
  for (int pid : ociexec::cgroup::parse_pid_list(text))
    ociexec::fuzz::require(pid > 0, "pid <= 0");
  (void)ociexec::sys::parse_stat_start_time(text);
  (void)ociexec::sys::parse_stat_ppid(text);
  return 0;
}
