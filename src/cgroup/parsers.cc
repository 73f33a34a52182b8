#include "cgroup/parsers.h"

#include "util/text.h"

#include <charconv>
#include <sstream>

namespace ociexec::cgroup {

namespace {

std::optional<std::uint64_t> to_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

const Hierarchy* Layout::find_v1(std::string_view controller) const {
  for (const auto& h : hierarchies) {
    if (h.v2) continue;
    for (const auto& c : h.controllers)
      if (c == controller) return &h;
  }
  return nullptr;
}

const Hierarchy* Layout::find_v2() const {
  for (const auto& h : hierarchies)
    if (h.v2) return &h;
  return nullptr;
}

Layout layout_from_mounts(const std::vector<sys::MountInfo>& mounts,
                          std::string_view unified_controllers_text) {
  Layout layout;
  bool any_v1 = false;
  bool any_v2 = false;
  for (const auto& m : mounts) {
    if (m.fs_type != "cgroup" && m.fs_type != "cgroup2") continue;
    Hierarchy h;
    h.mount_point = m.mount_point;
    h.v2 = m.fs_type == "cgroup2";
    if (!h.v2) {
      std::stringstream ss(m.super_options);
      std::string opt;
      while (std::getline(ss, opt, ',')) {
        if (opt == "rw" || opt == "ro" || opt == "clone_children" || opt == "nsdelegate" ||
            opt.rfind("release_agent=", 0) == 0 || opt == "noprefix" || opt == "xattr")
          continue;
        h.controllers.push_back(opt);
      }
    }
    (h.v2 ? any_v2 : any_v1) = true;
    layout.hierarchies.push_back(std::move(h));
  }
  layout.mode = any_v1 ? (any_v2 ? Mode::kHybrid : Mode::kV1) : Mode::kV2;
  if (any_v2) layout.unified_controllers = text::words(unified_controllers_text);
  return layout;
}

std::string_view to_string(Mode mode) noexcept {
  switch (mode) {
    case Mode::kV1: return "v1";
    case Mode::kHybrid: return "hybrid";
    case Mode::kV2: return "v2";
  }
  return "unknown";
}

std::optional<std::uint64_t> parse_single_value(std::string_view text) {
  return to_u64(text::trim(text));
}

std::optional<std::uint64_t> parse_keyed_value(std::string_view text, std::string_view key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text::trim(text.substr(pos, end - pos));
    pos = end + 1;
    auto space = line.find(' ');
    if (space == std::string_view::npos) continue;
    if (line.substr(0, space) == key) return to_u64(text::trim(line.substr(space + 1)));
  }
  return std::nullopt;
}

std::vector<int> parse_pid_list(std::string_view text) {
  std::vector<int> pids;
  for (const auto& w : text::words(text)) {
    int v = 0;
    auto [p, ec] = std::from_chars(w.data(), w.data() + w.size(), v);
    if (ec == std::errc{} && p == w.data() + w.size() && v > 0) pids.push_back(v);
  }
  return pids;
}

}  // namespace ociexec::cgroup
