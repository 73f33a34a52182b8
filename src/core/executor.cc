// Executor::run, as steps: validate -> resolve runtime and rootfs -> take a pooled container
// (writing the job into it) or create one (core/container.h: bundle, create, adopt the init)
// -> start -> supervise -> read cgroup stats -> remove. A Container undoes itself on every
// path.
#include "ociexec/executor.h"

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "core/container.h"
#include "core/executor_impl.h"
#include "core/rootless.h"
#include "core/seccomp_probe.h"
#include "image/image_rootfs.h"
#include "image/user.h"
#include "pool/job_file.h"
#include "runtime/runtime.h"
#include "spec/shebang.h"
#include "spec/spec_builder.h"
#include "supervise/supervisor.h"
#include "sys/fork.h"
#include "sys/fs.h"
#include "sys/mount_ns.h"
#include "sys/reaper.h"
#include "sys/sealed_exe.h"

namespace ociexec {

namespace fs = std::filesystem;

namespace {

// Threads that create pooled containers: the runtime's create is mostly CPU work.
constexpr std::size_t kPoolFillers = 2;

std::vector<std::string> command_for(std::string_view script, const JobOptions& job) {
  std::vector<std::string> argv =
      job.interpreter.empty() ? spec::interpreter_for(script) : job.interpreter;
  argv.emplace_back(bundle::kScriptPathInContainer);
  return argv;
}

struct HostSpecFacts {
  bool swap_limit_supported = true;
  std::optional<std::uint64_t> nofile_hard_limit;
  std::string machine;
};

spec::SpecInput spec_input(const HostSpecFacts& host, const JobOptions& job,
                           const EffectiveLimits& limits, const image::RootfsPlan& rootfs,
                           std::vector<std::string> argv) {
  spec::SpecInput in;
  in.args = std::move(argv);
  in.env = job.env;
  in.cwd = job.workdir;
  in.rootfs_path = rootfs.root_path;
  in.readonly_binds = rootfs.readonly_binds;
  in.tmpfs_bytes = limits.tmpfs_bytes;
  in.memory_bytes = limits.memory_bytes;
  in.swap_limit_supported = host.swap_limit_supported;
  in.cpus = limits.cpus;
  in.pids = limits.pids;
  in.nofile_hard_limit = host.nofile_hard_limit;
  in.machine = host.machine;
  return in;
}

// Rootless: the job's user namespace, and no cgroup from the runtime (it would need every
// hierarchy): the container joins the delegated one we make (if any), with the limits it can
// enforce.
void make_rootless(const spec::UserNamespace& user_ns, const std::vector<std::string>& unenforced,
                   core::ContainerRequest& request) {
  auto& spec = request.spec;
  spec.user_namespace = user_ns;
  if (!user_ns.full()) spec.uid = spec.gid = 0;  // the only id mapped
  auto enforced = [&unenforced](const char* name) {
    return std::find(unenforced.begin(), unenforced.end(), name) == unenforced.end();
  };
  request.own_cgroup = cgroup::ResourceLimits{
      enforced("memory") ? spec.memory_bytes : std::nullopt, spec.swap_limit_supported,
      enforced("cpus") ? spec.cpus : std::nullopt, enforced("pids") ? spec.pids : std::nullopt};
  spec.memory_bytes.reset();
  spec.cpus.reset();
  spec.pids.reset();
}

Result compose_result(supervise::Output&& sup, const cgroup::Stats& stats,
                      supervise::Clock::time_point started, const EffectiveLimits& limits,
                      const RuntimeInfo& rt, std::string id) {
  Result r;
  r.stdout_data = std::move(sup.out.data);
  r.stderr_data = std::move(sup.err.data);
  r.stdout_truncated = sup.out.truncated;
  r.stderr_truncated = sup.err.truncated;
  r.wall_time = sup.exited_at - started;
  r.started_at = started;
  r.cpu_time = stats.cpu_time;
  r.peak_memory_bytes = stats.peak_memory_bytes;
  r.runtime_name = rt.name;
  r.runtime_version = rt.version;
  r.container_id = std::move(id);
  r.limits = limits;
  r.signal = sup.status.signaled ? sup.status.signal : 0;
  if (sup.timed_out) {
    r.outcome = Outcome::kTimedOut;
    r.exit_code = -1;
    if (!r.stderr_data.empty() && r.stderr_data.back() != '\n') r.stderr_data += '\n';
    r.stderr_data +=
        fmt::format("Execution timeout ({}): the job ran past its time limit and was killed\n",
                    core::format_seconds(limits.timeout));
  } else if (stats.oom_kills > 0) {
    r.outcome = Outcome::kOomKilled;
    r.exit_code = sup.status.shell_code();
  } else if (sup.status.signaled) {
    r.outcome = Outcome::kSignaled;
    r.exit_code = sup.status.shell_code();
  } else {
    r.outcome = Outcome::kExited;
    r.exit_code = sup.status.code;
  }
  return r;
}

// An image's root, env and working dir; the job's own env and a non-default workdir win.
void use_image(const image::RootfsPlan& rootfs, const JobOptions& job,
               core::ContainerRequest& request) {
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
Expected<void> use_user(const image::RootfsPlan& rootfs, const JobOptions& job, bool rootless,
                        const spec::UserNamespace& user_ns, spec::SpecInput& spec) {
  const std::string& wanted = job.user ? *job.user : rootfs.user;
  if (wanted.empty() || (!job.user && rootless && !user_ns.full())) return {};
  auto ids = image::resolve_user(
      wanted, [&rootfs](const std::string& name) { return image::read_etc_file(rootfs, name); });
  if (!ids) return tl::unexpected(ids.error());
  if (rootless && (!user_ns.full() || ids->uid > 65535 || ids->gid > 65535))
    return tl::unexpected(Error{
        ErrorKind::kInvalidArgument,
        fmt::format("user {:?}: rootless, only ids 0-65535 are mapped, and only with subordinate "
                    "ids (see 'ociexec doctor'); drop --user",
                    wanted)});
  spec.uid = ids->uid;
  spec.gid = ids->gid;
  return {};
}

// Versions 0.1.0 and before kept their caches in the state dir: the host-view skeleton
// (hostview-N/) and the runtimes' versions (runtime/NAME.version). They would keep it from
// ever being removed, and now live in the cache dir.
void remove_old_caches(const fs::path& state_dir, const fs::path& runtimes_dir) noexcept {
  image::remove_stale_host_views(state_dir, /*keep_current=*/false);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(runtimes_dir, ec))
    if (e.is_regular_file(ec) && e.path().filename().string().find(".version") != std::string::npos)
      (void)sys::remove_tree(e.path());
}

}  // namespace

Expected<Executor::Impl::Prepared> Executor::Impl::prepare(std::string_view script,
                                                           const JobOptions& job) const {
  auto limits = core::validate_job(job, host);
  if (!limits) return tl::unexpected(limits.error());
  if (rootless) {
    auto unenforced = core::unenforceable_limits(job, job_layout);
    if (!unenforced) return tl::unexpected(unenforced.error());
    limits->unenforced = std::move(*unenforced);
  }
  auto client = client_for(job.runtime);
  if (!client) return tl::unexpected(client.error());
  auto rootfs = rootfs_for(job);
  if (!rootfs) return tl::unexpected(rootfs.error());
  if (auto r = hold_cgroup_parent(); !r) return tl::unexpected(r.error());

  Prepared p;
  p.limits = *limits;
  p.request.client = *client;
  p.request.layout = &job_layout;
  p.request.cgroup_parent = options.cgroup_parent;
  p.request.bundles_dir = bundles_dir;
  p.request.spec = spec_input(HostSpecFacts{swap_limit_supported, nofile_hard_limit, machine}, job,
                              *limits, *rootfs, command_for(script, job));
  use_image(*rootfs, job, p.request);
  if (auto r = use_user(*rootfs, job, rootless, user_ns, p.request.spec); !r)
    return tl::unexpected(r.error());
  if (rootless) make_rootless(user_ns, limits->unenforced, p.request);
  // crun's cached seccomp programs are used once a probe showed crun loads them: probed once,
  // before the first job (or pooled container) that would use one.
  if (const auto& cache = p.request.client->seccomp_cache(); cache.probe_due()) {
    std::lock_guard lock(seccomp_probe_mutex);
    if (cache.probe_due()) cache.set_support(core::probe_seccomp_annotation(p.request));
  }
  p.request.script = script;
  p.request.stdin_data = job.stdin_data;
  p.profile = {(*client)->info().path, rootfs->identity,   job.workdir,
               limits->tmpfs_bytes,    p.request.spec.uid, p.request.spec.gid};
  return p;
}

core::ContainerRequest Executor::Impl::pool_request(const core::ContainerRequest& job) const {
  core::ContainerRequest r = job;
  r.spec.args = {std::string(pool::kInitInContainer)};
  r.spec.env = {};  // the init sets the job's
  r.script = {};
  r.stdin_data = {};
  r.init_binary = pool_init;
  return r;
}

Expected<Result> Executor::Impl::run(std::string_view script, const JobOptions& job) const {
  auto prepared = prepare(script, job);
  if (!prepared) return tl::unexpected(prepared.error());
  if (pool) {
    if (auto pooled = pool->take(prepared->profile, pool_request(prepared->request)))
      return run_pooled(*pooled, *prepared, script, job);
  }
  auto container = core::Container::create(prepared->request);
  if (!container) return tl::unexpected(container.error());
  return run_created(**container, job, prepared->limits);
}

Expected<Result> Executor::Impl::run_pooled(core::Container& c, const Prepared& prepared,
                                            std::string_view script, const JobOptions& job) const {
  // What the init reads at start: the job's command, environment and working directory.
  auto file =
      pool::encode_job({prepared.request.spec.args, spec::process_env(prepared.request.spec.env),
                        prepared.request.spec.cwd});
  if (!file)
    return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                "interpreter or env: a NUL byte cannot be passed to a process"});
  const fs::path dir = c.bundle().script_dir();
  if (auto r = sys::write_new_file(dir / pool::kJobFile, *file, 0444); !r)
    return tl::unexpected(r.error().with_context("write the job file"));
  if (auto r = c.bundle().write_script(script); !r) return tl::unexpected(r.error());
  if (auto r = c.set_stdin(job.stdin_data); !r) return tl::unexpected(r.error());
  const auto& l = prepared.limits;
  const cgroup::ResourceLimits wanted{l.memory_bytes, swap_limit_supported, l.cpus, l.pids};
  if (pool->limits_of(prepared.profile) != wanted)
    if (auto r = c.cgroup().set_limits(wanted); !r) return tl::unexpected(r.error());
  auto result = run_created(c, job, prepared.limits);
  if (result) result->pooled = true;
  return result;
}

Expected<Result> Executor::Impl::run_created(core::Container& c, const JobOptions& job,
                                             const EffectiveLimits& limits) const {
  auto started = c.start();
  if (!started) return tl::unexpected(started.error());
  auto sup = c.supervise(job, *started, options.kill_wait);
  if (!sup) return tl::unexpected(sup.error().with_context("supervise"));
  const cgroup::Stats stats = c.cgroup().read_stats();  // before the cgroup is removed
  const auto exec_failed = c.exec_failure(sup->err.data);
  // The job has a result now: a removal that cannot finish does not take it away.
  std::vector<std::string> warnings;
  if (sup->abandoned) {
    warnings.push_back(fmt::format(
        "the job's processes did not exit within {} of SIGKILL (uninterruptible sleep?); its "
        "container {} is left for gc",
        core::format_seconds(options.kill_wait), c.id()));
    c.abandon();
  } else if (auto r = c.remove(); !r) {
    warnings.push_back(fmt::format("cleanup: {}; what is left of container {} is left for gc",
                                   r.error().message, c.id()));
    c.abandon();
  }
  // Processes of ours given up on earlier (sys/reaper.h) that have exited since.
  (void)sys::Reaper::instance().reap_exited();
  if (exec_failed) return tl::unexpected(*exec_failed);
  auto result =
      compose_result(std::move(*sup), stats, *started, limits, c.client().info(), c.id());
  result.warnings = std::move(warnings);
  return result;
}

Expected<std::shared_ptr<const runtime::RuntimeClient>> Executor::Impl::make_client(
    RuntimeInfo info) const {
  fs::path root = runtimes_dir / info.name;
  std::shared_ptr<const sys::UniqueFd> ns;
  if (info.private_mount_ns) {
    auto made = crun_mount_ns();
    if (!made) return tl::unexpected(made.error());
    ns = std::move(*made);
  }
  // crun (half a megabyte) is copied once per executor instead of copying itself per call.
  // Rootless runc copies its 9 MB into a memfd for every container (`runc init`), which one
  // copy per executor saves. As root, runc protects itself with a read-only bind mount, not
  // a copy: a sealed runc was measured no faster there, and would cost a CLI 4 ms a run.
  std::shared_ptr<const sys::UniqueFd> exe;
  if (info.name == "crun" || (info.name == "runc" && rootless))
    if (auto copy = sys::sealed_executable_copy(info.path))
      exe = std::make_shared<const sys::UniqueFd>(std::move(*copy));
  info.sealed_copy = exe != nullptr;
  return std::make_shared<const runtime::RuntimeClient>(
      std::move(info), std::move(root), options.runtime_timeout, std::move(ns), std::move(exe));
}

Expected<std::shared_ptr<const sys::UniqueFd>> Executor::Impl::crun_mount_ns() const {
  std::lock_guard lock(mount_ns_mutex);
  if (mount_ns) return mount_ns;
  const auto* v2 = layout.find_v2();
  if (!v2)
    return tl::unexpected(Error{ErrorKind::kSystem, "crun's mount namespace: no cgroup2 mount"});
  auto fd = sys::mount_namespace_without(v2->mount_point);
  if (!fd)
    return tl::unexpected(fd.error().with_context(
        "crun needs a mount namespace without the cgroup2 mount on this hybrid host"));
  mount_ns = std::make_shared<const sys::UniqueFd>(std::move(*fd));
  return mount_ns;
}

Expected<std::shared_ptr<const runtime::RuntimeClient>> Executor::Impl::client_for(
    const std::optional<std::string>& wanted) const {
  if (!wanted || *wanted == options.runtime || *wanted == default_runtime->info().name ||
      *wanted == default_runtime->info().path)
    return default_runtime;
  std::lock_guard lock(runtimes_mutex);
  if (auto it = runtimes.find(*wanted); it != runtimes.end()) return it->second;
  auto info = runtime::resolve(*wanted, layout, options.runtime_timeout, options.cache_dir);
  if (!info) return tl::unexpected(info.error());
  if (auto r = sys::make_dir(runtimes_dir / info->name, 0700, true); !r)
    return tl::unexpected(r.error());
  auto client = make_client(std::move(*info));
  if (!client) return tl::unexpected(client.error());
  runtimes.emplace(*wanted, *client);
  return *client;
}

Expected<void> Executor::Impl::hold_cgroup_parent() const {
  std::lock_guard lock(parent_mutex);
  if (parent_hold || job_layout.hierarchies.empty()) return {};
  auto hold = cgroup::ParentHold::acquire(job_layout, options.cgroup_parent);
  if (!hold) return tl::unexpected(hold.error().with_context("cgroup parent"));
  parent_hold = std::move(*hold);
  return {};
}

Executor::Impl::~Impl() {
  if (generation != sys::fork_generation()) {
    forget_in_forked_child();
    return;
  }
  queue.reset();  // running jobs finish, waiting ones are cancelled
  pool.reset();   // pooled containers are removed
  if (!pool_init.empty()) (void)sys::remove_tree(pool_init);
  if (parent_hold) {
    parent_hold->release();
    cgroup::remove_parent_if_unused(job_layout, options.cgroup_parent);
  }
  state_hold.release();
  remove_state_dir_if_unused();
}

void Executor::Impl::remove_state_dir_if_unused() const noexcept {
  if (options.state_dir.empty()) return;
  const sys::UniqueFd lock = sys::DirHold::lock_if_unused(options.state_dir);
  if (!lock) return;  // another executor holds it (or it is gone)
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(runtimes_dir, ec))
    if (e.is_directory(ec)) ::rmdir(e.path().c_str());  // fails unless empty: kept for gc
  ::rmdir(runtimes_dir.c_str());
  ::rmdir(bundles_dir.c_str());
  ::rmdir(options.state_dir.c_str());
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

Expected<Executor> Executor::create(ExecutorOptions options) {
  auto impl = std::make_shared<Impl>();
  impl->generation = sys::fork_generation();
  impl->options = std::move(options);
  const auto& opts = impl->options;
  if (opts.cgroup_parent.empty() || opts.cgroup_parent.find("..") != std::string::npos ||
      opts.cgroup_parent.front() == '/')
    return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                fmt::format("cgroup parent \"{}\": expected a relative name such "
                                            "as ociexec",
                                            opts.cgroup_parent)});
  for (const auto& [name, value] : {std::pair{"runtime_timeout", opts.runtime_timeout},
                                     std::pair{"kill_wait", opts.kill_wait},
                                     std::pair{"pool_max_age", opts.pool_max_age}})
    if (value.count() <= 0 || value > kMaxDuration)
      return tl::unexpected(
          Error{ErrorKind::kInvalidArgument,
                fmt::format("{} {}: must be positive and at most 365 days, e.g. 30s", name,
                            core::format_seconds(value))});
  impl->rootless = core::running_rootless();
  if (impl->options.state_dir.empty()) impl->options.state_dir = default_state_dir();
  if (impl->options.cache_dir.empty()) impl->options.cache_dir = default_cache_dir();
  impl->bundles_dir = opts.state_dir / "bundles";
  impl->runtimes_dir = opts.state_dir / "runtime";
  // The state dir is held before its subdirs are made: the last executor out removes them.
  const auto state_error = [](const Error& e) {
    return tl::unexpected(
        e.with_context("create state dir (choose a writable one with --state-dir)"));
  };
  if (auto r = sys::make_dirs(opts.state_dir.parent_path(), 0700); !r)
    return state_error(r.error());
  auto hold = sys::DirHold::acquire(opts.state_dir, 0700);
  if (!hold) return state_error(hold.error());
  impl->state_hold = std::move(*hold);
  // Either dir may sit in a shared place (/tmp), made there first by somebody else: it must
  // be this user's alone, where nobody else can replace it (rootless, not even readable),
  // before anything is made in it.
  if (auto r = core::check_private_dir(opts.state_dir, "state dir", "state_dir (--state-dir)",
                                       !impl->rootless);
      !r) {
    impl->state_hold.release();
    impl->options.state_dir.clear();  // not ours: the destructor leaves it alone
    return tl::unexpected(r.error());
  }
  for (const auto& dir : {impl->bundles_dir, impl->runtimes_dir})
    if (auto r = sys::make_dirs(dir, 0700); !r) return state_error(r.error());
  if (auto r = sys::make_dirs(opts.cache_dir, 0700); !r)
    return tl::unexpected(
        r.error().with_context("create cache dir (choose a writable one with cache_dir)"));
  if (auto r = core::check_private_dir(opts.cache_dir, "cache dir", "cache_dir", !impl->rootless);
      !r)
    return tl::unexpected(r.error());
  if (sys::child_statuses_discarded())
    return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                "SIGCHLD is ignored in this process, so the kernel discards "
                                "the exit status of every job; restore SIGCHLD to SIG_DFL"});
  if (auto r = sys::become_subreaper(); !r) return tl::unexpected(r.error());
  auto layout = cgroup::detect_layout();
  if (!layout) return tl::unexpected(layout.error());
  impl->layout = std::move(*layout);
  if (impl->rootless) impl->user_ns = core::caller_user_namespace();
  impl->job_layout =
      impl->rootless ? cgroup::delegated_layout(impl->layout, opts.cgroup_parent) : impl->layout;
  impl->host = core::HostFacts::detect();
  impl->swap_limit_supported = cgroup::swap_limit_supported(impl->layout);
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_max != RLIM_INFINITY)
    impl->nofile_hard_limit = nofile.rlim_max;
  utsname uts{};
  impl->machine = ::uname(&uts) == 0 ? uts.machine : "x86_64";

  auto info = runtime::resolve(opts.runtime, impl->layout, opts.runtime_timeout, opts.cache_dir);
  if (!info) return tl::unexpected(info.error());
  if (auto r = sys::make_dir(impl->runtimes_dir / info->name, 0700, true); !r)
    return tl::unexpected(r.error());
  auto client = impl->make_client(std::move(*info));
  if (!client) return tl::unexpected(client.error());
  impl->default_runtime = std::move(*client);
  if (opts.pool_size > 0 && impl->rootless)
    return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                "pool_size: the warm pool does not run rootless yet; set "
                                "pool_size to 0, or run as root"});
  if (opts.pool_size > 0) {
    auto init = core::install_pool_init(opts.init_path, opts.state_dir);
    if (!init) return tl::unexpected(init.error());
    impl->pool_init = std::move(*init);
    const std::size_t max_containers =
        opts.pool_max_containers > 0 ? opts.pool_max_containers : 2 * opts.pool_size;
    impl->pool = std::make_unique<core::WarmPool>(
        opts.pool_size, max_containers, opts.pool_max_age,
        std::min<std::size_t>(opts.pool_size, kPoolFillers));
  }
  impl->queue = std::make_unique<core::JobQueue>(opts.max_concurrent_jobs);
  if (opts.collect_garbage_on_start) {
    (void)impl->collect_garbage();
    image::remove_stale_host_views(opts.cache_dir);
    remove_old_caches(opts.state_dir, impl->runtimes_dir);
  }
  return Executor(std::move(impl));
}

Executor::Executor(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Executor::Executor(Executor&&) noexcept = default;
Executor& Executor::operator=(Executor&&) noexcept = default;
Executor::~Executor() = default;

Expected<const Executor::Impl*> Executor::local() const {
  if (impl_->generation == sys::fork_generation()) [[likely]]
    return impl_.get();
  return impl_->in_this_process();
}

Expected<Result> Executor::run(std::string_view script, const JobOptions& job) const {
  auto impl = local();
  if (!impl) return tl::unexpected(impl.error());
  return (*impl)->run_guarded(script, job);
}

Expected<Result> Executor::Impl::run_guarded(std::string_view script, const JobOptions& job) const {
  // No exception crosses the API: the guards inside run() have already cleaned up while
  // unwinding, so what is left is to report it.
  try {
    return run(script, job);
  } catch (const std::exception& e) {
    return tl::unexpected(
        Error{ErrorKind::kSystem, fmt::format("run: unexpected failure: {}", e.what())});
  }
}

std::future<Expected<Result>> Executor::submit(std::string script, JobOptions job) const {
  auto promise = std::make_shared<std::promise<Expected<Result>>>();
  auto future = promise->get_future();
  submit(std::move(script), std::move(job),
         [promise](Expected<Result> r) { promise->set_value(std::move(r)); });
  return future;
}

void Executor::submit(std::string script, JobOptions job,
                      std::function<void(Expected<Result>)> done) const {
  struct Submitted {
    std::string script;
    JobOptions job;
    std::function<void(Expected<Result>)> done;
    void finish(Expected<Result> r) noexcept {
      try {
        done(std::move(r));
      } catch (...) {  // documented: dropped, the worker lives on
      }
    }
  };
  auto s =
      std::make_shared<Submitted>(Submitted{std::move(script), std::move(job), std::move(done)});
  auto local_impl = local();
  if (!local_impl) return s->finish(tl::unexpected(local_impl.error()));
  const Impl* impl = *local_impl;
  impl->queue->push({[impl, s] { s->finish(impl->run_guarded(s->script, s->job)); },
                      [s] {
                        s->finish(tl::unexpected(
                            Error{ErrorKind::kCancelled,
                                  "cancelled: the executor was destroyed before the job started"}));
                      }});
}

Expected<std::size_t> Executor::prewarm(const JobOptions& job,
                                        std::chrono::milliseconds timeout) const {
  auto local_impl = local();
  if (!local_impl) return tl::unexpected(local_impl.error());
  const Impl& impl = **local_impl;
  if (!impl.pool)
    return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                "prewarm: the warm pool is off (set pool_size above 0)"});
  auto prepared = impl.prepare("", job);
  if (!prepared) return tl::unexpected(prepared.error());
  return impl.pool->fill(prepared->profile, impl.pool_request(prepared->request), timeout);
}

GcReport Executor::collect_garbage() const {
  auto impl = local();
  if (!impl) return GcReport{{}, {impl.error().message}};
  return (*impl)->collect_garbage();
}
const RuntimeInfo& Executor::runtime() const noexcept {
  return impl_->default_runtime->info();
}
const ExecutorOptions& Executor::options() const noexcept {
  return impl_->options;
}

Expected<Result> execute_script(std::string_view script, const JobOptions& job) {
  static const Expected<Executor> shared = Executor::create();
  if (!shared) return tl::unexpected(shared.error());
  return shared->run(script, job);
}

Expected<Result> execute_script(std::string_view script, int timeout_seconds) {
  JobOptions job;
  job.timeout = std::chrono::seconds(timeout_seconds);
  return execute_script(script, job);
}

}  // namespace ociexec
