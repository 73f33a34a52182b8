// Jobs that complete: output, exit codes, stdin, env, interpreters, the default rootfs.
#include <algorithm>
#include <chrono>
#include <optional>

#include "harness.h"

using namespace std::chrono_literals;
using ociexec::Outcome;
using namespace ociexec::test;

TEST_CASE("a quick script completes with its output and exit code") {
  LeakCheck leaks;
  auto r = run_ok("echo out; echo err >&2; exit 3\n", job());
  CHECK(r.outcome == Outcome::kExited);
  CHECK(r.exit_code == 3);
  CHECK(r.stdout_data == "out\n");
  CHECK(r.stderr_data == "err\n");
  CHECK(r.runtime_name == Env::get().runtime);
  CHECK_FALSE(r.runtime_version.empty());
  CHECK(r.wall_time < 5s);
  leaks.check();
}

TEST_CASE("the result unpacks as (exit_code, stdout, stderr)") {
  LeakCheck leaks;
  auto [code, out, err] = run_ok("printf abc\n", job());
  CHECK(code == 0);
  CHECK(out == "abc");
  CHECK(err.empty());
  leaks.check();
}

TEST_CASE("the default timeout is 300 s and is reported in the effective limits") {
  LeakCheck leaks;
  ociexec::JobOptions defaults;
  CHECK(defaults.timeout == 300s);
  auto j = job();
  j.timeout = ociexec::JobOptions{}.timeout;
  auto r = run_ok("true\n", j);
  CHECK(r.limits.timeout == 300s);
  CHECK(r.limits.memory_bytes == ociexec::Limits{}.memory_bytes);
  CHECK(r.limits.pids == ociexec::Limits{}.pids);
  leaks.check();
}

TEST_CASE("stdin bytes reach the script") {
  LeakCheck leaks;
  auto j = job();
  j.stdin_data = std::string(3 << 20, 'z') + "end\n";
  auto r = run_ok("/bin/payload cat\n", j);
  CHECK(r.exit_code == 0);
  CHECK(r.stdout_data == j.stdin_data);
  leaks.check();
}

TEST_CASE("env entries, workdir and the unprivileged user are applied") {
  LeakCheck leaks;
  auto j = job();
  j.env = {"GREETING=hello world", "PATH=/bin"};
  auto r = run_ok("/bin/payload env; /bin/payload id; pwd; hostname\n", j);
  CHECK(r.stdout_data.find("GREETING=hello world\n") != std::string::npos);
  CHECK(r.stdout_data.find("PATH=/bin\n") != std::string::npos);
  CHECK(r.stdout_data.find(fmt::format("uid={0} gid={0}\n", job_uid())) != std::string::npos);
  CHECK(r.stdout_data.find("/work\n") != std::string::npos);
  CHECK(r.stdout_data.find("ociexec\n") != std::string::npos);
  leaks.check();
}

TEST_CASE("an env value that is not UTF-8 does not break the job") {
  LeakCheck leaks;
  auto j = job();
  j.env = {std::string("BYTES=a\xff\xfe") + "b"};
  auto r = run_ok("echo ran\n", j);
  CHECK(r.exit_code == 0);
  CHECK(r.stdout_data == "ran\n");
  leaks.check();
}

TEST_CASE("the #! line chooses the interpreter, and --interpreter overrides it") {
  LeakCheck leaks;
  auto r = run_ok("#!/bin/payload exit\n", job());
  // The kernel's convention: the script path follows the one optional argument.
  CHECK(r.exit_code == 0);
  auto j = job();
  j.interpreter = {"/bin/payload", "exit", "7"};
  CHECK(run_ok("ignored\n", j).exit_code == 7);
  leaks.check();
}

TEST_CASE("a script killed by a signal reports signaled and 128+N") {
  LeakCheck leaks;
  auto j = job();
  j.interpreter = {"/bin/payload", "segv"};
  auto r = run_ok("", j);
  CHECK(r.outcome == Outcome::kSignaled);
  CHECK(r.signal == SIGSEGV);
  CHECK(r.exit_code == 128 + SIGSEGV);
  leaks.check();
}

TEST_CASE("sh and python3 scripts run on the built-in host-view rootfs") {
  LeakCheck leaks;
  ociexec::JobOptions j;
  j.timeout = 20s;
  auto sh = run_ok("echo sh works; cat /etc/hostname; test -w /usr || echo usr read-only\n", j);
  CHECK(sh.exit_code == 0);
  CHECK(sh.stdout_data == "sh works\nociexec\nusr read-only\n");
  auto py = run_ok("#!/usr/bin/python3\nimport os\nprint('py', os.getuid(), os.getcwd())\n", j);
  CHECK(py.exit_code == 0);
  CHECK(py.stdout_data == fmt::format("py {} /work\n", job_uid()));
  auto secrets = run_ok("cat /etc/shadow 2>&1; ls /root 2>&1; echo done\n", j);
  // No line of /etc/shadow ("root:..."); an ls error may name "/root: ...".
  CHECK(("\n" + secrets.stdout_data).find("\nroot:") == std::string::npos);
  CHECK(secrets.stdout_data.ends_with("done\n"));
  leaks.check();
}

TEST_CASE("eight jobs run concurrently on one executor") {
  LeakCheck leaks;
  std::vector<std::thread> threads;
  std::vector<std::optional<ociexec::Result>> results(8);
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([i, &results] {
      auto r = ociexec::test::executor().run(fmt::format("/bin/payload sleep 2; echo job {}\n", i),
                                             job());
      if (r) results[static_cast<std::size_t>(i)] = std::move(*r);
    });
  for (auto& t : threads) t.join();
  // How many ran at once, from each job's own start and end (not the wall clock of the whole,
  // which a slow or emulated host stretches): serially it would be 1.
  std::vector<std::pair<std::chrono::steady_clock::time_point, int>> edges;
  for (int i = 0; i < 8; ++i) {
    const auto& r = results[static_cast<std::size_t>(i)];
    REQUIRE(r);
    CHECK(r->stdout_data == fmt::format("job {}\n", i));
    edges.emplace_back(r->started_at, 1);
    edges.emplace_back(r->started_at + r->wall_time, -1);
  }
  std::sort(edges.begin(), edges.end());  // an end before a start at the same instant
  int running = 0, most = 0;
  for (const auto& [at, delta] : edges) most = std::max(most, running += delta);
  MESSAGE("eight 2 s jobs: at most " << most << " at once");
  CHECK(most >= 2);
  leaks.check();
}
