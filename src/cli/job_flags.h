// What `run` and `batch` share: a job's flags as text (from the command line or a JSON line),
// applied with the same parsing and errors, and a result as JSON.
#pragma once

#include <map>
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
  std::vector<std::string> device;  // podman's --device, one per flag
  std::string gpus;                 // docker's --gpus all|N
  std::vector<std::string> args;  // the script's arguments
  // HOSTPATH[:JOBPATH] copied in; PATTERNs read back after the job; their caps
  std::vector<std::string> copy_in, copy_out;
  std::string copy_out_file_cap, copy_out_cap;
  std::string output_dir;  // run only: where copied-out files are written
  std::string runtime, rootfs, interpreter, stdin_file, workdir;
  std::string image, pull, user, network;
  bool json = false;
  bool allow_unenforced_limits = false;
  bool init = false;  // podman's --init
};

// The job flags `run` and `submit` share (all but --json and --output-dir), with the
// script's positional arguments; returns -c.
CLI::Option* add_job_flags(CLI::App& cmd, RunFlags& f);
// In the subcommand's callback: with -c, every word after it is an argument.
void settle_job_flags(RunFlags& f, const CLI::Option& command);
// The script the flags name: -c's text, a FILE, or standard input for -.
Expected<std::string> read_script(const RunFlags& f);
// The job the flags describe as a `batch` line, for a worker on another host: what names
// this host's files (--env-file, --stdin, --copy-in, -e NAME's value) is read here and sent
// as data; bind sources and --rootfs name the worker's host's paths, as in any job line.
Expected<nlohmann::json> batch_line_from_flags(const RunFlags& f, std::string script);

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

// The whole result (`run --json`, and each line of `batch`); each copied-out file's bytes as
// base64 unless `file_data` is false (run --output-dir wrote them to files).
nlohmann::json result_json(const Result& r, bool file_data = true);
// Writes each file of `files` under `dir` (made if missing) by its path, "/tmp/x" as
// "tmp/x", never outside `dir` (no path component is followed as a symlink out of it).
// Files with an error are skipped. An error names the first file that could not be written.
Expected<void> write_output_dir(const std::string& dir,
                                const std::map<std::string, CopiedFile>& files);
nlohmann::json error_json(const Error& e);
// One line on stdout; invalid UTF-8 from scripts is replaced, never fatal.
void print_json(const nlohmann::json& j);

}  // namespace ociexec::cli
