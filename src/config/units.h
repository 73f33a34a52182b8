// Parsers for the values people type: sizes ("256m"), durations ("30s", "1m30s" is not
// accepted, "1.5s" is), CPU counts ("0.5") and pid limits. Docker's conventions: size units
// b, k, m, g, t are powers of 1024. Errors say what was wrong and what is accepted.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ociexec/error.h"
#include "ociexec/images.h"

namespace ociexec::config {

Expected<std::uint64_t> parse_size(std::string_view text);
// Seconds by default: "30" == "30s"; also "500ms", "5m", "1h", "1.5s".
Expected<std::chrono::milliseconds> parse_duration(std::string_view text);
Expected<double> parse_cpus(std::string_view text);
Expected<std::int64_t> parse_count(std::string_view text);
// "unlimited" (or "none") -> nullopt; anything else through `parse`.
bool is_unlimited(std::string_view text);
// "true" or "false".
Expected<bool> parse_bool(std::string_view text);
// "missing", "always" or "never" (podman's --pull).
Expected<PullPolicy> parse_pull_policy(std::string_view text);

}  // namespace ociexec::config
