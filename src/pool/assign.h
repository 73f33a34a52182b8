// A pooled container given its job. A cold create writes the job's command, environment,
// working directory, script, stdin and limits before the container exists; a pooled
// container was made ahead from its profile's template (the init as the command, no
// environment), so they are written into it here, just before it starts: the job file the
// init reads, the script, the stdin bytes, and the limits where they differ. Then, after the
// run, a failed exec of the command becomes the error a cold create reports.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>

#include "container/container.h"
#include "container/plan.h"

namespace ociexec::pool {

// What the pool makes containers of `plan`'s profile from: the plan's request, with `init`
// (the executor's copy of ociexec-init) as the command and no environment of its own.
container::Request template_for(const container::JobPlan& plan, const std::filesystem::path& init);

// Writes `plan`'s job into `c`, a container made from template_for with `created_with` as its
// cgroup's limits.
Expected<void> assign(container::Container& c, const container::JobPlan& plan,
                      const cgroup::ResourceLimits& created_with);

// After a pooled container ran: the error a cold create reports when the init could not exec
// the job's command (kCommandNotFound / kCommandNotExecutable), from the init's report and
// `stderr_text`; nullopt when the exec succeeded, or for a container that was not pooled.
std::optional<Error> exec_failure(const container::Container& c, std::string_view stderr_text);

}  // namespace ociexec::pool
