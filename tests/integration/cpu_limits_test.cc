// --cpu-time and --cpuset-cpus (Limits::cpu_time, Limits::cpuset_cpus): enforced from the
// job's cgroup, cold and pooled, on cgroup v1 and v2; refused rootless where no cgroup of the
// user's can enforce them, and bad values refused before anything is made.
#include <unistd.h>

#include <algorithm>

#include "harness.h"
#include "cgroup/cgroup.h"
#include "cgroup/parsers.h"
#include "core/host.h"

using namespace std::chrono_literals;
using ociexec::ErrorKind;
using ociexec::Outcome;
using namespace ociexec::test;

namespace {

bool as_rootless() {
  return ::geteuid() != 0;
}

// Whether this executor can enforce `controller` ("cpuset") or CPU time (""): as root always;
// rootless, where the cgroup delegated to the user has it (run-rootless.sh's and the VM's
// delegated runs).
bool enforceable(std::string_view controller) {
  if (!as_rootless()) return true;
  auto host = ociexec::core::HostFacts::detect(Env::get().cgroup_parent);
  REQUIRE(host);
  return controller.empty() ? ociexec::cgroup::accounts_cpu_time(host->job_layout)
                            : ociexec::cgroup::has_controller(host->job_layout, controller);
}

// The CPUs this process may use, as the job sees them unconfined ("0-1").
std::vector<unsigned> allowed_cpus() {
  auto host = ociexec::core::HostFacts::detect(Env::get().cgroup_parent);
  REQUIRE(host);
  return host->allowed_cpus;
}

std::string cpus_allowed_line(const std::string& list) {
  return "Cpus_allowed_list:\t" + list + "\n";
}

}  // namespace

TEST_CASE("cpu time: a job past its CPU time is killed, its children too; one under it is not") {
  LeakCheck leaks;
  if (!enforceable("")) {
    auto j = job();
    j.limits.cpu_time = 300ms;
    auto refused = executor().run("true\n", j);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().kind == ErrorKind::kLimitNotEnforced);
    CHECK(refused.error().message.find("cpu_time 0.3s: cannot be enforced rootless") !=
          std::string::npos);
    j.allow_unenforced_limits = true;
    auto allowed = run_ok("true\n", j);
    CHECK(allowed.outcome == Outcome::kExited);
    CHECK(std::find(allowed.limits.unenforced.begin(), allowed.limits.unenforced.end(),
                    "cpu_time") != allowed.limits.unenforced.end());
    leaks.check();
    return;
  }
  for (bool init : {false, true}) {
    CAPTURE(init);
    auto j = job(60s);
    j.init = init;
    // 1 s: under the VM suites' emulated CPU, the init and the shell's start alone once took
    // more than 300 ms of CPU time, before the first echo.
    j.limits.cpu_time = 1s;
    // A busy shell and a busy child of it: the limit counts the whole job's CPU time.
    auto r = run_ok("echo started; (while :; do :; done) & while :; do :; done\n", j);
    CHECK(r.outcome == Outcome::kCpuTimeExceeded);
    CHECK(r.exit_code == -1);
    CHECK(r.stdout_data == "started\n");
    CHECK(r.stderr_data.find("CPU time limit exceeded (1s): ") != std::string::npos);
    REQUIRE(r.cpu_time);
    CHECK(*r.cpu_time >= 1s);
    CHECK(r.wall_time < 30s);  // the CPU time, not the 60 s timeout, ended it
    REQUIRE(r.limits.cpu_time);
    CHECK(*r.limits.cpu_time == 1s);
  }
  // Sleeping spends no CPU time: a 1 s sleep under a 300 ms CPU-time limit ends by itself.
  auto j = job();
  j.limits.cpu_time = 300ms;
  auto idle = run_ok("/bin/payload sleep 1; echo done\n", j);
  CHECK(idle.outcome == Outcome::kExited);
  CHECK(idle.exit_code == 0);
  CHECK(idle.stdout_data == "done\n");
  CHECK(idle.stderr_data.empty());
  // The wall-clock timeout still holds, and comes first for a job that waits.
  j = job(1s);
  j.limits.cpu_time = 10s;
  auto late = run_ok("/bin/payload sleep 60\n", j);
  CHECK(late.outcome == Outcome::kTimedOut);
  CHECK(late.exit_code == -1);
  leaks.check();
}

TEST_CASE("cpuset: the job runs on the CPUs it names, and the next job on all again") {
  LeakCheck leaks;
  const auto all = allowed_cpus();
  const std::string last = std::to_string(all.back());
  auto j = job();
  j.limits.cpuset_cpus = last + "," + last;  // normalized to one
  const std::string script = "grep Cpus_allowed_list /proc/self/status\n";
  if (!enforceable("cpuset")) {
    auto refused = executor().run(script, j);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().kind == ErrorKind::kLimitNotEnforced);
    CHECK(refused.error().message.find("cpuset_cpus " + last + "," + last) != std::string::npos);
    j.allow_unenforced_limits = true;
    auto allowed = run_ok(script, j);
    CHECK(allowed.stdout_data == cpus_allowed_line(ociexec::cgroup::format_cpu_list(all)));
    leaks.check();
    return;
  }
  // Twice: with the warm pool, the second is a pooled container the cpuset is written to.
  for (int i = 0; i < 2; ++i) {
    auto r = run_ok(script, j);
    CHECK(r.exit_code == 0);
    CHECK(r.stdout_data == cpus_allowed_line(last));
    REQUIRE(r.limits.cpuset_cpus);
    CHECK(*r.limits.cpuset_cpus == last);
  }
  // A job without one runs on every CPU (a pooled container is never made with a cpuset).
  for (int i = 0; i < 2; ++i) {
    auto r = run_ok(script, job());
    CHECK(r.stdout_data == cpus_allowed_line(ociexec::cgroup::format_cpu_list(all)));
    CHECK_FALSE(r.limits.cpuset_cpus);
  }
  leaks.check();
}

TEST_CASE("cpu limits: bad values are refused before anything is made") {
  LeakCheck leaks;
  struct Case {
    std::optional<std::string> cpuset;
    std::optional<std::chrono::milliseconds> cpu_time;
    std::string names;
  };
  const Case cases[] = {
      {"", std::nullopt, "cpuset-cpus \"\": expected a CPU list"},
      {"1-0", std::nullopt, "expected a CPU list such as 0-3,8"},
      {"0,x", std::nullopt, "expected a CPU list"},
      {"8191", std::nullopt, "CPU 8191 is not one this host lets jobs use"},
      {std::nullopt, 0ms, "cpu time 0s: must be positive"},
      {std::nullopt, -5ms, "must be positive"},
      {std::nullopt, ociexec::kMaxDuration + 1ms, "at most 365 days"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.names);
    auto j = job();
    j.limits.cpuset_cpus = c.cpuset;
    j.limits.cpu_time = c.cpu_time;
    auto r = executor().run("true\n", j);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::kInvalidArgument);
    CHECK(r.error().message.find(c.names) != std::string::npos);
  }
  leaks.check();
}
