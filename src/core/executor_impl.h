// The executor's shared state: fixed after Executor::create, so every job reads it without
// locks. Only the cache of runtimes named per job is guarded by a mutex.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "cgroup/cgroup.h"
#include "core/container.h"
#include "core/job_queue.h"
#include "core/validate.h"
#include "core/warm_pool.h"
#include "image/rootfs.h"
#include "ociexec/executor.h"
#include "runtime/runtime_client.h"
#include "sys/file_lock.h"

namespace ociexec {

struct Executor::Impl {
  ExecutorOptions options;  // state_dir and cache_dir filled in
  // Held from create() on; the last executor out removes the state dir once it is empty.
  sys::DirHold state_hold;
  std::filesystem::path bundles_dir;
  std::filesystem::path runtimes_dir;  // one --root per runtime name below it
  cgroup::Layout layout;               // the host's
  // Where job cgroups are made: the host's layout, or none at all when rootless (runc and
  // crun then make none, and memory, CPU and pids limits are not enforced).
  cgroup::Layout job_layout;
  bool rootless = false;
  spec::UserNamespace user_ns;  // rootless: the jobs' user namespace
  core::HostFacts host;
  bool swap_limit_supported = true;  // memsw on v1; read once, not per job
  std::optional<std::uint64_t> nofile_hard_limit;
  std::string machine;
  std::shared_ptr<const runtime::RuntimeClient> default_runtime;

  mutable std::mutex runtimes_mutex;
  mutable std::map<std::string, std::shared_ptr<const runtime::RuntimeClient>> runtimes;
  mutable std::mutex host_view_mutex;
  mutable std::optional<image::RootfsPlan> host_view_cache;
  // The shared cgroup parent, held from the first job until the executor is destroyed.
  mutable std::mutex parent_mutex;
  mutable std::optional<cgroup::ParentHold> parent_hold;
  mutable std::mutex mount_ns_mutex;
  mutable std::shared_ptr<const sys::UniqueFd> mount_ns;
  // One seccomp probe at a time (core/seccomp_probe.h).
  mutable std::mutex seccomp_probe_mutex;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  // The warm pool (options.pool_size > 0) and its init, copied into the state dir.
  std::unique_ptr<core::WarmPool> pool;
  std::filesystem::path pool_init;
  // submit()'s workers, started on demand.
  std::unique_ptr<core::JobQueue> queue;

  // Waits for submitted jobs (cancels those not started), drains the pool, then lets go of
  // the cgroup parent and the state dir, and removes each if no other executor holds it. In a
  // child of fork(), forgets all of that instead (core/forked.cc).
  ~Impl();
  // The fork() generation this executor was made in (sys/fork.h).
  std::uint64_t generation = 0;
  // In a child of fork(): the child's own executor with these options, made on first use.
  Expected<const Impl*> in_this_process() const;
  void forget_in_forked_child() noexcept;
  // With no other executor on the state dir: removes its empty runtime roots, bundles dir
  // and itself. Anything else there (a crashed executor's leftovers, for gc) keeps it.
  void remove_state_dir_if_unused() const noexcept;

  Expected<std::shared_ptr<const runtime::RuntimeClient>> client_for(
      const std::optional<std::string>& wanted) const;
  Expected<std::shared_ptr<const runtime::RuntimeClient>> make_client(RuntimeInfo info) const;
  // The mount namespace without the cgroup2 mount that crun needs on a hybrid host, made on
  // first use and shared by every crun call of this executor.
  Expected<std::shared_ptr<const sys::UniqueFd>> crun_mount_ns() const;
  Expected<image::RootfsPlan> rootfs_for(const JobOptions& job) const;
  Expected<void> hold_cgroup_parent() const;
  Expected<Result> run(std::string_view script, const JobOptions& job) const;
  // run(), with any exception turned into an Error.
  Expected<Result> run_guarded(std::string_view script, const JobOptions& job) const;
  // Everything a job needs before its container exists: checked limits, the runtime, the
  // container request (the job's own), and the pool profile it matches.
  struct Prepared {
    EffectiveLimits limits;
    core::ContainerRequest request;
    core::PoolProfile profile;
  };
  Expected<Prepared> prepare(std::string_view script, const JobOptions& job) const;
  // The request for a pooled container of a job's profile: the pool's init as the command.
  [[nodiscard]] core::ContainerRequest pool_request(const core::ContainerRequest& job) const;
  Expected<Result> run_pooled(core::Container& container, const Prepared& prepared,
                              std::string_view script, const JobOptions& job) const;
  // Start, supervise, stats, removal: the same for a job's own and a pooled container.
  Expected<Result> run_created(core::Container& container, const JobOptions& job,
                               const EffectiveLimits& limits) const;
  GcReport collect_garbage() const;
};

}  // namespace ociexec
