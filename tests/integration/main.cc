// Integration tests: real runtimes, as root. A prerequisite that is truly absent skips the
// run with a reason (exit 77, which CTest reports as skipped), except under CI=true, where
// every prerequisite must be present and a missing one fails the run.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "harness.h"
#include "sys/fs.h"
#include "sys/process.h"

namespace {

std::string missing_prerequisite() {
  const auto& env = ociexec::test::Env::get();
  const char* rootless = std::getenv("OCIEXEC_TEST_ROOTLESS");
  if (rootless && std::string(rootless) == "1") {
    if (::geteuid() == 0) return "the rootless suite must run as an unprivileged user";
  } else if (::geteuid() != 0) {
    return "integration tests need root";
  }
  if (!ociexec::sys::find_executable(env.runtime))
    return fmt::format("runtime {} is not installed (run scripts/install-deps.sh)", env.runtime);
  if (::access((env.rootfs / "bin/payload").c_str(), X_OK) != 0)
    return fmt::format("test rootfs {} is missing; build the tests first", env.rootfs.string());
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  const auto& env = ociexec::test::Env::get();
  if (auto why = missing_prerequisite(); !why.empty()) {
    const char* ci = std::getenv("CI");
    bool in_ci = ci && std::string(ci) == "true";
    fmt::print(stderr, "{}: {}\n", in_ci ? "FAILED (CI needs every prerequisite)" : "SKIPPED", why);
    (void)ociexec::sys::remove_tree(env.state_dir);
    return in_ci ? 1 : 77;
  }
  fmt::print("integration tests with runtime {} (state {}, cgroup parent {})\n", env.runtime,
             env.state_dir.string(), env.cgroup_parent);
  // A first job on the shared executor: it keeps the cgroup parent open from its first job
  // on, and the leak checks must not count that fd as leaked.
  if (auto r = ociexec::test::executor().run("true\n", ociexec::test::job()); !r) {
    fmt::print(stderr, "the first job failed: {}\n", r.error().message);
    return 1;
  }
  doctest::Context context(argc, argv);
  int rc = context.run();
  const auto& counts = ociexec::test::job_counts();
  fmt::print("summary: {} jobs, {} escape attempts ({} blocked as asserted), {} leak checks: {}\n",
             counts.total.load(), counts.escapes_tried.load(), counts.escapes_blocked.load(),
             counts.leak_checks.load(),
             counts.leak_checks_dirty ? fmt::format("{} found something left behind",
                                                    counts.leak_checks_dirty.load())
                                      : std::string("nothing left behind"));
  if (env.pool) {
    // The pool refills between cases, so most jobs must have taken a pooled container:
    // otherwise this run tested the cold path again.
    fmt::print("{} of {} jobs ran in warm-pool containers\n", counts.pooled.load(),
               counts.total.load());
    if (counts.pooled * 2 < counts.total) {
      fmt::print(stderr, "FAILED: fewer than half of the jobs were pooled\n");
      rc = rc ? rc : 1;
    }
  }
  (void)ociexec::sys::remove_tree(env.state_dir);
  return rc;
}
