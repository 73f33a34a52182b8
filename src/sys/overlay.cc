#include "sys/overlay.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sched.h>

#include <cerrno>
#include <functional>
#include <thread>

#include <fmt/format.h>

#include "sys/unique_fd.h"

namespace ociexec::sys {

namespace {

// The kernel takes one page of mount options.
constexpr std::size_t kMaxOptions = 4095;

// Runs `fn` in mount namespace `ns_fd` (-1: here). A thread may join another mount namespace
// once it stops sharing its file-system context (CLONE_FS) with the others.
Expected<void> in_mount_ns(int ns_fd, const std::function<Expected<void>()>& fn) {
  if (ns_fd < 0) return fn();
  Expected<void> result;
  std::thread t([&] {
    if (::unshare(CLONE_FS) != 0 || ::setns(ns_fd, CLONE_NEWNS) != 0) {
      result = tl::unexpected(errno_error("join the runtime's mount namespace", errno));
      return;
    }
    result = fn();
  });
  t.join();
  return result;
}

Expected<void> mount_here(const std::filesystem::path& rw_dir, const std::filesystem::path& target,
                          const std::vector<std::string>& lowers, std::uint64_t tmpfs_bytes) {
  std::string lower;
  for (const auto& l : lowers) {
    if (l.find_first_of(":,") != std::string::npos)
      return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                  fmt::format("overlay: layer path {:?} holds ':' or ','; move "
                                              "the image store",
                                              l)});
    lower += (lower.empty() ? "" : ":") + l;
  }
  const std::string upper = (rw_dir / "upper").string();
  const std::string work = (rw_dir / "work").string();
  const std::string options =
      fmt::format("lowerdir={},upperdir={},workdir={}", lower, upper, work);
  if (options.size() > kMaxOptions)
    return tl::unexpected(Error{ErrorKind::kImage,
                                fmt::format("overlay: {} layers are more than one mount takes "
                                            "here; use a store with a shorter path",
                                            lowers.size())});
  const std::string size = fmt::format("size={},mode=0755", std::max<std::uint64_t>(tmpfs_bytes, 1 << 20));
  if (::mount("tmpfs", rw_dir.c_str(), "tmpfs", MS_NODEV | MS_NOSUID, size.c_str()) != 0)
    return tl::unexpected(errno_error(fmt::format("mount tmpfs on {}", rw_dir.string()), errno));
  if (::mkdir(upper.c_str(), 0755) != 0 || ::mkdir(work.c_str(), 0700) != 0) {
    const int err = errno;
    ::umount2(rw_dir.c_str(), MNT_DETACH);
    return tl::unexpected(errno_error("overlay upper dir", err));
  }
  if (::mount("overlay", target.c_str(), "overlay", MS_NODEV | MS_NOSUID, options.c_str()) != 0) {
    const int err = errno;
    ::umount2(rw_dir.c_str(), MNT_DETACH);
    return tl::unexpected(errno_error(fmt::format("mount overlay on {}", target.string()), err));
  }
  return {};
}

}  // namespace

Expected<void> mount_overlay_root(const std::filesystem::path& rw_dir,
                                  const std::filesystem::path& target,
                                  const std::vector<std::string>& lowers,
                                  std::uint64_t tmpfs_bytes, int mount_ns_fd) {
  return in_mount_ns(mount_ns_fd, [&] { return mount_here(rw_dir, target, lowers, tmpfs_bytes); });
}

Expected<void> unmount_overlay_root(const std::filesystem::path& rw_dir,
                                    const std::filesystem::path& target, int mount_ns_fd) {
  return in_mount_ns(mount_ns_fd, [&]() -> Expected<void> {
    Expected<void> result;
    for (const auto& p : {target, rw_dir}) {
      if (::umount2(p.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT && result)
        result = tl::unexpected(errno_error(fmt::format("unmount {}", p.string()), errno));
    }
    return result;
  });
}

}  // namespace ociexec::sys
