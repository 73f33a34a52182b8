// ociexec: runs scripts in OCI containers through runc or crun, without a daemon.
//
// Steps: parse arguments -> run the chosen subcommand -> exit with its code. Usage errors
// exit 125 with one line that names the problem, like every executor error.
#include <cstdio>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/common.h"

int main(int argc, char** argv) {
  using namespace ociexec::cli;
  CLI::App app{"ociexec: run scripts in OCI containers (runc/crun) without a daemon", "ociexec"};
  app.require_subcommand(1);
  app.fallthrough();
  Globals globals;
  app.add_option("--config", globals.config_path,
                 "YAML configuration file (default: /etc/ociexec/config.yaml if present)");
  app.add_option("--state-dir", globals.state_dir, "state directory (default: /run/ociexec as root, else "
                 "$XDG_RUNTIME_DIR/ociexec or /tmp/ociexec-UID)");
  Action action;
  register_run(app, globals, action);
  register_batch(app, globals, action);
  register_gc(app, globals, action);
  register_doctor(app, globals, action);
  register_images(app, globals, action);
  register_worker(app, globals, action);
  register_submit(app, globals, action);
  register_version(app, globals, action);
  register_completion(app, globals, action);
  app.set_version_flag("--version", fmt::format("ociexec {}", ociexec::version()),
                       "print the version of ociexec and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    for (char& c : what)
      if (c == '\n') c = ' ';
    fmt::print(stderr, "ociexec: error: {}; see 'ociexec --help'\n", what);
    return kExitExecutorError;
  }
  return action ? action() : kExitExecutorError;
}
