#include "image/image_options.h"

#include <fmt/format.h>

namespace ociexec::image {

using nlohmann::json;

Expected<Store> open_store(const ImageOptions& options) {
  return Store::open(options.store.empty() ? default_store_dir() : options.store);
}

ImageInfo to_info(const ImageRecord& r) {
  return ImageInfo{r.name, r.manifest_digest, r.config_digest, r.diff_ids.size(), r.size,
                   std::chrono::system_clock::from_time_t(static_cast<std::time_t>(r.pulled_at))};
}

PullProgress to_progress(const PullEvent& e) {
  return PullProgress{static_cast<PullProgress::Stage>(e.kind), e.digest, e.done, e.total};
}

json options_to_json(const ImageOptions& o) {
  return {{"store", o.store.string()},
          {"tls_verify", o.tls_verify},
          {"insecure_registries", o.insecure_registries},
          {"ca_file", o.ca_file},
          {"credentials", o.credentials},
          {"auth_file", o.auth_file},
          {"platform", o.platform},
          {"max_unpacked_bytes", o.max_unpacked_bytes},
          {"max_entries", o.max_entries},
          {"attempts", o.attempts},
          {"pull_timeout_ms", o.pull_timeout.count()}};
}

ImageOptions options_from_json(const json& j) {
  ImageOptions o;
  o.store = j.value("store", "");
  o.tls_verify = j.value("tls_verify", true);
  o.insecure_registries = j.value("insecure_registries", std::vector<std::string>{});
  o.ca_file = j.value("ca_file", "");
  o.credentials = j.value("credentials", "");
  o.auth_file = j.value("auth_file", "");
  o.platform = j.value("platform", "");
  o.max_unpacked_bytes = j.value("max_unpacked_bytes", o.max_unpacked_bytes);
  o.max_entries = j.value("max_entries", o.max_entries);
  o.attempts = j.value("attempts", o.attempts);
  o.pull_timeout = std::chrono::milliseconds(j.value("pull_timeout_ms", o.pull_timeout.count()));
  return o;
}

json summary_to_json(const PullSummary& s) {
  return {{"name", s.image.name},
          {"digest", s.image.digest},
          {"config", s.image.config_digest},
          {"layers", s.image.layers},
          {"size", s.image.size_bytes},
          {"pulled_at", std::chrono::system_clock::to_time_t(s.image.pulled_at)},
          {"layers_fetched", s.layers_fetched},
          {"layers_cached", s.layers_cached},
          {"bytes_fetched", s.bytes_fetched}};
}

PullSummary summary_from_json(const json& j) {
  PullSummary s;
  s.image.name = j.value("name", "");
  s.image.digest = j.value("digest", "");
  s.image.config_digest = j.value("config", "");
  s.image.layers = j.value("layers", std::size_t{0});
  s.image.size_bytes = j.value("size", std::uint64_t{0});
  s.image.pulled_at = std::chrono::system_clock::from_time_t(j.value("pulled_at", std::time_t{0}));
  s.layers_fetched = j.value("layers_fetched", std::size_t{0});
  s.layers_cached = j.value("layers_cached", std::size_t{0});
  s.bytes_fetched = j.value("bytes_fetched", std::uint64_t{0});
  return s;
}

}  // namespace ociexec::image
