#include "image/rootfs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>
#include <fmt/std.h>

#include <fcntl.h>

#include "sys/confined.h"
#include "sys/fs.h"
#include "sys/proc.h"
#include "sys/unique_fd.h"

namespace ociexec::image {

namespace fs = std::filesystem;

namespace {

constexpr const char* kHostViewDir = "hostview-4";
// Top-level host directories that make up the view; each is mirrored as a symlink when it
// is one on the host (merged /usr), bound read-only when it is a real directory.
constexpr const char* kHostDirs[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};
// Mount points the skeleton must already hold: its root is read-only for the runtime too.
// /mnt, /srv and /data are free for a job's own mounts (-v), which cannot make one there.
constexpr const char* kMountPoints[] = {"usr", "etc", "tmp",      "work", "proc", "dev",
                                        "sys", "mnt", ".ociexec", "srv",  "data"};

std::string read_link(const fs::path& p) {
  std::error_code ec;
  auto target = fs::read_symlink(p, ec);
  return ec ? std::string() : target.string();
}

Expected<void> copy_alternatives(const fs::path& etc) {
  // Debian's /etc/alternatives holds only symlinks (awk -> /usr/bin/mawk); without them many
  // /usr/bin entries dangle.
  std::error_code ec;
  fs::directory_iterator it("/etc/alternatives", ec);
  if (ec) return {};
  if (auto r = sys::make_dir(etc / "alternatives", 0755, true); !r) return r;
  for (const auto& entry : it) {
    if (!entry.is_symlink(ec)) continue;
    auto target = read_link(entry.path());
    if (target.empty()) continue;
    fs::create_symlink(target, etc / "alternatives" / entry.path().filename(), ec);
  }
  return {};
}

Expected<void> build_skeleton(const fs::path& dir) {
  const fs::path root = dir / "rootfs";
  const fs::path etc = dir / "etc";
  for (const auto& d : {dir, root, etc})
    if (auto r = sys::make_dir(d, 0755, false); !r) return r;
  // runc gives a tmpfs the mode of the directory it covers, whatever mode= says: /tmp must be
  // 1777 here, or runc's jobs get a /tmp only root may write (hostview-3's was 0755).
  for (const char* m : kMountPoints)
    if (auto r = sys::make_dir(root / m, std::string_view(m) == "tmp" ? 01777 : 0755, false); !r)
      return r;
  for (const char* name : kHostDirs) {
    fs::path host = fs::path("/") / name;
    std::error_code ec;
    auto st = fs::symlink_status(host, ec);
    if (ec || !fs::exists(st)) continue;
    if (fs::is_symlink(st)) {
      fs::create_symlink(read_link(host), root / name, ec);
      if (ec)
        return tl::unexpected(
            Error{ErrorKind::kSystem, fmt::format("symlink {}: {}", root / name, ec.message())});
    } else if (fs::is_directory(st)) {
      if (auto r = sys::make_dir(root / name, 0755, false); !r) return r;
    }
  }
  for (const auto& [name, content] : synthetic_etc_files())
    if (auto r = sys::write_new_file(etc / name, content, 0644); !r) return r;
  // The loader cache lists library directories (no secrets); without it binaries that use
  // multiarch library paths may not start.
  if (auto cache = sys::read_file("/etc/ld.so.cache"))
    if (auto r = sys::write_new_file(etc / "ld.so.cache", *cache, 0644); !r) return r;
  return copy_alternatives(etc);
}

std::vector<spec::BindMount> host_view_binds(const fs::path& dir) {
  std::vector<spec::BindMount> binds{{"/usr", "/usr"}, {(dir / "etc").string(), "/etc"}};
  for (const char* name : kHostDirs) {
    fs::path host = fs::path("/") / name;
    std::error_code ec;
    auto st = fs::symlink_status(host, ec);
    if (!ec && fs::is_directory(st) && !fs::is_symlink(st))
      binds.push_back({host.string(), host.string()});
  }
  return binds;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> synthetic_etc_files() {
  return {
      {"passwd",
       "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/work:/usr/sbin/nologin\n"},
      {"group", "root:x:0:\nnogroup:x:65534:\n"},
      {"hostname", "ociexec\n"},
      {"hosts", "127.0.0.1\tlocalhost ociexec\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
      {"nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n"},
      {"resolv.conf", ""},
  };
}

std::string directory_identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "dir " + path;
  return fmt::format("dir {} {}:{}", path, st.st_dev, st.st_ino);
}

Expected<RootfsPlan> host_view(const fs::path& cache_dir) {
  const fs::path dir = cache_dir / kHostViewDir;
  struct stat st {};
  if (::stat((dir / "rootfs").c_str(), &st) != 0) {
    // Build beside it and rename into place, so concurrent executors never see half a tree.
    static std::atomic<unsigned> counter{0};
    fs::path tmp = cache_dir / fmt::format(".{}.tmp-{}-{}", kHostViewDir, ::getpid(), counter++);
    auto built = build_skeleton(tmp);
    if (built && ::rename(tmp.c_str(), dir.c_str()) != 0 && errno != EEXIST && errno != ENOTEMPTY)
      built = tl::unexpected(sys::errno_error(fmt::format("rename {}", dir), errno));
    (void)sys::remove_tree(tmp);
    if (!built) return tl::unexpected(built.error().with_context("build host view rootfs"));
  }
  RootfsPlan plan;
  plan.root_path = (dir / "rootfs").string();
  plan.identity = directory_identity(plan.root_path);
  plan.readonly_binds = host_view_binds(dir);
  return plan;
}

void remove_stale_host_views(const fs::path& dir, bool keep_current) noexcept {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    bool stale = name.rfind("hostview-", 0) == 0 && (name != kHostViewDir || !keep_current);
    // ".hostview-N.tmp-<pid>-<seq>": left by a builder that died before its rename.
    const auto tmp = name.find(".tmp-");
    if (name.rfind(".hostview-", 0) == 0 && tmp != std::string::npos) {
      const pid_t pid = static_cast<pid_t>(std::strtol(name.c_str() + tmp + 5, nullptr, 10));
      stale = pid > 0 && !sys::process_start_time(pid);
    }
    if (stale) (void)sys::remove_tree(entry.path());
  }
}

namespace {

// `rel` under `root`, resolved inside it; nullopt when missing, a whiteout, or too large.
std::optional<std::string> read_inside(const std::string& root, const std::vector<std::string>& rel,
                                       bool* whiteout) {
  sys::UniqueFd dir(::open(root.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!dir) return std::nullopt;
  auto fd = sys::open_in_root(dir.get(), rel, rel.size(), O_RDONLY | O_NONBLOCK);
  if (!fd) return std::nullopt;
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return std::nullopt;
  if (S_ISCHR(st.st_mode) && st.st_rdev == 0 && whiteout) *whiteout = true;
  if (!S_ISREG(st.st_mode) || st.st_size > (1 << 20)) return std::nullopt;
  auto text = sys::read_all(fd->get());
  return text ? std::optional<std::string>(std::move(*text)) : std::nullopt;
}

}  // namespace

std::optional<std::string> read_etc_file(const RootfsPlan& plan, const std::string& name) {
  for (const auto& b : plan.readonly_binds)
    if (b.destination == "/etc") return read_inside(b.source, {name}, nullptr);
  if (plan.layers.empty()) return read_inside(plan.root_path, {"etc", name}, nullptr);
  for (const auto& layer : plan.layers) {
    bool whiteout = false;
    auto text = read_inside(layer, {"etc", name}, &whiteout);
    if (text || whiteout) return text;
  }
  return std::nullopt;
}

Expected<RootfsPlan> prepared_rootfs(const fs::path& dir) {
  std::error_code ec;
  auto canonical = fs::canonical(dir, ec);
  if (ec || !fs::is_directory(canonical, ec))
    return tl::unexpected(
        Error{ErrorKind::kRootfsNotFound,
              fmt::format("rootfs {}: not a directory; give a prepared root "
                          "file system directory, or none for the built-in host view",
                          dir)});
  RootfsPlan plan;
  plan.root_path = canonical.string();
  plan.identity = directory_identity(plan.root_path);
  return plan;
}

}  // namespace ociexec::image
