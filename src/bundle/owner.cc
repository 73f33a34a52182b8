#include "bundle/owner.h"

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "sys/fork.h"
#include "sys/proc.h"

namespace ociexec::bundle {

namespace {

// State of this process that a fork() child must not share: made again, once, in each child
// (the parent's copy, whose mutex another thread may have held at the fork, is left alone).
template <typename T>
T& per_process() {
  static std::atomic<T*> current{nullptr};
  const std::uint64_t generation = sys::fork_generation();
  T* seen = current.load(std::memory_order_acquire);
  if (seen && seen->generation == generation) return *seen;
  auto* fresh = new T(generation);  // one per fork, never freed: it may be in use
  if (current.compare_exchange_strong(seen, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;  // another thread made it first
  return *seen;
}

struct Identity {
  explicit Identity(std::uint64_t g)
      : generation(g), owner{::getpid(), sys::process_start_time(::getpid()).value_or(0)} {}
  std::uint64_t generation;
  Owner owner;
};

struct Abandoned {
  explicit Abandoned(std::uint64_t g) : generation(g) {}
  std::uint64_t generation;
  std::mutex mutex;
  std::set<std::string, std::less<>> ids;
};

}  // namespace

const Owner& Owner::self() {
  return per_process<Identity>().owner;
}

bool Owner::alive() const {
  if (*this == self()) return true;
  return sys::process_alive(pid, start_time);
}

std::string new_container_id() {
  static std::atomic<std::uint64_t> sequence{0};
  const Owner& me = Owner::self();
  return fmt::format("{}{}-{}-{}", kIdPrefix, me.pid, me.start_time, sequence++);
}

std::optional<Owner> owner_of(std::string_view id) {
  if (id.substr(0, kIdPrefix.size()) != kIdPrefix) return std::nullopt;
  id.remove_prefix(kIdPrefix.size());
  std::uint64_t parts[3];
  for (int i = 0; i < 3; ++i) {
    auto dash = id.find('-');
    auto field = i < 2 ? id.substr(0, dash) : id;
    if (field.empty() || (i < 2 && dash == std::string_view::npos)) return std::nullopt;
    auto [p, ec] = std::from_chars(field.data(), field.data() + field.size(), parts[i]);
    if (ec != std::errc{} || p != field.data() + field.size()) return std::nullopt;
    if (i < 2) id.remove_prefix(dash + 1);
  }
  return Owner{static_cast<pid_t>(parts[0]), parts[1]};
}

void mark_abandoned(std::string_view id) {
  auto& a = per_process<Abandoned>();
  std::lock_guard lock(a.mutex);
  a.ids.emplace(id);
}

void forget_abandoned(std::string_view id) {
  auto& a = per_process<Abandoned>();
  std::lock_guard lock(a.mutex);
  if (auto it = a.ids.find(id); it != a.ids.end()) a.ids.erase(it);
}

bool is_abandoned(std::string_view id) {
  auto& a = per_process<Abandoned>();
  std::lock_guard lock(a.mutex);
  return a.ids.find(id) != a.ids.end();
}

bool orphaned(std::string_view id) {
  auto owner = owner_of(id);
  if (!owner) return false;
  return !owner->alive() || (*owner == Owner::self() && is_abandoned(id));
}

}  // namespace ociexec::bundle
