// `ociexec gc`: removes containers, cgroups and bundles whose owning process is gone, e.g.
// after the CLI was SIGKILLed mid-job.
#include <fmt/format.h>

#include "cli/common.h"

namespace ociexec::cli {

void register_gc(CLI::App& app, Globals& globals, Action& action) {
  add_config_command(app, "gc", "remove what crashed ociexec processes left behind", globals,
                     action, [](config::Config& cfg) {
                       cfg.executor.collect_garbage_on_start = false;
                       auto exec = Executor::create(cfg.executor);
                       if (!exec) return report_error(exec.error());
                       auto report = exec->collect_garbage();
                       for (const auto& id : report.removed) fmt::print("removed {}\n", id);
                       for (const auto& e : report.errors)
                         fmt::print(stderr, "ociexec: error: gc: {}\n", e);
                       fmt::print("gc: removed {} container(s), {} error(s)\n",
                                  report.removed.size(), report.errors.size());
                       return report.errors.empty() ? 0 : kExitExecutorError;
                     });
}

}  // namespace ociexec::cli
