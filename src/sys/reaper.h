// Late reaping. The executor is a child subreaper, so processes it never waits for directly
// can become its children: the helpers of a runtime it killed on a hung create (reparented to
// us when the runtime died), and a container init it stopped waiting for after SIGKILL (stuck
// in uninterruptible sleep). Each is handed here as a pidfd, killed, and reaped once it has
// exited, by reap_exited(), which never blocks; nothing of ours stays a zombie for good.
//
// Only processes known to be ours are handed over; the program's own children (and orphans of
// them) are never reaped here, so its own waitpid(pid) keeps working.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <vector>

#include "sys/process.h"

namespace ociexec::sys {

class Reaper {
 public:
  // The process-wide one. After fork() the child starts with an empty one: the parent's
  // processes are not the child's to reap.
  static Reaper& instance();

  // Sends SIGKILL and keeps `pidfd` until its process has been reaped (by us, or by its own
  // parent if it is not yet our child).
  void adopt(Pidfd pidfd);
  // Reaps what has exited; returns how many processes are still held.
  std::size_t reap_exited();
  // reap_exited() until nothing is held or `limit` passes (SIGKILLed processes take a moment
  // to die, and their children to be reparented to us); returns how many are still held.
  std::size_t settle(std::chrono::milliseconds limit);
  [[nodiscard]] std::size_t held() const;

 private:
  Reaper() = default;
  std::uint64_t generation_ = 0;
  mutable std::mutex mutex_;
  std::vector<Pidfd> held_;
  // Under the lock: drops the parent's processes in a forked child.
  void forget_if_forked();
};

}  // namespace ociexec::sys
