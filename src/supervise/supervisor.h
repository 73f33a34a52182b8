// Supervision of a started container: one poll loop over the init's pidfd, both output pipes
// and the absolute deadline. No sleeps, no busy loop: the loop wakes only for output, for the
// init's exit, or for the next deadline (SIGTERM at deadline - grace, SIGKILL at deadline).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "ociexec/error.h"
#include "supervise/relay.h"
#include "sys/process.h"
#include "sys/unique_fd.h"

namespace ociexec::supervise {

using Clock = std::chrono::steady_clock;

// After the init exits, every process of its pid namespace is already dead; pipes still open
// then are held by something outside the job, and are abandoned after this long.
inline constexpr std::chrono::milliseconds kDrainAfterExit{200};

struct Input {
  sys::UniqueFd stdout_fd;  // non-blocking read ends
  sys::UniqueFd stderr_fd;
  Clock::time_point deadline;
  std::chrono::milliseconds grace{0};
  std::size_t output_cap = 0;
  // Sends a signal to every process of the job (the init and its cgroup).
  std::function<void(int)> signal_job;
  // Each byte read from it is a signal number to forward through signal_job (none: none).
  sys::FdRef signal_fd;
  // After the deadline's SIGKILL, how long the init may take to exit. An init that does not
  // (uninterruptible sleep: a hung NFS read, a frozen cgroup) is given up on: the result is
  // returned anyway, and the caller leaves the container to gc.
  std::chrono::milliseconds kill_wait{10'000};
  // Live output, borrowed: each piece read is also pushed there (none: not at all).
  OutputRelay* relay = nullptr;
};

struct Captured {
  std::string data;
  bool truncated = false;
};

struct Output {
  sys::ExitStatus status;
  bool timed_out = false;  // the deadline (or its grace SIGTERM) ended the job
  // The init had not exited kill_wait after the SIGKILL: it is not reaped, status is unknown.
  bool abandoned = false;
  Clock::time_point exited_at;
  Captured out;
  Captured err;
};

// poll's wait until `wake` (-1 without one): rounded up to whole milliseconds, and at most
// INT_MAX of them, so that a far deadline is a long wait and never a negative (endless) one.
int poll_wait_ms(Clock::time_point now, std::optional<Clock::time_point> wake);

// Runs until the init has exited and both pipes are closed (or abandoned), or until kill_wait
// after the deadline's SIGKILL. `init` is reaped, unless Output::abandoned.
Expected<Output> supervise(sys::ChildProcess& init, Input input);

}  // namespace ociexec::supervise
