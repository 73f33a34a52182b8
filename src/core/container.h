// One container from `create` to removal, for both paths: a job's own container (created for
// it, its command in the spec) and a pooled one (created ahead with ociexec-init as its
// command, given a job later). Destroying a Container removes it on every path: the
// runtime's delete, the cgroup, the init reaped, the bundle dir.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "bundle/bundle.h"
#include "cgroup/cgroup.h"
#include "ociexec/options.h"
#include "runtime/runtime_client.h"
#include "spec/spec_builder.h"
#include "supervise/supervisor.h"
#include "sys/process.h"
#include "sys/unique_fd.h"

namespace ociexec::core {

struct ContainerRequest {
  std::shared_ptr<const runtime::RuntimeClient> client;
  const cgroup::Layout* layout = nullptr;
  std::string cgroup_parent;
  std::filesystem::path bundles_dir;
  // The spec without what depends on the container: its job dir bind, cgroup path, owner.
  spec::SpecInput spec;
  std::string_view script;      // written before create (a pooled container gets it later)
  std::string_view stdin_data;  // idem
  // Pooled: this file is hard-linked into the job dir as the init, and fd 3 of the init
  // reports a failed exec of the job's command.
  std::optional<std::filesystem::path> init_binary;
  // Rootless: the runtime makes no cgroup; with a delegated one (layout not empty), we make
  // it with these limits and move the init into it before it starts.
  std::optional<cgroup::ResourceLimits> own_cgroup;
  // An image: its layers (top first) become the container's writable overlay root, and
  // `rootfs_hold` keeps them from being pruned while the container exists.
  std::vector<std::string> image_layers;
  std::shared_ptr<const void> rootfs_hold;
  // crun only: a seccomp program (raw BPF) loaded through its annotation in place of the
  // spec's seccomp section; the seccomp probe's (core/seccomp_probe.h).
  std::optional<std::string> seccomp_program;
};

class Container {
 public:
  // Writes the bundle, creates the container and adopts its init (a child of ours).
  static Expected<std::unique_ptr<Container>> create(const ContainerRequest& request);
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

  // Opens the exec fifo: the init runs from here. Returns the start time.
  Expected<supervise::Clock::time_point> start();
  // Until the init has exited and the output is drained or the deadline has killed it (or
  // `kill_wait` after the SIGKILL it has not: Output::abandoned, see abandon()).
  Expected<supervise::Output> supervise(const JobOptions& job, supervise::Clock::time_point started,
                                        std::chrono::milliseconds kill_wait);
  // Pooled: the error a cold create reports when the init could not exec the job's command
  // (kCommandNotFound / kCommandNotExecutable), from the init's report and `stderr_text`.
  [[nodiscard]] std::optional<Error> exec_failure(std::string_view stderr_text) const;
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
  Container(std::string id, bundle::Bundle bundle, const ContainerRequest& request);
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
  std::shared_ptr<const void> rootfs_hold_;
};

}  // namespace ociexec::core
