// ociexec-fetch: pulls one image into the store for the static `ociexec` command.
//   ociexec-fetch REFERENCE progress|quiet  < OPTIONS_JSON
// Prints the pull's summary, or {"error": {"kind", "message"}}, as one JSON line on stdout;
// with "progress", draws per-layer progress on stderr (a terminal).
#include <cstdio>
#include <iostream>
#include <map>

#include <fmt/format.h>

#include "image/image_options.h"

namespace {

std::string human(std::uint64_t bytes) {
  if (bytes >= (1ULL << 30)) return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1ULL << 30));
  if (bytes >= (1ULL << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1ULL << 20));
  return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024.0);
}

// One line per layer, redrawn in place while bytes arrive.
class ProgressPrinter {
 public:
  void operator()(const ociexec::PullProgress& p) {
    using Stage = ociexec::PullProgress::Stage;
    const std::string id = p.digest.substr(p.digest.find(':') + 1, 12);
    switch (p.stage) {
      case Stage::kManifest:
        fmt::print(stderr, "Manifest {} ({} layers)\n", id, p.total);
        break;
      case Stage::kLayerCached:
        fmt::print(stderr, "Layer {} already present\n", id);
        break;
      case Stage::kLayerBytes: {
        const bool first = current_ != p.digest;
        current_ = p.digest;
        // At most ~10 redraws per second's worth of 64 KiB chunks.
        if (!first && p.done != p.total && (p.done / (1 << 20)) == last_mib_) return;
        last_mib_ = p.done / (1 << 20);
        fmt::print(stderr, "\rLayer {} {} / {}\x1b[K", id, human(p.done), human(p.total));
        break;
      }
      case Stage::kLayerUnpacked:
        fmt::print(stderr, "\rLayer {} {} fetched, unpacked\x1b[K\n", id, human(p.total));
        current_.clear();
        break;
      case Stage::kDone:
        break;
    }
    std::fflush(stderr);
  }

 private:
  std::string current_;
  std::uint64_t last_mib_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  using nlohmann::json;
  auto fail = [](std::string_view kind, const std::string& message) {
    fmt::print("{}\n", json{{"error", {{"kind", kind}, {"message", message}}}}.dump());
    return 1;
  };
  if (argc != 3)
    return fail("invalid_argument", "usage: ociexec-fetch REFERENCE progress|quiet < OPTIONS_JSON");
  // The options come on stdin: they may hold credentials.
  const json opts = json::parse(std::cin, nullptr, false);
  if (!opts.is_object())
    return fail("invalid_argument", "ociexec-fetch: the options on stdin are not a JSON object");
  ProgressPrinter printer;
  std::function<void(const ociexec::PullProgress&)> progress;
  if (std::string_view(argv[2]) == "progress") progress = std::ref(printer);
  auto summary = ociexec::image::fetch_image(argv[1], ociexec::image::options_from_json(opts), progress);
  if (!summary) return fail(ociexec::to_string(summary.error().kind), summary.error().message);
  fmt::print("{}\n", ociexec::image::summary_to_json(*summary).dump());
  return 0;
}
