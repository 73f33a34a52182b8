#include "contenders.h"

#include <atomic>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "cgroup/cgroup.h"
#include "runtime/runtime.h"
#include "spec/spec_builder.h"
#include "sys/fs.h"
#include "sys/mount_ns.h"
#include "sys/process.h"

namespace ociexec::bench {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr int kWorkers = 8;

void check(const Expected<sys::CommandOutput>& r, const std::string& who) {
  if (!r) throw std::runtime_error(who + ": " + r.error().message);
  if (r->status.signaled || r->status.code != 0)
    throw std::runtime_error(
        fmt::format("{}: exit {}: {}", who, r->status.shell_code(), r->output));
}

std::string etc_of(const Setup& s) {
  return (fs::path(s.host_view.root_path).parent_path() / "etc").string();
}

// One bundle per job kind and worker, each with its own cgroup: the config.json the executor
// writes for the same job, mounts included (the script dir at /.ociexec, tmpfs /tmp and
// /work), so the comparison is with a bare run of the same bundle.
fs::path make_bundle(const Setup& s, const std::string& runtime, Job job, int worker) {
  fs::path dir = s.work / fmt::format("bundle-{}-{}-{}", runtime, static_cast<int>(job), worker);
  (void)sys::make_dirs(dir / "job", 0755);
  (void)sys::remove_tree(dir / "job" / "script");
  (void)sys::write_new_file(dir / "job" / "script", "", 0444);
  spec::SpecInput in;
  in.args = command_of(job);
  in.cwd = JobOptions{}.workdir;
  in.tmpfs_bytes = Limits{}.tmpfs_bytes;
  in.memory_bytes = Limits{}.memory_bytes;
  in.pids = Limits{}.pids;
  in.nofile_hard_limit = 1024;
  in.cgroups_path =
      fmt::format("/{}/{}-{}-{}", kBareCgroupParent, runtime, static_cast<int>(job), worker);
  if (job == Job::kTrue) {
    in.rootfs_path = s.rootfs.string();
  } else {
    in.rootfs_path = s.host_view.root_path;
    in.readonly_binds = s.host_view.readonly_binds;
  }
  in.readonly_binds.push_back({(dir / "job").string(), "/.ociexec"});
  auto spec = spec::build_spec(in);
  if (!spec) throw std::runtime_error(spec.error().message);
  (void)sys::remove_tree(dir / "config.json");
  if (auto r = sys::write_new_file(dir / "config.json", spec->dump()); !r)
    throw std::runtime_error(r.error().message);
  return dir;
}

std::string resolve(const std::string& name) {
  auto path = sys::find_executable(name);
  if (!path) throw std::runtime_error(name + " not found (scripts/bench.sh installs it)");
  return *path;
}

}  // namespace

std::vector<std::string> command_of(Job job) {
  if (job == Job::kTrue) return {"/bin/true"};
  return {"/usr/bin/python3", "-c", "print('hello')"};
}

Contender bare_runtime(const Setup& s, const std::string& runtime) {
  auto path = std::optional<std::string>(resolve(runtime));
  std::vector<fs::path> bundles;
  for (Job job : {Job::kTrue, Job::kPython})
    for (int w = 0; w < kWorkers; ++w) bundles.push_back(make_bundle(s, runtime, job, w));
  auto counter = std::make_shared<std::atomic<int>>(0);
  const std::string root = (s.work / ("root-" + runtime)).string();
  // Where crun refuses the host (hybrid cgroups), it runs as ociexec runs it: joining a mount
  // namespace without the cgroup2 mount, made once.
  std::shared_ptr<sys::UniqueFd> ns;
  auto layout = cgroup::detect_layout();
  if (layout && runtime::needs_private_mount_ns(runtime, *layout)) {
    auto fd = sys::mount_namespace_without(layout->find_v2()->mount_point);
    if (!fd) throw std::runtime_error(fd.error().message);
    ns = std::make_shared<sys::UniqueFd>(std::move(*fd));
  }
  return {fmt::format("bare {} run", runtime), [=](Job job, int worker) {
            const auto& bundle =
                bundles[static_cast<std::size_t>(static_cast<int>(job) * kWorkers + worker)];
            auto r = sys::run_command({*path, "--root", root, "run", "--bundle", bundle.string(),
                                       fmt::format("b{}", (*counter)++)},
                                      60s, ns ? ns->get() : -1);
            check(r, runtime + " run");
          }};
}

Contender library(const Executor& exec, const Setup& s) {
  JobOptions true_job;
  true_job.rootfs = s.rootfs;
  true_job.interpreter = command_of(Job::kTrue);
  JobOptions py_job;  // the built-in host view
  py_job.interpreter = command_of(Job::kPython);
  return {fmt::format("ociexec library ({})", exec.runtime().name),
          [&exec, true_job, py_job](Job job, int) {
            auto r = exec.run("", job == Job::kTrue ? true_job : py_job);
            if (!r) throw std::runtime_error("library: " + r.error().message);
            if (r->exit_code != 0) throw std::runtime_error("library: " + r->stderr_data);
          }};
}

Contender cli(const Setup& s, const std::string& runtime) {
  const std::string state = (s.work / "cli-state").string();
  return {
      fmt::format("ociexec CLI ({})", runtime), [=](Job job, int) {
        std::vector<std::string> argv{s.cli.string(), "--state-dir", state,
                                      "run",          "--runtime",   runtime};
        if (job == Job::kTrue)
          argv.insert(argv.end(), {"--rootfs", s.rootfs.string(), "--interpreter", "/bin/true"});
        else
          argv.insert(argv.end(), {"--interpreter", "/usr/bin/python3 -c print('hello')"});
        argv.insert(argv.end(), {"-c", ""});
        check(sys::run_command(argv, 60s), "ociexec run");
      }};
}

Contender podman(const Setup& s) {
  // As issue 6 prescribes for this host: runc, and rlimits within the hard limits.
  const std::vector<std::string> base{
      resolve("podman"), "run",  "--rm",     "--network",          "none",
      "--runtime",       "runc", "--ulimit", "nofile=20000:20000", "--ulimit",
      "nproc=4096:4096"};
  const std::string etc = etc_of(s);
  auto settle = [] {
    // `podman run --rm` returns before conmon and `podman container cleanup` are done.
    for (int i = 0; i < 200; ++i) {
      bool busy = false;
      for (const auto& e : fs::directory_iterator("/proc")) {
        auto comm = sys::read_file(e.path() / "comm");
        if (comm && (comm->rfind("conmon", 0) == 0 || comm->rfind("podman", 0) == 0)) busy = true;
        if (busy) break;
      }
      if (!busy) return;
      std::this_thread::sleep_for(10ms);
    }
  };
  return {"podman run --rm",
          [=](Job job, int) {
            auto argv = base;
            if (job == Job::kTrue) {
              argv.push_back(s.podman_image);
            } else {
              argv.insert(argv.end(), {"-v", "/usr:/usr:ro", "-v", etc + ":/etc:ro", "--rootfs",
                                       s.host_view.root_path});
            }
            for (const auto& a : command_of(job)) argv.push_back(a);
            check(sys::run_command(argv, 60s), "podman run");
          },
          settle};
}

Contender bwrap(const Setup& s) {
  const std::string etc = etc_of(s);
  const std::string bwrap_path = resolve("bwrap");
  return {"bwrap (no cgroups)", [=](Job job, int) {
            std::vector<std::string> argv{bwrap_path, "--unshare-all", "--die-with-parent"};
            if (job == Job::kTrue) {
              argv.insert(argv.end(), {"--ro-bind", s.rootfs.string(), "/"});
            } else {
              argv.insert(argv.end(),
                          {"--ro-bind", "/usr",      "/usr",      "--symlink", "usr/bin",
                           "/bin",      "--symlink", "usr/lib",   "/lib",      "--symlink",
                           "usr/lib64", "/lib64",    "--symlink", "usr/sbin",  "/sbin",
                           "--ro-bind", etc,         "/etc",      "--tmpfs",   "/tmp"});
            }
            argv.insert(argv.end(), {"--proc", "/proc", "--dev", "/dev"});
            for (const auto& a : command_of(job)) argv.push_back(a);
            check(sys::run_command(argv, 60s), "bwrap");
          }};
}

}  // namespace ociexec::bench
