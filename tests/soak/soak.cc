// Soak: N jobs at concurrency 8 through submit(), mixing every way a job can end, each result
// checked against what its kind must return; then nothing may be left behind (containers,
// cgroups, mounts, bundle dirs, runtime state, child processes, fds) and the executor's
// memory growth is printed and bounded.
//
//   ociexec_soak ROOTFS INIT JOBS [RUNTIME] [POOL]
//
// Prints one summary line; exits 0 only when every job matched and nothing was left.
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/leftovers.h"
#include "ociexec/ociexec.h"
#include "sys/fs.h"
#include "sys/proc.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ociexec::ErrorKind;
using ociexec::Expected;
using ociexec::Outcome;
using ociexec::Result;

struct Kind {
  std::string name;
  std::string script;
  std::function<void(ociexec::JobOptions&)> options;
  // Empty when the result is what this kind must return, else what was wrong.
  std::function<std::string(const Expected<Result>&)> check;
};

std::string want(bool ok, const std::string& what, const Expected<Result>& r) {
  if (ok) return {};
  if (!r)
    return fmt::format("{}: error {}: {}", what, ociexec::to_string(r.error().kind),
                       r.error().message);
  return fmt::format("{}: exit {} outcome {} stdout {:.60} stderr {:.200}", what, r->exit_code,
                     ociexec::to_string(r->outcome), r->stdout_data, r->stderr_data);
}

std::vector<Kind> kinds(const fs::path& broken_rootfs) {
  auto ok = [](const Expected<Result>& r) { return r.has_value(); };
  return {
      {"clean exit", "echo ok\n", nullptr,
       [=](const Expected<Result>& r) {
         return want(ok(r) && r->exit_code == 0 && r->stdout_data == "ok\n", "clean", r);
       }},
      {"non-zero exit", "exit 3\n", nullptr,
       [=](const Expected<Result>& r) {
         return want(ok(r) && r->exit_code == 3 && r->outcome == Outcome::kExited, "exit 3", r);
       }},
      {"timeout", "echo started; sleep 30\n", [](ociexec::JobOptions& j) { j.timeout = 1s; },
       [=](const Expected<Result>& r) {
         return want(ok(r) && r->exit_code == -1 && r->outcome == Outcome::kTimedOut &&
                         r->stdout_data == "started\n" &&
                         r->stderr_data.find("Execution timeout (1s)") != std::string::npos,
                     "timeout", r);
       }},
      {"SIGTERM-ignoring with setsid children",
       "/bin/payload spawn-setsid 5 60 & exec /bin/payload ignore-term 60\n",
       [](ociexec::JobOptions& j) {
         j.timeout = 1s;
         j.grace = 300ms;
       },
       [=](const Expected<Result>& r) {
         return want(ok(r) && r->exit_code == -1 && r->outcome == Outcome::kTimedOut, "ignore-term",
                     r);
       }},
      {"memory hog", "/bin/payload memhog 512\n",
       [](ociexec::JobOptions& j) { j.limits.memory_bytes = 64 * ociexec::kMiB; },
       [=](const Expected<Result>& r) {
         return want(ok(r) && r->outcome == Outcome::kOomKilled, "memhog", r);
       }},
      {"fork bomb", "/bin/payload forkbomb 30\n",
       [](ociexec::JobOptions& j) { j.limits.pids = 32; },
       [=](const Expected<Result>& r) {
         return want(ok(r) && r->outcome == Outcome::kExited &&
                         r->stdout_data.rfind("fork failed after", 0) == 0,
                     "forkbomb", r);
       }},
      {"100 MiB flood", "/bin/payload flood 100; echo end >&2\n", nullptr,
       [=](const Expected<Result>& r) {
         return want(ok(r) && r->exit_code == 0 && r->stdout_truncated &&
                         r->stdout_data.size() == ociexec::JobOptions{}.output_cap &&
                         r->stderr_data == "end\n",
                     "flood", r);
       }},
      {"killed by a signal", "exec /bin/payload segv\n", nullptr,
       [=](const Expected<Result>& r) {
         return want(ok(r) && r->outcome == Outcome::kSignaled && r->signal == SIGSEGV &&
                         r->exit_code == 128 + SIGSEGV,
                     "segv", r);
       }},
      {"stdin echo", "cat\n",
       [](ociexec::JobOptions& j) { j.stdin_data = std::string(100000, 'x') + "end"; },
       [=](const Expected<Result>& r) {
         return want(ok(r) && r->exit_code == 0 && r->stdout_data.size() == 100003 &&
                         r->stdout_data.ends_with("end"),
                     "stdin", r);
       }},
      {"runtime failure (a rootfs without /bin/sh)", "true\n",
       [=](ociexec::JobOptions& j) { j.rootfs = broken_rootfs; },
       [=](const Expected<Result>& r) {
         return want(!r && r.error().kind == ErrorKind::kCommandNotFound, "broken rootfs", r);
       }},
  };
}

// A memory figure of ours in KiB (a /proc/self/status field, "VmRSS:"), once free heap pages
// are given back: what the executor holds, not what glibc's arenas keep cached.
std::uint64_t rss_kib(std::string_view field) {
  ::malloc_trim(0);
  auto status = ociexec::sys::read_file("/proc/self/status");
  if (!status) return 0;
  auto pos = status->find(field);
  return pos == std::string::npos
             ? 0
             : std::strtoull(status->c_str() + pos + field.size(), nullptr, 10);
}

// Everything the shared check looks for, plus the soak process's own children and fds.
std::vector<std::string> leftovers(const fs::path& state, const std::string& parent,
                                   std::size_t fds_before) {
  auto found = ociexec::test::leftovers(state, parent);
  for (const auto& c : ociexec::sys::children_of(::getpid()))
    found.push_back(fmt::format("child process {}{}", c.pid, c.zombie ? " (zombie)" : ""));
  if (auto fds = ociexec::sys::open_fd_count(); fds != fds_before)
    found.push_back(fmt::format("fds: {} before, {} after", fds_before, fds));
  return found;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    fmt::print(stderr, "usage: ociexec_soak ROOTFS INIT JOBS [RUNTIME] [POOL]\n");
    return 2;
  }
  // A fixed mmap threshold: a freed output buffer of 1 MiB or more goes back to the kernel at
  // once. By default glibc raises the threshold after each large free, so later buffers come
  // from the arenas and stay cached there, and where RSS levels off depended on how many
  // floods had run at once by the warm-up's end (+26 MiB in one run here, +61 MiB in the
  // next, against a 64 MiB bound). What is left to grow is what the executor holds.
  ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
  const fs::path rootfs = argv[1];
  const int jobs = std::atoi(argv[3]);
  char tmpl[] = "/tmp/ociexec-soak-XXXXXX";
  const fs::path state = ::mkdtemp(tmpl);
  // Every mount point is there, only /bin/sh is not: jobs fail as command_not_found. (A
  // missing mount point is made by the runtime in the shared rootfs; crun fails with EEXIST
  // when two creates make the same one at once.)
  const fs::path broken = state / "broken-rootfs";
  for (const char* dir : {"tmp", "proc", "dev", "sys", "work", ".ociexec"})
    fs::create_directories(broken / dir);
  ::chmod((broken / "tmp").c_str(), 01777);
  const std::string parent = fmt::format("ociexec-soak-{}", ::getpid());
  const auto all = kinds(broken);

  ociexec::ExecutorOptions o;
  o.state_dir = state;
  o.cgroup_parent = parent;
  o.runtime = argc > 4 ? argv[4] : "auto";
  o.pool_size = argc > 5 ? static_cast<std::size_t>(std::atoi(argv[5])) : 0;
  o.init_path = argv[2];
  o.max_concurrent_jobs = 8;

  const std::size_t fds_before = ociexec::sys::open_fd_count();
  std::uint64_t rss_warm = 0, rss_end = 0;
  std::map<std::string, int> ran, mismatched;
  std::vector<std::string> failures;
  std::string runtime;
  const auto t0 = std::chrono::steady_clock::now();
  {
    auto exec = ociexec::Executor::create(o);
    if (!exec) {
      fmt::print(stderr, "soak: {}\n", exec.error().message);
      return 1;
    }
    runtime = exec->runtime().name;
    std::vector<int> order(static_cast<std::size_t>(jobs));
    for (int i = 0; i < jobs; ++i)
      order[static_cast<std::size_t>(i)] = i % static_cast<int>(all.size());
    std::shuffle(order.begin(), order.end(), std::mt19937(20261127));
    std::mutex m;
    std::atomic<int> done{0};
    // A warm-up (a fifth of the jobs, at least 200), then the rest. With the fixed mmap
    // threshold above, freed output buffers are not cached: with no job in flight, RSS is
    // what the executor holds. The end is compared with the warm-up's end, each sampled with
    // no job in flight: flat, unless something leaks.
    const int warm_up = std::min(jobs, std::max(200, jobs / 5));
    auto wait_for = [&done](int n) {
      while (done < n) std::this_thread::sleep_for(20ms);
    };
    int submitted = 0;
    for (int k : order) {
      if (submitted++ == warm_up) {
        wait_for(warm_up);
        rss_warm = rss_kib("VmRSS:");
      }
      const Kind& kind = all[static_cast<std::size_t>(k)];
      ociexec::JobOptions j;
      j.rootfs = rootfs;
      if (kind.options) kind.options(j);
      exec->submit(kind.script, j, [&, k](Expected<Result> r) {
        const Kind& kd = all[static_cast<std::size_t>(k)];
        std::string why = kd.check(r);
        std::lock_guard lock(m);
        ++ran[kd.name];
        if (!why.empty()) {
          ++mismatched[kd.name];
          if (failures.size() < 10) failures.push_back(why);
        }
        ++done;
      });
    }
    wait_for(jobs);
    if (jobs <= warm_up) rss_warm = rss_kib("VmRSS:");
    rss_end = rss_kib("VmRSS:");
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto left = leftovers(state, parent, fds_before);
  (void)ociexec::sys::remove_tree(state);

  int bad = 0;
  for (const auto& [name, n] : mismatched) bad += n;
  for (const auto& [name, n] : ran)
    fmt::print("  {:<45} {:>6} jobs, {} mismatched\n", name, n,
               mismatched.count(name) ? mismatched[name] : 0);
  for (const auto& f : failures) fmt::print("  mismatch: {}\n", f);
  for (const auto& l : left) fmt::print("  left behind: {}\n", l);
  const std::int64_t growth_kib =
      static_cast<std::int64_t>(rss_end) - static_cast<std::int64_t>(rss_warm);
  constexpr std::int64_t kMaxGrowthKib = 16 * 1024;  // 16 KiB a job over 1,000 jobs
  fmt::print(
      "soak: {} jobs ({} kinds, {}, pool {}) in {:.1f} s, {} mismatched; executor RSS {} KiB "
      "after {} jobs, {} KiB at the end ({:+} KiB, bound {} KiB); {}\n",
      jobs, all.size(), runtime, o.pool_size, seconds, bad, rss_warm,
      std::min(jobs, std::max(200, jobs / 5)), rss_end, growth_kib,
      kMaxGrowthKib,
      left.empty() ? "nothing left behind" : fmt::format("{} left behind", left.size()));
  return bad == 0 && left.empty() && growth_kib <= kMaxGrowthKib ? 0 : 1;
}
