// ociexec's benchmark: the same rootfs and the same job for every contender, in one run.
//
//   ociexec_bench ROOTFS CLI OUT.md [JOBS]
//
// Sections: latency (p50/p95/p99) of /bin/true and of a Python "hello"; throughput at
// concurrency 1, 2, 4, 8; kill latency (deadline -> result for a job of 100 processes that
// ignore SIGTERM); output capture speed and executor peak RSS; ratios against bare runc and
// podman. Prints the tables and writes them, with the machine, to OUT.md. On a hybrid cgroup
// host crun (bare, and under ociexec) joins a mount namespace without the cgroup2 mount.
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "cgroup/cgroup.h"
#include "core/rootless.h"
#include "contenders.h"
#include "fast_path.h"
#include "runtime/runtime.h"
#include "stats.h"
#include "sys/fs.h"
#include "sys/process.h"

namespace ociexec::bench {
namespace {

namespace fs = std::filesystem;

std::string first_line(const std::vector<std::string>& argv) {
  auto r = sys::run_command(argv, std::chrono::seconds(10));
  if (!r) return "not found";
  return r->output.substr(0, r->output.find('\n'));
}

std::string machine_description() {
  utsname u{};
  ::uname(&u);
  std::string cpu = "unknown";
  if (auto text = sys::read_file("/proc/cpuinfo")) {
    auto pos = text->find("model name");
    if (pos != std::string::npos)
      cpu =
          text->substr(text->find(':', pos) + 2, text->find('\n', pos) - text->find(':', pos) - 2);
  }
  auto layout = cgroup::detect_layout();
  std::ostringstream md;
  md << "- machine: " << ::sysconf(_SC_NPROCESSORS_ONLN) << " cores (" << cpu << "), "
     << (static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) *
             static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) >>
         30)
     << " GiB\n- kernel: " << u.release << "\n- cgroups seen by the benchmark: "
     << (layout ? std::string(cgroup::to_string(layout->mode)) : "unknown")
     << (layout && runtime::needs_private_mount_ns("crun", *layout)
             ? " (crun refuses this host as it is: every crun call, bare or under ociexec, "
               "joins a mount namespace without the cgroup2 mount, made once)"
             : "")
     << "\n"
     << "- " << first_line({"/usr/sbin/runc", "--version"}) << "; "
     << first_line({"/usr/bin/crun", "--version"}) << "; "
     << first_line({"/usr/bin/podman", "--version"}) << "; bubblewrap "
     << first_line({"/usr/bin/bwrap", "--version"}) << "; ociexec " << version() << "\n";
  return md.str();
}

// Runs every contender `n` times, in rounds: each round, in a new random order, every
// contender runs a short block of jobs, and the first job of each block is not timed.
// The kernel tears a container's namespaces down asynchronously, under locks the next
// container's creation waits for, and what that costs depends on what ran before (a crun job
// right after a runc job takes 5 ms more than after a crun job). Untimed first jobs give each
// contender its own steady state, the one a service running its jobs back to back sees; short
// blocks in shuffled rounds still spread the machine's slow moments over every contender.
std::vector<Stats> latency(const std::vector<Contender>& cs, Job job, int n) {
  constexpr int kTimedPerBlock = 4;
  std::vector<std::vector<double>> samples(cs.size());
  for (auto& c : cs) c.run(job, 0);  // warm caches (page cache, runtime state dirs)
  std::mt19937 rng(20261127);        // fixed: runs are comparable
  std::vector<std::size_t> order(cs.size());
  std::iota(order.begin(), order.end(), 0);
  for (int done = 0; done < n; done += kTimedPerBlock) {
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i : order) {
      cs[i].run(job, 0);  // pays for the previous contender's teardown
      if (cs[i].settle) cs[i].settle();
      for (int k = 0; k < std::min(kTimedPerBlock, n - done); ++k) {
        samples[i].push_back(time_ms([&] { cs[i].run(job, 0); }));
        if (cs[i].settle) cs[i].settle();
      }
    }
  }
  std::vector<Stats> out;
  for (auto& s : samples) out.push_back(stats_of(s));
  return out;
}

// Seconds to run `jobs` jobs on `concurrency` threads.
double run_block(const Contender& c, int concurrency, int jobs) {
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto t0 = Clock::now();
  for (int w = 0; w < concurrency; ++w)
    threads.emplace_back([&, w] {
      try {
        while (next++ < jobs) c.run(Job::kTrue, w);
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        failure = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Jobs per second of each contender at `concurrency`, in alternating blocks so that the
// machine's drift over the run is shared.
std::vector<double> throughput(const std::vector<const Contender*>& cs, int concurrency, int jobs) {
  constexpr int kBlocks = 4;
  std::vector<double> seconds(cs.size(), 0.0);
  for (int b = 0; b < kBlocks; ++b)
    for (std::size_t k = 0; k < cs.size(); ++k) {
      const std::size_t i = (k + static_cast<std::size_t>(b)) % cs.size();  // rotate who goes first
      seconds[i] += run_block(*cs[i], concurrency, jobs / kBlocks);
    }
  std::vector<double> rates;
  for (double sec : seconds) rates.push_back((jobs / kBlocks) * kBlocks / sec);
  return rates;
}

bool on_tmpfs(const fs::path& dir) {
  return sys::on_tmpfs(dir).value_or(false);
}

// A fresh directory of ours under `parent` (mkdtemp: nobody can have made it first), checked
// as the executor checks its state dir.
fs::path private_dir(const fs::path& parent) {
  std::string tmpl = (parent / "ociexec-bench-XXXXXX").string();
  if (!::mkdtemp(tmpl.data()))
    throw std::runtime_error(fmt::format("mkdtemp {}: {}", tmpl, std::strerror(errno)));
  if (auto r = core::check_private_dir(tmpl, "benchmark dir", "TMPDIR", true); !r)
    throw std::runtime_error(r.error().message);
  return tmpl;
}

// Where the benchmark keeps every contender's state: /dev/shm where it is a tmpfs (it is on
// almost every Linux host, and every mount namespace, crun's included, sees it), else the
// temp dir.
fs::path state_parent() {
  return on_tmpfs("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
}

std::uint64_t peak_rss_kib() {
  auto status = sys::read_file("/proc/self/status");
  if (!status) return 0;
  auto pos = status->find("VmHWM:");
  return pos == std::string::npos ? 0 : std::strtoull(status->c_str() + pos + 6, nullptr, 10);
}

void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

struct OutputRun {
  std::string what;
  double mib_per_s;
  std::uint64_t peak_rss_mib;
};

// The median speed of three runs (one run alone swings by half with the page allocator's
// state), and the highest peak RSS of the three.
OutputRun output_run(const Executor& exec, const fs::path& rootfs, int mib, std::size_t cap,
                     const std::string& what) {
  JobOptions job;
  job.rootfs = rootfs;
  job.output_cap = cap;
  job.limits.memory_bytes.reset();
  job.timeout = std::chrono::seconds(120);
  std::vector<double> speeds;
  std::uint64_t peak = 0;
  for (int i = 0; i < 3; ++i) {
    reset_peak_rss();
    auto r = exec.run(fmt::format("/bin/payload flood {}\n", mib), job);
    if (!r || r->exit_code != 0) throw std::runtime_error("flood job failed");
    speeds.push_back(mib / std::chrono::duration<double>(r->wall_time).count());
    peak = std::max(peak, peak_rss_kib() >> 10);
  }
  std::sort(speeds.begin(), speeds.end());
  return {what, speeds[1], peak};
}

struct Target {
  std::string goal;
  std::string measured;
  bool met;
};

}  // namespace

int run_benchmark(int argc, char** argv) {
  // --latency-only: the `/bin/true` latency table alone; --throughput-only: bare crun at c=8
  // against 8 callers through the pool, alternating. Printed, nothing written (quick checks
  // while profiling).
  const std::string_view mode = argc > 1 ? std::string_view(argv[1]) : "";
  const bool latency_only = mode == "--latency-only";
  const bool throughput_only = mode == "--throughput-only";
  if (latency_only || throughput_only) {
    --argc;
    ++argv;
  }
  if (argc < 4)
    throw std::runtime_error(
        "usage: ociexec_bench [--latency-only|--throughput-only] ROOTFS CLI OUT.md [JOBS "
        "[IMAGE]]");
  Setup s;
  s.rootfs = fs::canonical(argv[1]);
  s.cli = fs::canonical(argv[2]);
  const fs::path out_md = argv[3];
  const int n = argc > 4 ? std::atoi(argv[4]) : 40;
  s.image = argc > 5 ? argv[5] : "";
  // Every contender keeps its state (runtime roots, bundles, ociexec's state dir) on a tmpfs,
  // as on a standard host, where /run is one; a second pass repeats the `/bin/true` latency
  // with the state on disk where the temp dir is not a tmpfs.
  s.work = private_dir(state_parent());
  s.podman_image = "localhost/ociexec-bench:busybox";
  Setup disk = s;
  const bool disk_pass = !latency_only && !on_tmpfs(fs::temp_directory_path());
  if (disk_pass) disk.work = private_dir(fs::temp_directory_path());
  sys::ScopeExit cleanup([&] {
    (void)sys::unmount_below(s.work);  // image roots of jobs cut short by an error
    (void)sys::remove_tree(s.work);
    if (disk_pass) (void)sys::remove_tree(disk.work);
    if (auto layout = cgroup::detect_layout())
      for (const auto& h : layout->hierarchies)
        ::rmdir((fs::path(h.mount_point) / kBareCgroupParent).c_str());
  });

  auto make_exec = [&](const std::string& runtime, const Setup& where) {
    ExecutorOptions o;
    o.state_dir = where.work / "state";
    o.runtime = runtime;
    o.cgroup_parent = "ociexec-bench";
    o.images.store = s.work / "images";
    auto e = Executor::create(o);
    if (!e) throw std::runtime_error(e.error().message);
    return std::move(*e);
  };
  const Executor runc_exec = make_exec("runc", s);
  const Executor crun_exec = make_exec("crun", s);
  // The fast path: crun (the default where it works) with a warm pool, and the async API.
  auto make_pool_exec = [&](std::size_t size) {
    ExecutorOptions o;
    o.state_dir = s.work / "state";
    o.images.store = s.work / "images";
    o.runtime = "crun";
    o.cgroup_parent = "ociexec-bench";
    o.pool_size = size;
    o.max_concurrent_jobs = 8;
    o.init_path = s.cli.parent_path() / "ociexec-init";
    auto e = Executor::create(o);
    if (!e) throw std::runtime_error(e.error().message);
    return std::move(*e);
  };
  auto hv = image::host_view(s.work / "state");
  if (!hv) throw std::runtime_error(hv.error().message);
  s.host_view = *hv;

  // For each runtime: bare, the library, the CLI. The disk pass repeats them in this order.
  auto runtime_contenders = [](const Setup& where, const Executor& runc, const Executor& crun) {
    return std::vector<Contender>{bare_runtime(where, "runc"), library(runc, where),
                                  cli(where, "runc"),          bare_runtime(where, "crun"),
                                  library(crun, where),        cli(where, "crun")};
  };
  std::vector<Contender> cs = runtime_contenders(s, runc_exec, crun_exec);
  cs.push_back(bwrap(s));
  // After its first crun job, ociexec hands crun the seccomp program crun compiled, instead
  // of the section (runtime/seccomp_cache.h): bare crun given the same.
  cs.push_back(bare_runtime(s, "crun", /*cached_seccomp=*/true));
  if (throughput_only) {
    // CPU per job from getrusage: this process's own (the executor's threads) and its reaped
    // children's (the runtime, the containers' processes), so the ratio is read apart from the
    // machine's drift. Kernel threads' work (namespace teardown) counts in neither.
    struct Cpu {
      double self_ms, children_ms;
    };
    auto cpu_now = [] {
      auto ms = [](int who) {
        rusage u{};
        ::getrusage(who, &u);
        return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
               static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
      };
      return Cpu{ms(RUSAGE_SELF), ms(RUSAGE_CHILDREN)};
    };
    auto per_job = [&](const Cpu& before, int jobs) {
      const Cpu after = cpu_now();
      return Cpu{(after.self_ms - before.self_ms) / jobs,
                 (after.children_ms - before.children_ms) / jobs};
    };
    const std::vector<const Contender*> bare_crun = {&cs[3]};
    const int jobs = 4 * n;
    for (int round = 0; round < 3; ++round) {
      Cpu c0 = cpu_now();
      const double bare = throughput(bare_crun, 8, jobs)[0];
      const Cpu bare_cpu = per_job(c0, jobs);
      const Executor fresh = make_pool_exec(8);
      c0 = cpu_now();
      const Load load = closed_loop(fresh, s.rootfs, 8, jobs);
      const Cpu pool_cpu = per_job(c0, jobs);
      const Executor cold = make_pool_exec(0);
      c0 = cpu_now();
      const Load cold_load = closed_loop(cold, s.rootfs, 8, jobs);
      const Cpu cold_cpu = per_job(c0, jobs);
      const double bare_ms = bare_cpu.self_ms + bare_cpu.children_ms;
      auto line = [&](const char* what, const Load& l, const Cpu& c) {
        fmt::print(
            "  {:<26} {:6.1f}/s = {:.2f}x bare crun (p99/p50 {:.1f}); CPU per job: own "
            "{:.2f} ms + runtime and container {:.2f} ms = {:.2f}x less than bare crun\n",
            what, l.rate, l.rate / bare, l.latency.p99 / l.latency.p50, c.self_ms, c.children_ms,
            bare_ms / (c.self_ms + c.children_ms));
      };
      fmt::print("c=8, round {}: bare crun {:.1f}/s, CPU per job {:.2f} ms\n", round + 1, bare,
                 bare_ms);
      line("pool (empty at the start)", load, pool_cpu);
      line("no pool", cold_load, cold_cpu);
    }
    return 0;
  }
  fmt::print("latency: {} jobs per contender and job\n", n);
  auto lat_true = latency(cs, Job::kTrue, n);
  if (latency_only) {
    for (std::size_t i = 0; i < cs.size(); ++i)
      fmt::print("{:<26} p50 {:6.2f} ms  mean {:6.2f}  p95 {:6.2f}  {:.2f}x bare runc\n",
                 cs[i].name, lat_true[i].p50, lat_true[i].mean, lat_true[i].p95,
                 lat_true[i].p50 / lat_true[0].p50);
    return 0;
  }
  std::vector<Stats> lat_disk;
  if (disk_pass) {
    fmt::print("latency with the state on disk ({})\n", disk.work.parent_path().string());
    const Executor runc_disk = make_exec("runc", disk);
    const Executor crun_disk = make_exec("crun", disk);
    lat_disk =
        latency(runtime_contenders(disk, runc_disk, crun_disk), Job::kTrue, std::max(20, n / 2));
  }
  auto lat_py = latency(cs, Job::kPython, std::max(10, n / 2));
  // podman finishes each container in the background (conmon, `podman container cleanup`).
  // It gets a pass of its own, alternating with the library, and after each of its jobs an
  // untimed wait for that background work, so it does not land on the library's time.
  const std::vector<Contender> vs_podman = {library(runc_exec, s), podman(s)};
  const auto pod_true = latency(vs_podman, Job::kTrue, std::max(10, n / 2));
  const auto pod_py = latency(vs_podman, Job::kPython, std::max(10, n / 4));
  // The same rootfs as an image: ociexec's overlay on its store's layers, podman's on its own.
  std::vector<Stats> pod_image;
  if (!s.image.empty()) {
    if (auto pulled = pull_image(s.image, runc_exec.options().images); !pulled)
      throw std::runtime_error("pull " + s.image + ": " + pulled.error().message);
    pod_image = latency(vs_podman, Job::kImage, std::max(10, n / 2));
  }

  fmt::print("throughput, kill latency, output\n");
  const int tjobs = std::max(16, n);
  std::map<std::string, std::vector<double>> tput;
  const std::vector<const Contender*> measured = {&cs[0], &cs[1], &cs[3], &cs[4]};
  for (int c : {1, 2, 4, 8}) {
    auto rates = throughput(measured, c, tjobs);
    for (std::size_t i = 0; i < measured.size(); ++i) tput[measured[i]->name].push_back(rates[i]);
  }
  const Stats kill_runc = kill_latency(runc_exec, s.rootfs, std::max(10, n / 2));
  const Stats kill_crun = kill_latency(crun_exec, s.rootfs, std::max(10, n / 2));
  fmt::print("fast path: warm pool and async\n");
  PoolLatency pool_lat;
  double rate_pool = 0, rate_pool_empty = 0, rate_cold = 0;
  Load load;
  Stats kill_pool;
  {
    const Executor pool1 = make_pool_exec(1);
    pool_lat = pool_latency(pool1, s.rootfs, n);
    kill_pool = kill_latency(pool1, s.rootfs, std::max(10, n / 2));
  }
  {
    const Executor pool8 = make_pool_exec(8);
    const Executor cold8 = make_pool_exec(0);
    for (int round = 0; round < 2; ++round) {  // alternating, the machine's drift shared
      rate_pool += sustained_rate(pool8, s.rootfs, 4 * tjobs, /*prefill=*/true) / 2;
      rate_cold += sustained_rate(cold8, s.rootfs, 4 * tjobs, false) / 2;
      // A new executor each time: its pool starts empty, and fills while the jobs run.
      const Executor fresh = make_pool_exec(8);
      rate_pool_empty += sustained_rate(fresh, s.rootfs, 4 * tjobs, false) / 2;
    }
    // As the throughput table runs bare crun at c=8: 8 callers, one job after another each.
    const Executor fresh = make_pool_exec(8);
    load = closed_loop(fresh, s.rootfs, 8, 4 * tjobs);
  }
  const std::vector<OutputRun> outputs = {
      output_run(runc_exec, s.rootfs, 1024, std::size_t{1536} << 20,
                 "1 GiB, cap raised to 1.5 GiB (kept)"),
      output_run(runc_exec, s.rootfs, 1024, JobOptions{}.output_cap, "1 GiB, default 10 MiB cap"),
      output_run(runc_exec, s.rootfs, 100, JobOptions{}.output_cap, "100 MiB, default 10 MiB cap")};

  // Tables.
  std::ostringstream md;
  md << "# Benchmarks\n\nMade by `scripts/bench.sh` (" << n << " jobs per contender).\n\n"
     << machine_description();
  md << "\nEvery contender runs the same job on the same root file system: `/bin/true` on a "
        "busybox rootfs, and `python3 -c \"print('hello')\"` on the built-in host view "
        "(read-only /usr, synthetic /etc). Bare runtimes run the same config.json ociexec "
        "writes for the job (mounts included). Every contender's state (runtime roots, "
        "bundles, ociexec's state dir) is "
     << (on_tmpfs(s.work.parent_path())
             ? fmt::format("on a tmpfs, {}, as /run is on a standard host",
                           s.work.parent_path().string())
             : fmt::format("in {}", s.work.parent_path().string()))
     << (lat_disk.empty() ? "" : "; a pass with the state on disk follows the `/bin/true` table")
     << ". Rounds are shuffled; in each, every contender "
        "runs a block of jobs whose first is not timed (it pays for the previous contender's "
        "namespace teardown). podman runs "
        "the same busybox directory and host view (`--rootfs`), in a pass of its own; the "
        "rootfs as an image (podman's store, ociexec's) has a table of its own. bwrap is the "
        "floor: namespaces without cgroups.\n\n"
        "Not quite the same config.json: after its first crun job, ociexec gives crun the "
        "seccomp program crun compiled for that job (the `run.oci.seccomp_bpf_data` "
        "annotation, once a probe showed this crun loads it) instead of the section, which "
        "bare crun compiles at every run. The row `bare crun run (cached seccomp)` is bare "
        "crun given the same annotation.\n";
  auto latency_table = [&](const char* title, const std::vector<Stats>& lat,
                           const std::vector<Stats>& pod) {
    md << "\n## Latency: " << title
       << "\n\n| contender | mean ms | p50 ms | p95 ms | p99 ms | p50 vs bare runc "
          "|\n|---|---|---|---|---|---|\n";
    auto row = [&](const std::string& name, const Stats& st, const std::string& ratio) {
      md << fmt::format("| {} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {} |\n", name, st.mean, st.p50,
                        st.p95, st.p99, ratio);
    };
    for (std::size_t i = 0; i < cs.size(); ++i)
      row(cs[i].name, lat[i], fmt::format("{:.2f}x", lat[i].p50 / lat[0].p50));
    row("podman run --rm (own pass)", pod[1],
        fmt::format("{:.1f}x the library in its pass", pod[1].p50 / pod[0].p50));
  };
  latency_table("`/bin/true`", lat_true, pod_true);
  if (!lat_disk.empty()) {
    md << "\n## Latency: `/bin/true`, state on disk\n\nThe same contenders, with their state "
          "(runtime roots, bundles, ociexec's state dir) in "
       << disk.work.parent_path().string()
       << ", which is not a tmpfs on this machine (nor is its /run). Each job creates and "
          "deletes about a dozen files there, which costs more on disk than on a tmpfs; on "
          "ext4 without a journal, every file made soon after many deletions also costs a scan "
          "for an inode that was not deleted recently.\n\n"
          "| contender | mean ms | p50 ms | p95 ms | p50 vs bare runc |\n|---|---|---|---|---|\n";
    for (std::size_t i = 0; i < lat_disk.size(); ++i)
      md << fmt::format("| {} | {:.1f} | {:.1f} | {:.1f} | {:.2f}x |\n", cs[i].name,
                        lat_disk[i].mean, lat_disk[i].p50, lat_disk[i].p95,
                        lat_disk[i].p50 / lat_disk[0].p50);
  }
  latency_table("Python \"hello\"", lat_py, pod_py);
  if (!pod_image.empty())
    md << "\n## Latency: `/bin/true` on the busybox rootfs as an image\n\n"
          "A pass of its own, alternating the two: each job gets a throwaway writable root on "
          "the image's layers (ociexec: an overlay on its store's layers, pulled before from "
       << s.image
       << "; podman: its overlay storage, the same layout copied in with skopeo).\n\n| contender | mean ms "
          "| p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|\n"
       << fmt::format("| ociexec library (runc) | {:.1f} | {:.1f} | {:.1f} | {:.1f} |\n",
                      pod_image[0].mean, pod_image[0].p50, pod_image[0].p95, pod_image[0].p99)
       << fmt::format("| podman run --rm | {:.1f} | {:.1f} | {:.1f} | {:.1f} |\n",
                      pod_image[1].mean, pod_image[1].p50, pod_image[1].p95, pod_image[1].p99);
  md << "\n## Throughput: jobs per second (`/bin/true`, " << tjobs
     << " jobs)\n\n| contender | c=1 | c=2 | c=4 | c=8 |\n|---|---|---|---|---|\n";
  for (std::size_t i : {0u, 1u, 3u, 4u}) {
    const auto& t = tput[cs[i].name];
    md << fmt::format("| {} | {:.1f} | {:.1f} | {:.1f} | {:.1f} |\n", cs[i].name, t[0], t[1], t[2],
                      t[3]);
  }
  md << "\n## Kill latency: deadline -> result, 100 processes ignoring SIGTERM\n\n| runtime | p50 "
        "ms | p99 ms |\n|---|---|---|\n"
     << fmt::format("| runc | {:.1f} | {:.1f} |\n| crun | {:.1f} | {:.1f} |\n", kill_runc.p50,
                    kill_runc.p99, kill_crun.p50, kill_crun.p99);
  md << "\n## Output capture (library, runc; median of 3 runs)\n\n| job | MiB/s | executor peak "
        "RSS MiB "
        "|\n|---|---|---|\n";
  for (const auto& o : outputs)
    md << fmt::format("| {} | {:.0f} | {} |\n", o.what, o.mib_per_s, o.peak_rss_mib);

  md << "\n## Fast path: crun, warm pool, async (library)\n\n"
        "Warm pool: one container of the job's profile created ahead (`pool_size`); each "
        "sample waits, untimed, until it is ready, then times one job. First instruction: the "
        "job is `/bin/payload now`, which prints CLOCK_MONOTONIC, against the submit time. "
        "Sustained: "
     << 4 * tjobs
     << " `/bin/true` jobs submitted at once through `submit()`, 8 running at a time, the pool "
        "(8 per profile) refilling in the background on the same 2 cores.\n\n"
        "| measure | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|\n"
     << fmt::format("| warm pool: submit -> first instruction | {:.2f} | {:.2f} | {:.2f} |\n",
                    pool_lat.first_instruction.p50, pool_lat.first_instruction.p95,
                    pool_lat.first_instruction.p99)
     << fmt::format("| warm pool: `true` end to end | {:.2f} | {:.2f} | {:.2f} |\n",
                    pool_lat.end_to_end.p50, pool_lat.end_to_end.p95, pool_lat.end_to_end.p99)
     << fmt::format(
            "| warm pool: Python \"hello\" end to end (warm interpreter) | {:.2f} | "
            "{:.2f} | {:.2f} |\n",
            pool_lat.python.p50, pool_lat.python.p95, pool_lat.python.p99)
     << fmt::format("| cold, crun (the Python table) | {:.2f} | {:.2f} | {:.2f} |\n", lat_py[4].p50,
                    lat_py[4].p95, lat_py[4].p99)
     << fmt::format(
            "| 8 callers, pool empty at the start: a job's run() -> result | {:.2f} | "
            "{:.2f} | {:.2f} |\n",
            load.latency.p50, load.latency.p95, load.latency.p99)
     << fmt::format("| warm pool: kill, deadline -> result | {:.2f} | {:.2f} | {:.2f} |\n",
                    kill_pool.p50, kill_pool.p95, kill_pool.p99)
     << fmt::format("| cold, crun (the `/bin/true` table) | {:.2f} | {:.2f} | {:.2f} |\n",
                    lat_true[4].p50, lat_true[4].p95, lat_true[4].p99)
     << "\n| sustained, c=8 | jobs/s |\n|---|---|\n"
     << fmt::format("| async + warm pool (crun), pool filled before the clock starts | {:.1f} |\n",
                    rate_pool)
     << fmt::format("| async + warm pool (crun), pool empty at the start | {:.1f} |\n",
                    rate_pool_empty)
     << fmt::format("| async, cold (crun) | {:.1f} |\n", rate_cold)
     << fmt::format("| 8 callers of run(), warm pool (crun) empty at the start | {:.1f} |\n",
                    load.rate)
     << fmt::format("| bare crun run (throughput table, c=8) | {:.1f} |\n", tput[cs[3].name][3])
     << fmt::format("| bare runc run (throughput table, c=8) | {:.1f} |\n", tput[cs[0].name][3]);

  const auto& tr = tput[cs[0].name];
  const auto& tl = tput[cs[1].name];
  const std::vector<Target> targets = {
      {"library per job <= 1.10x bare runc (p50)",
       fmt::format("{:.2f}x", lat_true[1].p50 / lat_true[0].p50),
       lat_true[1].p50 / lat_true[0].p50 <= 1.10},
      {"CLI per job <= 1.20x bare runc (p50)",
       fmt::format("{:.2f}x", lat_true[2].p50 / lat_true[0].p50),
       lat_true[2].p50 / lat_true[0].p50 <= 1.20},
      {">= 4x faster than podman run --rm (p50, library)",
       fmt::format("{:.1f}x", pod_true[1].p50 / pod_true[0].p50),
       pod_true[1].p50 / pod_true[0].p50 >= 4},
      {"kill latency p99 <= 50 ms", fmt::format("{:.1f} / {:.1f} ms", kill_runc.p99, kill_crun.p99),
       std::max(kill_runc.p99, kill_crun.p99) <= 50},
      {"stdout capture >= 1 GB/s (1 GiB kept)",
       fmt::format("{:.0f} MB/s", outputs[0].mib_per_s * 1.048576),
       outputs[0].mib_per_s * 1.048576 >= 1000},
      {"executor RSS flat with the cap enforced",
       fmt::format("{} vs {} MiB", outputs[1].peak_rss_mib, outputs[2].peak_rss_mib),
       outputs[1].peak_rss_mib <= outputs[2].peak_rss_mib + 16},
      {"throughput at c=8 >= 0.9x bare runc", fmt::format("{:.2f}x", tl[3] / tr[3]),
       tl[3] / tr[3] >= 0.9},
      {"cold job via crun <= 0.4x bare runc (p50, library)",
       fmt::format("{:.2f}x", lat_true[4].p50 / lat_true[0].p50),
       lat_true[4].p50 / lat_true[0].p50 <= 0.4},
      {"warm pool: submit -> first instruction p50 <= 3 ms",
       fmt::format("{:.2f} ms", pool_lat.first_instruction.p50),
       pool_lat.first_instruction.p50 <= 3},
      {"warm pool: `true` end to end p50 <= 5 ms",
       fmt::format("{:.2f} ms", pool_lat.end_to_end.p50), pool_lat.end_to_end.p50 <= 5},
      {">= 150 jobs/s sustained at c=8 (async + pool)", fmt::format("{:.1f} jobs/s", rate_pool),
       rate_pool >= 150},
      {"warm pool: kill overrun p99 <= 10 ms", fmt::format("{:.1f} ms", kill_pool.p99),
       kill_pool.p99 <= 10},
      {"warm interpreter: Python \"hello\" p50 <= 0.2x cold crun Python (library)",
       fmt::format("{:.2f}x", pool_lat.python.p50 / lat_py[4].p50),
       pool_lat.python.p50 / lat_py[4].p50 <= 0.2},
      {"warm interpreter: Python \"hello\" p50 <= 1.2x warm pool `true`",
       fmt::format("{:.2f}x", pool_lat.python.p50 / pool_lat.end_to_end.p50),
       pool_lat.python.p50 / pool_lat.end_to_end.p50 <= 1.2},
      {"CLI (crun) p50 <= 1.0x bare crun run",
       fmt::format("{:.2f}x", lat_true[5].p50 / lat_true[3].p50),
       lat_true[5].p50 / lat_true[3].p50 <= 1.0},
      {"CLI (crun) p50 <= 0.45x bare runc run",
       fmt::format("{:.2f}x", lat_true[5].p50 / lat_true[0].p50),
       lat_true[5].p50 / lat_true[0].p50 <= 0.45},
      {"c=8 through the pool (empty at the start) >= 1.6x bare crun at c=8",
       fmt::format("{:.2f}x", load.rate / tput[cs[3].name][3]),
       load.rate / tput[cs[3].name][3] >= 1.6},
      {"job latency under that load: p99 <= 4x p50",
       fmt::format("{:.1f}x", load.latency.p99 / load.latency.p50),
       load.latency.p99 <= 4 * load.latency.p50},
  };
  md << "\n## Targets\n\n| target | measured | |\n|---|---|---|\n";
  for (const auto& t : targets)
    md << fmt::format("| {} | {} | {} |\n", t.goal, t.measured, t.met ? "met" : "**missed**");

  const std::string text = md.str();
  fmt::print("{}", text);
  std::ofstream(out_md) << text;
  bool all = true;
  for (const auto& t : targets) all = all && t.met;
  return all ? 0 : 3;
}

}  // namespace ociexec::bench

int main(int argc, char** argv) {
  try {
    return ociexec::bench::run_benchmark(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench: {}\n", e.what());
    return 1;
  }
}
