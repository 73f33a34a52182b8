// Per-job overhead and kill latency, side by side with the reference: a bare `runc run` (or
// `crun run`) of a bundle with the same config.json the executor generates for the same job.
//
//   ociexec_bench ROOTFS CLI [JOBS] [RUNTIME]
//
// Prints a table; the speed goals are: library <= 1.10x bare, deadline -> result <= 50 ms.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "ociexec/ociexec.h"
#include "spec/spec_builder.h"
#include "sys/fs.h"
#include "sys/process.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::duration<double, std::milli>;

struct Stats {
  double mean, p50, p99;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
  };
  return {std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()), at(0.5),
          at(0.99)};
}

template <typename F>
std::vector<double> time_each(int n, F&& f) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    f(i);
    out.push_back(Ms(Clock::now() - t0).count());
  }
  return out;
}

[[noreturn]] void die(const std::string& what) {
  fmt::print(stderr, "bench: {}\n", what);
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) die("usage: ociexec_bench ROOTFS CLI [JOBS] [RUNTIME]");
  const fs::path rootfs = fs::canonical(argv[1]);
  const std::string cli = argv[2];
  const int jobs = argc > 3 ? std::atoi(argv[3]) : 50;
  const std::string runtime = argc > 4 ? argv[4] : "runc";
  const fs::path work = fs::temp_directory_path() / fmt::format("ociexec-bench-{}", ::getpid());

  ociexec::ExecutorOptions eo;
  eo.state_dir = work / "state";
  eo.runtime = runtime;
  eo.cgroup_parent = "ociexec-bench";
  auto exec = ociexec::Executor::create(eo);
  if (!exec) die(exec.error().message);
  ociexec::JobOptions job;
  job.rootfs = rootfs;
  job.timeout = std::chrono::seconds(30);
  job.interpreter = {"/bin/true"};

  // The reference: the same job's config.json, run by the runtime itself.
  ociexec::spec::SpecInput in;
  in.args = {"/bin/true"};
  in.rootfs_path = rootfs.string();
  in.tmpfs_bytes = job.limits.tmpfs_bytes;
  in.memory_bytes = job.limits.memory_bytes;
  in.pids = job.limits.pids;
  in.cgroups_path = "/ociexec-bench/bare";
  in.nofile_hard_limit = 1024;
  auto spec = ociexec::spec::build_spec(in);
  if (!spec) die(spec.error().message);
  const fs::path bundle = work / "bundle";
  (void)ociexec::sys::make_dirs(bundle, 0700);
  (void)ociexec::sys::write_new_file(bundle / "config.json", spec->dump());
  const std::string rt_path = exec->runtime().path;
  const std::string bare_root = (work / "bare-root").string();

  auto bare = [&](int i) {
    auto r = ociexec::sys::run_command({rt_path, "--root", bare_root, "run", "--bundle",
                                        bundle.string(), fmt::format("bare-{}", i)},
                                       std::chrono::seconds(30));
    if (!r || r->status.code != 0) die("bare run failed: " + (r ? r->output : r.error().message));
  };
  auto lib = [&](int) {
    auto r = exec->run("", job);
    if (!r || r->exit_code != 0)
      die("library run failed: " + (r ? r->stderr_data : r.error().message));
  };
  auto via_cli = [&](int) {
    auto r = ociexec::sys::run_command(
        {cli, "--state-dir", eo.state_dir.string(), "run", "--runtime", runtime, "--rootfs",
         rootfs.string(), "--interpreter", "/bin/true", "-c", ""},
        std::chrono::seconds(30));
    if (!r || r->status.code != 0) die("cli run failed: " + (r ? r->output : r.error().message));
  };

  // Warm up caches, then interleave rounds so drift hits every contender alike.
  bare(-1);
  lib(0);
  std::vector<double> t_bare, t_lib, t_cli;
  for (int round = 0; round < 5; ++round) {
    auto b = time_each(jobs / 5, [&](int i) { bare(round * 1000 + i); });
    auto l = time_each(jobs / 5, lib);
    auto c = time_each(jobs / 5, via_cli);
    t_bare.insert(t_bare.end(), b.begin(), b.end());
    t_lib.insert(t_lib.end(), l.begin(), l.end());
    t_cli.insert(t_cli.end(), c.begin(), c.end());
  }

  // Kill latency: a job that ignores SIGTERM with 100 processes, killed at its deadline.
  ociexec::JobOptions slow = job;
  slow.interpreter = {"/bin/sh"};
  slow.timeout = std::chrono::milliseconds(300);
  std::vector<double> t_kill;
  for (int i = 0; i < std::max(10, jobs / 5); ++i) {
    auto r =
        exec->run("/bin/payload spawn-setsid 99 60 & exec /bin/payload ignore-term 60\n", slow);
    auto back = Clock::now();
    if (!r || r->outcome != ociexec::Outcome::kTimedOut) die("kill job did not time out");
    t_kill.push_back(Ms(back - (r->started_at + r->limits.timeout)).count());
  }

  auto sb = stats(t_bare), sl = stats(t_lib), sc = stats(t_cli), sk = stats(t_kill);
  fmt::print("{} {} | /bin/true on {} | {} jobs each, sequential\n", exec->runtime().name,
             exec->runtime().version, rootfs.string(), t_bare.size());
  auto row = [&](const std::string& name, const Stats& st, bool ratio) {
    if (ratio)
      fmt::print("{:<24} {:>8.1f} {:>8.1f} {:>8.1f} {:>9.2f}x {:>8.2f}x\n", name, st.mean, st.p50,
                 st.p99, st.mean / sb.mean, st.p50 / sb.p50);
    else
      fmt::print("{:<24} {:>8.1f} {:>8.1f} {:>8.1f}\n", name, st.mean, st.p50, st.p99);
  };
  fmt::print("{:<24} {:>8} {:>8} {:>8} {:>10} {:>9}\n", "", "mean ms", "p50 ms", "p99 ms",
             "mean ratio", "p50 ratio");
  row(fmt::format("bare {} run", exec->runtime().name), sb, true);
  row("ociexec library", sl, true);
  row("ociexec CLI", sc, true);
  row("deadline -> result", sk, false);
  fmt::print("goals: library <= 1.10x bare; deadline -> result <= 50 ms\n");
  (void)ociexec::sys::remove_tree(work);
  return 0;
}
