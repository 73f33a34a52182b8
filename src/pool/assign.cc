#include "pool/assign.h"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "bundle/bundle.h"
#include "pool/job_file.h"
#include "pool/warm.h"
#include "sys/fs.h"
#include "sys/unique_fd.h"

namespace ociexec::pool {

container::Request template_for(const container::JobPlan& plan, const std::filesystem::path& init) {
  container::Request r = plan.container;
  if (!plan.profile.warm_interpreter.empty()) {
    // Its interpreter runs the loader ahead, with the environment of the job's profile.
    r.spec.args = {plan.profile.warm_interpreter, std::string(bundle::kWarmPathInContainer)};
    r.spec.env = plan.base_env;
    r.warm_loader = warm_python_loader();
    return r;
  }
  r.spec.args = {std::string(bundle::kInitPathInContainer)};
  r.spec.env = {};  // the init sets the job's
  r.init_binary = init;
  return r;
}

Expected<std::string> job_file_for(const container::JobPlan& plan) {
  const auto& spec = plan.container.spec;
  auto file = encode_job({spec.args, spec::process_env(spec.env), spec.cwd, plan.init});
  if (!file)
    return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                "interpreter or env: a NUL byte cannot be passed to a process"});
  return std::move(*file);
}

Expected<void> assign(container::Container& c, const container::JobPlan& plan,
                      const cgroup::ResourceLimits& created_with) {
  // What the init reads at start: the job's command, environment and working directory.
  auto file = job_file_for(plan);
  if (!file) return tl::unexpected(file.error());
  if (auto r = sys::write_new_file(c.bundle().script_dir() / bundle::kJobFile, *file, 0444); !r)
    return tl::unexpected(r.error().with_context("write the job file"));
  if (auto r = c.bundle().write_script(plan.script); !r) return r;
  if (auto r = c.set_stdin(plan.stdin_data); !r) return r;
  if (plan.cgroup_limits != created_with)
    if (auto r = c.cgroup().set_limits(plan.cgroup_limits); !r) return r;
  return {};
}

InitReport read_report(const container::Container& c) {
  InitReport report;
  if (!c.exec_status_fd()) return report;
  // Nothing: the command ran, and ended by itself. Else the init's int, and after a failed
  // exec its reason ("exec PATH: REASON"), in one write (pool/init.cc).
  const std::string bytes = sys::read_once(c.exec_status_fd(), kExecReportMax);
  int reported = 0;
  if (bytes.size() < sizeof reported) return report;
  std::memcpy(&reported, bytes.data(), sizeof reported);
  if (reported < 0) {
    report.signal = -reported;
    return report;
  }
  const std::string_view reason = std::string_view(bytes).substr(sizeof reported);
  report.exec_failed =
      Error{reported == ENOENT ? ErrorKind::kCommandNotFound : ErrorKind::kCommandNotExecutable,
            fmt::format("{} start: {}", c.client().info().name,
                        reason.empty() ? std::string(std::strerror(reported)) : std::string(reason))};
  return report;
}

}  // namespace ociexec::pool
