// Images without a daemon: pulled from a registry (OCI distribution, Docker v2 schema 2) or
// imported from an OCI image layout on disk into a content-addressed store, and run by jobs
// as a copy-on-write overlay root (JobOptions::image). The store is shared by every executor
// and pull of the same user; concurrent pulls and jobs never see a half-written layer.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ociexec/error.h"

namespace ociexec {

// When a job's image is fetched (podman's --pull).
enum class PullPolicy {
  kMissing,  // only when the store does not have it (the default)
  kAlways,   // every time: the manifest is checked, layers already stored are not fetched
  kNever,    // never: a missing image is an error
};

struct ImageOptions {
  // The store; empty: /var/lib/ociexec as root, else $XDG_DATA_HOME/ociexec.
  std::filesystem::path store;
  // false: no TLS verification for any registry, and plain HTTP where it has no TLS.
  bool tls_verify = true;
  // "host[:port]" registries reached without TLS verification (plain HTTP if they lack TLS).
  std::vector<std::string> insecure_registries;
  std::string ca_file;      // a PEM CA bundle trusted besides the system's
  std::string credentials;  // "USER:PASSWORD"; empty: the auth file's, else anonymous
  // A docker config.json / containers auth.json; empty: $REGISTRY_AUTH_FILE,
  // $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, ~/.docker/config.json.
  std::string auth_file;
  std::string platform;  // "os/arch[/variant]"; empty: this machine's (linux/amd64 here)
  // Limits on what one image may unpack to: refused beyond them (a tar bomb).
  std::uint64_t max_unpacked_bytes = 32ULL << 30;
  std::uint64_t max_entries = 1'000'000;
  int attempts = 4;  // per request, on 429, 5xx and dropped connections
  // A whole pull (every request, retry and layer unpacked) must finish within this, else it
  // fails with kImage. A single transfer slower than 1 KiB/s for 30 s is dropped (and retried).
  std::chrono::milliseconds pull_timeout = std::chrono::hours(1);
};

struct ImageInfo {
  std::string name;    // canonical: "docker.io/library/python:3.12-slim", "oci:/path:ref"
  std::string digest;  // the manifest's
  std::string config_digest;
  std::size_t layers = 0;
  std::uint64_t size_bytes = 0;  // unpacked
  std::chrono::system_clock::time_point pulled_at;
};

struct PullProgress {
  enum class Stage { kManifest, kLayerCached, kLayerBytes, kLayerUnpacked, kDone } stage;
  std::string digest;
  std::uint64_t done = 0;
  std::uint64_t total = 0;
};

struct PullSummary {
  ImageInfo image;
  std::size_t layers_fetched = 0;
  std::size_t layers_cached = 0;
  std::uint64_t bytes_fetched = 0;
};

// Fetches `reference` ("python:3.12", "host:5000/ns/img@sha256:...", "oci:PATH[:REF]") into
// the store. `progress` is called on this thread.
Expected<PullSummary> pull_image(std::string_view reference, const ImageOptions& options = {},
                                 const std::function<void(const PullProgress&)>& progress = {});
Expected<std::vector<ImageInfo>> list_images(const ImageOptions& options = {});
// Removes a name (or, given a digest, every name of that image) and the layers no other
// image uses. Returns the removed names.
Expected<std::vector<ImageInfo>> remove_image(std::string_view reference,
                                              const ImageOptions& options = {});

struct PruneSummary {
  std::size_t layers_removed = 0;
  std::size_t blobs_removed = 0;
  std::size_t in_use = 0;  // unreferenced layers a running job or pull holds: kept
  std::uint64_t bytes_freed = 0;
};
// Removes layers and blobs that no image references, and what crashed pulls left.
Expected<PruneSummary> prune_images(const ImageOptions& options = {});

}  // namespace ociexec
