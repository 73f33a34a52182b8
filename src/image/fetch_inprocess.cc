// Pulling in this process: the library's way (the static command uses fetch_helper.cc).
#include <unistd.h>

#include "image/image_options.h"
#include "ociexec/options.h"

namespace ociexec {

namespace image {

Expected<PullSettings> pull_settings(const ImageOptions& o) {
  PullSettings s;
  s.registry.tls_verify = o.tls_verify;
  s.registry.insecure_registries = o.insecure_registries;
  s.registry.ca_file = o.ca_file;
  s.registry.auth_file = o.auth_file;
  s.registry.attempts = std::max(1, o.attempts);
  if (!o.credentials.empty()) {
    auto c = parse_credentials(o.credentials);
    if (!c) return tl::unexpected(c.error());
    s.registry.credentials = *c;
  }
  if (!o.platform.empty()) {
    auto p = parse_platform(o.platform);
    if (!p) return tl::unexpected(p.error());
    s.platform = *p;
  }
  s.flatten = ::geteuid() != 0;
  s.limits.max_bytes = o.max_unpacked_bytes;
  s.limits.max_apparent_bytes = o.max_unpacked_bytes;
  s.limits.max_entries = o.max_entries;
  if (o.pull_timeout.count() <= 0 || o.pull_timeout > kMaxDuration)
    return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                "pull timeout: must be positive and at most 365 days, e.g. 10m"});
  // From here on: the deadline counts from the start of the pull.
  s.registry.deadline = PullDeadline::after(o.pull_timeout);
  s.limits.deadline = s.registry.deadline.at;
  return s;
}

Expected<PullSummary> fetch_image(std::string_view reference, const ImageOptions& options,
                                  const std::function<void(const PullProgress&)>& progress,
                                  bool /*quiet: nothing is drawn in this process*/) {
  auto ref = parse_reference(reference);
  if (!ref) return tl::unexpected(ref.error());
  auto settings = pull_settings(options);
  if (!settings) return tl::unexpected(settings.error());
  if (progress) settings->progress = [&progress](const PullEvent& e) { progress(to_progress(e)); };
  auto store = open_store(options);
  if (!store) return tl::unexpected(store.error());
  auto report = pull(*store, *ref, *settings);
  if (!report) return tl::unexpected(report.error());
  return PullSummary{to_info(report->record), report->layers_fetched, report->layers_cached,
                     report->bytes_fetched};
}

}  // namespace image

Expected<PullSummary> pull_image(std::string_view reference, const ImageOptions& options,
                                 const std::function<void(const PullProgress&)>& progress) {
  return image::fetch_image(reference, options, progress);
}

}  // namespace ociexec
