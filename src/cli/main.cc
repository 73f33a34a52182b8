// ociexec: runs scripts in OCI containers through runc or crun, without a daemon.
//
// Steps: parse arguments -> run the chosen subcommand -> exit with its code. Usage errors
// exit 125 with one line that names the problem, like every executor error.
#include <algorithm>
#include <array>
#include <cstdio>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/common.h"

namespace {

using Register = void (*)(CLI::App&, ociexec::cli::Globals&, ociexec::cli::Action&);

// Each subcommand by the names it adds, in the order --help lists them.
constexpr std::pair<std::array<std::string_view, 4>, Register> kSubcommands[] = {
    {{"run"}, ociexec::cli::register_run},
    {{"batch"}, ociexec::cli::register_batch},
    {{"gc"}, ociexec::cli::register_gc},
    {{"doctor"}, ociexec::cli::register_doctor},
    {{"pull", "images", "rmi", "image"}, ociexec::cli::register_images},
    {{"worker"}, ociexec::cli::register_worker},
    {{"submit"}, ociexec::cli::register_submit},
    {{"version"}, ociexec::cli::register_version},
    {{"completion"}, ociexec::cli::register_completion},
};

// The subcommand argv names first, past the global options and their values; empty when a
// flag or nothing comes first (--help, --version, a mistake).
std::string_view named_subcommand(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--config" || arg == "--state-dir") {
      ++i;
      continue;
    }
    if (arg.starts_with("--config=") || arg.starts_with("--state-dir=")) continue;
    return arg.starts_with('-') ? std::string_view() : arg;
  }
  return {};
}

}  // namespace

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
  // A job's command line registers its subcommand alone: the others' flags are a tenth of a
  // millisecond each that every `ociexec run` would pay. Help, completion and a name that is
  // none of them get them all, so that what CLI11 prints or suggests is the same.
  const std::string_view named = named_subcommand(argc, argv);
  auto names = [named](const auto& s) {
    return std::find(s.first.begin(), s.first.end(), named) != s.first.end();
  };
  const bool all = named.empty() || named == "completion" ||
                   std::none_of(std::begin(kSubcommands), std::end(kSubcommands), names);
  for (const auto& s : kSubcommands)
    if (all || names(s)) s.second(app, globals, action);
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
