// `ociexec doctor`: what works on this host and how to fix what does not.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/common.h"
#include "cli/doctor.h"

namespace ociexec::cli {

void register_doctor(CLI::App& app, Globals& globals, Action& action) {
  add_config_command(
      app, "doctor", "check cgroups, runtimes, pidfd and user namespaces", globals, action,
      [&globals](config::Config& cfg) {
        std::vector<std::string> files;
        for (const auto& f : config::config_files(globals.config_path)) files.push_back(f.string());
        fmt::print("[ ok ] config: {}\n",
                   files.empty() ? std::string("no file (the defaults); the system's would be ") +
                                       config::kSystemConfigPath
                                 : fmt::format("read {}", fmt::join(files, ", then ")));
        bool runtime_ok = false;
        bool core_ok = true;
        for (const auto& f : core::run_doctor(cfg.executor)) {
          fmt::print("[{}] {}: {}\n", f.ok ? " ok " : "FAIL", f.topic, f.detail);
          if (!f.ok && !f.fix.empty()) fmt::print("       fix: {}\n", f.fix);
          if (f.topic.rfind("runtime ", 0) == 0) runtime_ok = runtime_ok || f.ok;
          if ((f.topic == "cgroups" || f.topic == "pidfd") && !f.ok) core_ok = false;
        }
        bool usable = runtime_ok && core_ok;
        fmt::print("{}\n", usable ? "ociexec can run jobs on this host"
                                  : "ociexec cannot run jobs on this host: see the fixes above");
        return usable ? 0 : kExitExecutorError;
      });
}

}  // namespace ociexec::cli
