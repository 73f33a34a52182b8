#include "contenders.h"

#include <atomic>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cgroup/cgroup.h"
#include "runtime/runtime.h"
#include "runtime/seccomp_cache.h"
#include "spec/spec_builder.h"
#include "sys/fs.h"
#include "sys/mount_ns.h"
#include "sys/process.h"
#include "util/text.h"

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

// The program crun compiles for `bundle`'s seccomp section, from its state after a create.
std::string crun_seccomp_program(const std::string& crun, const std::string& root,
                                 const fs::path& bundle, sys::FdRef ns) {
  const std::string id = "seccomp-probe";
  check(sys::run_command({crun, "--root", root, "create", "--bundle", bundle.string(), id}, 60s,
                         ns),
        "crun create");
  auto program = sys::read_file(fs::path(root) / id / "seccomp.bpf");
  check(sys::run_command({crun, "--root", root, "delete", "--force", id}, 60s, ns), "crun delete");
  if (!program || program->empty()) throw std::runtime_error("crun left no seccomp.bpf");
  return *program;
}

// The bundle's config with `program` in crun's annotation instead of its seccomp section.
void use_cached_seccomp(const fs::path& bundle, const std::string& program) {
  auto spec = nlohmann::json::parse(*sys::read_file(bundle / "config.json"));
  spec["linux"].erase("seccomp");
  spec["annotations"][runtime::kSeccompBpfAnnotation] = text::base64_encode(program);
  (void)sys::remove_tree(bundle / "config.json");
  if (auto r = sys::write_new_file(bundle / "config.json", spec.dump()); !r)
    throw std::runtime_error(r.error().message);
}

}  // namespace

std::vector<std::string> command_of(Job job) {
  if (job == Job::kPython) return {"/usr/bin/python3", "-c", "print('hello')"};
  return {"/bin/true"};
}

Contender bare_runtime(const Setup& s, const std::string& runtime, bool cached_seccomp) {
  auto path = std::optional<std::string>(resolve(runtime));
  const std::string variant = cached_seccomp ? runtime + "-cached" : runtime;
  std::vector<fs::path> bundles;
  for (Job job : {Job::kTrue, Job::kPython})
    for (int w = 0; w < kWorkers; ++w) bundles.push_back(make_bundle(s, variant, job, w));
  auto counter = std::make_shared<std::atomic<int>>(0);
  const std::string root = (s.work / ("root-" + variant)).string();
  // Where crun refuses the host (hybrid cgroups), it runs as ociexec runs it: joining a mount
  // namespace without the cgroup2 mount, made once.
  std::shared_ptr<sys::UniqueFd> ns;
  auto layout = cgroup::detect_layout();
  if (layout && runtime::needs_private_mount_ns(runtime, *layout)) {
    auto fd = sys::mount_namespace_without(layout->find_v2()->mount_point);
    if (!fd) throw std::runtime_error(fd.error().message);
    ns = std::make_shared<sys::UniqueFd>(std::move(*fd));
  }
  if (cached_seccomp) {
    // Every bundle has the same seccomp section: one program serves them all.
    const std::string program =
        crun_seccomp_program(*path, root, bundles.front(), ns ? sys::FdRef(*ns) : sys::FdRef());
    for (const auto& b : bundles) use_cached_seccomp(b, program);
  }
  return {cached_seccomp ? fmt::format("bare {} run (cached seccomp)", runtime)
                        : fmt::format("bare {} run", runtime),
          [=](Job job, int worker) {
            const auto& bundle =
                bundles[static_cast<std::size_t>(static_cast<int>(job) * kWorkers + worker)];
            auto r = sys::run_command({*path, "--root", root, "run", "--bundle", bundle.string(),
                                       fmt::format("b{}", (*counter)++)},
                                      60s, ns ? sys::FdRef(*ns) : sys::FdRef());
            check(r, runtime + " run");
          }};
}

Contender library(const Executor& exec, const Setup& s) {
  JobOptions true_job;
  true_job.rootfs = s.rootfs;
  true_job.interpreter = command_of(Job::kTrue);
  JobOptions py_job;  // the built-in host view
  py_job.interpreter = command_of(Job::kPython);
  JobOptions image_job;  // the image, pulled into the executor's store beforehand
  image_job.image = s.image;
  image_job.pull = PullPolicy::kNever;
  image_job.interpreter = command_of(Job::kImage);
  return {fmt::format("ociexec library ({})", exec.runtime().name),
          [&exec, true_job, py_job, image_job](Job job, int) {
            auto r = exec.run("", job == Job::kTrue     ? true_job
                                  : job == Job::kPython ? py_job
                                                        : image_job);
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
            if (job == Job::kImage) {
              argv.push_back(s.podman_image);
            } else if (job == Job::kTrue) {
              argv.insert(argv.end(), {"--rootfs", s.rootfs.string()});  // the same directory
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
