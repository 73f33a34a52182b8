// A job after validation (core/prepare.cc): every value its path needs, checked and held
// once. Container, the supervisor and the warm pool take a JobPlan, never the public
// JobOptions; what a container is made from is its Request, what cannot change once it exists
// its Profile (the warm pool's key).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgroup/cgroup.h"
#include "container/network.h"
#include "image/rootfs.h"
#include "ociexec/options.h"
#include "ociexec/result.h"
#include "runtime/runtime_client.h"
#include "spec/spec_builder.h"
#include "sys/job_tree.h"

namespace ociexec::container {

// What Container::create makes.
struct Request {
  std::shared_ptr<const runtime::RuntimeClient> client;
  const cgroup::Layout* layout = nullptr;  // where job cgroups are made (the executor's)
  std::string cgroup_parent;
  std::filesystem::path bundles_dir;
  // The spec without what depends on the container: its job dir bind, cgroup path, owner.
  spec::SpecInput spec;
  // ociexec-init's copy (pooled, or a job with an init): hard-linked into the job dir as its
  // command, with fd 3 of the init reporting how the job's command ended (pool/assign.h).
  std::optional<std::filesystem::path> init_binary;
  // The init's job file, written into the job dir at create (a job with an init; a pooled
  // container gets its own when a job takes it).
  std::optional<std::string> job_file;
  // Rootless: the runtime makes no cgroup; with a delegated one (layout not empty), we make
  // it with these limits and move the init into it before it starts.
  std::optional<cgroup::ResourceLimits> own_cgroup;
  // An image: its layers (top first) become the container's writable overlay root, and
  // `rootfs_hold` keeps them from being pruned while the container exists.
  std::vector<std::string> image_layers;
  image::RootfsHold rootfs_hold;
  // --network private: pasta joins the container's network namespace once it exists.
  std::optional<NetworkRequest> network;
  // Rootless, a job whose namespaces are reached from outside (a private network, files in
  // or out): its user, mount and network namespaces are made and held for it
  // (sys/user_ns.h), their id maps written within this time; none: the runtime makes them.
  std::optional<std::chrono::milliseconds> hold_namespaces;
  // A pooled container whose interpreter starts ahead (pool/warm.h): this loader becomes the
  // job dir's bundle::kWarmFile, which the command runs; the init's fd 3 is a socket on which
  // it says it is ready and is told that its job is there (Container::start_ahead).
  std::optional<std::string_view> warm_loader;
  // crun only: a seccomp program (raw BPF) loaded through its annotation in place of the
  // spec's seccomp section; the seccomp probe's (core/seccomp_probe.h).
  std::optional<std::string> seccomp_program;
};

// What cannot change once a container exists: the warm pool keeps containers per profile.
struct Profile {
  std::string runtime;  // the runtime binary's path
  // The whole root, never just a path that two roots may share (image::RootfsPlan::identity).
  std::string root;
  std::string workdir;
  std::uint64_t tmpfs_bytes = 0;
  std::uint32_t uid = 65534;  // the process user is fixed at create
  std::uint32_t gid = 65534;
  std::vector<Ulimit> ulimit;  // the process's rlimits are fixed at create too
  std::vector<Mount> mounts;   // and its mounts
  Network network = Network::kNone;  // and its namespaces
  spec::DeviceEdits devices;         // and its devices, their mounts and hooks
  // The Python interpreter its containers start ahead (pool/warm.h); empty: none.
  std::string warm_interpreter;
  auto operator<=>(const Profile&) const = default;
};

// The job's files in and out (JobOptions::files, copy_in, copy_out), checked and read from
// the host: what is written into its trees before it starts, what is read after it ended.
struct JobFiles {
  // The trees, absolute in the job's root: its work dir first, then /tmp where a path needs
  // it. Empty: no files in or out.
  std::vector<std::string> roots;
  std::vector<sys::TreeEntry> copy_in;  // parents first
  struct Pattern {
    std::size_t root = 0;
    std::vector<std::string> components;  // below the root; each a name or a glob
  };
  std::vector<Pattern> copy_out;
  std::uint64_t file_cap = 0;
  std::uint64_t total_cap = 0;
};

struct JobPlan {
  Request container;
  // The caller's script and stdin: views that outlive the run (run() holds the caller's
  // arguments; submit() keeps its own copies).
  std::string_view script;
  std::string_view stdin_data;
  // Validated once: the timeout, grace, output cap and the limits, as the result reports them.
  EffectiveLimits limits;
  // The limits the job's cgroup enforces: all of `limits`' but the unenforced ones. Written
  // by the runtime from the spec (root), into the cgroup we make (rootless), or into a
  // pooled container's cgroup where its profile's differ.
  cgroup::ResourceLimits cgroup_limits;
  // The CPU-time limit the supervisor enforces (none where the cgroup does not account CPU
  // time), and the most CPUs the job can use at once, which paces its reads of the cgroup.
  std::optional<std::chrono::nanoseconds> cpu_time_limit;
  unsigned cpu_parallelism = 1;
  // Each byte read from it is a signal for every process of the job (the caller's, borrowed;
  // none: none).
  sys::FdRef signal_fd;
  // How long the job's processes may take to die after the deadline's SIGKILL.
  std::chrono::milliseconds kill_wait{0};
  // ociexec-init is pid 1 and the command its child (JobOptions::init): signals other than
  // SIGKILL go to the init, which passes them on to every other process of the job.
  bool init = false;
  // Live output (JobOptions::on_output), through a supervise::OutputRelay.
  OutputCallback on_output;
  JobFiles files;
  Profile profile;
  // The environment the job has before its own (the image's, its devices'): what a warm
  // interpreter of its profile starts with, never the job's own.
  std::vector<std::string> base_env;
};

}  // namespace ociexec::container
