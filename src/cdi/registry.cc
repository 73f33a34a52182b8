#include "cdi/registry.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sys/fs.h"

namespace ociexec::cdi {

namespace fs = std::filesystem;

namespace {

constexpr off_t kMaxSpecBytes = 4 << 20;

bool is_spec_name(const fs::path& p) {
  const auto ext = p.extension().string();
  return ext == ".json" || ext == ".yaml" || ext == ".yml";
}

// Empty if root or the caller owns `st`'s file and nobody else may write it; else why not.
std::string trust_problem(const struct stat& st, const std::string& what) {
  if (st.st_uid != 0 && st.st_uid != ::getuid())
    return fmt::format(
        "{} is owned by uid {}, neither root nor this user, and its hooks would run "
        "with the runtime's privileges; chown it to root",
        what, st.st_uid);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return fmt::format(
        "{} may be written by others (mode {:04o}), and its hooks would run with "
        "the runtime's privileges; chmod go-w it",
        what, st.st_mode & 07777);
  return {};
}

// The spec at `path`, read if it is a regular file that may be trusted.
Expected<SpecFile> read_spec_file(const fs::path& path) {
  auto problem = [&path](const std::string& message) {
    return tl::unexpected(
        Error{ErrorKind::kInvalidArgument, fmt::format("CDI spec {}: {}", path.string(), message)});
  };
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return problem(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return problem("not a regular file");
  if (st.st_size > kMaxSpecBytes) return problem("larger than 4 MiB");
  if (auto why = trust_problem(st, "the file"); !why.empty()) return problem(why);
  auto text = sys::read_file(path);
  if (!text) return problem(text.error().message);
  return parse_spec(*text, path.string());
}

}  // namespace

Registry Registry::scan(const std::vector<fs::path>& dirs) {
  Registry r;
  r.dirs_ = dirs;
  for (std::size_t priority = 0; priority < dirs.size(); ++priority) {
    const auto& dir = dirs[priority];
    std::error_code ec;
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) continue;  // a missing dir: no specs there
    if (auto why = trust_problem(st, "the directory"); !why.empty()) {
      r.problems_.push_back(fmt::format("CDI spec dir {}: {}", dir.string(), why));
      continue;
    }
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (is_spec_name(e.path())) files.push_back(e.path());
    if (ec) {
      r.problems_.push_back(fmt::format("CDI spec dir {}: {}", dir.string(), ec.message()));
      continue;
    }
    std::sort(files.begin(), files.end());
    std::map<std::string, std::string> defined_here;  // name -> the file, in this dir
    for (const auto& file : files) {
      auto spec = read_spec_file(file);
      if (!spec) {
        r.problems_.push_back(spec.error().message);
        continue;
      }
      const std::size_t index = r.specs_.size();
      r.specs_.push_back(std::move(*spec));
      const auto& s = r.specs_.back();
      for (std::size_t d = 0; d < s.devices.size(); ++d) {
        const auto name = s.kind + "=" + s.devices[d].name;
        if (auto other = defined_here.find(name); other != defined_here.end()) {
          r.conflicts_[name] = fmt::format("defined in both {} and {}", other->second, s.path);
          continue;
        }
        defined_here[name] = s.path;
        r.conflicts_.erase(name);  // a later dir overrides an earlier one, conflicts included
        r.devices_[name] = Entry{index, d, priority};
      }
    }
  }
  return r;
}

std::string Registry::dirs_text() const {
  std::vector<std::string> dirs;
  for (const auto& d : dirs_) dirs.push_back(d.string());
  return dirs.empty() ? std::string("no spec dirs") : fmt::format("{}", fmt::join(dirs, ", "));
}

Expected<Edits> Registry::resolve(const std::vector<std::string>& names) const {
  Edits edits;
  std::set<std::size_t> specs_applied;
  std::set<std::string> seen;
  for (const auto& name : names) {
    auto q = parse_qualified_name(name);
    if (!q) return tl::unexpected(q.error());
    if (!seen.insert(name).second) continue;  // asked twice: given once
    auto fail = [&](const std::string& why) {
      std::string message = fmt::format("CDI device {}: {}", name, why);
      for (const auto& p : problems_) message += fmt::format("; also {}", p);
      return tl::unexpected(Error{ErrorKind::kInvalidArgument, std::move(message)});
    };
    if (auto c = conflicts_.find(name); c != conflicts_.end())
      return fail(fmt::format("conflicting definitions ({}); remove one of them", c->second));
    auto it = devices_.find(name);
    if (it == devices_.end()) {
      auto known = names_of_kind(q->kind());
      if (known.empty())
        return fail(
            fmt::format("no CDI spec in {} defines kind {}; install the vendor's spec "
                        "(for NVIDIA: nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml) "
                        "or set cdi_spec_dirs",
                        dirs_text(), q->kind()));
      return fail(fmt::format("not found; {} has {}", q->kind(), fmt::join(known, ", ")));
    }
    const auto& e = it->second;
    if (specs_applied.insert(e.spec).second) edits.append(specs_[e.spec].edits);
    edits.append(specs_[e.spec].devices[e.device].edits);
  }
  return edits;
}

std::vector<std::string> Registry::device_names() const {
  std::vector<std::string> names;
  for (const auto& [name, _] : devices_)
    if (!conflicts_.count(name)) names.push_back(name);
  return names;
}

std::vector<std::string> Registry::names_of_kind(const std::string& kind) const {
  std::vector<std::string> names;
  for (const auto& [name, entry] : devices_)
    if (specs_[entry.spec].kind == kind)
      names.push_back(specs_[entry.spec].devices[entry.device].name);
  return names;
}

std::vector<std::string> Registry::problems() const {
  std::vector<std::string> out = problems_;
  for (const auto& [name, why] : conflicts_)
    out.push_back(fmt::format("CDI device {}: conflicting definitions ({})", name, why));
  return out;
}

}  // namespace ociexec::cdi
