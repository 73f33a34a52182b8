// What every subcommand shares: global flags, configuration loading, and the exit-code
// contract (the only place where results and errors become process exit codes):
//   the script's own code; 128+N killed by signal N; 124 timed out; 125 executor or usage
//   error; 126 interpreter cannot be executed; 127 interpreter not found.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "config/config.h"
#include "ociexec/executor.h"

namespace ociexec::cli {

inline constexpr int kExitTimeout = 124;
inline constexpr int kExitExecutorError = 125;
inline constexpr int kExitCannotExecute = 126;
inline constexpr int kExitNotFound = 127;
// A job killed at its CPU-time limit: 128 + SIGXCPU, the status a shell reports for a process
// that RLIMIT_CPU ended (ulimit -t), so scripts that test for it need no new code.
inline constexpr int kExitCpuTime = 152;

struct Globals {
  std::string config_path;
  std::string state_dir;
};

using Action = std::function<int()>;

int exit_code_for(const Error& error);
int exit_code_for(const Result& result);

// Prints "ociexec: error: <message>" on stderr (one line) and returns the exit code.
int report_error(const Error& error);

// The configuration file, with --state-dir applied on top.
Expected<config::Config> effective_config(const Globals& globals);

// Writes all of `data` to `fd`, retrying short writes.
void write_all(int fd, std::string_view data);

// Adds a subcommand whose action runs `body` on the effective configuration; a bad
// configuration is reported the usual way.
CLI::App* add_config_command(CLI::App& app, const std::string& name, const std::string& help,
                             Globals& globals, Action& action,
                             std::function<int(config::Config&)> body);

void register_run(CLI::App& app, Globals& globals, Action& action);
void register_batch(CLI::App& app, Globals& globals, Action& action);
void register_gc(CLI::App& app, Globals& globals, Action& action);
void register_doctor(CLI::App& app, Globals& globals, Action& action);
void register_version(CLI::App& app, Globals& globals, Action& action);
void register_images(CLI::App& app, Globals& globals, Action& action);
void register_worker(CLI::App& app, Globals& globals, Action& action);
void register_submit(CLI::App& app, Globals& globals, Action& action);
void register_completion(CLI::App& app, Globals& globals, Action& action);

}  // namespace ociexec::cli
