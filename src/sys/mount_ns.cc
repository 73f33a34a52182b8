#include "sys/mount_ns.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "sys/clone_child.h"
#include "sys/fs.h"
#include "sys/proc.h"
#include "sys/process.h"

namespace ociexec::sys {

Expected<UniqueFd> mount_namespace_without(const std::string& hidden) {
  clone_child::NamespaceSetup setup{hidden.c_str()};
  auto pid = clone_vfork(clone_child::make_namespace, &setup, CLONE_FILES);
  if (!pid) return tl::unexpected(pid.error().with_context("mount namespace"));
  ::waitpid(*pid, nullptr, __WALL);
  UniqueFd fd(setup.ns_fd);
  if (setup.err != 0)
    return tl::unexpected(errno_error(
        fmt::format("mount namespace without {}: {}", hidden, setup.step), setup.err));
  return fd;
}

Expected<MountTableWatch> MountTableWatch::open(std::vector<std::string> ignored) {
  UniqueFd fd(::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
  if (!fd) return tl::unexpected(errno_error("open /proc/self/mountinfo", errno));
  MountTableWatch watch(std::move(fd), std::move(ignored));
  watch.seen_ = watch.table();
  return watch;
}

bool MountTableWatch::changed() {
  pollfd p{fd_.get(), POLLPRI, 0};
  if (::poll(&p, 1, 0) <= 0 || !(p.revents & (POLLPRI | POLLERR))) return false;
  std::string now = table();
  if (now == seen_) return false;
  seen_ = std::move(now);
  return true;
}

// The table's lines but those of mounts at or below an ignored dir. Each line holds the
// mount's id, so a file system mounted again in the same place differs too.
std::string MountTableWatch::table() const {
  const auto text = read_file("/proc/self/mountinfo");
  if (!text) return {};
  std::string kept;
  std::string_view rest = *text;
  while (!rest.empty()) {
    const auto end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    const auto mounts = parse_mountinfo(line);
    const bool ignored = std::any_of(ignored_.begin(), ignored_.end(), [&](const auto& dir) {
      return !mount_points_below(mounts, dir).empty();
    });
    if (!ignored) kept.append(line).push_back('\n');
  }
  return kept;
}

Expected<void> try_overlay_in_user_namespace(const std::string& scratch) {
  char tmpl[4096];
  const std::string pattern = scratch + "/overlay-probe-XXXXXX";
  if (pattern.size() >= sizeof tmpl)
    return tl::unexpected(Error{ErrorKind::kInvalidArgument, "overlay probe: path too long"});
  std::copy(pattern.begin(), pattern.end(), tmpl);
  tmpl[pattern.size()] = '\0';
  if (!::mkdtemp(tmpl)) return tl::unexpected(errno_error("overlay probe: mkdtemp", errno));
  const std::string dir = tmpl;
  for (const char* sub : {"/lower", "/upper", "/work", "/merged"})
    if (::mkdir((dir + sub).c_str(), 0700) != 0) {
      (void)remove_tree(dir);
      return tl::unexpected(errno_error("overlay probe: mkdir", errno));
    }
  const std::string uid_map = fmt::format("0 {} 1", ::geteuid());
  const std::string gid_map = fmt::format("0 {} 1", ::getegid());
  const std::string options = fmt::format("lowerdir={0}/lower,upperdir={0}/upper,workdir={0}/work,userxattr", dir);
  const std::string merged = dir + "/merged";
  // The child reports the failed step's errno (or 0) through a pipe.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return tl::unexpected(errno_error("overlay probe: pipe", errno));
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    int step = 0, err = 0;
    auto write_file = [](const char* path, const std::string& text) {
      const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
      const bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) ==
                                     static_cast<ssize_t>(text.size());
      if (fd >= 0) ::close(fd);
      return ok;
    };
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) step = 1;
    else if (!write_file("/proc/self/uid_map", uid_map) ||
             !write_file("/proc/self/setgroups", "deny") ||
             !write_file("/proc/self/gid_map", gid_map)) step = 2;
    else if (::mount("overlay", merged.c_str(), "overlay", 0, options.c_str()) != 0) step = 3;
    if (step) err = errno;
    const int report[2] = {step, err};
    (void)!::write(fds[1], report, sizeof report);
    ::_exit(0);
  }
  ::close(fds[1]);
  int report[2] = {0, 0};
  const bool got = pid > 0 && ::read(fds[0], report, sizeof report) == sizeof report;
  ::close(fds[0]);
  if (pid > 0) ::waitpid(pid, nullptr, 0);
  ::chmod((dir + "/work/work").c_str(), 0700);  // overlay makes it mode 000
  (void)remove_tree(dir);
  if (pid < 0) return tl::unexpected(errno_error("overlay probe: fork", errno));
  if (!got) return tl::unexpected(Error{ErrorKind::kSystem, "overlay probe: no report"});
  static const char* const kSteps[] = {"", "unshare a user namespace", "write the id maps",
                                       "mount overlay with userxattr"};
  if (report[0] != 0)
    return tl::unexpected(errno_error(kSteps[report[0]], report[1]));
  return {};
}

}  // namespace ociexec::sys
