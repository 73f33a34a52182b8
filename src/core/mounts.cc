#include "core/mounts.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "core/validate.h"
#include "util/invalid.h"

namespace ociexec::core {

namespace {

// What the job's own paths are made of: no mount may cover them.
constexpr std::array<std::string_view, 4> kReserved = {"/.ociexec", "/proc", "/sys", "/dev"};

std::string describe(const Mount& m) {
  return m.type == Mount::Type::kBind ? fmt::format("mount {}:{}", m.source, m.target)
                                      : fmt::format("tmpfs {}", m.target);
}

Expected<void> check_target(const Mount& m, const std::vector<Mount>& before) {
  if (!is_normalized_absolute(m.target))
    return invalid_argument(
        fmt::format("{}: the target must be a normalized absolute path, e.g. /data", describe(m)));
  if (m.target == "/")
    return invalid_argument(
        fmt::format("{}: a mount cannot cover the job's root; give a directory in "
                    "it, e.g. /data",
                    describe(m)));
  for (auto reserved : kReserved)
    if (is_within(m.target, reserved))
      return invalid_argument(
          fmt::format("{}: {} is the executor's; choose a target outside it, e.g. "
                      "/data",
                      describe(m), reserved));
  for (const auto& other : before)
    if (other.target == m.target)
      return invalid_argument(
          fmt::format("{}: {} is mounted twice; give each target once", describe(m), m.target));
  return {};
}

Expected<void> check_source(const Mount& m, const HostFacts& host) {
  if (!is_normalized_absolute(m.source))
    return invalid_argument(
        fmt::format("{}: the source must be a normalized absolute host path", describe(m)));
  struct stat st {};
  if (::stat(m.source.c_str(), &st) != 0)
    return invalid_argument(fmt::format("{}: the source {}: {}; create it or fix the path",
                                        describe(m), m.source, std::strerror(errno)));
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
    return invalid_argument(
        fmt::format("{}: the source is neither a directory nor a regular file", describe(m)));
  const int need = S_ISDIR(st.st_mode) ? (R_OK | X_OK) : R_OK;
  if (host.rootless && ::access(m.source.c_str(), need) != 0)
    return invalid_argument(
        fmt::format("{}: the source is not readable by uid {}, whom the job runs as "
                    "outside its user namespace; give it read access or bind another",
                    describe(m), ::getuid()));
  return {};
}

// What is mounted at `destination` as the job starts: a tmpfs of its own, or a bind of a
// host path (the root's read-only binds, the job's binds so far).
struct Covering {
  std::string destination;
  bool tmpfs = false;
  std::string source;
};

// A mount point must exist already where the runtime would otherwise make it in something
// not the job's own. Under the deepest mount that covers the target: a tmpfs of the job's
// (/tmp, the work dir, a tmpfs mount) may take it; a bind (the host's /usr, a bind of the
// job's) must hold it, or the runtime would write into the host's directory; the root itself
// must hold it unless the root is the job's own overlay.
Expected<void> check_mount_point(const Mount& m, const std::vector<Covering>& covering,
                                 const image::RootfsPlan& root, bool root_writable) {
  const Covering* deepest = nullptr;
  for (const auto& c : covering)
    if (is_within(m.target, c.destination) &&
        (!deepest || c.destination.size() >= deepest->destination.size()))
      deepest = &c;
  if (deepest && deepest->destination == m.target) return {};  // an existing mount point
  if (deepest && deepest->tmpfs) return {};
  if (!deepest && root_writable) return {};
  const std::string host_path = deepest
                                    ? deepest->source + m.target.substr(deepest->destination.size())
                                    : root.root_path + m.target;
  struct stat st {};
  if (::lstat(host_path.c_str(), &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
    return {};
  return invalid_argument(fmt::format(
      "{}: the target does not exist in {}, where no mount point may be made; choose one that "
      "exists there (the built-in root has /mnt, /srv and /data), or one under the work dir or "
      "/tmp",
      describe(m),
      deepest ? "the host directory mounted at " + deepest->destination
              : std::string("the job's read-only root")));
}

}  // namespace

namespace {

std::vector<Covering> root_covering(const JobOptions& job, const image::RootfsPlan& root) {
  std::vector<Covering> covering = {{"/tmp", true, ""}, {job.workdir, true, ""}};
  for (const auto& b : root.readonly_binds) covering.push_back({b.destination, false, b.source});
  return covering;
}

}  // namespace

bool may_bind_over(const std::string& target, const JobOptions& job,
                   const std::vector<Mount>& mounts, const image::RootfsPlan& root,
                   bool root_writable) {
  auto covering = root_covering(job, root);
  for (const auto& m : mounts)
    covering.push_back({m.target, m.type == Mount::Type::kTmpfs, m.source});
  Mount probe;
  probe.target = target;
  return check_mount_point(probe, covering, root, root_writable).has_value();
}

Expected<std::vector<Mount>> checked_mounts(const JobOptions& job, const HostFacts& host,
                                            const image::RootfsPlan& root, bool root_writable) {
  std::vector<Mount> out;
  std::vector<Covering> covering = root_covering(job, root);
  for (Mount m : job.mounts) {
    if (auto r = check_target(m, out); !r) return tl::unexpected(r.error());
    if (m.type == Mount::Type::kBind) {
      if (auto r = check_source(m, host); !r) return tl::unexpected(r.error());
    } else {
      if (!m.tmpfs_bytes) m.tmpfs_bytes = job.limits.tmpfs_bytes;
      if (*m.tmpfs_bytes < kMiB || (host.memory_bytes && *m.tmpfs_bytes > host.memory_bytes))
        return invalid_argument(fmt::format("{}: size {}: the range is 1m to the host's RAM",
                                            describe(m), format_bytes(*m.tmpfs_bytes)));
      if (m.tmpfs_mode > 07777)
        return invalid_argument(
            fmt::format("{}: mode {:o}: expected at most 7777", describe(m), m.tmpfs_mode));
    }
    if (auto r = check_mount_point(m, covering, root, root_writable); !r)
      return tl::unexpected(r.error());
    covering.push_back({m.target, m.type == Mount::Type::kTmpfs, m.source});
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace ociexec::core
