#include "core/devices.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cdi/registry.h"
#include "core/mounts.h"
#include "core/validate.h"
#include "util/invalid.h"
#include "util/text.h"

namespace ociexec::core {

namespace {

// What the runtime puts in every job's /dev itself: no device may replace it.
constexpr std::array<std::string_view, 11> kRuntimeDevPaths = {
    "/dev/null",    "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
    "/dev/console", "/dev/ptmx", "/dev/pts",  "/dev/shm",    "/dev/mqueue"};

constexpr std::array<std::string_view, 3> kReservedMountDirs = {"/.ociexec", "/proc", "/sys"};

std::string type_name(const struct stat& st) {
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISREG(st.st_mode)) return "a regular file";
  if (S_ISLNK(st.st_mode)) return "a symlink";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  if (S_ISFIFO(st.st_mode)) return "a FIFO";
  return "not a device";
}

Expected<void> check_node_path(const std::string& path, const std::string& what) {
  if (!is_normalized_absolute(path) || !is_within(path, "/dev") || path == "/dev")
    return invalid_argument(
        fmt::format("{}: the job's path {:?} must be a normalized path under /dev, e.g. /dev/fuse",
                    what, path));
  for (auto taken : kRuntimeDevPaths)
    if (is_within(path, taken))
      return invalid_argument(fmt::format(
          "{}: {} is one of the runtime's own in every job; choose another path under /dev", what,
          taken));
  return {};
}

Expected<spec::DeviceNode> host_node(const Device& d, std::uint32_t uid, std::uint32_t gid) {
  const std::string what = fmt::format("device {}", d.source);
  if (!is_normalized_absolute(d.source))
    return invalid_argument(
        fmt::format("{}: expected an absolute host path such as /dev/fuse, or a CDI name "
                    "VENDOR/CLASS=NAME",
                    what));
  if (!cdi::valid_access(d.permissions))
    return invalid_argument(fmt::format(
        "{}: permissions {:?}: expected one or more of r, w and m, e.g. rw", what, d.permissions));
  struct stat st {};
  if (::stat(d.source.c_str(), &st) != 0)
    return invalid_argument(
        fmt::format("{}: {}; give an existing device node", what, std::strerror(errno)));
  if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
    return invalid_argument(
        fmt::format("{}: {}, not a character or block device; give a device node such as /dev/fuse",
                    what, type_name(st)));
  spec::DeviceNode node;
  node.path = d.target.empty() ? d.source : d.target;
  if (auto r = check_node_path(node.path, what); !r) return tl::unexpected(r.error());
  node.host_path = d.source;
  node.type = S_ISCHR(st.st_mode) ? 'c' : 'b';
  node.major = ::major(st.st_rdev);
  node.minor = ::minor(st.st_rdev);
  node.file_mode = st.st_mode & 0777U;
  node.uid = uid;
  node.gid = gid;
  node.access = d.permissions;
  return node;
}

// A CDI node with what its spec leaves out taken from the host, as the reference does.
Expected<spec::DeviceNode> cdi_node(const cdi::DeviceNode& n, std::uint32_t uid,
                                    std::uint32_t gid) {
  spec::DeviceNode node;
  node.path = n.path;
  node.host_path = n.host_path.empty() ? n.path : n.host_path;
  const std::string what = fmt::format("CDI device node {} (spec line {})", n.path, n.line);
  if (auto r = check_node_path(node.path, what); !r) return tl::unexpected(r.error());
  const bool fully_given = !n.type.empty() && (n.major || n.type == "p");
  struct stat st {};
  const bool on_host = ::stat(node.host_path.c_str(), &st) == 0;
  const bool host_device =
      on_host && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode));
  if (!fully_given && !on_host)
    return invalid_argument(fmt::format("{}: the host's {}: {}; load its driver, or fix the spec",
                                        what, node.host_path, std::strerror(errno)));
  if (!fully_given && !host_device)
    return invalid_argument(fmt::format("{}: the host's {} is {}, not a device node", what,
                                        node.host_path, type_name(st)));
  const std::string host_type = !host_device           ? ""
                                : S_ISBLK(st.st_mode)  ? "b"
                                : S_ISFIFO(st.st_mode) ? "p"
                                                       : "c";
  node.type = n.type.empty() ? host_type : n.type;
  if (!fully_given && node.type != host_type)
    return invalid_argument(fmt::format("{}: the spec says type {} and the host's {} is type {}",
                                        what, node.type, node.host_path, host_type));
  node.major = n.major ? *n.major : static_cast<std::int64_t>(::major(st.st_rdev));
  node.minor = n.major ? n.minor.value_or(0) : static_cast<std::int64_t>(::minor(st.st_rdev));
  node.file_mode = n.file_mode ? *n.file_mode : (on_host ? st.st_mode & 0777U : 0666U);
  // The job's user owns the node unless the spec says (the reference: when it is not root).
  node.uid = n.uid.value_or(uid);
  node.gid = n.gid.value_or(gid);
  node.access = n.permissions.empty() ? "rwm" : n.permissions == "none" ? "" : n.permissions;
  return node;
}

// Rootless: the node is the host's, bound; no device cgroup narrows it and no mknod makes it,
// so the job's user must be able to open it as it is, for reading and writing.
Expected<void> check_rootless_node(const spec::DeviceNode& node, const HostFacts& host) {
  const std::string what = fmt::format("device {}", node.host_path);
  if (!node.access.empty() &&
      (node.access.find('r') == std::string::npos || node.access.find('w') == std::string::npos))
    return invalid_argument(
        fmt::format("{}: rootless, access cannot be narrowed to {:?} (a rootless job has no device "
                    "cgroup); give rw, or run as root",
                    what, node.access));
  struct stat st {};
  if (::stat(node.host_path.c_str(), &st) != 0)
    return invalid_argument(fmt::format("{}: {}", what, std::strerror(errno)));
  if (!host.user_ns.full()) {
    if (::access(node.host_path.c_str(), R_OK | W_OK) == 0) return {};
    return invalid_argument(fmt::format(
        "{}: uid {} cannot open it for reading and writing (mode {:04o}, owner {}:{}), and a "
        "rootless job is this user; give it access (a group, a udev rule) or run as root",
        what, ::getuid(), st.st_mode & 07777, st.st_uid, st.st_gid));
  }
  if ((st.st_mode & (S_IROTH | S_IWOTH)) == (S_IROTH | S_IWOTH)) return {};
  return invalid_argument(fmt::format(
      "{}: the job's user, a subordinate id of this user's, cannot open it (mode {:04o} gives "
      "others no read and write); make it mode 0666, or run as root",
      what, st.st_mode & 07777));
}

// Adds `node` unless its path is taken: by the same device (given twice: once), or another.
Expected<void> add_node(spec::DeviceNode node, std::vector<spec::DeviceNode>& nodes) {
  for (const auto& other : nodes) {
    if (other.path != node.path) continue;
    if (other.type == node.type && other.major == node.major && other.minor == node.minor)
      return {};
    return invalid_argument(fmt::format(
        "device node {}: given twice, as {} {}:{} and as {} {}:{}; give each job path once",
        node.path, other.type, other.major, other.minor, node.type, node.major, node.minor));
  }
  nodes.push_back(std::move(node));
  return {};
}

struct MountContext {
  const JobOptions& job;
  const HostFacts& host;
  std::vector<Mount> mounts;  // the job's, then the CDI mounts accepted so far
  const image::RootfsPlan& root;
  bool root_writable;
};

Expected<void> add_cdi_mount(const cdi::Mount& m, MountContext& ctx,
                             std::vector<spec::DeviceMount>& out) {
  const std::string what =
      fmt::format("CDI mount {}:{} (spec line {})", m.host_path, m.container_path, m.line);
  const auto& target = m.container_path;
  if (!is_normalized_absolute(target) || target == "/")
    return invalid_argument(
        fmt::format("{}: the target must be a normalized absolute path below /", what));
  for (auto reserved : kReservedMountDirs)
    if (is_within(target, reserved))
      return invalid_argument(
          fmt::format("{}: {} is the executor's; fix the spec", what, reserved));
  for (const auto& other : ctx.mounts) {
    if (other.target != target) continue;
    if (other.type == Mount::Type::kBind && other.source == m.host_path) return {};
    return invalid_argument(
        fmt::format("{}: {} is mounted by the job or another CDI edit already; drop one of them",
                    what, target));
  }
  struct stat st {};
  if (::stat(m.host_path.c_str(), &st) != 0)
    return invalid_argument(
        fmt::format("{}: the host's {}: {}; install what the spec names, or "
                    "regenerate the spec",
                    what, m.host_path, std::strerror(errno)));
  if (ctx.host.rootless && ::access(m.host_path.c_str(), R_OK) != 0)
    return invalid_argument(
        fmt::format("{}: uid {} cannot read {}, and a rootless job is this user", what, ::getuid(),
                    m.host_path));
  if (!may_bind_over(target, ctx.job, ctx.mounts, ctx.root, ctx.root_writable))
    return invalid_argument(fmt::format(
        "{}: the target does not exist in the job's root, where no mount point may be made; "
        "use an image (its root is the job's own), or a root that has it",
        what));
  spec::DeviceMount mount{m.host_path, target, m.type.empty() ? "bind" : m.type, m.options};
  const bool bind = mount.type == "bind" || mount.type == "none";
  auto has = [&](const char* o) {
    return std::find(mount.options.begin(), mount.options.end(), o) != mount.options.end();
  };
  if (bind && !has("bind") && !has("rbind")) mount.options.emplace_back("rbind");
  Mount as_job_mount;
  as_job_mount.source = m.host_path;
  as_job_mount.target = target;
  ctx.mounts.push_back(std::move(as_job_mount));
  out.push_back(std::move(mount));
  return {};
}

// --gpus N: the first N of nvidia.com/gpu's devices named by a number.
Expected<std::vector<std::string>> first_gpus(unsigned count, const cdi::Registry& registry) {
  std::vector<std::string> numbered;
  for (const auto& name : registry.names_of_kind("nvidia.com/gpu"))
    if (name.find_first_not_of("0123456789") == std::string::npos && name.size() < 10)
      numbered.push_back(name);
  std::sort(numbered.begin(), numbered.end(), [](const std::string& a, const std::string& b) {
    return std::stoul(a) < std::stoul(b);
  });
  if (numbered.size() < count)
    return invalid_argument(fmt::format(
        "gpus {}: the CDI specs name {} numbered nvidia.com/gpu devices{}; ask for fewer, or "
        "regenerate the spec (nvidia-ctk cdi generate)",
        count, numbered.size(),
        numbered.empty() ? std::string() : fmt::format(" ({})", fmt::join(numbered, ", "))));
  std::vector<std::string> names;
  for (unsigned i = 0; i < count; ++i) names.push_back("nvidia.com/gpu=" + numbered[i]);
  return names;
}

// The CDI names the job asks for, resolved into edits (none asked: nothing read).
Expected<cdi::Edits> cdi_edits(const JobOptions& job,
                               const std::vector<std::filesystem::path>& dirs) {
  std::vector<std::string> names;
  for (const auto& d : job.devices) {
    if (!cdi::looks_qualified(d.source)) continue;
    if (!d.target.empty() || d.permissions != Device{}.permissions)
      return invalid_argument(fmt::format(
          "device {}: a CDI device takes no job path or permissions; its spec gives them",
          d.source));
    names.push_back(d.source);
  }
  if (names.empty() && job.gpus == 0) return cdi::Edits{};
  const auto registry = cdi::Registry::scan(dirs);
  if (job.gpus > 0) {
    auto gpus = first_gpus(job.gpus, registry);
    if (!gpus) return tl::unexpected(gpus.error());
    names.insert(names.end(), gpus->begin(), gpus->end());
  }
  return registry.resolve(names);
}

Expected<PlannedDevices> resolve_devices(const JobOptions& job, const HostFacts& host,
                                         const std::vector<std::filesystem::path>& cdi_dirs,
                                         std::uint32_t uid, std::uint32_t gid,
                                         const std::vector<Mount>& mounts,
                                         const image::RootfsPlan& root, bool root_writable) {
  PlannedDevices out;
  if (job.devices.empty() && job.gpus == 0) return out;
  auto& edits = out.edits;
  for (const auto& d : job.devices) {
    if (cdi::looks_qualified(d.source)) continue;
    auto node = host_node(d, uid, gid);
    if (!node) return tl::unexpected(node.error());
    if (auto r = add_node(std::move(*node), edits.nodes); !r) return tl::unexpected(r.error());
  }
  auto cdi = cdi_edits(job, cdi_dirs);
  if (!cdi) return tl::unexpected(cdi.error());
  for (const auto& n : cdi->device_nodes) {
    auto node = cdi_node(n, uid, gid);
    if (!node) return tl::unexpected(node.error());
    if (auto r = add_node(std::move(*node), edits.nodes); !r) return tl::unexpected(r.error());
  }
  if (host.rootless)
    for (const auto& node : edits.nodes)
      if (auto r = check_rootless_node(node, host); !r) return tl::unexpected(r.error());
  MountContext ctx{job, host, mounts, root, root_writable};
  for (const auto& m : cdi->mounts)
    if (auto r = add_cdi_mount(m, ctx, edits.mounts); !r) return tl::unexpected(r.error());
  for (const auto& h : cdi->hooks)
    edits.hooks.push_back({h.hook_name, h.path, h.args, h.env, h.timeout});
  if (host.rootless && !cdi->additional_gids.empty())
    return invalid_argument(fmt::format(
        "CDI additionalGids {}: rootless, a job cannot take groups outside its user namespace; "
        "run as root",
        fmt::join(cdi->additional_gids, ", ")));
  edits.additional_gids = cdi->additional_gids;
  out.env = cdi->env;
  return out;
}

}  // namespace

Expected<PlannedDevices> plan_devices(const JobOptions& job, const HostFacts& host,
                                      const std::vector<std::filesystem::path>& cdi_dirs,
                                      std::uint32_t uid, std::uint32_t gid,
                                      const std::vector<Mount>& mounts,
                                      const image::RootfsPlan& root, bool root_writable) {
  auto planned = resolve_devices(job, host, cdi_dirs, uid, gid, mounts, root, root_writable);
  // A spec's paths and a device text are outside input: the error stays one line.
  if (!planned)
    return tl::unexpected(Error{planned.error().kind, text::one_line(planned.error().message)});
  return planned;
}

}  // namespace ociexec::core
