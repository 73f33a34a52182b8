// Resource limits by podman's names (--ulimit nofile=...): the table from a name to its
// RLIMIT_ resource, and this process's own hard limits, which a job cannot exceed without
// CAP_SYS_RESOURCE.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ociexec::sys {

// "nofile", "nproc", "fsize", "core", "stack", "cpu", "as", "data", "memlock", "locks",
// "sigpending", "msgqueue", "nice", "rtprio", "rttime", "rss".
const std::vector<std::string_view>& rlimit_names();
// The OCI spec's type for a name ("nofile" -> "RLIMIT_NOFILE"); nullopt for an unknown name.
std::optional<std::string> rlimit_type(std::string_view name);
// This process's hard limit for `name` (UINT64_MAX: unlimited); nullopt for an unknown name.
std::optional<std::uint64_t> hard_rlimit(std::string_view name);
// Whether this process may raise a hard limit (CAP_SYS_RESOURCE in its effective set).
bool can_raise_rlimits();

}  // namespace ociexec::sys
