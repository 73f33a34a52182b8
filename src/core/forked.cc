// An Executor used in a child of fork(): the copy holds the parent's pool, worker threads
// (which do not exist in the child), cgroup and state-dir holds and container ids. None of it
// is the child's to use or to tear down. The child gets an executor of its own, made with the
// same options on first use (a new owner identity, subreaper flag, pool and workers), and the
// parent's copy is only forgotten when the child drops it.
#include <map>
#include <mutex>

#include "core/executor_impl.h"
#include "sys/fork.h"

namespace ociexec {

namespace {

// The child's executors, by the parent's Impl they stand in for. One registry per process
// generation: a child never locks a mutex some parent thread may have held at the fork.
struct ForkedExecutors {
  std::uint64_t generation;
  std::mutex mutex;
  // Executor::Impl is private: held type-erased (the deleter still knows the type).
  std::map<const void*, std::shared_ptr<const void>> own;
};

ForkedExecutors& forked_executors() {
  static std::atomic<ForkedExecutors*> current{nullptr};
  const std::uint64_t generation = sys::fork_generation();
  ForkedExecutors* seen = current.load(std::memory_order_acquire);
  if (seen && seen->generation == generation) return *seen;
  auto* fresh = new ForkedExecutors{generation, {}, {}};  // never freed: it may be in use
  if (current.compare_exchange_strong(seen, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;
  return *seen;
}

}  // namespace

Expected<const Executor::Impl*> Executor::Impl::in_this_process() const {
  auto& registry = forked_executors();
  std::lock_guard lock(registry.mutex);
  if (auto it = registry.own.find(this); it != registry.own.end())
    return static_cast<const Impl*>(it->second.get());
  ExecutorOptions o = options;
  o.collect_garbage_on_start = false;  // the parent did, and its containers are alive
  auto made = Executor::create(std::move(o));
  if (!made) return tl::unexpected(made.error().with_context("executor after fork()"));
  const Impl* mine = made->impl_.get();
  registry.own.emplace(this, std::move(made->impl_));
  return mine;
}

void Executor::Impl::forget_in_forked_child() noexcept {
  // The threads behind these do not exist here, and their containers are the parent's:
  // neither joined nor removed.
  (void)pool.release();
  (void)queue.release();
  if (parent_hold) parent_hold->release();
  state_hold.release();
  std::shared_ptr<const void> mine;
  {
    auto& registry = forked_executors();
    std::lock_guard lock(registry.mutex);
    if (auto it = registry.own.find(this); it != registry.own.end()) {
      mine = std::move(it->second);
      registry.own.erase(it);
    }
  }
  // `mine` (the child's own executor) is destroyed here, outside the lock.
}

}  // namespace ociexec
