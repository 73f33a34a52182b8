// The supervisor on plain child processes: no container, no root needed.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <limits>
#include <stdexcept>
#include <thread>

#include "supervise/supervisor.h"
#include "sys/process.h"

using namespace ociexec;
using namespace std::chrono_literals;
using ociexec::OutputStream;

namespace {

struct Spawned {
  sys::ChildProcess child;
  sys::UniqueFd out;
  sys::UniqueFd err;
};

Spawned spawn_sh(const std::string& script) {
  auto out = sys::make_pipe(true);
  auto err = sys::make_pipe(true);
  REQUIRE(out);
  REQUIRE(err);
  auto child =
      sys::ChildProcess::spawn({"/bin/sh", "-c", script}, {{}, out->write, err->write});
  REQUIRE(child);
  return {std::move(*child), std::move(out->read), std::move(err->read)};
}

supervise::Input input(Spawned& s, std::chrono::milliseconds timeout, std::size_t cap = 1 << 20) {
  supervise::Input in;
  in.stdout_fd = std::move(s.out);
  in.stderr_fd = std::move(s.err);
  in.deadline = supervise::Clock::now() + timeout;
  in.output_cap = cap;
  const sys::Pidfd* pidfd = &s.child.pidfd();
  in.signal_job = [pidfd](int sig) { (void)pidfd->send_signal(sig); };
  return in;
}

}  // namespace

TEST_CASE("a process that exits reports its status and both streams") {
  auto s = spawn_sh("echo out; echo err >&2; exit 5");
  auto r = supervise::supervise(s.child, input(s, 10s));
  REQUIRE(r);
  CHECK_FALSE(r->timed_out);
  CHECK(r->status.code == 5);
  CHECK(r->out.data == "out\n");
  CHECK(r->err.data == "err\n");
}

TEST_CASE("the deadline kills with SIGKILL, promptly") {
  auto s = spawn_sh("trap '' TERM; echo started; exec sleep 30");
  auto t0 = supervise::Clock::now();
  auto r = supervise::supervise(s.child, input(s, 300ms));
  auto elapsed = supervise::Clock::now() - t0;
  REQUIRE(r);
  CHECK(r->timed_out);
  CHECK(r->status.signaled);
  CHECK(r->status.signal == SIGKILL);
  CHECK(r->out.data == "started\n");
  CHECK(elapsed >= 300ms);
  CHECK(elapsed < 800ms);
}

TEST_CASE("grace sends SIGTERM before the deadline, and a job it ends has timed out") {
  auto s = spawn_sh("exec sleep 30");
  auto in = input(s, 2s);
  in.grace = 1900ms;  // SIGTERM after 100 ms
  auto t0 = supervise::Clock::now();
  auto r = supervise::supervise(s.child, std::move(in));
  REQUIRE(r);
  CHECK(r->timed_out);
  CHECK(r->status.signal == SIGTERM);
  CHECK(supervise::Clock::now() - t0 < 1s);
}

TEST_CASE("output past the cap is drained and dropped, and flagged") {
  auto s = spawn_sh("head -c 3000000 /dev/zero; echo tail >&2");
  auto r = supervise::supervise(s.child, input(s, 10s, 1000));
  REQUIRE(r);
  CHECK(r->status.code == 0);
  CHECK(r->out.data.size() == 1000);
  CHECK(r->out.truncated);
  CHECK(r->err.data == "tail\n");
  CHECK_FALSE(r->err.truncated);
}

TEST_CASE("a pipe held open after the process exits is abandoned after the drain limit") {
  auto s = spawn_sh("(sleep 5 &) ; echo done");
  auto t0 = supervise::Clock::now();
  auto r = supervise::supervise(s.child, input(s, 10s));
  REQUIRE(r);
  CHECK(r->out.data == "done\n");
  CHECK(supervise::Clock::now() - t0 < 2s);
}

// A pipe holding one signal number, as the CLI's forwarder writes them; kept open.
sys::Pipe signal_pipe(unsigned char sig, bool nonblocking) {
  auto p = sys::make_pipe(nonblocking);
  REQUIRE(p);
  REQUIRE(::write(p->write.get(), &sig, 1) == 1);
  return std::move(*p);
}

TEST_CASE("signal numbers written to signal_fd are forwarded to the job") {
  auto s = spawn_sh("exec sleep 30");
  auto sigpipe = signal_pipe(SIGTERM, true);
  auto in = input(s, 10s);
  in.signal_fd = sigpipe.read;
  auto r = supervise::supervise(s.child, std::move(in));
  REQUIRE(r);
  CHECK_FALSE(r->timed_out);
  CHECK(r->status.signaled);
  CHECK(r->status.signal == SIGTERM);
}

TEST_CASE("a blocking signal_fd never holds the job past its deadline") {
  // The caller's pipe is blocking and stays open: after the one signal (SIGCONT, which the
  // job outlives), nothing more comes.
  auto s = spawn_sh("exec sleep 30");
  auto sigpipe = signal_pipe(SIGCONT, false);
  auto in = input(s, 500ms);
  in.signal_fd = sigpipe.read;
  const auto t0 = supervise::Clock::now();
  auto r = supervise::supervise(s.child, std::move(in));
  REQUIRE(r);
  CHECK(r->timed_out);
  CHECK(supervise::Clock::now() - t0 < 2s);
}

TEST_CASE("a wait past poll's 24.8 days is cut to INT_MAX ms, never wrapped to forever") {
  const auto now = supervise::Clock::now();
  CHECK(supervise::poll_wait_ms(now, std::nullopt) == -1);
  CHECK(supervise::poll_wait_ms(now, now - 1s) == 0);
  CHECK(supervise::poll_wait_ms(now, now + 1500us) == 2);  // rounded up
  CHECK(supervise::poll_wait_ms(now, now + std::chrono::hours(24 * 30)) ==
        std::numeric_limits<int>::max());
  CHECK(supervise::poll_wait_ms(now, now + std::chrono::hours(24 * 365)) ==
        std::numeric_limits<int>::max());
}

TEST_CASE("an init that SIGKILL does not end is given up on after kill_wait, output kept") {
  auto s = spawn_sh("echo before; exec sleep 30");
  auto in = input(s, 200ms);
  // A kill that does not take (as for a process in uninterruptible sleep).
  in.signal_job = [](int) {};
  in.kill_wait = 300ms;
  const auto t0 = supervise::Clock::now();
  auto r = supervise::supervise(s.child, std::move(in));
  const auto took = supervise::Clock::now() - t0;
  REQUIRE(r);
  CHECK(r->timed_out);
  CHECK(r->abandoned);
  CHECK(r->out.data == "before\n");
  CHECK(took >= 500ms);
  CHECK(took < 1500ms);
}

TEST_CASE("live output: a relay behind its high-water mark holds the writer, not the deadline") {
  // A writer of 64 MiB whose callback takes 2 ms a piece: the relay fills, the loop stops
  // reading, the pipe fills and the writer blocks. The deadline still kills it on time.
  std::atomic<std::size_t> delivered{0};
  auto relay = supervise::OutputRelay::start([&](OutputStream, std::string_view bytes) {
    delivered += bytes.size();
    std::this_thread::sleep_for(2ms);
  });
  REQUIRE(relay);
  auto s = spawn_sh("exec head -c 67108864 /dev/zero");  // the pid the deadline kills
  auto in = input(s, 500ms);
  in.relay = relay->get();
  auto t0 = supervise::Clock::now();
  auto r = supervise::supervise(s.child, std::move(in));
  REQUIRE(r);
  CHECK(r->timed_out);
  CHECK(supervise::Clock::now() - t0 < 1500ms);
  CHECK_FALSE((*relay)->finish());
  // Held back: in 0.5 s at 64 KiB per 2 ms it could take about 16 MiB, not the 64 written.
  CHECK(delivered.load() < std::size_t{40} << 20);
  CHECK(delivered.load() >= r->out.data.size());  // the result's capped copy was delivered too
}

TEST_CASE("live output: every piece arrives in order, then finish() reports nothing") {
  std::string got;
  auto relay = supervise::OutputRelay::start(
      [&](OutputStream stream, std::string_view bytes) {
        got += stream == OutputStream::kStdout ? "o:" : "e:";
        got.append(bytes);
      });
  REQUIRE(relay);
  (*relay)->push(OutputStream::kStdout, "a");
  (*relay)->push(OutputStream::kStderr, "b");
  CHECK((*relay)->stderr_mid_line());
  (*relay)->push(OutputStream::kStdout, "c\n");
  CHECK_FALSE((*relay)->finish());
  CHECK(got == "o:ae:bo:c\n");
}

TEST_CASE("live output: a throwing callback is called once and finish() names it") {
  int calls = 0;
  auto relay = supervise::OutputRelay::start([&](OutputStream, std::string_view) {
    ++calls;
    throw std::runtime_error("boom");
  });
  REQUIRE(relay);
  for (int i = 0; i < 5; ++i) (*relay)->push(OutputStream::kStdout, "x");
  auto problem = (*relay)->finish();
  REQUIRE(problem);
  CHECK(problem->find("threw (boom)") != std::string::npos);
  CHECK(calls == 1);
}

TEST_CASE("a writer that never lets the pipe run dry is still killed at the deadline") {
  // Four writers keep the pipe full: a reader that read until the pipe was empty would never
  // get back to its deadline (seen under ThreadSanitizer, whose reads are slow).
  auto s = spawn_sh("for i in 1 2 3 4; do cat /dev/zero & done; wait");
  auto in = input(s, 300ms);
  auto t0 = supervise::Clock::now();
  auto r = supervise::supervise(s.child, std::move(in));
  REQUIRE(r);
  CHECK(r->timed_out);
  CHECK(supervise::Clock::now() - t0 < 1500ms);
}

TEST_CASE("cpu time: reads are paced by what is left, between 10 and 250 ms apart") {
  const auto now = supervise::Clock::now();
  CHECK(supervise::next_cpu_check(now, 10s, 1) == now + 250ms);
  CHECK(supervise::next_cpu_check(now, 100ms, 1) == now + 100ms);
  CHECK(supervise::next_cpu_check(now, 100ms, 4) == now + 25ms);
  CHECK(supervise::next_cpu_check(now, 1ms, 1) == now + 10ms);
  CHECK(supervise::next_cpu_check(now, 100ms, 0) == now + 100ms);  // taken as one CPU
}

TEST_CASE("cpu time: the job is SIGKILLed once it used its limit since supervision began") {
  auto s = spawn_sh("echo started; exec sleep 30");
  auto in = input(s, 10s);
  // Two CPUs busy from the start, after 5 s spent before it (a pooled container's runtime
  // work, say), which does not count.
  const auto t0 = supervise::Clock::now();
  std::atomic<int> reads{0};
  in.cpu_time_limit = 300ms;
  in.cpu_parallelism = 2;
  in.cpu_time_used = [&]() -> std::optional<std::chrono::nanoseconds> {
    ++reads;
    return 5s + 2 * (supervise::Clock::now() - t0);
  };
  auto r = supervise::supervise(s.child, std::move(in));
  const auto took = supervise::Clock::now() - t0;
  REQUIRE(r);
  CHECK(r->cpu_time_exceeded);
  CHECK_FALSE(r->timed_out);
  CHECK(r->status.signaled);
  CHECK(r->status.signal == SIGKILL);
  CHECK(r->out.data == "started\n");
  CHECK(took >= 150ms);   // 300 ms of CPU on two CPUs
  CHECK(took < 2s);
  CHECK(reads.load() >= 2);
  CHECK(reads.load() < 40);  // paced, not a busy loop
}

TEST_CASE("cpu time: a job under its limit ends by itself; unaccounted CPU time is no kill") {
  auto s = spawn_sh("echo done; exit 3");
  auto in = input(s, 10s);
  in.cpu_time_limit = 10ms;
  in.cpu_time_used = [] { return std::optional<std::chrono::nanoseconds>(1ms); };
  auto r = supervise::supervise(s.child, std::move(in));
  REQUIRE(r);
  CHECK_FALSE(r->cpu_time_exceeded);
  CHECK(r->status.code == 3);
  // No cgroup to read: the limit is not enforced (prepare refuses such a job rootless).
  auto t = spawn_sh("sleep 0.3; echo slept");
  auto none = input(t, 10s);
  none.cpu_time_limit = 1ms;
  none.cpu_time_used = [] { return std::optional<std::chrono::nanoseconds>(); };
  auto r2 = supervise::supervise(t.child, std::move(none));
  REQUIRE(r2);
  CHECK_FALSE(r2->cpu_time_exceeded);
  CHECK(r2->out.data == "slept\n");
}
