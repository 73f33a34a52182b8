#include "core/host.h"

#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>

#include "core/rootless.h"
#include "ociexec/options.h"
#include "sys/rlimit.h"

namespace ociexec::core {

Expected<HostFacts> HostFacts::detect(const std::string& cgroup_parent) {
  HostFacts facts;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    facts.cpus = static_cast<unsigned>(CPU_COUNT(&set));
    facts.allowed_cpus.clear();
    for (unsigned cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &set)) facts.allowed_cpus.push_back(cpu);
  } else {
    facts.cpus = static_cast<unsigned>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
    facts.allowed_cpus.clear();
    for (unsigned cpu = 0; cpu < facts.cpus; ++cpu) facts.allowed_cpus.push_back(cpu);
  }
  facts.memory_bytes = static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) *
                       static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  auto layout = cgroup::detect_layout();
  if (!layout) return tl::unexpected(layout.error());
  facts.layout = std::move(*layout);
  facts.rootless = running_rootless();
  if (facts.rootless) facts.user_ns = caller_user_namespace();
  facts.job_layout =
      facts.rootless ? cgroup::delegated_layout(facts.layout, cgroup_parent) : facts.layout;
  facts.swap_limit_supported = cgroup::swap_limit_supported(facts.layout);
  for (auto name : sys::rlimit_names())
    facts.hard_rlimits[std::string(name)] = sys::hard_rlimit(name).value_or(kUnlimitedRlimit);
  facts.can_raise_rlimits = !facts.rootless && sys::can_raise_rlimits();
  utsname uts{};
  if (::uname(&uts) == 0) facts.machine = uts.machine;
  return facts;
}

}  // namespace ociexec::core
