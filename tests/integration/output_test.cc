// Output capture: concurrent stdout/stderr, caps, floods that never deadlock.
#include <chrono>

#include "harness.h"

using namespace std::chrono_literals;
using ociexec::Outcome;
using namespace ociexec::test;

TEST_CASE("a 100 MiB output flood is capped without a hang") {
  LeakCheck leaks;
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_ok("/bin/payload flood 100; /bin/payload flood 100 >&2; echo end\n", job());
  CHECK(r.outcome == Outcome::kExited);
  CHECK(r.stdout_data.size() == 10 * ociexec::kMiB);
  CHECK(r.stderr_data.size() == 10 * ociexec::kMiB);
  CHECK(r.stdout_truncated);
  CHECK(r.stderr_truncated);
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  leaks.check();
}

TEST_CASE("the output cap is configurable and output under it is not truncated") {
  LeakCheck leaks;
  auto j = job();
  j.output_cap = 1000;
  auto r = run_ok("/bin/payload flood 1\n", j);
  CHECK(r.stdout_data.size() == 1000);
  CHECK(r.stdout_truncated);
  auto small = run_ok("echo small\n", j);
  CHECK_FALSE(small.stdout_truncated);
  leaks.check();
}

TEST_CASE("large output is kept whole past the buffer's jump to the cap, and cut at the cap") {
  LeakCheck leaks;
  // 40 MiB: the kept buffer doubles up to 16 MiB, then reserves up to the cap at once and is
  // faulted in ahead of the data (src/supervise/supervisor.cc).
  auto j = job();
  j.output_cap = 64 * ociexec::kMiB;
  auto whole = run_ok("/bin/payload flood 40\n", j);
  CHECK(whole.stdout_data.size() == 40 * ociexec::kMiB);
  CHECK_FALSE(whole.stdout_truncated);
  CHECK(whole.stdout_data.find_first_not_of('x') == std::string::npos);
  j.output_cap = 30 * ociexec::kMiB + 123;  // past the jump, not on a chunk's edge
  auto cut = run_ok("/bin/payload flood 40\n", j);
  CHECK(cut.stdout_data.size() == 30 * ociexec::kMiB + 123);
  CHECK(cut.stdout_truncated);
  CHECK(cut.stdout_data.find_first_not_of('x') == std::string::npos);
  leaks.check();
}

TEST_CASE("stdout and stderr are read concurrently") {
  LeakCheck leaks;
  // 4 MiB to each stream, interleaved: a reader of one stream at a time would deadlock.
  auto r =
      run_ok("for i in 1 2 3 4; do /bin/payload flood 1; /bin/payload flood 1 >&2; done\n", job());
  CHECK(r.stdout_data.size() == 4 * ociexec::kMiB);
  CHECK(r.stderr_data.size() == 4 * ociexec::kMiB);
  leaks.check();
}
