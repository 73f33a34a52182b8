#include "sys/proc.h"

#include <dirent.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "sys/fs.h"

namespace ociexec::sys {

namespace {

// Fields after the ")" that closes the command name, which may itself hold spaces and ')'.
std::vector<std::string_view> stat_fields_after_comm(std::string_view text) {
  std::vector<std::string_view> fields;
  auto close = text.rfind(')');
  if (close == std::string_view::npos) return fields;
  std::string_view rest = text.substr(close + 1);
  std::size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\n')) ++i;
    std::size_t j = i;
    while (j < rest.size() && rest[j] != ' ' && rest[j] != '\n') ++j;
    if (j > i) fields.push_back(rest.substr(i, j - i));
    i = j;
  }
  return fields;
}

template <typename T>
std::optional<T> to_number(std::string_view s) {
  T value{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return value;
}

std::string unescape_octal(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (std::size_t k = 1; k <= 3; ++k) {
        char c = s[i + k];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

std::optional<std::uint64_t> parse_stat_start_time(std::string_view stat_text) {
  auto f = stat_fields_after_comm(stat_text);
  // Field 3 (state) is f[0]; field 22 (starttime) is f[19].
  if (f.size() < 20) return std::nullopt;
  return to_number<std::uint64_t>(f[19]);
}

std::optional<pid_t> parse_stat_ppid(std::string_view stat_text) {
  auto f = stat_fields_after_comm(stat_text);
  if (f.size() < 2) return std::nullopt;
  return to_number<pid_t>(f[1]);
}

std::optional<std::uint64_t> process_start_time(pid_t pid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  return parse_stat_start_time(*text);
}

bool process_alive(pid_t pid, std::uint64_t start_time) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return false;
  auto f = stat_fields_after_comm(*text);
  if (f.size() < 20 || f[0] == "Z" || f[0] == "X") return false;
  return to_number<std::uint64_t>(f[19]) == start_time;
}

std::vector<ProcessInfo> list_processes() {
  std::vector<ProcessInfo> out;
  DIR* dir = ::opendir("/proc");
  if (!dir) return out;
  while (auto* e = ::readdir(dir)) {
    auto pid = to_number<pid_t>(e->d_name);
    if (!pid) continue;
    auto text = read_file(std::string("/proc/") + e->d_name + "/stat");
    if (!text) continue;
    auto f = stat_fields_after_comm(*text);
    if (f.size() < 2) continue;
    auto ppid = to_number<pid_t>(f[1]);
    if (!ppid) continue;
    out.push_back({*pid, *ppid, f[0] == "Z"});
  }
  ::closedir(dir);
  return out;
}

std::vector<ChildInfo> children_of(pid_t parent) {
  std::vector<ChildInfo> out;
  for (const auto& p : list_processes())
    if (p.ppid == parent) out.push_back({p.pid, p.zombie});
  return out;
}

std::size_t open_fd_count() {
  std::size_t n = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return 0;
  while (auto* e = ::readdir(dir))
    if (e->d_name[0] != '.') ++n;
  ::closedir(dir);
  return n > 0 ? n - 1 : 0;  // minus the fd of the directory stream itself
}

std::vector<MountInfo> parse_mountinfo(std::string_view text) {
  std::vector<MountInfo> mounts;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<std::string> fields;
    std::string f;
    while (ls >> f) fields.push_back(f);
    // Six fixed fields, optional ones, "-", then fs type, source, super options.
    if (fields.size() < 10) continue;
    auto sep = std::find(fields.begin() + 6, fields.end(), "-");
    if (fields.end() - sep < 4) continue;
    MountInfo m;
    m.root = unescape_octal(fields[3]);
    m.mount_point = unescape_octal(fields[4]);
    m.fs_type = *(sep + 1);
    m.super_options = *(sep + 3);
    mounts.push_back(std::move(m));
  }
  return mounts;
}

std::vector<std::string> mount_points_below(const std::vector<MountInfo>& mounts,
                                            const std::string& prefix) {
  std::vector<std::string> out;
  std::string dir = prefix;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  for (const auto& m : mounts) {
    if (m.mount_point == dir ||
        (m.mount_point.size() > dir.size() && m.mount_point.compare(0, dir.size(), dir) == 0 &&
         m.mount_point[dir.size()] == '/'))
      out.push_back(m.mount_point);
  }
  return out;
}

}  // namespace ociexec::sys
