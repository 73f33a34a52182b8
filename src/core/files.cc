#include "core/files.h"

#include <cstring>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "core/validate.h"
#include "sys/fs.h"
#include "util/invalid.h"

namespace ociexec::core {

namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kPage = 4096;
constexpr std::size_t kWork = 0;
constexpr const char* kTmp = "/tmp";

// A path of the job: the tree it is in (an index into JobFiles::roots) and its components.
struct JobPath {
  std::size_t root = kWork;
  std::vector<std::string> components;
};

std::string joined(const std::vector<std::string>& components) {
  std::string s;
  for (const auto& c : components) s += (s.empty() ? "" : "/") + c;
  return s;
}

class Planner {
 public:
  Planner(const JobOptions& job, std::uint64_t tmpfs_bytes) : job_(job), tmpfs_bytes_(tmpfs_bytes) {
    files_.roots.push_back(job.workdir);
  }

  Expected<container::JobFiles> plan() && {
    for (const auto& [path, data] : job_.files) {
      auto where = job_path(path, "file");
      if (!where) return tl::unexpected(where.error());
      if (auto r = add(*where, sys::TreeEntry::Kind::kFile, 0644, data, path); !r)
        return tl::unexpected(r.error());
    }
    for (const auto& c : job_.copy_in)
      if (auto r = copy_in(c); !r) return tl::unexpected(r.error());
    if (!job_.copy_out.empty() && (job_.copy_out_file_cap == 0 || job_.copy_out_cap == 0))
      return invalid_argument(
          "copy-out caps: must be above 0, e.g. --copy-out-file-cap 64m --copy-out-cap 256m");
    for (const auto& pattern : job_.copy_out) {
      auto where = job_path(pattern, "copy-out");
      if (!where) return tl::unexpected(where.error());
      files_.copy_out.push_back({where->root, std::move(where->components)});
    }
    files_.file_cap = job_.copy_out_file_cap;
    files_.total_cap = job_.copy_out_cap;
    if (job_.files.empty() && job_.copy_in.empty() && job_.copy_out.empty()) {
      files_.roots.clear();  // nothing to open
      return std::move(files_);
    }
    if (auto r = check_covering_mounts(); !r) return tl::unexpected(r.error());
    return std::move(files_);
  }

 private:
  // Relative to the work dir, or absolute under it or /tmp; never with "..".
  Expected<JobPath> job_path(const std::string& path, std::string_view what) {
    auto bad = [&](std::string_view why) {
      return invalid_argument(fmt::format("{} {:?}: {}", what, path, why));
    };
    if (path.empty()) return bad("empty; name a path relative to the work dir");
    if (path.find('\0') != std::string::npos) return bad("has a NUL byte");
    JobPath out;
    std::string_view rest = path;
    const std::string& work = files_.roots[kWork];
    if (path.front() == '/') {
      if (!is_normalized_absolute(path))
        return bad("must be a normalized path (no \"..\", \".\" or \"//\")");
      if (is_within(path, work)) {
        rest.remove_prefix(std::min(path.size(), work.size() + 1));
      } else if (is_within(path, kTmp)) {
        rest.remove_prefix(std::min(path.size(), std::strlen(kTmp) + 1));
        out.root = tmp_root();
      } else {
        return bad(
            fmt::format("must be relative to the work dir, or under the work dir ({}) or "
                        "/tmp: the job's own tmpfs",
                        work));
      }
    }
    std::size_t start = 0;
    while (start <= rest.size()) {
      auto slash = rest.find('/', start);
      if (slash == std::string_view::npos) slash = rest.size();
      const auto c = rest.substr(start, slash - start);
      if (c == "..") return bad("\"..\" is refused: name a path below the work dir or /tmp");
      if (!c.empty() && c != ".") out.components.emplace_back(c);
      start = slash + 1;
    }
    return out;
  }

  // The trees are the job's own tmpfs mounts: a mount of the job's over one (a host
  // directory, even one on a tmpfs), or over a directory above one, would take its place.
  Expected<void> check_covering_mounts() const {
    for (const auto& m : job_.mounts)
      for (const auto& root : files_.roots) {
        if (is_within(root, m.target))
          return invalid_argument(fmt::format(
              "files, copy-in and copy-out: the mount at {} covers {}, the job's own tmpfs they "
              "use; mount below it (e.g. {}/data), or copy without it",
              m.target, root, root));
      }
    return {};
  }

  std::size_t tmp_root() {
    if (files_.roots.size() < 2) files_.roots.emplace_back(kTmp);
    return 1;
  }

  // An entry at `where`, with the directories above it.
  Expected<void> add(const JobPath& where, sys::TreeEntry::Kind kind, std::uint32_t mode,
                     std::string data, std::string_view named) {
    if (where.components.empty())
      return invalid_argument(fmt::format(
          "{:?}: names the work dir or /tmp itself; name a path below it", std::string(named)));
    for (std::size_t n = 1; n <= where.components.size(); ++n) {
      const std::vector prefix(where.components.begin(),
                               where.components.begin() + static_cast<std::ptrdiff_t>(n));
      const std::string path = joined(prefix);
      const bool leaf = n == where.components.size();
      auto [it, fresh] =
          kinds_.try_emplace({where.root, path}, leaf ? kind : sys::TreeEntry::Kind::kDir);
      if (!fresh && (leaf || it->second != sys::TreeEntry::Kind::kDir))
        return invalid_argument(
            fmt::format("{:?}: {} is given twice (as a file or directory of the copy-in already)",
                        std::string(named), path));
      if (!fresh) continue;
      sys::TreeEntry e;
      e.kind = leaf ? kind : sys::TreeEntry::Kind::kDir;
      e.root = where.root;
      e.path = path;
      e.mode = leaf ? mode : 0755;
      if (leaf) e.data = std::move(data);
      if (e.kind == sys::TreeEntry::Kind::kFile)
        if (auto r = count(where.root, e.data.size(), named); !r) return r;
      files_.copy_in.push_back(std::move(e));
    }
    return {};
  }

  // What a file takes of its tmpfs (whole pages), which must hold them all.
  Expected<void> count(std::size_t root, std::uint64_t bytes, std::string_view named) {
    used_[root] += (bytes + kPage - 1) / kPage * kPage;
    if (used_[root] <= tmpfs_bytes_) return {};
    return invalid_argument(fmt::format(
        "copy-in: the files come to more than the job's {} holds ({}, at {}); raise "
        "--tmpfs-size or copy less",
        root == kWork ? "work dir" : "/tmp", format_bytes(tmpfs_bytes_), std::string(named)));
  }

  // A host file, or a directory with everything below it (symlinks as links).
  Expected<void> copy_in(const CopyIn& c) {
    const std::string src = c.source.string();
    auto bad = [&](std::string_view why) {
      return invalid_argument(fmt::format("copy-in {:?}: {}", src, why));
    };
    if (!c.source.is_absolute()) return bad("must be an absolute host path");
    std::error_code ec;
    const auto top = fs::status(c.source, ec);
    if (ec) return bad(fmt::format("{}; create it or fix the path", ec.message()));
    const std::string target = c.target.empty() ? c.source.filename().string() : c.target;
    auto where = job_path(target, "copy-in target");
    if (!where) return tl::unexpected(where.error());
    if (fs::is_regular_file(top)) return add_file(*where, c.source, src);
    if (!fs::is_directory(top)) return bad("not a regular file or directory");
    if (auto r = add(*where, sys::TreeEntry::Kind::kDir, perm_bits(top.permissions()), {}, src); !r)
      return r;
    fs::recursive_directory_iterator it(c.source, fs::directory_options::none, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      JobPath below = *where;
      for (const auto& part : it->path().lexically_relative(c.source))
        below.components.push_back(part.string());
      const auto st = it->symlink_status(ec);
      if (ec) break;
      const std::string named = it->path().string();
      Expected<void> r;
      if (fs::is_symlink(st)) {
        auto link = fs::read_symlink(it->path(), ec);
        if (ec) break;
        r = add(below, sys::TreeEntry::Kind::kSymlink, 0777, link.string(), named);
      } else if (fs::is_directory(st)) {
        r = add(below, sys::TreeEntry::Kind::kDir, perm_bits(st.permissions()), {}, named);
      } else if (fs::is_regular_file(st)) {
        r = add_file(below, it->path(), named);
      } else {
        return bad(
            fmt::format("{} is not a regular file, directory or symlink; it is not copied", named));
      }
      if (!r) return r;
    }
    if (ec) return bad(fmt::format("{}", ec.message()));
    return {};
  }

  Expected<void> add_file(const JobPath& where, const fs::path& host, const std::string& named) {
    std::error_code ec;
    const auto size = fs::file_size(host, ec);
    if (!ec && used_[where.root] + size > tmpfs_bytes_)  // before reading it all
      return count(where.root, size, named);
    auto data = sys::read_file(host);
    if (!data) return tl::unexpected(data.error().with_context(fmt::format("copy-in {:?}", named)));
    return add(where, sys::TreeEntry::Kind::kFile, perm_bits(fs::status(host, ec).permissions()),
               std::move(*data), named);
  }

  // rwx for each class; never setuid, setgid or sticky; the owner can always read (and
  // enter) what it is given.
  static std::uint32_t perm_bits(fs::perms p) {
    return (static_cast<std::uint32_t>(p) & 0777U) | 0400U;
  }

  const JobOptions& job_;
  std::uint64_t tmpfs_bytes_;
  container::JobFiles files_;
  std::map<std::pair<std::size_t, std::string>, sys::TreeEntry::Kind> kinds_;
  std::map<std::size_t, std::uint64_t> used_;
};

}  // namespace

Expected<container::JobFiles> plan_files(const JobOptions& job, std::uint64_t tmpfs_bytes) {
  return Planner(job, tmpfs_bytes).plan();
}

std::map<std::string, CopiedFile> read_copy_out(const container::JobFiles& files,
                                                const std::vector<sys::UniqueFd>& roots) {
  std::vector<std::vector<sys::TreeFile>> found(roots.size());
  std::uint64_t budget = files.total_cap;
  for (const auto& p : files.copy_out)
    sys::read_tree(roots[p.root].get(), p.components, files.file_cap, budget, found[p.root]);
  std::map<std::string, CopiedFile> out;
  for (std::size_t r = 0; r < found.size(); ++r)
    for (auto& f : found[r]) {
      std::string key = r == kWork ? f.path : files.roots[r] + "/" + f.path;
      out[std::move(key)] = {std::move(f.data), f.truncated, std::move(f.error), f.mode};
    }
  return out;
}

Error copy_in_error(const sys::TreeWriteFailure& f, std::uint64_t tmpfs_bytes) {
  if (f.at_root && f.step == "not a tmpfs")
    return {ErrorKind::kInvalidArgument,
            fmt::format("copy-in: the job's {} is not its own tmpfs (a mount over it?); files "
                        "go only into the work dir or /tmp as ociexec mounts them",
                        f.where)};
  const std::string& where = f.where;
  if (f.err == ENOSPC)
    return {ErrorKind::kInvalidArgument,
            fmt::format("copy-in {:?}: {}: No space left on device (the tmpfs holds {}); raise "
                        "--tmpfs-size or copy less",
                        where, f.step, format_bytes(tmpfs_bytes))};
  return {ErrorKind::kSystem,
          fmt::format("copy-in {:?}: {}: {}", where, f.step, std::strerror(f.err))};
}

}  // namespace ociexec::core
