// Live output (JobOptions::on_output): every byte, in order, as it is written; a slow or
// throwing callback never holds a job past its deadline nor loses the result.
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "harness.h"

using namespace std::chrono_literals;
using ociexec::Outcome;
using ociexec::OutputStream;
using namespace ociexec::test;

namespace {

using Clock = std::chrono::steady_clock;

// What a callback was given, per stream, and when its first piece came.
struct Received {
  std::mutex mutex;
  std::string out, err;
  std::optional<Clock::time_point> first_out;
  int calls = 0;

  ociexec::OutputCallback callback() {
    return [this](OutputStream stream, std::string_view bytes) {
      std::lock_guard lock(mutex);
      ++calls;
      if (stream == OutputStream::kStdout) {
        if (!first_out) first_out = Clock::now();
        out.append(bytes);
      } else {
        err.append(bytes);
      }
    };
  }
};

}  // namespace

TEST_CASE("live output: on_output gets each stream as it is written, and all of it") {
  LeakCheck leaks;
  Received got;
  auto j = job();
  j.on_output = got.callback();
  const auto t0 = Clock::now();
  auto r = run_ok("echo first; echo oops >&2; /bin/payload sleep 2; echo second\n", j);
  const auto t1 = Clock::now();
  CHECK(r.outcome == Outcome::kExited);
  CHECK(got.out == "first\nsecond\n");
  CHECK(got.err == "oops\n");
  CHECK(r.stdout_data == got.out);  // the result holds the same, capped copy
  REQUIRE(got.first_out);
  // "first" came about 2 s before the job ended, not with its result.
  CHECK(t1 - *got.first_out >= 1500ms);
  CHECK(*got.first_out - t0 < t1 - t0 - 1500ms);
  CHECK(r.warnings.empty());
  leaks.check();
}

TEST_CASE("live output: the callback gets all of a flood past the output cap") {
  LeakCheck leaks;
  Received got;
  auto j = job();
  j.output_cap = 1000;
  j.on_output = got.callback();
  auto r = run_ok("/bin/payload flood 8; echo end >&2\n", j);
  CHECK(r.outcome == Outcome::kExited);
  CHECK(r.stdout_data.size() == 1000);
  CHECK(r.stdout_truncated);
  CHECK(got.out.size() == 8 * ociexec::kMiB);
  CHECK(got.out.find_first_not_of('x') == std::string::npos);
  CHECK(got.err == "end\n");
  leaks.check();
}

TEST_CASE("live output: a slow callback never holds a job past its deadline") {
  LeakCheck leaks;
  std::atomic<std::size_t> bytes{0};
  std::string tail;  // the last pieces: the timeout line ends the stream
  auto j = job(2s);
  j.on_output = [&](OutputStream stream, std::string_view piece) {
    bytes += piece.size();
    if (stream == OutputStream::kStderr) tail.append(piece);
    std::this_thread::sleep_for(20ms);  // a slow terminal: 64 KiB per 20 ms at most
  };
  const auto t0 = Clock::now();
  auto r = run_ok("/bin/payload flood 1000\n", j);
  const auto took = Clock::now() - t0;
  CHECK(r.outcome == Outcome::kTimedOut);
  CHECK(r.exit_code == -1);
  // Killed at the deadline: the job's own time is the timeout, though the callback was slow.
  CHECK(r.wall_time < 3s);
  // The callback was behind by at most the relay's queue, which is delivered before run()
  // returns (4 MiB in 64 KiB pieces of 20 ms each: about 1.3 s).
  CHECK(took < 6s);
  // The job was held back by the callback: far less than 1000 MiB was written.
  CHECK(bytes.load() < 100 * ociexec::kMiB);
  CHECK(tail.find("Execution timeout (2s)") != std::string::npos);
  CHECK(r.stderr_data.find("Execution timeout (2s)") != std::string::npos);
  leaks.check();
}

TEST_CASE("live output: a callback that throws is called no more, and the result says so") {
  LeakCheck leaks;
  std::atomic<int> calls{0};
  auto j = job();
  j.on_output = [&](OutputStream, std::string_view) {
    ++calls;
    throw std::runtime_error("disk full");
  };
  auto r =
      run_ok("echo one; /bin/payload sleep 0.3; echo two; /bin/payload sleep 0.3; echo three\n", j);
  CHECK(r.outcome == Outcome::kExited);
  CHECK(r.exit_code == 0);
  CHECK(r.stdout_data == "one\ntwo\nthree\n");
  CHECK(calls.load() == 1);
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].find("on_output callback threw (disk full)") != std::string::npos);
  leaks.check();
}
