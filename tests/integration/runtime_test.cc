// Runtime selection and crun on hybrid hosts: "auto" prefers crun where it can run, and on a
// hybrid host crun runs in the executor's own mount namespace, never changing the host's.
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "harness.h"
#include "runtime/runtime.h"
#include "sys/fs.h"
#include "sys/mount_ns.h"
#include "sys/process.h"

using namespace ociexec::test;
using namespace std::chrono_literals;

TEST_CASE("auto picks crun, which runs here (through a private mount namespace if hybrid)") {
  LeakCheck leaks;
  auto layout = ociexec::cgroup::detect_layout();
  REQUIRE(layout);
  auto o = Env::get().executor_options();
  o.runtime = "auto";
  {
    auto exec = ociexec::Executor::create(o);
    REQUIRE_MESSAGE(exec, (exec ? "" : exec.error().message));
    CHECK(exec->runtime().name == "crun");
    CHECK(exec->runtime().private_mount_ns ==
          ociexec::runtime::needs_private_mount_ns("crun", *layout));
    auto r = exec->run("echo ok; cat /proc/self/cgroup\n", job());
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->exit_code == 0);
    if (layout->mode == ociexec::cgroup::Mode::kV2) {
      CHECK(r->stdout_data == "ok\n0::/\n");  // the root of its own cgroup namespace
    } else {
      CHECK(r->stdout_data.rfind("ok\n", 0) == 0);  // and in a memory cgroup of its own
      CHECK(r->stdout_data.find(":memory:/") != std::string::npos);
    }
    CHECK(r->peak_memory_bytes.has_value());  // crun made the memory cgroup we read
  }
  leaks.check();
}

namespace {

// Only a hybrid host has a cgroup2 mount beside the v1 hierarchies for crun to be kept from.
bool hybrid_host() {
  auto layout = ociexec::cgroup::detect_layout();
  return layout && layout->mode == ociexec::cgroup::Mode::kHybrid && layout->find_v2();
}

}  // namespace

TEST_CASE("the private mount namespace hides the cgroup2 mount from the runtime only" *
          doctest::skip(!hybrid_host()) *
          doctest::description("skipped where the host is not hybrid: crun needs no namespace")) {
  LeakCheck leaks;
  auto layout = ociexec::cgroup::detect_layout();
  REQUIRE(layout);
  const auto* v2 = layout->find_v2();
  REQUIRE(v2);
  auto before = ociexec::sys::read_file("/proc/self/mountinfo");
  REQUIRE(before);
  {
    auto ns = ociexec::sys::mount_namespace_without(v2->mount_point);
    REQUIRE_MESSAGE(ns, (ns ? "" : ns.error().message));
    auto inside = ociexec::sys::run_command({"/bin/cat", "/proc/self/mountinfo"}, 10s, *ns);
    REQUIRE(inside);
    CHECK(inside->status.code == 0);
    const std::string needle = " " + v2->mount_point + " ";
    CHECK(inside->output.find(" /sys/fs/cgroup/memory ") != std::string::npos);
    CHECK_MESSAGE(inside->output.find(needle) == std::string::npos, "cgroup2 mount still there");
    auto after = ociexec::sys::read_file("/proc/self/mountinfo");
    REQUIRE(after);
    CHECK_MESSAGE(after->find(needle) != std::string::npos, "the host lost its cgroup2 mount");
    CHECK(*after == *before);
  }
  leaks.check();
}
