// OCI image-spec and Docker v2 schema 2 documents: indexes (manifest lists), manifests and
// image configs, parsed from JSON into what ociexec uses, with platform selection. Pure: no
// I/O, fixture- and fuzz-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ociexec/error.h"

namespace ociexec::image {

namespace media {
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
// The Accept header of every manifest request: all four manifest and index types.
std::string manifest_accept();
}  // namespace media

// Documents larger than this are refused before they are parsed.
inline constexpr std::uint64_t kMaxManifestBytes = 4ULL << 20;

enum class Compression { kNone, kGzip, kZstd };

struct Platform {
  std::string os = "linux";
  std::string architecture = "amd64";
  std::string variant;
  [[nodiscard]] std::string str() const;  // "linux/arm64/v8"
};

// "linux/amd64", "linux/arm64/v8", "amd64" (os linux).
Expected<Platform> parse_platform(std::string_view text);
// This machine's platform in OCI's words (uname "x86_64" -> "amd64").
Platform host_platform();

struct Descriptor {
  std::string media_type;
  std::string digest;  // validated
  std::uint64_t size = 0;
  std::optional<Platform> platform;
  std::string ref_name;  // annotation org.opencontainers.image.ref.name
};

enum class DocumentKind { kIndex, kManifest };

struct Index {
  std::vector<Descriptor> manifests;
};

struct Manifest {
  std::string media_type;
  Descriptor config;
  std::vector<Descriptor> layers;
};

struct ImageConfig {
  Platform platform;
  std::vector<std::string> env;
  std::string working_dir;
  std::string user;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> diff_ids;  // validated, bottom layer first
};

// Whether `media_type` (or, without one, the document's fields) is an index or a manifest.
// `content_type` is the HTTP Content-Type (empty for files): a document whose mediaType
// differs from it is refused.
Expected<DocumentKind> document_kind(std::string_view json, std::string_view content_type);
Expected<Index> parse_index(std::string_view json);
Expected<Manifest> parse_manifest(std::string_view json);
Expected<ImageConfig> parse_config(std::string_view json);

// The layer's compression from its media type; an unknown type is an error.
Expected<Compression> layer_compression(std::string_view media_type);

// The index entry for `want` (variant optional); the error lists what the index offers.
Expected<Descriptor> select_platform(const Index& index, const Platform& want,
                                     std::string_view image_name);

}  // namespace ociexec::image
