#include "cdi/spec_file.h"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "util/text.h"

namespace ociexec::cdi {

namespace {

// The released versions, oldest first; a field's version is the first that has it.
constexpr std::array<std::string_view, 8> kVersions = {"0.3.0", "0.4.0", "0.5.0", "0.6.0",
                                                       "0.7.0", "0.8.0", "1.0.0", "1.1.0"};

std::optional<std::size_t> version_index(std::string_view v) {
  if (!v.empty() && v.front() == 'v') v.remove_prefix(1);
  auto it = std::find(kVersions.begin(), kVersions.end(), v);
  if (it == kVersions.end()) return std::nullopt;
  return static_cast<std::size_t>(it - kVersions.begin());
}

// A parse failure at a node: thrown inside this file only, caught in parse_spec.
struct Failure {
  int line = 0;
  std::string message;
};

[[noreturn]] void fail(const YAML::Node& at, std::string message) {
  throw Failure{at.Mark().line + 1, std::move(message)};
}

bool is_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_alnum(char c) {
  return is_letter(c) || (c >= '0' && c <= '9');
}

// CDI's name rules: a first character `first_ok`, alphanumerics or `middle` between, and an
// alphanumeric last; empty if fine, else the problem.
std::string name_problem(std::string_view what, std::string_view name,
                         const std::function<bool(char)>& first_ok, std::string_view middle) {
  if (name.empty()) return fmt::format("empty {}", what);
  if (!first_ok(name.front()))
    return fmt::format("{} {:?} must start with a {}", what, name,
                       first_ok('0') ? "letter or digit" : "letter");
  if (name.size() > 1 && !is_alnum(name.back()))
    return fmt::format("{} {:?} must end with a letter or digit", what, name);
  for (std::size_t i = 1; i + 1 < name.size(); ++i)
    if (!is_alnum(name[i]) && middle.find(name[i]) == std::string_view::npos)
      return fmt::format("{} {:?}: {:?} is not allowed (letters, digits and {} only)", what, name,
                         name[i], middle);
  return {};
}

std::string vendor_or_class_problem(std::string_view what, std::string_view name) {
  return name_problem(what, name, is_letter, "_-.");
}

std::string device_name_problem(std::string_view name) {
  return name_problem("device name", name, is_alnum, "_-.:");
}

// Reads one mapping, refusing any key it does not know (as the reference's strict decoder).
class Fields {
 public:
  Fields(const YAML::Node& node, std::string_view what) : node_(node) {
    if (!node.IsMap()) fail(node, fmt::format("{}: expected a mapping", what));
    for (const auto& kv : node) keys_.emplace(kv.first.as<std::string>(""), kv.first);
  }
  // The field, or a null node; marks it known.
  YAML::Node get(const std::string& key) {
    known_.insert(key);
    auto it = keys_.find(key);
    return it == keys_.end() ? YAML::Node() : node_[key];
  }
  // A required string field: missing, the mapping's own line is named.
  std::string required(const std::string& key, std::string_view what) {
    auto n = get(key);
    if (!n || n.IsNull()) fail(node_, fmt::format("{}: required", what));
    auto s = n.IsScalar() ? n.Scalar() : std::string();
    if (!n.IsScalar()) fail(n, fmt::format("{}: expected a string", what));
    if (s.empty()) fail(n, fmt::format("{}: must not be empty", what));
    return s;
  }
  void refuse_unknown(std::string_view what) const {
    for (const auto& [key, at] : keys_)
      if (!known_.count(key)) fail(at, fmt::format("{}: unknown field {:?}", what, key));
  }

 private:
  const YAML::Node& node_;
  std::map<std::string, YAML::Node> keys_;
  std::set<std::string> known_;
};

std::string scalar(const YAML::Node& n, std::string_view what) {
  if (!n || n.IsNull()) return {};
  if (!n.IsScalar()) fail(n, fmt::format("{}: expected a string", what));
  return n.Scalar();
}

template <typename T>
std::optional<T> number(const YAML::Node& n, std::string_view what) {
  if (!n || n.IsNull()) return std::nullopt;
  T value{};
  if (!n.IsScalar() || !YAML::convert<T>::decode(n, value))
    fail(n, fmt::format("{}: expected a number in range, not {:?}", what,
                        n.IsScalar() ? n.Scalar() : std::string("a collection")));
  return value;
}

std::vector<std::string> strings(const YAML::Node& n, std::string_view what) {
  std::vector<std::string> out;
  if (!n || n.IsNull()) return out;
  if (!n.IsSequence()) fail(n, fmt::format("{}: expected a list of strings", what));
  for (const auto& e : n) out.push_back(scalar(e, what));
  return out;
}

std::vector<std::string> env_list(const YAML::Node& n, std::string_view what) {
  auto env = strings(n, what);
  for (std::size_t i = 0; i < env.size(); ++i)
    if (env[i].find('=') == std::string::npos || env[i].front() == '=')
      fail(n[i], fmt::format("{}: {:?} is not NAME=VALUE", what, env[i]));
  return env;
}

template <typename Read>
auto list_of(const YAML::Node& n, std::string_view what, Read read) {
  std::vector<decltype(read(n))> out;
  if (!n || n.IsNull()) return out;
  if (!n.IsSequence()) fail(n, fmt::format("{}: expected a list", what));
  for (const auto& e : n) out.push_back(read(e));
  return out;
}

// What the file uses that needs a version above 0.3.0, recorded while reading.
struct Requires {
  std::size_t version = 0;
  std::string why;
  YAML::Node at;
  void need(std::string_view v, std::string reason, const YAML::Node& node) {
    const auto i = *version_index(v);
    if (i <= version) return;
    version = i;
    why = std::move(reason);
    at = node;
  }
};
// Reads a spec, noting the newest version what it uses needs.
struct Reader {
  Requires needed;

  void need(std::string_view v, std::string reason, const YAML::Node& node) {
    needed.need(v, std::move(reason), node);
  }
  DeviceNode read_device_node(const YAML::Node& n);
  Mount read_mount(const YAML::Node& n);
  Edits read_edits(const YAML::Node& n);
  void read_annotations(const YAML::Node& n);
  Device read_device(const YAML::Node& n);
  SpecFile read_spec(const YAML::Node& root);
};

DeviceNode Reader::read_device_node(const YAML::Node& n) {
  Fields f(n, "deviceNodes entry");
  DeviceNode d;
  d.line = n.Mark().line + 1;
  d.path = f.required("path", "deviceNodes path");
  if (d.path.front() != '/')
    fail(n, fmt::format("device node {:?}: path must be absolute", d.path));
  if (auto host = f.get("hostPath"); host) {
    d.host_path = scalar(host, "deviceNodes hostPath");
    if (!d.host_path.empty()) need("0.5.0", "hostPath", host);
  }
  d.type = scalar(f.get("type"), "deviceNodes type");
  if (d.type == "u") d.type = "c";
  if (!d.type.empty() && d.type != "b" && d.type != "c" && d.type != "p")
    fail(n, fmt::format("device node {}: type {:?}: expected b, c, u or p", d.path, d.type));
  d.major = number<std::int64_t>(f.get("major"), "major");
  d.minor = number<std::int64_t>(f.get("minor"), "minor");
  if (d.major && d.major == 0) d.major.reset();  // Go's zero value: not given
  if (auto mode = number<std::uint32_t>(f.get("fileMode"), "fileMode")) d.file_mode = *mode & 0777U;
  d.permissions = scalar(f.get("permissions"), "permissions");
  if (d.permissions != "none" && d.permissions.find_first_not_of("rwm") != std::string::npos)
    fail(n, fmt::format("device node {}: permissions {:?}: expected r, w and m, or none", d.path,
                        d.permissions));
  d.uid = number<std::uint32_t>(f.get("uid"), "uid");
  d.gid = number<std::uint32_t>(f.get("gid"), "gid");
  f.refuse_unknown(fmt::format("device node {}", d.path));
  return d;
}

Mount Reader::read_mount(const YAML::Node& n) {
  Fields f(n, "mounts entry");
  Mount m;
  m.line = n.Mark().line + 1;
  m.host_path = f.required("hostPath", "mounts hostPath");
  m.container_path = f.required("containerPath", "mounts containerPath");
  if (m.container_path.front() != '/')
    fail(n, fmt::format("mount {}: containerPath must be absolute", m.container_path));
  m.options = strings(f.get("options"), "mounts options");
  if (auto type = f.get("type"); type) {
    m.type = scalar(type, "mounts type");
    if (!m.type.empty()) need("0.4.0", "a mount's type", type);
  }
  f.refuse_unknown(fmt::format("mount {}", m.container_path));
  return m;
}

Hook read_hook(const YAML::Node& n) {
  static const std::set<std::string> kNames = {"prestart",       "createRuntime", "createContainer",
                                               "startContainer", "poststart",     "poststop"};
  Fields f(n, "hooks entry");
  Hook h;
  h.hook_name = f.required("hookName", "hooks hookName");
  if (!kNames.count(h.hook_name))
    fail(n, fmt::format("hook {:?}: expected one of prestart, createRuntime, createContainer, "
                        "startContainer, poststart, poststop",
                        h.hook_name));
  h.path = f.required("path", "hooks path");
  if (h.path.front() != '/') fail(n, fmt::format("hook {}: path must be absolute", h.path));
  h.args = strings(f.get("args"), "hooks args");
  h.env = env_list(f.get("env"), "hooks env");
  h.timeout = number<int>(f.get("timeout"), "hooks timeout");
  if (h.timeout && *h.timeout <= 0) fail(n, "hook timeout: must be greater than zero");
  f.refuse_unknown(fmt::format("hook {}", h.path));
  return h;
}

Edits Reader::read_edits(const YAML::Node& n) {
  Edits e;
  if (!n || n.IsNull()) return e;
  Fields f(n, "containerEdits");
  e.env = env_list(f.get("env"), "env");
  e.device_nodes = list_of(f.get("deviceNodes"), "deviceNodes",
                           [this](const YAML::Node& x) { return read_device_node(x); });
  e.mounts =
      list_of(f.get("mounts"), "mounts", [this](const YAML::Node& x) { return read_mount(x); });
  e.hooks = list_of(f.get("hooks"), "hooks", &read_hook);
  if (auto gids = f.get("additionalGids"); gids && !gids.IsNull()) {
    need("0.7.0", "additionalGids", gids);
    if (!gids.IsSequence()) fail(gids, "additionalGids: expected a list of group ids");
    for (const auto& g : gids)
      if (auto gid = number<std::uint32_t>(g, "additionalGids"); gid && *gid != 0)
        e.additional_gids.push_back(*gid);  // 0 is ignored, as the spec says
  }
  for (const char* unsupported : {"intelRdt", "netDevices"})
    if (auto u = f.get(unsupported); u && !u.IsNull())
      fail(u, fmt::format("{}: this edit is not supported by ociexec; use a spec without it",
                          unsupported));
  f.refuse_unknown("containerEdits");
  return e;
}

void Reader::read_annotations(const YAML::Node& n) {
  if (!n || n.IsNull()) return;
  if (!n.IsMap()) fail(n, "annotations: expected a mapping of strings");
  need("0.6.0", "annotations", n);
  for (const auto& kv : n) scalar(kv.second, "annotations value");
}

Device Reader::read_device(const YAML::Node& n) {
  Fields f(n, "devices entry");
  Device d;
  d.line = n.Mark().line + 1;
  d.name = f.required("name", "device name");
  auto name = f.get("name");
  if (auto problem = device_name_problem(d.name); !problem.empty()) fail(name, problem);
  if (d.name.front() >= '0' && d.name.front() <= '9')
    need("0.5.0", "a device name starting with a digit", name);
  read_annotations(f.get("annotations"));
  d.edits = read_edits(f.get("containerEdits"));
  if (d.edits.empty()) fail(n, fmt::format("device {:?}: containerEdits: none given", d.name));
  f.refuse_unknown(fmt::format("device {:?}", d.name));
  return d;
}

SpecFile Reader::read_spec(const YAML::Node& root) {
  Fields f(root, "CDI spec");
  SpecFile s;
  s.version = f.required("cdiVersion", "cdiVersion");
  auto version = f.get("cdiVersion");
  const auto declared = version_index(s.version);
  if (!declared)
    fail(version, fmt::format("cdiVersion {:?}: not a released version this reader knows "
                              "(0.3.0 to {}); generate the spec for a version up to {}",
                              s.version, kNewestVersion, kNewestVersion));
  s.kind = f.required("kind", "kind");
  auto kind = f.get("kind");
  s.kind_line = kind.Mark().line + 1;
  const auto slash = s.kind.find('/');
  if (slash == std::string::npos || s.kind.find('/', slash + 1) != std::string::npos)
    fail(kind, fmt::format("kind {:?}: expected VENDOR/CLASS, e.g. nvidia.com/gpu", s.kind));
  for (auto [what, name] :
       {std::pair{"vendor", s.kind.substr(0, slash)}, std::pair{"class", s.kind.substr(slash + 1)}})
    if (auto problem = vendor_or_class_problem(what, name); !problem.empty()) fail(kind, problem);
  if (s.kind.find('.', slash) != std::string::npos) need("0.6.0", "a '.' in the class", kind);
  read_annotations(f.get("annotations"));
  auto devices = f.get("devices");
  s.devices = list_of(devices, "devices", [this](const YAML::Node& x) { return read_device(x); });
  if (s.devices.empty()) fail(devices ? devices : root, "devices: at least one is required");
  std::set<std::string> names;
  for (const auto& d : s.devices)
    if (!names.insert(d.name).second)
      throw Failure{d.line, fmt::format("device {:?}: defined twice", d.name)};
  s.edits = read_edits(f.get("containerEdits"));
  f.refuse_unknown("CDI spec");
  return s;
}

}  // namespace

void Edits::append(const Edits& o) {
  env.insert(env.end(), o.env.begin(), o.env.end());
  device_nodes.insert(device_nodes.end(), o.device_nodes.begin(), o.device_nodes.end());
  mounts.insert(mounts.end(), o.mounts.begin(), o.mounts.end());
  hooks.insert(hooks.end(), o.hooks.begin(), o.hooks.end());
  additional_gids.insert(additional_gids.end(), o.additional_gids.begin(), o.additional_gids.end());
}

bool Edits::empty() const {
  return env.empty() && device_nodes.empty() && mounts.empty() && hooks.empty() &&
         additional_gids.empty();
}

Expected<SpecFile> parse_spec(std::string_view text, const std::string& path) {
  auto error = [&path](int line, const std::string& message) {
    return tl::unexpected(
        Error{ErrorKind::kInvalidArgument,
              text::one_line(fmt::format("CDI spec {}:{}: {}", path, line, message))});
  };
  Reader reader;
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    SpecFile spec = reader.read_spec(root);
    const auto& needed = reader.needed;
    spec.path = path;
    if (needed.version > *version_index(spec.version))
      return error(needed.at.Mark().line + 1,
                   fmt::format("{} needs cdiVersion {} or later, and the spec declares {}",
                               needed.why, kVersions[needed.version], spec.version));
    return spec;
  } catch (const Failure& f) {
    return error(f.line, f.message);
  } catch (const YAML::Exception& e) {
    return error(e.mark.line + 1, e.msg);
  }
}

bool looks_qualified(std::string_view text) {
  return !text.empty() && text.front() != '/' && text.find('=') != std::string_view::npos;
}

bool valid_access(std::string_view access) {
  return !access.empty() && access.size() <= 3 &&
         access.find_first_not_of("rwm") == std::string_view::npos;
}

Expected<QualifiedName> parse_qualified_name(std::string_view text) {
  auto bad = [&](const std::string& problem) {
    return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                fmt::format("CDI device {:?}: {}; expected VENDOR/CLASS=NAME, e.g. "
                                            "nvidia.com/gpu=all",
                                            text, problem)});
  };
  const auto eq = text.find('=');
  const auto slash = text.substr(0, eq).find('/');
  if (eq == std::string_view::npos || slash == std::string_view::npos)
    return bad("not a qualified name");
  QualifiedName q{std::string(text.substr(0, slash)),
                  std::string(text.substr(slash + 1, eq - slash - 1)),
                  std::string(text.substr(eq + 1))};
  for (auto problem :
       {vendor_or_class_problem("vendor", q.vendor),
        vendor_or_class_problem("class", q.device_class), device_name_problem(q.name)})
    if (!problem.empty()) return bad(problem);
  return q;
}

}  // namespace ociexec::cdi
