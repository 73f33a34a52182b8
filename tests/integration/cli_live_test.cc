// The CLI's live output: `run` passes the job's output through as it is written (and a
// reader that goes away ends the job as a pipeline's writer ends), `batch --stream` prints
// it as events before each job's result.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "harness.h"

using namespace std::chrono_literals;
using namespace ociexec::test;
using Clock = std::chrono::steady_clock;

namespace {

const std::string& config() {
  static const std::string path = write_cli_config("cli-live-test.yaml");
  return path;
}

// `ociexec run --rootfs <test rootfs> ARGS...` with its stdout on a pipe we read.
struct LiveCli {
  ociexec::sys::ChildProcess process;
  ociexec::sys::UniqueFd out;
};

LiveCli spawn_run(const std::vector<std::string>& args) {
  const Env& env = Env::get();
  auto pipe = ociexec::sys::make_pipe(false);
  if (!pipe) FAIL("pipe: " << pipe.error().message);
  std::vector<std::string> argv{env.cli.string(), "--config",         config(), "run",
                                "--rootfs",       env.rootfs.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto cli = ociexec::sys::ChildProcess::spawn(argv, {{}, pipe->write, {}});
  if (!cli) FAIL("spawn the CLI: " << cli.error().message);
  return {std::move(*cli), std::move(pipe->read)};
}

std::string read_some(const ociexec::sys::UniqueFd& fd) {
  char buf[4096];
  const ssize_t n = ::read(fd.get(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

TEST_CASE("cli: run passes the job's output through as it is written") {
  LeakCheck leaks;
  {
    auto cli = spawn_run({"-c", "echo first; /bin/payload sleep 2; echo second"});
    std::string got = read_some(cli.out);
    const auto first_at = Clock::now();
    CHECK(got == "first\n");
    for (std::string more; !(more = read_some(cli.out)).empty();) got += more;
    const auto ended_at = Clock::now();
    CHECK(got == "first\nsecond\n");
    // The first line came while the job still ran, not with its end.
    CHECK(ended_at - first_at >= 1500ms);
    auto status = cli.process.wait_for(30s);
    REQUIRE(status);
    CHECK(status->shell_code() == 0);
  }
  leaks.check();
}

TEST_CASE("cli: a reader that goes away ends the job with SIGPIPE, as in a pipeline") {
  LeakCheck leaks;
  {
    auto cli = spawn_run({"--timeout", "120s", "-c", "/bin/payload flood 100000"});
    CHECK_FALSE(read_some(cli.out).empty());
    cli.out.reset();  // as `| head -c 100` does
    auto status = cli.process.wait_for(110s);
    REQUIRE(status);
    // The flood died of SIGPIPE, long before its deadline (a timeout exits 124), and sh
    // reported it; the CLI lived to remove the container.
    CHECK_FALSE(status->signaled);
    CHECK(status->shell_code() == 128 + SIGPIPE);
  }
  leaks.check();
}

TEST_CASE("cli: batch --stream prints each job's output as events before its result") {
  LeakCheck leaks;
  const auto& env = Env::get();
  const auto input = env.state_dir / "batch-stream.jsonl";
  {
    std::ofstream f(input);
    f << nlohmann::json{{"id", "a"},
                        {"script",
                         "echo a1; echo a-err >&2; /bin/payload sleep 0.5; printf 'a2 \\303'; "
                         "/bin/payload sleep 0.3; printf '\\251\\n'"},
                        {"rootfs", env.rootfs.string()}}
             .dump()
      << "\n"
      << nlohmann::json{{"id", "b"}, {"script", "echo b1"}, {"rootfs", env.rootfs.string()}}.dump()
      << "\n";
  }
  auto r = ociexec::sys::run_command(
      {env.cli.string(), "--config", config(), "batch", "--stream", "-j", "2", input.string()},
      60s);
  REQUIRE(r);
  CHECK(r->status.shell_code() == 0);
  std::map<std::string, std::string> streamed;  // id + stream -> data
  std::map<std::string, nlohmann::json> results;
  std::istringstream lines(r->output);
  std::string line;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    REQUIRE_MESSAGE(j.is_object(), line);
    const std::string id = j["id"].get<std::string>();
    if (j.contains("stream")) {
      CHECK_MESSAGE(results.count(id) == 0, "an event after its job's result: " << line);
      streamed[id + " " + j["stream"].get<std::string>()] += j["data"].get<std::string>();
    } else {
      results[id] = j;
    }
  }
  REQUIRE(results.size() == 2);
  // "é" was written in two pieces 0.3 s apart; the events kept it whole.
  CHECK(streamed["a stdout"] == "a1\na2 \xc3\xa9\n");
  CHECK(streamed["a stderr"] == "a-err\n");
  CHECK(streamed["b stdout"] == "b1\n");
  CHECK(results["a"]["stdout"] == streamed["a stdout"]);
  CHECK(results["b"]["exit_code"] == 0);
  leaks.check();
}
