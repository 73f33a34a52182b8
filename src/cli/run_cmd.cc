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
  auto* command = add_job_flags(*cmd, *flags);
  cmd->add_option("--output-dir", flags->output_dir,
                  "where --copy-out's files are written, by their paths (made if missing)");
  add_image_flags(*cmd, *image_flags, true);
  cmd->add_flag("--json", flags->json, "print the whole result as one JSON object");
  cmd->callback([&globals, &action, flags, image_flags, command] {
    settle_job_flags(*flags, *command);
    action = [&globals, flags, image_flags] { return run(globals, *flags, *image_flags); };
  });
}

}  // namespace ociexec::cli
