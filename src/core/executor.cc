// The executor's public API. Executor::create reads as its steps: validate the executor's
// options -> learn the host (core/host.h) -> open the state and cache dirs -> become the
// parent of job inits -> resolve the default runtime (runtimes.cc) -> start the warm pool and
// the workers -> collect what dead executors left. A job's path is in prepare.cc and run.cc.
#include "ociexec/executor.h"

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "core/executor_impl.h"
#include "core/rootless.h"
#include "core/validate.h"
#include "sys/fork.h"
#include "sys/fs.h"
#include "sys/process.h"

namespace ociexec {

namespace fs = std::filesystem;

namespace {

// Threads that create pooled containers: the runtime's create is mostly CPU work.
constexpr std::size_t kPoolFillers = 2;

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

// Container inits are reparented to us, to be reaped here with their exit status.
Expected<void> become_parent_of_inits() {
  if (sys::child_statuses_discarded())
    return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                "SIGCHLD is ignored in this process, so the kernel discards "
                                "the exit status of every job; restore SIGCHLD to SIG_DFL"});
  return sys::become_subreaper();
}

}  // namespace

Expected<Executor> Executor::create(ExecutorOptions options) {
  if (auto r = core::validate_executor(options); !r) return tl::unexpected(r.error());
  auto impl = std::make_shared<Impl>();
  impl->generation = sys::fork_generation();
  impl->options = std::move(options);
  if (impl->options.state_dir.empty()) impl->options.state_dir = default_state_dir();
  if (impl->options.cache_dir.empty()) impl->options.cache_dir = default_cache_dir();
  auto host = core::HostFacts::detect(impl->options.cgroup_parent);
  if (!host) return tl::unexpected(host.error());
  impl->host = std::move(*host);
  if (auto r = impl->open_state_dirs(); !r) return tl::unexpected(r.error());
  if (auto r = become_parent_of_inits(); !r) return tl::unexpected(r.error());
  auto runtime = impl->client_for(std::nullopt);
  if (!runtime) return tl::unexpected(runtime.error());
  impl->default_runtime = std::move(*runtime);
  if (auto r = impl->start_pool(); !r) return tl::unexpected(r.error());
  impl->queue = std::make_unique<core::JobQueue>(impl->options.max_concurrent_jobs);
  if (impl->options.collect_garbage_on_start) impl->collect_leftovers();
  return Executor(std::move(impl));
}

Expected<void> Executor::Impl::open_state_dirs() {
  const auto& state = options.state_dir;
  bundles_dir = state / "bundles";
  runtimes_dir = state / "runtime";
  // The state dir is held before its subdirs are made: the last executor out removes them.
  const auto state_error = [](const Error& e) {
    return tl::unexpected(
        e.with_context("create state dir (choose a writable one with --state-dir)"));
  };
  if (auto r = sys::make_dirs(state.parent_path(), 0700); !r) return state_error(r.error());
  auto hold = sys::DirHold::acquire(state, 0700);
  if (!hold) return state_error(hold.error());
  state_hold = std::move(*hold);
  // Either dir may sit in a shared place (/tmp), made there first by somebody else: it must
  // be this user's alone, where nobody else can replace it (rootless, not even readable),
  // before anything is made in it.
  if (auto r = core::check_private_dir(state, "state dir", "state_dir (--state-dir)",
                                       !host.rootless);
      !r) {
    state_hold.release();
    options.state_dir.clear();  // not ours: the destructor leaves it alone
    return tl::unexpected(r.error());
  }
  for (const auto& dir : {bundles_dir, runtimes_dir})
    if (auto r = sys::make_dirs(dir, 0700); !r) return state_error(r.error());
  if (auto r = sys::make_dirs(options.cache_dir, 0700); !r)
    return tl::unexpected(
        r.error().with_context("create cache dir (choose a writable one with cache_dir)"));
  return core::check_private_dir(options.cache_dir, "cache dir", "cache_dir", !host.rootless);
}

Expected<void> Executor::Impl::start_pool() {
  const auto& o = options;
  if (o.pool_size == 0) return {};
  if (host.rootless)
    return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                "pool_size: the warm pool does not run rootless yet; set "
                                "pool_size to 0, or run as root"});
  auto init = init_binary();
  if (!init) return tl::unexpected(init.error().with_context("warm pool"));
  pool = std::make_unique<pool::WarmPool>(pool::PoolSettings{
      o.pool_size, o.pool_max_containers > 0 ? o.pool_max_containers : 2 * o.pool_size,
      o.pool_max_age, std::min<std::size_t>(o.pool_size, kPoolFillers), *init, o.runtime_timeout});
  return {};
}

Expected<std::filesystem::path> Executor::Impl::init_binary() const {
  std::lock_guard lock(init_mutex);
  if (init_copy.empty()) {
    auto copy = pool::install_init(options.init_path, options.state_dir);
    if (!copy) return tl::unexpected(copy.error());
    init_copy = std::move(*copy);
  }
  return init_copy;
}

void Executor::Impl::collect_leftovers() const {
  (void)collect_garbage();
  image::remove_stale_host_views(options.cache_dir);
  remove_old_caches(options.state_dir, runtimes_dir);
}

Executor::Impl::~Impl() {
  if (generation != sys::fork_generation()) {
    forget_in_forked_child();
    return;
  }
  queue.reset();  // running jobs finish, waiting ones are cancelled
  pool.reset();   // pooled containers are removed
  if (!init_copy.empty()) (void)sys::remove_tree(init_copy);
  if (parent_hold) {
    parent_hold->release();
    cgroup::remove_parent_if_unused(host.job_layout, options.cgroup_parent);
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
    if (e.is_directory(ec)) (void)sys::remove_dir(e.path());  // fails unless empty: kept for gc
  for (const auto& dir : {runtimes_dir, bundles_dir, options.state_dir})
    (void)sys::remove_dir(dir);
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
  auto plan = impl.prepare("", job);
  if (!plan) return tl::unexpected(plan.error());
  return impl.pool->fill(*plan, timeout);
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
