// Rootless mode: an executor run by an unprivileged user. Jobs run in a user namespace that
// maps the user's ids to the container's root (spec::UserNamespace); state lives in the
// user's own directory; and without a cgroup this user may write, memory, CPU and pids limits
// are reported as not enforced, or refused when a job sets one.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cgroup/parsers.h"
#include "ociexec/error.h"
#include "ociexec/options.h"

namespace ociexec::core {

// This process is not root: jobs run rootless.
bool running_rootless();

// Checks a rootless state dir: a directory (not a link) owned by this user, with no access
// for group or others. The error names what is wrong and the fix.
Expected<void> check_private_dir(const std::filesystem::path& dir);

// The job's memory, CPU and pids limits that `job_layout` (the host's, a delegated subtree,
// or nothing) cannot enforce. An error if the job set one of them to other than its default
// and did not allow unenforced limits.
Expected<std::vector<std::string>> unenforceable_limits(const JobOptions& job,
                                                        const cgroup::Layout& job_layout);

}  // namespace ociexec::core
