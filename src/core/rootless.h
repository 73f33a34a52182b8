// Rootless mode: an executor run by an unprivileged user. Jobs run in a user namespace that
// maps the user's ids to the container's root (spec::UserNamespace); state lives in the
// user's own directory; and without a cgroup this user may write, memory, CPU and pids limits
// are reported as not enforced, or refused when a job sets one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgroup/parsers.h"
#include "ociexec/error.h"
#include "ociexec/options.h"
#include "spec/spec_builder.h"

namespace ociexec::core {

// This process is not root: jobs run rootless.
bool running_rootless();

// The first range of at least `min_count` ids that /etc/subuid or /etc/subgid text gives to
// `id` or `name` ("who:start:count" lines).
std::optional<spec::IdRange> subordinate_range(std::string_view file_text, std::uint32_t id,
                                               std::string_view name, std::uint32_t min_count);
// The user namespace for this (unprivileged) process's jobs: its ids as root, plus ranges of
// subordinate ids when /etc/subuid and /etc/subgid give it 65535 or more and newuidmap and
// newgidmap are installed.
spec::UserNamespace caller_user_namespace();
// This user's name in /etc/passwd ("" if absent). No NSS: the CLI is static.
std::string user_name(std::uint32_t uid);

// Checks a state or cache dir: a directory (not a link) owned by this user, with no access
// for group or others (no write access when `others_may_read`), under parents nobody else may
// replace it in (ours or root's, and writable by others only with the sticky bit). The error
// names what is wrong and the fix (set `option`).
Expected<void> check_private_dir(const std::filesystem::path& dir,
                                 std::string_view what = "state dir",
                                 std::string_view option = "state_dir (--state-dir)",
                                 bool others_may_read = false);

// The job's memory, CPU, pids, cpuset and CPU-time limits that `job_layout` (the host's, a
// delegated subtree, or nothing) cannot enforce. An error if the job set one of them to other than its default
// and did not allow unenforced limits.
Expected<std::vector<std::string>> unenforceable_limits(const JobOptions& job,
                                                        const cgroup::Layout& job_layout);

}  // namespace ociexec::core
