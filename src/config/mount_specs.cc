#include "config/mount_specs.h"

#include <charconv>

#include <fmt/format.h>

#include "cdi/spec_file.h"
#include "config/units.h"
#include "util/invalid.h"
#include "util/text.h"

namespace ociexec::config {

namespace {

// The comma-separated pieces of `text` ("" -> none).
std::vector<std::string_view> pieces(std::string_view text) {
  std::vector<std::string_view> out;
  if (text.empty()) return out;
  for (std::size_t start = 0;;) {
    const auto comma = text.find(',', start);
    out.push_back(text.substr(start, comma - start));
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

Expected<std::uint32_t> parse_mode(std::string_view text, std::string_view option) {
  std::uint32_t mode = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), mode, 8);
  if (text.empty() || ec != std::errc{} || p != text.data() + text.size() || mode > 07777)
    return invalid_argument(
        fmt::format("{} {:?}: expected an octal mode such as 1777", option, text));
  return mode;
}

// A tmpfs's size or mode: --tmpfs's size= and mode=, --mount's tmpfs-size= and tmpfs-mode=
// (`option`, as the error names it).
Expected<void> set_tmpfs_option(Mount& m, std::string_view option, std::string_view value) {
  if (option.ends_with("size")) {
    auto size = parse_size(value);
    if (!size) return tl::unexpected(size.error().with_context(option));
    m.tmpfs_bytes = *size;
    return {};
  }
  auto mode = parse_mode(value, option);
  if (!mode) return tl::unexpected(mode.error());
  m.tmpfs_mode = *mode;
  return {};
}

Expected<bool> parse_flag(std::string_view key, std::string_view value, bool has_value) {
  if (!has_value) return true;
  auto b = parse_bool(value);
  if (!b) return invalid_argument(fmt::format("{}={}: expected true or false", key, value));
  return *b;
}

}  // namespace

Expected<Mount> parse_volume(std::string_view text) {
  const auto t = text::trim(text);
  Mount m;
  const auto first = t.find(':');
  if (first == std::string_view::npos || first == 0)
    return invalid_argument(
        fmt::format("{:?}: expected SRC:DST[:ro|rw], SRC an absolute host path", text));
  m.source = std::string(t.substr(0, first));
  if (m.source.front() != '/')
    return invalid_argument(
        fmt::format("{:?}: {:?} is not an absolute path (ociexec has no named volumes); "
                    "give the host directory, e.g. /srv/data:/data",
                    text, m.source));
  const auto rest = t.substr(first + 1);
  const auto second = rest.find(':');
  m.target = std::string(rest.substr(0, second));
  if (second != std::string_view::npos) {
    for (auto opt : pieces(rest.substr(second + 1))) {
      if (opt == "ro")
        m.readonly = true;
      else if (opt == "rw")
        m.readonly = false;
      else
        return invalid_argument(
            fmt::format("{:?}: option {:?} is not supported; give ro or rw", text, opt));
    }
  }
  return m;
}

Expected<Mount> parse_mount(std::string_view text) {
  Mount m;
  bool typed = false;
  for (auto piece : pieces(text::trim(text))) {
    const auto eq = piece.find('=');
    const auto key = piece.substr(0, eq);
    const auto value = eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
    const bool has_value = eq != std::string_view::npos;
    if (key == "type") {
      if (value == "bind")
        m.type = Mount::Type::kBind;
      else if (value == "tmpfs")
        m.type = Mount::Type::kTmpfs;
      else
        return invalid_argument(fmt::format(
            "{:?}: type {:?} is not supported; give type=bind or type=tmpfs", text, value));
      typed = true;
    } else if (key == "source" || key == "src") {
      m.source = std::string(value);
    } else if (key == "target" || key == "destination" || key == "dst") {
      m.target = std::string(value);
    } else if (key == "readonly" || key == "ro") {
      auto ro = parse_flag(key, value, has_value);
      if (!ro) return tl::unexpected(ro.error().with_context(fmt::format("{:?}", text)));
      m.readonly = *ro;
    } else if (key == "tmpfs-size" || key == "tmpfs-mode") {
      if (auto r = set_tmpfs_option(m, key, value); !r) return tl::unexpected(r.error());
    } else {
      return invalid_argument(
          fmt::format("{:?}: {:?} is not supported; give type, source, target, readonly, "
                      "tmpfs-size or tmpfs-mode",
                      text, key));
    }
  }
  if (!typed)
    return invalid_argument(fmt::format("{:?}: expected type=bind or type=tmpfs first", text));
  if (m.target.empty()) return invalid_argument(fmt::format("{:?}: target= is missing", text));
  if (m.type == Mount::Type::kBind && m.source.empty())
    return invalid_argument(fmt::format("{:?}: source= is missing", text));
  if (m.type == Mount::Type::kTmpfs && !m.source.empty())
    return invalid_argument(fmt::format("{:?}: a tmpfs takes no source", text));
  if (m.type == Mount::Type::kBind && (m.tmpfs_bytes || m.tmpfs_mode != Mount{}.tmpfs_mode))
    return invalid_argument(
        fmt::format("{:?}: tmpfs-size and tmpfs-mode are for type=tmpfs", text));
  return m;
}

Expected<Mount> parse_tmpfs(std::string_view text) {
  const auto t = text::trim(text);
  Mount m;
  m.type = Mount::Type::kTmpfs;
  const auto colon = t.find(':');
  m.target = std::string(t.substr(0, colon));
  if (m.target.empty())
    return invalid_argument(fmt::format("{:?}: expected DST[:size=SIZE,mode=OCTAL]", text));
  if (colon == std::string_view::npos) return m;
  for (auto opt : pieces(t.substr(colon + 1))) {
    const auto eq = opt.find('=');
    const auto key = opt.substr(0, eq);
    const auto value = eq == std::string_view::npos ? std::string_view() : opt.substr(eq + 1);
    if (key == "size" || key == "mode") {
      if (auto r = set_tmpfs_option(m, key, value); !r) return tl::unexpected(r.error());
    } else if (key == "ro") {
      m.readonly = true;
    } else if (key == "rw") {
      m.readonly = false;
    } else {
      return invalid_argument(
          fmt::format("{:?}: option {:?} is not supported; give size=SIZE, mode=OCTAL, "
                      "ro or rw",
                      text, opt));
    }
  }
  return m;
}

Expected<void> parse_mounts(const std::vector<std::string>& texts,
                            Expected<Mount> (*parse)(std::string_view), std::vector<Mount>& out) {
  for (const auto& text : texts) {
    auto m = parse(text);
    if (!m) return tl::unexpected(m.error());
    out.push_back(std::move(*m));
  }
  return {};
}

Expected<Device> parse_device(std::string_view text) {
  auto bad = [&](std::string_view problem) {
    return invalid_argument(
        fmt::format("device {:?}: {}; expected HOSTPATH[:JOBPATH][:PERMS] (PERMS of r, w, m) "
                    "or a CDI name VENDOR/CLASS=NAME",
                    text, problem));
  };
  if (text.empty()) return bad("empty");
  Device d;
  if (cdi::looks_qualified(text)) {
    d.source = std::string(text);  // a CDI name, checked against the specs when the job runs
    return d;
  }
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const auto colon = text.find(':', start);
    parts.emplace_back(text.substr(start, colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() > 3) return bad("too many ':'");
  d.source = parts[0];
  if (parts.size() == 2 && cdi::valid_access(parts[1]) && parts[1].front() != '/')
    d.permissions = parts[1];
  else if (parts.size() >= 2)
    d.target = parts[1];
  if (parts.size() == 3) {
    if (!cdi::valid_access(parts[2])) return bad(fmt::format("permissions {:?}", parts[2]));
    d.permissions = parts[2];
  }
  if (d.source.empty() || d.source.front() != '/') return bad("the host path must be absolute");
  if (parts.size() >= 2 && d.target.empty() && d.permissions == Device{}.permissions)
    return bad("empty job path");
  if (!d.target.empty() && d.target.front() != '/') return bad("the job path must be absolute");
  return d;
}

Expected<void> parse_devices(const std::vector<std::string>& texts, std::vector<Device>& out) {
  for (const auto& text : texts) {
    auto d = parse_device(text);
    if (!d) return tl::unexpected(d.error());
    out.push_back(std::move(*d));
  }
  return {};
}

Expected<void> parse_gpus(std::string_view text, std::vector<Device>& devices, unsigned& gpus) {
  if (text == "all") {
    devices.push_back(Device{"nvidia.com/gpu=all", "", "rwm"});
    return {};
  }
  auto n = parse_count(text);
  if (!n || *n < 1 || *n > 1024)
    return invalid_argument(fmt::format(
        "gpus {:?}: expected all, or a number of GPUs from 1 (the first N of nvidia.com/gpu)",
        text));
  gpus = static_cast<unsigned>(*n);
  return {};
}

}  // namespace ociexec::config
