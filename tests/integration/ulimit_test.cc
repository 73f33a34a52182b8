// --ulimit (JobOptions::ulimit): resource limits reach every process of the job, cold and
// pooled, and a hard limit the executor cannot grant is refused before anything is made.
#include <unistd.h>

#include <csignal>

#include "harness.h"
#include "sys/rlimit.h"

using namespace std::chrono_literals;
using ociexec::Outcome;
using ociexec::Ulimit;
using namespace ociexec::test;

TEST_CASE("ulimit: nofile and fsize reach the job, and a file past fsize is refused") {
  LeakCheck leaks;
  auto j = job();
  j.ulimit = {{"nofile", 64, 128}, {"fsize", 1 << 20, 1 << 20}, {"nofile", 100, 200}};
  // The last nofile wins. A write past fsize kills the writer with SIGXFSZ (shell: 128+25).
  auto r = run_ok(
      "grep -E '^Max (open files|file size)' /proc/self/limits\n"
      "/bin/payload write /tmp/big 2097152; echo \"write $?\"\n"
      "/bin/payload write /tmp/small 1000\n",
      j);
  CHECK(r.outcome == Outcome::kExited);
  CHECK(r.stdout_data.find("Max file size             1048576              1048576") !=
        std::string::npos);
  CHECK(r.stdout_data.find("Max open files            100                  200") !=
        std::string::npos);
  CHECK(r.stdout_data.find(fmt::format("write {}\n", 128 + SIGXFSZ)) != std::string::npos);
  CHECK(r.stdout_data.find("wrote 1000\n") != std::string::npos);
  REQUIRE(r.limits.ulimit.size() == 2);  // one per name, by name
  CHECK(r.limits.ulimit[0] == Ulimit{"fsize", 1 << 20, 1 << 20});
  CHECK(r.limits.ulimit[1] == Ulimit{"nofile", 100, 200});
  // Without: the base profile's 1024 open files.
  auto plain = run_ok("grep '^Max open files' /proc/self/limits\n", job());
  CHECK(plain.stdout_data.find("Max open files            1024                 1024") !=
        std::string::npos);
  leaks.check();
}

TEST_CASE("ulimit: a hard limit above the executor's is granted only with CAP_SYS_RESOURCE") {
  LeakCheck leaks;
  const auto hard = ociexec::sys::hard_rlimit("nofile");
  REQUIRE(hard);
  if (*hard == ociexec::kUnlimitedRlimit) {
    MESSAGE("this host's hard RLIMIT_NOFILE is unlimited: nothing is above it");
    leaks.check();
    return;
  }
  auto j = job();
  j.ulimit = {{"nofile", 64, *hard + 1}};
  auto r = executor().run("grep '^Max open files' /proc/self/limits\n", j);
  if (ociexec::sys::can_raise_rlimits() && ::geteuid() == 0) {
    REQUIRE(r);
    CHECK(r->stdout_data.find(std::to_string(*hard + 1)) != std::string::npos);
  } else {
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ociexec::ErrorKind::kInvalidArgument);
    CHECK(r.error().message.find("only CAP_SYS_RESOURCE may raise") != std::string::npos);
    CHECK(r.error().message.find(fmt::format("ask for at most {}", *hard)) != std::string::npos);
  }
  leaks.check();
}
