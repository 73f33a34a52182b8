#include "sys/signals.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>

namespace ociexec::sys {

namespace {

std::atomic<int> g_write_fd{-1};
std::atomic<int> g_first{0};

extern "C" void on_sigpipe(int) {}

extern "C" void on_signal(int sig) {
  const int saved = errno;  // the handler must not disturb the interrupted code's errno
  int expected = 0;
  const bool first = g_first.compare_exchange_strong(expected, sig);
  const unsigned char byte = static_cast<unsigned char>(first ? sig : SIGKILL);
  int fd = g_write_fd.load();
  if (fd >= 0) (void)::write(fd, &byte, 1);
  errno = saved;
}

}  // namespace

Expected<SignalForwarder> SignalForwarder::install(const std::vector<int>& signals) {
  auto pipe = make_pipe(true);
  if (!pipe) return tl::unexpected(pipe.error());
  // A full pipe must drop a signal rather than block inside the handler.
  ::fcntl(pipe->write.get(), F_SETFL, O_NONBLOCK);
  SignalForwarder fwd;
  fwd.pipe_ = std::move(*pipe);
  g_first = 0;
  g_write_fd = fwd.pipe_.write.get();
  for (int sig : signals) {
    struct sigaction sa {
    }, old{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (::sigaction(sig, &sa, &old) != 0) return tl::unexpected(errno_error("sigaction", errno));
    fwd.previous_.emplace_back(sig, old);
  }
  return fwd;
}

SignalForwarder::SignalForwarder(SignalForwarder&& other) noexcept
    : pipe_(std::move(other.pipe_)), previous_(std::move(other.previous_)) {
  other.previous_.clear();
}

SignalForwarder::~SignalForwarder() {
  for (const auto& [sig, old] : previous_) ::sigaction(sig, &old, nullptr);
  if (!previous_.empty()) g_write_fd = -1;
}

void SignalForwarder::inject(int sig) const noexcept {
  const unsigned char byte = static_cast<unsigned char>(sig);
  (void)!::write(pipe_.write.get(), &byte, 1);
}

int SignalForwarder::first_signal() noexcept {
  return g_first.load();
}

Expected<void> catch_sigpipe() {
  struct sigaction sa {};
  sa.sa_handler = on_sigpipe;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (::sigaction(SIGPIPE, &sa, nullptr) != 0) return tl::unexpected(errno_error("sigaction", errno));
  return {};
}

}  // namespace ociexec::sys
