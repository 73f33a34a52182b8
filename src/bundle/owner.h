// Ownership of containers. Every container id names the process that created it (pid and
// start time, so a recycled pid is not mistaken for the owner): the id alone tells gc whether
// a container, its cgroup, its runtime state and its bundle dir are orphans.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ociexec::bundle {

inline constexpr std::string_view kIdPrefix = "ociexec-";

struct Owner {
  pid_t pid = 0;
  std::uint64_t start_time = 0;

  static const Owner& self();  // this process (a fork() child gets its own)
  [[nodiscard]] bool alive() const;
  bool operator==(const Owner&) const = default;
};

// "ociexec-<pid>-<start time>-<sequence>", unique across processes and executors.
std::string new_container_id();
// The owner encoded in an id made by new_container_id; nullopt for foreign ids.
std::optional<Owner> owner_of(std::string_view id);

// A container of this process that its executor gave up removing (a cleanup step that failed,
// an init that did not exit after SIGKILL): gc removes it as if its owner were dead. After
// fork(), the child starts with none (the parent's are the parent's).
void mark_abandoned(std::string_view id);
void forget_abandoned(std::string_view id);
bool is_abandoned(std::string_view id);
// Whether gc may remove the container `id`: made by ociexec, and its owner is dead or it was
// abandoned by this process.
bool orphaned(std::string_view id);

}  // namespace ociexec::bundle
