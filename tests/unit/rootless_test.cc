#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

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

TEST_CASE("rootless limits: CPU time needs a cgroup that accounts it, a cpuset the cpuset one") {
  JobOptions job;
  job.limits.pids.reset();
  job.limits.memory_bytes.reset();
  job.limits.cpu_time = std::chrono::milliseconds(1500);
  auto none = core::unenforceable_limits(job, cgroup::Layout{});
  REQUIRE_FALSE(none);
  CHECK(none.error().message.rfind("cpu_time 1.5s: cannot be enforced rootless", 0) == 0);
  // v1: cpuacct, which hosts mount with cpu ("cpu,cpuacct").
  CHECK_FALSE(core::unenforceable_limits(job, v1_with({"memory", "pids"})));
  auto v1 = v1_with({"memory"});
  v1.hierarchies.push_back({"/sys/fs/cgroup/cpu,cpuacct", false, {"cpu", "cpuacct"}});
  auto acct = core::unenforceable_limits(job, v1);
  REQUIRE(acct);
  CHECK(acct->empty());
  // v2: cpu.stat is in every cgroup, whatever the controllers.
  cgroup::Layout v2;
  v2.mode = cgroup::Mode::kV2;
  v2.hierarchies.push_back({"/sys/fs/cgroup", true, {}});
  v2.unified_controllers = {"memory", "pids"};
  auto stat = core::unenforceable_limits(job, v2);
  REQUIRE(stat);
  CHECK(stat->empty());
  job.limits.cpuset_cpus = "0-1";
  auto cpuset = core::unenforceable_limits(job, v2);
  REQUIRE_FALSE(cpuset);
  CHECK(cpuset.error().message.rfind("cpuset_cpus 0-1: cannot be enforced", 0) == 0);
  v2.unified_controllers.push_back("cpuset");
  CHECK(core::unenforceable_limits(job, v2));
  job.allow_unenforced_limits = true;
  auto allowed = core::unenforceable_limits(job, cgroup::Layout{});
  REQUIRE(allowed);
  CHECK(*allowed == std::vector<std::string>{"cpuset_cpus", "cpu_time"});
}

TEST_CASE("rootless: subordinate id ranges are read from /etc/subuid text, by name or uid") {
  const std::string text =
      "alice:100000:65536\nbob:165536:1000\n1003:300000:65536\nbad line\ncarol:x:65536\n";
  CHECK(core::subordinate_range(text, 1001, "alice", 65535) == spec::IdRange{100000, 65536});
  CHECK_FALSE(core::subordinate_range(text, 1002, "bob", 65535));  // too small for 65534
  CHECK(core::subordinate_range(text, 1002, "bob", 1000) == spec::IdRange{165536, 1000});
  CHECK(core::subordinate_range(text, 1003, "", 65535) == spec::IdRange{300000, 65536});
  CHECK_FALSE(core::subordinate_range(text, 1004, "carol", 1));  // not a number
  CHECK_FALSE(core::subordinate_range(text, 1005, "dave", 1));
}

TEST_CASE("rootless: with subordinate ids the spec maps 1-65535 and the job stays 65534") {
  spec::SpecInput in;
  in.args = {"/bin/sh"};
  in.user_namespace = spec::UserNamespace{1001, 1001, spec::IdRange{100000, 65535},
                                          spec::IdRange{200000, 65535}};
  auto spec = spec::build_spec(in);
  REQUIRE(spec);
  CHECK((*spec)["linux"]["uidMappings"] ==
        nlohmann::json::parse(R"([{"containerID":0,"hostID":1001,"size":1},
                                  {"containerID":1,"hostID":100000,"size":65535}])"));
  CHECK((*spec)["linux"]["gidMappings"][1]["hostID"] == 200000);
  CHECK((*spec)["process"]["user"]["uid"] == 65534);
  // The work dir belongs to the job's user, which is mapped now.
  bool owned = false;
  for (const auto& m : (*spec)["mounts"])
    if (m["destination"] == "/work")
      for (const auto& o : m["options"]) owned = owned || o == "uid=65534";
  CHECK(owned);
}

TEST_CASE("rootless: namespaces held for the job are joined by path, with the same id maps") {
  spec::SpecInput in;
  in.args = {"/bin/sh"};
  in.user_namespace =
      spec::UserNamespace{1001, 1002, spec::IdRange{100000, 65535}, spec::IdRange{200000, 65535}};
  CHECK(in.user_namespace->uid_map() ==
        std::vector<sys::IdMapping>{{0, 1001, 1}, {1, 100000, 65535}});
  CHECK(in.user_namespace->gid_map() ==
        std::vector<sys::IdMapping>{{0, 1002, 1}, {1, 200000, 65535}});
  CHECK(spec::UserNamespace{1001, 1002}.gid_map() == std::vector<sys::IdMapping>{{0, 1002, 1}});
  in.namespace_paths = {{"user", "/proc/42/ns/user"}, {"mount", "/proc/42/ns/mnt"}};
  auto spec = spec::build_spec(in);
  REQUIRE(spec);
  std::map<std::string, std::string> paths;
  for (const auto& n : (*spec)["linux"]["namespaces"])
    paths[n["type"].get<std::string>()] = n.value("path", "");
  CHECK(paths["user"] == "/proc/42/ns/user");
  CHECK(paths["mount"] == "/proc/42/ns/mnt");
  // The others are the runtime's to make: the network namespace with its loopback up.
  CHECK(paths.at("network").empty());
  CHECK(paths.at("pid").empty());
  // runc checks a rootless spec's maps even where it joins the namespace.
  CHECK((*spec)["linux"]["uidMappings"].size() == 2);
}
