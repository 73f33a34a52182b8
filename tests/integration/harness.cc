#include "harness.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "cgroup/cgroup.h"
#include "sys/fs.h"
#include "sys/proc.h"

namespace ociexec::test {

namespace fs = std::filesystem;

const Env& Env::get() {
  static const Env env = [] {
    Env e;
    const char* rt = std::getenv("OCIEXEC_TEST_RUNTIME");
    e.runtime = rt && *rt ? rt : "runc";
    e.cgroup_parent = fmt::format("ociexec-test-{}", ::getpid());
    char tmpl[] = "/tmp/ociexec-it-XXXXXX";
    e.state_dir = ::mkdtemp(tmpl);
    e.rootfs = OCIEXEC_TEST_ROOTFS;
    e.cli = OCIEXEC_TEST_CLI;
    return e;
  }();
  return env;
}

ExecutorOptions Env::executor_options() const {
  ExecutorOptions o;
  o.state_dir = state_dir;
  o.cgroup_parent = cgroup_parent;
  o.runtime = runtime;
  o.runtime_timeout = std::chrono::seconds(20);
  return o;
}

const Executor& executor() {
  static const Executor exec = [] {
    auto e = Executor::create(Env::get().executor_options());
    if (!e) {
      fmt::print(stderr, "cannot create the executor: {}\n", e.error().message);
      std::exit(1);
    }
    return std::move(*e);
  }();
  return exec;
}

JobOptions job(std::chrono::milliseconds timeout) {
  JobOptions j;
  j.rootfs = Env::get().rootfs;
  j.timeout = timeout;
  return j;
}

Result run_ok(const std::string& script, const JobOptions& options) {
  auto r = executor().run(script, options);
  if (!r) FAIL("executor error: " << r.error().message);
  return std::move(*r);
}

std::string write_cli_config(const std::string& name) {
  const Env& env = Env::get();
  const std::string path = (env.state_dir / name).string();
  std::ofstream f(path);
  f << "state_dir: " << env.state_dir.string() << "\ncgroup_parent: " << env.cgroup_parent
    << "\nruntime: " << env.runtime << "\n";
  return path;
}

ociexec::sys::ChildProcess spawn_cli_job(const std::string& config, const std::string& script) {
  const Env& env = Env::get();
  auto cli = sys::ChildProcess::spawn(
      {env.cli.string(), "--config", config, "run", "--rootfs", env.rootfs.string(), "-c", script},
      {});
  if (!cli) FAIL("spawn the CLI: " << cli.error().message);
  return std::move(*cli);
}

bool wait_for_running_container() {
  using namespace std::chrono_literals;
  for (int i = 0; i < 200; ++i) {
    std::this_thread::sleep_for(20ms);
    std::error_code ec;
    for (const auto& d : fs::directory_iterator(Env::get().state_dir / "bundles", ec))
      if (fs::exists(d.path() / "init.pid")) return true;
  }
  return false;
}

JobOptions memory_job(std::uint64_t mib) {
  auto j = job();
  j.limits.memory_bytes = mib * kMiB;
  return j;
}

LeakCheck::LeakCheck() : fds_(sys::open_fd_count()) {}

void LeakCheck::check() const {
  const Env& env = Env::get();
  auto entries = [](const fs::path& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename());
    return names;
  };
  CHECK_MESSAGE(entries(env.state_dir / "bundles").empty(), "bundle dirs left behind");
  for (const auto& rt : entries(env.state_dir / "runtime"))
    CHECK_MESSAGE(entries(env.state_dir / "runtime" / rt).empty(),
                  "container state left in " << rt);
  auto layout = cgroup::detect_layout();
  REQUIRE(layout);
  auto cgroups = cgroup::list_job_cgroups(*layout, env.cgroup_parent);
  CHECK_MESSAGE(cgroups.empty(), "cgroups left behind: " << (cgroups.empty() ? "" : cgroups[0]));
  // The parent itself is the executor's, kept while it lives (parent_test.cc checks that the
  // last executor out removes it).
  auto mountinfo = sys::read_file("/proc/self/mountinfo");
  REQUIRE(mountinfo);
  CHECK_MESSAGE(
      sys::mount_points_below(sys::parse_mountinfo(*mountinfo), env.state_dir / "bundles").empty(),
      "mounts left behind");
  auto children = sys::children_of(::getpid());
  CHECK_MESSAGE(children.empty(),
                "child processes left behind: " << children.size()
                                                << (children.empty()     ? ""
                                                    : children[0].zombie ? " (zombie)"
                                                                         : ""));
  CHECK_MESSAGE(sys::open_fd_count() == fds_, "fds leaked");
}

}  // namespace ociexec::test
