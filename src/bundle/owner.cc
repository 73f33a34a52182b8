#include "bundle/owner.h"

#include <unistd.h>

#include <atomic>
#include <charconv>

#include <fmt/format.h>

#include "sys/proc.h"

namespace ociexec::bundle {

const Owner& Owner::self() {
  static const Owner owner{::getpid(), sys::process_start_time(::getpid()).value_or(0)};
  return owner;
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

}  // namespace ociexec::bundle
