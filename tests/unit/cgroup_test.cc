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

TEST_CASE("CPU lists parse as cpuset.cpus writes them, and print in their shortest form") {
  using ociexec::cgroup::format_cpu_list;
  using ociexec::cgroup::parse_cpu_list;
  CHECK(parse_cpu_list("0") == std::vector<unsigned>{0});
  CHECK(parse_cpu_list("0-3,8\n") == std::vector<unsigned>{0, 1, 2, 3, 8});
  CHECK(parse_cpu_list("5,1-2,2") == std::vector<unsigned>{1, 2, 5});  // sorted, each once
  CHECK(parse_cpu_list("8191") == std::vector<unsigned>{8191});
  for (const char* bad : {"", ",", "1,", "-1", "1-", "3-1", "1-2-3", " 1", "a", "8192", "0-9999"})
    CHECK_MESSAGE(!parse_cpu_list(bad), bad);
  CHECK(format_cpu_list({0, 1, 2, 3, 8}) == "0-3,8");
  CHECK(format_cpu_list({1, 3, 4}) == "1,3-4");
  CHECK(format_cpu_list({7}) == "7");
  CHECK(format_cpu_list(*parse_cpu_list("2,0,1,5-6")) == "0-2,5-6");
}
