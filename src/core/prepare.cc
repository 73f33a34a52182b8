// A job becomes a plan (container/plan.h), as steps: validate its options against each other
// and the host -> find what rootless cannot enforce -> resolve its runtime and its root ->
// build the spec input (command, environment, limits, the image's config, the user, the
// devices) -> rootless: its user namespace and own cgroup -> probe crun's seccomp cache once
// -> its profile. Every value is checked here once and held once, in the plan.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "bundle/bundle.h"
#include "core/devices.h"
#include "core/executor_impl.h"
#include "core/files.h"
#include "core/mounts.h"
#include "core/rootless.h"
#include "core/seccomp_probe.h"
#include "core/validate.h"
#include "image/image_rootfs.h"
#include "image/user.h"
#include "pool/warm.h"
#include "spec/shebang.h"
#include "util/invalid.h"

namespace ociexec {

namespace {

std::vector<std::string> command_for(std::string_view script, const JobOptions& job) {
  std::vector<std::string> argv =
      job.interpreter.empty() ? spec::interpreter_for(script) : job.interpreter;
  argv.emplace_back(bundle::kScriptPathInContainer);
  argv.insert(argv.end(), job.args.begin(), job.args.end());
  return argv;
}

bool is_enforced(const EffectiveLimits& l, std::string_view name) {
  return std::find(l.unenforced.begin(), l.unenforced.end(), name) == l.unenforced.end();
}

// The limits the job's cgroup enforces: all but those rootless cannot.
cgroup::ResourceLimits enforced_limits(const EffectiveLimits& l, bool swap_limit_supported) {
  auto enforced = [&l](const char* name) { return is_enforced(l, name); };
  return {enforced("memory") ? l.memory_bytes : std::nullopt, swap_limit_supported,
          enforced("cpus") ? l.cpus : std::nullopt, enforced("pids") ? l.pids : std::nullopt,
          enforced("cpuset_cpus") ? l.cpuset_cpus : std::nullopt};
}

// The most CPUs the job's processes can run on at once: its quota rounded up, its cpuset's
// size, the host's.
unsigned cpu_parallelism(const cgroup::ResourceLimits& l, unsigned host_cpus) {
  unsigned n = host_cpus;
  if (l.cpus) n = std::min(n, static_cast<unsigned>(std::ceil(*l.cpus)));
  if (l.cpuset_cpus)
    if (auto cpus = cgroup::parse_cpu_list(*l.cpuset_cpus))
      n = std::min(n, static_cast<unsigned>(cpus->size()));
  return std::max(n, 1U);
}

spec::SpecInput spec_input(const core::HostFacts& host, const JobOptions& job,
                           const container::JobPlan& plan, const image::RootfsPlan& rootfs) {
  spec::SpecInput in;
  in.args = command_for(plan.script, job);
  in.env = job.env;
  in.cwd = job.workdir;
  in.rootfs_path = rootfs.root_path;
  in.readonly_binds = rootfs.readonly_binds;
  in.tmpfs_bytes = plan.limits.tmpfs_bytes;
  in.swap_limit_supported = host.swap_limit_supported;
  if (!host.rootless) {  // rootless, the runtime makes no cgroup (it would need every hierarchy)
    in.memory_bytes = plan.cgroup_limits.memory_bytes;
    in.cpus = plan.cgroup_limits.cpus;
    in.pids = plan.cgroup_limits.pids;
    in.cpuset_cpus = plan.cgroup_limits.cpuset_cpus;
  }
  if (auto nofile = host.hard_rlimits.find("nofile");
      nofile != host.hard_rlimits.end() && nofile->second != kUnlimitedRlimit)
    in.nofile_hard_limit = nofile->second;
  in.ulimit = plan.limits.ulimit;
  in.machine = host.machine;
  return in;
}

// An image's root, env and working dir; the job's own env and a non-default workdir win.
void use_image(const image::RootfsPlan& rootfs, const JobOptions& job,
               container::Request& request) {
  if (!rootfs.image) return;
  auto& spec = request.spec;
  request.image_layers = rootfs.layers;  // none rootless: a read-only flattened root
  request.rootfs_hold = rootfs.hold;
  spec.env = rootfs.env;
  spec.env.insert(spec.env.end(), job.env.begin(), job.env.end());
  spec.work_mount = job.workdir;
  if (!rootfs.working_dir.empty() && job.workdir == JobOptions{}.workdir)
    spec.cwd = rootfs.working_dir;
}

// The job's user, else the image's User, looked up in the root's own /etc; else 65534.
// Rootless with a single-id mapping, an image's User cannot be honoured: the job runs as the
// one id there is (an explicit user is an error).
Expected<void> use_user(const image::RootfsPlan& rootfs, const JobOptions& job,
                        const core::HostFacts& host, spec::SpecInput& spec) {
  const std::string& wanted = job.user ? *job.user : rootfs.user;
  if (wanted.empty() || (!job.user && host.rootless && !host.user_ns.full())) return {};
  auto ids = image::resolve_user(
      wanted, [&rootfs](const std::string& name) { return image::read_etc_file(rootfs, name); });
  if (!ids) return tl::unexpected(ids.error());
  if (host.rootless && (!host.user_ns.full() || ids->uid > 65535 || ids->gid > 65535))
    return tl::unexpected(Error{
        ErrorKind::kInvalidArgument,
        fmt::format("user {:?}: rootless, only ids 0-65535 are mapped, and only with subordinate "
                    "ids (see 'ociexec doctor'); drop --user",
                    wanted)});
  spec.uid = ids->uid;
  spec.gid = ids->gid;
  return {};
}

// The job's network: --network host shares the host's namespace and binds its resolver
// config (following a symlink, as systemd-resolved's stub is); --network private has pasta
// (found on PATH, its set-up bounded as a runtime call is) join the job's own, and binds the
// job's /etc/hosts and /etc/resolv.conf. A file is bound only where the root lets it be,
// never making a mount point in a root other jobs share.
Expected<void> use_network(const JobOptions& job, const image::RootfsPlan& rootfs,
                           std::chrono::milliseconds timeout, container::Request& request) {
  auto& spec = request.spec;
  const bool writable = !rootfs.layers.empty();
  auto may_bind = [&](const char* target) {
    return core::may_bind_over(target, job, spec.mounts, rootfs, writable);
  };
  if (job.network == Network::kHost) {
    spec.host_network = true;
    std::error_code ec;
    const auto resolv = std::filesystem::canonical("/etc/resolv.conf", ec);
    if (!ec && std::filesystem::is_regular_file(resolv, ec) && may_bind("/etc/resolv.conf"))
      spec.host_resolv_conf = resolv.string();
    return {};
  }
  if (job.network != Network::kPrivate && job.network != Network::kPrivateNoHostLoopback) return {};
  auto pasta = sys::find_executable("pasta");
  if (!pasta)
    return tl::unexpected(
        Error{ErrorKind::kRuntimeNotFound,
              fmt::format("network {}: pasta not found on PATH; install it (Debian and Ubuntu: "
                          "apt-get install passt), or use --network none",
                          to_string(job.network))});
  if (auto problem = container::tun_problem())
    return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                fmt::format("network {}: {}; {}, or use --network none",
                                            to_string(job.network), problem->what, problem->fix)});
  request.network =
      container::NetworkRequest{*pasta, job.network == Network::kPrivate, may_bind("/etc/hosts"),
                                may_bind("/etc/resolv.conf"), timeout};
  return {};
}

// The devices' nodes, mounts, hooks and groups, and their env: after the image's, before the
// job's own (which spec_input and use_image put last), so that the job's wins.
void use_devices(core::PlannedDevices devices, const JobOptions& job, container::Request& request) {
  auto& env = request.spec.env;
  env.insert(env.end() - static_cast<std::ptrdiff_t>(job.env.size()), devices.env.begin(),
             devices.env.end());
  request.spec.devices = std::move(devices.edits);
}

// Rootless: the job's user namespace, and no cgroup from the runtime: the container joins the
// delegated one we make (if any), with the limits it can enforce. Its namespaces are held for
// it where pasta or the files writer must reach them (its init could not be joined).
void make_rootless(const spec::UserNamespace& user_ns, std::chrono::milliseconds timeout,
                   container::JobPlan& plan) {
  auto& spec = plan.container.spec;
  spec.user_namespace = user_ns;
  if (!user_ns.full()) spec.uid = spec.gid = 0;  // the only id mapped
  plan.container.own_cgroup = plan.cgroup_limits;
  if (plan.container.network || !plan.files.roots.empty()) plan.container.hold_namespaces = timeout;
}

}  // namespace

Expected<container::JobPlan> Executor::Impl::prepare(std::string_view script,
                                                     const JobOptions& job) const {
  container::JobPlan plan;
  auto limits = core::validate_job(job, host);
  if (!limits) return tl::unexpected(limits.error());
  plan.limits = std::move(*limits);
  if (host.rootless) {
    auto unenforced = core::unenforceable_limits(job, host.job_layout);
    if (!unenforced) return tl::unexpected(unenforced.error());
    plan.limits.unenforced = std::move(*unenforced);
  }
  plan.cgroup_limits = enforced_limits(plan.limits, host.swap_limit_supported);
  if (plan.limits.cpu_time && is_enforced(plan.limits, "cpu_time"))
    plan.cpu_time_limit = *plan.limits.cpu_time;
  plan.cpu_parallelism = cpu_parallelism(plan.cgroup_limits, host.cpus);
  plan.script = script;
  plan.stdin_data = job.stdin_data;
  plan.signal_fd = sys::FdRef(job.signal_fd);
  plan.kill_wait = options.kill_wait;
  plan.init = job.init;
  plan.on_output = job.on_output;
  auto files = core::plan_files(job, plan.limits.tmpfs_bytes);
  if (!files) return tl::unexpected(files.error());
  plan.files = std::move(*files);

  auto client = client_for(job.runtime);
  if (!client) return tl::unexpected(client.error());
  auto rootfs = rootfs_for(job);
  if (!rootfs) return tl::unexpected(rootfs.error());
  if (auto r = hold_cgroup_parent(); !r) return tl::unexpected(r.error());

  // An image's overlay is the job's own root, where the runtime may make mount points.
  auto mounts = core::checked_mounts(job, host, *rootfs, !rootfs->layers.empty());
  if (!mounts) return tl::unexpected(mounts.error());

  auto& request = plan.container;
  request.client = *client;
  request.layout = &host.job_layout;
  request.cgroup_parent = options.cgroup_parent;
  request.bundles_dir = bundles_dir;
  request.spec = spec_input(host, job, plan, *rootfs);
  request.spec.mounts = *mounts;
  if (auto r = use_network(job, *rootfs, options.runtime_timeout, request); !r)
    return tl::unexpected(r.error());
  use_image(*rootfs, job, request);
  if (auto r = use_user(*rootfs, job, host, request.spec); !r) return tl::unexpected(r.error());
  auto devices =
      core::plan_devices(job, host, options.cdi_spec_dirs, request.spec.uid, request.spec.gid,
                         request.spec.mounts, *rootfs, !rootfs->layers.empty());
  if (!devices) return tl::unexpected(devices.error());
  use_devices(std::move(*devices), job, request);
  if (host.rootless) make_rootless(host.user_ns, options.runtime_timeout, plan);
  // crun's cached seccomp programs are used once a probe showed crun loads them: probed once,
  // before the first job (or pooled container) that would use one.
  if (const auto& cache = request.client->seccomp_cache(); cache.probe_due()) {
    std::lock_guard lock(seccomp_probe_mutex);
    if (cache.probe_due()) cache.set_support(core::probe_seccomp_annotation(request));
  }
  plan.profile = {request.client->info().path,
                  rootfs->identity,
                  job.workdir,
                  plan.limits.tmpfs_bytes,
                  request.spec.uid,
                  request.spec.gid,
                  plan.limits.ulimit,
                  std::move(*mounts),
                  job.network,
                  request.spec.devices,
                  options.warm_interpreters && !plan.init
                      ? pool::warm_interpreter(request.spec.args).value_or("")
                      : ""};
  // The job's own env is last (use_image, use_devices): what comes before is its profile's.
  plan.base_env.assign(request.spec.env.begin(),
                       request.spec.env.end() - static_cast<std::ptrdiff_t>(job.env.size()));
  return plan;
}

Expected<image::RootfsPlan> Executor::Impl::rootfs_for(const JobOptions& job) const {
  if (job.image) return image::image_rootfs(*job.image, job.pull, options.images);
  if (job.rootfs) return image::prepared_rootfs(*job.rootfs);
  std::lock_guard lock(host_view_mutex);
  if (!host_view_cache) {
    auto plan = image::host_view(options.cache_dir);
    if (!plan) return tl::unexpected(plan.error());
    host_view_cache = std::move(*plan);
  }
  return *host_view_cache;
}

Expected<void> Executor::Impl::hold_cgroup_parent() const {
  std::lock_guard lock(parent_mutex);
  if (parent_hold || host.job_layout.hierarchies.empty()) return {};
  auto hold = cgroup::ParentHold::acquire(host.job_layout, options.cgroup_parent);
  if (!hold) return tl::unexpected(hold.error().with_context("cgroup parent"));
  parent_hold = std::move(*hold);
  return {};
}

}  // namespace ociexec
