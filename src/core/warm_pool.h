// The warm pool: containers created ahead of time, `size` per profile, each given to exactly
// one job and removed after it like any other; a container is never reused. A profile is
// what cannot change once a container exists (runtime, root, work dir, tmpfs size, user); a
// job whose memory, CPU or pids limits differ from the profile's gets them written to its
// cgroup before it starts. Background threads refill the pool, replace containers older than
// `max_age` and drop profiles unused for five times as long. At most `max_containers` exist
// (ready or being made) across all profiles: to fill a profile past that, the least recently
// used other profile is dropped with its containers. Destroying the pool removes every
// pooled container; after a crash, gc removes them (their ids name the owner, as every
// container's).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/container.h"

namespace ociexec::core {

struct PoolProfile {
  std::string runtime;  // the runtime binary's path
  // The whole root, never just a path that two roots may share: a directory's path with its
  // device and inode; an image's config digest and every layer, bottom to top.
  std::string root;
  std::string workdir;
  std::uint64_t tmpfs_bytes = 0;
  std::uint32_t uid = 65534;  // the process user is fixed at create
  std::uint32_t gid = 65534;
  auto operator<=>(const PoolProfile&) const = default;
};

class WarmPool {
 public:
  WarmPool(std::size_t size, std::size_t max_containers, std::chrono::milliseconds max_age,
           std::size_t fillers);
  WarmPool(const WarmPool&) = delete;
  WarmPool& operator=(const WarmPool&) = delete;
  ~WarmPool();

  // A ready container of `profile`, or null (the job then creates its own). The first call
  // for a profile registers it, with `request` as the template of its containers (the
  // pool's init as the command, the job's limits); from then on the pool keeps it filled.
  std::unique_ptr<Container> take(const PoolProfile& profile, const ContainerRequest& request);
  // Registers `profile` and waits until the pool holds `size` ready containers of it, or
  // `timeout` passes. Returns how many are ready; an error when creating them fails.
  Expected<std::size_t> fill(const PoolProfile& profile, const ContainerRequest& request,
                             std::chrono::milliseconds timeout);
  // The limits the pool's containers of `profile` were created with.
  [[nodiscard]] std::optional<cgroup::ResourceLimits> limits_of(const PoolProfile& profile) const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    ContainerRequest request;
    std::deque<std::unique_ptr<Container>> ready;  // oldest first
    std::size_t creating = 0;
    std::size_t waiters = 0;  // fill() calls waiting on it: the entry is never erased meanwhile
    bool evicted = false;     // dropped for a more recently used profile, until used again
    Clock::time_point last_used;
    Clock::time_point retry_after;  // after a failed create
    std::optional<Error> last_error;
  };
  using Discarded = std::vector<std::unique_ptr<Container>>;
  Entry& register_profile(const PoolProfile& profile, const ContainerRequest& request);
  void fill_loop();
  // Under the lock: the most recently used profile that needs a container (marked as being
  // created), after making room under max_containers by evicting into `evicted`.
  Entry* next_to_fill(Clock::time_point now, Discarded& evicted);
  // Under the lock: aged containers and idle profiles, to discard outside the lock.
  Discarded collect_expired(Clock::time_point now);
  [[nodiscard]] std::size_t total() const;

  const std::size_t size_;
  const std::size_t max_containers_;
  const std::chrono::milliseconds max_age_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;     // fillers: work to do, or stop
  std::condition_variable changed_;  // fill(): a container is ready or failed
  std::map<PoolProfile, Entry> entries_;
  bool stopping_ = false;
  std::vector<std::thread> fillers_;
};

// Copies the pool's init (ociexec-init) into `state_dir`, where pooled bundles hard-link it
// (the same file system): one copy per executor, "<container-style id>.init", which the
// executor removes as it is destroyed. `wanted` empty: next to the running program, in its
// prefix's libexec, else where ociexec was configured to install it. Returns the copy's path.
inline constexpr std::string_view kPoolInitSuffix = ".init";
Expected<std::filesystem::path> install_pool_init(const std::filesystem::path& wanted,
                                                  const std::filesystem::path& state_dir);
// Removes the init copies of executors that are gone (killed before removing theirs).
void remove_orphaned_pool_inits(const std::filesystem::path& state_dir);

}  // namespace ociexec::core
