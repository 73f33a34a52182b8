// Pull: an image from a registry or an OCI image layout into the store, as "ordered layer
// dirs + image config". Steps: resolve the manifest (an index picks the platform) -> the
// config -> each layer not yet in the store: fetch, verify the blob's digest, unpack while
// hashing, check the result against the config's diff_id, move into place -> record the
// name. A second pull of the same image fetches the manifest only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "image/manifest.h"
#include "image/reference.h"
#include "image/registry.h"
#include "image/store.h"
#include "image/unpack.h"

namespace ociexec::image {

struct PullEvent {
  enum class Kind { kManifest, kLayerCached, kLayerBytes, kLayerUnpacked, kDone } kind;
  std::string digest;  // the layer's blob digest (kind kLayer*), else the manifest's
  std::uint64_t done = 0;
  std::uint64_t total = 0;
};

struct PullSettings {
  RegistryOptions registry;
  std::optional<Platform> platform;  // nullopt: this host's
  UnpackLimits limits;
  std::function<void(const PullEvent&)> progress;  // called on the pulling thread
  // Rootless, where no overlay can be mounted: the layers applied in one directory per image
  // (UnpackMode::kFlatten), which jobs get read-only.
  bool flatten = false;
};

struct PullReport {
  ImageRecord record;
  std::size_t layers_fetched = 0;
  std::size_t layers_cached = 0;
  std::uint64_t bytes_fetched = 0;  // blob bytes over the network or read from the layout
};

Expected<PullReport> pull(const Store& store, const Reference& ref, const PullSettings& settings);

}  // namespace ociexec::image
