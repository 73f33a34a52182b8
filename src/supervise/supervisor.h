// Supervision of a started container: one poll loop over the init's pidfd, both output pipes
// and the absolute deadline. No sleeps, no busy loop: the loop wakes only for output, for the
// init's exit, for the next deadline (SIGTERM at deadline - grace, SIGKILL at deadline), or
// with a CPU-time limit, for its next read of the cgroup's CPU time.
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
  // A CPU-time limit: the job is SIGKILLed once cpu_time_used() (its cgroup's CPU time) is
  // `cpu_time_limit` past what it read when supervision began. It is read on a schedule paced
  // by how fast the job can spend what is left on `cpu_parallelism` CPUs (see
  // next_cpu_check), so a long job costs a read every kMaxCpuCheck at most.
  std::optional<std::chrono::nanoseconds> cpu_time_limit;
  std::function<std::optional<std::chrono::nanoseconds>()> cpu_time_used;
  unsigned cpu_parallelism = 1;
};

// The pacing of CPU-time reads: never more often than kMinCpuCheck (a job killed up to
// kMinCpuCheck x its CPUs past its limit), never less than kMaxCpuCheck.
inline constexpr std::chrono::milliseconds kMinCpuCheck{10};
inline constexpr std::chrono::milliseconds kMaxCpuCheck{250};
// When to read again: when the job, on all its CPUs at once, could have spent what is left.
Clock::time_point next_cpu_check(Clock::time_point now, std::chrono::nanoseconds left,
                                 unsigned parallelism);

struct Captured {
  std::string data;
  bool truncated = false;
};

struct Output {
  sys::ExitStatus status;
  bool timed_out = false;  // the deadline (or its grace SIGTERM) ended the job
  bool cpu_time_exceeded = false;  // killed at its CPU-time limit (before any deadline)
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
