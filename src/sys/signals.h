// Turns termination signals sent to this process into bytes on a pipe, so the poll loop of a
// running job can forward them to the container (as podman's --sig-proxy does). The first
// signal is passed on as it is; any later one becomes SIGKILL, so a second Ctrl-C always
// ends a job whose init ignores the first. One forwarder per process at a time.
#pragma once

#include <csignal>
#include <vector>

#include "ociexec/error.h"
#include "sys/unique_fd.h"

namespace ociexec::sys {

class SignalForwarder {
 public:
  static Expected<SignalForwarder> install(const std::vector<int>& signals);
  SignalForwarder(SignalForwarder&& other) noexcept;
  SignalForwarder& operator=(SignalForwarder&&) = delete;
  ~SignalForwarder();

  // Non-blocking read end: one byte per signal number.
  [[nodiscard]] int fd() const noexcept { return pipe_.read.get(); }
  // Queues `sig` for the job as a received signal would be, but as the program's own
  // request: it is passed on as it is and does not count as the first signal (a Ctrl-C after
  // it is still passed on, not turned into SIGKILL). Async-signal-safe; a full pipe drops it.
  void inject(int sig) const noexcept;
  // The first signal received, or 0.
  [[nodiscard]] static int first_signal() noexcept;

 private:
  SignalForwarder() = default;
  Pipe pipe_;
  std::vector<std::pair<int, struct sigaction>> previous_;
};

// SIGPIPE gets a handler that does nothing: a write to a pipe whose reader went away fails
// with EPIPE instead of killing this process mid-job (which would leave the job to gc).
// Unlike SIG_IGN, a handler is reset at exec, so the runtime and the job get the default.
Expected<void> catch_sigpipe();

}  // namespace ociexec::sys
