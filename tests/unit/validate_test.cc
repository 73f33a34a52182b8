#include <doctest/doctest.h>

#include "core/validate.h"

using namespace ociexec;
using namespace std::chrono_literals;

namespace {

core::HostFacts host() {
  return {2, 24ULL << 30};
}

std::string error_of(JobOptions job) {
  auto r = core::validate_job(job, host());
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::kInvalidArgument);
  return r.error().message;
}

}  // namespace

TEST_CASE("defaults are valid and become the effective limits") {
  auto eff = core::validate_job(JobOptions{}, host());
  REQUIRE(eff);
  CHECK(eff->timeout == 300s);
  CHECK(eff->memory_bytes == 1ULL << 30);
  CHECK(eff->pids == 1024);
  CHECK_FALSE(eff->cpus);
  CHECK(eff->output_cap == 10ULL << 20);
}

TEST_CASE("zero, negative and above-host limits are rejected with what is accepted") {
  JobOptions j;
  j.limits.memory_bytes = 0;
  CHECK(error_of(j) == "memory 0b: below the minimum of 6m");
  j = {};
  j.limits.memory_bytes = 48ULL << 30;
  CHECK(error_of(j) == "memory 48g: above this host's 24g of RAM");
  j = {};
  j.limits.cpus = 3;
  CHECK(error_of(j) == "cpus 3: the range is 0.01 to 2 (the CPUs of this host)");
  j = {};
  j.limits.cpus = -1;
  CHECK(error_of(j).find("cpus -1") == 0);
  j = {};
  j.limits.pids = -5;
  CHECK(error_of(j) == "pids limit -5: must be at least 1");
  j = {};
  j.timeout = -1s;
  CHECK(error_of(j).find("timeout") == 0);
  j = {};
  j.timeout = std::chrono::hours(24 * 366);
  CHECK(error_of(j) == "timeout 31622400s: longer than the most a job may run, 365 days");
  j.timeout = kMaxDuration;
  CHECK(core::validate_job(j, host()));
  j = {};
  j.grace = 400s;
  CHECK(error_of(j).find("grace 400s") == 0);
  j = {};
  j.limits.tmpfs_bytes = 0;
  CHECK(error_of(j).find("tmpfs size") == 0);
  j = {};
  j.workdir = "work";
  CHECK(error_of(j).find("workdir") == 0);
  j.workdir = "/a/../etc";
  CHECK(error_of(j).find("workdir") == 0);
  j.workdir = "/etc";
  CHECK(error_of(j).find("system directory") != std::string::npos);
}

TEST_CASE("durations and sizes are printed the way people write them") {
  CHECK(core::format_seconds(300s) == "300s");
  CHECK(core::format_seconds(1500ms) == "1.5s");
  CHECK(core::format_seconds(250ms) == "0.25s");
  CHECK(core::format_bytes(256ULL << 20) == "256m");
  CHECK(core::format_bytes(1536) == "1536b");
  CHECK(core::format_bytes(3ULL << 10) == "3k");
}

TEST_CASE("ulimits: one per name, the last winning; a hard limit past the host's is refused") {
  auto h = host();
  h.hard_rlimits = {{"nofile", 20000}, {"fsize", kUnlimitedRlimit}};
  JobOptions j;
  j.ulimit = {{"nofile", 10, 20}, {"fsize", 1, 2}, {"nofile", 30, 40}};
  auto eff = core::validate_job(j, h);
  REQUIRE(eff);
  REQUIRE(eff->ulimit.size() == 2);
  CHECK(eff->ulimit[0] == Ulimit{"fsize", 1, 2});
  CHECK(eff->ulimit[1] == Ulimit{"nofile", 30, 40});

  j.ulimit = {{"nofile", 64, 30000}};
  auto refused = core::validate_job(j, h);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message ==
        "ulimit nofile: the hard limit 30000 is above this host's 20000, which only "
        "CAP_SYS_RESOURCE may raise; ask for at most 20000");
  h.can_raise_rlimits = true;
  CHECK(core::validate_job(j, h));
  j.ulimit = {{"nofile", 5, 4}};
  CHECK(error_of(j).find("soft limit 5 is above the hard limit 4") != std::string::npos);
  j.ulimit = {{"bogus", 1, 1}};
  auto unknown = core::validate_job(j, h);
  REQUIRE_FALSE(unknown);
}

TEST_CASE("cpusets name CPUs this process may use, normalized; CPU time is a positive duration") {
  auto h = host();
  h.allowed_cpus = {0, 1, 2, 3, 6};
  JobOptions j;
  j.limits.cpuset_cpus = "3,0-2,2";
  auto eff = core::validate_job(j, h);
  REQUIRE(eff);
  CHECK(eff->cpuset_cpus == "0-3");
  CHECK_FALSE(eff->cpu_time);
  j.limits.cpuset_cpus = "4-6";
  auto outside = core::validate_job(j, h);
  REQUIRE_FALSE(outside);
  CHECK(outside.error().message ==
        "cpuset-cpus \"4-6\": CPU 4 is not one this host lets jobs use (0-3,6)");
  j.limits.cpuset_cpus = "0;1";
  auto syntax = core::validate_job(j, h);
  REQUIRE_FALSE(syntax);
  CHECK(syntax.error().message ==
        "cpuset-cpus \"0;1\": expected a CPU list such as 0-3,8; this host has 0-3,6");
  j.limits.cpuset_cpus.reset();
  j.limits.cpu_time = 1500ms;
  auto timed = core::validate_job(j, h);
  REQUIRE(timed);
  CHECK(timed->cpu_time == 1500ms);
  j.limits.cpu_time = 0ms;
  CHECK(error_of(j) == "cpu time 0s: must be positive and at most 365 days, e.g. 10s");
  j.limits.cpu_time = kMaxDuration + 1ms;
  CHECK(error_of(j).find("at most 365 days") != std::string::npos);
}

TEST_CASE("network host is refused rootless; private is not") {
  JobOptions j;
  j.network = Network::kHost;
  CHECK(core::validate_job(j, host()));
  auto h = host();
  h.rootless = true;
  auto r = core::validate_job(j, h);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("network host: root only") == 0);
  for (auto network : {Network::kPrivate, Network::kPrivateNoHostLoopback}) {
    j.network = network;
    CHECK(core::validate_job(j, h));
  }
}
