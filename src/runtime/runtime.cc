#include "runtime/runtime.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "util/text.h"
#include "sys/fs.h"
#include "sys/process.h"

namespace ociexec::runtime {

namespace fs = std::filesystem;

namespace {

// A log entry's string field; "" when absent or not a string (a runtime's log is its own).
std::string string_field(const nlohmann::json& entry, const char* key) {
  auto it = entry.find(key);
  return it != entry.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> global_args(const Invocation& inv) {
  return {inv.binary,     "--root", inv.root.string(), "--log", inv.log.string(),
          "--log-format", "json"};
}

std::string runtime_name_of(const std::string& path) {
  auto base = path.substr(path.rfind('/') + 1);
  if (base.find("crun") != std::string::npos) return "crun";
  if (base.find("runc") != std::string::npos) return "runc";
  return base;
}

}  // namespace

std::vector<std::string> create_argv(const Invocation& inv, const std::filesystem::path& bundle,
                                     const std::filesystem::path& pid_file, const std::string& id,
                                     bool preserve_fd3) {
  auto argv = global_args(inv);
  argv.insert(argv.end(), {"create", "--bundle", bundle.string(), "--pid-file", pid_file.string()});
  if (preserve_fd3) argv.insert(argv.end(), {"--preserve-fds", "1"});
  argv.push_back(id);
  return argv;
}

std::vector<std::string> start_argv(const Invocation& inv, const std::string& id) {
  auto argv = global_args(inv);
  argv.insert(argv.end(), {"start", id});
  return argv;
}

std::vector<std::string> delete_argv(const Invocation& inv, const std::string& id) {
  auto argv = global_args(inv);
  argv.insert(argv.end(), {"delete", "--force", id});
  return argv;
}

std::string parse_version(std::string_view out) {
  auto pos = out.find("version ");
  if (pos == std::string_view::npos) return {};
  auto rest = out.substr(pos + 8);
  return std::string(text::trim(rest.substr(0, rest.find('\n'))));
}

std::string error_text(std::string_view json_log, std::string_view fallback) {
  std::string last;
  std::size_t pos = 0;
  while (pos < json_log.size()) {
    auto end = json_log.find('\n', pos);
    if (end == std::string_view::npos) end = json_log.size();
    auto line = json_log.substr(pos, end - pos);
    pos = end + 1;
    auto entry = nlohmann::json::parse(line, nullptr, false);
    if (entry.is_discarded() || !entry.is_object()) {
      if (!text::trim(line).empty()) last = std::string(text::trim(line));
      continue;
    }
    auto level = string_field(entry, "level");
    if (level == "error" || level == "fatal" || level == "panic") last = string_field(entry, "msg");
  }
  if (last.empty()) {
    std::string fb(text::trim(fallback));
    auto nl = fb.rfind('\n');
    last = nl == std::string::npos ? fb : fb.substr(nl + 1);
  }
  // It becomes part of a one-line error.
  std::replace_if(last.begin(), last.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return last;
}

ErrorKind classify_create_failure(std::string_view text) {
  const bool exec_related = text.find("exec") != std::string_view::npos ||
                            text.find("executable") != std::string_view::npos;
  if (exec_related && (text.find("no such file or directory") != std::string_view::npos ||
                       text.find("No such file or directory") != std::string_view::npos ||
                       text.find("not found") != std::string_view::npos))
    return ErrorKind::kCommandNotFound;
  if (exec_related && (text.find("permission denied") != std::string_view::npos ||
                       text.find("Permission denied") != std::string_view::npos))
    return ErrorKind::kCommandNotExecutable;
  return ErrorKind::kRuntimeFailed;
}

std::optional<std::string> crun_refusal(const cgroup::Layout& layout) {
  if (layout.mode != cgroup::Mode::kHybrid || layout.unified_controllers.empty())
    return std::nullopt;
  std::string list;
  for (const auto& c : layout.unified_controllers) list += (list.empty() ? "" : " ") + c;
  const auto* v2 = layout.find_v2();
  return fmt::format(
      "crun refuses hybrid cgroups: the cgroup2 mount at {} has controllers ({}); use runc, or "
      "run crun in a mount namespace without that mount",
      v2 ? v2->mount_point : "?", list);
}

bool needs_private_mount_ns(std::string_view name, const cgroup::Layout& layout) {
  return name == "crun" && crun_refusal(layout).has_value();
}

std::string binary_identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return fmt::format("{} {} {} {}.{}", path, st.st_ino, st.st_size, st.st_mtim.tv_sec,
                     st.st_mtim.tv_nsec);
}

namespace {

// Only root may make the mount namespace crun needs on a hybrid host.
bool can_hide_cgroup2_mount() {
  return ::geteuid() == 0;
}

Expected<RuntimeInfo> with_mount_ns(Expected<RuntimeInfo> info, const cgroup::Layout& layout) {
  if (info) info->private_mount_ns = needs_private_mount_ns(info->name, layout);
  return info;
}

}  // namespace

Expected<RuntimeInfo> probe(const std::string& name, const std::string& path,
                            std::chrono::milliseconds timeout, const fs::path& cache_dir) {
  const std::string identity = binary_identity(path);
  const fs::path cache = cache_dir.empty() ? fs::path() : cache_dir / (name + ".version");
  if (!cache.empty() && !identity.empty()) {
    if (auto text = sys::read_file(cache)) {
      auto nl = text->find('\n');
      if (nl != std::string::npos && text->substr(0, nl) == identity)
        return RuntimeInfo{name, path, std::string(text::trim(text->substr(nl + 1)))};
    }
  }
  auto out = sys::run_command({path, "--version"}, timeout);
  if (!out) return tl::unexpected(out.error().with_context(fmt::format("probe runtime {}", path)));
  if (out->status.signaled || out->status.code != 0)
    return tl::unexpected(
        Error{ErrorKind::kRuntimeNotFound, fmt::format("probe runtime {}: \"--version\" failed: {}",
                                                       path, error_text({}, out->output))});
  RuntimeInfo info{name, path, parse_version(out->output)};
  if (!cache.empty() && !identity.empty()) {
    // Written aside and renamed: concurrent CLIs never read half a file.
    (void)sys::replace_file(cache, identity + "\n" + info.version + "\n", 0600,
                            cache.string() + fmt::format(".tmp{}", ::getpid()));
  }
  return info;
}

Expected<RuntimeInfo> resolve(const std::string& wanted, const cgroup::Layout& layout,
                              std::chrono::milliseconds timeout, const fs::path& cache_dir) {
  if (wanted == "auto" || wanted.empty()) {
    // crun starts containers several times faster than runc; prefer it where it works.
    if (!crun_refusal(layout) || can_hide_cgroup2_mount())
      if (auto crun = sys::find_executable("crun"))
        return with_mount_ns(probe("crun", *crun, timeout, cache_dir), layout);
    if (auto runc = sys::find_executable("runc")) return probe("runc", *runc, timeout, cache_dir);
    if (auto crun = sys::find_executable("crun"))
      return tl::unexpected(Error{ErrorKind::kRuntimeNotFound,
                                  fmt::format("no usable runtime: runc is not on PATH and {}; "
                                              "install runc",
                                              *crun_refusal(layout))});
    return tl::unexpected(Error{ErrorKind::kRuntimeNotFound,
                                "no OCI runtime found: neither runc nor crun is on PATH; install "
                                "one (apt-get install runc) or pass --runtime PATH"});
  }
  auto path = sys::find_executable(wanted);
  if (!path)
    return tl::unexpected(Error{ErrorKind::kRuntimeNotFound,
                                fmt::format("runtime \"{}\" not found or not executable; install "
                                            "it or pass its full path",
                                            wanted)});
  std::string name = runtime_name_of(*path);
  if (name == "crun")
    if (auto why = crun_refusal(layout); why && !can_hide_cgroup2_mount())
      return tl::unexpected(Error{ErrorKind::kRuntimeFailed,
                                 *why + " (making that namespace needs root)"});
  auto info = probe(name, *path, timeout, cache_dir);
  return name == "crun" ? with_mount_ns(std::move(info), layout) : info;
}

}  // namespace ociexec::runtime
