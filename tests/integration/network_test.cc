// --network (JobOptions::network): none (the default, loopback only: escape_test.cc); host,
// which gives the job the host's network stack and says so in the result; private, a
// namespace of its own joined by pasta, with the host's loopback as host.ociexec.internal
// (or not at all), as root and rootless (where pasta joins the namespaces held for the job);
// host root only.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "harness.h"
#include "sys/proc.h"

using ociexec::ErrorKind;
using ociexec::Network;
using namespace ociexec::test;

TEST_CASE("network host: the job reaches the host's loopback, and the result warns") {
  LoopbackListener listener;  // before the leak check: its fd is the test's
  LeakCheck leaks;
  auto j = job();
  j.network = Network::kHost;
  const std::string script = fmt::format("/bin/payload connect 127.0.0.1 {}\n", listener.port());
  if (::geteuid() != 0) {
    auto refused = executor().run(script, j);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().kind == ErrorKind::kInvalidArgument);
    CHECK(refused.error().message.find("network host: root only") == 0);
    leaks.check();
    return;
  }
  for (int i = 0; i < 2; ++i) {  // with the warm pool, the second is a pooled container
    auto r = run_ok(script, j);
    CHECK(r.exit_code == 0);
    CHECK(r.stdout_data.find("connected") != std::string::npos);
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].find("no network isolation") != std::string::npos);
  }
  // The same script without: refused by the job's own empty loopback.
  auto none = run_ok(script, job());
  CHECK(none.exit_code == 1);
  CHECK(none.warnings.empty());
  leaks.check();
}

namespace {

// pasta processes on the namespaces of containers in our state dir (of `owner`'s only, if
// given: the warm pool of this process has its own).
int pasta_processes(pid_t owner = 0) {
  return host_processes_with(Env::get().state_dir.string() + "/bundles/" +
                             (owner ? fmt::format("ociexec-{}-", owner) : ""));
}

}  // namespace

TEST_CASE(
    "network private: outbound through pasta, the host's loopback only as host.ociexec.internal") {
  LoopbackListener listener;
  LeakCheck leaks;
  auto j = job();
  j.network = Network::kPrivate;
  // Connections go only to the gateway (mapped to the host's 127.0.0.1) and the job's own
  // loopback: a test sends nothing off this machine.
  const std::string script = fmt::format(
      "cat /etc/hosts /etc/resolv.conf\n"
      "/bin/payload connect 169.254.1.1 {0} && echo via-gateway\n"
      "/bin/payload connect 127.0.0.1 {0} || echo own-loopback-refused\n",
      listener.port());
  for (int i = 0; i < 2; ++i) {  // with the warm pool, the second is a pooled container
    CAPTURE(i);
    auto r = run_ok(script, j);
    CAPTURE(r.stderr_data);
    CHECK(r.exit_code == 0);
    CHECK(r.stdout_data.find("169.254.1.1\thost.ociexec.internal\n") != std::string::npos);
    CHECK(r.stdout_data.find("nameserver 169.254.1.3\n") != std::string::npos);
    CHECK(r.stdout_data.find("via-gateway\n") != std::string::npos);
    CHECK(r.stdout_data.find("own-loopback-refused\n") != std::string::npos);
    CHECK(r.warnings.empty());
  }
  // Without the mapping: no name for the host, and its own loopback is all there is of one.
  auto off = j;
  off.network = Network::kPrivateNoHostLoopback;
  auto r = run_ok(fmt::format("cat /etc/hosts; /bin/payload connect 127.0.0.1 {} || echo "
                              "refused\n",
                              listener.port()),
                  off);
  CHECK(r.stdout_data.find("host.ociexec.internal") == std::string::npos);
  CHECK(r.stdout_data.find("refused\n") != std::string::npos);
  // Every pasta went with its job (a pooled container's waits with it, in the pool).
  if (!Env::get().pool) CHECK(pasta_processes() == 0);
  leaks.check();
}

TEST_CASE("network private: a CLI killed mid-job leaves pasta to gc, which removes it") {
  LeakCheck leaks;
  const auto& env = Env::get();
  const std::string config = write_cli_config("net-gc-test.yaml");
  std::ofstream(config, std::ios::app) << "network: private\n";
  // Under a subreaper of its own: the init and pasta the CLI orphans go there.
  auto run = spawn_wrapped_cli(config, "s=61; /bin/payload sleep $s");
  const pid_t cli_pid = run.cli;
  REQUIRE(wait_for_running_container(cli_pid));
  // Once the job itself runs, its network is up (a kill during pasta's set-up takes pasta
  // with the CLI: it dies with its caller, as a runtime does).
  for (int i = 0; i < 1500 && host_processes_with("payload sleep 61") == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(host_processes_with("payload sleep 61") == 1);
  CHECK(pasta_processes(cli_pid) >= 1);
  kill_wrapped_cli(run);
  CHECK(pasta_processes(cli_pid) >= 1);  // pasta outlived it
  auto gc = ociexec::sys::run_command({env.cli.string(), "--config", config, "gc"},
                                      std::chrono::seconds(30));
  REQUIRE(gc);
  INFO("gc printed: " << gc->output);
  CHECK(gc->output.find("removed 1 container(s), 0 error(s)") != std::string::npos);
  // The wrapper reaps what it was left (the CLI, the init, pasta), then exits as the CLI did.
  auto status = run.wrapper.wait_for(std::chrono::seconds(10));
  REQUIRE(status);
  CHECK(status->code == 128 + SIGKILL);
  run.wrapper = ociexec::sys::ChildProcess{};
  for (int i = 0; i < 100 && pasta_processes(cli_pid) > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(pasta_processes(cli_pid) == 0);
  std::filesystem::remove(config);
  leaks.check();
}
