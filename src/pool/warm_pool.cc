#include "pool/warm_pool.h"

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/std.h>

#include "bundle/owner.h"
#include "pool/assign.h"
#include "sys/fs.h"
#include "sys/process.h"

namespace ociexec::pool {

using namespace std::chrono_literals;

namespace {

// A failed create (a bad rootfs, a full disk) is retried after this long, not in a loop.
constexpr auto kRetryAfterFailure = 1s;
// A profile no job has used for this many container lifetimes is dropped with its pool.
constexpr int kIdleAges = 5;

}  // namespace

WarmPool::WarmPool(PoolSettings settings) : settings_(std::move(settings)) {
  for (std::size_t i = 0; i < std::max<std::size_t>(settings_.fillers, 1); ++i)
    fillers_.emplace_back([this] { fill_loop(); });
}

WarmPool::~WarmPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : fillers_) t.join();
  // The containers go with entries_: each Container removes itself as it is destroyed.
  std::map<Profile, Entry> entries;
  {
    std::lock_guard lock(mutex_);
    entries.swap(entries_);
  }
  for (auto& [profile, entry] : entries)
    for (auto& c : entry.ready) c->discard();
}

WarmPool::Entry& WarmPool::register_profile(const JobPlan& plan) {
  auto [it, inserted] = entries_.try_emplace(plan.profile);
  if (inserted) {
    // Made with the first job's limits but never its cpuset: nothing could undo one for a
    // later job without (cgroup/limits.h), so pooled containers run on every CPU until a job
    // names some.
    auto& entry = it->second;
    entry.request = template_for(plan, settings_.init);
    entry.request.spec.cpuset_cpus.reset();
    if (entry.request.own_cgroup) entry.request.own_cgroup->cpuset_cpus.reset();
    entry.limits = plan.cgroup_limits;
    entry.limits.cpuset_cpus.reset();
  }
  it->second.last_used = Clock::now();
  it->second.evicted = false;
  return it->second;
}

Expected<std::unique_ptr<Container>> WarmPool::take(const JobPlan& plan) {
  std::unique_ptr<Container> taken;
  cgroup::ResourceLimits created_with;
  Discarded dead;
  {
    std::lock_guard lock(mutex_);
    auto& entry = register_profile(plan);
    // Newest first: the oldest are the next to age out. A warm interpreter killed while it
    // waited is passed over (and removed), never given a job.
    while (!entry.ready.empty() && !taken) {
      taken = std::move(entry.ready.back());
      entry.ready.pop_back();
      created_with = entry.limits;
      if (entry.request.warm_loader && !taken->waiting_ahead()) dead.push_back(std::move(taken));
    }
  }
  wake_.notify_one();  // refill, or start filling a new profile
  for (auto& c : dead) c->discard();
  if (taken)
    if (auto r = assign(*taken, plan, created_with); !r) return tl::unexpected(r.error());
  return taken;
}

Expected<std::size_t> WarmPool::fill(const JobPlan& plan, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  // The entry stays in the map while we wait on it (collect_expired keeps entries with
  // waiters), so the reference stays valid across the waits.
  Entry& entry = register_profile(plan);
  ++entry.waiters;
  entry.last_error.reset();
  wake_.notify_all();
  const auto deadline = Clock::now() + timeout;
  changed_.wait_until(lock, deadline,
                      [&] { return stopping_ || entry.ready.size() >= settings_.size || entry.last_error; });
  --entry.waiters;
  entry.last_used = Clock::now();
  if (entry.last_error) return tl::unexpected(entry.last_error->with_context("fill the pool"));
  return entry.ready.size();
}

std::size_t WarmPool::total() const {
  std::size_t n = 0;
  for (const auto& [profile, e] : entries_) n += e.ready.size() + e.creating;
  return n;
}

WarmPool::Entry* WarmPool::next_to_fill(Clock::time_point now, Discarded& evicted) {
  Entry* wanted = nullptr;
  for (auto& [profile, e] : entries_) {
    if (e.evicted || e.ready.size() + e.creating >= settings_.size || now < e.retry_after)
      continue;
    if (!wanted || e.last_used > wanted->last_used) wanted = &e;
  }
  if (!wanted) return nullptr;
  if (total() >= settings_.max_containers) {
    // Room for it: the least recently used profile that was used before it goes, with its
    // containers. None older: the pool stays as it is.
    auto victim = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      const Entry& e = it->second;
      if (&e == wanted || e.last_used >= wanted->last_used || e.ready.empty()) continue;
      if (victim == entries_.end() || e.last_used < victim->second.last_used) victim = it;
    }
    if (victim == entries_.end()) return nullptr;
    Entry& v = victim->second;
    for (auto& c : v.ready) evicted.push_back(std::move(c));
    v.ready.clear();
    if (v.creating == 0 && v.waiters == 0)
      entries_.erase(victim);
    else
      v.evicted = true;
    if (total() >= settings_.max_containers) return nullptr;  // the next round evicts another
  }
  ++wanted->creating;
  return wanted;
}

WarmPool::Discarded WarmPool::collect_expired(Clock::time_point now) {
  Discarded expired;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto& e = it->second;
    const bool idle = e.waiters == 0 && now - e.last_used > kIdleAges * settings_.max_age;
    while (!e.ready.empty() && (idle || now - e.ready.front()->created_at() > settings_.max_age)) {
      expired.push_back(std::move(e.ready.front()));
      e.ready.pop_front();
    }
    if (idle && e.creating == 0)
      it = entries_.erase(it);
    else
      ++it;
  }
  return expired;
}

void WarmPool::fill_loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto now = Clock::now();
    auto expired = collect_expired(now);
    Entry* entry = expired.empty() ? next_to_fill(now, expired) : nullptr;
    if (!expired.empty()) {
      if (entry) --entry->creating;  // the next round picks it again, after the discards
      lock.unlock();
      for (auto& c : expired) c->discard();
      expired.clear();
      lock.lock();
      continue;
    }
    if (!entry) {
      // Sleep until asked, or until the oldest container ages out or a retry is due.
      auto wake_at = now + settings_.max_age;
      for (const auto& [p, e] : entries_) {
        if (!e.ready.empty()) wake_at = std::min(wake_at, e.ready.front()->created_at() + settings_.max_age);
        if (e.retry_after > now) wake_at = std::min(wake_at, e.retry_after);
        wake_at = std::min(wake_at, e.last_used + kIdleAges * settings_.max_age + 1ms);
      }
      wake_.wait_until(lock, wake_at);
      continue;
    }
    // The entry stays in the map while creating > 0 (collect_expired keeps it).
    const container::Request request = entry->request;
    lock.unlock();
    auto created = Container::create(request);
    if (created && request.warm_loader)
      if (auto r = (*created)->start_ahead(settings_.warm_timeout); !r)
        created = tl::unexpected(r.error());  // the failed container removes itself here
    lock.lock();
    --entry->creating;
    if (created) {
      entry->ready.push_back(std::move(*created));
      entry->last_error.reset();
    } else {
      entry->last_error = created.error();
      entry->retry_after = Clock::now() + kRetryAfterFailure;
    }
    changed_.notify_all();
  }
}

Expected<std::filesystem::path> install_init(const std::filesystem::path& wanted,
                                                  const std::filesystem::path& state_dir) {
  namespace fs = std::filesystem;
  fs::path source = wanted;
  if (source.empty()) {
    // Next to the program (a build tree), in its prefix (an installed, relocated tree), else
    // where this library was configured to be installed.
    std::error_code ec;
    const auto dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
    source = OCIEXEC_INIT_INSTALL_PATH;
    for (const auto& candidate :
         {dir / "ociexec-init", dir.parent_path() / "libexec/ociexec/ociexec-init"})
      if (!ec && sys::find_executable(candidate.string())) {
        source = candidate;
        break;
      }
  }
  auto bytes = sys::read_file(source);
  if (!bytes)
    return tl::unexpected(Error{
        ErrorKind::kInvalidArgument,
        fmt::format("cannot read ociexec-init at {} ({}); install ociexec, or set init_path",
                    source, bytes.error().message)});
  // The executor's own copy, named like a container (its owner in the name): removed with
  // the executor, and by gc once its owner is gone.
  const fs::path copy = state_dir / (bundle::new_container_id() + std::string(kInitCopySuffix));
  if (auto r = sys::write_new_file(copy, *bytes, 0755); !r)
    return tl::unexpected(r.error().with_context("copy ociexec-init"));
  return copy;
}

void remove_orphaned_inits(const std::filesystem::path& state_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(state_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.ends_with(kInitCopySuffix)) continue;
    auto owner = bundle::owner_of(std::string_view(name).substr(0, name.size() - kInitCopySuffix.size()));
    if (owner && !owner->alive()) (void)sys::remove_tree(e.path());
  }
}

}  // namespace ociexec::pool
