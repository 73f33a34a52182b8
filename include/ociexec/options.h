// Options for one job and for an Executor. Plain aggregates with documented defaults; every
// value is validated when a job runs, and bad values come back as ErrorKind::kInvalidArgument.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ociexec/images.h"

namespace ociexec {

inline constexpr std::chrono::milliseconds kDefaultTimeout = std::chrono::seconds(300);
// The longest timeout (and any other duration an option takes): 365 days. Longer values are
// refused as kInvalidArgument on every surface.
inline constexpr std::chrono::milliseconds kMaxDuration = std::chrono::hours(24 * 365);
inline constexpr std::uint64_t kMiB = 1024ULL * 1024ULL;

// Resource limits of one job. std::nullopt means "no limit".
struct Limits {
  std::optional<std::uint64_t> memory_bytes = 1024 * kMiB;  // swap is capped at the same value
  std::optional<double> cpus;                               // e.g. 0.5: half a CPU, as quota/period
  std::optional<std::int64_t> pids = 1024;                  // processes and threads in the job
  std::uint64_t tmpfs_bytes = 64 * kMiB;                    // each of /tmp and the work dir
  // The CPUs the job may run on, in cpuset.cpus's list form ("0-3,8"); nullopt: the host's.
  std::optional<std::string> cpuset_cpus;
  // The CPU time (user + system of all the job's processes together, from its start) after
  // which the job is killed, as isolate's --cpu-time: Outcome::kCpuTimeExceeded, exit -1.
  // nullopt: none. The wall-clock timeout holds either way.
  std::optional<std::chrono::milliseconds> cpu_time;
};

// A resource limit of the job's processes, as podman's --ulimit NAME=SOFT[:HARD] sets it:
// setrlimit's soft and hard values (kUnlimitedRlimit: no limit). A hard limit above the
// executor's own cannot be set without CAP_SYS_RESOURCE, and is refused before the job runs.
inline constexpr std::uint64_t kUnlimitedRlimit = UINT64_MAX;
struct Ulimit {
  // "nofile", "nproc", "fsize" (bytes), "core" (bytes), "stack" (bytes), "cpu" (seconds), "as",
  // "data", "memlock", "locks", "sigpending", "msgqueue", "nice", "rtprio", "rttime", "rss".
  std::string name;
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
  auto operator<=>(const Ulimit&) const = default;
};

// A mount the job gets over its root, as podman's -v, --mount and --tmpfs make them. Checked
// before anything is made: targets are normalized absolute paths, never over /, /.ociexec,
// /proc, /sys or /dev, each once; a bind's source is an absolute path that exists (rootless:
// that the caller may read). Binds are always nosuid and nodev.
struct Mount {
  enum class Type { kBind, kTmpfs };
  Type type = Type::kBind;
  std::string source;  // kBind: a host file or directory
  std::string target;  // where the job sees it
  bool readonly = false;
  // kTmpfs: its size (nullopt: limits.tmpfs_bytes) and mode.
  std::optional<std::uint64_t> tmpfs_bytes;
  std::uint32_t tmpfs_mode = 01777;
  auto operator<=>(const Mount&) const = default;
};

// A host file or directory copied into the job's work dir before it starts (podman cp's
// direction in; go-judge's copyIn from a path). A directory comes with everything below it:
// files, directories and symlinks (as links, never followed); setuid, setgid and sticky bits
// are dropped. What is copied is owned by the job's user.
struct CopyIn {
  std::filesystem::path source;  // an absolute host path, read with the caller's rights
  // Where it lands: relative to the work dir, or absolute under the work dir or /tmp; empty:
  // in the work dir, under the source's own name.
  std::string target;
  auto operator<=>(const CopyIn&) const = default;
};

// A device the job gets, as podman's --device gives one. Either a host device node, made in
// the job's /dev and allowed in its device cgroup with `permissions` (nothing else of the
// host's devices is opened up), or a device of the Container Device Interface (CDI: a
// vendor's spec in ExecutorOptions::cdi_spec_dirs, how GPUs are given: "nvidia.com/gpu=all"),
// whose edits (device nodes, mounts, environment, hooks the runtime runs, groups) the job's
// container gets. Rootless, a host node is bound from the host instead (as podman does: no
// mknod there, no device cgroup), and must be one the job's user may open.
struct Device {
  // An absolute host path of a character or block device ("/dev/fuse", "/dev/nvidia0"), or a
  // CDI device's fully qualified name, VENDOR/CLASS=NAME.
  std::string source;
  // A host node's path in the job, under /dev (empty: the same as the source), and what its
  // device cgroup allows: one or more of r (read), w (write), m (mknod). Not for CDI names.
  std::string target;
  std::string permissions = "rwm";
  auto operator<=>(const Device&) const = default;
};

// The job's network, as podman's --network names it.
enum class Network {
  kNone,  // a network namespace of its own with loopback only (the default; Docker's is a
          // bridge, so a script that fetches a URL needs kHost here)
  kHost,  // the host's network stack: no network isolation at all (root only)
  // A network namespace of its own with outbound access through pasta (user-mode networking,
  // as podman's rootless default): connections leave from the host's sockets; nothing comes
  // in. The host's loopback is reachable as host.ociexec.internal (the gateway, 169.254.1.1);
  // DNS goes to the host's resolver through 169.254.1.3. Root only for now.
  kPrivate,
  kPrivateNoHostLoopback,  // the same without host.ociexec.internal: no way to the host's loopback
};
// "none", "host", "private", "private:no-host-loopback"
std::string_view to_string(Network network) noexcept;

// Which of the job's streams a piece of live output (JobOptions::on_output) came from.
enum class OutputStream { kStdout, kStderr };
std::string_view to_string(OutputStream stream) noexcept;  // "stdout", "stderr"
using OutputCallback = std::function<void(OutputStream, std::string_view)>;

struct JobOptions {
  // The whole job is SIGKILLed at `timeout` after it starts; the result is kTimedOut, exit -1.
  std::chrono::milliseconds timeout = kDefaultTimeout;
  // When non-zero, SIGTERM goes to every process `grace` before the deadline.
  std::chrono::milliseconds grace{0};
  // argv prefix that runs the script; empty: the script's "#!" line, else /bin/sh.
  std::vector<std::string> interpreter;
  // The script's arguments ($1... in a shell script, sys.argv[1:] in Python): passed after
  // the script's path.
  std::vector<std::string> args;
  Limits limits;
  // Resource limits of the job's processes; a later entry for the same name wins. Unset ones
  // are the base profile's (nofile 1024, core 0) or the host's. Note that nproc counts every
  // process of the job's uid, across jobs that share it: limits.pids is the per-job limit.
  std::vector<Ulimit> ulimit;
  // Binds and tmpfs mounts over the job's root, in order (a later one may mount inside an
  // earlier one).
  std::vector<Mount> mounts;
  Network network = Network::kNone;
  // Devices, in order (ociexec/options.h's Device). A device node's path in the job is given
  // once; CDI edits that contradict each other or the job's mounts are refused.
  std::vector<Device> devices;
  // docker's --gpus N: the first N (by number) of the CDI devices of kind nvidia.com/gpu,
  // which nvidia-ctk names 0, 1, ...; 0: none. (--gpus all is the device nvidia.com/gpu=all.)
  unsigned gpus = 0;
  // Files put into the job before it starts, path -> bytes (go-judge's copyIn content): a
  // path relative to the work dir, or absolute under the work dir or /tmp; its directories
  // are made (0755). Mode 0644, owned by the job's user. Together with copy_in, what the
  // files take counts against limits.tmpfs_bytes: more than fits is refused before the job
  // runs.
  std::map<std::string, std::string> files;
  std::vector<CopyIn> copy_in;
  // Read after the job ended, before anything of it is gone, into Result::files: paths or
  // globs ('*', '?', '[...]' within one component; a leading '.' only explicitly) relative to
  // the work dir, or absolute under the work dir or /tmp. A directory brings every regular
  // file below it. Nothing is followed through a symlink or onto another mount, and only
  // regular files are read: anything else is an entry with an error, never host data.
  std::vector<std::string> copy_out;
  std::uint64_t copy_out_file_cap = 64 * kMiB;  // bytes kept of each file
  std::uint64_t copy_out_cap = 256 * kMiB;      // bytes kept of all of them together
  // "KEY=VALUE" entries added to (or replacing) the default environment.
  std::vector<std::string> env;
  // Run the script under a minimal init (ociexec-init, as `docker run --init`): it is pid 1,
  // reaps every orphan, passes each signal on to the job's processes, and exits as the script
  // did. Without it the script's interpreter is pid 1, which the kernel shields from signals
  // it has no handler for (SIGTERM does not end a shell without a trap; `kill -9 $$` does
  // nothing) and which reaps orphans only if it waits for them.
  bool init = false;
  // Working directory inside the container: a writable tmpfs of limits.tmpfs_bytes.
  std::string workdir = "/work";
  // Bytes the script reads on its standard input (empty: end of file at once).
  std::string stdin_data;
  // A prepared root file system directory; nullopt: the built-in read-only view of the host.
  std::optional<std::filesystem::path> rootfs;
  // An image instead ("python:3.12-slim", "oci:PATH[:REF]"; see images.h): the job's root is
  // a fresh writable overlay on its layers (writes capped at limits.tmpfs_bytes, and gone
  // with the job). The image's Env, WorkingDir and User apply; env, a workdir other than the
  // default, and user override them. Fetched per `pull`, with the executor's image options.
  std::optional<std::string> image;
  PullPolicy pull = PullPolicy::kMissing;
  // "UID[:GID]" or "NAME[:GROUP]" (from the root's /etc/passwd and /etc/group); nullopt: the
  // image's User, else 65534 (nobody).
  std::optional<std::string> user;
  // "runc", "crun", "auto" or a path; nullopt: the executor's runtime.
  std::optional<std::string> runtime;
  // Bytes kept per stream; the rest is read and dropped, and the truncated flag is set.
  std::size_t output_cap = 10 * kMiB;
  // Live output: called with each piece of the job's stdout and stderr as it is read (all of
  // it, whatever output_cap keeps), in order, from a thread the job has for it: never two
  // calls at once for one job. The Result still holds the capped copy. A slow callback slows
  // the job's writes (its pipes fill, as on a slow terminal), never its deadline; run()
  // returns once every piece was delivered. An exception from it ends the calls for the job,
  // and Result::warnings says so.
  OutputCallback on_output;
  // Optional, owned by the caller: a readable fd (pipe, socket; blocking or not) on which each
  // byte is a signal number to send to every process of the job while it runs, e.g. to
  // forward Ctrl-C. End of file stops the forwarding. -1: none.
  int signal_fd = -1;
  // Rootless without a delegated cgroup, memory, CPU and pids limits cannot be enforced. A
  // job that sets one (to other than the default) then fails with kLimitNotEnforced, unless
  // this is true; either way Result::limits.unenforced names each limit not enforced.
  bool allow_unenforced_limits = false;
};

struct ExecutorOptions {
  // Holds bundles and the runtimes' state; created 0700 if missing, and removed by the last
  // executor using it once it is empty. Empty: /run/ociexec as root; rootless,
  // $XDG_RUNTIME_DIR/ociexec, else /tmp/ociexec-<uid> (default_state_dir()).
  std::filesystem::path state_dir;
  // What outlives executors to spare the next one the work: each runtime's version (per
  // binary) and the built-in rootfs skeleton. Created 0700 if missing. Empty:
  // /var/cache/ociexec as root; rootless, $XDG_CACHE_HOME/ociexec, else ~/.cache/ociexec
  // (each where the user owns that directory), else /tmp/ociexec-cache-<uid>
  // (default_cache_dir()).
  std::filesystem::path cache_dir;
  // "auto" prefers crun where it works on this host, else runc; or "runc", "crun", a path.
  std::string runtime = "auto";
  // Parent of every job's cgroup (under each v1 hierarchy, or the v2 root).
  std::string cgroup_parent = "ociexec";
  // Upper bound for each runtime invocation (create, start, delete).
  std::chrono::milliseconds runtime_timeout = std::chrono::seconds(30);
  // After a job's deadline SIGKILL, how long its processes may take to exit. One that does
  // not (uninterruptible sleep) is given up on: the result comes back as timed out, with a
  // warning, and its container is left to gc.
  std::chrono::milliseconds kill_wait = std::chrono::seconds(10);
  // Remove containers, cgroups and bundles of dead owners when the executor is created.
  bool collect_garbage_on_start = true;

  // Warm pool: containers created ahead of time, this many per profile (runtime, rootfs,
  // workdir, tmpfs size), each used by exactly one job. 0: off, every job creates its own.
  // A job whose memory, CPU or pids limits differ from the profile's gets them written to
  // its cgroup before it starts; the result is the same as without the pool.
  std::size_t pool_size = 0;
  // A pooled container older than this is replaced; a profile no job used for five times
  // as long is dropped with its containers.
  std::chrono::milliseconds pool_max_age = std::chrono::seconds(60);
  // The most pooled containers across all profiles (ready or being made); to fill a profile
  // past it, the least recently used other profile is dropped. 0: twice pool_size.
  std::size_t pool_max_containers = 0;
  // With the pool on: a Python job (a "#!/usr/bin/python3" script, any absolute path to
  // python3 or python3.N, without options on the line) takes a pooled container whose
  // interpreter was started ahead with common standard modules imported, and runs there as
  // a cold start would run it (its sys.argv, environment, working directory and __main__);
  // a job whose environment changes how Python starts (PYTHON*, LANG, LC_*, TZ, HOME) is
  // started cold in that container. Shell jobs are not warmed: /bin/sh starts in about a
  // millisecond. false: every job's interpreter starts with the job.
  bool warm_interpreters = true;
  // The static init that runs a pooled container's job and a job with `init` (built and
  // installed with ociexec); empty: next to the running program, else <its prefix>/libexec/
  // ociexec/, else the libexec dir ociexec was configured for.
  std::filesystem::path init_path;
  // The most jobs submit() runs at once; the others wait in order.
  std::size_t max_concurrent_jobs = 8;
  // The image store and registry settings jobs with an image use.
  ImageOptions images;
  // Where CDI specs are read from when a job asks for a CDI device (JobOptions::devices),
  // a later dir having precedence, as podman's cdi_spec_dirs.
  std::vector<std::filesystem::path> cdi_spec_dirs = {"/etc/cdi", "/var/run/cdi"};
};

// Where an executor of this user keeps its state when ExecutorOptions::state_dir is empty.
std::filesystem::path default_state_dir();
// Where it keeps its caches when ExecutorOptions::cache_dir is empty.
std::filesystem::path default_cache_dir();

}  // namespace ociexec
