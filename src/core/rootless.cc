#include "core/rootless.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <sstream>

#include <fmt/format.h>

#include "cgroup/cgroup.h"
#include "core/validate.h"
#include "sys/fs.h"
#include "sys/process.h"

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

std::filesystem::path default_cache_dir() {
  if (!core::running_rootless()) return "/var/cache/ociexec";
  // $XDG_CACHE_HOME, else ~/.cache, when the user owns that directory (service users often
  // have a home that is not theirs, or none).
  auto own_dir = [](const char* path) {
    struct stat st {};
    return path && path[0] == '/' && ::stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
           st.st_uid == ::geteuid();
  };
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); own_dir(xdg))
    return std::filesystem::path(xdg) / "ociexec";
  if (const char* home = std::getenv("HOME"); own_dir(home))
    return std::filesystem::path(home) / ".cache" / "ociexec";
  return fmt::format("/tmp/ociexec-cache-{}", ::geteuid());
}

namespace core {

bool running_rootless() {
  return ::geteuid() != 0;
}

std::optional<spec::IdRange> subordinate_range(std::string_view text, std::uint32_t id,
                                               std::string_view name, std::uint32_t min_count) {
  while (!text.empty()) {
    auto line = text.substr(0, text.find('\n'));
    text.remove_prefix(std::min(text.size(), line.size() + 1));
    auto c1 = line.find(':');
    auto c2 = line.find(':', c1 == std::string_view::npos ? c1 : c1 + 1);
    if (c1 == std::string_view::npos || c2 == std::string_view::npos) continue;
    const auto who = line.substr(0, c1);
    if (who != std::to_string(id) && (name.empty() || who != name)) continue;
    std::uint32_t start = 0, count = 0;
    const auto s = line.substr(c1 + 1, c2 - c1 - 1), n = line.substr(c2 + 1);
    if (std::from_chars(s.data(), s.data() + s.size(), start).ec != std::errc{} ||
        std::from_chars(n.data(), n.data() + n.size(), count).ec != std::errc{})
      continue;
    if (count >= min_count) return spec::IdRange{start, count};
  }
  return std::nullopt;
}

std::string user_name(std::uint32_t uid) {
  auto text = sys::read_file("/etc/passwd");
  if (!text) return {};
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    auto first = line.find(':'), second = line.find(':', first + 1);
    if (second == std::string::npos) continue;
    if (line.substr(second + 1, line.find(':', second + 1) - second - 1) == std::to_string(uid))
      return line.substr(0, first);
  }
  return {};
}

spec::UserNamespace caller_user_namespace() {
  spec::UserNamespace ns{::getuid(), ::getgid(), std::nullopt, std::nullopt};
  // Ids 1..65535 inside: the job's 65534 (nobody) included.
  constexpr std::uint32_t kIds = 65535;
  if (!sys::find_executable("newuidmap") || !sys::find_executable("newgidmap")) return ns;
  const auto name = user_name(ns.host_uid);
  auto uids = sys::read_file("/etc/subuid");
  auto gids = sys::read_file("/etc/subgid");
  if (!uids || !gids) return ns;
  auto u = subordinate_range(*uids, ns.host_uid, name, kIds);
  auto g = subordinate_range(*gids, ns.host_gid, name, kIds);
  if (u && g) {
    ns.sub_uids = spec::IdRange{u->start, kIds};
    ns.sub_gids = spec::IdRange{g->start, kIds};
  }
  return ns;
}

Expected<void> check_private_dir(const std::filesystem::path& dir, std::string_view what,
                                 std::string_view option, bool others_may_read) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0)
    return tl::unexpected(
        Error{ErrorKind::kSystem, fmt::format("{} {}: missing", what, dir.string())});
  const auto fix = fmt::format("set {} to a directory of your own", option);
  if (!S_ISDIR(st.st_mode))
    return tl::unexpected(
        Error{ErrorKind::kInvalidArgument,
              fmt::format("{} {}: not a directory; {}", what, dir.string(), fix)});
  if (st.st_uid != ::geteuid())
    return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                fmt::format("{} {}: owned by uid {}, not by uid {}; {}", what,
                                            dir.string(), st.st_uid, ::geteuid(), fix)});
  if ((st.st_mode & (others_may_read ? 022 : 077)) != 0)
    return tl::unexpected(Error{
        ErrorKind::kInvalidArgument,
        fmt::format("{} {}: {} by others (mode {:o}); chmod 700 it, or {}", what, dir.string(),
                    others_may_read ? "writable" : "readable", st.st_mode & 0777, fix)});
  // Whoever may rename or replace a directory above it may swap the whole tree (and steer the
  // runtime's --root and our removals): every ancestor must be ours or root's, and writable
  // by others only with the sticky bit, as /tmp is.
  for (auto p = dir.parent_path(); !p.empty(); p = p.parent_path()) {
    struct stat up {};
    if (::stat(p.c_str(), &up) != 0) break;
    if (up.st_uid != 0 && up.st_uid != ::geteuid())
      return tl::unexpected(Error{
          ErrorKind::kInvalidArgument,
          fmt::format("{} {}: its parent {} is owned by uid {}, who could replace it; {}", what,
                      dir.string(), p.string(), up.st_uid, fix)});
    if ((up.st_mode & 022) != 0 && (up.st_mode & S_ISVTX) == 0)
      return tl::unexpected(Error{
          ErrorKind::kInvalidArgument,
          fmt::format("{} {}: its parent {} is writable by others without the sticky bit (mode "
                      "{:o}), so they could replace it; {}",
                      what, dir.string(), p.string(), up.st_mode & 07777, fix)});
    if (p == p.root_path()) break;
  }
  return {};
}

Expected<std::vector<std::string>> unenforceable_limits(const JobOptions& job,
                                                        const cgroup::Layout& job_layout) {
  const Limits defaults;
  const auto& l = job.limits;
  std::vector<std::string> unenforced;
  std::string asked;
  auto consider = [&](const char* name, bool set, bool enforceable, bool is_default,
                      const std::string& value) {
    if (!set || enforceable) return;
    unenforced.emplace_back(name);
    if (!is_default && asked.empty()) asked = fmt::format("{} {}", name, value);
  };
  auto has = [&job_layout](std::string_view c) { return cgroup::has_controller(job_layout, c); };
  consider("memory", l.memory_bytes.has_value(), has("memory"),
           l.memory_bytes == defaults.memory_bytes,
           l.memory_bytes ? format_bytes(*l.memory_bytes) : "");
  consider("cpus", l.cpus.has_value(), has("cpu"), l.cpus == defaults.cpus,
           l.cpus ? fmt::format("{}", *l.cpus) : "");
  consider("pids", l.pids.has_value(), has("pids"), l.pids == defaults.pids,
           l.pids ? fmt::format("{}", *l.pids) : "");
  consider("cpuset_cpus", l.cpuset_cpus.has_value(), has("cpuset"), false,
           l.cpuset_cpus.value_or(""));
  consider("cpu_time", l.cpu_time.has_value(), cgroup::accounts_cpu_time(job_layout), false,
           l.cpu_time ? format_seconds(*l.cpu_time) : "");
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
