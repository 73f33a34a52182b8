// The CLI's exit-code contract, tested from outside: the script's code, 124 timeout, 125
// executor or usage error (one line), 126/127 cannot execute / not found, 128+N signal.
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "harness.h"
#include "sys/fs.h"

using namespace std::chrono_literals;
using namespace ociexec::test;

namespace {

struct CliRun {
  int code;
  std::string output;  // stdout and stderr together
};

CliRun cli(std::vector<std::string> args) {
  const auto& env = Env::get();
  static const std::string config = write_cli_config("cli-test.yaml");
  std::vector<std::string> argv{env.cli.string(), "--config", config};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = ociexec::sys::run_command(argv, 60s);
  if (!r) FAIL("run the CLI: " << r.error().message);
  return {r->status.shell_code(), r->output};
}

std::vector<std::string> run_args(std::vector<std::string> extra) {
  std::vector<std::string> args{"run", "--rootfs", Env::get().rootfs.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

bool one_line(const std::string& s) {
  return !s.empty() && s.find('\n') == s.size() - 1;
}

}  // namespace

TEST_CASE("cli: the script's output passes through and its exit code is ours") {
  LeakCheck leaks;
  auto r = cli(run_args({"-c", "echo out; exit 3"}));
  CHECK(r.code == 3);
  CHECK(r.output == "out\n");
  leaks.check();
}

TEST_CASE("cli: timeout exits 124 with the message; --json reports exit_code -1") {
  LeakCheck leaks;
  auto r = cli(run_args({"--timeout", "1", "-c", "echo before; /bin/payload sleep 60"}));
  CHECK(r.code == 124);
  CHECK(r.output.find("before\n") != std::string::npos);
  CHECK(r.output.find("Execution timeout (1s)") != std::string::npos);
  auto j = cli(run_args({"--json", "--timeout", "500ms", "-c", "/bin/payload sleep 60"}));
  CHECK(j.code == 124);
  auto doc = nlohmann::json::parse(j.output);
  CHECK(doc["exit_code"] == -1);
  CHECK(doc["outcome"] == "timed_out");
  CHECK(doc["limits"]["timeout_ms"] == 500);
  CHECK(doc["runtime"]["name"] == Env::get().runtime);
  leaks.check();
}

TEST_CASE("cli: a job past its CPU time exits 152 with the message; --json says cpu_time_exceeded") {
  LeakCheck leaks;
  auto r = cli(run_args({"--cpu-time", "300ms", "-c", "echo spinning; while :; do :; done"}));
  CHECK(r.code == 152);  // 128 + SIGXCPU, as a shell reports ulimit -t
  CHECK(r.output.find("spinning\n") != std::string::npos);
  CHECK(r.output.find("CPU time limit exceeded (0.3s)") != std::string::npos);
  auto j = cli(run_args({"--json", "--cpu-time", "0.2", "-c", "while :; do :; done"}));
  CHECK(j.code == 152);
  auto doc = nlohmann::json::parse(j.output);
  CHECK(doc["exit_code"] == -1);
  CHECK(doc["outcome"] == "cpu_time_exceeded");
  CHECK(doc["limits"]["cpu_time_ms"] == 200);
  CHECK(doc["cpu_time_ms"].get<double>() >= 200);
  leaks.check();
}

TEST_CASE("cli: -v, --mount and --tmpfs mount as podman's do") {
  LeakCheck leaks;
  // Under /tmp, where the job's user (65534) may reach it; the state dir is private.
  const auto dir = std::filesystem::temp_directory_path() /
                   fmt::format("ociexec-cli-volume-{}", ::getpid());
  std::filesystem::create_directories(dir);
  ::chmod(dir.c_str(), 0755);
  std::ofstream(dir / "in.txt") << "host file\n";
  auto r = cli(run_args({"-v", dir.string() + ":/mnt:ro", "--mount",
                         "type=bind,source=" + dir.string() + "/in.txt,target=/work/copy,readonly",
                         "--tmpfs", "/tmp/small:size=1m", "-c",
                         "cat /mnt/in.txt /work/copy; touch /mnt/x 2>/dev/null || echo ro; "
                         "/bin/payload write /tmp/small/big 2097152 | tail -1"}));
  CHECK(r.code == 0);
  CHECK(r.output.find("host file\nhost file\nro\n") == 0);
  CHECK(r.output.find("No space left on device") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "x"));
  std::filesystem::remove_all(dir);
  leaks.check();
}

TEST_CASE("cli: --copy-in and --copy-out with --output-dir and --json, and batch's files") {
  LeakCheck leaks;
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / fmt::format("ociexec-cli-files-{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir / "in");
  std::ofstream(dir / "in" / "data.txt") << "input\n";
  const std::string script =
      "cat data.txt; mkdir -p out/sub; echo a > out/a.txt; echo b > out/sub/b.txt; "
      "echo t > /tmp/t.log; ln -s /etc/passwd out/link; exit 3";
  auto r = cli(
      run_args({"--copy-in", (dir / "in" / "data.txt").string(), "--copy-out", "out", "--copy-out",
                "/tmp/t.log", "--output-dir", (dir / "got").string(), "-c", script}));
  CHECK(r.code == 3);  // the job's own code, whatever was copied
  CHECK(r.output.find("input\n") == 0);
  CHECK(r.output.find("ociexec: copy-out out/link: a symlink: not followed\n") !=
        std::string::npos);
  CHECK(ociexec::sys::read_file(dir / "got" / "out" / "a.txt").value_or("") == "a\n");
  CHECK(ociexec::sys::read_file(dir / "got" / "out" / "sub" / "b.txt").value_or("") == "b\n");
  CHECK(ociexec::sys::read_file(dir / "got" / "tmp" / "t.log").value_or("") == "t\n");
  CHECK_FALSE(fs::exists(dir / "got" / "out" / "link"));

  auto j = cli(run_args({"--json", "--copy-in", (dir / "in").string() + ":input", "--copy-out",
                         "input/*", "-c", "cat input/data.txt"}));
  CHECK(j.code == 0);
  auto doc = nlohmann::json::parse(j.output, nullptr, false);
  REQUIRE(doc.is_object());
  CHECK(doc["stdout"] == "input\n");
  CHECK(doc["files"]["input/data.txt"]["base64"] == "aW5wdXQK");
  CHECK(doc["files"]["input/data.txt"]["mode"] == "0644");
  CHECK(doc["files"]["input/data.txt"]["truncated"] == false);

  const auto lines = dir / "jobs.jsonl";
  const std::string rootfs = Env::get().rootfs.string();
  std::ofstream(lines)
      << nlohmann::json{{"id", "f"},
                        {"rootfs", rootfs},
                        {"script", "cat a.txt b.bin | od -An -c; echo out > o.txt"},
                        {"files", {{"a.txt", "text\n"}, {"b.bin", {{"base64", "AAEC"}}}}},
                        {"copy_out", "o.txt"}}
             .dump()
      << "\n"
      << nlohmann::json{{"id", "bad"},
                        {"rootfs", rootfs},
                        {"script", "true"},
                        {"files", {{"x", {{"base64", "!!"}}}}}}
             .dump()
      << "\n";
  auto b = cli({"batch", lines.string()});
  CHECK(b.code == 125);  // a line was refused
  CHECK(b.output.find(R"("files":{"o.txt":{"base64":"b3V0Cg==")") != std::string::npos);
  CHECK(b.output.find(R"(\"x\": \"base64\" is not base64)") != std::string::npos);
  CHECK(b.output.find(R"(t   e   x   t  \\n  \\0 001 002)") != std::string::npos);
  fs::remove_all(dir);
  leaks.check();
}

TEST_CASE("cli: killed by signal N exits 128+N") {
  LeakCheck leaks;
  auto r = cli(run_args({"--interpreter", "/bin/payload segv", "-c", ""}));
  CHECK(r.code == 128 + SIGSEGV);
  leaks.check();
}

TEST_CASE("cli: interpreter not found exits 127, not executable 126, each with one line") {
  LeakCheck leaks;
  auto missing = cli(run_args({"--interpreter", "/nonexistent", "-c", "true"}));
  CHECK(missing.code == 127);
  CHECK(one_line(missing.output));
  CHECK(missing.output.rfind("ociexec: error: ", 0) == 0);
  auto denied = cli(run_args({"--interpreter", "/not-executable", "-c", "true"}));
  CHECK(denied.code == 126);
  CHECK(one_line(denied.output));
  leaks.check();
}

TEST_CASE("cli: bad flags, limits, rootfs and runtime exit 125 with one line naming the problem") {
  LeakCheck leaks;
  struct Case {
    std::vector<std::string> args;
    std::string names;
  };
  const Case cases[] = {
      {{"run", "--bogus", "-c", "true"}, "--bogus"},
      {run_args({"--memory", "12q", "-c", "true"}), "--memory: invalid size \"12q\""},
      {run_args({"--memory", "1k", "-c", "true"}), "below the minimum"},
      {run_args({"--cpus", "0", "-c", "true"}), "cpus 0"},
      {run_args({"--pids-limit", "0", "-c", "true"}), "pids limit 0"},
      {run_args({"--timeout", "soon", "-c", "true"}), "--timeout: invalid duration"},
      {{"run", "--rootfs", "/nonexistent", "-c", "true"}, "/nonexistent"},
      {run_args({"--runtime", "/nonexistent/runc", "-c", "true"}), "/nonexistent/runc"},
      {run_args({}), "no script"},
      {run_args({"-e", "=x", "-c", "true"}), "env"},
      {run_args({"--ulimit", "nofile=ten", "-c", "true"}), "--ulimit: \"nofile=ten\""},
      {run_args({"--ulimit", "files=10", "-c", "true"}), "unknown limit \"files\""},
      {run_args({"--ulimit", "nofile=10:5", "-c", "true"}), "soft limit is above the hard"},
      {run_args({"-v", "data:/x", "-c", "true"}),
       "--volume: \"data:/x\": \"data\" is not an absolute"},
      {run_args({"-v", "/nonexistent:/mnt", "-c", "true"}),
       "the source /nonexistent: No such file"},
      {run_args({"--mount", "type=volume,target=/x", "-c", "true"}), "--mount: \"type=volume"},
      {run_args({"--tmpfs", "/tmp/t:noexec", "-c", "true"}), "option \"noexec\" is not supported"},
      {run_args({"--tmpfs", "/proc/t", "-c", "true"}), "/proc is the executor's"},
      {run_args({"--network", "bridge", "-c", "true"}), "--network: \"bridge\": expected none"},
      {run_args({"--cpu-time", "lots", "-c", "true"}), "--cpu-time: invalid duration"},
      {run_args({"--cpu-time", "0", "-c", "true"}), "cpu time 0s: must be positive"},
      {run_args({"--cpuset-cpus", "0-", "-c", "true"}), "cpuset-cpus \"0-\": expected a CPU list"},
      {run_args({"--cpuset-cpus", "4095", "-c", "true"}), "CPU 4095 is not one this host"},
      {run_args({"--copy-out", "x", "-c", "true"}), "--copy-out: the files need somewhere to go"},
      {run_args({"--copy-in", ":x", "-c", "true"}), "--copy-in: \":x\": expected HOSTPATH"},
      {run_args({"--copy-in", "/nonexistent/in", "-c", "true"}), "No such file or directory"},
      {run_args({"--copy-out", "../x", "--json", "-c", "true"}), "is refused: name a path below"},
      {run_args({"--copy-out", "x", "--copy-out-cap", "0", "--json", "-c", "true"}),
       "must be above 0"},
  };
  for (const auto& c : cases) {
    auto r = cli(c.args);
    INFO(r.output);
    CHECK(r.code == 125);
    CHECK(one_line(r.output));
    CHECK(r.output.find(c.names) != std::string::npos);
  }
  leaks.check();
}

TEST_CASE("cli: a bad config file exits 125 with file:line:column") {
  LeakCheck leaks;
  const auto path = (Env::get().state_dir / "bad.yaml").string();
  std::ofstream(path) << "timeout: 5\nmemory: lots\n";
  auto r = ociexec::sys::run_command({Env::get().cli.string(), "--config", path, "version"}, 30s);
  REQUIRE(r);
  CHECK(r->status.code == 125);
  CHECK(r->output.find(path + ":2:9: memory: invalid size \"lots\"") != std::string::npos);
  std::filesystem::remove(path);
  leaks.check();
}

TEST_CASE("cli: stdin, env and a script file reach the job") {
  LeakCheck leaks;
  const auto dir = Env::get().state_dir;
  std::ofstream(dir / "in.txt") << "from stdin\n";
  std::ofstream(dir / "job.sh") << "#!/bin/sh\n/bin/payload cat; echo \"$GREETING\"\n";
  auto r = cli(run_args(
      {"--stdin", (dir / "in.txt").string(), "-e", "GREETING=hi", (dir / "job.sh").string()}));
  CHECK(r.code == 0);
  CHECK(r.output == "from stdin\nhi\n");
  std::filesystem::remove(dir / "in.txt");
  std::filesystem::remove(dir / "job.sh");
  leaks.check();
}

TEST_CASE("cli: arguments after the script, --env-file under each -e, --init") {
  LeakCheck leaks;
  const auto dir = Env::get().state_dir;
  std::ofstream(dir / "args.sh") << "echo \"$#:$1:$2:$A:$B\"\n";
  std::ofstream(dir / "env.list") << "# defaults\nA=from-file\nB=from-file\n";
  const std::string script = (dir / "args.sh").string(), env_file = (dir / "env.list").string();
  auto file = cli(run_args({"--env-file", env_file, "-e", "B=from-flag", script, "x", "y z"}));
  CHECK(file.code == 0);
  CHECK(file.output == "2:x:y z:from-file:from-flag\n");
  // With -c, the words after it (after "--" when they look like flags) are the arguments.
  auto inline_args = cli(run_args({"-c", "echo \"$#:$1:$2\"", "--", "-v", "two"}));
  CHECK(inline_args.code == 0);
  CHECK(inline_args.output == "2:-v:two\n");
  // After a script file every word is the script's, as after podman's image.
  auto after_script = cli(run_args({script, "-x", "--json"}));
  CHECK(after_script.output == "2:-x:--json::\n");
  auto killed = cli(run_args({"--init", "-c", "echo before; kill -9 $$; echo after"}));
  CHECK(killed.code == 128 + SIGKILL);
  CHECK(killed.output == "before\n");
  auto bad_file = cli(run_args({"--env-file", (dir / "missing.list").string(), "-c", "true"}));
  CHECK(bad_file.code == 125);
  CHECK(one_line(bad_file.output));
  CHECK(bad_file.output.find("--env-file") != std::string::npos);
  std::filesystem::remove(dir / "args.sh");
  std::filesystem::remove(dir / "env.list");
  leaks.check();
}

TEST_CASE("cli: doctor finds a working runtime; version names it") {
  LeakCheck leaks;
  auto d = cli({"doctor"});
  CHECK(d.code == 0);
  CHECK(d.output.find("[ ok ] runtime " + Env::get().runtime) != std::string::npos);
  CHECK(d.output.find("ociexec can run jobs on this host") != std::string::npos);
  auto v = cli({"version"});
  CHECK(v.code == 0);
  CHECK(v.output.rfind("ociexec 0.1.0\nruntime: ", 0) == 0);
  leaks.check();
}

TEST_CASE("cli: batch runs JSON lines and prints one result line per job, with its id") {
  LeakCheck leaks;
  const auto& env = Env::get();
  const std::string rootfs = env.rootfs.string();
  const auto input = env.state_dir / "batch.jsonl";
  {
    std::ofstream f(input);
    f << nlohmann::json{{"id", "first"}, {"script", "echo one"}, {"rootfs", rootfs}}.dump() << "\n"
      << nlohmann::json{{"script", "cat; exit 4"},
                        {"stdin", "two"},
                        {"rootfs", rootfs},
                        {"memory", "64m"}}
             .dump()
      << "\n\n"
      << nlohmann::json{{"id", 3}, {"script", "sleep 5"}, {"timeout", 1}, {"rootfs", rootfs}}.dump()
      << "\n"
      << "{not json\n"
      << nlohmann::json{{"script", "true"}, {"memory", "lots"}}.dump() << "\n"
      << nlohmann::json{{"id", "args"},
                        {"script", "echo \"$2$1\"; kill -9 $$"},
                        {"args", {"a", "b"}},
                        {"init", true},
                        {"rootfs", rootfs}}
             .dump()
      << "\n"
      << nlohmann::json{{"id", "tmpfs"},
                        {"script", "df -k /work/t | tail -1"},
                        {"tmpfs", "/work/t:size=2m"},
                        {"volume", {rootfs + ":/mnt:ro"}},
                        {"rootfs", rootfs}}
             .dump()
      << "\n"
      << nlohmann::json{{"id", "cpu"},
                        {"script", "grep Cpus_allowed_list /proc/self/status; while :; do :; done"},
                        {"cpuset_cpus", "0"},
                        {"cpu_time", 0.2},
                        {"rootfs", rootfs}}
             .dump()
      << "\n";
  }
  auto r = cli({"batch", "--pool", "1", "-j", "2", input.string()});
  CHECK(r.code == 125);  // two lines were bad; every good one still ran
  std::map<std::string, nlohmann::json> by_id;
  std::istringstream lines(r.output);
  std::string line;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    REQUIRE_MESSAGE(j.is_object(), line);
    by_id[j["id"].dump()] = j;
  }
  REQUIRE(by_id.size() == 8);
  CHECK(by_id["\"tmpfs\""]["stdout"].get<std::string>().find(" 2048 ") != std::string::npos);
  CHECK(by_id["\"cpu\""]["outcome"] == "cpu_time_exceeded");
  CHECK(by_id["\"cpu\""]["stdout"] == "Cpus_allowed_list:\t0\n");
  CHECK(by_id["\"cpu\""]["limits"]["cpuset_cpus"] == "0");
  CHECK(by_id["\"cpu\""]["limits"]["cpu_time_ms"] == 200);
  CHECK(by_id["\"args\""]["stdout"] == "ba\n");
  CHECK(by_id["\"args\""]["exit_code"] == 128 + SIGKILL);  // under its init, the kill took
  CHECK(by_id["\"first\""]["stdout"] == "one\n");
  CHECK(by_id["2"]["exit_code"] == 4);  // no id: the line number
  CHECK(by_id["2"]["stdout"] == "two");
  CHECK(by_id["2"]["limits"]["memory_bytes"] == 64 * 1024 * 1024);
  CHECK(by_id["3"]["exit_code"] == -1);
  CHECK(by_id["3"]["outcome"] == "timed_out");
  CHECK(by_id["5"]["error"]["kind"] == "invalid_argument");
  CHECK(by_id["6"]["error"]["message"].get<std::string>().find("--memory") != std::string::npos);

  std::ofstream(input) << nlohmann::json{{"script", "exit 9"}, {"rootfs", rootfs}}.dump() << "\n";
  auto ok = cli({"batch", input.string()});
  CHECK(ok.code == 0);  // every job produced a result, whatever its own exit code
  CHECK(ok.output.find("\"exit_code\":9") != std::string::npos);
  leaks.check();
}

TEST_CASE("cli: SIGTERM to batch reaches the running job and cancels the waiting ones") {
  LeakCheck leaks;
  const auto& env = Env::get();
  static const std::string config = write_cli_config("cli-test.yaml");
  const auto input = env.state_dir / "batch-signal.jsonl";
  {
    std::ofstream f(input);
    for (int i = 0; i < 3; ++i)
      f << nlohmann::json{{"id", i}, {"script", "sleep 31"}, {"rootfs", env.rootfs.string()}}.dump()
        << "\n";
  }
  std::string text;
  {
    auto out = ociexec::sys::make_memfd("batch-out", {});
    REQUIRE(out);
    auto cli = ociexec::sys::ChildProcess::spawn(
        {env.cli.string(), "--config", config, "batch", "-j", "1", input.string()},
        {{}, *out, *out});
    REQUIRE(cli);
    REQUIRE(wait_for_running_container(cli->pidfd().pid()));
    // Until the job's sleep runs: a SIGTERM that came while sh (pid 1, which the kernel
    // shields from signals it has no handler for) was alone in the job would be dropped, as
    // under docker without --init, and the job would run its 31 s (seen under the VM's
    // emulation, where a fork takes long enough to lose that race).
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (host_processes_with("sleep 31") == 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(20ms);
    REQUIRE(host_processes_with("sleep 31") > 0);
    REQUIRE(cli->pidfd().send_signal(SIGTERM));
    auto status = cli->wait_for(20s);
    REQUIRE(status);
    CHECK_FALSE(status->signaled);
    CHECK(status->code == 125);  // cancelled jobs did not run
    REQUIRE(::lseek(out->get(), 0, SEEK_SET) == 0);
    char buf[4096];
    for (ssize_t n; (n = ::read(out->get(), buf, sizeof buf)) > 0;)
      text.append(buf, static_cast<std::size_t>(n));
  }
  std::map<int, nlohmann::json> by_id;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    REQUIRE_MESSAGE(j.is_object(), line);
    by_id[j["id"].get<int>()] = j;
  }
  REQUIRE(by_id.size() == 3);
  // The forwarded SIGTERM ended the running job: its sleep died of it, and sh (pid 1 there,
  // which the kernel shields from SIGTERM) reported that.
  CHECK(by_id[0]["exit_code"] == 128 + SIGTERM);
  CHECK(by_id[1]["error"]["kind"] == "cancelled");
  CHECK(by_id[2]["error"]["kind"] == "cancelled");
  leaks.check();
}

TEST_CASE("cli: crun's seccomp program and the probe's verdict are kept for later runs") {
  LeakCheck leaks;
  namespace fs = std::filesystem;
  const auto& env = Env::get();
  // A cache dir of its own: the first run compiles and keeps the program, the second probes
  // whether this crun loads it, the later ones give it to crun. The filter holds in each.
  const fs::path cache = env.state_dir / "cli-seccomp-cache";
  const std::string config = write_cli_config("cli-seccomp.yaml");
  std::ofstream(config, std::ios::app) << "cache_dir: " << cache.string() << "\n";
  for (int i = 0; i < 3; ++i) {
    auto r = ociexec::sys::run_command(
        {env.cli.string(), "--config", config, "run", "--runtime", "crun", "--rootfs",
         env.rootfs.string(), "-c", "grep Seccomp: /proc/self/status; /bin/payload try clone3"},
        60s);
    REQUIRE(r);
    CHECK(r->status.shell_code() == 0);
    CHECK(r->output == "Seccomp:\t2\nclone3: Function not implemented\n");
  }
  std::string verdict;
  int programs = 0;
  for (const auto& e : fs::recursive_directory_iterator(cache / "seccomp")) {
    if (e.path().filename() == "annotation")
      verdict = ociexec::sys::read_file(e.path()).value_or("");
    if (e.path().extension() == ".bpf") ++programs;
  }
  CHECK(verdict.ends_with("\nhonoured\n"));
  CHECK(programs == 1);
  fs::remove_all(cache);
  leaks.check();
}
