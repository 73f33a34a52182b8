#include "cli/common.h"

#include "sys/unique_fd.h"

#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

namespace ociexec::cli {

int exit_code_for(const Error& error) {
  switch (error.kind) {
    case ErrorKind::kCommandNotFound: return kExitNotFound;
    case ErrorKind::kCommandNotExecutable: return kExitCannotExecute;
    default: return kExitExecutorError;
  }
}

int exit_code_for(const Result& result) {
  if (result.outcome == Outcome::kTimedOut) return kExitTimeout;
  if (result.outcome == Outcome::kCpuTimeExceeded) return kExitCpuTime;
  return result.exit_code;  // already 128+N for a signal
}

int report_error(const Error& error) {
  std::string message = error.message;
  for (char& c : message)
    if (c == '\n') c = ' ';  // one line, always
  fmt::print(stderr, "ociexec: error: {}\n", message);
  return exit_code_for(error);
}

Expected<config::Config> effective_config(const Globals& globals) {
  auto cfg = config::load_effective_config(globals.config_path);
  if (!cfg) return cfg;
  if (!globals.state_dir.empty()) cfg->executor.state_dir = globals.state_dir;
  return cfg;
}

CLI::App* add_config_command(CLI::App& app, const std::string& name, const std::string& help,
                             Globals& globals, Action& action,
                             std::function<int(config::Config&)> body) {
  auto* cmd = app.add_subcommand(name, help);
  cmd->callback([&globals, &action, body = std::move(body)] {
    action = [&globals, body] {
      auto cfg = effective_config(globals);
      if (!cfg) return report_error(cfg.error());
      return body(*cfg);
    };
  });
  return cmd;
}

void write_all(int fd, std::string_view data) {
  (void)sys::write_all(fd, data);  // the reader went away: nothing useful left to do with it
}

}  // namespace ociexec::cli
