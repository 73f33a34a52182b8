// Calls one OCI runtime for one executor: create, start, delete, each bounded by its own
// timeout, with the runtime's private --root and the job's log file.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "ociexec/error.h"
#include "ociexec/runtime_info.h"
#include "runtime/runtime.h"
#include "runtime/seccomp_cache.h"
#include "sys/process.h"

namespace ociexec::runtime {

// The init's stdio, borrowed from the caller for the create.
struct StdioFds {
  sys::FdRef in;
  sys::FdRef out;
  sys::FdRef err;
  sys::FdRef fd3;  // given: passed on to the init as its fd 3 (--preserve-fds 1)
};

// A mount namespace a runtime's calls are spawned into (null: ours).
using MountNs = std::shared_ptr<const sys::UniqueFd>;

// The namespace the runtime clients of one executor share: the executor puts a new one here
// when the host's mounts change (core/runtimes.cc), for the containers made from then on; a
// container made in the old one keeps it (its bundle holds it).
class MountNsSlot {
 public:
  explicit MountNsSlot(MountNs ns) : ns_(std::move(ns)) {}
  [[nodiscard]] MountNs get() const {
    std::lock_guard lock(mutex_);
    return ns_;
  }
  void set(MountNs ns) {
    std::lock_guard lock(mutex_);
    ns_ = std::move(ns);
  }

 private:
  mutable std::mutex mutex_;
  MountNs ns_;
};

class RuntimeClient {
 public:
  // `mount_ns`: where the namespace this runtime's calls are spawned into is (null: ours).
  // `exe`: a sealed copy of the binary (sys/sealed_exe.h) every call runs (null: the path).
  // `seccomp_cache_dir`: where crun's seccomp programs are kept across executors (empty: in
  // memory only; runtime/seccomp_cache.h).
  RuntimeClient(RuntimeInfo info, std::filesystem::path root, std::chrono::milliseconds timeout,
                std::shared_ptr<const MountNsSlot> mount_ns = nullptr,
                std::shared_ptr<const sys::UniqueFd> exe = nullptr,
                const std::filesystem::path& seccomp_cache_dir = {})
      : info_(std::move(info)),
        root_(std::move(root)),
        timeout_(timeout),
        mount_ns_(std::move(mount_ns)),
        exe_(std::move(exe)),
        seccomp_(seccomp_cache_dir,
                 seccomp_cache_dir.empty() ? std::string() : binary_identity(info_.path)) {}

  [[nodiscard]] const RuntimeInfo& info() const noexcept { return info_; }
  [[nodiscard]] const std::filesystem::path& root() const noexcept { return root_; }

  // Readies `spec` for this runtime before it is written: for crun, a seccomp program it
  // compiled for an earlier container replaces the seccomp section (runtime/seccomp_cache.h),
  // once a probe has shown that this crun loads it. Returns the section when create() should
  // learn its program.
  std::optional<std::string> prepare_spec(nlohmann::json& spec) const;
  // The seccomp cache's probe (core/seccomp_probe.h): due once a program was learned.
  [[nodiscard]] const SeccompCache& seccomp_cache() const noexcept { return seccomp_; }

  // Creates the container; its init inherits `stdio` and waits to be started. On failure the
  // error carries the runtime's own text (from `log`, else from what it printed on `stdio`).
  // `mount_ns`: the namespace it runs in, the one mount_ns() gave for its root.
  // `seccomp_to_learn`: prepare_spec's result, kept once the runtime has compiled it.
  Expected<void> create(const std::string& id, const std::filesystem::path& bundle,
                        const std::filesystem::path& pid_file, const std::filesystem::path& log,
                        const StdioFds& stdio, sys::FdRef stdout_read, sys::FdRef stderr_read,
                        const MountNs& mount_ns,
                        const std::optional<std::string>& seccomp_to_learn = std::nullopt) const;
  // Starts a created container. runc and crun hold the init on "<root>/<id>/exec.fifo"; with
  // no hooks in the spec, completing that handshake is all their `start` does, so we do it
  // directly (about 0.1 ms instead of a 6 ms process), in each runtime's direction. Other
  // runtimes, and a spec with hooks (its poststart ones are `start`'s), get `start`.
  Expected<void> start(const std::string& id, const std::filesystem::path& log,
                       const sys::Pidfd& init, bool hooks = false) const;
  // Deletes the container (--force: kills anything left). Idempotent.
  Expected<void> remove(const std::string& id, const std::filesystem::path& log) const;
  // Removes a container whose init we have reaped and whose cgroup we have removed. For runc
  // and crun, deleting a stopped container with no hooks is exactly: destroy the cgroup, then
  // remove the state dir; doing it here saves a runtime process (~5 ms for runc). Anything
  // unexpected in the state dir, another runtime, or a spec with hooks (its poststop ones
  // are `delete`'s), goes through `delete --force`.
  Expected<void> remove_stopped(const std::string& id, const std::filesystem::path& log,
                                bool hooks = false) const;
  // Removes the runtime's state files of a container none of whose processes is left (its
  // cgroup removed, its init reaped): for state the runtime itself cannot delete.
  Expected<void> forget(const std::string& id) const;
  // Ids of the containers in this runtime's root.
  [[nodiscard]] std::vector<std::string> list_ids() const;
  // The mount namespace the runtime runs in (null: ours): an image root is mounted there,
  // and create() is given the one its container's root was mounted in.
  [[nodiscard]] MountNs mount_ns() const { return mount_ns_ ? mount_ns_->get() : nullptr; }

 private:
  Expected<void> call(const std::vector<std::string>& argv, const std::filesystem::path& log,
                      std::string_view what) const;
  [[nodiscard]] sys::FdRef exe_fd() const noexcept { return exe_ ? sys::FdRef(*exe_) : sys::FdRef(); }
  RuntimeInfo info_;
  std::filesystem::path root_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<const MountNsSlot> mount_ns_;
  std::shared_ptr<const sys::UniqueFd> exe_;
  SeccompCache seccomp_;
};

}  // namespace ociexec::runtime
