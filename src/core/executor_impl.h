// The executor's shared state: fixed after Executor::create, so every job reads it without
// locks; what is made on first use (runtimes named per job, the host view, the cgroup parent's
// hold, crun's mount namespace, the seccomp probe) is guarded by a mutex each.
//
// The job path, file by file: prepare.cc turns a job into a container::JobPlan (validate,
// resolve the runtime and the root, build the spec input); run.cc runs a plan in a pooled
// container (pool::WarmPool::take) or a new one, then supervises, reads the stats and
// removes; runtimes.cc resolves runtimes; executor.cc is the public API and create's steps.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "cgroup/cgroup.h"
#include "container/container.h"
#include "container/plan.h"
#include "core/host.h"
#include "core/job_queue.h"
#include "image/rootfs.h"
#include "ociexec/executor.h"
#include "pool/warm_pool.h"
#include "runtime/runtime_client.h"
#include "sys/file_lock.h"
#include "sys/mount_ns.h"

namespace ociexec {

using RuntimeClientPtr = std::shared_ptr<const runtime::RuntimeClient>;

struct Executor::Impl {
  ExecutorOptions options;  // state_dir and cache_dir filled in
  // The fork() generation this executor was made in (sys/fork.h).
  std::uint64_t generation = 0;
  // Held from create() on; the last executor out removes the state dir once it is empty.
  sys::DirHold state_hold;
  std::filesystem::path bundles_dir;
  std::filesystem::path runtimes_dir;  // one --root per runtime name below it
  core::HostFacts host;
  RuntimeClientPtr default_runtime;
  // The warm pool (options.pool_size > 0).
  std::unique_ptr<pool::WarmPool> pool;
  // submit()'s workers, started on demand.
  std::unique_ptr<core::JobQueue> queue;

  mutable std::mutex runtimes_mutex;
  mutable std::map<std::string, RuntimeClientPtr> runtimes;  // by the name a job gave
  mutable std::mutex host_view_mutex;
  mutable std::optional<image::RootfsPlan> host_view_cache;
  // The shared cgroup parent, held from the first job until the executor is destroyed.
  mutable std::mutex parent_mutex;
  mutable std::optional<cgroup::ParentHold> parent_hold;
  mutable std::mutex mount_ns_mutex;
  mutable std::shared_ptr<runtime::MountNsSlot> mount_ns;
  // The host's mount table as crun's namespace copied it: the namespace is made again when
  // the table changes (refresh_crun_mount_ns).
  mutable std::optional<sys::MountTableWatch> host_mounts;
  // One seccomp probe at a time (core/seccomp_probe.h).
  mutable std::mutex seccomp_probe_mutex;
  // ociexec-init, copied into the state dir when the pool or a job with an init first needs
  // it (pool/warm_pool.h: install_init); removed with the executor.
  mutable std::mutex init_mutex;
  mutable std::filesystem::path init_copy;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  // Waits for submitted jobs (cancels those not started), drains the pool, then lets go of
  // the cgroup parent and the state dir, and removes each if no other executor holds it. In a
  // child of fork(), forgets all of that instead (core/forked.cc).
  ~Impl();

  // Executor::create's steps (executor.cc).
  Expected<void> open_state_dirs();
  Expected<void> start_pool();
  void collect_leftovers() const;
  // With no other executor on the state dir: removes its empty runtime roots, bundles dir
  // and itself. Anything else there (a crashed executor's leftovers, for gc) keeps it.
  void remove_state_dir_if_unused() const noexcept;

  // runtimes.cc: the runtime a name resolves to ("auto", "runc", "crun", a path; nullopt:
  // the default), made once per name with its root dir, mount namespace and sealed copy.
  Expected<RuntimeClientPtr> client_for(const std::optional<std::string>& wanted) const;
  Expected<RuntimeClientPtr> make_client(RuntimeInfo info) const;
  // The mount namespace without the cgroup2 mount that crun needs on a hybrid host, made on
  // first use and shared by every crun client of this executor.
  Expected<std::shared_ptr<runtime::MountNsSlot>> crun_mount_ns() const;
  // Once the host's mount table has changed since that namespace was made (a file system
  // mounted or unmounted outside the state and cache dirs), makes it again, for the
  // containers made from then on. A slave copy of a host whose
  // mounts are private sees none of the host's later mounts: a volume from one would bind the
  // directory under it.
  void refresh_crun_mount_ns() const;

  // prepare.cc: everything a job needs before its container exists.
  Expected<container::JobPlan> prepare(std::string_view script, const JobOptions& job) const;
  Expected<image::RootfsPlan> rootfs_for(const JobOptions& job) const;
  Expected<void> hold_cgroup_parent() const;

  // run.cc
  Expected<Result> run(std::string_view script, const JobOptions& job) const;
  // run(), with any exception turned into an Error.
  Expected<Result> run_guarded(std::string_view script, const JobOptions& job) const;
  // A container of the job's own: its command, or ociexec-init with the command as its child.
  Expected<std::unique_ptr<container::Container>> create(const container::JobPlan& plan) const;
  // The executor's copy of ociexec-init, made on first use.
  Expected<std::filesystem::path> init_binary() const;
  // Start, supervise, stats, removal: the same for a job's own and a pooled container.
  Expected<Result> run_created(container::Container& c, const container::JobPlan& plan) const;

  // gc.cc
  GcReport collect_garbage() const;

  // forked.cc: in a child of fork(), the child's own executor with these options, made on
  // first use; the parent's copy is forgotten, never torn down.
  Expected<const Impl*> in_this_process() const;
  void forget_in_forked_child() noexcept;
};

}  // namespace ociexec
