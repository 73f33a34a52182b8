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
  // The first signal received, or 0.
  [[nodiscard]] static int first_signal() noexcept;

 private:
  SignalForwarder() = default;
  Pipe pipe_;
  std::vector<std::pair<int, struct sigaction>> previous_;
};

}  // namespace ociexec::sys
