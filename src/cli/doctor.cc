#include "cli/doctor.h"

#include <unistd.h>

#include <chrono>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cdi/registry.h"
#include "cgroup/cgroup.h"
#include "container/network.h"
#include "core/rootless.h"
#include "image/store.h"
#include "ociexec/executor.h"
#include "runtime/runtime.h"
#include "sys/fs.h"
#include "sys/mount_ns.h"
#include "sys/process.h"
#include "sys/unique_fd.h"
#include "util/text.h"

namespace ociexec::core {

namespace {

namespace fs = std::filesystem;

// The state dir an executor with these options would use.
std::filesystem::path state_dir_of(const ExecutorOptions& options) {
  return options.state_dir.empty() ? default_state_dir() : options.state_dir;
}

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
  if (const auto* v2 = layout->find_v2(); v2 && layout->mode == cgroup::Mode::kV2) {
    // What a job cgroup can get here: the controllers the root hands down, and where this
    // process sits (a systemd service or a user's delegated user@UID.service).
    std::string enabled;
    if (auto down = sys::read_file(fs::path(v2->mount_point) / "cgroup.subtree_control"))
      for (const auto& c : text::words(*down))
        enabled += (enabled.empty() ? "" : " ") + c;
    detail += fmt::format("; controllers enabled below the root: {}",
                          enabled.empty() ? "none" : enabled);
    if (auto self = sys::read_file("/proc/self/cgroup"); self && self->rfind("0::", 0) == 0)
      detail += fmt::format("; this process is in {}", self->substr(3, self->find('\n') - 3));
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
  if (!sys::Pidfd::open(::getpid()))
    return {"pidfd", false, "pidfd_open is not supported", "use Linux 5.3 or newer"};
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
    return {
        topic, false, exec.error().message,
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
  const auto& info = exec->runtime();
  std::string how;
  if (info.private_mount_ns)
    how +=
        "; each call in a private mount namespace without the cgroup2 mount, as crun needs "
        "on this hybrid host";
  if (info.sealed_copy)
    how += fmt::format(
        "; each call runs a sealed in-memory copy made once per executor, so {} does "
        "not copy itself per {}",
        info.name, info.name == "runc" ? "container" : "call");
  return {
      topic,
      true,
      fmt::format("{} {} at {}: a test job ran in {:.0f} ms{}", name, info.version, *path, ms, how),
      {}};
}

// Each job makes and deletes a dozen files in the state dir: cheap on a tmpfs (as /run is on
// most hosts), dearer on a disk file system, where ext4 slows down after many deletions.
Finding check_state_dir(const ExecutorOptions& options) {
  const auto state = state_dir_of(options);
  auto existing = state;  // doctor creates nothing: look at the nearest directory there is
  while (::access(existing.c_str(), F_OK) != 0 && existing != existing.parent_path())
    existing = existing.parent_path();
  if (sys::on_tmpfs(existing).value_or(true))
    return {"state dir", true, fmt::format("{} is on a tmpfs", state.string()), {}};
  return {"state dir",
          true,
          fmt::format("{} is not on a tmpfs: each job makes and deletes about a dozen files "
                      "there, which costs more on disk (see docs/benchmarks.md); a state_dir on "
                      "a tmpfs is faster",
                      state.string()),
          {}};
}

// What network a job gets: none by default, unlike Docker's bridge; --network host as root.
Finding check_network() {
  const std::string host = ::geteuid() == 0
                               ? "--network host gives a job the host's network, with no "
                                 "network isolation"
                               : "--network host is for root only";
  return {"network", true,
          fmt::format("jobs get a network namespace with loopback only (--network none, the "
                      "default; Docker's is a bridge); {}",
                      host),
          {}};
}

// --network private: pasta, and the tun device it opens (as this user: rootless, pasta runs
// as the caller).
Finding check_private_network() {
  auto pasta = sys::find_executable("pasta");
  if (!pasta)
    return {"network private", false, "pasta not found on PATH: --network private cannot run here",
            "apt-get install passt (the other network modes work without it)"};
  if (auto problem = container::tun_problem())
    return {"network private", false,
            fmt::format("{}, which pasta opens: --network private cannot run here", problem->what),
            problem->fix};
  return {"network private",
          true,
          fmt::format("{}: --network private gives a job outbound access from the host's "
                      "sockets, and the host's loopback as host.ociexec.internal",
                      *pasta),
          {}};
}

// Root, or rootless: what that means for jobs here.
std::vector<Finding> check_privileges(const ExecutorOptions& options) {
  if (!running_rootless())
    return {{"privileges", true, "running as root: jobs get cgroup limits, and run as nobody", {}}};
  const auto uid = ::geteuid();
  const auto state = state_dir_of(options);
  std::vector<Finding> f;
  f.push_back({"privileges",
               true,
               fmt::format("rootless (uid {}): each job runs in a user namespace of its own, "
                           "with no capabilities; state in {}",
                           uid, state.string()),
               {}});
  const auto ns = caller_user_namespace();
  if (ns.full()) {
    f.push_back({"subordinate ids",
                 true,
                 fmt::format("jobs map ids 1-65535 onto uids {}-{} and gids {}-{} "
                             "(newuidmap/newgidmap); a job runs as 65534 there",
                             ns.sub_uids->start, ns.sub_uids->start + 65534, ns.sub_gids->start,
                             ns.sub_gids->start + 65534),
                 {}});
  } else {
    const bool tools = sys::find_executable("newuidmap") && sys::find_executable("newgidmap");
    f.push_back({"subordinate ids", true,
                 fmt::format("a single-id mapping: a job runs as the namespace's root, which is "
                             "uid {} outside ({})",
                             uid,
                             tools ? "no range of 65535 ids for this user in /etc/subuid and "
                                     "/etc/subgid"
                                   : "newuidmap/newgidmap are not installed"),
                 tools ? fmt::format("for a fuller mapping: usermod --add-subuids and "
                                     "--add-subgids 65536 ids to {}",
                                     user_name(uid).empty() ? std::to_string(uid) : user_name(uid))
                       : "for a fuller mapping: apt-get install uidmap"});
  }
  if (auto overlay = sys::try_overlay_in_user_namespace(state.parent_path().string()); overlay)
    f.push_back({"overlay in a user namespace",
                 true,
                 "works, with userxattr (the runtime cannot mount one as a job's root, so "
                 "rootless images are flattened and run read-only with tmpfs work dirs)",
                 {}});
  else
    f.push_back({"overlay in a user namespace", false, overlay.error().message,
                 "none needed: rootless, images are flattened into one directory and run "
                 "read-only with tmpfs work dirs either way"});
  const auto parent = options.cgroup_parent;
  auto host = cgroup::detect_layout();
  const auto delegated = host ? cgroup::delegated_layout(*host, parent) : cgroup::Layout{};
  std::string enforced;
  for (const char* c : {"memory", "cpu", "pids"})
    if (cgroup::has_controller(delegated, c))
      enforced += (enforced.empty() ? "" : ", ") + std::string(c);
  // systemd delegates user@UID.service to each user on a pure v2 host: the parent to use.
  const std::string systemd_user =
      fmt::format("user.slice/user-{0}.slice/user@{0}.service", ::geteuid());
  const bool systemd_delegated =
      host && host->mode == cgroup::Mode::kV2 && parent != systemd_user &&
      !cgroup::delegated_layout(*host, systemd_user).hierarchies.empty();
  if (enforced.empty())
    f.push_back({"cgroup delegation", false,
                 fmt::format("no cgroup \"{}\" this user may write: memory, CPU and pids limits "
                             "are not enforced (a job that sets one fails unless unenforced "
                             "limits are allowed; results list them); the timeout, tmpfs sizes "
                             "and output caps are",
                             parent),
                 systemd_delegated
                     ? fmt::format("systemd delegated {} to you: set cgroup_parent to it (the "
                                   "process must run inside it, e.g. under systemd-run --user)",
                                   systemd_user)
                     : std::string("delegate a cgroup (docs/rootless.md), run as root, or pass "
                                   "--allow-unenforced-limits")});
  else
    f.push_back({"cgroup delegation",
                 true,
                 fmt::format("cgroup \"{}\" is delegated to this user: {} limits are enforced",
                             parent, enforced),
                 {}});
  return f;
}

// Where images go, and what a job on one gets here.
Finding check_images(const ExecutorOptions& options) {
  const auto store =
      options.images.store.empty() ? image::default_store_dir() : options.images.store;
  std::string count = "not made yet";  // doctor creates nothing
  if (::access(store.c_str(), F_OK) == 0)
    if (auto s = image::Store::open(store))
      if (auto records = s->list()) count = fmt::format("{} images", records->size());
  if (running_rootless())
    return {"images",
            true,
            fmt::format("store {} ({}); rootless, each image is flattened into one "
                        "directory there and jobs get it read-only, with tmpfs /tmp and work dir",
                        store.string(), count),
            {}};
  auto filesystems = sys::read_file("/proc/filesystems");
  const bool overlay = filesystems && filesystems->find("\toverlay\n") != std::string::npos;
  if (!overlay)
    return {"images", false,
            fmt::format("store {} ({}); overlayfs is not available, so jobs cannot get "
                        "a writable root on an image",
                        store.string(), count),
            "modprobe overlay"};
  return {"images",
          true,
          fmt::format("store {} ({}); jobs on an image get a writable overlay root, its "
                      "writes on a tmpfs capped by tmpfs_size",
                      store.string(), count),
          {}};
}

// The CDI devices a job may ask for, and the specs that cannot be used.
Finding check_cdi(const ExecutorOptions& options) {
  const auto registry = cdi::Registry::scan(options.cdi_spec_dirs);
  std::vector<std::string> dirs;
  for (const auto& d : options.cdi_spec_dirs) dirs.push_back(d.string());
  const auto names = registry.device_names();
  const auto problems = registry.problems();
  std::string detail = names.empty()
                           ? fmt::format("no CDI devices in {}", fmt::join(dirs, ", "))
                           : fmt::format("{} in {}", fmt::join(names, ", "), fmt::join(dirs, ", "));
  if (problems.empty())
    return {"cdi devices", true, detail + "; host device nodes go by --device HOSTPATH", {}};
  return {"cdi devices", false, fmt::format("{}; {}", detail, fmt::join(problems, "; ")),
          "fix or remove each spec named (nvidia-ctk cdi generate writes NVIDIA's)"};
}

}  // namespace

std::vector<Finding> run_doctor(const ExecutorOptions& options) {
  std::vector<Finding> findings;
  auto layout = cgroup::detect_layout();
  findings.push_back(check_cgroups(layout));
  findings.push_back(check_pidfd());
  findings.push_back(check_userns());
  for (auto& f : check_privileges(options)) findings.push_back(std::move(f));
  findings.push_back(check_images(options));
  findings.push_back(check_state_dir(options));
  findings.push_back(check_network());
  findings.push_back(check_private_network());
  findings.push_back(check_cdi(options));
  for (const char* name : {"runc", "crun"})
    findings.push_back(check_runtime(name, options, layout));
  if (layout) {
    auto chosen = runtime::resolve("auto", *layout, std::chrono::seconds(10));
    findings.push_back({"default runtime", chosen.has_value(),
                        chosen
                            ? fmt::format("{} (\"auto\" prefers crun where it works)", chosen->name)
                            : chosen.error().message,
                        chosen ? std::string() : "install runc or crun"});
  }
  return findings;
}

}  // namespace ociexec::core
