// A job's flags on a command line (`run`, `submit`), the script they name, and the same job
// as a `batch` line (`submit`: a worker on another host runs it, so what names this host's
// files is read here and sent as data).
#include <filesystem>
#include <iostream>
#include <iterator>

#include <fmt/format.h>

#include "cli/job_flags.h"
#include "config/units.h"
#include "sys/fs.h"
#include "util/invalid.h"
#include "util/text.h"

namespace ociexec::cli {

namespace fs = std::filesystem;

CLI::Option* add_job_flags(CLI::App& cmd, RunFlags& f) {
  cmd.add_option("script", f.script_file, "script file, or - for standard input");
  cmd.add_option("args", f.args, "the script's arguments ($1...; after -- with -c)");
  // As podman after its image: every word after the script is the script's, flags included.
  cmd.positionals_at_end();
  auto* command = cmd.add_option("-c", f.command, "script text");
  cmd.add_option("--timeout", f.timeout, "kill the job after this long (default 300s)");
  cmd.add_option("--grace", f.grace, "send SIGTERM this long before the deadline (default 0)");
  cmd.add_option("-m,--memory", f.memory, "memory limit, swap included (e.g. 256m, unlimited)");
  cmd.add_option("--cpus", f.cpus, "CPU limit (e.g. 0.5, unlimited)");
  cmd.add_option("--pids-limit", f.pids, "maximum processes and threads (or unlimited)");
  cmd.add_option("--cpuset-cpus", f.cpuset_cpus, "CPUs the job may run on (e.g. 0-3,8)");
  cmd.add_option("--cpu-time", f.cpu_time,
                 "kill the job once its processes used this much CPU time (e.g. 10s); exit 152");
  cmd.add_option("--tmpfs-size", f.tmpfs_size, "size of /tmp and of the work dir (default 64m)");
  cmd.add_option("--output-cap", f.output_cap, "bytes kept per stream (default 10m)");
  // One value per -e, so "-e K=V script.sh" leaves the script to the positional argument.
  cmd.add_option("-e,--env", f.env, "KEY=VALUE, or KEY to pass the host's value")
      ->allow_extra_args(false);
  cmd.add_option("--ulimit", f.ulimit,
                 "NAME=SOFT[:HARD] resource limit of the job's processes (nofile, nproc, fsize, "
                 "core, stack, cpu, ...; -1: unlimited), once per limit")
      ->allow_extra_args(false);
  cmd.add_option("-v,--volume", f.volume,
                 "SRC:DST[:ro|rw] bind mount of a host path (absolute), once per mount")
      ->allow_extra_args(false);
  cmd.add_option("--mount", f.mount,
                 "type=bind,source=SRC,target=DST[,readonly] or "
                 "type=tmpfs,target=DST[,tmpfs-size=SIZE,tmpfs-mode=OCTAL], once per mount")
      ->allow_extra_args(false);
  cmd.add_option("--tmpfs", f.tmpfs,
                 "DST[:size=SIZE,mode=OCTAL] tmpfs mount (size default: --tmpfs-size)")
      ->allow_extra_args(false);
  cmd.add_option("--device", f.device,
                 "HOSTPATH[:JOBPATH][:PERMS] a host device node in the job's /dev (PERMS of r, "
                 "w, m; default rwm), or a CDI device VENDOR/CLASS=NAME (nvidia.com/gpu=all); "
                 "once per device")
      ->allow_extra_args(false);
  cmd.add_option("--gpus", f.gpus,
                 "all, or N: the CDI devices nvidia.com/gpu=all, or the first N of them");
  cmd.add_option("--copy-in", f.copy_in,
                 "HOSTPATH[:JOBPATH] file or directory copied into the work dir before the job "
                 "starts (JOBPATH: relative to it, or under it or /tmp), once per copy")
      ->allow_extra_args(false);
  cmd.add_option("--copy-out", f.copy_out,
                 "PATTERN (a path or glob relative to the work dir, or under it or /tmp) read "
                 "after the job ends, into --output-dir or --json's \"files\"; once per pattern")
      ->allow_extra_args(false);
  cmd.add_option("--copy-out-file-cap", f.copy_out_file_cap,
                 "bytes kept of each copied-out file (default 64m)");
  cmd.add_option("--copy-out-cap", f.copy_out_cap,
                 "bytes kept of all copied-out files together (default 256m)");
  cmd.add_option("--env-file", f.env_file,
                 "file of KEY=VALUE lines (podman's format), before each --env");
  cmd.add_option("--network", f.network,
                 "none (default: loopback only); private (outbound through pasta, the host's "
                 "loopback as host.ociexec.internal; private:no-host-loopback without it); "
                 "host (the host's network, no isolation; root only)");
  cmd.add_option("--runtime", f.runtime, "runc, crun, auto or a path");
  cmd.add_option("--rootfs", f.rootfs, "prepared root file system (default: host view)");
  cmd.add_option("--image", f.image,
                 "run in an image (python:3.12-slim, HOST:PORT/NAME:TAG, oci:PATH[:REF]) on a "
                 "throwaway writable root");
  cmd.add_option("--pull", f.pull, "missing (default), always or never");
  cmd.add_option("-u,--user", f.user,
                 "UID[:GID] or NAME[:GROUP] (default: the image's User, else 65534)");
  cmd.add_option("--interpreter", f.interpreter,
                 "command that runs the script (default: its #! line, else /bin/sh)");
  cmd.add_option("--stdin", f.stdin_file, "file whose bytes the script reads on stdin");
  cmd.add_option("-w,--workdir", f.workdir, "working directory, a tmpfs (default /work)");
  cmd.add_flag("--init", f.init,
               "run the script under a minimal init that reaps orphans and forwards signals");
  cmd.add_flag("--allow-unenforced-limits", f.allow_unenforced_limits,
               "rootless without a delegated cgroup: run a job whose memory, CPU or pids "
               "limit cannot be enforced (the result lists it)");
  return command;
}

void settle_job_flags(RunFlags& f, const CLI::Option& command) {
  f.command_given = command.count() > 0;
  // With -c the script is the option's: every word after it is an argument.
  if (f.command_given && !f.script_file.empty()) {
    f.args.insert(f.args.begin(), f.script_file);
    f.script_file.clear();
  }
}

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

namespace {

// A local file as a job line's "files" entry: base64, so any bytes travel.
Expected<void> add_file(const fs::path& source, const std::string& target, nlohmann::json& files) {
  auto data = sys::read_file(source);
  if (!data) return tl::unexpected(data.error().with_context("--copy-in"));
  files[target] = {{"base64", text::base64_encode(*data)}};
  return {};
}

// --copy-in HOSTPATH[:JOBPATH] from this host: a file, or a directory's regular files (its
// empty directories are not sent; a symlink or a special file in it is refused).
Expected<void> add_copy_in(const std::string& text, nlohmann::json& files) {
  auto copy = config::parse_copy_in(text);
  if (!copy) return tl::unexpected(copy.error().with_context("--copy-in"));
  const std::string target = copy->target.empty() ? copy->source.filename().string() : copy->target;
  std::error_code ec;
  const auto status = fs::symlink_status(copy->source, ec);
  if (ec) return invalid_argument(fmt::format("--copy-in {:?}: {}", text, ec.message()));
  if (fs::is_regular_file(status)) return add_file(copy->source, target, files);
  if (!fs::is_directory(status))
    return invalid_argument(
        fmt::format("--copy-in {:?}: neither a file nor a directory", copy->source.string()));
  for (auto it = fs::recursive_directory_iterator(copy->source, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const auto s = it->symlink_status(ec);
    if (ec || fs::is_directory(s)) continue;
    const auto rel = fs::relative(it->path(), copy->source, ec).string();
    if (!fs::is_regular_file(s))
      return invalid_argument(
          fmt::format("--copy-in {:?}: {} is not a regular file; a remote job gets files only",
                      copy->source.string(), rel));
    if (auto r = add_file(it->path(), target + "/" + rel, files); !r) return r;
  }
  if (ec)
    return invalid_argument(fmt::format("--copy-in {:?}: {}", copy->source.string(), ec.message()));
  return {};
}

}  // namespace

Expected<nlohmann::json> batch_line_from_flags(const RunFlags& f, std::string script) {
  nlohmann::json j = {{"script", std::move(script)}};
  for (auto [key, value] : {std::pair{"timeout", &f.timeout},
                            {"grace", &f.grace},
                            {"memory", &f.memory},
                            {"cpus", &f.cpus},
                            {"pids_limit", &f.pids},
                            {"cpuset_cpus", &f.cpuset_cpus},
                            {"cpu_time", &f.cpu_time},
                            {"tmpfs_size", &f.tmpfs_size},
                            {"output_cap", &f.output_cap},
                            {"copy_out_file_cap", &f.copy_out_file_cap},
                            {"copy_out_cap", &f.copy_out_cap},
                            {"runtime", &f.runtime},
                            {"rootfs", &f.rootfs},
                            {"image", &f.image},
                            {"pull", &f.pull},
                            {"network", &f.network},
                            {"user", &f.user},
                            {"interpreter", &f.interpreter},
                            {"workdir", &f.workdir},
                            {"gpus", &f.gpus}})
    if (!value->empty()) j[key] = *value;
  // Bind sources name paths on the worker's host, as they would in a job line.
  for (auto [key, list] : {std::pair{"ulimit", &f.ulimit},
                           {"volume", &f.volume},
                           {"mount", &f.mount},
                           {"tmpfs", &f.tmpfs},
                           {"devices", &f.device},
                           {"copy_out", &f.copy_out},
                           {"args", &f.args}})
    if (!list->empty()) j[key] = *list;
  if (f.init) j["init"] = true;
  if (f.allow_unenforced_limits) j["allow_unenforced_limits"] = true;
  // This host's environment and files, as run would read them, sent as data.
  std::vector<std::string> env;
  if (!f.env_file.empty()) {
    auto entries = config::read_env_file(f.env_file);
    if (!entries) return tl::unexpected(entries.error().with_context("--env-file"));
    env = std::move(*entries);
  }
  for (const auto& e : f.env) {
    if (e.find('=') != std::string::npos)
      env.push_back(e);
    else if (const char* value = std::getenv(e.c_str()))
      env.push_back(e + "=" + value);
  }
  if (!env.empty()) j["env"] = env;
  if (!f.stdin_file.empty()) {
    auto data = sys::read_file(f.stdin_file);
    if (!data) return tl::unexpected(data.error().with_context("--stdin"));
    // nlohmann's strict dump throws on what is not UTF-8, as a job line could not carry it.
    bool utf8 = true;
    try {
      (void)nlohmann::json(*data).dump();
    } catch (const nlohmann::json::exception&) {
      utf8 = false;
    }
    if (!utf8)
      return invalid_argument(
          "--stdin: not UTF-8 text, which a job line carries; send the bytes as a file "
          "(--copy-in) and read that instead");
    j["stdin"] = std::move(*data);
  }
  nlohmann::json files = nlohmann::json::object();
  for (const auto& c : f.copy_in)
    if (auto r = add_copy_in(c, files); !r) return tl::unexpected(r.error());
  if (!files.empty()) j["files"] = std::move(files);
  return j;
}

}  // namespace ociexec::cli
