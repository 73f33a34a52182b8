#include "core/rootless.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <fmt/format.h>

#include "cgroup/cgroup.h"
#include "core/validate.h"

namespace ociexec {

std::filesystem::path default_state_dir() {
  if (!core::running_rootless()) return "/run/ociexec";
  // The user's runtime dir (pam_systemd makes it: 0700, theirs, on a tmpfs), when it is one.
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && xdg[0] == '/') {
    struct stat st {};
    if (::stat(xdg, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid())
      return std::filesystem::path(xdg) / "ociexec";
  }
  return fmt::format("/tmp/ociexec-{}", ::geteuid());
}

namespace core {

bool running_rootless() {
  return ::geteuid() != 0;
}

Expected<void> check_private_dir(const std::filesystem::path& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0)
    return tl::unexpected(Error{ErrorKind::kSystem, fmt::format("state dir {}: missing", dir.string())});
  const auto fix = "set state_dir (--state-dir) to a directory of your own";
  if (!S_ISDIR(st.st_mode))
    return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                fmt::format("state dir {}: not a directory; {}", dir.string(), fix)});
  if (st.st_uid != ::geteuid())
    return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                fmt::format("state dir {}: owned by uid {}, not by uid {}; {}",
                                            dir.string(), st.st_uid, ::geteuid(), fix)});
  if ((st.st_mode & 077) != 0)
    return tl::unexpected(Error{
        ErrorKind::kInvalidArgument,
        fmt::format("state dir {}: readable by others (mode {:o}); chmod 700 it, or {}",
                    dir.string(), st.st_mode & 0777, fix)});
  return {};
}

Expected<std::vector<std::string>> unenforceable_limits(const JobOptions& job,
                                                        const cgroup::Layout& job_layout) {
  const Limits defaults;
  const auto& l = job.limits;
  std::vector<std::string> unenforced;
  std::string asked;
  auto consider = [&](const char* name, bool set, bool is_default, const std::string& value) {
    const std::string controller = std::string(name) == "cpus" ? "cpu" : name;
    if (!set || cgroup::has_controller(job_layout, controller)) return;
    unenforced.emplace_back(name);
    if (!is_default && asked.empty()) asked = fmt::format("{} {}", name, value);
  };
  consider("memory", l.memory_bytes.has_value(), l.memory_bytes == defaults.memory_bytes,
           l.memory_bytes ? format_bytes(*l.memory_bytes) : "");
  consider("cpus", l.cpus.has_value(), l.cpus == defaults.cpus,
           l.cpus ? fmt::format("{}", *l.cpus) : "");
  consider("pids", l.pids.has_value(), l.pids == defaults.pids,
           l.pids ? fmt::format("{}", *l.pids) : "");
  if (!asked.empty() && !job.allow_unenforced_limits)
    return tl::unexpected(Error{
        ErrorKind::kLimitNotEnforced,
        fmt::format("{}: cannot be enforced rootless without a cgroup this user may write; run "
                    "as root, delegate a cgroup (docs/rootless.md), or allow unenforced limits "
                    "(--allow-unenforced-limits, config allow_unenforced_limits: true)",
                    asked)});
  return unenforced;
}

}  // namespace core
}  // namespace ociexec
