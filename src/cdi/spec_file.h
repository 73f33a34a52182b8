// One Container Device Interface spec file (CDI, github.com/cncf-tags/container-device-interface,
// SPEC.md, versions 0.3.0 to 1.1.0): a vendor's devices and the edits each makes to a
// container. JSON or YAML (JSON is read as the YAML it also is, so every error has a line).
// Read strictly, as the reference implementation reads it: an unknown field, a field newer
// than the declared cdiVersion, a version newer than this reader's, a bad kind or device
// name, or a malformed edit is an error "FILE:LINE: problem". Pure: parses text only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ociexec/error.h"

namespace ociexec::cdi {

inline constexpr std::string_view kNewestVersion = "1.1.0";

struct DeviceNode {
  std::string path;       // in the container
  std::string host_path;  // empty: path
  std::string type;       // "", "b", "c" ("u" is read as "c"), "p"
  std::optional<std::int64_t> major;
  std::optional<std::int64_t> minor;
  std::optional<std::uint32_t> file_mode;
  std::string permissions;  // cgroup access: "" (rwm), "none", or of r, w, m
  std::optional<std::uint32_t> uid;
  std::optional<std::uint32_t> gid;
  int line = 0;  // where it is written, for errors found when it is applied
  auto operator<=>(const DeviceNode&) const = default;
};

struct Mount {
  std::string host_path;
  std::string container_path;
  std::string type;  // empty: a bind
  std::vector<std::string> options;
  int line = 0;
  auto operator<=>(const Mount&) const = default;
};

struct Hook {
  std::string hook_name;  // an OCI hook: prestart, createRuntime, createContainer, ...
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds
  auto operator<=>(const Hook&) const = default;
};

struct Edits {
  std::vector<std::string> env;  // KEY=VALUE
  std::vector<DeviceNode> device_nodes;
  std::vector<Mount> mounts;
  std::vector<Hook> hooks;
  std::vector<std::uint32_t> additional_gids;
  void append(const Edits& other);
  [[nodiscard]] bool empty() const;
};

struct Device {
  std::string name;
  Edits edits;
  int line = 0;
};

struct SpecFile {
  std::string path;     // as given to parse_spec, for errors
  std::string version;  // cdiVersion
  std::string kind;     // VENDOR/CLASS
  std::vector<Device> devices;
  Edits edits;  // applied once for any of its devices
  int kind_line = 0;
};

// Parses one spec file's text; `path` names it in errors.
Expected<SpecFile> parse_spec(std::string_view text, const std::string& path);

// A fully qualified device name, VENDOR/CLASS=NAME ("nvidia.com/gpu=0").
struct QualifiedName {
  std::string vendor;
  std::string device_class;
  std::string name;
  [[nodiscard]] std::string kind() const { return vendor + "/" + device_class; }
};
// Whether `text` looks like a CDI name rather than a path (it has a '=' and no leading '/').
bool looks_qualified(std::string_view text);
// Device cgroup access as --device takes it: one to three of r, w and m ("rw", "rwm").
bool valid_access(std::string_view access);
Expected<QualifiedName> parse_qualified_name(std::string_view text);

}  // namespace ociexec::cdi
