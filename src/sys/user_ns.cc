#include "sys/user_ns.h"

#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>

#include "sys/clone_child.h"
#include "sys/fs.h"

namespace ociexec::sys {

namespace {

// "0 1000 1\n1 100000 65535\n": one write of the whole map, as the kernel requires.
std::string map_text(const std::vector<IdMapping>& map) {
  std::string text;
  for (const auto& m : map) text += fmt::format("{} {} {}\n", m.inside, m.outside, m.count);
  return text;
}

Expected<void> write_map(pid_t pid, bool gids, const std::vector<IdMapping>& map,
                         std::chrono::milliseconds timeout) {
  const char* kind = gids ? "gid" : "uid";
  const std::uint32_t own = gids ? ::getegid() : ::geteuid();
  if (map.size() == 1 && map[0].outside == own && map[0].count == 1) {
    // Without CAP_SETGID outside, a gid map is accepted only once setgroups is denied.
    if (gids)
      if (auto r = write_file(fmt::format("/proc/{}/setgroups", pid), "deny"); !r)
        return tl::unexpected(r.error().with_context("user namespace: deny setgroups"));
    if (auto r = write_file(fmt::format("/proc/{}/{}_map", pid, kind), map_text(map)); !r)
      return tl::unexpected(r.error().with_context(fmt::format("user namespace: {}_map", kind)));
    return {};
  }
  const std::string helper = gids ? "newgidmap" : "newuidmap";
  auto path = find_executable(helper);
  if (!path)
    return tl::unexpected(
        Error{ErrorKind::kSystem,
              fmt::format("user namespace: {} not found on PATH; install it (Debian and Ubuntu: "
                          "apt-get install uidmap)",
                          helper)});
  std::vector<std::string> argv{*path, std::to_string(pid)};
  for (const auto& m : map)
    argv.insert(argv.end(),
                {std::to_string(m.inside), std::to_string(m.outside), std::to_string(m.count)});
  auto run = run_command(argv, timeout);
  if (!run) return tl::unexpected(run.error().with_context("user namespace: " + helper));
  if (run->status.shell_code() != 0)
    return tl::unexpected(Error{
        ErrorKind::kSystem,
        fmt::format("user namespace: {} failed (exit {}): {}", helper, run->status.shell_code(),
                    run->output.empty() ? "no message" : run->output.substr(0, 400))});
  return {};
}

}  // namespace

Expected<HeldNamespaces> HeldNamespaces::create(const std::vector<IdMapping>& uids,
                                                const std::vector<IdMapping>& gids, bool network,
                                                std::chrono::milliseconds timeout) {
  clone_child::Hold hold{::getpid(), "ociexec-userns"};
  auto pid = clone_copy(clone_child::hold, &hold,
                        CLONE_NEWUSER | CLONE_NEWNS | (network ? CLONE_NEWNET : 0));
  if (!pid) return tl::unexpected(pid.error().with_context("user namespace"));
  auto child = ChildProcess::adopt_spawned(*pid);
  if (!child) return tl::unexpected(child.error().with_context("user namespace"));
  HeldNamespaces held;
  held.holder_ = std::move(*child);
  if (auto r = write_map(*pid, false, uids, timeout); !r) return tl::unexpected(r.error());
  if (auto r = write_map(*pid, true, gids, timeout); !r) return tl::unexpected(r.error());
  return held;
}

std::string HeldNamespaces::ns_path(std::string_view kind) const {
  return fmt::format("/proc/{}/ns/{}", holder_.pidfd().pid(), kind);
}

}  // namespace ociexec::sys
