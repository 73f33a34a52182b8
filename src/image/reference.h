// Image references, parsed as docker and podman do: "python:3.12-slim" is
// docker.io/library/python:3.12-slim, "host:port/ns/img@sha256:..." keeps its digest, and
// "oci:PATH[:REF]" names an image in an OCI image layout on disk. Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ociexec/error.h"

namespace ociexec::image {

inline constexpr std::string_view kDockerHub = "docker.io";
// Where docker.io's API answers.
inline constexpr std::string_view kDockerHubApi = "registry-1.docker.io";

struct RegistryReference {
  std::string registry;    // "docker.io", "127.0.0.1:5000", "quay.io"
  std::string repository;  // "library/python"
  std::string tag;         // empty when only a digest is given
  std::string digest;      // "sha256:<hex>" or empty

  // "docker.io/library/python:3.12-slim" (tag and digest both when both were given).
  [[nodiscard]] std::string canonical() const;
  // The tag or digest the manifest is fetched by: the digest when there is one.
  [[nodiscard]] std::string manifest_reference() const;
  // The host the API is reached at ("registry-1.docker.io" for docker.io).
  [[nodiscard]] std::string api_host() const;
};

struct LayoutReference {
  std::string path;  // the layout directory
  std::string ref;   // org.opencontainers.image.ref.name; empty: the only manifest
  [[nodiscard]] std::string canonical() const;  // "oci:/abs/path:ref"
};

struct Reference {
  std::optional<RegistryReference> registry;
  std::optional<LayoutReference> layout;
  [[nodiscard]] std::string canonical() const;
};

// Errors are one line and name the rule that was broken.
Expected<Reference> parse_reference(std::string_view text);
Expected<RegistryReference> parse_registry_reference(std::string_view text);

}  // namespace ociexec::image
