// A user namespace of our own for a rootless job, with a mount namespace (and a network one,
// if asked) it owns, held by a child of ours that does nothing else. The job's container joins all
// three (OCI `path`), so they can be reached through a process that is ours: pasta joins the
// network namespace, the files writer the mount namespace (sys/job_tree.h). The job's own init
// cannot serve there: once it has taken a uid the caller does not own (rootless with
// subordinate ids) it is not dumpable, and the kernel then lets only CAP_SYS_PTRACE on the
// host join its namespaces.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ociexec/error.h"
#include "sys/process.h"

namespace ociexec::sys {

// One line of a uid_map or gid_map: ids inside..inside+count map onto outside..
struct IdMapping {
  std::uint32_t inside = 0;
  std::uint32_t outside = 0;
  std::uint32_t count = 0;
  bool operator==(const IdMapping&) const = default;
};

class HeldNamespaces {
 public:
  HeldNamespaces() = default;
  // Clones the holder into new user and mount namespaces (and network, with `network`: one
  // with only a loopback, down, for pasta to set up) and maps `uids` and `gids`
  // in the first: the caller's own id alone directly (setgroups denied, as an unprivileged
  // writer must), anything else through newuidmap and newgidmap (the setuid helpers that
  // check /etc/subuid and /etc/subgid), each bounded by `timeout`. The holder is a copy of
  // this process in the mount namespace of the calling thread; it dies with that thread.
  static Expected<HeldNamespaces> create(const std::vector<IdMapping>& uids,
                                         const std::vector<IdMapping>& gids, bool network,
                                         std::chrono::milliseconds timeout);

  [[nodiscard]] bool held() const noexcept { return holder_.pidfd().valid(); }
  // The holder: join its namespaces with setns on this pidfd (the user namespace first).
  [[nodiscard]] const Pidfd& pidfd() const noexcept { return holder_.pidfd(); }
  // "/proc/<pid>/ns/<kind>" (user, mnt, net): the holder is an unreaped child of ours, so
  // the pid names it until this object is destroyed, which kills and reaps it.
  [[nodiscard]] std::string ns_path(std::string_view kind) const;

 private:
  ChildProcess holder_;
};

}  // namespace ociexec::sys
