// What `run` and `batch` share: a job's flags as text (from the command line or a JSON line),
// applied with the same parsing and errors, and a result as JSON.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "ociexec/ociexec.h"

namespace ociexec::cli {

struct RunFlags {
  std::string script_file;
  std::string command;
  bool command_given = false;  // -c "" is an empty script, not a missing one
  std::string timeout, grace, memory, cpus, pids, tmpfs_size, output_cap;
  std::string cpuset_cpus, cpu_time;
  std::vector<std::string> env;
  std::string env_file;            // podman's --env-file
  std::vector<std::string> ulimit;  // podman's --ulimit NAME=SOFT[:HARD], one per flag
  // podman's -v SRC:DST[:ro|rw], --mount type=...,... and --tmpfs DST[:OPTS], one per flag
  std::vector<std::string> volume, mount, tmpfs;
  std::vector<std::string> args;  // the script's arguments
  std::string runtime, rootfs, interpreter, stdin_file, workdir;
  std::string image, pull, user, network;
  bool json = false;
  bool allow_unenforced_limits = false;
  bool init = false;  // podman's --init
};

// Where images come from and go (run --image, pull, images, rmi, image prune); podman's names.
struct ImageFlags {
  std::string store;
  std::string tls_verify;  // "true" / "false"
  std::string creds;
  std::string authfile;
  std::string cert_file;   // a CA bundle
  std::string platform;
  std::string pull_timeout;  // a duration
};

// Adds the ImageFlags options to a subcommand (`registry`: the ones for fetching too).
void add_image_flags(CLI::App& cmd, ImageFlags& flags, bool registry);
Expected<void> apply_image_flags(const ImageFlags& f, ImageOptions& options);

// Applies the flags over `job`; an error names the flag and the accepted values.
Expected<void> apply_flags(const RunFlags& f, JobOptions& job);

// One line of `batch` input: a JSON object with "script" and the `run` flags as keys
// ("timeout", "memory", "env", "stdin", ...), applied over `defaults`. "id" is the caller's.
Expected<std::pair<std::string, JobOptions>> parse_batch_line(const std::string& line,
                                                              const JobOptions& defaults);

// The whole result (`run --json`, and each line of `batch`).
nlohmann::json result_json(const Result& r);
nlohmann::json error_json(const Error& e);
// One line on stdout; invalid UTF-8 from scripts is replaced, never fatal.
void print_json(const nlohmann::json& j);

}  // namespace ociexec::cli
