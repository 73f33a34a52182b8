// Chaos: faults injected into real jobs, then nothing may remain.
//   1. SIGKILL of the CLI at a random moment of a job's life (during create, while the job
//      runs, during its removal), then `ociexec gc`;
//   2. SIGKILL of the runtime process while the CLI waits for it; the CLI must report it and
//      clean up by itself, and gc then finds nothing;
//   3. a state dir on a tiny tmpfs filled to several levels: a clear error or a good run;
//   4. a runtime binary that hangs, or crashes: a clear error within the runtime timeout.
// All the while a fork bomb runs in a job of its own, and the host's ability to start a
// process is measured: it must keep working.
//
//   ociexec_chaos ROOTFS CLI ITERATIONS
//
// Prints one summary line; exits 0 only when every check held and nothing was left behind.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/leftovers.h"
#include "sys/fs.h"
#include "sys/proc.h"
#include "sys/process.h"
#include "sys/unique_fd.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ociexec::Expected;
using ociexec::sys::ChildProcess;

// This process is a child subreaper, as a service manager would be: what a killed CLI leaves
// is reparented here, and reaped here, never by a host init that may take its time. Our own
// children are reaped by their ChildProcess; the others are adopted orphans.
std::mutex ours_mutex;
std::set<pid_t> ours;

Expected<ChildProcess> spawn_tracked(const std::vector<std::string>& argv,
                                     const ociexec::sys::SpawnOptions& options) {
  std::lock_guard lock(ours_mutex);
  auto child = ChildProcess::spawn(argv, options);
  if (child) ours.insert(child->pidfd().pid());
  return child;
}

void reap_adopted() {
  std::lock_guard lock(ours_mutex);
  for (const auto& c : ociexec::sys::children_of(::getpid()))
    if (c.zombie && !ours.count(c.pid)) ::waitpid(c.pid, nullptr, WNOHANG);
}

std::vector<std::string> leftovers(const fs::path& state, const std::string& parent) {
  reap_adopted();
  return ociexec::test::leftovers(state, parent);
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Setup {
  fs::path rootfs, cli, dir;
  std::string parent;
  [[nodiscard]] fs::path state() const { return dir / "state"; }
  [[nodiscard]] fs::path config() const { return dir / "config.yaml"; }
};

void write_config(const fs::path& path, const fs::path& state, const std::string& parent,
                  const std::string& extra = "") {
  std::ofstream(path) << "state_dir: " << state.string() << "\ncgroup_parent: " << parent << "\n"
                      << extra;
}

// A CLI run whose stdout and stderr land in memfds, read when it has ended.
struct CliRun {
  ChildProcess child;
  ociexec::sys::UniqueFd out, err;

  static CliRun start(const fs::path& cli, const std::vector<std::string>& args) {
    auto out = ociexec::sys::make_memfd("chaos-out", {});
    auto err = ociexec::sys::make_memfd("chaos-err", {});
    std::vector<std::string> argv = {cli.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto child = spawn_tracked(argv, {{}, *out, *err});
    if (!child) {
      fmt::print(stderr, "chaos: cannot start the CLI: {}\n", child.error().message);
      std::exit(2);
    }
    return {std::move(*child), std::move(*out), std::move(*err)};
  }
  [[nodiscard]] pid_t pid() const { return child.pidfd().pid(); }
  // Exit status (128+N for signal N), or -1 if it did not end within `limit`.
  int wait(std::chrono::milliseconds limit) {
    auto st = child.wait_for(limit);
    std::lock_guard lock(ours_mutex);
    ours.erase(pid());
    return st ? st->shell_code() : -1;
  }
  static std::string text(const ociexec::sys::UniqueFd& fd) {
    ::lseek(fd.get(), 0, SEEK_SET);
    return ociexec::sys::read_all(fd.get()).value_or("");
  }
  [[nodiscard]] std::string stderr_text() const { return text(err); }
  [[nodiscard]] std::string stdout_text() const { return text(out); }
};

std::string cmdline(pid_t pid) {
  auto s = ociexec::sys::read_file(fmt::format("/proc/{}/cmdline", pid)).value_or("");
  std::replace(s.begin(), s.end(), '\0', ' ');
  return s;
}

// The runtime process the CLI is waiting for, if any ("runc ... create ..."), and which call.
std::pair<pid_t, std::string> runtime_child(pid_t cli) {
  for (const auto& c : ociexec::sys::children_of(cli)) {
    const auto line = cmdline(c.pid);
    for (const char* call : {" create ", " delete ", " start ", " kill "})
      if (line.find("--root") != std::string::npos && line.find(call) != std::string::npos)
        return {c.pid, std::string(call).substr(1, std::string(call).size() - 2)};
  }
  return {-1, ""};
}

// Which moment of the job's life the CLI is in, looked at from outside just before the kill.
std::string phase_of(pid_t cli, const fs::path& state) {
  if (auto [pid, call] = runtime_child(cli); pid > 0) return "during " + call;
  std::error_code ec;
  for (const auto& b : fs::directory_iterator(state / "bundles", ec)) {
    auto init = ociexec::sys::read_file(b.path() / "init.pid");
    if (!init) return "during create";
    const pid_t pid = std::atoi(init->c_str());
    const std::string line = cmdline(pid);
    if (line.empty()) return "during removal";  // the job's init has exited
    // runc's init is "runc init" until started; crun's is crun itself.
    const bool runtime = line.rfind("runc", 0) == 0 || line.find("crun") != std::string::npos;
    return runtime ? "between create and start" : "while running";
  }
  return "at start-up or exit";
}

struct Tally {
  std::map<std::string, int> faults;  // by kind and moment: kills that hit a live target
  std::map<std::string, int> missed;  // kills whose target had already finished its work
  std::vector<std::string> problems;
  int runs_needing_gc = 0;
  int runtime_not_caught = 0;  // jobs that ended before the poll saw a runtime call
  void problem(std::string p) {
    if (problems.size() < 20)
      problems.push_back(std::move(p));
    else if (problems.size() == 20)
      problems.push_back("(more problems not shown)");
  }
};

int run_gc(const Setup& s, Tally& t, const std::string& when) {
  CliRun gc = CliRun::start(s.cli, {"--config", s.config().string(), "gc"});
  int rc = gc.wait(30s);
  if (rc != 0) t.problem(fmt::format("{}: gc exited {}: {}", when, rc, gc.stderr_text()));
  return rc;
}

void expect_clean(const Setup& s, Tally& t, const std::string& when) {
  for (const auto& l : leftovers(s.state(), s.parent))
    t.problem(fmt::format("{}: left behind: {}", when, l));
}

// A CLI job of about 20 ms on runtime `rt`.
CliRun start_short_job(const Setup& s, const std::string& rt) {
  return CliRun::start(s.cli, {"--config", s.config().string(), "run", "--runtime", rt, "--rootfs",
                               s.rootfs.string(), "-c", "/bin/payload sleep 0.02"});
}

// 1 and 2: a job whose CLI, or whose runtime, is killed at a random moment.
void kill_loop(const Setup& s, int iterations, Tally& t) {
  std::mt19937 rng(20261127);
  // How long a whole CLI job takes per runtime: the kill moments are spread over it.
  std::map<std::string, double> span;
  for (const std::string rt : {"runc", "crun"}) {
    auto t0 = Clock::now();
    for (int i = 0; i < 3; ++i) {
      CliRun r = start_short_job(s, rt);
      if (int rc = r.wait(30s); rc != 0)
        t.problem(fmt::format("warm-up {} exited {}: {}", rt, rc, r.stderr_text()));
    }
    span[rt] = ms_since(t0) / 3;
  }
  for (int i = 0; i < iterations; ++i) {
    const std::string rt = i % 2 ? "crun" : "runc";
    const bool kill_runtime = (i / 2) % 4 == 3;  // a quarter of the faults hit the runtime
    const std::string when =
        fmt::format("iteration {} ({}, kill {})", i, rt, kill_runtime ? "runtime" : "CLI");
    CliRun r = start_short_job(s, rt);
    const auto t0 = Clock::now();
    if (!kill_runtime) {
      const double at = std::uniform_real_distribution<double>(0, span[rt] * 1.1)(rng);
      while (ms_since(t0) < at) std::this_thread::sleep_for(200us);
      const std::string phase = phase_of(r.pid(), s.state());
      (void)r.child.pidfd().send_signal(SIGKILL);
      // Only a CLI that the SIGKILL ended was hit; one that had exited by itself was not.
      if (r.wait(30s) == 128 + SIGKILL)
        ++t.faults["CLI killed " + phase];
      else
        ++t.missed["CLI had exited before the kill"];
      if (!leftovers(s.state(), s.parent).empty()) ++t.runs_needing_gc;
    } else {
      // A runtime call lasts a few ms; with the fork bomb running, the poll can sleep through
      // all of a job's calls. Such a job must still end well; the next one is tried, up to 5.
      pid_t target = -1;
      std::string call;
      for (int attempt = 0; target < 0 && attempt < 5; ++attempt) {
        if (attempt > 0) {
          if (const int rc = r.wait(30s); rc != 0)
            t.problem(fmt::format("{}: a job whose runtime was not caught exited {}: {}", when, rc,
                                  r.stderr_text()));
          expect_clean(s, t, when + " (runtime not caught)");
          r = start_short_job(s, rt);
        }
        while (target < 0 && !r.child.pidfd().wait_readable(0ms)) {
          std::tie(target, call) = runtime_child(r.pid());
          if (target < 0) std::this_thread::sleep_for(100us);
        }
        if (target < 0) ++t.runtime_not_caught;
      }
      if (target < 0) {
        t.problem(when + ": no runtime process appeared in 5 jobs");
        r.wait(30s);
        continue;
      }
      // Through a pidfd opened while the runtime is still the CLI's child: never a recycled
      // pid. A runtime that has exited meanwhile (a zombie, or reaped) is not hit.
      auto runtime = ociexec::sys::Pidfd::open(target);
      const bool is_child =
          runtime && ociexec::sys::parse_stat_ppid(
                         ociexec::sys::read_file(fmt::format("/proc/{}/stat", target)).value_or(
                             "")) == r.pid();
      std::this_thread::sleep_for(
          std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3000)(rng)));
      if (is_child) (void)runtime->send_signal(SIGKILL);
      const int rc = r.wait(30s);
      const std::string err = r.stderr_text();
      // The job may have got past the runtime before the kill landed; if not, the CLI says
      // the runtime failed, in one line, and exits 125.
      if (rc == 0) {
        ++t.missed["runtime had finished its " + call + " before the kill"];
      } else {
        ++t.faults["runtime killed during " + call];
        if (rc != 125 || err.empty() || err.find('\n') != err.size() - 1)
          t.problem(fmt::format("{}: the CLI exited {} with: {}", when, rc, err));
        else if (t.faults["runtime killed during " + call] == 1)
          fmt::print("  runtime killed during {}: exit {}: {}", call, rc, err);
      }
      // The CLI cleaned up after its runtime by itself: nothing for gc.
      for (const auto& l : leftovers(s.state(), s.parent))
        t.problem(fmt::format("{}: left behind without gc: {}", when, l));
    }
    run_gc(s, t, when);
    expect_clean(s, t, when + " after gc");
  }
}

// 3: the state dir on a 512 KiB tmpfs, filled so that each step of a job in turn finds it full.
void full_state_dir(const Setup& s, Tally& t) {
  const fs::path mnt = s.dir / "tiny";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=512k,mode=0700") != 0) {
    t.problem(fmt::format("mount a tmpfs on {}: {}", mnt.string(), std::strerror(errno)));
    return;
  }
  const fs::path state = mnt / "state";
  const fs::path config = s.dir / "tiny.yaml";
  write_config(config, state, s.parent);
  const std::string args_rootfs = s.rootfs.string();
  // One job first, so that the caches (runtime version) are there, as on a used host.
  CliRun warm = CliRun::start(s.cli, {"--config", config.string(), "run", "--runtime", "runc",
                                      "--rootfs", args_rootfs, "-c", "true"});
  warm.wait(30s);
  for (std::size_t free_kib : {0, 4, 8, 12, 16, 24, 32, 48, 64, 128}) {
    // Fill the tmpfs, then give back `free_kib`.
    const fs::path filler = mnt / "filler";
    {
      std::ofstream f(filler, std::ios::binary);
      std::string block(4096, 'f');
      while (f.write(block.data(), block.size())) {
      }
    }
    fs::resize_file(
        filler, std::max<std::uintmax_t>(fs::file_size(filler), free_kib * 1024) - free_kib * 1024);
    for (const std::string rt : {"runc", "crun"}) {
      const std::string when = fmt::format("state dir with {} KiB free ({})", free_kib, rt);
      CliRun r = CliRun::start(s.cli, {"--config", config.string(), "run", "--runtime", rt,
                                       "--rootfs", args_rootfs, "-c", "echo ran"});
      const int rc = r.wait(30s);
      const std::string err = r.stderr_text();
      if (rc == 0 && r.stdout_text() == "ran\n") {
        ++t.faults["full state dir: the job ran"];
      } else if (rc == 125 && err.find("No space left on device") != std::string::npos &&
                 err.find('\n') == err.size() - 1) {
        ++t.faults["full state dir: clear error"];
      } else {
        t.problem(
            fmt::format("{}: exit {}, stdout {:?}, stderr {:?}", when, rc, r.stdout_text(), err));
      }
      for (const auto& l : leftovers(state, s.parent))
        t.problem(fmt::format("{}: left behind: {}", when, l));
    }
    fs::remove(filler);
  }
  ::umount2(mnt.c_str(), MNT_DETACH);
}

// 4: runtimes that hang or crash on create.
void broken_runtimes(const Setup& s, Tally& t) {
  const std::vector<std::pair<std::string, std::string>> fakes = {
      {"hangs", "exec sleep 3600"},
      {"crashes", "kill -SEGV $$"},
  };
  for (const auto& [what, action] : fakes) {
    const fs::path bin = s.dir / fmt::format("runtime-that-{}", what);
    std::ofstream(bin) << "#!/bin/sh\n"
                          "case \"$*\" in *--version*) echo 'runc version 1.1.5'; exit 0;; esac\n"
                          "case \"$*\" in *create*) "
                       << action << ";; esac\nexit 0\n";
    fs::permissions(bin, fs::perms::owner_all);
    const fs::path config = s.dir / "broken.yaml";
    write_config(config, s.state(), s.parent, "runtime_timeout: 2s\n");
    const auto t0 = Clock::now();
    CliRun r = CliRun::start(s.cli, {"--config", config.string(), "run", "--runtime", bin.string(),
                                     "--rootfs", s.rootfs.string(), "-c", "true"});
    const int rc = r.wait(30s);
    const double took = ms_since(t0);
    const std::string err = r.stderr_text();
    const bool clear = rc == 125 && !err.empty() && err.find('\n') == err.size() - 1 &&
                       err.find(bin.filename().string()) != std::string::npos;
    if (!clear || took > 4000)
      t.problem(fmt::format("a runtime that {}: exit {} after {:.0f} ms: {}", what, rc, took, err));
    else
      ++t.faults[fmt::format("a runtime that {}: clear error", what)];
    fmt::print("  runtime that {}: exit {} after {:.0f} ms: {}", what, rc, took, err);
    expect_clean(s, t, "a runtime that " + what);
  }
}

// The fork bomb, in a job of its own (own state dir and cgroup parent), held by its pids limit.
CliRun start_fork_bomb(const Setup& s) {
  const fs::path config = s.dir / "bomb.yaml";
  write_config(config, s.dir / "bomb-state", s.parent + "-bomb");
  return CliRun::start(s.cli, {"--config", config.string(), "run", "--runtime", "runc", "--rootfs",
                               s.rootfs.string(), "--pids-limit", "64", "--timeout", "1h", "-c",
                               "while :; do /bin/payload forkbomb 3600; done"});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    fmt::print(stderr, "usage: ociexec_chaos ROOTFS CLI ITERATIONS\n");
    return 2;
  }
  char tmpl[] = "/run/ociexec-chaos-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    fmt::print(stderr, "chaos: mkdtemp {}: {}\n", tmpl, std::strerror(errno));
    return 2;
  }
  if (auto r = ociexec::sys::become_subreaper(); !r) {
    fmt::print(stderr, "chaos: {}\n", r.error().message);
    return 2;
  }
  Setup s{argv[1], argv[2], tmpl, fmt::format("ociexec-chaos-{}", ::getpid())};
  write_config(s.config(), s.state(), s.parent);
  const int iterations = std::atoi(argv[3]);
  Tally t;

  // The host must keep working: spawning /bin/true is timed all along, fork bomb included.
  CliRun bomb = start_fork_bomb(s);
  std::atomic<bool> stop{false};
  std::vector<double> spawn_ms;
  std::thread probe([&] {
    while (!stop) {
      const auto t0 = Clock::now();
      auto c = spawn_tracked({"/bin/true"}, {});
      if (c && c->wait_for(10s)) spawn_ms.push_back(ms_since(t0));
      std::lock_guard lock(ours_mutex);
      if (c) ours.erase(c->pidfd().pid());
      std::this_thread::sleep_for(50ms);
    }
  });
  const auto t0 = Clock::now();
  kill_loop(s, iterations, t);
  full_state_dir(s, t);
  broken_runtimes(s, t);
  const double seconds = ms_since(t0) / 1000;

  stop = true;
  probe.join();
  // The fork bomb: still held (running), then stopped as a user would, with SIGTERM twice.
  if (bomb.child.pidfd().wait_readable(0ms)) t.problem("the fork bomb job ended early");
  ::kill(bomb.pid(), SIGTERM);
  std::this_thread::sleep_for(100ms);
  ::kill(bomb.pid(), SIGTERM);
  if (bomb.wait(30s) < 0) t.problem("the fork bomb job did not stop on SIGTERM");
  for (const auto& l : leftovers(s.dir / "bomb-state", s.parent + "-bomb"))
    t.problem("fork bomb job: left behind: " + l);
  expect_clean(s, t, "at the end");
  (void)ociexec::sys::remove_tree(s.dir);

  std::sort(spawn_ms.begin(), spawn_ms.end());
  const double p50 = spawn_ms.empty() ? 0 : spawn_ms[spawn_ms.size() / 2];
  const double p99 = spawn_ms.empty() ? 0 : spawn_ms[spawn_ms.size() * 99 / 100];
  const double worst = spawn_ms.empty() ? 0 : spawn_ms.back();
  if (spawn_ms.empty() || worst > 1000)
    t.problem(fmt::format("the host could not start a process in time: worst {:.0f} ms", worst));

  int faults = 0;
  for (const auto& [what, n] : t.faults) {
    fmt::print("  {:<55} {:>5}\n", what, n);
    faults += n;
  }
  int missed = 0;
  for (const auto& [what, n] : t.missed) {
    fmt::print("  missed: {:<47} {:>5}\n", what, n);
    missed += n;
  }
  if (t.runtime_not_caught > 0)
    fmt::print("  {:<55} {:>5}\n", "jobs run again: ended before a runtime call was seen",
               t.runtime_not_caught);
  for (const auto& p : t.problems) fmt::print("  PROBLEM: {}\n", p);
  fmt::print(
      "chaos: {} faults injected in {:.1f} s, each on a live target, and {} kills that "
      "missed (the target had finished); {} CLI kills left something for gc, which removed "
      "it; host process start under a fork bomb p50 {:.1f} ms, p99 {:.1f} ms, worst {:.1f} ms; "
      "{}\n",
      faults, seconds, missed, t.runs_needing_gc, p50, p99, worst,
      t.problems.empty() ? "nothing left behind" : fmt::format("{} problems", t.problems.size()));
  return t.problems.empty() ? 0 : 1;
}
