// Turns a job into an OCI runtime spec (config.json, runtime-spec 1.0.x) on top of the base
// profile in oci-bundles/default.json. Pure: no I/O, so the output is golden-file tested and
// checked against the OCI JSON schema.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ociexec/error.h"
#include "ociexec/options.h"
#include "sys/user_ns.h"

namespace ociexec::spec {

struct BindMount {
  std::string source;
  std::string destination;
};

struct IdRange {
  std::uint32_t start = 0;
  std::uint32_t count = 0;
  bool operator==(const IdRange&) const = default;
};

// Rootless: a user namespace where the caller's ids are the container's root (runc needs a
// mapped root). With subordinate ranges (/etc/subuid and /etc/subgid, which runc applies
// through newuidmap/newgidmap), ids 1 and up map onto them and the job runs as 65534 there,
// an id the caller does not even own outside. Without, the job runs as that root.
struct UserNamespace {
  std::uint32_t host_uid = 0;
  std::uint32_t host_gid = 0;
  std::optional<IdRange> sub_uids;  // both or neither, each of at least 65535 ids
  std::optional<IdRange> sub_gids;
  [[nodiscard]] bool full() const { return sub_uids && sub_gids; }
  // The uid_map and gid_map: the caller's id as 0, then the subordinate range (if full).
  [[nodiscard]] std::vector<sys::IdMapping> uid_map() const;
  [[nodiscard]] std::vector<sys::IdMapping> gid_map() const;
};

// A device node the job gets (core/devices.h checked it): made by the runtime in the job's
// /dev and allowed in its device cgroup; rootless (no mknod, no device cgroup), bound from
// the host instead, as podman does.
struct DeviceNode {
  std::string path;        // in the job
  std::string host_path;   // what a rootless job's bind shows
  std::string type = "c";  // "c", "b" or "p"
  std::int64_t major = 0;
  std::int64_t minor = 0;
  std::uint32_t file_mode = 0666;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string access;  // the cgroup rule's: of r, w and m; empty: none
  auto operator<=>(const DeviceNode&) const = default;
};

// A mount a CDI spec asks for, as it asks (its type and options are the vendor's).
struct DeviceMount {
  std::string source;
  std::string destination;
  std::string type = "bind";
  std::vector<std::string> options;
  auto operator<=>(const DeviceMount&) const = default;
};

// An OCI hook (run by the runtime): "createRuntime", "poststop", ... and what to run.
struct Hook {
  std::string stage;
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds
  auto operator<=>(const Hook&) const = default;
};

// What the job's devices add to its container (all but their environment, which is the
// job's env): fixed at create, so part of a pooled container's profile.
struct DeviceEdits {
  std::vector<DeviceNode> nodes;
  std::vector<DeviceMount> mounts;  // after the job's own
  std::vector<Hook> hooks;
  std::vector<std::uint32_t> additional_gids;
  [[nodiscard]] bool empty() const {
    return nodes.empty() && mounts.empty() && hooks.empty() && additional_gids.empty();
  }
  auto operator<=>(const DeviceEdits&) const = default;
};

struct SpecInput {
  std::vector<std::string> args;
  std::vector<std::string> env;  // "KEY=VALUE"; replaces a base entry with the same key
  std::string cwd = "/work";
  std::string work_mount;  // the writable tmpfs work dir; empty: cwd
  bool root_writable = false;  // an image's per-job overlay root
  std::uint32_t uid = 65534;
  std::uint32_t gid = 65534;
  std::string rootfs_path = "rootfs";
  std::vector<BindMount> readonly_binds;  // host view, synthetic /etc, the job's script dir
  std::uint64_t tmpfs_bytes = 0;          // /tmp and the work dir, each
  std::vector<Mount> mounts;  // the job's own (checked; each tmpfs with its size), last
  DeviceEdits devices;
  // The host's network namespace (no network one of the job's), and the host's resolver
  // config bound read-only at /etc/resolv.conf (empty: none to bind).
  bool host_network = false;
  std::string host_resolv_conf;
  std::optional<std::uint64_t> memory_bytes;
  bool swap_limit_supported = true;
  std::optional<double> cpus;
  std::optional<std::int64_t> pids;
  std::optional<std::string> cpuset_cpus;  // linux.resources.cpu.cpus
  std::string cgroups_path;  // empty: no cgroup (rootless without a delegated one)
  std::optional<UserNamespace> user_namespace;  // set: uid and gid must be 0
  // Namespaces the container joins instead of making its own (OCI `path`), by type ("user",
  // "network", "mount"): a rootless job's, held for it (sys/user_ns.h).
  std::map<std::string, std::string> namespace_paths;
  // The host's hard RLIMIT_NOFILE: a spec that asks for more fails without CAP_SYS_RESOURCE.
  std::optional<std::uint64_t> nofile_hard_limit;
  // The job's own resource limits (validated), over the base profile's.
  std::vector<Ulimit> ulimit;
  std::string machine = "x86_64";  // uname -m, picks the seccomp architectures
  std::map<std::string, std::string> annotations;
};

Expected<nlohmann::json> build_spec(const SpecInput& input);

// The process environment build_spec gives a job: the base profile's, with `extra` added or
// replacing entries of the same key. (A pooled container's init sets it at exec.)
std::vector<std::string> process_env(const std::vector<std::string>& extra);

// Seccomp architectures for `machine`, native first ("x86_64" -> X86_64, X86, X32).
std::vector<std::string> seccomp_architectures(const std::string& machine);

}  // namespace ociexec::spec
