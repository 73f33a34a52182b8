// `ociexec run [flags] (FILE | - | -c SCRIPT)`: runs one script; its stdout and stderr pass
// through live, as the job writes them, and its exit code becomes ours (see common.h for the
// contract). With --json, one object at the end instead. Flag names follow `podman run` where
// one exists.
#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <iostream>
#include <iterator>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/job_flags.h"
#include "config/units.h"
#include "sys/fs.h"
#include "sys/signals.h"
#include "sys/unique_fd.h"

namespace ociexec::cli {

namespace {

Expected<std::string> read_script(const RunFlags& f) {
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

// The job's output on ours as it is written. A stream we can no longer write (the reader of a
// pipe went away, as with `| head -1`) is passed no more, and the job gets SIGPIPE once, as a
// writer in a shell pipeline would: it ends as such a writer does, and is removed as usual.
OutputCallback passthrough(const sys::SignalForwarder& forwarder) {
  auto closed = std::make_shared<std::array<bool, 2>>();
  return [closed, &forwarder](OutputStream stream, std::string_view bytes) {
    const std::size_t i = stream == OutputStream::kStdout ? 0 : 1;
    if ((*closed)[i]) return;
    if (sys::write_all(static_cast<int>(i) + 1, bytes)) return;
    (*closed)[i] = true;
    if (!(*closed)[1 - i]) forwarder.inject(SIGPIPE);
  };
}

int run(const Globals& globals, const RunFlags& flags, const ImageFlags& image_flags) {
  auto fail = [&](const Error& e) {
    if (flags.json) print_json(error_json(e));
    return flags.json ? exit_code_for(e) : report_error(e);
  };
  auto cfg = effective_config(globals);
  if (!cfg) return fail(cfg.error());
  JobOptions job = cfg->job;
  if (auto r = apply_flags(flags, job); !r) return fail(r.error());
  if (auto r = apply_image_flags(image_flags, cfg->executor.images); !r) return fail(r.error());
  auto script = read_script(flags);
  if (!script) return fail(script.error());
  if (!job.copy_out.empty() && flags.output_dir.empty() && !flags.json)
    return fail(Error{ErrorKind::kInvalidArgument,
                      "--copy-out: the files need somewhere to go; add --output-dir DIR (or "
                      "--json, which carries them as base64)"});
  // The job's runtime is the executor's: it then never resolves (nor prepares) another one.
  if (job.runtime) cfg->executor.runtime = *job.runtime;
  cfg->executor.pool_size = 0;  // one job: containers made ahead would go unused
  auto exec = Executor::create(cfg->executor);
  if (!exec) return fail(exec.error());
  // Ctrl-C and kill reach the job instead of killing us mid-job (which would leave the
  // container to `ociexec gc`): the job ends and is removed as usual.
  auto forwarder = sys::SignalForwarder::install({SIGINT, SIGTERM, SIGHUP, SIGQUIT});
  if (!forwarder) return fail(forwarder.error());
  if (auto r = sys::catch_sigpipe(); !r) return fail(r.error());
  job.signal_fd = forwarder->fd();
  if (!flags.json) job.on_output = passthrough(*forwarder);
  auto result = exec->run(*script, job);
  if (!result) return fail(result.error());
  if (!flags.output_dir.empty()) {
    if (auto r = write_output_dir(flags.output_dir, result->files); !r) {
      report_error(r.error());
      result->warnings.push_back(r.error().message);
    }
    // Without --json, what was not copied out is said here (with it, the JSON says it).
    for (const auto& [path, f] : result->files)
      if (!f.error.empty() && !flags.json)
        std::fprintf(stderr, "ociexec: copy-out %s: %s\n", path.c_str(), f.error.c_str());
  }
  if (flags.json) print_json(result_json(*result, flags.output_dir.empty()));
  return exit_code_for(*result);
}

}  // namespace

void register_run(CLI::App& app, Globals& globals, Action& action) {
  auto flags = std::make_shared<RunFlags>();
  auto image_flags = std::make_shared<ImageFlags>();
  auto* cmd = app.add_subcommand("run", "run a script in a fresh container");
  cmd->add_option("script", flags->script_file, "script file, or - for standard input");
  cmd->add_option("args", flags->args, "the script's arguments ($1...; after -- with -c)");
  // As podman after its image: every word after the script is the script's, flags included.
  cmd->positionals_at_end();
  auto* command = cmd->add_option("-c", flags->command, "script text");
  cmd->add_option("--timeout", flags->timeout, "kill the job after this long (default 300s)");
  cmd->add_option("--grace", flags->grace,
                  "send SIGTERM this long before the deadline (default 0)");
  cmd->add_option("-m,--memory", flags->memory,
                  "memory limit, swap included (e.g. 256m, unlimited)");
  cmd->add_option("--cpus", flags->cpus, "CPU limit (e.g. 0.5, unlimited)");
  cmd->add_option("--pids-limit", flags->pids, "maximum processes and threads (or unlimited)");
  cmd->add_option("--cpuset-cpus", flags->cpuset_cpus, "CPUs the job may run on (e.g. 0-3,8)");
  cmd->add_option("--cpu-time", flags->cpu_time,
                  "kill the job once its processes used this much CPU time (e.g. 10s); exit 152");
  cmd->add_option("--tmpfs-size", flags->tmpfs_size,
                  "size of /tmp and of the work dir (default 64m)");
  cmd->add_option("--output-cap", flags->output_cap, "bytes kept per stream (default 10m)");
  // One value per -e, so "-e K=V script.sh" leaves the script to the positional argument.
  cmd->add_option("-e,--env", flags->env, "KEY=VALUE, or KEY to pass the host's value")
      ->allow_extra_args(false);
  cmd->add_option("--ulimit", flags->ulimit,
                  "NAME=SOFT[:HARD] resource limit of the job's processes (nofile, nproc, fsize, "
                  "core, stack, cpu, ...; -1: unlimited), once per limit")
      ->allow_extra_args(false);
  cmd->add_option("-v,--volume", flags->volume,
                  "SRC:DST[:ro|rw] bind mount of a host path (absolute), once per mount")
      ->allow_extra_args(false);
  cmd->add_option("--mount", flags->mount,
                  "type=bind,source=SRC,target=DST[,readonly] or "
                  "type=tmpfs,target=DST[,tmpfs-size=SIZE,tmpfs-mode=OCTAL], once per mount")
      ->allow_extra_args(false);
  cmd->add_option("--tmpfs", flags->tmpfs,
                  "DST[:size=SIZE,mode=OCTAL] tmpfs mount (size default: --tmpfs-size)")
      ->allow_extra_args(false);
  cmd->add_option("--copy-in", flags->copy_in,
                  "HOSTPATH[:JOBPATH] file or directory copied into the work dir before the job "
                  "starts (JOBPATH: relative to it, or under it or /tmp), once per copy")
      ->allow_extra_args(false);
  cmd->add_option("--copy-out", flags->copy_out,
                  "PATTERN (a path or glob relative to the work dir, or under it or /tmp) read "
                  "after the job ends, into --output-dir or --json's \"files\"; once per pattern")
      ->allow_extra_args(false);
  cmd->add_option("--output-dir", flags->output_dir,
                  "where --copy-out's files are written, by their paths (made if missing)");
  cmd->add_option("--copy-out-file-cap", flags->copy_out_file_cap,
                  "bytes kept of each copied-out file (default 64m)");
  cmd->add_option("--copy-out-cap", flags->copy_out_cap,
                  "bytes kept of all copied-out files together (default 256m)");
  cmd->add_option("--env-file", flags->env_file,
                  "file of KEY=VALUE lines (podman's format), before each --env");
  cmd->add_option("--network", flags->network,
                  "none (default: loopback only); private (outbound through pasta, the host's "
                  "loopback as host.ociexec.internal; private:no-host-loopback without it); "
                  "host (the host's network, no isolation; root only)");
  cmd->add_option("--runtime", flags->runtime, "runc, crun, auto or a path");
  cmd->add_option("--rootfs", flags->rootfs, "prepared root file system (default: host view)");
  cmd->add_option("--image", flags->image,
                  "run in an image (python:3.12-slim, HOST:PORT/NAME:TAG, oci:PATH[:REF]) on a "
                  "throwaway writable root");
  cmd->add_option("--pull", flags->pull, "missing (default), always or never");
  cmd->add_option("-u,--user", flags->user,
                  "UID[:GID] or NAME[:GROUP] (default: the image's User, else 65534)");
  add_image_flags(*cmd, *image_flags, true);
  cmd->add_option("--interpreter", flags->interpreter,
                  "command that runs the script (default: its #! line, else /bin/sh)");
  cmd->add_option("--stdin", flags->stdin_file, "file whose bytes the script reads on stdin");
  cmd->add_option("-w,--workdir", flags->workdir, "working directory, a tmpfs (default /work)");
  cmd->add_flag("--json", flags->json, "print the whole result as one JSON object");
  cmd->add_flag("--init", flags->init,
                "run the script under a minimal init that reaps orphans and forwards signals");
  cmd->add_flag("--allow-unenforced-limits", flags->allow_unenforced_limits,
                "rootless without a delegated cgroup: run a job whose memory, CPU or pids "
                "limit cannot be enforced (the result lists it)");
  cmd->callback([&globals, &action, flags, image_flags, command] {
    flags->command_given = command->count() > 0;
    // With -c the script is the option's: every word after it is an argument.
    if (flags->command_given && !flags->script_file.empty()) {
      flags->args.insert(flags->args.begin(), flags->script_file);
      flags->script_file.clear();
    }
    action = [&globals, flags, image_flags] { return run(globals, *flags, *image_flags); };
  });
}

}  // namespace ociexec::cli
