#include "config/units.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ociexec/options.h"
#include "sys/fs.h"
#include "sys/rlimit.h"
#include "util/invalid.h"
#include "util/text.h"

namespace ociexec::config {

namespace {

// A non-negative decimal number at the start of `s`; sets `rest` to what follows.
std::optional<double> leading_number(std::string_view s, std::string_view& rest) {
  std::size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  double value = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + i, value);
  if (ec != std::errc{} || p != s.data() + i || !std::isfinite(value)) return std::nullopt;
  rest = s.substr(i);
  return value;
}

}  // namespace

bool is_unlimited(std::string_view text) {
  auto t = text::trim(text);
  return t == "unlimited" || t == "none" || t == "-1";
}

Expected<std::uint64_t> parse_size(std::string_view text) {
  auto t = text::trim(text);
  std::string_view unit;
  auto value = leading_number(t, unit);
  std::uint64_t mult = 0;
  std::string u;
  for (char c : unit) u += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (u.empty() || u == "b")
    mult = 1;
  else if (u == "k" || u == "kb" || u == "kib")
    mult = 1ULL << 10;
  else if (u == "m" || u == "mb" || u == "mib")
    mult = 1ULL << 20;
  else if (u == "g" || u == "gb" || u == "gib")
    mult = 1ULL << 30;
  else if (u == "t" || u == "tb" || u == "tib")
    mult = 1ULL << 40;
  if (!value || mult == 0)
    return invalid_argument(
        fmt::format("invalid size {:?}: expected a number with an optional unit b, k, m, "
                    "g or t (e.g. 256m)",
                    text));
  double bytes = *value * static_cast<double>(mult);
  if (bytes >= static_cast<double>(std::numeric_limits<std::int64_t>::max()))
    return invalid_argument(fmt::format("invalid size {:?}: too large", text));
  return static_cast<std::uint64_t>(std::llround(bytes));
}

Expected<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto t = text::trim(text);
  std::string_view unit;
  auto value = leading_number(t, unit);
  double ms_per_unit = 0;
  if (unit.empty() || unit == "s")
    ms_per_unit = 1000;
  else if (unit == "ms")
    ms_per_unit = 1;
  else if (unit == "m")
    ms_per_unit = 60'000;
  else if (unit == "h")
    ms_per_unit = 3'600'000;
  if (!value || ms_per_unit == 0)
    return invalid_argument(
        fmt::format("invalid duration {:?}: expected a number of seconds or a number with "
                    "a unit ms, s, m or h (e.g. 30s)",
                    text));
  double ms = *value * ms_per_unit;
  if (ms > static_cast<double>(kMaxDuration.count()))
    return invalid_argument(
        fmt::format("invalid duration {:?}: longer than 365 days, the most a duration "
                    "may be",
                    text));
  return std::chrono::milliseconds(std::llround(ms));
}

Expected<double> parse_cpus(std::string_view text) {
  auto t = text::trim(text);
  std::string_view rest;
  auto value = leading_number(t, rest);
  if (!value || !rest.empty())
    return invalid_argument(
        fmt::format("invalid cpus {:?}: expected a decimal number of CPUs (e.g. 0.5)", text));
  return *value;
}

Expected<std::int64_t> parse_count(std::string_view text) {
  auto t = text::trim(text);
  std::int64_t value = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (t.empty() || ec != std::errc{} || p != t.data() + t.size())
    return invalid_argument(
        fmt::format("invalid number {:?}: expected a whole number (e.g. 256)", text));
  return value;
}

Expected<Ulimit> parse_ulimit(std::string_view text) {
  const auto t = text::trim(text);
  const auto eq = t.find('=');
  if (eq == std::string_view::npos)
    return invalid_argument(
        fmt::format("{:?}: expected NAME=SOFT[:HARD] (e.g. nofile=1024:2048)", text));
  Ulimit u;
  u.name = std::string(t.substr(0, eq));
  if (!sys::rlimit_type(u.name))
    return invalid_argument(fmt::format("unknown limit {:?}: expected one of {}", u.name,
                                        fmt::join(sys::rlimit_names(), ", ")));
  auto value = [&](std::string_view v) -> Expected<std::uint64_t> {
    if (v == "-1" || v == "unlimited") return kUnlimitedRlimit;
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc{} || p != v.data() + v.size() || n == kUnlimitedRlimit)
      return invalid_argument(
          fmt::format("{:?}: {:?} is not a whole number (or -1 for unlimited)", text, v));
    return n;
  };
  const auto values = t.substr(eq + 1);
  const auto colon = values.find(':');
  auto soft = value(values.substr(0, colon));
  if (!soft) return tl::unexpected(soft.error());
  auto hard = colon == std::string_view::npos ? soft : value(values.substr(colon + 1));
  if (!hard) return tl::unexpected(hard.error());
  if (*soft > *hard)
    return invalid_argument(
        fmt::format("{:?}: the soft limit is above the hard one; give SOFT:HARD with "
                    "SOFT <= HARD",
                    text));
  u.soft = *soft;
  u.hard = *hard;
  return u;
}

Expected<std::vector<Ulimit>> parse_ulimits(const std::vector<std::string>& texts) {
  std::vector<Ulimit> out;
  for (const auto& text : texts) {
    auto u = parse_ulimit(text);
    if (!u) return tl::unexpected(u.error());
    out.push_back(std::move(*u));
  }
  return out;
}

Expected<bool> parse_bool(std::string_view text) {
  const auto t = text::trim(text);
  if (t == "true") return true;
  if (t == "false") return false;
  return invalid_argument(fmt::format("{:?}: expected true or false", text));
}

Expected<Network> parse_network(std::string_view text) {
  const auto t = text::trim(text);
  if (t == "none") return Network::kNone;
  if (t == "host") return Network::kHost;
  if (t == "private") return Network::kPrivate;
  if (t == "private:no-host-loopback") return Network::kPrivateNoHostLoopback;
  return invalid_argument(
      fmt::format("{:?}: expected none (loopback only, the default), private (outbound through "
                  "pasta; private:no-host-loopback without the host's loopback) or host (the "
                  "host's network)",
                  text));
}

Expected<CopyIn> parse_copy_in(std::string_view text) {
  const auto colon = text.find(':');
  const std::string host(text.substr(0, colon));
  if (host.empty()) return invalid_argument(fmt::format("{:?}: expected HOSTPATH[:JOBPATH]", text));
  return CopyIn{std::filesystem::absolute(host),
                colon == std::string_view::npos ? "" : std::string(text.substr(colon + 1))};
}

Expected<PullPolicy> parse_pull_policy(std::string_view text) {
  const auto t = text::trim(text);
  if (t == "missing") return PullPolicy::kMissing;
  if (t == "always") return PullPolicy::kAlways;
  if (t == "never") return PullPolicy::kNever;
  return invalid_argument(fmt::format("{:?}: expected missing, always or never", text));
}

Expected<std::vector<std::string>> parse_env_file(std::string_view text,
                                                  const HostValue& host_value) {
  std::vector<std::string> env;
  std::size_t number = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // As docker and podman: leading blanks go, a key with a blank in it is an error.
    line.remove_prefix(std::min(line.size(), line.find_first_not_of(" \t")));
    if (line.empty() || line.front() == '#') continue;
    if (line.find('\0') != std::string_view::npos)
      return invalid_argument(
          fmt::format("line {}: a NUL byte cannot be passed to a process", number));
    const auto eq = line.find('=');
    const std::string key(line.substr(0, eq));
    if (key.empty() || key.find_first_of(" \t") != std::string::npos)
      return invalid_argument(
          fmt::format("line {}: {:?} is not KEY=VALUE or KEY (no blanks in KEY)", number, line));
    if (eq != std::string_view::npos) {
      env.push_back(key + "=" + std::string(line.substr(eq + 1)));
    } else if (auto value = host_value(key)) {
      env.push_back(key + "=" + *value);
    }
  }
  return env;
}

Expected<std::vector<std::string>> read_env_file(const std::string& path) {
  auto text = sys::read_file(path);
  if (!text) return tl::unexpected(Error{ErrorKind::kInvalidArgument, text.error().message});
  auto env = parse_env_file(*text, [](const std::string& key) -> std::optional<std::string> {
    const char* v = std::getenv(key.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  });
  if (!env) return tl::unexpected(env.error().with_context(path));
  return env;
}

}  // namespace ociexec::config
