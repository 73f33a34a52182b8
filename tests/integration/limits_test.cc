// cgroup limits and accounting: memory (OOM), pids, CPU time, peak memory, tmpfs size.
#include <chrono>

#include "harness.h"

using namespace std::chrono_literals;
using ociexec::Outcome;
using namespace ociexec::test;

TEST_CASE("a memory hog is reported as oom_killed") {
  LeakCheck leaks;
  auto r = run_ok("/bin/payload memhog 512\n", memory_job(64));
  CHECK(r.outcome == Outcome::kOomKilled);
  CHECK(r.stdout_data.find("allocated") == std::string::npos);
  REQUIRE(r.peak_memory_bytes);
  CHECK(*r.peak_memory_bytes <= 64 * ociexec::kMiB);
  CHECK(r.limits.memory_bytes == 64 * ociexec::kMiB);
  leaks.check();
}

TEST_CASE("an OOM kill of a child is reported even when the main process survives") {
  LeakCheck leaks;
  auto r = run_ok("/bin/payload memhog 512; echo survived\n", memory_job(64));
  CHECK(r.outcome == Outcome::kOomKilled);
  CHECK(r.stdout_data == "survived\n");
  CHECK(r.exit_code == 0);
  leaks.check();
}

TEST_CASE("peak memory and CPU time are measured") {
  LeakCheck leaks;
  auto r = run_ok("/bin/payload memhog 40\n", memory_job(256));
  CHECK(r.outcome == Outcome::kExited);
  REQUIRE(r.peak_memory_bytes);
  CHECK(*r.peak_memory_bytes >= 40 * ociexec::kMiB);
  REQUIRE(r.cpu_time);
  CHECK(r.cpu_time->count() > 0);
  leaks.check();
}

TEST_CASE("a fork bomb is held by the pids limit") {
  LeakCheck leaks;
  auto j = job();
  j.limits.pids = 32;
  auto r = run_ok("/bin/payload forkbomb 30\n", j);
  CHECK(r.outcome == Outcome::kExited);
  int made = -1;
  REQUIRE(std::sscanf(r.stdout_data.c_str(), "fork failed after %d", &made) == 1);
  CHECK(made < 32);
  CHECK(made > 0);
  CHECK(r.wall_time < 5s);
  leaks.check();
}

TEST_CASE("a CPU quota slows a busy job down") {
  LeakCheck leaks;
  // The cgroup's CPU time includes the runtime's own work in it before the job starts (runc's
  // Go init: a few ms on hardware, hundreds under emulation): measured on an empty job first.
  auto j = job(1500ms);
  j.limits.cpus = 0.2;
  auto empty = run_ok("true\n", j);
  REQUIRE(empty.cpu_time);
  auto r = run_ok("while :; do :; done\n", j);
  CHECK(r.outcome == Outcome::kTimedOut);
  REQUIRE(r.cpu_time);
  // 0.2 CPUs for 1.5 s is 300 ms; allow one period of slack either way.
  CHECK(*r.cpu_time < 500ms + *empty.cpu_time);
  CHECK(*r.cpu_time > 150ms);
  leaks.check();
}

TEST_CASE("/tmp is a size-capped tmpfs") {
  LeakCheck leaks;
  auto j = job();
  j.limits.tmpfs_bytes = 4 * ociexec::kMiB;
  auto r = run_ok("/bin/payload write /tmp/big 8388608\n", j);
  CHECK(r.exit_code == 1);
  CHECK(r.stdout_data.find("No space left on device") != std::string::npos);
  leaks.check();
}
