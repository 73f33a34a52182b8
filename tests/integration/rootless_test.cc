// Rootless mode (run by scripts/test.sh as an unprivileged user, OCIEXEC_TEST_ROOTLESS=1):
// the user namespace, limits refused or reported, the deadline, isolation, nothing left.
// The cold-path cases that hold rootless run too (see tests/integration/run-rootless.sh).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <thread>

#include "cgroup/cgroup.h"
#include "core/rootless.h"
#include "harness.h"
#include "sys/fs.h"
#include "sys/proc.h"

using namespace std::chrono_literals;
using ociexec::Outcome;
using namespace ociexec::test;

namespace {

// The root suite covers root mode; these run in the rootless one only.
bool rootless() {
  return ::geteuid() != 0;
}

// run-rootless.sh's second run: a cgroup delegated to the user is the cgroup parent.
bool delegated() {
  const char* d = std::getenv("OCIEXEC_TEST_DELEGATED");
  return rootless() && d && std::string(d) == "1";
}

}  // namespace

TEST_CASE("rootless: the job's user namespace maps the caller, and its subordinate ids if any" * doctest::skip(!rootless() || delegated())) {
  LeakCheck leaks;
  auto r = run_ok("id -u; cat /proc/self/uid_map /proc/self/gid_map\n", job());
  CHECK(r.exit_code == 0);
  const auto ns = ociexec::core::caller_user_namespace();
  auto line = [](unsigned inside, unsigned outside, unsigned count) {
    return fmt::format("{:>10}{:>11}{:>11}\n", inside, outside, count);
  };
  std::string expected = fmt::format("{}\n", job_uid()) + line(0, ::getuid(), 1);
  if (ns.full()) expected += line(1, ns.sub_uids->start, 65535);
  expected += line(0, ::getgid(), 1);
  if (ns.full()) expected += line(1, ns.sub_gids->start, 65535);
  CHECK(r.stdout_data == expected);
  // The default limits could not be enforced, and the result says so.
  CHECK(r.limits.unenforced == std::vector<std::string>{"memory", "pids"});
  CHECK_FALSE(r.peak_memory_bytes.has_value());  // no cgroup to read it from
  leaks.check();
}

TEST_CASE("rootless: runc runs from the executor's sealed copy instead of copying itself per container" * doctest::skip(!rootless() || delegated())) {
  LeakCheck leaks;
  const auto& info = executor().runtime();
  REQUIRE(info.name == "runc");
  CHECK(info.sealed_copy);
  for (int i = 0; i < 2; ++i) CHECK(run_ok("echo ran\n", job()).stdout_data == "ran\n");
  leaks.check();
}

TEST_CASE("rootless: a limit that cannot be enforced is refused, or run and reported when allowed" * doctest::skip(!rootless() || delegated())) {
  LeakCheck leaks;
  auto j = memory_job(256);
  auto refused = executor().run("echo ran\n", j);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ociexec::ErrorKind::kLimitNotEnforced);
  CHECK(refused.error().message.rfind("memory 256m: cannot be enforced rootless", 0) == 0);
  CHECK(refused.error().message.find("--allow-unenforced-limits") != std::string::npos);

  j.allow_unenforced_limits = true;
  j.limits.cpus = 0.5;
  auto allowed = run_ok("echo ran\n", j);
  CHECK(allowed.stdout_data == "ran\n");
  CHECK(allowed.limits.unenforced == std::vector<std::string>{"memory", "cpus", "pids"});

  auto unlimited = job();
  unlimited.limits.memory_bytes.reset();
  unlimited.limits.pids.reset();
  auto none = run_ok("echo ran\n", unlimited);
  CHECK(none.limits.unenforced.empty());
  leaks.check();
}

TEST_CASE("rootless: the deadline kills the whole job, setsid children included" * doctest::skip(!rootless() || delegated())) {
  LeakCheck leaks;
  auto j = job(1s);
  j.grace = 300ms;
  const auto t0 = std::chrono::steady_clock::now();
  const std::string seconds = fmt::format("61.{}", ::getpid());  // names them on the host
  auto r = run_ok(fmt::format("/bin/payload spawn-setsid 3 {0} &\nexec /bin/payload ignore-term {0}\n",
                              seconds),
                  j);
  CHECK(r.outcome == Outcome::kTimedOut);
  CHECK(r.exit_code == -1);
  CHECK(r.stderr_data.find("Execution timeout (1s)") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  CHECK(host_processes_with("payload spawn-setsid 3 " + seconds) == 0);
  CHECK(host_processes_with("payload ignore-term " + seconds) == 0);
  leaks.check();
}

TEST_CASE("rootless: root-only files, host processes and the network stay out of reach" * doctest::skip(!rootless() || delegated())) {
  LoopbackListener listener;  // before the leak check: its fd is the test's, not a job's
  LeakCheck leaks;
  // /etc/shadow in the test rootfs is the host root's, mode 0600: unmapped in the job's user
  // namespace, so the job's root has no claim on it.
  auto r = run_ok(fmt::format("/bin/payload read /etc/shadow; /bin/payload procs;"
                              "/bin/payload connect 127.0.0.1 {}; /bin/payload try mount unshare-net\n",
                              listener.port()),
                  job());
  CHECK(r.stdout_data.rfind("open: Permission denied\n1 sh\n", 0) == 0);
  CHECK(r.stdout_data.find("connect: Connection refused\n") != std::string::npos);
  CHECK(r.stdout_data.find("mount: Operation not permitted\nunshare-net: Operation not permitted\n") !=
        std::string::npos);
  const auto procs = std::count(r.stdout_data.begin(), r.stdout_data.end(), '\n') - 4;
  CHECK(procs <= 2);  // sh and payload: the job's own
  leaks.check();
}

TEST_CASE("rootless: state lives in the user's own private directory and nothing stays there" * doctest::skip(!rootless() || delegated())) {
  LeakCheck leaks;
  CHECK(ociexec::default_state_dir().string().find("ociexec") != std::string::npos);
  CHECK(ociexec::default_state_dir() != "/run/ociexec");
  CHECK(ociexec::default_cache_dir().string().find("ociexec") != std::string::npos);
  CHECK(ociexec::default_cache_dir() != "/var/cache/ociexec");
  struct stat st {};
  REQUIRE(::stat(Env::get().state_dir.c_str(), &st) == 0);
  CHECK(st.st_uid == ::getuid());
  CHECK((st.st_mode & 077) == 0);
  auto r = run_ok("echo ok\n", job());
  CHECK(r.stdout_data == "ok\n");
  leaks.check();  // no bundle, runtime state, mount or process of it left
}

TEST_CASE("rootless with a delegated cgroup: the memory limit OOM-kills and the pids limit holds" *
          doctest::skip(!delegated())) {
  LeakCheck leaks;
  auto oom = run_ok("/bin/payload memhog 512\n", memory_job(64));
  CHECK(oom.outcome == Outcome::kOomKilled);
  CHECK(oom.limits.unenforced.empty());
  REQUIRE(oom.peak_memory_bytes.has_value());
  CHECK(*oom.peak_memory_bytes <= 64 * ociexec::kMiB);

  auto j = job();
  j.limits.pids = 16;
  auto forks = run_ok("/bin/payload forkbomb 30\n", j);
  int made = -1;
  REQUIRE(std::sscanf(forks.stdout_data.c_str(), "fork failed after %d", &made) == 1);
  CHECK(made < 16);

  // A CPU limit is enforced where the cpu controller is delegated too (systemd delegates it
  // on v2, as the VM suite does); where it is not (run-rootless.sh delegates memory and pids
  // on v1), it cannot be, and is refused.
  auto layout = ociexec::cgroup::detect_layout();
  REQUIRE(layout);
  const bool cpu_delegated = ociexec::cgroup::has_controller(
      ociexec::cgroup::delegated_layout(*layout, Env::get().cgroup_parent), "cpu");
  auto cpu = job();
  cpu.limits.cpus = 0.5;
  auto limited = executor().run("true\n", cpu);
  if (cpu_delegated) {
    REQUIRE_MESSAGE(limited, (limited ? "" : limited.error().message));
    CHECK(limited->limits.unenforced.empty());
  } else {
    REQUIRE_FALSE(limited);
    CHECK(limited.error().kind == ociexec::ErrorKind::kLimitNotEnforced);
    CHECK(limited.error().message.rfind("cpus 0.5: cannot be enforced", 0) == 0);
  }
  leaks.check();  // the job cgroups inside the delegated one are gone
}

TEST_CASE("rootless: the namespaces held for a job with files hold no fd of ours, and go with it" *
          doctest::skip(!rootless() || delegated())) {
  LeakCheck leaks;
  auto j = job();
  j.files = {{"in.txt", "given\n"}};
  j.copy_out = {"out.txt"};
  std::optional<ociexec::Result> result;
  std::thread runner([&] {
    result = run_ok("cat in.txt; cat /proc/self/uid_map > out.txt; /bin/payload sleep 2\n", j);
  });
  // The holder: a child of ours, by its name, while the job runs.
  pid_t holder = 0;
  for (int i = 0; i < 500 && holder == 0; ++i) {
    for (const auto& c : ociexec::sys::children_of(::getpid())) {
      auto comm = ociexec::sys::read_file(fmt::format("/proc/{}/comm", c.pid));
      if (comm && *comm == "ociexec-userns\n") holder = c.pid;
    }
    if (holder == 0) std::this_thread::sleep_for(10ms);
  }
  CHECK(holder != 0);
  if (holder != 0) {
    std::error_code ec;
    const auto fds = std::distance(
        std::filesystem::directory_iterator(fmt::format("/proc/{}/fd", holder), ec), {});
    CHECK_FALSE(ec);
    CHECK(fds == 0);  // a pipe's write end held there would keep its reader from EOF
    const auto ours = std::filesystem::read_symlink("/proc/self/ns/user");
    CHECK(std::filesystem::read_symlink(fmt::format("/proc/{}/ns/user", holder), ec) != ours);
  }
  runner.join();
  REQUIRE(result);
  CHECK(result->stdout_data == "given\n");
  // The job's namespace is the held one, with the maps a runtime would have written.
  REQUIRE(result->files.count("out.txt") == 1);
  const auto& maps = result->files.at("out.txt").data;
  CHECK(maps.find(fmt::format("{:>10}{:>11}{:>11}\n", 0, ::getuid(), 1)) == 0);
  leaks.check();  // the holder killed and reaped with the container
}
