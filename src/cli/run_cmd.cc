// `ociexec run [flags] (FILE | - | -c SCRIPT)`: runs one script; its stdout and stderr pass
// through and its exit code becomes ours (see common.h for the contract). Flag names follow
// `podman run` where one exists.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "config/units.h"
#include "sys/fs.h"
#include "sys/signals.h"

namespace ociexec::cli {

namespace {

struct RunFlags {
  std::string script_file;
  std::string command;
  bool command_given = false;  // -c "" is an empty script, not a missing one
  std::string timeout, grace, memory, cpus, pids, tmpfs_size, output_cap;
  std::vector<std::string> env;
  std::string runtime, rootfs, interpreter, stdin_file, workdir;
  bool json = false;
};

// Applies a flag's text through `parse`, naming the flag in the error.
template <typename Parse, typename Apply>
Expected<void> apply_flag(const std::string& flag, const std::string& text, Parse parse,
                          Apply apply) {
  if (text.empty()) return {};
  auto value = parse(text);
  if (!value) return tl::unexpected(value.error().with_context(flag));
  apply(*value);
  return {};
}

template <typename T, typename Parse>
Expected<void> apply_limit(const std::string& flag, const std::string& text, Parse parse,
                           std::optional<T>& target) {
  if (text.empty()) return {};
  if (config::is_unlimited(text)) {
    target.reset();
    return {};
  }
  return apply_flag(flag, text, parse, [&](auto v) { target = static_cast<T>(v); });
}

Expected<void> apply_flags(const RunFlags& f, JobOptions& job) {
  auto& lim = job.limits;
  for (auto r :
       {apply_flag("--timeout", f.timeout, config::parse_duration,
                   [&](auto v) { job.timeout = v; }),
        apply_flag("--grace", f.grace, config::parse_duration, [&](auto v) { job.grace = v; }),
        apply_limit("--memory", f.memory, config::parse_size, lim.memory_bytes),
        apply_limit("--cpus", f.cpus, config::parse_cpus, lim.cpus),
        apply_limit("--pids-limit", f.pids, config::parse_count, lim.pids),
        apply_flag("--tmpfs-size", f.tmpfs_size, config::parse_size,
                   [&](auto v) { lim.tmpfs_bytes = v; }),
        apply_flag("--output-cap", f.output_cap, config::parse_size,
                   [&](auto v) { job.output_cap = static_cast<std::size_t>(v); })})
    if (!r) return r;
  for (const auto& e : f.env) {
    if (e.find('=') != std::string::npos) {
      job.env.push_back(e);
    } else if (const char* host = std::getenv(e.c_str())) {
      job.env.push_back(e + "=" + host);  // podman: -e NAME passes the host's value
    }
  }
  if (!f.runtime.empty()) job.runtime = f.runtime;
  if (!f.rootfs.empty()) job.rootfs = f.rootfs;
  if (!f.interpreter.empty()) job.interpreter = config::split_command(f.interpreter);
  if (!f.workdir.empty()) job.workdir = f.workdir;
  if (!f.stdin_file.empty()) {
    auto data = sys::read_file(f.stdin_file);
    if (!data) return tl::unexpected(data.error().with_context("--stdin"));
    job.stdin_data = std::move(*data);
  }
  return {};
}

Expected<std::string> read_script(const RunFlags& f) {
  if (f.command_given && !f.script_file.empty())
    return tl::unexpected(
        Error{ErrorKind::kInvalidArgument, "give either a script FILE or -c SCRIPT, not both"});
  if (f.command_given) return f.command.empty() ? std::string() : f.command + "\n";
  if (f.script_file.empty())
    return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                "no script: give a FILE, - for standard input, or -c SCRIPT"});
  if (f.script_file == "-")
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  auto text = sys::read_file(f.script_file);
  if (!text) return tl::unexpected(Error{ErrorKind::kInvalidArgument, text.error().message});
  return text;
}

nlohmann::json result_json(const Result& r) {
  using nlohmann::json;
  auto opt = [](const auto& o) -> json { return o ? json(*o) : json(nullptr); };
  const auto& l = r.limits;
  return {
      {"exit_code", r.exit_code},
      {"stdout", r.stdout_data},
      {"stderr", r.stderr_data},
      {"outcome", to_string(r.outcome)},
      {"signal", r.signal ? json(r.signal) : json(nullptr)},
      {"wall_time_ms", std::chrono::duration<double, std::milli>(r.wall_time).count()},
      {"cpu_time_ms", r.cpu_time
                          ? json(std::chrono::duration<double, std::milli>(*r.cpu_time).count())
                          : json(nullptr)},
      {"peak_memory_bytes", opt(r.peak_memory_bytes)},
      {"stdout_truncated", r.stdout_truncated},
      {"stderr_truncated", r.stderr_truncated},
      {"runtime", {{"name", r.runtime_name}, {"version", r.runtime_version}}},
      {"container_id", r.container_id},
      {"pooled", r.pooled},
      {"limits",
       {{"timeout_ms", l.timeout.count()},
        {"grace_ms", l.grace.count()},
        {"memory_bytes", opt(l.memory_bytes)},
        {"cpus", opt(l.cpus)},
        {"pids", opt(l.pids)},
        {"tmpfs_bytes", l.tmpfs_bytes},
        {"output_cap_bytes", l.output_cap}}},
  };
}

void print_json(const nlohmann::json& j) {
  // Scripts may print invalid UTF-8; replace it rather than fail.
  write_all(1, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

int run(const Globals& globals, const RunFlags& flags) {
  auto fail = [&](const Error& e) {
    if (flags.json) print_json({{"error", {{"kind", to_string(e.kind)}, {"message", e.message}}}});
    return flags.json ? exit_code_for(e) : report_error(e);
  };
  auto cfg = effective_config(globals);
  if (!cfg) return fail(cfg.error());
  JobOptions job = cfg->job;
  if (auto r = apply_flags(flags, job); !r) return fail(r.error());
  auto script = read_script(flags);
  if (!script) return fail(script.error());
  auto exec = Executor::create(cfg->executor);
  if (!exec) return fail(exec.error());
  // Ctrl-C and kill reach the job instead of killing us mid-job (which would leave the
  // container to `ociexec gc`): the job ends and is removed as usual.
  auto forwarder = sys::SignalForwarder::install({SIGINT, SIGTERM, SIGHUP, SIGQUIT});
  if (!forwarder) return fail(forwarder.error());
  job.signal_fd = forwarder->fd();
  auto result = exec->run(*script, job);
  if (!result) return fail(result.error());
  if (flags.json) {
    print_json(result_json(*result));
  } else {
    write_all(1, result->stdout_data);
    write_all(2, result->stderr_data);
  }
  return exit_code_for(*result);
}

}  // namespace

void register_run(CLI::App& app, Globals& globals, Action& action) {
  auto flags = std::make_shared<RunFlags>();
  auto* cmd = app.add_subcommand("run", "run a script in a fresh container");
  cmd->add_option("script", flags->script_file, "script file, or - for standard input");
  auto* command = cmd->add_option("-c", flags->command, "script text");
  cmd->add_option("--timeout", flags->timeout, "kill the job after this long (default 300s)");
  cmd->add_option("--grace", flags->grace,
                  "send SIGTERM this long before the deadline (default 0)");
  cmd->add_option("-m,--memory", flags->memory,
                  "memory limit, swap included (e.g. 256m, unlimited)");
  cmd->add_option("--cpus", flags->cpus, "CPU limit (e.g. 0.5, unlimited)");
  cmd->add_option("--pids-limit", flags->pids, "maximum processes and threads (or unlimited)");
  cmd->add_option("--tmpfs-size", flags->tmpfs_size,
                  "size of /tmp and of the work dir (default 64m)");
  cmd->add_option("--output-cap", flags->output_cap, "bytes kept per stream (default 10m)");
  // One value per -e, so "-e K=V script.sh" leaves the script to the positional argument.
  cmd->add_option("-e,--env", flags->env, "KEY=VALUE, or KEY to pass the host's value")
      ->allow_extra_args(false);
  cmd->add_option("--runtime", flags->runtime, "runc, crun, auto or a path");
  cmd->add_option("--rootfs", flags->rootfs, "prepared root file system (default: host view)");
  cmd->add_option("--interpreter", flags->interpreter,
                  "command that runs the script (default: its #! line, else /bin/sh)");
  cmd->add_option("--stdin", flags->stdin_file, "file whose bytes the script reads on stdin");
  cmd->add_option("-w,--workdir", flags->workdir, "working directory, a tmpfs (default /work)");
  cmd->add_flag("--json", flags->json, "print the whole result as one JSON object");
  cmd->callback([&globals, &action, flags, command] {
    flags->command_given = command->count() > 0;
    action = [&globals, flags] { return run(globals, *flags); };
  });
}

}  // namespace ociexec::cli
