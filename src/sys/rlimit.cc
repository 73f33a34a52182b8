#include "sys/rlimit.h"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <utility>

#include "sys/fs.h"
#include "util/text.h"

namespace ociexec::sys {

namespace {

constexpr std::array<std::pair<std::string_view, int>, 16> kRlimits{{
    {"as", RLIMIT_AS},
    {"core", RLIMIT_CORE},
    {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},
    {"fsize", RLIMIT_FSIZE},
    {"locks", RLIMIT_LOCKS},
    {"memlock", RLIMIT_MEMLOCK},
    {"msgqueue", RLIMIT_MSGQUEUE},
    {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE},
    {"nproc", RLIMIT_NPROC},
    {"rss", RLIMIT_RSS},
    {"rtprio", RLIMIT_RTPRIO},
    {"rttime", RLIMIT_RTTIME},
    {"sigpending", RLIMIT_SIGPENDING},
    {"stack", RLIMIT_STACK},
}};

std::optional<int> resource_of(std::string_view name) {
  for (const auto& [n, resource] : kRlimits)
    if (n == name) return resource;
  return std::nullopt;
}

constexpr int kCapSysResource = 24;

}  // namespace

const std::vector<std::string_view>& rlimit_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (const auto& [n, resource] : kRlimits) v.push_back(n);
    return v;
  }();
  return names;
}

std::optional<std::string> rlimit_type(std::string_view name) {
  if (!resource_of(name)) return std::nullopt;
  std::string type = "RLIMIT_";
  for (char c : name) type += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return type;
}

std::optional<std::uint64_t> hard_rlimit(std::string_view name) {
  const auto resource = resource_of(name);
  if (!resource) return std::nullopt;
  rlimit limit{};
  if (::getrlimit(*resource, &limit) != 0 || limit.rlim_max == RLIM_INFINITY) return UINT64_MAX;
  return limit.rlim_max;
}

bool can_raise_rlimits() {
  // CapEff in /proc/self/status: a hex mask of the effective capabilities.
  auto status = read_file("/proc/self/status");
  if (!status) return false;
  const auto at = status->find("\nCapEff:");
  if (at == std::string::npos) return false;
  const auto line = text::trim(std::string_view(*status).substr(at + 8, 20));
  std::uint64_t mask = 0;
  if (std::from_chars(line.data(), line.data() + line.size(), mask, 16).ec != std::errc{})
    return false;
  return (mask >> kCapSysResource) & 1U;
}

}  // namespace ociexec::sys
