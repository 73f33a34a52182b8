// Jobs under ociexec-init (JobOptions::init, `--init`), each next to the same job without one:
// the difference is what a user asks an init for.
#include <unistd.h>

#include <chrono>
#include <csignal>

#include "harness.h"

using namespace std::chrono_literals;
using ociexec::Outcome;
using namespace ociexec::test;

namespace {

ociexec::JobOptions job_with_init(bool init, std::chrono::milliseconds timeout = 20s) {
  auto j = job(timeout);
  j.init = init;
  return j;
}

// Runs `script` and, once it has printed its first line (so its processes are up, whatever
// the host's speed), writes `sig` on its signal fd (what the CLI does with a Ctrl-C).
ociexec::Result run_signalled(const std::string& script, ociexec::JobOptions j, int sig) {
  auto pipe = ociexec::sys::make_pipe(false);
  REQUIRE(pipe);
  j.signal_fd = pipe->read.get();
  bool sent = false;
  j.on_output = [&](ociexec::OutputStream stream, std::string_view) {
    if (sent || stream != ociexec::OutputStream::kStdout) return;
    sent = true;
    const auto byte = static_cast<unsigned char>(sig);
    (void)!::write(pipe->write.get(), &byte, 1);
  };
  auto r = run_ok(script, j);
  CHECK(sent);
  return r;
}

}  // namespace

TEST_CASE("init: exit codes and output pass through, and `kill -9 $$` ends the script") {
  LeakCheck leaks;
  auto plain = run_ok("echo out; echo err >&2; exit 7\n", job_with_init(true));
  CHECK(plain.outcome == Outcome::kExited);
  CHECK(plain.exit_code == 7);
  CHECK(plain.stdout_data == "out\n");
  CHECK(plain.stderr_data == "err\n");

  const std::string suicide = "echo before; kill -9 $$; echo after\n";
  auto with = run_ok(suicide, job_with_init(true));
  CHECK(with.outcome == Outcome::kSignaled);
  CHECK(with.signal == SIGKILL);
  CHECK(with.exit_code == 128 + SIGKILL);
  CHECK(with.stdout_data == "before\n");
  // Without an init the shell is pid 1, which its own SIGKILL does not reach.
  auto without = run_ok(suicide, job_with_init(false));
  CHECK(without.outcome == Outcome::kExited);
  CHECK(without.stdout_data == "before\nafter\n");
  leaks.check();
}

TEST_CASE("init: the command's own signal is the job's, and the init is pid 1") {
  LeakCheck leaks;
  auto r = run_ok("exec /bin/payload segv\n", job_with_init(true));
  CHECK(r.outcome == Outcome::kSignaled);
  CHECK(r.signal == SIGSEGV);
  CHECK(r.exit_code == 128 + SIGSEGV);
  auto procs = run_ok("exec /bin/payload procs\n", job_with_init(true));
  CHECK(procs.stdout_data.find("1 init\n") != std::string::npos);
  CHECK(procs.stdout_data.find(" payload\n") != std::string::npos);
  leaks.check();
}

TEST_CASE("init: orphans are reaped; without an init, a pid 1 that does not wait keeps them") {
  LeakCheck leaks;
  // exec: the payload itself is the command; it leaves 3 orphans and then counts zombies.
  auto with = run_ok("exec /bin/payload orphans 3\n", job_with_init(true));
  CHECK(with.exit_code == 0);
  CHECK(with.stdout_data == "zombies 0\n");
  auto without = run_ok("exec /bin/payload orphans 3\n", job_with_init(false));
  CHECK(without.exit_code == 0);
  CHECK(without.stdout_data == "zombies 3\n");
  leaks.check();
}

TEST_CASE("init: a forwarded SIGTERM ends a shell without a trap; without an init it does not") {
  LeakCheck leaks;
  // The loop's sleeps die of every SIGTERM either way; the shell itself only under an init.
  const std::string loop = "echo up; while :; do /bin/payload sleep 0.1; done\n";
  auto with = run_signalled(loop, job_with_init(true, 10s), SIGTERM);
  CHECK(with.outcome == Outcome::kSignaled);
  CHECK(with.signal == SIGTERM);
  CHECK(with.exit_code == 128 + SIGTERM);
  CHECK(with.stdout_data == "up\n");
  CHECK(with.wall_time < 5s);
  auto without = run_signalled(loop, job_with_init(false, 2s), SIGTERM);
  CHECK(without.outcome == Outcome::kTimedOut);
  CHECK(without.exit_code == -1);
  leaks.check();
}

TEST_CASE("init: the grace SIGTERM ends a shell loop at once; the job still timed out") {
  LeakCheck leaks;
  // SIGTERM at 1 s. Under an init the shell dies of it, and the command's end is the job's:
  // the child that ignores SIGTERM goes with the namespace. Without one, the shell (pid 1)
  // ignores it and the job runs to its deadline.
  const std::string script = "/bin/payload ignore-term 60 &\nwhile :; do /bin/payload sleep 0.1; done\n";
  for (bool init : {true, false}) {
    CAPTURE(init);
    auto j = job_with_init(init, 3s);
    j.grace = 2s;
    auto r = run_ok(script, j);
    CHECK(r.outcome == Outcome::kTimedOut);
    CHECK(r.exit_code == -1);
    CHECK(r.stdout_data == "ignoring SIGTERM\n");
    CHECK(r.wall_time >= (init ? 1s : 3s));
    CHECK(r.wall_time < (init ? 2s : 4s));
  }
  leaks.check();
}

TEST_CASE("init: a command that cannot be found is the same error as without an init") {
  LeakCheck leaks;
  auto j = job_with_init(true);
  j.interpreter = {"/no/such/interpreter"};
  auto r = executor().run("true\n", j);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ociexec::ErrorKind::kCommandNotFound);
  CHECK(r.error().message.find("/no/such/interpreter") != std::string::npos);
  leaks.check();
}

TEST_CASE("args: the script's arguments are $1... after its path") {
  LeakCheck leaks;
  auto j = job();
  j.args = {"one", "two words", "", "-x"};
  auto r = run_ok("echo \"$#\"; for a in \"$@\"; do echo \"[$a]\"; done\n", j);
  CHECK(r.stdout_data == "4\n[one]\n[two words]\n[]\n[-x]\n");
  j.init = true;
  auto under_init = run_ok("echo \"$#:$1\"\n", j);
  CHECK(under_init.stdout_data == "4:one\n");
  j.args = {std::string("a\0b", 3)};
  auto bad = executor().run("true\n", j);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == ociexec::ErrorKind::kInvalidArgument);
  leaks.check();
}
