// Hardening (issue 15): state dirs others could steer, runtimes that hang with helpers, inits
// that do not die after SIGKILL, fork() in the embedding program, callbacks that destroy the
// executor, the warm pool's bounds, durations past what poll can wait, and crun's cached
// seccomp programs used only where crun is shown to load them.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <sstream>

#include "bundle/owner.h"
#include "harness.h"
#include "sys/fs.h"
#include "sys/proc.h"
#include "sys/process.h"

namespace ociexec::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

fs::path private_temp_dir(const char* prefix) {
  std::string tmpl = fmt::format("/tmp/{}-XXXXXX", prefix);
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

// How many container bundles `state` holds (pooled ones included).
std::size_t bundles_in(const fs::path& state) {
  std::size_t n = 0;
  std::error_code ec;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(state / "bundles", ec)) ++n;
  return n;
}

// The v1 freezer directory of the one container of `parent` running `needle`, or empty.
fs::path frozen_candidate(const std::string& parent, const std::string& needle) {
  std::error_code ec;
  for (const auto& d : fs::directory_iterator(fs::path("/sys/fs/cgroup/freezer") / parent, ec)) {
    auto procs = sys::read_file(d.path() / "cgroup.procs");
    if (!procs) continue;
    std::istringstream in(*procs);
    for (pid_t pid; in >> pid;) {
      auto cmdline = sys::read_file(fmt::format("/proc/{}/cmdline", pid));
      if (!cmdline) continue;
      std::replace(cmdline->begin(), cmdline->end(), '\0', ' ');
      if (cmdline->find(needle) != std::string::npos) return d.path();
    }
  }
  return {};
}

// ThreadSanitizer cannot run threads in the child of a multi-threaded fork() (it kills the
// child, or with die_after_fork=0 may hang it): the fork case runs in the other builds.
#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif

bool v1_freezer() {
  return fs::exists("/sys/fs/cgroup/freezer/freezer.state") ||
         fs::exists("/sys/fs/cgroup/freezer/cgroup.procs");
}

}  // namespace

TEST_CASE("state dir: refused when another user owns it, others may write it, or may replace it") {
  REQUIRE(::geteuid() == 0);
  LeakCheck leaks;
  const fs::path base = private_temp_dir("ociexec-statedir");
  auto refused = [](const fs::path& dir, const std::string& why) {
    auto o = Env::get().executor_options();
    o.state_dir = dir;
    o.pool_size = 0;
    auto e = Executor::create(o);
    REQUIRE_FALSE(e);
    CHECK(e.error().kind == ErrorKind::kInvalidArgument);
    CHECK_MESSAGE(e.error().message.find(why) != std::string::npos, e.error().message);
    // Nothing was made in it.
    CHECK_FALSE(fs::exists(dir / "bundles"));
  };
  const fs::path others = base / "others";
  fs::create_directory(others);
  REQUIRE(::chown(others.c_str(), 65534, 65534) == 0);
  REQUIRE(::chmod(others.c_str(), 0777) == 0);
  refused(others, "owned by uid 65534");
  const fs::path open = base / "open";
  fs::create_directory(open);
  REQUIRE(::chmod(open.c_str(), 0777) == 0);
  refused(open, "writable by others");
  // Ours, but in a directory anybody may rename it in: refused, until that has the sticky bit.
  const fs::path mine = base / "mine";
  fs::create_directory(mine);
  REQUIRE(::chmod(mine.c_str(), 0700) == 0);
  REQUIRE(::chmod(base.c_str(), 0777) == 0);
  refused(mine, "writable by others without the sticky bit");
  // The command says so on one line, exit 125.
  auto cli = sys::run_command({Env::get().cli.string(), "--state-dir", mine.string(), "run",
                               "--rootfs", Env::get().rootfs.string(), "-c", "true"},
                              30s);
  REQUIRE(cli);
  CHECK(cli->status.code == 125);
  CHECK(cli->output.find("sticky bit") != std::string::npos);
  CHECK(std::count(cli->output.begin(), cli->output.end(), '\n') == 1);
  REQUIRE(::chmod(base.c_str(), 01777) == 0);
  (void)executor_with([&](ExecutorOptions& o) {
    o.state_dir = mine;
    o.pool_size = 0;
  });
  fs::remove_all(base);
  leaks.check();
}

TEST_CASE("a runtime that hangs on create: it and every helper it started are killed and reaped") {
  LeakCheck leaks;
  const fs::path dir = private_temp_dir("ociexec-hang");
  const std::string token = fmt::format("ociexec-hung-helper-{}", ::getpid());
  const fs::path fake = dir / "runc";
  std::ofstream(fake) << "#!/bin/sh\n"
                         "case \"$*\" in *--version*) echo 'runc version 1.1.5'; exit 0;; esac\n"
                         "case \"$*\" in *' create '*) /bin/sh -c 'sleep 60; : "
                      << token
                      << "' & exec sleep 60;; esac\n"
                         "exec runc \"$@\"\n";
  fs::permissions(fake, fs::perms::owner_all);
  {
    auto exec = executor_with([&](ExecutorOptions& o) {
      o.state_dir = dir / "state";
      o.runtime = fake.string();
      o.runtime_timeout = 1s;
      o.pool_size = 0;
    });
    auto r = exec.run("true", job());
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::kRuntimeTimeout);
    // The helper the runtime left (reparented to us, a subreaper, when it was killed) is
    // gone too, and reaped: no process, no zombie.
    CHECK(host_processes_with(token) == 0);
  }
  fs::remove_all(dir);
  leaks.check();
}

TEST_CASE("an init that SIGKILL cannot end: the result comes back, timed out with a warning, and "
          "gc removes the rest" *
          doctest::skip(!v1_freezer()) *
          doctest::description("a v1 freezer holds a killed process in the kernel; skipped "
                               "where there is none (cgroup v2's freezer lets SIGKILL through)")) {
  REQUIRE(::geteuid() == 0);
  LeakCheck leaks;
  {
    auto exec = executor_with([](ExecutorOptions& o) { o.kill_wait = 1s; });
    JobOptions j = job(1500ms);
    const std::string needle = "sleep 41.25";
    auto running =
        std::async(std::launch::async, [&] { return exec.run("exec /bin/payload " + needle, j); });
    fs::path freezer;
    for (int i = 0; i < 300 && freezer.empty(); ++i) {
      freezer = frozen_candidate(Env::get().cgroup_parent, needle);
      if (freezer.empty()) std::this_thread::sleep_for(10ms);
    }
    REQUIRE_MESSAGE(!freezer.empty(), "the job's freezer cgroup was not found");
    std::ofstream(freezer / "freezer.state") << "FROZEN";
    const auto t0 = std::chrono::steady_clock::now();
    auto r = running.get();
    const auto waited = std::chrono::steady_clock::now() - t0;
    std::ofstream(freezer / "freezer.state") << "THAWED";
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->outcome == Outcome::kTimedOut);
    CHECK(r->exit_code == -1);
    REQUIRE(r->warnings.size() == 1);
    CHECK(r->warnings[0].find("did not exit within 1s of SIGKILL") != std::string::npos);
    CHECK(waited < 5s);  // the deadline (1.5 s) plus kill_wait (1 s), not forever
    // Thawed, the processes die; gc removes the container and reaps its init.
    auto gc = exec.collect_garbage();
    CHECK(gc.errors.empty());
    CHECK(std::find(gc.removed.begin(), gc.removed.end(), r->container_id) != gc.removed.end());
  }
  leaks.check();
}

TEST_CASE("fork: after a job, parent and child run jobs at once, each with its own ids" *
          doctest::skip(kThreadSanitizer) *
          doctest::description("skipped under ThreadSanitizer, which cannot run threads in a "
                               "fork child of a threaded process")) {
  LeakCheck leaks;
  {
    std::optional<Executor> exec(executor_with([](ExecutorOptions&) {}));
    auto first = exec->run("echo before", job());
    REQUIRE_MESSAGE(first, (first ? "" : first.error().message));
    int report[2];
    REQUIRE(::pipe2(report, O_CLOEXEC) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // No doctest here: the child reports through the pipe, and never returns.
      std::string out;
      for (int i = 0; i < 2; ++i) {
        auto r = exec->run("echo child", job());
        const std::string prefix = fmt::format("ociexec-{}-", ::getpid());
        if (!r)
          out += "error: " + r.error().message + "\n";
        else if (r->stdout_data != "child\n" || r->container_id.rfind(prefix, 0) != 0)
          out += fmt::format("unexpected: {:?} {}\n", r->stdout_data, r->container_id);
      }
      exec.reset();  // the child's own executor goes, and everything it made with it
      if (out.empty()) out = "ok";
      (void)!::write(report[1], out.data(), out.size());
      ::_exit(0);
    }
    ::close(report[1]);
    for (int i = 0; i < 2; ++i) {
      auto r = exec->run("echo parent", job());
      REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
      CHECK(r->stdout_data == "parent\n");
      CHECK(r->container_id.rfind(fmt::format("ociexec-{}-", ::getpid()), 0) == 0);
    }
    auto said = sys::read_all(report[0], std::chrono::steady_clock::now() + 60s);
    ::close(report[0]);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);  // our own child, by its pid
    CHECK(WIFEXITED(status));
    REQUIRE(said);
    CHECK(*said == "ok");
    // The parent's executor still works, with its pool if it has one.
    auto after = exec->run("echo after", job());
    REQUIRE(after);
    CHECK(after->stdout_data == "after\n");
  }
  leaks.check();
}

TEST_CASE("async: a done callback may drop the last handle to the executor") {
  LeakCheck leaks;
  {
    auto holder =
        std::make_shared<std::optional<Executor>>(executor_with([](ExecutorOptions&) {}));
    std::promise<std::string> done;
    (*holder)->submit("echo hi", job(), [holder, &done](Expected<Result> r) {
      const std::string out = r ? r->stdout_data : r.error().message;
      holder->reset();  // destroys the executor from its own worker thread
      done.set_value(out);
    });
    auto said = done.get_future();
    REQUIRE(said.wait_for(30s) == std::future_status::ready);
    CHECK(said.get() == "hi\n");
    // The worker ends by itself once the callback returns.
    for (int i = 0; i < 100 && holder.use_count() > 1; ++i) std::this_thread::sleep_for(10ms);
  }
  leaks.check();
}

TEST_CASE("pool: a prewarm that waits longer than an unused profile is kept returns safely") {
  LeakCheck leaks;
  const fs::path state = private_temp_dir("ociexec-prewarm");
  {
    auto exec = executor_with([&](ExecutorOptions& o) {
      o.state_dir = state;
      o.pool_size = 4;
      o.pool_max_age = 100ms;  // containers age out before four are ready; the profile idles
      o.init_path = OCIEXEC_TEST_INIT;
    });
    auto ready = exec.prewarm(job(), 1500ms);
    REQUIRE_MESSAGE(ready, (ready ? "" : ready.error().message));
    CHECK(*ready <= 4);
  }
  CHECK_FALSE(fs::exists(state));  // the last executor out removed its state dir
  leaks.check();
}

TEST_CASE("pool: pool_max_containers bounds all profiles; the least recently used makes room") {
  LeakCheck leaks;
  const fs::path state = private_temp_dir("ociexec-poolcap");
  {
    auto exec = executor_with([&](ExecutorOptions& o) {
      o.state_dir = state;
      o.pool_size = 2;
      o.pool_max_containers = 2;
      o.init_path = OCIEXEC_TEST_INIT;
    });
    JobOptions a = job();
    a.workdir = "/a";
    JobOptions b = job();
    b.workdir = "/b";
    auto ready_a = exec.prewarm(a, 20s);
    REQUIRE(ready_a);
    CHECK(*ready_a == 2);
    CHECK(bundles_in(state) == 2);
    auto ready_b = exec.prewarm(b, 20s);
    REQUIRE(ready_b);
    CHECK(*ready_b == 2);  // a's containers made room
    CHECK(bundles_in(state) == 2);
    auto on_b = exec.run("pwd", b);
    REQUIRE(on_b);
    CHECK(on_b->pooled);
    CHECK(on_b->stdout_data == "/b\n");
    auto on_a = exec.run("pwd", a);
    REQUIRE(on_a);
    CHECK_FALSE(on_a->pooled);  // evicted
    CHECK(on_a->stdout_data == "/a\n");
    // Refilling a evicts b again: b's containers are discarded by a filler thread, each
    // bundle gone once its container is. Settled, the pool holds at most 2.
    const auto settle_by = std::chrono::steady_clock::now() + 10s;
    while (bundles_in(state) > 2 && std::chrono::steady_clock::now() < settle_by)
      std::this_thread::sleep_for(20ms);
    CHECK(bundles_in(state) <= 2);
  }
  CHECK_FALSE(fs::exists(state));
  leaks.check();
}

TEST_CASE("durations: past 365 days refused the same way on every surface; 30 days runs") {
  LeakCheck leaks;
  JobOptions j = job();
  j.timeout = std::chrono::hours(24 * 366);
  auto far = executor().run("true", j);
  REQUIRE_FALSE(far);
  CHECK(far.error().kind == ErrorKind::kInvalidArgument);
  CHECK(far.error().message.find("365 days") != std::string::npos);
  // Past the 24.8 days a poll(2) timeout can hold: enforced by waking up in steps.
  j.timeout = std::chrono::hours(24 * 30);
  auto month = run_ok("echo fine", j);
  CHECK(month.stdout_data == "fine\n");
  auto cli = sys::run_command({Env::get().cli.string(), "--config", write_cli_config("far.yaml"),
                               "run", "--rootfs", Env::get().rootfs.string(), "--timeout", "8761h",
                               "-c", "true"},
                              30s);
  REQUIRE(cli);
  CHECK(cli->status.code == 125);
  CHECK(cli->output.find("365 days") != std::string::npos);
  leaks.check();
}

TEST_CASE("crun: cached seccomp programs are used only once a probe shows crun loads them") {
  if (Env::get().runtime != "crun") return;  // runc compiles its own filter in each init
  LeakCheck leaks;
  const fs::path dir = private_temp_dir("ociexec-seccomp");
  // A crun that drops the annotation before creating: a cache that trusted it would run
  // every later job with no filter at all.
  const fs::path wrapper = dir / "crun";
  std::ofstream(wrapper) << "#!/bin/sh\n"
                            "for a; do case \"$a\" in --bundle) grab=1;; *) [ \"$grab\" = 1 ] && "
                            "b=\"$a\"; grab=;; esac; done\n"
                            "[ -n \"$b\" ] && sed -i 's/,\\?\"run\\.oci\\.seccomp_bpf_data\":\"[^\"]*\"//' "
                            "\"$b/config.json\"\n"
                            "exec crun \"$@\"\n";
  fs::permissions(wrapper, fs::perms::owner_all);
  for (const std::string runtime : {std::string("crun"), wrapper.string()}) {
    CAPTURE(runtime);
    auto exec = executor_with([&](ExecutorOptions& o) {
      o.state_dir = dir / "state";
      o.runtime = runtime;
    });
    for (int i = 0; i < 3; ++i) {
      auto r = exec.run("grep Seccomp: /proc/self/status; /bin/payload try clone3\n", job());
      REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
      CHECK(r->stdout_data == "Seccomp:\t2\nclone3: Function not implemented\n");
    }
    if (runtime != "crun") continue;
    // The real crun passed the probe: a job now gets the cached program through the
    // annotation (seen in its config.json while it runs).
    auto running = std::async(std::launch::async, [&] { return exec.run("sleep 1", job()); });
    bool annotated = false;
    for (int i = 0; i < 100 && !annotated; ++i) {
      std::error_code ec;
      for (const auto& b : fs::directory_iterator(dir / "state" / "bundles", ec))
        annotated |= sys::read_file(b.path() / "config.json")
                         .value_or("")
                         .find("run.oci.seccomp_bpf_data") != std::string::npos;
      std::this_thread::sleep_for(10ms);
    }
    CHECK(annotated);
    CHECK(running.get());
  }
  fs::remove_all(dir);
  leaks.check();
}

}  // namespace ociexec::test
