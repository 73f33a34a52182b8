#include "cgroup/parsers.h"

#include "util/text.h"

#include <algorithm>
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

std::optional<std::vector<unsigned>> parse_cpu_list(std::string_view text) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  std::vector<bool> seen;
  for (std::size_t start = 0; start <= text.size();) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view part = text.substr(start, comma - start);
    start = comma + 1;
    const auto dash = part.find('-');
    auto first = to_u64(part.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : to_u64(part.substr(dash + 1));
    if (!first || !last || *first > *last || *last > kMaxCpu) return std::nullopt;
    if (seen.size() <= *last) seen.resize(*last + 1);
    for (auto cpu = *first; cpu <= *last; ++cpu) seen[cpu] = true;
  }
  std::vector<unsigned> cpus;
  for (unsigned cpu = 0; cpu < seen.size(); ++cpu)
    if (seen[cpu]) cpus.push_back(cpu);
  if (cpus.empty()) return std::nullopt;
  return cpus;
}

std::string format_cpu_list(const std::vector<unsigned>& cpus) {
  std::string out;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace ociexec::cgroup
