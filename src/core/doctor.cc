#include "core/doctor.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>

#include <fmt/format.h>

#include "cgroup/cgroup.h"
#include "ociexec/executor.h"
#include "runtime/runtime.h"
#include "sys/fs.h"
#include "sys/process.h"
#include "sys/unique_fd.h"

namespace ociexec::core {

namespace {

Finding check_cgroups(const Expected<cgroup::Layout>& layout) {
  if (!layout) return {"cgroups", false, layout.error().message, "mount cgroup2 at /sys/fs/cgroup"};
  std::string detail = fmt::format("{} ({} hierarchies", cgroup::to_string(layout->mode),
                                   layout->hierarchies.size());
  if (const auto* v2 = layout->find_v2(); v2 && layout->mode == cgroup::Mode::kHybrid) {
    std::string ctl;
    for (const auto& c : layout->unified_controllers) ctl += (ctl.empty() ? "" : " ") + c;
    detail += fmt::format("; cgroup2 at {} with controllers: {}", v2->mount_point,
                          ctl.empty() ? "none" : ctl);
  }
  detail += ")";
  bool has_memory = layout->mode == cgroup::Mode::kV2 || layout->find_v1("memory");
  bool has_pids = layout->mode == cgroup::Mode::kV2 || layout->find_v1("pids");
  if (!has_memory || !has_pids)
    return {"cgroups", false, detail + ", memory or pids controller missing",
            "enable the memory and pids controllers"};
  if (!cgroup::swap_limit_supported(*layout))
    detail += "; swap accounting off, so memory limits do not cover swap";
  return {"cgroups", true, detail, {}};
}

Finding check_pidfd() {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0));
  if (fd < 0) return {"pidfd", false, "pidfd_open is not supported", "use Linux 5.3 or newer"};
  ::close(fd);
  return {"pidfd", true, "pidfd_open works", {}};
}

Finding check_userns() {
  auto max = sys::read_file("/proc/sys/user/max_user_namespaces");
  auto clone = sys::read_file("/proc/sys/kernel/unprivileged_userns_clone");
  std::string detail =
      fmt::format("max_user_namespaces={}", max ? max->substr(0, max->find('\n')) : "?");
  bool ok = max && max->rfind("0", 0) != 0;
  if (clone) {
    detail += fmt::format(", unprivileged_userns_clone={}", clone->substr(0, clone->find('\n')));
    ok = ok && clone->rfind("0", 0) != 0;
  }
  return {"user namespaces", ok, detail,
          ok ? std::string() : "sysctl -w user.max_user_namespaces=15000 (needed for rootless)"};
}

Finding check_runtime(const std::string& name, const ExecutorOptions& base,
                      const Expected<cgroup::Layout>& layout) {
  std::string topic = "runtime " + name;
  auto path = sys::find_executable(name);
  if (!path) return {topic, false, "not found on PATH", fmt::format("apt-get install {}", name)};
  ExecutorOptions opts = base;
  opts.runtime = *path;
  opts.collect_garbage_on_start = false;
  auto exec = Executor::create(opts);
  if (!exec) {
    const bool refused = layout && name == "crun" && runtime::crun_refusal(*layout);
    return {topic, false, exec.error().message,
            refused ? "run ociexec as root, or use runc (auto falls back to it)" : "see the message"};
  }
  JobOptions job;
  job.timeout = std::chrono::seconds(30);
  auto t0 = std::chrono::steady_clock::now();
  auto result = exec->run("exit 0\n", job);
  auto ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!result) return {topic, false, result.error().message, "see the message"};
  if (result->exit_code != 0)
    return {topic, false, fmt::format("a test job exited {}", result->exit_code), {}};
  return {topic,
          true,
          fmt::format("{} {} at {}: a test job ran in {:.0f} ms{}", name, exec->runtime().version,
                      *path, ms,
                      exec->runtime().private_mount_ns
                          ? " (each call in a private mount namespace without the cgroup2 "
                            "mount, as crun needs on this hybrid host)"
                          : ""),
          {}};
}

}  // namespace

std::vector<Finding> run_doctor(const ExecutorOptions& options) {
  std::vector<Finding> findings;
  auto layout = cgroup::detect_layout();
  findings.push_back(check_cgroups(layout));
  findings.push_back(check_pidfd());
  findings.push_back(check_userns());
  bool root = ::geteuid() == 0;
  findings.push_back({"privileges", root, root ? "running as root" : "not root",
                      root ? std::string() : "run as root (rootless mode is not supported yet)"});
  for (const char* name : {"runc", "crun"})
    findings.push_back(check_runtime(name, options, layout));
  if (layout) {
    auto chosen = runtime::resolve("auto", *layout, std::chrono::seconds(10));
    findings.push_back({"default runtime", chosen.has_value(),
                        chosen ? fmt::format("{} (\"auto\" prefers crun where it works)",
                                             chosen->name)
                               : chosen.error().message,
                        chosen ? std::string() : "install runc or crun"});
  }
  return findings;
}

}  // namespace ociexec::core
