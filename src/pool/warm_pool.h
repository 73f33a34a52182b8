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

#include "container/container.h"
#include "container/plan.h"

namespace ociexec::pool {

using container::Container;
using container::JobPlan;
using container::Profile;

struct PoolSettings {
  std::size_t size = 0;            // ready containers per profile
  std::size_t max_containers = 0;  // across all profiles, ready or being made
  std::chrono::milliseconds max_age{0};
  std::size_t fillers = 1;         // threads that create containers
  std::filesystem::path init;      // the executor's copy of ociexec-init (install_init)
  // How long a warm interpreter (pool/warm.h) may take to be ready once started.
  std::chrono::milliseconds warm_timeout{30000};
};

class WarmPool {
 public:
  explicit WarmPool(PoolSettings settings);
  WarmPool(const WarmPool&) = delete;
  WarmPool& operator=(const WarmPool&) = delete;
  ~WarmPool();

  // A ready container of the plan's profile with the plan's job assigned to it (assign.h),
  // or null (the job then creates its own). The first call for a profile registers it, with
  // this plan as the template of its containers (template_for: the init as the command, the
  // plan's limits); from then on the pool keeps it filled.
  Expected<std::unique_ptr<Container>> take(const JobPlan& plan);
  // Registers the plan's profile and waits until the pool holds `size` ready containers of
  // it, or `timeout` passes. Returns how many are ready; an error when creating them fails.
  Expected<std::size_t> fill(const JobPlan& plan, std::chrono::milliseconds timeout);

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    container::Request request;
    cgroup::ResourceLimits limits;  // what its containers' cgroups are created with
    std::deque<std::unique_ptr<Container>> ready;  // oldest first
    std::size_t creating = 0;
    std::size_t waiters = 0;  // fill() calls waiting on it: the entry is never erased meanwhile
    bool evicted = false;     // dropped for a more recently used profile, until used again
    Clock::time_point last_used;
    Clock::time_point retry_after;  // after a failed create
    std::optional<Error> last_error;
  };
  using Discarded = std::vector<std::unique_ptr<Container>>;
  Entry& register_profile(const JobPlan& plan);
  void fill_loop();
  // Under the lock: the most recently used profile that needs a container (marked as being
  // created), after making room under max_containers by evicting into `evicted`.
  Entry* next_to_fill(Clock::time_point now, Discarded& evicted);
  // Under the lock: aged containers and idle profiles, to discard outside the lock.
  Discarded collect_expired(Clock::time_point now);
  [[nodiscard]] std::size_t total() const;

  const PoolSettings settings_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;     // fillers: work to do, or stop
  std::condition_variable changed_;  // fill(): a container is ready or failed
  std::map<Profile, Entry> entries_;
  bool stopping_ = false;
  std::vector<std::thread> fillers_;
};

// Copies ociexec-init into `state_dir`, where the bundles of pooled containers and of jobs
// with an init hard-link it (the same file system): one copy per executor, "<container-style id>.init", which the
// executor removes as it is destroyed. `wanted` empty: next to the running program, in its
// prefix's libexec, else where ociexec was configured to install it. Returns the copy's path.
inline constexpr std::string_view kInitCopySuffix = ".init";
Expected<std::filesystem::path> install_init(const std::filesystem::path& wanted,
                                             const std::filesystem::path& state_dir);
// Removes the init copies of executors that are gone (killed before removing theirs).
void remove_orphaned_inits(const std::filesystem::path& state_dir);

}  // namespace ociexec::pool
