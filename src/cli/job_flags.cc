#include "cli/job_flags.h"

#include <cstdlib>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "cli/common.h"
#include "config/mount_specs.h"
#include "config/units.h"
#include "sys/confined.h"
#include "sys/fs.h"
#include "util/text.h"

#include <filesystem>

namespace ociexec::cli {

namespace {

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

// A JSON value as the text its `run` flag would take: strings as they are, numbers printed.
std::string flag_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "unlimited";
  return v.dump();
}

// A key that takes its flag's text once or more: one string, or a list of them.
std::vector<std::string> one_or_list(const nlohmann::json& v) {
  return v.is_string() ? std::vector{v.get<std::string>()} : v.get<std::vector<std::string>>();
}

}  // namespace

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
                   [&](auto v) { job.output_cap = static_cast<std::size_t>(v); }),
        apply_limit("--cpu-time", f.cpu_time, config::parse_duration, lim.cpu_time)})
    if (!r) return r;
  if (!f.cpuset_cpus.empty()) lim.cpuset_cpus = f.cpuset_cpus;  // checked when the job runs
  // podman's order: the env file first, then each --env over it.
  if (!f.env_file.empty()) {
    auto entries = config::read_env_file(f.env_file);
    if (!entries) return tl::unexpected(entries.error().with_context("--env-file"));
    job.env.insert(job.env.end(), entries->begin(), entries->end());
  }
  if (!f.args.empty()) job.args = f.args;
  for (const auto& c : f.copy_in) {
    auto copy = config::parse_copy_in(c);
    if (!copy) return tl::unexpected(copy.error().with_context("--copy-in"));
    job.copy_in.push_back(std::move(*copy));
  }
  job.copy_out.insert(job.copy_out.end(), f.copy_out.begin(), f.copy_out.end());
  for (auto r : {apply_flag("--copy-out-file-cap", f.copy_out_file_cap, config::parse_size,
                            [&](auto v) { job.copy_out_file_cap = v; }),
                 apply_flag("--copy-out-cap", f.copy_out_cap, config::parse_size,
                            [&](auto v) { job.copy_out_cap = v; })})
    if (!r) return r;
  auto ulimit = config::parse_ulimits(f.ulimit);
  if (!ulimit) return tl::unexpected(ulimit.error().with_context("--ulimit"));
  job.ulimit.insert(job.ulimit.end(), ulimit->begin(), ulimit->end());
  for (auto [flag, texts, parse] : {std::tuple{"--volume", &f.volume, &config::parse_volume},
                                    std::tuple{"--mount", &f.mount, &config::parse_mount},
                                    std::tuple{"--tmpfs", &f.tmpfs, &config::parse_tmpfs}})
    if (auto r = config::parse_mounts(*texts, parse, job.mounts); !r)
      return tl::unexpected(r.error().with_context(flag));
  if (auto r = config::parse_devices(f.device, job.devices); !r)
    return tl::unexpected(r.error().with_context("--device"));
  if (!f.gpus.empty())
    if (auto r = config::parse_gpus(f.gpus, job.devices, job.gpus); !r)
      return tl::unexpected(r.error().with_context("--gpus"));
  for (const auto& e : f.env) {
    if (e.find('=') != std::string::npos) {
      job.env.push_back(e);
    } else if (const char* host = std::getenv(e.c_str())) {
      job.env.push_back(e + "=" + host);  // podman: -e NAME passes the host's value
    }
  }
  if (f.allow_unenforced_limits) job.allow_unenforced_limits = true;
  if (f.init) job.init = true;
  if (!f.runtime.empty()) job.runtime = f.runtime;
  if (!f.rootfs.empty()) job.rootfs = f.rootfs;
  if (!f.image.empty()) job.image = f.image;
  if (!f.user.empty()) job.user = f.user;
  if (auto r = apply_flag("--pull", f.pull, config::parse_pull_policy,
                          [&](auto v) { job.pull = v; });
      !r)
    return r;
  if (auto r = apply_flag("--network", f.network, config::parse_network,
                          [&](auto v) { job.network = v; });
      !r)
    return r;
  if (!f.interpreter.empty()) job.interpreter = text::words(f.interpreter);
  if (!f.workdir.empty()) job.workdir = f.workdir;
  if (!f.stdin_file.empty()) {
    auto data = sys::read_file(f.stdin_file);
    if (!data) return tl::unexpected(data.error().with_context("--stdin"));
    job.stdin_data = std::move(*data);
  }
  return {};
}

void add_image_flags(CLI::App& cmd, ImageFlags& flags, bool registry) {
  cmd.add_option("--image-store", flags.store,
                 "image store (default /var/lib/ociexec, rootless $XDG_DATA_HOME/ociexec)");
  if (!registry) return;
  // podman's boolean: --tls-verify (the default) or --tls-verify=false.
  cmd.add_flag("--tls-verify{true}", flags.tls_verify,
               "=false: no TLS verification, and plain HTTP for registries without TLS");
  cmd.add_option("--creds", flags.creds, "registry credentials USER:PASSWORD");
  cmd.add_option("--authfile", flags.authfile,
                 "auth file (docker config.json or containers auth.json format)");
  cmd.add_option("--cert-file", flags.cert_file, "PEM CA bundle trusted besides the system's");
  cmd.add_option("--platform", flags.platform, "OS/ARCH[/VARIANT] (default: this machine's)");
  cmd.add_option("--pull-timeout", flags.pull_timeout,
                 "time limit of a whole pull (default 1h; a transfer slower than 1 KiB/s for "
                 "30 s is dropped)");
}

Expected<void> apply_image_flags(const ImageFlags& f, ImageOptions& o) {
  if (!f.store.empty()) o.store = std::filesystem::absolute(f.store);
  if (auto r = apply_flag("--tls-verify", f.tls_verify, config::parse_bool,
                          [&](bool v) { o.tls_verify = v; });
      !r)
    return r;
  if (!f.creds.empty()) {
    if (f.creds.find(':') == std::string::npos || f.creds.front() == ':')
      return tl::unexpected(Error{ErrorKind::kInvalidArgument, "--creds: expected USER:PASSWORD"});
    o.credentials = f.creds;
  }
  if (!f.authfile.empty()) o.auth_file = f.authfile;
  if (!f.cert_file.empty()) o.ca_file = f.cert_file;
  if (!f.platform.empty()) o.platform = f.platform;
  return apply_flag("--pull-timeout", f.pull_timeout, config::parse_duration,
                    [&](auto v) { o.pull_timeout = v; });
}

namespace {

// {"nofile": {"soft": 1024, "hard": 2048}}, with null for unlimited.
nlohmann::json ulimit_json(const std::vector<Ulimit>& ulimit) {
  auto value = [](std::uint64_t v) {
    return v == kUnlimitedRlimit ? nlohmann::json(nullptr) : nlohmann::json(v);
  };
  nlohmann::json out = nlohmann::json::object();
  for (const auto& u : ulimit) out[u.name] = {{"soft", value(u.soft)}, {"hard", value(u.hard)}};
  return out;
}

}  // namespace

namespace {

// {"out.txt": {"size": 3, "mode": "0644", "truncated": false, "base64": "..."}}, or with
// "error" for a file that was not read.
nlohmann::json files_json(const std::map<std::string, CopiedFile>& files, bool with_data) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [path, f] : files) {
    if (!f.error.empty()) {
      out[path] = {{"error", f.error}};
      continue;
    }
    auto& j = out[path];
    j = {{"size", f.data.size()},
         {"mode", fmt::format("{:04o}", f.mode)},
         {"truncated", f.truncated}};
    if (with_data) j["base64"] = text::base64_encode(f.data);
  }
  return out;
}

}  // namespace

nlohmann::json result_json(const Result& r, bool file_data) {
  using nlohmann::json;
  auto opt = [](const auto& o) -> json { return o ? json(*o) : json(nullptr); };
  const auto& l = r.limits;
  json j = {
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
      {"warnings", r.warnings},
      {"limits",
       {{"timeout_ms", l.timeout.count()},
        {"grace_ms", l.grace.count()},
        {"memory_bytes", opt(l.memory_bytes)},
        {"cpus", opt(l.cpus)},
        {"pids", opt(l.pids)},
        {"tmpfs_bytes", l.tmpfs_bytes},
        {"output_cap_bytes", l.output_cap},
        {"ulimit", ulimit_json(l.ulimit)},
        {"cpuset_cpus", opt(l.cpuset_cpus)},
        {"cpu_time_ms", l.cpu_time ? json(l.cpu_time->count()) : json(nullptr)},
        {"unenforced", l.unenforced}}},
  };
  if (!r.files.empty()) j["files"] = files_json(r.files, file_data);
  return j;
}

Expected<void> write_output_dir(const std::string& dir,
                                const std::map<std::string, CopiedFile>& files) {
  auto fail = [&](const std::string& what, const Error& e) {
    return tl::unexpected(e.with_context(fmt::format("--output-dir {:?}: {}", dir, what)));
  };
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto root = sys::open_dir(dir);
  if (!root) return fail("open", root.error());
  for (const auto& [path, f] : files) {
    if (!f.error.empty()) continue;
    // The job named these paths: each is resolved inside the output dir, whatever it holds.
    const auto parts = sys::confined_components(path);
    if (parts.empty()) continue;
    auto parent = sys::make_dirs_in_root(root->get(), parts, parts.size() - 1);
    if (!parent) return fail(path, parent.error());
    if (auto r = sys::write_file_at(parent->get(), parts.back(), f.data, f.mode & 0777); !r)
      return fail(path, r.error());
  }
  return {};
}

void print_json(const nlohmann::json& j) {
  // Scripts may print invalid UTF-8; replace it rather than fail.
  write_all(1, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

nlohmann::json error_json(const Error& e) {
  return {{"error", {{"kind", to_string(e.kind)}, {"message", e.message}}}};
}

namespace {

// "files": {"PATH": "text", "PATH": {"base64": "..."}}.
Expected<std::map<std::string, std::string>> batch_files(const nlohmann::json& files) {
  auto bad = [](const std::string& why) {
    return tl::unexpected(Error{ErrorKind::kInvalidArgument, fmt::format("\"files\": {}", why)});
  };
  if (!files.is_object())
    return bad("expected an object of PATH: \"text\" or PATH: {\"base64\": \"...\"}");
  std::map<std::string, std::string> out;
  for (const auto& [path, v] : files.items()) {
    if (v.is_string()) {
      out[path] = v.get<std::string>();
    } else if (v.is_object() && v.size() == 1 && v.contains("base64") && v["base64"].is_string()) {
      auto bytes = text::base64_decode(v["base64"].get<std::string>());
      if (!bytes) return bad(fmt::format("{:?}: \"base64\" is not base64", path));
      out[path] = std::move(*bytes);
    } else {
      return bad(fmt::format("{:?}: expected \"text\" or {{\"base64\": \"...\"}}", path));
    }
  }
  return out;
}

}  // namespace

Expected<std::pair<std::string, JobOptions>> parse_batch_line(const std::string& line,
                                                              const JobOptions& defaults) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return tl::unexpected(Error{ErrorKind::kInvalidArgument, "not a JSON object"});
  if (!j.contains("script") || !j["script"].is_string())
    return tl::unexpected(
        Error{ErrorKind::kInvalidArgument, "\"script\" (a string) is missing"});
  RunFlags f;
  try {
    for (const auto& [key, value] : j.items()) {
      if (key == "id" || key == "script") continue;
      if (key == "timeout") f.timeout = flag_text(value);
      else if (key == "grace") f.grace = flag_text(value);
      else if (key == "memory") f.memory = flag_text(value);
      else if (key == "cpus") f.cpus = flag_text(value);
      // podman's name, as the flag and the YAML key; "pids", the first spelling, still works.
      else if (key == "pids_limit" || key == "pids") f.pids = flag_text(value);
      else if (key == "cpuset_cpus") f.cpuset_cpus = flag_text(value);
      else if (key == "cpu_time") f.cpu_time = flag_text(value);
      else if (key == "tmpfs_size") f.tmpfs_size = flag_text(value);
      else if (key == "output_cap") f.output_cap = flag_text(value);
      else if (key == "env") f.env = value.get<std::vector<std::string>>();
      else if (key == "env_file") f.env_file = value.get<std::string>();
      else if (key == "args") f.args = value.get<std::vector<std::string>>();
      else if (key == "copy_in")
        f.copy_in = one_or_list(value);
      else if (key == "copy_out")
        f.copy_out = one_or_list(value);
      else if (key == "copy_out_file_cap")
        f.copy_out_file_cap = flag_text(value);
      else if (key == "copy_out_cap")
        f.copy_out_cap = flag_text(value);
      else if (key == "ulimit") f.ulimit = one_or_list(value);
      else if (key == "volume") f.volume = one_or_list(value);
      else if (key == "mount") f.mount = one_or_list(value);
      else if (key == "tmpfs") f.tmpfs = one_or_list(value);
      else if (key == "devices")
        f.device = one_or_list(value);
      else if (key == "gpus")
        f.gpus = flag_text(value);
      else if (key == "runtime") f.runtime = value.get<std::string>();
      else if (key == "rootfs") f.rootfs = value.get<std::string>();
      else if (key == "image") f.image = value.get<std::string>();
      else if (key == "pull") f.pull = value.get<std::string>();
      else if (key == "network") f.network = value.get<std::string>();
      else if (key == "user") f.user = value.get<std::string>();
      else if (key == "interpreter") f.interpreter = value.get<std::string>();
      else if (key == "workdir") f.workdir = value.get<std::string>();
      else if (key == "allow_unenforced_limits") f.allow_unenforced_limits = value.get<bool>();
      else if (key == "init") f.init = value.get<bool>();
      else if (key != "stdin" && key != "files")
        return tl::unexpected(
            Error{ErrorKind::kInvalidArgument, fmt::format("unknown key {:?}", key)});
    }
  } catch (const nlohmann::json::exception& e) {
    return tl::unexpected(Error{ErrorKind::kInvalidArgument, fmt::format("bad value: {}", e.what())});
  }
  JobOptions job = defaults;
  if (auto r = apply_flags(f, job); !r) return tl::unexpected(r.error());
  if (j.contains("stdin")) {
    if (!j["stdin"].is_string())
      return tl::unexpected(Error{ErrorKind::kInvalidArgument, "\"stdin\" must be a string"});
    job.stdin_data = j["stdin"].get<std::string>();
  }
  if (j.contains("files")) {
    auto files = batch_files(j["files"]);
    if (!files) return tl::unexpected(files.error());
    job.files = std::move(*files);
  }
  return std::pair{j["script"].get<std::string>(), std::move(job)};
}

}  // namespace ociexec::cli
