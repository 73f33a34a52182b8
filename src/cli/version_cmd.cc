// `ociexec version`: the tool's version and the runtime it would use here.
#include <fmt/format.h>

#include "cli/common.h"

namespace ociexec::cli {

void register_version(CLI::App& app, Globals& globals, Action& action) {
  add_config_command(app, "version", "print the version of ociexec and of its runtime", globals,
                     action, [](config::Config& cfg) {
                       fmt::print("ociexec {}\n", version());
                       cfg.executor.collect_garbage_on_start = false;
                       auto exec = Executor::create(cfg.executor);
                       if (!exec) {
                         fmt::print("runtime: none ({})\n", exec.error().message);
                         return 0;
                       }
                       fmt::print("runtime: {} {} ({})\n", exec->runtime().name,
                                  exec->runtime().version, exec->runtime().path);
                       return 0;
                     });
}

}  // namespace ociexec::cli
