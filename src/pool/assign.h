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
// (the executor's copy of ociexec-init) as the command and no environment of its own; for a
// warm interpreter's profile (pool/warm.h), the interpreter running its loader, with the
// profile's environment (JobPlan::base_env).
container::Request template_for(const container::JobPlan& plan, const std::filesystem::path& init);

// The job file ociexec-init reads for `plan`'s job (pool/job_file.h).
Expected<std::string> job_file_for(const container::JobPlan& plan);

// Writes `plan`'s job into `c`, a container made from template_for with `created_with` as its
// cgroup's limits.
Expected<void> assign(container::Container& c, const container::JobPlan& plan,
                      const cgroup::ResourceLimits& created_with);

// What ociexec-init reported, after a container whose command it was (pooled, or a job with
// an init) ran; nothing for another.
struct InitReport {
  // The error a cold create reports when the job's command could not be exec'd
  // (kCommandNotFound / kCommandNotExecutable), with the init's reason.
  std::optional<Error> exec_failed;
  int signal = 0;  // with an init: the signal that killed the command
};
InitReport read_report(const container::Container& c);

}  // namespace ociexec::pool
