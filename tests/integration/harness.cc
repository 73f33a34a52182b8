#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "bundle/owner.h"
#include "cgroup/cgroup.h"
#include "core/rootless.h"
#include "sys/fs.h"
#include "sys/proc.h"

namespace ociexec::test {

namespace fs = std::filesystem;

const Env& Env::get() {
  static const Env env = [] {
    Env e;
    const char* rt = std::getenv("OCIEXEC_TEST_RUNTIME");
    e.runtime = rt && *rt ? rt : "runc";
    // Rootless with a delegated cgroup, run-rootless.sh names the one it made.
    const char* parent = std::getenv("OCIEXEC_TEST_CGROUP_PARENT");
    e.cgroup_parent = parent && *parent ? parent : fmt::format("ociexec-test-{}", ::getpid());
    char tmpl[] = "/tmp/ociexec-it-XXXXXX";
    e.state_dir = ::mkdtemp(tmpl);
    e.rootfs = OCIEXEC_TEST_ROOTFS;
    e.cli = OCIEXEC_TEST_CLI;
    const char* pool = std::getenv("OCIEXEC_TEST_POOL");
    e.pool = pool && std::string(pool) == "1";
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
  o.init_path = OCIEXEC_TEST_INIT;  // the build's (the pool's, and jobs' with an init)
  if (pool) o.pool_size = 2;
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

Executor executor_with(const std::function<void(ExecutorOptions&)>& change) {
  auto o = Env::get().executor_options();
  change(o);
  auto e = Executor::create(o);
  REQUIRE_MESSAGE(e, (e ? "" : e.error().message));
  return std::move(*e);
}

JobOptions job(std::chrono::milliseconds timeout) {
  JobOptions j;
  j.rootfs = Env::get().rootfs;
  j.timeout = timeout;
  return j;
}

JobCounts& job_counts() {
  static JobCounts counts;
  return counts;
}

Result run_ok(const std::string& script, const JobOptions& options) {
  auto r = executor().run(script, options);
  if (!r) FAIL("executor error: " << r.error().message);
  ++job_counts().total;
  if (r->pooled) ++job_counts().pooled;
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

WrappedCli spawn_wrapped_cli(const std::string& config, const std::string& script) {
  const Env& env = Env::get();
  auto wrapper = sys::ChildProcess::spawn(
      {(env.rootfs / "bin/payload").string(), "subreaper", env.cli.string(), "--config", config,
       "run", "--rootfs", env.rootfs.string(), "-c", script},
      {});
  REQUIRE(wrapper);
  WrappedCli run{std::move(*wrapper), 0};
  for (int i = 0; i < 200 && run.cli == 0; ++i) {
    for (const auto& c : sys::children_of(run.wrapper.pidfd().pid())) run.cli = c.pid;
    if (run.cli == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(run.cli != 0);
  return run;
}

void kill_wrapped_cli(const WrappedCli& run) {
  auto cli = sys::Pidfd::open(run.cli);  // the wrapper's unreaped child: no reuse
  REQUIRE(cli);
  const auto started = sys::process_start_time(run.cli);
  REQUIRE(started);
  REQUIRE(cli->send_signal(SIGKILL));
  for (int i = 0; i < 500 && sys::process_alive(run.cli, *started); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE_FALSE(sys::process_alive(run.cli, *started));
}

bool wait_for_running_container(pid_t owner) {
  using namespace std::chrono_literals;
  for (int i = 0; i < 1500; ++i) {
    std::this_thread::sleep_for(20ms);
    std::error_code ec;
    for (const auto& d : fs::directory_iterator(Env::get().state_dir / "bundles", ec)) {
      auto id_owner = bundle::owner_of(d.path().filename().string());
      if (id_owner && id_owner->pid == owner && fs::exists(d.path() / "init.pid")) return true;
    }
  }
  return false;
}

LoopbackListener::LoopbackListener() {
  fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd_);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd_.get(), 1) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  port_ = ntohs(addr.sin_port);
}

int host_processes_with(const std::string& needle) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    auto cmdline = sys::read_file(e.path() / "cmdline");
    if (!cmdline) continue;
    std::replace(cmdline->begin(), cmdline->end(), '\0', ' ');
    if (cmdline->find(needle) != std::string::npos) ++n;
  }
  return n;
}

unsigned job_uid() {
  return ::geteuid() == 0 || core::caller_user_namespace().full() ? 65534 : 0;
}

JobOptions memory_job(std::uint64_t mib) {
  auto j = job();
  j.limits.memory_bytes = mib * kMiB;
  return j;
}

namespace {

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// Fds the executor holds per pooled container: stdin memfd, stdout and stderr read ends, the
// exec status pipe, the init's pidfd; and with --network private, pasta's pidfd.
constexpr std::size_t kFdsPerPooled = 5;

std::optional<pid_t> read_pid_file(const fs::path& file) {
  auto text = sys::read_file(file);
  pid_t pid = 0;
  if (!text || std::from_chars(text->data(), text->data() + text->size(), pid).ec != std::errc{})
    return std::nullopt;
  return pid;
}

// With the warm pool on, what may exist between jobs: containers created ahead that never
// ran a job (their job dir has the init, or a warm interpreter's loader, but no job file),
// each with its init, our child.
// Waits (bounded) until the pool's background creates are done and the view is stable. The
// bound is generous: a runc create under the VM's emulation takes about a second, and a
// refill of two containers after a job can take several; a view taken mid-create would count
// that container's fds as the test's own (issue 18's CI run: "fds leaked", 5 == 13).
struct PoolView {
  std::set<std::string> ids;
  std::set<pid_t> inits;
  std::set<pid_t> pastas;  // a pooled container's network, our child too
  std::size_t fds = 0;
  bool settled = false;
  bool operator==(const PoolView& o) const {
    return ids == o.ids && inits == o.inits && pastas == o.pastas && fds == o.fds;
  }

  static PoolView settle() {
    const Env& env = Env::get();
    PoolView last;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < give_up) {
      PoolView v;
      bool busy = false;
      for (const auto& id : entries(env.state_dir / "bundles")) {
        const fs::path b = env.state_dir / "bundles" / id;
        auto pid = read_pid_file(b / "init.pid");
        if (!pid) {
          // Being created: its fds may be open already, its pid file not yet (or not whole).
          busy = true;
          continue;
        }
        const bool pooled = (fs::exists(b / "job/init") || fs::exists(b / "job/warm.py")) &&
                            !fs::exists(b / "job/job");
        if (!pooled) continue;  // a job's container: the leak checks report it
        v.ids.insert(id);
        v.inits.insert(*pid);
        if (fs::exists(b / "netns")) {
          auto pasta = read_pid_file(b / "pasta.pid");
          if (!pasta)
            busy = true;  // its pasta being started
          else
            v.pastas.insert(*pasta);
        }
      }
      for (const auto& c : sys::children_of(::getpid()))
        if (!v.inits.count(c.pid) && !v.pastas.count(c.pid)) busy = true;  // a runtime at work
      v.fds = sys::open_fd_count();
      if (!busy && v == last) {
        v.settled = true;
        return v;
      }
      last = std::move(v);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return last;
  }
  [[nodiscard]] std::size_t own_fds() const {
    return fds - kFdsPerPooled * ids.size() - pastas.size();
  }
};

}  // namespace

namespace {

// The pool once it settled; a view that never settled would compare a create's fds.
PoolView settled_pool() {
  PoolView view = PoolView::settle();
  CHECK_MESSAGE(view.settled, "the warm pool did not settle within 60 s");
  return view;
}

}  // namespace

LeakCheck::LeakCheck()
    : fds_(Env::get().pool ? settled_pool().own_fds() : sys::open_fd_count()) {}

void LeakCheck::check() const {
  const Env& env = Env::get();
  const PoolView pool = env.pool ? settled_pool() : PoolView{};
  auto not_pooled = [&pool](std::vector<std::string> ids) {
    std::erase_if(ids, [&pool](const std::string& id) { return pool.ids.count(id) > 0; });
    return ids;
  };
  CHECK_MESSAGE(not_pooled(entries(env.state_dir / "bundles")).empty(), "bundle dirs left behind");
  for (const auto& rt : entries(env.state_dir / "runtime"))
    CHECK_MESSAGE(not_pooled(entries(env.state_dir / "runtime" / rt)).empty(),
                  "container state left in " << rt);
  auto layout = cgroup::detect_layout();
  REQUIRE(layout);
  auto cgroups = not_pooled(cgroup::list_job_cgroups(*layout, env.cgroup_parent));
  // A delegated parent holds the user's own cgroups too (the test's session scope): only
  // containers' count.
  std::erase_if(cgroups, [](const std::string& id) { return !bundle::owner_of(id); });
  CHECK_MESSAGE(cgroups.empty(), "cgroups left behind: " << (cgroups.empty() ? "" : cgroups[0]));
  // The parent itself is the executor's, kept while it lives (parent_test.cc checks that the
  // last executor out removes it).
  auto mountinfo = sys::read_file("/proc/self/mountinfo");
  REQUIRE(mountinfo);
  auto mounts =
      sys::mount_points_below(sys::parse_mountinfo(*mountinfo), env.state_dir / "bundles");
  std::erase_if(mounts, [&](const std::string& m) {  // a pooled container's network namespace
    for (const auto& id : pool.ids)
      if (m == (env.state_dir / "bundles" / id / "netns").string()) return true;
    return false;
  });
  CHECK_MESSAGE(mounts.empty(), "mounts left behind: " << (mounts.empty() ? "" : mounts[0]));
  auto children = sys::children_of(::getpid());
  std::erase_if(children, [&pool](const auto& c) {
    return pool.inits.count(c.pid) > 0 || pool.pastas.count(c.pid) > 0;
  });
  CHECK_MESSAGE(children.empty(),
                "child processes left behind: " << children.size()
                                                << (children.empty()     ? ""
                                                    : children[0].zombie ? " (zombie)"
                                                                         : ""));
  const std::size_t fds = env.pool ? pool.own_fds() : sys::open_fd_count();
  CHECK_MESSAGE(fds == fds_, "fds leaked");
  ++job_counts().leak_checks;
  const bool clean = not_pooled(entries(env.state_dir / "bundles")).empty() && cgroups.empty() &&
                     children.empty() && fds == fds_;
  if (!clean) ++job_counts().leak_checks_dirty;
}

}  // namespace ociexec::test
