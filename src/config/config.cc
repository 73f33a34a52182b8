#include "config/config.h"

#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "util/text.h"
#include "config/mount_specs.h"
#include "config/units.h"
#include "sys/fs.h"

namespace ociexec::config {

namespace {

using Setter = std::function<Expected<void>(Config&, const std::string&)>;

template <typename T>
Expected<void> assign(Expected<T> parsed, T& target) {
  if (!parsed) return tl::unexpected(parsed.error());
  target = *parsed;
  return {};
}

template <typename T, typename Parse>
Setter limit_setter(std::optional<T> Limits::*field, Parse parse) {
  return [field, parse](Config& c, const std::string& v) -> Expected<void> {
    if (is_unlimited(v)) {
      c.job.limits.*field = std::nullopt;
      return {};
    }
    auto parsed = parse(v);
    if (!parsed) return tl::unexpected(parsed.error());
    c.job.limits.*field = static_cast<T>(*parsed);
    return {};
  };
}

// Blank-separated mount texts (-v, --mount, --tmpfs), added to the job's mounts.
Setter mounts_setter(Expected<Mount> (*parse)(std::string_view)) {
  return [parse](Config& c, const std::string& v) {
    return parse_mounts(text::words(v), parse, c.job.mounts);
  };
}

Setter absolute_path_setter(std::filesystem::path ExecutorOptions::*field) {
  return [field](Config& c, const std::string& v) -> Expected<void> {
    if (v.empty() || v.front() != '/')
      return tl::unexpected(Error{ErrorKind::kInvalidArgument, "expected an absolute path"});
    c.executor.*field = v;
    return {};
  };
}

// A count of at least `min`.
Setter count_setter(std::size_t ExecutorOptions::*field, std::int64_t min) {
  return [field, min](Config& c, const std::string& v) -> Expected<void> {
    auto n = parse_count(v);
    if (!n) return tl::unexpected(n.error());
    if (*n < min)
      return tl::unexpected(
          Error{ErrorKind::kInvalidArgument, fmt::format("expected {} or more", min)});
    c.executor.*field = static_cast<std::size_t>(*n);
    return {};
  };
}

const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> table = {
      {"runtime",
       [](Config& c, const std::string& v) -> Expected<void> {
         c.executor.runtime = v;
         return {};
       }},
      {"state_dir", absolute_path_setter(&ExecutorOptions::state_dir)},
      {"cache_dir", absolute_path_setter(&ExecutorOptions::cache_dir)},
      {"cgroup_parent",
       [](Config& c, const std::string& v) -> Expected<void> {
         c.executor.cgroup_parent = v;
         return {};
       }},
      {"runtime_timeout",
       [](Config& c, const std::string& v) {
         return assign(parse_duration(v), c.executor.runtime_timeout);
       }},
      {"kill_wait",
       [](Config& c, const std::string& v) {
         return assign(parse_duration(v), c.executor.kill_wait);
       }},
      {"pool_size", count_setter(&ExecutorOptions::pool_size, 0)},
      {"pool_max_containers", count_setter(&ExecutorOptions::pool_max_containers, 0)},
      {"pool_max_age",
       [](Config& c, const std::string& v) {
         return assign(parse_duration(v), c.executor.pool_max_age);
       }},
      {"warm_interpreters",
       [](Config& c, const std::string& v) {
         return assign(parse_bool(v), c.executor.warm_interpreters);
       }},
      {"max_concurrent_jobs", count_setter(&ExecutorOptions::max_concurrent_jobs, 1)},
      {"init_path", absolute_path_setter(&ExecutorOptions::init_path)},
      {"timeout",
       [](Config& c, const std::string& v) { return assign(parse_duration(v), c.job.timeout); }},
      {"grace",
       [](Config& c, const std::string& v) { return assign(parse_duration(v), c.job.grace); }},
      {"memory", limit_setter(&Limits::memory_bytes, parse_size)},
      {"cpus", limit_setter(&Limits::cpus, parse_cpus)},
      {"pids_limit", limit_setter(&Limits::pids, parse_count)},
      // Checked against the host's CPUs when a job runs (core/validate.cc).
      {"cpuset_cpus",
       limit_setter(&Limits::cpuset_cpus, [](std::string_view v) -> Expected<std::string> {
         return std::string(v);
       })},
      {"cpu_time", limit_setter(&Limits::cpu_time, parse_duration)},
      {"tmpfs_size",
       [](Config& c, const std::string& v) {
         return assign(parse_size(v), c.job.limits.tmpfs_bytes);
       }},
      {"output_cap",
       [](Config& c, const std::string& v) -> Expected<void> {
         auto size = parse_size(v);
         if (!size) return tl::unexpected(size.error());
         c.job.output_cap = static_cast<std::size_t>(*size);
         return {};
       }},
      {"copy_out_file_cap",
       [](Config& c, const std::string& v) {
         return assign(parse_size(v), c.job.copy_out_file_cap);
       }},
      {"copy_out_cap",
       [](Config& c, const std::string& v) { return assign(parse_size(v), c.job.copy_out_cap); }},
      {"rootfs",
       [](Config& c, const std::string& v) -> Expected<void> {
         c.job.rootfs = v;
         return {};
       }},
      {"image",
       [](Config& c, const std::string& v) -> Expected<void> {
         c.job.image = v;
         return {};
       }},
      {"pull",
       [](Config& c, const std::string& v) { return assign(parse_pull_policy(v), c.job.pull); }},
      {"network",
       [](Config& c, const std::string& v) { return assign(parse_network(v), c.job.network); }},
      {"user",
       [](Config& c, const std::string& v) -> Expected<void> {
         c.job.user = v;
         return {};
       }},
      {"image_store",
       [](Config& c, const std::string& v) -> Expected<void> {
         if (v.empty() || v.front() != '/')
           return tl::unexpected(Error{ErrorKind::kConfig, "expected an absolute path"});
         c.executor.images.store = v;
         return {};
       }},
      {"tls_verify",
       [](Config& c, const std::string& v) {
         return assign(parse_bool(v), c.executor.images.tls_verify);
       }},
      {"insecure_registries",
       [](Config& c, const std::string& v) -> Expected<void> {
         c.executor.images.insecure_registries.clear();
         for (auto& host : text::words(v)) {
           if (host.back() == ',') host.pop_back();
           if (!host.empty()) c.executor.images.insecure_registries.push_back(host);
         }
         return {};
       }},
      {"cert_file",
       [](Config& c, const std::string& v) -> Expected<void> {
         c.executor.images.ca_file = v;
         return {};
       }},
      {"authfile",
       [](Config& c, const std::string& v) -> Expected<void> {
         c.executor.images.auth_file = v;
         return {};
       }},
      {"image_max_size",
       [](Config& c, const std::string& v) {
         return assign(parse_size(v), c.executor.images.max_unpacked_bytes);
       }},
      {"pull_timeout",
       [](Config& c, const std::string& v) {
         return assign(parse_duration(v), c.executor.images.pull_timeout);
       }},
      {"image_max_entries",
       [](Config& c, const std::string& v) -> Expected<void> {
         auto n = parse_count(v);
         if (!n) return tl::unexpected(n.error());
         if (*n < 1) return tl::unexpected(Error{ErrorKind::kConfig, "must be at least 1"});
         c.executor.images.max_entries = static_cast<std::uint64_t>(*n);
         return {};
       }},
      {"platform",
       [](Config& c, const std::string& v) -> Expected<void> {
         c.executor.images.platform = v;
         return {};
       }},
      {"interpreter",
       [](Config& c, const std::string& v) -> Expected<void> {
         c.job.interpreter = text::words(v);
         return {};
       }},
      {"allow_unenforced_limits",
       [](Config& c, const std::string& v) {
         return assign(parse_bool(v), c.job.allow_unenforced_limits);
       }},
      {"init", [](Config& c, const std::string& v) { return assign(parse_bool(v), c.job.init); }},
      {"ulimit",
       [](Config& c, const std::string& v) {
         return assign(parse_ulimits(text::words(v)), c.job.ulimit);
       }},
      {"volume", mounts_setter(&parse_volume)},
      {"mount", mounts_setter(&parse_mount)},
      {"tmpfs", mounts_setter(&parse_tmpfs)},
      {"devices",
       [](Config& c, const std::string& v) {
         return parse_devices(text::words(v), c.job.devices);
       }},
      {"gpus",
       [](Config& c, const std::string& v) { return parse_gpus(v, c.job.devices, c.job.gpus); }},
      {"cdi_spec_dirs",
       [](Config& c, const std::string& v) -> Expected<void> {
         c.executor.cdi_spec_dirs.clear();
         for (const auto& dir : text::words(v)) {
           if (dir.empty() || dir.front() != '/')
             return tl::unexpected(
                 Error{ErrorKind::kConfig, fmt::format("{:?}: expected absolute paths", dir)});
           c.executor.cdi_spec_dirs.emplace_back(dir);
         }
         return {};
       }},
  };
  return table;
}

// Earlier spellings of a key, still read: one name per setting across the flags, this file,
// job lines and Python (README's table).
const std::map<std::string, std::string, std::less<>>& aliases() {
  static const std::map<std::string, std::string, std::less<>> table = {
      {"registry_ca_file", "cert_file"},
      {"auth_file", "authfile"},
  };
  return table;
}

Error at(const std::string& source, const YAML::Mark& mark, const std::string& message) {
  return Error{ErrorKind::kConfig, fmt::format("{}:{}:{}: {}", source, mark.line + 1,
                                               mark.column + 1, text::one_line(message))};
}

}  // namespace

namespace {

// One "key: value" of a file, with the file it came from for errors.
struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
  std::string source;
};

// The entries of one file's text, in order; its syntax and shape checked.
Expected<std::vector<Entry>> read_entries(std::string_view yaml, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return tl::unexpected(at(source, e.mark, e.msg));
  }
  std::vector<Entry> entries;
  if (root.IsNull()) return entries;  // an empty file: all defaults
  if (!root.IsMap())
    return tl::unexpected(at(source, root.Mark(), "expected a mapping of option: value"));
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>("");
    if (auto alias = aliases().find(key); alias != aliases().end()) key = alias->second;
    entries.push_back({std::move(key), kv.first, kv.second, source});
  }
  return entries;
}

// `entries` applied over the defaults, in order.
Expected<Config> apply_entries(const std::vector<Entry>& entries) {
  Config config;
  for (const auto& e : entries) {
    auto it = setters().find(e.key);
    if (it == setters().end()) {
      std::string known;
      for (const auto& [name, _] : setters()) known += (known.empty() ? "" : ", ") + name;
      return tl::unexpected(at(e.source, e.key_node.Mark(),
                               fmt::format("unknown key {:?}; known keys: {}", e.key, known)));
    }
    if (!e.value.IsScalar())
      return tl::unexpected(
          at(e.source, e.value.Mark(), fmt::format("{}: expected a single value", e.key)));
    if (auto r = it->second(config, e.value.Scalar()); !r)
      return tl::unexpected(
          at(e.source, e.value.Mark(), fmt::format("{}: {}", e.key, r.error().message)));
  }
  return config;
}

// The user's own file, for a user other than root: $XDG_CONFIG_HOME/ociexec/config.yaml, else
// ~/.config/ociexec/config.yaml (as podman's containers.conf).
std::optional<std::filesystem::path> user_config_path() {
  if (::geteuid() == 0) return std::nullopt;
  auto dir = sys::xdg_dir("XDG_CONFIG_HOME", ".config");
  if (!dir) return std::nullopt;
  return *dir / "ociexec/config.yaml";
}

}  // namespace

Expected<Config> parse_config(std::string_view yaml, const std::string& source) {
  auto entries = read_entries(yaml, source);
  if (!entries) return tl::unexpected(entries.error());
  return apply_entries(*entries);
}

Expected<Config> load_configs(const std::vector<std::filesystem::path>& paths) {
  std::vector<Entry> entries;
  for (const auto& path : paths) {
    auto text = sys::read_file(path);
    if (!text)
      return tl::unexpected(
          Error{ErrorKind::kConfig, fmt::format("read config: {}", text.error().message)});
    auto read = read_entries(*text, path.string());
    if (!read) return tl::unexpected(read.error());
    // A key set again replaces what an earlier file gave it, lists (volume, devices) included.
    for (auto& e : *read) {
      std::erase_if(entries, [&](const Entry& old) { return old.key == e.key; });
      entries.push_back(std::move(e));
    }
  }
  return apply_entries(entries);
}

Expected<Config> load_config(const std::filesystem::path& path) {
  return load_configs({path});
}

std::vector<std::filesystem::path> config_files(const std::string& explicit_path) {
  if (!explicit_path.empty()) return {explicit_path};
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  if (std::filesystem::exists(kSystemConfigPath, ec)) files.emplace_back(kSystemConfigPath);
  if (auto user = user_config_path(); user && std::filesystem::exists(*user, ec))
    files.push_back(*user);
  return files;
}

Expected<Config> load_effective_config(const std::string& explicit_path) {
  return load_configs(config_files(explicit_path));
}

}  // namespace ociexec::config
