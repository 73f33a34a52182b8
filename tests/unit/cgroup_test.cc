#include <doctest/doctest.h>

#include "cgroup/parsers.h"
#include "fixture.h"
#include "sys/proc.h"

using namespace ociexec::cgroup;

TEST_CASE("v2 memory.events gives the oom_kill count, not the oom count") {
  auto text = fixture("cgroup/v2-memory.events");
  CHECK(parse_keyed_value(text, "oom_kill") == 2);
  CHECK(parse_keyed_value(text, "oom") == 3);
  CHECK(parse_keyed_value(text, "missing") == std::nullopt);
}

TEST_CASE("v2 cpu.stat usage_usec and memory.peak parse") {
  CHECK(parse_keyed_value(fixture("cgroup/v2-cpu.stat"), "usage_usec") == 1234567);
  CHECK(parse_single_value(fixture("cgroup/v2-memory.peak")) == 52428800);
  CHECK(parse_single_value(fixture("cgroup/v2-memory.max")) == std::nullopt);
  CHECK(parse_single_value("12abc") == std::nullopt);
}

TEST_CASE("v1 memory.oom_control gives the oom_kill count") {
  CHECK(parse_keyed_value(fixture("cgroup/v1-memory.oom_control"), "oom_kill") == 1);
}

TEST_CASE("a hybrid host is detected with its v1 controllers and unified controllers") {
  auto layout =
      layout_from_mounts(ociexec::sys::parse_mountinfo(fixture("mountinfo/hybrid")), "hugetlb\n");
  CHECK(layout.mode == Mode::kHybrid);
  CHECK(layout.hierarchies.size() == 5);
  REQUIRE(layout.find_v1("memory"));
  CHECK(layout.find_v1("memory")->mount_point == "/sys/fs/cgroup/memory");
  REQUIRE(layout.find_v1("cpuacct"));
  CHECK(layout.find_v1("cpuacct")->mount_point == "/sys/fs/cgroup/cpu,cpuacct");
  CHECK(layout.find_v1("name=systemd"));
  REQUIRE(layout.find_v2());
  CHECK(layout.find_v2()->mount_point == "/sys/fs/cgroup/unified");
  CHECK(layout.unified_controllers == std::vector<std::string>{"hugetlb"});
}

TEST_CASE("a pure v2 host is detected") {
  auto layout = layout_from_mounts(ociexec::sys::parse_mountinfo(fixture("mountinfo/v2")),
                                   "cpuset cpu io memory hugetlb pids rdma misc\n");
  CHECK(layout.mode == Mode::kV2);
  REQUIRE(layout.hierarchies.size() == 1);
  CHECK(layout.find_v1("memory") == nullptr);
  CHECK(layout.unified_controllers.size() == 8);
}

TEST_CASE("cgroup.procs lists pids and ignores junk") {
  CHECK(parse_pid_list("12\n34\n\nx\n-5\n") == std::vector<int>{12, 34});
}
