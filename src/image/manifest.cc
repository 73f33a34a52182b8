#include "image/manifest.h"

#include <sys/utsname.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "image/digest.h"
#include "image/split.h"

namespace ociexec::image {

using nlohmann::json;

namespace {

tl::unexpected<Error> bad(std::string_view what, std::string_view why) {
  return tl::unexpected(Error{ErrorKind::kImage, fmt::format("{}: {}", what, why)});
}

Expected<json> parse_object(std::string_view text, std::string_view what) {
  if (text.size() > kMaxManifestBytes)
    return bad(what, fmt::format("{} bytes, more than the {} allowed", text.size(),
                                 kMaxManifestBytes));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad(what, "not a JSON object");
  return j;
}

std::string string_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> strings_field(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& v : *it)
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

Expected<Descriptor> parse_descriptor(const json& j, std::string_view what) {
  if (!j.is_object()) return bad(what, "a descriptor is not an object");
  Descriptor d;
  d.media_type = string_field(j, "mediaType");
  auto digest = parse_digest(string_field(j, "digest"), fmt::format("{} digest", what));
  if (!digest) return tl::unexpected(digest.error());
  d.digest = digest->str();
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_unsigned())
    return bad(what, "a descriptor has no size (a non-negative integer)");
  d.size = size->get<std::uint64_t>();
  if (auto p = j.find("platform"); p != j.end() && p->is_object()) {
    Platform pl{string_field(*p, "os"), string_field(*p, "architecture"),
                string_field(*p, "variant")};
    d.platform = pl;
  }
  if (auto a = j.find("annotations"); a != j.end() && a->is_object())
    d.ref_name = string_field(*a, "org.opencontainers.image.ref.name");
  return d;
}

}  // namespace

std::string media::manifest_accept() {
  return fmt::format("{}, {}, {}, {}", kOciIndex, kOciManifest, kDockerList, kDockerManifest);
}

std::string Platform::str() const {
  return variant.empty() ? os + "/" + architecture : os + "/" + architecture + "/" + variant;
}

Expected<Platform> parse_platform(std::string_view text) {
  const auto parts = split(text, '/');
  for (const auto& part : parts)
    if (part.empty())
      return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                  fmt::format("platform {:?}: expected OS/ARCH[/VARIANT], e.g. "
                                              "linux/amd64",
                                              text)});
  const std::vector<std::string> p(parts.begin(), parts.end());
  if (p.size() == 1) return Platform{"linux", p[0], ""};
  if (p.size() == 2) return Platform{p[0], p[1], ""};
  if (p.size() == 3) return Platform{p[0], p[1], p[2]};
  return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                              fmt::format("platform {:?}: expected OS/ARCH[/VARIANT]", text)});
}

Platform host_platform() {
  utsname u{};
  std::string m = ::uname(&u) == 0 ? u.machine : "x86_64";
  if (m == "x86_64") return {"linux", "amd64", ""};
  if (m == "aarch64") return {"linux", "arm64", ""};
  if (m == "i686" || m == "i386") return {"linux", "386", ""};
  if (m.rfind("armv7", 0) == 0) return {"linux", "arm", "v7"};
  return {"linux", m, ""};
}

Expected<DocumentKind> document_kind(std::string_view text, std::string_view content_type) {
  auto j = parse_object(text, "manifest");
  if (!j) return tl::unexpected(j.error());
  std::string mt = string_field(*j, "mediaType");
  // Content-Type may carry parameters ("; charset=utf-8").
  std::string ct(content_type.substr(0, content_type.find(';')));
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  if (!mt.empty() && !ct.empty() && ct != "application/json" && mt != ct)
    return bad("manifest", fmt::format("its mediaType {:?} differs from the Content-Type {:?} "
                                       "it was served with",
                                       mt, ct));
  if (mt.empty()) mt = ct;
  if (mt == media::kOciIndex || mt == media::kDockerList) return DocumentKind::kIndex;
  if (mt == media::kOciManifest || mt == media::kDockerManifest) return DocumentKind::kManifest;
  if (mt.empty() || mt == "application/json") {
    if (j->contains("manifests")) return DocumentKind::kIndex;
    if (j->contains("layers")) return DocumentKind::kManifest;
  }
  return bad("manifest", fmt::format("unsupported media type {:?} (OCI and Docker v2 schema 2 "
                                     "manifests and indexes are)",
                                     mt));
}

Expected<Index> parse_index(std::string_view text) {
  auto j = parse_object(text, "image index");
  if (!j) return tl::unexpected(j.error());
  auto m = j->find("manifests");
  if (m == j->end() || !m->is_array()) return bad("image index", "no manifests array");
  Index index;
  for (const auto& d : *m) {
    auto desc = parse_descriptor(d, "image index");
    if (!desc) return tl::unexpected(desc.error());
    index.manifests.push_back(std::move(*desc));
  }
  return index;
}

Expected<Manifest> parse_manifest(std::string_view text) {
  auto j = parse_object(text, "image manifest");
  if (!j) return tl::unexpected(j.error());
  Manifest m;
  m.media_type = string_field(*j, "mediaType");
  auto sv = j->find("schemaVersion");
  if (sv == j->end() || !sv->is_number_integer() || sv->get<int>() != 2)
    return bad("image manifest", "schemaVersion is not 2 (schema 1 manifests are not supported)");
  auto config = j->find("config");
  if (config == j->end()) return bad("image manifest", "no config descriptor");
  auto c = parse_descriptor(*config, "image config");
  if (!c) return tl::unexpected(c.error());
  m.config = std::move(*c);
  auto layers = j->find("layers");
  if (layers == j->end() || !layers->is_array()) return bad("image manifest", "no layers array");
  for (const auto& l : *layers) {
    auto d = parse_descriptor(l, "layer");
    if (!d) return tl::unexpected(d.error());
    m.layers.push_back(std::move(*d));
  }
  return m;
}

Expected<ImageConfig> parse_config(std::string_view text) {
  auto j = parse_object(text, "image config");
  if (!j) return tl::unexpected(j.error());
  ImageConfig c;
  c.platform = {string_field(*j, "os"), string_field(*j, "architecture"),
                string_field(*j, "variant")};
  if (auto cfg = j->find("config"); cfg != j->end() && cfg->is_object()) {
    c.env = strings_field(*cfg, "Env");
    c.working_dir = string_field(*cfg, "WorkingDir");
    c.user = string_field(*cfg, "User");
    c.entrypoint = strings_field(*cfg, "Entrypoint");
    c.cmd = strings_field(*cfg, "Cmd");
  }
  auto rootfs = j->find("rootfs");
  if (rootfs == j->end() || !rootfs->is_object() || string_field(*rootfs, "type") != "layers")
    return bad("image config", "no rootfs of type \"layers\"");
  auto ids = rootfs->find("diff_ids");
  if (ids == rootfs->end() || !ids->is_array()) return bad("image config", "no rootfs.diff_ids");
  for (const auto& id : *ids) {
    auto d = parse_digest(id.is_string() ? id.get<std::string>() : std::string(), "diff_id");
    if (!d) return tl::unexpected(d.error());
    c.diff_ids.push_back(d->str());
  }
  for (const auto& e : c.env)
    if (e.find('=') == std::string::npos || e.find('\0') != std::string::npos)
      return bad("image config", fmt::format("Env entry {:?} is not KEY=VALUE", e));
  return c;
}

Expected<Compression> layer_compression(std::string_view mt) {
  if (mt == media::kOciLayer || mt == "application/vnd.oci.image.layer.nondistributable.v1.tar")
    return Compression::kNone;
  if (mt == media::kOciLayerGzip || mt == media::kDockerLayerGzip ||
      mt == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" ||
      mt == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")
    return Compression::kGzip;
  if (mt == media::kOciLayerZstd) return Compression::kZstd;
  return bad("layer", fmt::format("unsupported media type {:?} (tar, tar+gzip and tar+zstd "
                                  "layers are)",
                                  mt));
}

Expected<Descriptor> select_platform(const Index& index, const Platform& want,
                                     std::string_view image_name) {
  const Descriptor* found = nullptr;
  std::string offered;
  for (const auto& d : index.manifests) {
    if (!d.platform) continue;
    if (d.platform->os == "unknown") continue;  // attestations
    if (!offered.empty()) offered += ", ";
    offered += d.platform->str();
    if (found || d.platform->os != want.os || d.platform->architecture != want.architecture)
      continue;
    if (!want.variant.empty() && !d.platform->variant.empty() && d.platform->variant != want.variant)
      continue;
    found = &d;
  }
  if (found) return *found;
  return tl::unexpected(Error{
      ErrorKind::kImageNotFound,
      fmt::format("{}: no image for platform {} (it offers: {}); choose one with --platform",
                  image_name, want.str(), offered.empty() ? "none" : offered)});
}

}  // namespace ociexec::image
