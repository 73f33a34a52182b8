// What an executor learns of its host once, as it is created, and every job then reads
// without locks: the CPUs and memory that limits are checked against, the cgroup layout and
// where job cgroups go, whether it runs rootless (and the jobs' user namespace), and what a
// spec needs of the host.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cgroup/cgroup.h"
#include "ociexec/error.h"
#include "spec/spec_builder.h"

namespace ociexec::core {

struct HostFacts {
  unsigned cpus = 1;
  std::uint64_t memory_bytes = 0;
  std::vector<unsigned> allowed_cpus = {0};  // this process's affinity: what a cpuset may name
  cgroup::Layout layout;  // the host's
  // Where job cgroups are made: the host's layout, or rootless the part of it delegated to
  // this user under the cgroup parent (none at all: runc and crun then make none, and memory,
  // CPU and pids limits are not enforced).
  cgroup::Layout job_layout;
  bool rootless = false;
  spec::UserNamespace user_ns;      // rootless: the jobs' user namespace
  bool swap_limit_supported = true;  // v1: memsw exists
  // This process's hard resource limits by name (sys/rlimit.h), and whether it may raise
  // them (CAP_SYS_RESOURCE; never rootless): a job's --ulimit cannot go above them otherwise.
  std::map<std::string, std::uint64_t> hard_rlimits;
  bool can_raise_rlimits = false;
  std::string machine = "x86_64";  // uname -m

  // `cgroup_parent`: where a rootless executor looks for a delegated subtree.
  static Expected<HostFacts> detect(const std::string& cgroup_parent);
};

}  // namespace ociexec::core
