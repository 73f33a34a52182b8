#include "spec/spec_builder.h"

#include "sys/rlimit.h"

#include "cgroup/limits.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "spec/base_profile.h"

namespace ociexec::spec {

using nlohmann::json;

namespace {

std::string env_key(const std::string& entry) {
  return entry.substr(0, entry.find('='));
}

json merged_env(const json& base, const std::vector<std::string>& extra) {
  std::vector<std::string> env = base.get<std::vector<std::string>>();
  for (const auto& e : extra) {
    auto key = env_key(e);
    auto it = std::find_if(env.begin(), env.end(),
                           [&](const std::string& b) { return env_key(b) == key; });
    if (it != env.end())
      *it = e;
    else
      env.push_back(e);
  }
  return env;
}

json tmpfs_mount(const std::string& dest, std::uint64_t bytes, const std::string& mode,
                 std::optional<std::pair<std::uint32_t, std::uint32_t>> owner) {
  json options = {"nosuid", "nodev", "mode=" + mode, fmt::format("size={}", bytes)};
  if (owner) {
    options.push_back(fmt::format("uid={}", owner->first));
    options.push_back(fmt::format("gid={}", owner->second));
  }
  return {{"destination", dest}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", options}};
}

std::vector<sys::IdMapping> id_map(std::uint32_t own, const std::optional<IdRange>& sub) {
  std::vector<sys::IdMapping> map{{0, own, 1}};
  if (sub) map.push_back({1, sub->start, sub->count});
  return map;
}

json bind_mount(const std::string& source, const std::string& destination,
                std::initializer_list<const char*> options) {
  return {{"destination", destination},
          {"type", "bind"},
          {"source", source},
          {"options", json(std::vector<std::string>(options.begin(), options.end()))}};
}

// The job's devices: nodes the runtime makes and allows in the device cgroup, or (rootless:
// no mknod there, no device cgroup) binds of the host's nodes; then a CDI spec's mounts, hooks
// and groups.
void add_devices(const DeviceEdits& d, bool rootless, json& spec, json& resources) {
  // Every device denied first, as `runc spec` writes it: crun applies the rules as given (and
  // its defaults: null, zero, tty, ...), so without this rule a crun job's device cgroup
  // would allow every device; runc denies first either way.
  if (!rootless) resources["devices"] = json::array({{{"allow", false}, {"access", "rwm"}}});
  for (const auto& n : d.nodes) {
    if (rootless) {
      spec["mounts"].push_back(
          bind_mount(n.host_path, n.path, {"rbind", "nosuid", "noexec", "rw"}));
      continue;
    }
    json node = {{"path", n.path},
                 {"type", n.type},
                 {"fileMode", n.file_mode},
                 {"uid", n.uid},
                 {"gid", n.gid}};
    if (n.type != "p") {
      node["major"] = n.major;
      node["minor"] = n.minor;
    }
    spec["linux"]["devices"].push_back(std::move(node));
    if (n.type != "p" && !n.access.empty())
      resources["devices"].push_back({{"allow", true},
                                      {"type", n.type},
                                      {"major", n.major},
                                      {"minor", n.minor},
                                      {"access", n.access}});
  }
  for (const auto& m : d.mounts)
    spec["mounts"].push_back({{"destination", m.destination},
                              {"type", m.type},
                              {"source", m.source},
                              {"options", m.options}});
  for (const auto& h : d.hooks) {
    json hook = {{"path", h.path}};
    if (!h.args.empty()) hook["args"] = h.args;
    if (!h.env.empty()) hook["env"] = h.env;
    if (h.timeout) hook["timeout"] = *h.timeout;
    spec["hooks"][h.stage].push_back(std::move(hook));
  }
  if (d.additional_gids.empty()) return;
  auto& gids = spec["process"]["user"]["additionalGids"];
  for (auto gid : d.additional_gids)
    if (std::find(gids.begin(), gids.end(), json(gid)) == gids.end()) gids.push_back(gid);
}

}  // namespace

std::vector<sys::IdMapping> UserNamespace::uid_map() const {
  return id_map(host_uid, full() ? sub_uids : std::nullopt);
}

std::vector<sys::IdMapping> UserNamespace::gid_map() const {
  return id_map(host_gid, full() ? sub_gids : std::nullopt);
}

std::vector<std::string> seccomp_architectures(const std::string& machine) {
  if (machine == "x86_64") return {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
  if (machine == "aarch64") return {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
  if (machine == "ppc64le") return {"SCMP_ARCH_PPC64LE"};
  if (machine == "s390x") return {"SCMP_ARCH_S390X", "SCMP_ARCH_S390"};
  if (machine == "riscv64") return {"SCMP_ARCH_RISCV64"};
  return {};
}

// Parsed once; each job copies it. The profile is compiled in and checked by the tests.
static const json& base_profile() {
  static const json base = json::parse(base_profile_json(), nullptr, false);
  return base;
}

std::vector<std::string> process_env(const std::vector<std::string>& extra) {
  const json& base = base_profile();
  if (base.is_discarded()) return extra;
  return merged_env(base["process"]["env"], extra).get<std::vector<std::string>>();
}

Expected<json> build_spec(const SpecInput& in) {
  const json& base = base_profile();
  if (base.is_discarded())
    return tl::unexpected(Error{ErrorKind::kSystem, "parse base profile: invalid JSON"});
  json spec = base;
  if (in.args.empty())
    return tl::unexpected(Error{ErrorKind::kInvalidArgument, "build spec: empty command"});

  auto& process = spec["process"];
  process["args"] = in.args;
  process["env"] = merged_env(process["env"], in.env);
  process["cwd"] = in.cwd;
  process["user"] = {{"uid", in.uid}, {"gid", in.gid}};
  // runc sets no supplementary groups rootless (setgroups may be denied in the namespace).
  if (!in.user_namespace) process["user"]["additionalGids"] = {in.gid};
  if (in.nofile_hard_limit) {
    for (auto& rl : process["rlimits"]) {
      if (rl["type"] != "RLIMIT_NOFILE") continue;
      auto cap = *in.nofile_hard_limit;
      rl["hard"] = std::min<std::uint64_t>(rl["hard"].get<std::uint64_t>(), cap);
      rl["soft"] = std::min<std::uint64_t>(rl["soft"].get<std::uint64_t>(), cap);
    }
  }
  for (const auto& u : in.ulimit) {
    const auto type = sys::rlimit_type(u.name);
    if (!type)
      return tl::unexpected(Error{ErrorKind::kInvalidArgument, "build spec: ulimit " + u.name});
    auto& rlimits = process["rlimits"];
    auto same = std::find_if(rlimits.begin(), rlimits.end(),
                             [&](const json& rl) { return rl["type"] == *type; });
    json entry = {{"type", *type}, {"hard", u.hard}, {"soft", u.soft}};
    if (same == rlimits.end())
      rlimits.push_back(std::move(entry));
    else
      *same = std::move(entry);
  }

  spec["root"] = {{"path", in.rootfs_path}, {"readonly", !in.root_writable}};

  auto& mounts = spec["mounts"];
  for (const auto& b : in.readonly_binds)
    mounts.push_back(bind_mount(b.source, b.destination, {"rbind", "ro", "nosuid", "nodev"}));
  mounts.push_back(tmpfs_mount("/tmp", in.tmpfs_bytes, "1777", std::nullopt));
  // With a single-id mapping the job is the namespace's root, which owns a new tmpfs already
  // (and runc refuses uid=/gid= options of unmapped ids).
  const auto work_owner = in.user_namespace && !in.user_namespace->full()
                              ? std::nullopt
                              : std::optional{std::pair{in.uid, in.gid}};
  const std::string& work = in.work_mount.empty() ? in.cwd : in.work_mount;
  if (work != "/tmp") mounts.push_back(tmpfs_mount(work, in.tmpfs_bytes, "0755", work_owner));
  if (in.host_network && !in.host_resolv_conf.empty())
    mounts.push_back(
        bind_mount(in.host_resolv_conf, "/etc/resolv.conf", {"rbind", "ro", "nosuid", "nodev"}));
  // The job's own, over those: binds never carry setuid bits or devices into the job.
  for (const auto& m : in.mounts) {
    if (m.type == Mount::Type::kBind) {
      mounts.push_back({{"destination", m.target},
                        {"type", "bind"},
                        {"source", m.source},
                        {"options", {"rbind", m.readonly ? "ro" : "rw", "nosuid", "nodev"}}});
      continue;
    }
    json tmpfs = tmpfs_mount(m.target, m.tmpfs_bytes.value_or(in.tmpfs_bytes),
                             fmt::format("{:o}", m.tmpfs_mode), std::nullopt);
    if (m.readonly) tmpfs["options"].push_back("ro");
    mounts.push_back(std::move(tmpfs));
  }

  auto& linux = spec["linux"];
  if (in.host_network) {
    auto& ns = linux["namespaces"];
    ns.erase(std::remove_if(ns.begin(), ns.end(),
                            [](const json& n) { return n["type"] == "network"; }),
             ns.end());
  }
  if (in.user_namespace) {
    linux["namespaces"].push_back({{"type", "user"}});
    auto mappings = [](const std::vector<sys::IdMapping>& map) {
      json m = json::array();
      for (const auto& l : map)
        m.push_back({{"containerID", l.inside}, {"hostID", l.outside}, {"size", l.count}});
      return m;
    };
    linux["uidMappings"] = mappings(in.user_namespace->uid_map());
    linux["gidMappings"] = mappings(in.user_namespace->gid_map());
  }
  for (auto& n : linux["namespaces"])
    if (auto p = in.namespace_paths.find(n["type"].get<std::string>());
        p != in.namespace_paths.end())
      n["path"] = p->second;
  if (!in.cgroups_path.empty()) linux["cgroupsPath"] = in.cgroups_path;
  json resources = json::object();
  if (in.memory_bytes) {
    auto bytes = static_cast<std::int64_t>(*in.memory_bytes);
    resources["memory"] = {{"limit", bytes}};
    // memory+swap equal to memory: no swap to hide in.
    if (in.swap_limit_supported) resources["memory"]["swap"] = bytes;
  }
  if (in.cpus) {
    resources["cpu"] = {{"quota", cgroup::cpu_quota_us(*in.cpus)},
                        {"period", cgroup::kCpuPeriodUs}};
  }
  if (in.cpuset_cpus) resources["cpu"]["cpus"] = *in.cpuset_cpus;
  if (in.pids) resources["pids"] = {{"limit", *in.pids}};
  add_devices(in.devices, in.user_namespace.has_value(), spec, resources);
  if (!resources.empty()) linux["resources"] = resources;
  linux["seccomp"]["architectures"] = seccomp_architectures(in.machine);
  if (linux["seccomp"]["architectures"].empty()) linux["seccomp"].erase("architectures");

  if (!in.annotations.empty()) spec["annotations"] = in.annotations;
  return spec;
}

}  // namespace ociexec::spec
