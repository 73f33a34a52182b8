#include "supervise/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <new>
#include <optional>

namespace ociexec::supervise {

namespace {

constexpr std::size_t kReadChunk = 1 << 16;
// Reads of one pipe per wake of the poll loop: a pipe's worth (1 MiB), then back to the loop,
// which checks the deadline and the other fds. A writer faster than we read (several of
// them, or a slow reader: ThreadSanitizer's) never lets the pipe run dry, and reading "until
// EAGAIN" would then hold the loop, and the deadline, forever.
constexpr int kReadsPerWake = 16;
constexpr std::int64_t kMaxPollWaitMs = std::numeric_limits<int>::max();

// Growth of a kept stream. For large outputs the cost is memory, not the pipe: every doubling
// copies all kept bytes and faults in a fresh buffer (about 2 GiB copied and 3.5 GiB faulted
// to keep 1 GiB). So: double up to kJumpFrom, then reserve up to the cap at once (address
// space only; untouched pages cost nothing), and fault pages in kWindow steps just ahead of
// the data, one madvise each. Keeping 1 GiB went from about 0.85 to 1.5 GB/s here. Below
// kJumpFrom, doubling is cheap in a long-lived process: glibc serves buffers under its mmap
// threshold (up to 32 MiB) from memory earlier jobs freed, with no fault. Jumping at 16 MiB
// rather than 64 saves the copies and fresh pages of the 32 and 64 MiB steps: keeping 512 MiB
// took 1.0-1.2 s instead of 1.3-1.5 s, 128 MiB 0.3-0.4 s instead of 0.56, on a machine where
// faulting in fresh memory is slow (docs/benchmarks-scale.md).
constexpr std::size_t kJumpFrom = std::size_t{16} << 20;
constexpr std::size_t kWindow = std::size_t{8} << 20;
constexpr std::size_t kPrefaultFrom = std::size_t{8} << 20;  // smaller buffers fault as written

void make_room(Captured& sink, std::size_t& prefaulted, std::size_t more, std::size_t cap) {
  std::string& data = sink.data;
  if (data.size() + more > data.capacity()) {
    const std::size_t doubled =
        std::max({data.capacity() * 2, data.size() + more, std::size_t{1} << 16});
    const std::size_t want = std::min(cap, data.capacity() >= kJumpFrom ? cap : doubled);
    try {
      data.reserve(want);
    } catch (const std::bad_alloc&) {
      data.reserve(std::min(cap, doubled));  // the address space for the jump was refused
    }
    prefaulted = data.size();
  }
  if (data.capacity() >= kPrefaultFrom && data.size() + more > prefaulted) {
    const std::size_t end = std::min(data.capacity(), prefaulted + kWindow);
    sys::prefault_writable(data.data() + prefaulted, end - prefaulted);
    prefaulted = end;
  }
}

// One of the job's output pipes: what is kept of it, and its name for live output.
struct Tap {
  sys::UniqueFd& fd;
  Captured& kept;
  OutputStream name;
  std::size_t prefaulted = 0;
};

// Reads what the pipe holds now, up to kReadsPerWake chunks. Past the cap, bytes are read and
// dropped so the writer never blocks on a full pipe. With a relay, every piece also goes to
// it; while the relay is full and `throttled`, reading stops and the pipe holds the rest.
// Returns false once the pipe reached end of file.
bool pump(Tap& tap, std::size_t cap, char* buf, OutputRelay* relay, bool throttled) {
  Captured& sink = tap.kept;
  for (int reads = 0; reads < kReadsPerWake; ++reads) {
    if (relay && throttled && relay->full()) return true;
    ssize_t n = ::read(tap.fd.get(), buf, kReadChunk);
    if (n > 0) {
      auto len = static_cast<std::size_t>(n);
      std::size_t room = cap > sink.data.size() ? cap - sink.data.size() : 0;
      if (room > 0) make_room(sink, tap.prefaulted, std::min(room, len), cap);
      sink.data.append(buf, std::min(room, len));
      if (len > room) sink.truncated = true;
      if (relay) relay->push(tap.name, std::string_view(buf, len));
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;  // other errors end the stream
  }
  return true;  // more may be waiting: the next poll says so
}

// Forwards the signal numbers waiting on `fd` (poll said readable); false once it reached end
// of file. One read per wake: the caller's fd may be blocking, and a second read would then
// wait for the next signal instead of the deadline. More bytes are read on the next wake.
bool forward_signals(int fd, const std::function<void(int)>& signal_job) {
  unsigned char sigs[64];
  const ssize_t n = ::read(fd, sigs, sizeof sigs);
  for (ssize_t i = 0; i < n; ++i)
    if (sigs[i] > 0 && sigs[i] < NSIG) signal_job(sigs[i]);
  return n != 0 && (n > 0 || errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

int poll_wait_ms(Clock::time_point now, std::optional<Clock::time_point> wake) {
  if (!wake) return -1;
  if (*wake <= now) return 0;
  // Round up: waking a little early would only loop once more before the deadline. A wait
  // longer than poll's int of milliseconds (24.8 days) is cut to that: the loop wakes and
  // waits again, where a wrapped value would be negative, which poll takes as forever.
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(*wake - now).count();
  return static_cast<int>(std::min<std::int64_t>((us + 999) / 1000, kMaxPollWaitMs));
}

Clock::time_point next_cpu_check(Clock::time_point now, std::chrono::nanoseconds left,
                                 unsigned parallelism) {
  const auto spend = left / std::max(parallelism, 1U);
  return now + std::clamp<std::chrono::nanoseconds>(spend, kMinCpuCheck, kMaxCpuCheck);
}

Expected<Output> supervise(sys::ChildProcess& init, Input in) {
  Output out;
  std::optional<Clock::time_point> term_at;
  if (in.grace.count() > 0) term_at = in.deadline - in.grace;
  bool term_sent = false;
  bool kill_sent = false;
  Clock::time_point give_up_at{};
  bool exited = false;
  Clock::time_point drain_until{};
  std::string buffer(kReadChunk, '\0');
  Tap out_tap{in.stdout_fd, out.out, OutputStream::kStdout};
  Tap err_tap{in.stderr_fd, out.err, OutputStream::kStderr};
  // The CPU time at the start, and when to read it next (none: no limit, or not accounted).
  std::optional<Clock::time_point> cpu_check_at;
  std::chrono::nanoseconds cpu_base{0};
  if (in.cpu_time_limit && in.cpu_time_used)
    if (auto used = in.cpu_time_used()) {
      cpu_base = *used;
      cpu_check_at = next_cpu_check(Clock::now(), *in.cpu_time_limit, in.cpu_parallelism);
    }

  auto reap = [&]() -> Expected<bool> {
    auto st = init.try_wait();
    if (!st) return tl::unexpected(st.error());
    if (!*st) return false;
    out.status = **st;
    out.exited_at = Clock::now();
    exited = true;
    drain_until = out.exited_at + kDrainAfterExit;
    return true;
  };

  for (;;) {
    auto now = Clock::now();
    if (!exited) {
      if (term_at && !term_sent && now >= *term_at) {
        // Asking the job to stop because its time is up: however it ends now, it timed out.
        term_sent = true;
        out.timed_out = true;
        in.signal_job(SIGTERM);
      }
      if (!kill_sent && now >= in.deadline) {
        // The first cause wins: an init that exited just before the deadline was not killed.
        auto done = reap();
        if (!done) return tl::unexpected(done.error());
        if (!*done) {
          kill_sent = true;
          give_up_at = now + in.kill_wait;
          out.timed_out = true;
          in.signal_job(SIGKILL);
        }
      }
      if (!exited && !kill_sent && cpu_check_at && now >= *cpu_check_at) {
        const auto used = in.cpu_time_used().value_or(cpu_base) - cpu_base;
        if (used < *in.cpu_time_limit) {
          cpu_check_at = next_cpu_check(now, *in.cpu_time_limit - used, in.cpu_parallelism);
        } else {
          cpu_check_at.reset();
          // As at the deadline: an init that exited before the limit was seen was not killed.
          auto done = reap();
          if (!done) return tl::unexpected(done.error());
          if (!*done) {
            kill_sent = true;
            give_up_at = now + in.kill_wait;
            out.cpu_time_exceeded = !out.timed_out;  // a grace SIGTERM came first
            in.signal_job(SIGKILL);
          }
        }
      }
      if (kill_sent && now >= give_up_at) {
        auto done = reap();
        if (!done) return tl::unexpected(done.error());
        if (!*done) {
          // SIGKILL did not end it: what it wrote so far is the output, and the container is
          // the caller's to leave to gc. The pipes are held by the stuck processes.
          out.abandoned = true;
          out.exited_at = now;
          break;
        }
      }
    }
    if (exited && !in.stdout_fd && !in.stderr_fd) break;
    if (exited && now >= drain_until) break;  // a pipe held open beyond the job: abandon it

    std::optional<Clock::time_point> wake;
    if (!exited) {
      if (term_at && !term_sent) wake = *term_at;
      if (!kill_sent) wake = wake ? std::min(*wake, in.deadline) : in.deadline;
      if (!kill_sent && cpu_check_at) wake = std::min(*wake, *cpu_check_at);
      if (kill_sent) wake = give_up_at;
    } else {
      wake = drain_until;
    }

    pollfd fds[5];
    nfds_t count = 0;
    int init_slot = -1, out_slot = -1, err_slot = -1, sig_slot = -1, relay_slot = -1;
    // Live output behind: the pipes wait (the job's writes block) until the relay caught up.
    // Once the init exited, what is left in them is read regardless.
    const bool held = in.relay && !exited && in.relay->full();
    if (held) {
      relay_slot = static_cast<int>(count);
      fds[count++] = {in.relay->ready_fd().get(), POLLIN, 0};
    }
    if (!exited) {
      init_slot = static_cast<int>(count);
      fds[count++] = {init.pidfd().fd(), POLLIN, 0};
      if (in.signal_fd) {
        sig_slot = static_cast<int>(count);
        fds[count++] = {in.signal_fd.get(), POLLIN, 0};
      }
    }
    if (in.stdout_fd && !held) {
      out_slot = static_cast<int>(count);
      fds[count++] = {in.stdout_fd.get(), POLLIN, 0};
    }
    if (in.stderr_fd && !held) {
      err_slot = static_cast<int>(count);
      fds[count++] = {in.stderr_fd.get(), POLLIN, 0};
    }
    int rc = ::poll(fds, count, poll_wait_ms(now, wake));
    if (rc < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(sys::errno_error("poll", errno));
    }
    if (relay_slot >= 0 && fds[relay_slot].revents) in.relay->clear_ready();
    // Output first: what the job wrote before it exited must not be lost to the drain limit.
    if (out_slot >= 0 && fds[out_slot].revents &&
        !pump(out_tap, in.output_cap, buffer.data(), in.relay, !exited))
      in.stdout_fd.reset();
    if (err_slot >= 0 && fds[err_slot].revents &&
        !pump(err_tap, in.output_cap, buffer.data(), in.relay, !exited))
      in.stderr_fd.reset();
    if (sig_slot >= 0 && fds[sig_slot].revents &&
        !forward_signals(in.signal_fd.get(), in.signal_job))
      in.signal_fd = {};
    if (init_slot >= 0 && fds[init_slot].revents) {
      auto done = reap();
      if (!done) return tl::unexpected(done.error());
    }
  }
  return out;
}

}  // namespace ociexec::supervise
