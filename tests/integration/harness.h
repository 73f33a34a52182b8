// Shared set-up for the integration tests: one private state dir and cgroup parent per test
// process, the runtime under test (OCIEXEC_TEST_RUNTIME: runc or crun), the busybox+payload
// rootfs, and the leak check that runs after every case.
#pragma once

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <fmt/format.h>
#include <string>

#include <doctest/doctest.h>

#include "ociexec/ociexec.h"
#include "sys/process.h"
#include "sys/unique_fd.h"

namespace ociexec::test {

struct Env {
  std::filesystem::path state_dir;
  std::string cgroup_parent;
  std::string runtime;           // "runc" or "crun"
  std::filesystem::path rootfs;  // busybox + /bin/payload
  std::filesystem::path cli;     // the ociexec binary
  bool pool = false;             // OCIEXEC_TEST_POOL=1: jobs run in warm-pool containers

  static const Env& get();
  [[nodiscard]] ExecutorOptions executor_options() const;
};

// The executor shared by the tests of this process.
const Executor& executor();

// An executor of the test's options, changed by `change` (a test of its own options).
Executor executor_with(const std::function<void(ExecutorOptions&)>& change);

// A job on the test rootfs with a short timeout.
JobOptions job(std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Jobs run through run_ok, and how many of them in warm-pool containers.
// Escape attempts (escape_test.cc) and leak checks, for the run's summary line.
struct JobCounts {
  std::atomic<int> total{0};
  std::atomic<int> pooled{0};
  std::atomic<int> escapes_tried{0};
  std::atomic<int> escapes_blocked{0};
  std::atomic<int> leak_checks{0};
  std::atomic<int> leak_checks_dirty{0};
};
JobCounts& job_counts();

// Runs a script and requires that it produced a Result.
Result run_ok(const std::string& script, const JobOptions& options);

// Writes a CLI config file pointing at this run's state dir, cgroup parent and runtime.
std::string write_cli_config(const std::string& name);
// Starts `ociexec --config CONFIG run --rootfs <test rootfs> -c SCRIPT`.
ociexec::sys::ChildProcess spawn_cli_job(const std::string& config, const std::string& script);
// `ociexec --config CONFIG run --rootfs <test rootfs> -c SCRIPT` under a subreaper of its own
// (the payload, on the host): what the CLI orphans goes there, never to this process, which
// reaps only what it started (as the README asks of every program that embeds an executor).
struct WrappedCli {
  sys::ChildProcess wrapper;  // exits as the CLI did, once it reaped all it was left
  pid_t cli = 0;
};
WrappedCli spawn_wrapped_cli(const std::string& config, const std::string& script);
// SIGKILLs the wrapped CLI and waits (bounded) until it has ended: gc takes a dead owner's
// containers only, and a SIGKILL sent is not yet a process ended (its threads are still
// being torn down, on a loaded host for a while).
void kill_wrapped_cli(const WrappedCli& run);
// Waits (bounded, 30 s: a rootless CLI's start takes seconds under the VM's emulation) until
// process `owner` (a CLI we started) has a container with its init
// running. Containers of other owners (the warm pool of this process) do not count.
bool wait_for_running_container(pid_t owner);
// A TCP listener on the host's 127.0.0.1, on a port the kernel picks; closed when destroyed.
// What a job must not reach.
class LoopbackListener {
 public:
  LoopbackListener();
  [[nodiscard]] int port() const { return port_; }

 private:
  sys::UniqueFd fd_;
  int port_ = 0;
};

// How many processes on the host have `needle` in their command line (NUL separators read as
// spaces): a job's process that must not outlive it, named by arguments unique to the test.
int host_processes_with(const std::string& needle);

// The uid a job runs as: nobody (65534) as root and rootless with subordinate ids; rootless
// with a single-id mapping, the root of its user namespace.
unsigned job_uid();
// A job with a memory limit of `mib` MiB.
JobOptions memory_job(std::uint64_t mib);

// Records the fd count at construction; check() asserts that no container, cgroup, mount,
// bundle dir, child process or fd was left behind since. With the warm pool on, the pool's
// unused containers (and their fds) are what may remain, and nothing else.
class LeakCheck {
 public:
  LeakCheck();
  void check() const;

 private:
  std::size_t fds_;
};

}  // namespace ociexec::test
