// Parsers for the values people type: sizes ("256m"), durations ("30s", "1m30s" is not
// accepted, "1.5s" is), CPU counts ("0.5") and pid limits. Docker's conventions: size units
// b, k, m, g, t are powers of 1024. Errors say what was wrong and what is accepted.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ociexec/error.h"
#include "ociexec/images.h"
#include "ociexec/options.h"

namespace ociexec::config {

Expected<std::uint64_t> parse_size(std::string_view text);
// Seconds by default: "30" == "30s"; also "500ms", "5m", "1h", "1.5s".
Expected<std::chrono::milliseconds> parse_duration(std::string_view text);
Expected<double> parse_cpus(std::string_view text);
Expected<std::int64_t> parse_count(std::string_view text);
// "unlimited" (or "none") -> nullopt; anything else through `parse`.
bool is_unlimited(std::string_view text);
// podman's --ulimit: NAME=SOFT[:HARD] (HARD defaults to SOFT), each a whole number or -1 or
// "unlimited" for no limit; NAME one of sys::rlimit_names().
Expected<Ulimit> parse_ulimit(std::string_view text);
// Each of `texts` through parse_ulimit, in order (the first bad one is the error).
Expected<std::vector<Ulimit>> parse_ulimits(const std::vector<std::string>& texts);
// "true" or "false".
Expected<bool> parse_bool(std::string_view text);
// "none" or "host" (podman's --network).
Expected<Network> parse_network(std::string_view text);
// "HOSTPATH[:JOBPATH]" (--copy-in): the first ':' ends the host path, as podman's -v SRC:DST;
// a relative host path is made absolute against the current directory.
Expected<CopyIn> parse_copy_in(std::string_view text);
// "missing", "always" or "never" (podman's --pull).
Expected<PullPolicy> parse_pull_policy(std::string_view text);
// An env file in podman's format (--env-file): a KEY=VALUE per line, leading blanks dropped,
// the value taken as it is (no quotes removed); blank lines and '#' lines skipped; a line with
// only a KEY takes `host_value(KEY)`, and is skipped when that has none. A KEY with a blank
// in it is an error that names the line. Returns "KEY=VALUE" entries.
using HostValue = std::function<std::optional<std::string>(const std::string&)>;
Expected<std::vector<std::string>> parse_env_file(std::string_view text,
                                                  const HostValue& host_value);
// Reads and parses `path` with the process's environment as the host's.
Expected<std::vector<std::string>> read_env_file(const std::string& path);

}  // namespace ociexec::config
