#include "sys/job_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>

#include "sys/clone_child.h"
#include "sys/confined.h"
#include "sys/process.h"

namespace ociexec::sys {

namespace {

using clone_child::TreeOp;

TreeOp::Kind op_kind(TreeEntry::Kind k) {
  switch (k) {
    case TreeEntry::Kind::kDir: return TreeOp::kDir;
    case TreeEntry::Kind::kSymlink: return TreeOp::kSymlink;
    case TreeEntry::Kind::kFile: break;
  }
  return TreeOp::kFile;
}

// openat2 below `dir`: no symlink (the last component's either: O_PATH gives the link
// itself), no mount crossing, no "..", no magic link.
int open_beneath(int dir, const std::string& rel, int flags) {
  return openat2_retrying(
      dir, rel.empty() ? "." : rel.c_str(), flags | O_NOFOLLOW,
      RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS);
}

std::string joined(const std::string& base, const std::string& name) {
  return base.empty() ? name : base + "/" + name;
}

bool is_glob(const std::string& component) {
  return component.find_first_of("*?[") != std::string::npos;
}

std::string open_problem(int err) {
  switch (err) {
    case ELOOP: return "a symlink, or below one: not followed";
    case EXDEV: return "on another mount: not read";
    case ENOENT: return "no such file or directory";
    default: return std::strerror(err);
  }
}

std::string type_problem(mode_t mode) {
  if (S_ISLNK(mode)) return "a symlink: not followed";
  if (S_ISFIFO(mode)) return "a fifo, not a regular file: not read";
  if (S_ISSOCK(mode)) return "a socket, not a regular file: not read";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device, not a regular file: not read";
  return "not a regular file: not read";
}

// The names in a directory, sorted; none if it cannot be listed.
std::vector<std::string> list_dir(int root_fd, const std::string& rel) {
  std::vector<std::string> names;
  const int fd = open_beneath(root_fd, rel, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return names;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return names;
  }
  while (const dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// madvise(MADV_HUGEPAGE) on the whole pages inside [p, p + size): a hint, and harmless where
// transparent huge pages are off.
void prefer_huge_pages(const char* p, std::size_t size) {
  constexpr std::uintptr_t kHuge = 2U << 20;
  const auto start = (reinterpret_cast<std::uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(p) + size) & ~(kHuge - 1);
  if (end > start) ::madvise(reinterpret_cast<void*>(start), end - start, MADV_HUGEPAGE);
}

struct Reader {
  int root_fd;
  std::uint64_t file_cap;
  std::uint64_t& budget;
  std::vector<TreeFile>& out;
  std::set<std::string> seen;
  std::vector<char> chunk = std::vector<char>(1U << 20);

  void fail(const std::string& rel, std::string error) {
    TreeFile f;
    f.path = rel;
    f.error = std::move(error);
    out.push_back(std::move(f));
  }

  // Whatever `rel` is: a file read, a directory walked, anything else an error.
  void take(const std::string& rel) {
    if (!seen.insert(rel).second) return;
    const int path_fd = open_beneath(root_fd, rel, O_PATH);
    if (path_fd < 0) return fail(rel, open_problem(errno));
    struct stat st {};
    const int rc = ::fstat(path_fd, &st);
    const int err = errno;
    ::close(path_fd);
    if (rc != 0) return fail(rel, std::strerror(err));
    if (S_ISDIR(st.st_mode)) {
      for (const auto& name : list_dir(root_fd, rel)) take(joined(rel, name));
      return;
    }
    if (!S_ISREG(st.st_mode)) return fail(rel, type_problem(st.st_mode));
    read_file(rel);
  }

  void read_file(const std::string& rel) {
    // Non-blocking: even if the file were swapped for a fifo since the check, nothing waits.
    UniqueFd fd(open_beneath(root_fd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY));
    if (!fd) return fail(rel, open_problem(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
      return fail(rel, type_problem(st.st_mode));
    TreeFile f;
    f.path = rel;
    f.mode = st.st_mode & 07777;
    const std::uint64_t keep = std::min(file_cap, budget);
    const auto want = static_cast<std::size_t>(
        std::min<std::uint64_t>(keep, static_cast<std::uint64_t>(st.st_size)));
    // Read through a small buffer and append: the result's memory is written once (a
    // resize would zero it first), and for a large file in huge pages where the kernel
    // gives them on request. First writes to fresh memory are what a copy-out costs most.
    f.data.reserve(want);
    if (want >= (4U << 20)) prefer_huge_pages(f.data.data(), want);
    while (f.data.size() < want) {
      const ssize_t n =
          ::read(fd.get(), chunk.data(), std::min(chunk.size(), want - f.data.size()));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail(rel, std::strerror(errno));
      if (n == 0) break;
      f.data.append(chunk.data(), static_cast<std::size_t>(n));
    }
    char probe;
    f.truncated = f.data.size() == keep && ::read(fd.get(), &probe, 1) > 0;
    budget -= f.data.size();
    out.push_back(std::move(f));
  }

  void match(const std::string& base, const std::vector<std::string>& pattern, std::size_t i) {
    if (i == pattern.size()) return take(base);
    const std::string& c = pattern[i];
    if (!is_glob(c)) return match(joined(base, c), pattern, i + 1);
    for (const auto& name : list_dir(root_fd, base))
      if (::fnmatch(c.c_str(), name.c_str(), FNM_PERIOD) == 0)
        match(joined(base, name), pattern, i + 1);
  }
};

}  // namespace

tl::expected<std::vector<UniqueFd>, TreeWriteFailure> write_tree(const TreeWriteRequest& request) {
  std::vector<const char*> roots;
  for (const auto& r : request.roots) roots.push_back(r.c_str());
  std::vector<TreeOp> ops;
  std::map<std::pair<std::size_t, std::string>, int> dirs;  // (root, path) -> op index
  std::vector<std::string> names;
  names.reserve(request.entries.size());
  for (const auto& e : request.entries) {
    const auto slash = e.path.rfind('/');
    int parent = -1;
    if (slash != std::string::npos) {
      auto it = dirs.find({e.root, e.path.substr(0, slash)});
      if (it == dirs.end())
        return tl::unexpected(TreeWriteFailure{ENOENT, e.path, "no parent directory entry"});
      parent = it->second;
    }
    names.push_back(slash == std::string::npos ? e.path : e.path.substr(slash + 1));
    if (e.kind == TreeEntry::Kind::kDir) dirs[{e.root, e.path}] = static_cast<int>(ops.size());
    ops.push_back({op_kind(e.kind), static_cast<int>(e.root), parent, nullptr, e.mode,
                   e.data.c_str(), e.data.size()});
  }
  for (std::size_t i = 0; i < ops.size(); ++i) ops[i].name = names[i].c_str();
  std::vector<int> root_fds(roots.size(), -1);
  std::vector<int> dir_fds(ops.size(), -1);
  clone_child::TreeWrite w{request.pidfd,
                           request.ns_flags,
                           roots.data(),
                           static_cast<int>(roots.size()),
                           root_fds.data(),
                           ops.data(),
                           static_cast<int>(ops.size()),
                           dir_fds.data(),
                           request.uid,
                           request.gid,
                           request.require_tmpfs};
  auto pid = clone_vfork(clone_child::write_tree, &w, CLONE_FILES);
  if (!pid) return tl::unexpected(TreeWriteFailure{ENOMEM, "", "clone", true});
  ::waitpid(*pid, nullptr, __WALL);
  std::vector<UniqueFd> fds;
  for (int fd : root_fds) fds.emplace_back(fd);
  if (w.err == 0) return fds;
  TreeWriteFailure f;
  f.err = w.err;
  f.step = w.step;
  f.at_root = w.failed_op < 0;
  if (f.at_root && w.failed_op <= -1 && -1 - w.failed_op < static_cast<int>(roots.size()))
    f.where = request.roots[static_cast<std::size_t>(-1 - w.failed_op)];
  else if (!f.at_root)
    f.where = fmt::format(
        "{}/{}", request.roots[request.entries[static_cast<std::size_t>(w.failed_op)].root],
        request.entries[static_cast<std::size_t>(w.failed_op)].path);
  if (f.at_root && w.err == ENOTSUP) f.step = "not a tmpfs";
  return tl::unexpected(f);
}

void read_tree(int root_fd, const std::vector<std::string>& pattern, std::uint64_t file_cap,
               std::uint64_t& budget, std::vector<TreeFile>& out) {
  Reader r{root_fd, file_cap, budget, out, {}};
  for (const auto& f : out) r.seen.insert(f.path);
  r.match("", pattern, 0);
}

}  // namespace ociexec::sys
