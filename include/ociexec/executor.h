// The executor: runs scripts in OCI containers through runc or crun, with no daemon.
//
// Guarantees, on every path (success, failure, timeout, OOM, runtime error):
//  - the job is SIGKILLed, whole, at its deadline and never later;
//  - nothing is left behind: container state, cgroups, bundle directory, processes, fds.
//
// Process-wide effect: creating an Executor marks the calling process as a child subreaper
// (PR_SET_CHILD_SUBREAPER), as conmon does, so that each container's init becomes its child
// and its exit status can be collected. The process must not reap children it did not start
// (no waitpid(-1) loops). Orphans of the program's own children are reparented to it as
// well, and are the program's to reap: the kernel records no first parent, so ociexec cannot
// tell them from the program's children, and reaps only processes it knows are its own.
//
// fork(): an Executor may be used in a child of fork() (gunicorn --preload, multiprocessing):
// there it is a new executor with the same options, made on its first use, with its own
// container ids, pool and workers; the parent's jobs and pooled containers are untouched.
#pragma once

#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ociexec/error.h"
#include "ociexec/options.h"
#include "ociexec/result.h"
#include "ociexec/runtime_info.h"

namespace ociexec {

struct GcReport {
  std::vector<std::string> removed;  // container ids whose leftovers were removed
  std::vector<std::string> errors;   // leftovers that could not be removed, with the reason
};

class Executor {
 public:
  // Creates the state directory, detects the cgroup layout and the runtime, and (by default)
  // collects what dead executors left behind. Blocks for a few runtime calls at most.
  // Run by an unprivileged user, jobs run rootless (docs/rootless.md): in a user namespace,
  // with memory, CPU and pids limits enforced only in a delegated cgroup. SIGCHLD must not be
  // ignored (an error otherwise).
  static Expected<Executor> create(ExecutorOptions options = {});

  Executor(Executor&&) noexcept;
  Executor& operator=(Executor&&) noexcept;
  ~Executor();

  // Runs `script` in a fresh container and blocks until it has finished and been removed.
  // Thread-safe: any number of threads may call run() on one Executor at once.
  [[nodiscard]] Expected<Result> run(std::string_view script, const JobOptions& job = {}) const;

  // Runs `script` in the background; at most options().max_concurrent_jobs run at once, the
  // others wait in order. The future (or `done`, called on a worker thread) gets exactly
  // what run() returns. Destroying the last handle to the executor waits for the running
  // jobs and cancels the waiting ones (ErrorKind::kCancelled); `done` must not do that (nor
  // throw: what it throws is dropped).
  [[nodiscard]] std::future<Expected<Result>> submit(std::string script, JobOptions job = {}) const;
  void submit(std::string script, JobOptions job, std::function<void(Expected<Result>)> done) const;

  // With a warm pool (options().pool_size > 0): creates the pool's containers for jobs like
  // `job` now, and waits until they are ready or `timeout` passes. Returns how many are.
  // Jobs fill the pool by themselves too; this saves the first jobs of a profile the wait.
  // Python jobs' warm interpreters (ExecutorOptions::warm_interpreters): a job with
  // `interpreter = {"/usr/bin/python3"}` has the profile of a "#!/usr/bin/python3" script.
  Expected<std::size_t> prewarm(const JobOptions& job = {},
                                std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

  // Removes containers, cgroups and bundles whose owning process is gone. Thread-safe.
  [[nodiscard]] GcReport collect_garbage() const;

  // The runtime used for jobs that do not name one.
  [[nodiscard]] const RuntimeInfo& runtime() const noexcept;
  [[nodiscard]] const ExecutorOptions& options() const noexcept;

 private:
  struct Impl;
  explicit Executor(std::shared_ptr<const Impl> impl);
  // The executor of this process: impl_, or in a child of fork() the child's own.
  [[nodiscard]] Expected<const Impl*> local() const;
  std::shared_ptr<const Impl> impl_;
};

// The drop-in contract: runs `script` on a process-wide Executor with default options,
// created on first use. Thread-safe. On timeout: exit_code -1 and a stderr line that starts
// "Execution timeout (Ns)".
[[nodiscard]] Expected<Result> execute_script(std::string_view script, const JobOptions& job = {});
[[nodiscard]] Expected<Result> execute_script(std::string_view script, int timeout_seconds);

// "0.1.0"
std::string_view version() noexcept;

}  // namespace ociexec
