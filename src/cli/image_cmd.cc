// `ociexec pull REF`, `ociexec images`, `ociexec rmi REF...`, `ociexec image prune`: the image
// store from the command line. Pulls run in the ociexec-fetch helper (image/fetch_helper.cc),
// which draws progress on a terminal.
#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/job_flags.h"
#include "image/image_options.h"

namespace ociexec::cli {

namespace {

std::string human_size(std::uint64_t bytes) {
  if (bytes >= (1ULL << 30)) return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1ULL << 30));
  if (bytes >= (1ULL << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1ULL << 20));
  return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024.0);
}

std::string short_digest(const std::string& digest) {
  return digest.substr(digest.find(':') + 1, 12);
}

nlohmann::json image_json(const ImageInfo& i) {
  return {{"name", i.name},
          {"digest", i.digest},
          {"config", i.config_digest},
          {"layers", i.layers},
          {"size", i.size_bytes},
          {"pulled_at", std::chrono::system_clock::to_time_t(i.pulled_at)}};
}

// The effective config's image options with the flags on top.
Expected<ImageOptions> image_options(const Globals& globals, const ImageFlags& flags) {
  auto cfg = effective_config(globals);
  if (!cfg) return tl::unexpected(cfg.error());
  ImageOptions o = cfg->executor.images;
  if (auto r = apply_image_flags(flags, o); !r) return tl::unexpected(r.error());
  return o;
}

struct Shared {
  ImageFlags flags;
  std::vector<std::string> refs;
  bool json = false;
  bool quiet = false;  // pull -q: the digest only, no progress
  bool force = false;  // rmi -f: a name not in the store is no error
  std::string format;  // images --format: table, json (an array) or jsonl
};

int pull(const Globals& globals, const Shared& s) {
  auto options = image_options(globals, s.flags);
  if (!options) return report_error(options.error());
  auto summary = image::fetch_image(s.refs.front(), *options, {}, s.quiet);
  if (!summary) return report_error(summary.error());
  if (s.quiet) {
    fmt::print("{}\n", summary->image.digest);  // as podman pull -q prints the image's id
    return 0;
  }
  if (s.json) {
    print_json(image::summary_to_json(*summary));
    return 0;
  }
  fmt::print("{} {}: {} layer(s) fetched ({}), {} already present\n", summary->image.name,
             summary->image.digest, summary->layers_fetched, human_size(summary->bytes_fetched),
             summary->layers_cached);
  return 0;
}

int images(const Globals& globals, const Shared& s) {
  auto options = image_options(globals, s.flags);
  if (!options) return report_error(options.error());
  auto list = list_images(*options);
  if (!list) return report_error(list.error());
  const std::string format = s.json ? "jsonl" : s.format;
  if (format == "json" || format == "jsonl") {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& i : *list) all.push_back(image_json(i));
    if (format == "json") {
      fmt::print("{}\n", all.dump(2));  // one array, as podman images --format json
    } else {
      for (const auto& i : all) print_json(i);
    }
    return 0;
  }
  fmt::print("{:<60} {:<12} {:>7} {:>10}  {}\n", "NAME", "DIGEST", "LAYERS", "SIZE", "PULLED");
  for (const auto& i : *list) {
    const std::time_t t = std::chrono::system_clock::to_time_t(i.pulled_at);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%SZ", &tm);
    fmt::print("{:<60} {:<12} {:>7} {:>10}  {}\n", i.name, short_digest(i.digest), i.layers,
               human_size(i.size_bytes), when);
  }
  return 0;
}

int rmi(const Globals& globals, const Shared& s) {
  auto options = image_options(globals, s.flags);
  if (!options) return report_error(options.error());
  int rc = 0;
  for (const auto& ref : s.refs) {
    auto removed = remove_image(ref, *options);
    if (!removed && s.force && removed.error().kind == ErrorKind::kImageNotFound) continue;
    if (!removed) {
      rc = report_error(removed.error());
      continue;
    }
    for (const auto& i : *removed) fmt::print("Untagged: {} ({})\n", i.name, short_digest(i.digest));
  }
  return rc;
}

int prune(const Globals& globals, const Shared& s) {
  auto options = image_options(globals, s.flags);
  if (!options) return report_error(options.error());
  auto r = prune_images(*options);
  if (!r) return report_error(r.error());
  fmt::print("prune: removed {} layer(s) and {} blob(s), {} freed; {} unused layer(s) in use "
             "kept\n",
             r->layers_removed, r->blobs_removed, human_size(r->bytes_freed), r->in_use);
  return 0;
}

}  // namespace

void register_images(CLI::App& app, Globals& globals, Action& action) {
  auto add = [&](CLI::App* cmd, bool registry, int (*body)(const Globals&, const Shared&)) {
    auto s = std::make_shared<Shared>();
    add_image_flags(*cmd, s->flags, registry);
    cmd->callback([&globals, &action, s, body] { action = [&globals, s, body] { return body(globals, *s); }; });
    return s;
  };
  auto* pull_cmd = app.add_subcommand("pull", "fetch an image into the store (registry or oci:PATH[:REF])");
  auto pull_shared = add(pull_cmd, true, pull);
  pull_cmd->add_option("reference", pull_shared->refs, "image reference")->required()->expected(1);
  pull_cmd->add_flag("--json", pull_shared->json, "print the summary as JSON");
  pull_cmd->add_flag("-q,--quiet", pull_shared->quiet,
                     "print only the image's digest, and no progress");

  auto* images_cmd = app.add_subcommand("images", "list the images in the store");
  auto images_shared = add(images_cmd, false, images);
  images_cmd
      ->add_option("--format", images_shared->format,
                   "table (default), json (one JSON array, as podman's) or jsonl (one JSON "
                   "object per line)")
      ->check(CLI::IsMember({"table", "json", "jsonl"}))
      ->default_val("table");
  images_cmd->add_flag("--json", images_shared->json, "the same as --format jsonl");

  auto* rmi_cmd = app.add_subcommand("rmi", "remove images (by name or digest) and their unused layers");
  auto rmi_shared = add(rmi_cmd, false, rmi);
  rmi_cmd->add_option("reference", rmi_shared->refs, "image names or digests")->required();
  rmi_cmd->add_flag("-f,--force", rmi_shared->force,
                    "a reference not in the store is no error (the layers of images that running "
                    "jobs use stay until those jobs end, with or without it)");

  auto* image_cmd = app.add_subcommand("image", "manage the image store");
  image_cmd->require_subcommand(1);
  auto* prune_cmd = image_cmd->add_subcommand("prune", "remove layers and blobs no image uses");
  add(prune_cmd, false, prune);
}

}  // namespace ociexec::cli
