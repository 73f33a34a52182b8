// The public ImageOptions in the image module's own terms, and as JSON for the
// ociexec-fetch helper (the static `ociexec` command links no libcurl or libarchive: it
// runs the helper to pull).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "image/pull.h"
#include "image/store.h"
#include "ociexec/images.h"

namespace ociexec::image {

Expected<PullSettings> pull_settings(const ImageOptions& options);
Expected<Store> open_store(const ImageOptions& options);
ImageInfo to_info(const ImageRecord& record);
PullProgress to_progress(const PullEvent& event);

nlohmann::json options_to_json(const ImageOptions& options);
ImageOptions options_from_json(const nlohmann::json& j);
nlohmann::json summary_to_json(const PullSummary& summary);
PullSummary summary_from_json(const nlohmann::json& j);

// Fetches an image into the store: in this process (the library), or through the
// ociexec-fetch helper (the command), which draws progress itself when stderr is a terminal
// unless `quiet`.
Expected<PullSummary> fetch_image(std::string_view reference, const ImageOptions& options,
                                  const std::function<void(const PullProgress&)>& progress,
                                  bool quiet = false);

}  // namespace ociexec::image
