// Checks a job's options against each other and against the host before anything is created,
// so a bad value fails fast with a message that names it and says what would be accepted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/host.h"
#include "ociexec/error.h"
#include "ociexec/options.h"
#include "ociexec/result.h"

namespace ociexec::core {

inline constexpr std::uint64_t kMinMemoryBytes = 6 * kMiB;  // as docker: below, nothing starts

Expected<EffectiveLimits> validate_job(const JobOptions& job, const HostFacts& host);
// The executor's own options: the cgroup parent's name, and each duration.
Expected<void> validate_executor(const ExecutorOptions& options);

// "/work", "/a/b": absolute, without "//", "." or ".." components or a trailing "/".
bool is_normalized_absolute(std::string_view path);

// `path` is `dir` or below it (both normalized absolute paths; everything is below "/").
bool is_within(std::string_view path, std::string_view dir);

// "300s", "1.5s", "0.25s"
std::string format_seconds(std::chrono::milliseconds ms);
// "256m", "1g", "1536k": the largest unit that divides the value.
std::string format_bytes(std::uint64_t bytes);

}  // namespace ociexec::core
