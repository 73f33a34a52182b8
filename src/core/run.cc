// Executor::run, as steps: prepare the plan (prepare.cc) -> take a pooled container with the
// job assigned to it, or create one (container/container.h: bundle, create, adopt the init)
// -> start -> supervise -> read the cgroup's stats -> remove -> the result. A Container
// undoes itself on every path; a removal that cannot finish leaves the result intact.
#include <fmt/format.h>

#include "core/executor_impl.h"
#include "core/files.h"
#include "core/validate.h"
#include "pool/assign.h"
#include "sys/reaper.h"

namespace ociexec {

namespace {

// The line a timed-out job's stderr ends with (the contract's "Execution timeout (Ns)"), on a
// line of its own after what the job wrote.
std::string timeout_note(bool mid_line, std::chrono::milliseconds timeout) {
  return fmt::format("{}Execution timeout ({}): the job ran past its time limit and was killed\n",
                     mid_line ? "\n" : "", core::format_seconds(timeout));
}

// A job killed at its CPU-time limit: the same kind of line, with that limit.
std::string cpu_time_note(bool mid_line, std::chrono::milliseconds limit) {
  return fmt::format(
      "{}CPU time limit exceeded ({}): the job used more CPU time than its limit and was "
      "killed\n",
      mid_line ? "\n" : "", core::format_seconds(limit));
}

// The line a job killed by the executor ends its stderr with; none for one that ended itself.
std::optional<std::string> kill_note(const supervise::Output& sup, bool mid_line,
                                     const EffectiveLimits& limits) {
  if (sup.timed_out) return timeout_note(mid_line, limits.timeout);
  if (sup.cpu_time_exceeded && limits.cpu_time) return cpu_time_note(mid_line, *limits.cpu_time);
  return std::nullopt;
}

Result compose_result(supervise::Output&& sup, const cgroup::Stats& stats,
                      supervise::Clock::time_point started, const EffectiveLimits& limits,
                      const RuntimeInfo& rt, std::string id) {
  Result r;
  r.stdout_data = std::move(sup.out.data);
  r.stderr_data = std::move(sup.err.data);
  r.stdout_truncated = sup.out.truncated;
  r.stderr_truncated = sup.err.truncated;
  r.wall_time = sup.exited_at - started;
  r.started_at = started;
  r.cpu_time = stats.cpu_time;
  r.peak_memory_bytes = stats.peak_memory_bytes;
  r.runtime_name = rt.name;
  r.runtime_version = rt.version;
  r.container_id = std::move(id);
  r.limits = limits;
  r.signal = sup.status.signaled ? sup.status.signal : 0;
  const bool mid_line = !r.stderr_data.empty() && r.stderr_data.back() != '\n';
  if (auto note = kill_note(sup, mid_line, limits)) r.stderr_data += *note;
  if (sup.timed_out) {
    r.outcome = Outcome::kTimedOut;
    r.exit_code = -1;
  } else if (sup.cpu_time_exceeded) {
    r.outcome = Outcome::kCpuTimeExceeded;
    r.exit_code = -1;
  } else if (stats.oom_kills > 0) {
    r.outcome = Outcome::kOomKilled;
    r.exit_code = sup.status.shell_code();
  } else if (sup.status.signaled) {
    r.outcome = Outcome::kSignaled;
    r.exit_code = sup.status.shell_code();
  } else {
    r.outcome = Outcome::kExited;
    r.exit_code = sup.status.code;
  }
  return r;
}

}  // namespace

Expected<Result> Executor::Impl::run(std::string_view script, const JobOptions& job) const {
  auto plan = prepare(script, job);
  if (!plan) return tl::unexpected(plan.error());
  if (pool) {
    auto pooled = pool->take(*plan);
    if (!pooled) return tl::unexpected(pooled.error());
    if (*pooled) {
      auto result = run_created(**pooled, *plan);
      if (result) result->pooled = true;
      return result;
    }
  }
  auto created = create(*plan);
  if (!created) return tl::unexpected(created.error());
  return run_created(**created, *plan);
}

Expected<std::unique_ptr<container::Container>> Executor::Impl::create(
    const container::JobPlan& plan) const {
  if (!plan.init) return container::Container::create(plan.container, plan.script, plan.stdin_data);
  // Under an init: ociexec-init is the command, and reads the job's from its job file.
  auto init = init_binary();
  if (!init) return tl::unexpected(init.error());
  auto file = pool::job_file_for(plan);
  if (!file) return tl::unexpected(file.error());
  container::Request request = pool::template_for(plan, *init);
  request.job_file = std::move(*file);
  return container::Container::create(request, plan.script, plan.stdin_data);
}

Expected<Result> Executor::Impl::run_guarded(std::string_view script, const JobOptions& job) const {
  // No exception crosses the API: the guards inside run() have already cleaned up while
  // unwinding, so what is left is to report it.
  try {
    return run(script, job);
  } catch (const std::exception& e) {
    return tl::unexpected(
        Error{ErrorKind::kSystem, fmt::format("run: unexpected failure: {}", e.what())});
  }
}

Expected<Result> Executor::Impl::run_created(container::Container& c,
                                             const container::JobPlan& plan) const {
  std::unique_ptr<supervise::OutputRelay> relay;
  if (plan.on_output) {
    auto made = supervise::OutputRelay::start(plan.on_output);
    if (!made) return tl::unexpected(made.error());
    relay = std::move(*made);
  }
  // The job's files go in while its init waits at the fifo; the trees stay open for
  // copy-out, past the container's removal.
  std::vector<sys::UniqueFd> trees;
  if (!plan.files.roots.empty()) {
    auto opened = c.open_trees({.roots = plan.files.roots,
                                .entries = plan.files.copy_in,
                                .uid = plan.profile.uid,
                                .gid = plan.profile.gid});
    if (!opened)
      return tl::unexpected(core::copy_in_error(opened.error(), plan.limits.tmpfs_bytes));
    trees = std::move(*opened);
  }
  auto started = c.start();
  if (!started) return tl::unexpected(started.error());
  auto sup = c.supervise(plan, *started, relay.get());
  if (!sup) return tl::unexpected(sup.error().with_context("supervise"));
  const cgroup::Stats stats = c.read_stats();  // before the cgroup is removed
  const auto report = pool::read_report(c);
  if (report.signal > 0 && !sup->status.signaled) {
    // Under an init, the command's own death by a signal (the init exited 128 + N).
    sup->status.signaled = true;
    sup->status.signal = report.signal;
  }
  // The job has a result now: a removal that cannot finish does not take it away.
  std::vector<std::string> warnings;
  if (plan.profile.network == Network::kHost)
    warnings.emplace_back(
        "network host: the job shared the host's network stack, with no network isolation");
  if (sup->abandoned) {
    warnings.push_back(fmt::format(
        "the job's processes did not exit within {} of SIGKILL (uninterruptible sleep?); its "
        "container {} is left for gc",
        core::format_seconds(plan.kill_wait), c.id()));
    c.abandon();
  } else if (auto r = c.remove(); !r) {
    warnings.push_back(fmt::format("cleanup: {}; what is left of container {} is left for gc",
                                   r.error().message, c.id()));
    c.abandon();
  }
  // Processes of ours given up on earlier (sys/reaper.h) that have exited since.
  (void)sys::Reaper::instance().reap_exited();
  // The container is gone; what live output is still queued goes to the callback now, and a
  // timed-out job's stream ends with the same line as its result's stderr.
  if (relay) {
    if (auto note = kill_note(*sup, relay->stderr_mid_line(), plan.limits))
      relay->push(OutputStream::kStderr, *note);
    if (auto problem = relay->finish()) warnings.push_back(std::move(*problem));
  }
  if (report.exec_failed) return tl::unexpected(*report.exec_failed);
  auto result =
      compose_result(std::move(*sup), stats, *started, plan.limits, c.client().info(), c.id());
  result.warnings = std::move(warnings);
  if (!plan.files.copy_out.empty()) result.files = core::read_copy_out(plan.files, trees);
  return result;
}

}  // namespace ociexec
