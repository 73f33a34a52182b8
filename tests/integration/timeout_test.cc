// The deadline: SIGKILL at the timeout, never later, for the whole container.
#include <chrono>

#include "cgroup/cgroup.h"
#include "harness.h"

using namespace std::chrono_literals;
using ociexec::Outcome;
using namespace ociexec::test;

TEST_CASE("sleep 60 under a 2 s timeout comes back as -1 with the message, well before 60 s") {
  LeakCheck leaks;
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_ok("echo before; echo partial >&2; /bin/payload sleep 60\n", job(2s));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(r.outcome == Outcome::kTimedOut);
  CHECK(r.exit_code == -1);
  CHECK(r.stdout_data == "before\n");
  CHECK(r.stderr_data.rfind("partial\nExecution timeout (2s)", 0) == 0);
  CHECK(elapsed >= 2s);
  CHECK(elapsed < 3s);
  CHECK(r.limits.timeout == 2s);
  leaks.check();
}

TEST_CASE("the timeout is configurable per job") {
  LeakCheck leaks;
  auto r = run_ok("/bin/payload sleep 60\n", job(700ms));
  CHECK(r.outcome == Outcome::kTimedOut);
  CHECK(r.stderr_data.find("Execution timeout (0.7s)") != std::string::npos);
  CHECK(r.wall_time >= 700ms);
  CHECK(r.wall_time < 1200ms);
  auto quick = run_ok("/bin/payload sleep 0.2; echo done\n", job(5s));
  CHECK(quick.outcome == Outcome::kExited);
  CHECK(quick.stdout_data == "done\n");
  leaks.check();
}

TEST_CASE("a job that ignores SIGTERM and leaves setsid children is killed whole") {
  LeakCheck leaks;
  auto j = job(2s);
  j.grace = 1s;  // SIGTERM at 1 s is ignored; SIGKILL at 2 s is not
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_ok("/bin/payload spawn-setsid 5 60 &\n/bin/payload ignore-term 60\n", j);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(r.outcome == Outcome::kTimedOut);
  CHECK(r.stdout_data.find("spawned 5") != std::string::npos);
  CHECK(elapsed < 3s);
  leaks.check();  // no cgroup, so no process of the job survived
}

TEST_CASE("a background process holding stdout does not hang the job") {
  LeakCheck leaks;
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_ok("/bin/payload hold-output 60\n", job(30s));
  CHECK(r.outcome == Outcome::kExited);
  CHECK(r.stdout_data == "parent done\n");
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  leaks.check();
}

TEST_CASE("a job that stops on the grace SIGTERM has still timed out") {
  LeakCheck leaks;
  auto j = job(3s);
  j.grace = 2s;  // SIGTERM at 1 s, which the payload does not ignore
  auto r = run_ok("/bin/payload sleep 60\n", j);
  CHECK(r.outcome == Outcome::kTimedOut);
  CHECK(r.exit_code == -1);
  CHECK(r.stderr_data.find("Execution timeout (3s)") != std::string::npos);
  CHECK(r.wall_time >= 1s);
  CHECK(r.wall_time < 2s);
  leaks.check();
}
