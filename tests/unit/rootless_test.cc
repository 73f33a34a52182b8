#include <doctest/doctest.h>

#include "core/rootless.h"

using namespace ociexec;

namespace {

cgroup::Layout v1_with(std::vector<std::string> controllers) {
  cgroup::Layout l;
  l.mode = cgroup::Mode::kV1;
  for (auto& c : controllers) l.hierarchies.push_back({"/sys/fs/cgroup/" + c, false, {c}});
  return l;
}

}  // namespace

TEST_CASE("rootless limits: defaults are reported, a set limit is refused unless allowed") {
  JobOptions job;
  auto none = core::unenforceable_limits(job, cgroup::Layout{});
  REQUIRE(none);
  CHECK(*none == std::vector<std::string>{"memory", "pids"});  // the defaults, not enforced

  job.limits.memory_bytes = 256 * kMiB;
  auto refused = core::unenforceable_limits(job, cgroup::Layout{});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::kLimitNotEnforced);
  CHECK(refused.error().message.rfind("memory 256m: cannot be enforced rootless", 0) == 0);

  job.allow_unenforced_limits = true;
  job.limits.cpus = 1.5;
  auto allowed = core::unenforceable_limits(job, cgroup::Layout{});
  REQUIRE(allowed);
  CHECK(*allowed == std::vector<std::string>{"memory", "cpus", "pids"});
}

TEST_CASE("rootless limits: a delegated controller enforces its limit; the others do not") {
  JobOptions job;
  job.limits.memory_bytes = 256 * kMiB;
  job.limits.pids = 32;
  auto delegated = core::unenforceable_limits(job, v1_with({"memory", "pids"}));
  REQUIRE(delegated);
  CHECK(delegated->empty());
  job.limits.cpus = 0.5;
  auto cpu = core::unenforceable_limits(job, v1_with({"memory", "pids"}));
  REQUIRE_FALSE(cpu);
  CHECK(cpu.error().message.rfind("cpus 0.5: cannot be enforced", 0) == 0);
  // v2: what the delegated parent's cgroup.subtree_control enables.
  cgroup::Layout v2;
  v2.mode = cgroup::Mode::kV2;
  v2.hierarchies.push_back({"/sys/fs/cgroup", true, {}});
  v2.unified_controllers = {"cpu", "memory", "pids"};
  auto all = core::unenforceable_limits(job, v2);
  REQUIRE(all);
  CHECK(all->empty());
}
