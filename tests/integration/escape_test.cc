// The escape suite: what a job tries in order to get out of its container, and how each
// attempt fails. docs/security.md lists every guarantee with the case here that proves it.
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <vector>

#include "harness.h"
#include "sys/fs.h"

using namespace ociexec::test;
namespace fs = std::filesystem;

namespace {

// Counts `attempts` escape attempts for the run's summary, blocked if `blocked`.
bool tally(int attempts, bool blocked) {
  job_counts().escapes_tried += attempts;
  if (blocked) job_counts().escapes_blocked += attempts;
  return blocked;
}

// The job printed exactly `expected`, one line per attempt, each saying how it failed.
bool blocked_as(const ociexec::Result& r, const std::string& expected) {
  return tally(static_cast<int>(std::count(expected.begin(), expected.end(), '\n')),
               r.stdout_data == expected);
}

std::string host_name() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

}  // namespace

TEST_CASE("escape: the network is unreachable, even the host's loopback") {
  LoopbackListener listener;  // before the leak check: its fd is the test's, not a job's
  LeakCheck leaks;
  auto r = run_ok(fmt::format("/bin/payload connect 127.0.0.1 {}\n", listener.port()), job());
  // 127.0.0.1 is the job's own loopback in its own network namespace: nothing listens there.
  CHECK(r.exit_code == 1);
  CHECK(blocked_as(r, "connect: Connection refused\n"));
  // And it has no other interface to reach anything through.
  auto dev = run_ok("cat /proc/net/dev\n", job());
  CHECK(dev.stdout_data.find("lo:") != std::string::npos);
  CHECK(std::count(dev.stdout_data.begin(), dev.stdout_data.end(), ':') == 1);  // lo alone
  leaks.check();
}

TEST_CASE("escape: the rootfs and the script are read-only; /tmp and the work dir are writable") {
  LeakCheck leaks;
  auto r = run_ok(
      "/bin/payload write /bin/x 1; /bin/payload write /tmp/x 1; /bin/payload write /work/x 1\n",
      job());
  CHECK(r.stdout_data == "open: Read-only file system\nwrote 1\nwrote 1\n");
  CHECK(tally(1, r.stdout_data.rfind("open: Read-only file system\n", 0) == 0));
  auto script = run_ok("/bin/payload write /.ociexec/script 1\n", job());
  CHECK(blocked_as(script, "open: Read-only file system\n"));
  leaks.check();
}

TEST_CASE("escape: seccomp and no capabilities stop user namespaces") {
  LeakCheck leaks;
  auto r = run_ok("/bin/payload unshare-user\n", job());
  CHECK(r.exit_code == 1);
  CHECK(blocked_as(r, "unshare: Operation not permitted\n"));
  leaks.check();
}

TEST_CASE("escape: privileged syscalls fail with EPERM (seccomp, no capabilities)") {
  LeakCheck leaks;
  // Each attempt is one a container breakout needs: new mounts or namespaces, joining the
  // host's, tracing, loading kernel code, raw packets, device nodes, the clock, the hostname.
  const std::vector<std::string> attempts = {
      "mount",          "umount",      "unshare-mount", "unshare-net",   "setns",
      "ptrace",         "kexec",       "init-module",   "delete-module", "reboot",
      "raw-socket",     "packet-socket", "mknod",       "sethostname",   "chroot",
      "setuid-root",    "open-by-handle", "bpf",        "perf",          "keyctl",
      "userfaultfd",    "iopl",        "clock-settime", "syslog",        "swapon"};
  std::string script = "/bin/payload try";
  std::string expected;
  for (const auto& a : attempts) {
    script += " " + a;
    expected += a + ": Operation not permitted\n";
  }
  auto r = run_ok(script + "\n", job());
  CHECK(r.exit_code == 0);  // payload exits 1 if any attempt was allowed
  CHECK(blocked_as(r, expected));
  leaks.check();
}

TEST_CASE("escape: every job gets the seccomp filter, compiled or cached by the executor") {
  LeakCheck leaks;
  // With crun, the first job's filter is compiled by crun and later ones load the program it
  // left (runtime/seccomp_cache.h): each of three jobs must show it, answering what only the
  // profile answers.
  for (int i = 0; i < 3; ++i) {
    auto r = run_ok("grep Seccomp: /proc/self/status; /bin/payload try clone3 kcmp\n", job());
    CHECK(r.exit_code == 0);
    CHECK(r.stdout_data ==
          "Seccomp:\t2\nclone3: Function not implemented\nkcmp: Operation not permitted\n");
  }
  leaks.check();
}

TEST_CASE("escape: /proc/sys, /sys, /dev and the job dir cannot be written") {
  LeakCheck leaks;
  auto r = run_ok(
      "/bin/payload write /sys/escape 1; /bin/payload write /proc/sys/kernel/hostname 1;"
      "/bin/payload write /dev/escape 1; /bin/payload write /.ociexec/escape 1; ls /sys/fs/cgroup\n",
      job());
  CHECK(blocked_as(r,
        "open: Read-only file system\n"  // sysfs is mounted read-only
        "open: Read-only file system\n"  // /proc/sys: bound read-only
        "open: Permission denied\n"      // /dev is root's tmpfs
        "open: Read-only file system\n"));  // the script's directory
  leaks.check();
}

TEST_CASE("escape: host secrets and kernel information are out of reach") {
  LeakCheck leaks;
  // A secret on the host, at a path the job can name: the job's root is not the host's.
  const fs::path secret = Env::get().state_dir / "host-secret";
  REQUIRE(ociexec::sys::write_new_file(secret, "s3cret", 0644));
  auto r = run_ok(fmt::format("/bin/payload read {}; /bin/payload read /proc/timer_list;"
                              "/bin/payload read /proc/keys; /bin/payload read /etc/shadow\n",
                              secret.string()),
                  job());
  fs::remove(secret);
  CHECK(blocked_as(r,
        "open: No such file or directory\n"
        "read 0 bytes\n"  // masked: /dev/null over it
        "read 0 bytes\n"
        "open: Permission denied\n"));  // the rootfs's own root-only file
  // The built-in host-view rootfs shows the host's programs, never its /etc, /root or /home.
  auto host_view = job();
  host_view.rootfs.reset();
  auto hv = run_ok("cat /etc/shadow; ls /root /home; test -e /etc/ssh && echo ssh\n", host_view);
  CHECK(tally(3, hv.stderr_data.find("/etc/shadow: No such file") != std::string::npos &&
                     hv.stderr_data.find("/root") != std::string::npos && hv.stdout_data.empty()));
  leaks.check();
}

TEST_CASE("escape: host processes are invisible; only the job's own are seen") {
  LeakCheck leaks;
  auto r = run_ok("/bin/payload procs\n", job());
  std::istringstream lines(r.stdout_data);
  std::string pid, comm;
  int seen = 0;
  bool only_own = true;
  while (lines >> pid >> comm) {
    ++seen;
    only_own = only_own && (comm == "sh" || comm == "payload");
    CHECK_MESSAGE((comm == "sh" || comm == "payload"), "a process not of the job: " << comm);
  }
  CHECK(seen >= 1);
  CHECK(seen <= 2);
  // Its own pid namespace: the script is pid 1.
  CHECK(tally(1, only_own && r.stdout_data.rfind("1 sh\n", 0) == 0));
  leaks.check();
}

TEST_CASE("escape: the job has its own hostname and cannot change the host's") {
  LeakCheck leaks;
  const std::string before = host_name();
  auto r = run_ok("/bin/payload try sethostname; hostname\n", job());
  CHECK(r.stdout_data == "sethostname: Operation not permitted\nociexec\n");
  CHECK(tally(1, host_name() == before && r.stdout_data.rfind("sethostname: Operation not", 0) == 0));
  leaks.check();
}

TEST_CASE("escape: no process outlives its job, however it detaches") {
  LeakCheck leaks;
  // Double fork, new session, stdio closed, SIGTERM and SIGHUP ignored.
  // Its arguments name it on the host: unique to this test process (suites may run at once).
  const std::string seconds = fmt::format("31.{}", ::getpid());
  const std::string daemon = "/bin/payload daemon " + seconds;
  auto r = run_ok(daemon + "\n", job());
  CHECK(r.stdout_data == "daemonized\n");
  CHECK(r.wall_time < std::chrono::seconds(5));
  CHECK(tally(1, host_processes_with(daemon) == 0));
  leaks.check();
}

TEST_CASE("escape: a setuid-root binary gives no privilege (no_new_privs)") {
  LeakCheck leaks;
  auto r = run_ok("/bin/payload-suid euid; /bin/payload-suid try setuid-root\n", job());
  CHECK(blocked_as(r, "euid=65534\nsetuid-root: Operation not permitted\n"));
  leaks.check();
}

TEST_CASE("escape: /dev/shm and the work dir are capped like /tmp") {
  LeakCheck leaks;
  auto j = job();
  j.limits.tmpfs_bytes = 8 * ociexec::kMiB;
  auto r = run_ok("/bin/payload write /work/fill 20000000; /bin/payload write /dev/shm/fill 100000000\n", j);
  CHECK(blocked_as(r, "write: No space left on device\nwrite: No space left on device\n"));
  leaks.check();
}
