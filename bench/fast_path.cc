#include "fast_path.h"

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ociexec::bench {

namespace fs = std::filesystem;

namespace {

JobOptions on(const fs::path& rootfs, std::vector<std::string> interpreter = {}) {
  JobOptions job;
  job.rootfs = rootfs;
  job.interpreter = std::move(interpreter);
  return job;
}

void prewarm(const Executor& exec, const JobOptions& job) {
  if (auto r = exec.prewarm(job); !r) throw std::runtime_error("prewarm: " + r.error().message);
}

}  // namespace

PoolLatency pool_latency(const Executor& exec, const fs::path& rootfs, int n) {
  const JobOptions now = on(rootfs, {"/bin/payload", "now"});
  const JobOptions yes = on(rootfs, {"/bin/true"});
  // A "#!/usr/bin/python3" script on the built-in host view; the profile has its interpreter.
  const JobOptions py;
  JobOptions py_profile;
  py_profile.interpreter = {"/usr/bin/python3"};
  const std::string hello = "#!/usr/bin/python3\nprint('hello')\n";
  std::vector<double> first, total, python;
  for (int i = 0; i < n; ++i) {
    prewarm(exec, now);
    const auto t0 = Clock::now();
    auto r = exec.run("", now);
    if (!r || r->exit_code != 0 || !r->pooled)
      throw std::runtime_error("pool job failed or was not pooled");
    const auto ns = std::chrono::nanoseconds(std::stoll(r->stdout_data));
    first.push_back(Ms(Clock::time_point(ns) - t0).count());

    prewarm(exec, yes);
    const auto t1 = Clock::now();
    auto t = exec.run("", yes);
    total.push_back(Ms(Clock::now() - t1).count());
    if (!t || t->exit_code != 0 || !t->pooled)
      throw std::runtime_error("pool job failed or was not pooled");

    prewarm(exec, py_profile);
    const auto t2 = Clock::now();
    auto p = exec.run(hello, py);
    python.push_back(Ms(Clock::now() - t2).count());
    if (!p || p->exit_code != 0 || !p->pooled || p->stdout_data != "hello\n")
      throw std::runtime_error("warm Python job failed or was not pooled");
  }
  return {stats_of(first), stats_of(total), stats_of(python)};
}

double sustained_rate(const Executor& exec, const fs::path& rootfs, int jobs, bool prefill) {
  const JobOptions yes = on(rootfs, {"/bin/true"});
  if (prefill && exec.options().pool_size > 0) prewarm(exec, yes);
  std::vector<std::future<Expected<Result>>> results;
  const auto t0 = Clock::now();
  for (int i = 0; i < jobs; ++i) results.push_back(exec.submit("", yes));
  for (auto& f : results) {
    auto r = f.get();
    if (!r || r->exit_code != 0) throw std::runtime_error("async job failed");
  }
  return jobs / std::chrono::duration<double>(Clock::now() - t0).count();
}

Load closed_loop(const Executor& exec, const fs::path& rootfs, int workers, int jobs) {
  const JobOptions yes = on(rootfs, {"/bin/true"});
  std::atomic<int> next{0};
  std::mutex m;
  std::vector<double> samples;
  std::atomic<bool> failed{false};
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w)
    threads.emplace_back([&] {
      while (next++ < jobs) {
        const auto t = Clock::now();
        auto r = exec.run("", yes);
        const double ms = Ms(Clock::now() - t).count();
        if (!r || r->exit_code != 0) failed = true;
        std::lock_guard lock(m);
        samples.push_back(ms);
      }
    });
  for (auto& t : threads) t.join();
  if (failed) throw std::runtime_error("closed-loop job failed");
  return {jobs / std::chrono::duration<double>(Clock::now() - t0).count(), stats_of(samples)};
}

Stats kill_latency(const Executor& exec, const fs::path& rootfs, int n) {
  JobOptions job = on(rootfs);
  job.timeout = std::chrono::milliseconds(300);
  std::vector<double> samples;
  for (int i = 0; i < n; ++i) {
    auto r = exec.run("/bin/payload spawn-setsid 99 60 & exec /bin/payload ignore-term 60\n", job);
    auto back = Clock::now();
    if (!r || r->outcome != Outcome::kTimedOut)
      throw std::runtime_error("kill job did not time out");
    samples.push_back(Ms(back - (r->started_at + r->limits.timeout)).count());
  }
  return stats_of(samples);
}

}  // namespace ociexec::bench
