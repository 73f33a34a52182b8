// One container from `create` to removal, for both paths: a job's own container (created for
// it, its command in the spec) and a pooled one (created ahead with ociexec-init as its
// command, given a job later by pool::assign). Destroying a Container removes it on every
// path: the runtime's delete, the cgroup, the init reaped, the bundle dir.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "bundle/bundle.h"
#include "cgroup/cgroup.h"
#include "container/network.h"
#include "container/plan.h"
#include "runtime/runtime_client.h"
#include "supervise/supervisor.h"
#include "sys/job_tree.h"
#include "sys/process.h"
#include "sys/unique_fd.h"
#include "sys/user_ns.h"

namespace ociexec::container {

class Container {
 public:
  // Writes the bundle (with `script`, the job's; none for a pooled container), creates the
  // container with `stdin_data` as its stdin, and adopts its init (a child of ours).
  static Expected<std::unique_ptr<Container>> create(const Request& request,
                                                     std::string_view script = {},
                                                     std::string_view stdin_data = {});
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;
  ~Container();

  [[nodiscard]] const std::string& id() const noexcept { return id_; }
  [[nodiscard]] const bundle::Bundle& bundle() const noexcept { return bundle_; }
  [[nodiscard]] const cgroup::JobCgroup& cgroup() const noexcept { return cgroup_; }
  [[nodiscard]] const runtime::RuntimeClient& client() const noexcept { return *client_; }
  [[nodiscard]] std::chrono::steady_clock::time_point created_at() const noexcept {
    return created_at_;
  }
  // Replaces what the script reads on stdin (a pooled container gets its job's bytes).
  Expected<void> set_stdin(std::string_view data) const;

  // Before start: opens `request.roots` (absolute in the job's root) inside the container's
  // namespaces and writes `request.entries` there, owned by the job's user. The fds returned
  // keep those trees readable after the container is gone (sys/job_tree.h).
  tl::expected<std::vector<sys::UniqueFd>, sys::TreeWriteFailure> open_trees(
      sys::TreeWriteRequest request) const;
  // Opens the exec fifo: the init runs from here. Returns the start time. A container started
  // ahead (start_ahead) is told instead that its job is there.
  Expected<supervise::Clock::time_point> start();
  // A warm interpreter's container (Request::warm_loader), before any job is assigned: starts
  // its command and waits until the loader says it is ready, within `timeout`. An error when
  // it exits first or writes any output (which would become the job's).
  Expected<void> start_ahead(std::chrono::milliseconds timeout);
  // A container started ahead whose command is still waiting for its job: false once it has
  // exited or said anything more (it was killed while it waited).
  [[nodiscard]] bool waiting_ahead() const;
  // The cgroup's stats, less the CPU time spent before start() (a container started ahead).
  [[nodiscard]] cgroup::Stats read_stats() const;
  // Until the init has exited and the output is drained or the plan's deadline has killed it
  // (or the plan's kill_wait after the SIGKILL it has not: Output::abandoned, see abandon()).
  // With `relay`, the output also goes there as it is read (the plan's on_output).
  Expected<supervise::Output> supervise(const JobPlan& plan, supervise::Clock::time_point started,
                                        supervise::OutputRelay* relay);
  // Pooled: our end of the pipe (a warm interpreter's: the socket) on which the init reports
  // a failed exec (pool/assign.h).
  [[nodiscard]] sys::FdRef exec_status_fd() const noexcept { return exec_status_; }
  // A container that will not run a job (a pooled one, aged or at shutdown): kills the init
  // waiting at its fifo, then removes everything as remove() does.
  void discard() noexcept;
  // The normal end, after supervise: the cgroup (stats are read before), the runtime's
  // state, the bundle. Afterwards the destructor has nothing left to do.
  Expected<void> remove();
  // Gives up on removing the container now (its init would not die, or remove() failed):
  // the init goes to sys::Reaper, the id is marked abandoned so that gc removes the rest
  // (bundle/owner.h), and the destructor does nothing more. Never blocks.
  void abandon() noexcept;

 private:
  Container(std::string id, bundle::Bundle bundle, const Request& request);
  // The cgroup's CPU time less what was spent before start() (a container started ahead).
  [[nodiscard]] std::optional<std::chrono::nanoseconds> since_start(
      std::optional<std::chrono::nanoseconds> cpu_time) const;
  std::string id_;
  bundle::Bundle bundle_;
  std::shared_ptr<const runtime::RuntimeClient> client_;
  cgroup::JobCgroup cgroup_;
  sys::ChildProcess init_;
  sys::UniqueFd stdin_;
  sys::UniqueFd stdout_;
  sys::UniqueFd stderr_;
  sys::UniqueFd exec_status_;
  std::chrono::steady_clock::time_point created_at_;
  bool removed_ = false;
  bool started_ahead_ = false;
  std::chrono::nanoseconds cpu_before_start_{0};
  bool user_ns_ = false;  // rootless: the job has a user namespace of its own
  bool hooks_ = false;    // its spec has hooks (a CDI device's), which the runtime's start
                          // and delete run
  image::RootfsHold rootfs_hold_;
  // Rootless, the namespaces held for the job (Request::hold_namespaces): the holder is
  // killed after pasta, which is in them.
  sys::HeldNamespaces held_;
  // Declared after bundle_: stopped (pasta killed, its mount gone) before the bundle goes.
  PrivateNetwork network_;
};

}  // namespace ociexec::container
