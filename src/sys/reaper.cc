#include "sys/reaper.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "sys/fork.h"

namespace ociexec::sys {

namespace {

enum class State { kRunning, kReaped, kGone, kNotOurs };

// One non-blocking look at a held process.
State look(const Pidfd& p) {
  siginfo_t info{};
  // P_PIDFD (3): reaps it if it is our child and has exited.
  if (::waitid(static_cast<idtype_t>(3), static_cast<id_t>(p.fd()), &info, WEXITED | WNOHANG) == 0)
    return info.si_pid == 0 ? State::kRunning : State::kReaped;
  if (errno != ECHILD) return State::kGone;
  // Not our child (yet): its parent is alive and will reap it, or was reaped already (then
  // no signal reaches it any more).
  if (::syscall(SYS_pidfd_send_signal, p.fd(), 0, nullptr, 0) != 0 && errno == ESRCH)
    return State::kGone;
  return State::kNotOurs;
}

}  // namespace

Reaper& Reaper::instance() {
  // Never destroyed: late adopters (a static executor's destructor) may still call it.
  static Reaper* const reaper = [] {
    auto* r = new Reaper();
    r->generation_ = fork_generation();
    // The lock is held across fork(), so a child never inherits it locked by a thread that
    // does not exist there.
    ::pthread_atfork([] { instance().mutex_.lock(); }, [] { instance().mutex_.unlock(); },
                     [] { instance().mutex_.unlock(); });
    return r;
  }();
  return *reaper;
}

void Reaper::forget_if_forked() {
  if (generation_ == fork_generation()) return;
  generation_ = fork_generation();
  held_.clear();  // the fds close; the processes are the parent's
}

void Reaper::adopt(Pidfd pidfd) {
  if (!pidfd.valid()) return;
  (void)pidfd.send_signal(SIGKILL);
  std::lock_guard lock(mutex_);
  forget_if_forked();
  held_.push_back(std::move(pidfd));
}

std::size_t Reaper::reap_exited() {
  std::lock_guard lock(mutex_);
  forget_if_forked();
  std::erase_if(held_, [](const Pidfd& p) {
    const State s = look(p);
    return s == State::kReaped || s == State::kGone;
  });
  return held_.size();
}

std::size_t Reaper::settle(std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    const std::size_t left = reap_exited();
    if (left == 0 || std::chrono::steady_clock::now() >= until) return left;
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(20));
  }
}

std::size_t Reaper::held() const {
  std::lock_guard lock(mutex_);
  return held_.size();
}

}  // namespace ociexec::sys
