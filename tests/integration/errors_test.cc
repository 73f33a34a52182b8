// Executor failures are errors, told apart from the script's outcome, and leave nothing.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "harness.h"
#include "sys/proc.h"
#include "sys/process.h"

using namespace std::chrono_literals;
using ociexec::ErrorKind;
using namespace ociexec::test;

TEST_CASE("a missing runtime is a clear error") {
  LeakCheck leaks;
  auto opts = Env::get().executor_options();
  opts.runtime = "/nonexistent/runc";
  auto e = ociexec::Executor::create(opts);
  REQUIRE_FALSE(e);
  CHECK(e.error().kind == ErrorKind::kRuntimeNotFound);
  CHECK(e.error().message.find("/nonexistent/runc") != std::string::npos);
  auto j = job();
  j.runtime = "no-such-runtime";
  auto r = executor().run("true\n", j);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::kRuntimeNotFound);
  leaks.check();
}

TEST_CASE("a missing rootfs is a clear error") {
  LeakCheck leaks;
  auto j = job();
  j.rootfs = "/nonexistent/rootfs";
  auto r = executor().run("true\n", j);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::kRootfsNotFound);
  CHECK(r.error().message.find("/nonexistent/rootfs") != std::string::npos);
  leaks.check();
}

TEST_CASE("bad limits are rejected before anything is created") {
  LeakCheck leaks;
  auto bad = [](auto mutate) {
    auto j = job();
    mutate(j);
    auto r = executor().run("true\n", j);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::kInvalidArgument);
    return r.error().message;
  };
  CHECK(bad([](auto& j) { j.limits.memory_bytes = 1024; }).find("memory") != std::string::npos);
  CHECK(bad([](auto& j) { j.limits.memory_bytes = 1ULL << 50; }).find("above") !=
        std::string::npos);
  CHECK(bad([](auto& j) { j.limits.cpus = 0.0; }).find("cpus") != std::string::npos);
  CHECK(bad([](auto& j) { j.limits.cpus = 4096.0; }).find("cpus") != std::string::npos);
  CHECK(bad([](auto& j) { j.limits.pids = 0; }).find("pids") != std::string::npos);
  CHECK(bad([](auto& j) { j.timeout = 0s; }).find("timeout") != std::string::npos);
  CHECK(bad([](auto& j) { j.workdir = "/usr"; }).find("workdir") != std::string::npos);
  CHECK(bad([](auto& j) { j.env = {"NOEQUALS"}; }).find("env") != std::string::npos);
  leaks.check();
}

TEST_CASE("a missing or non-executable interpreter maps to not-found / cannot-execute") {
  LeakCheck leaks;
  auto j = job();
  j.interpreter = {"/nonexistent"};
  auto missing = executor().run("true\n", j);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind == ErrorKind::kCommandNotFound);
  CHECK(missing.error().message.find("/nonexistent") != std::string::npos);
  j.interpreter = {"/not-executable"};
  auto denied = executor().run("true\n", j);
  REQUIRE_FALSE(denied);
  CHECK(denied.error().kind == ErrorKind::kCommandNotExecutable);
  leaks.check();
}

TEST_CASE("SIGKILL of the CLI mid-job followed by gc leaves nothing behind") {
  LeakCheck leaks;
  const auto& env = Env::get();
  const std::string config = write_cli_config("gc-test.yaml");
  auto run = spawn_wrapped_cli(config, "/bin/payload sleep 60");
  REQUIRE(wait_for_running_container(run.cli));
  std::this_thread::sleep_for(100ms);
  kill_wrapped_cli(run);
  auto gc = ociexec::sys::run_command({env.cli.string(), "--config", config, "gc"}, 30s);
  REQUIRE(gc);
  INFO("gc printed: " << gc->output);
  CHECK(gc->status.code == 0);
  CHECK(gc->output.find("removed 1 container(s), 0 error(s)") != std::string::npos);
  // The wrapper reaps the CLI and the init gc killed, then exits as the CLI did.
  auto status = run.wrapper.wait_for(10s);
  REQUIRE(status);
  CHECK(status->code == 128 + SIGKILL);
  run.wrapper = ociexec::sys::ChildProcess{};  // closes its pidfd
  std::filesystem::remove(config);
  leaks.check();
}

TEST_CASE("SIGTERM twice to the CLI ends the job and removes everything without gc") {
  LeakCheck leaks;
  const auto& env = Env::get();
  const std::string config = write_cli_config("signal-test.yaml");
  auto cli = spawn_cli_job(config, "/bin/payload ignore-term 60");
  REQUIRE(wait_for_running_container(cli.pidfd().pid()));
  std::this_thread::sleep_for(200ms);
  // The first SIGTERM is forwarded and ignored by the payload; the second becomes SIGKILL.
  REQUIRE(cli.pidfd().send_signal(SIGTERM));
  std::this_thread::sleep_for(200ms);
  REQUIRE(cli.pidfd().send_signal(SIGTERM));
  auto status = cli.wait_for(10s);
  REQUIRE(status);
  CHECK_FALSE(status->signaled);
  CHECK(status->code == 128 + SIGKILL);
  cli = ociexec::sys::ChildProcess{};
  std::filesystem::remove(config);
  leaks.check();
}

TEST_CASE("an executor refuses a process that ignores SIGCHLD") {
  LeakCheck leaks;
  struct sigaction ignore {
  }, old{};
  ignore.sa_handler = SIG_IGN;
  REQUIRE(::sigaction(SIGCHLD, &ignore, &old) == 0);
  auto e = ociexec::Executor::create(Env::get().executor_options());
  ::sigaction(SIGCHLD, &old, nullptr);
  REQUIRE_FALSE(e);
  CHECK(e.error().message.find("SIGCHLD") != std::string::npos);
  leaks.check();
}
