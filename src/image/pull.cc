#include "image/pull.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <functional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "image/hasher.h"
#include "sys/fs.h"
#include "sys/unique_fd.h"

namespace ociexec::image {

namespace fs = std::filesystem;

namespace {

// Where blobs come from: a registry or a layout directory. Each hands out verified content.
class BlobSource {
 public:
  virtual ~BlobSource() = default;
  // The top document for the reference: its bytes, Content-Type (if any) and digest.
  virtual Expected<FetchedManifest> top() = 0;
  // A manifest or config by descriptor, verified, at most kMaxManifestBytes.
  virtual Expected<std::string> small(const Descriptor& d) = 0;
  // A layer blob, verified, in `fd` from offset 0.
  virtual Expected<void> layer(const Descriptor& d, int fd, const BlobProgress& progress) = 0;
  [[nodiscard]] virtual std::string name() const = 0;
};

Expected<sys::UniqueFd> temp_file(const Store& store) {
  auto fd = sys::open_fd(store.tmp_dir().string(), O_TMPFILE | O_RDWR, 0600);
  if (!fd) return tl::unexpected(fd.error().with_context("image store temp file"));
  return fd;
}

Expected<std::string> read_fd(int fd) {
  if (auto r = sys::rewind(sys::FdRef(fd)); !r) return tl::unexpected(r.error());
  return sys::read_all(fd);
}

class RegistrySource final : public BlobSource {
 public:
  RegistrySource(const Store& store, RegistryReference ref, std::unique_ptr<RegistryClient> c)
      : store_(store), ref_(std::move(ref)), client_(std::move(c)) {}
  Expected<FetchedManifest> top() override { return client_->manifest(ref_.manifest_reference()); }
  Expected<std::string> small(const Descriptor& d) override {
    if (d.size > kMaxManifestBytes)
      return tl::unexpected(Error{ErrorKind::kImage, fmt::format("{}: {} bytes is too large for a "
                                                                 "manifest or config",
                                                                 d.digest, d.size)});
    if (d.media_type.find("manifest") != std::string::npos ||
        d.media_type.find("index") != std::string::npos) {
      auto m = client_->manifest(d.digest);
      if (!m) return tl::unexpected(m.error());
      return std::move(m->body);
    }
    auto fd = temp_file(store_);
    if (!fd) return tl::unexpected(fd.error());
    if (auto r = client_->blob(d, fd->get()); !r) return tl::unexpected(r.error());
    return read_fd(fd->get());
  }
  Expected<void> layer(const Descriptor& d, int fd, const BlobProgress& progress) override {
    return client_->blob(d, fd, progress);
  }
  [[nodiscard]] std::string name() const override { return ref_.canonical(); }

 private:
  const Store& store_;
  RegistryReference ref_;
  std::unique_ptr<RegistryClient> client_;
};

class LayoutSource final : public BlobSource {
 public:
  LayoutSource(LayoutReference ref, PullDeadline deadline)
      : ref_(std::move(ref)), deadline_(deadline) {}
  Expected<FetchedManifest> top() override {
    auto layout = sys::read_file(fs::path(ref_.path) / "oci-layout");
    if (!layout)
      return tl::unexpected(Error{ErrorKind::kImageNotFound,
                                  fmt::format("{}: not an OCI image layout (no oci-layout file); "
                                              "make one with skopeo copy or umoci",
                                              ref_.path)});
    auto j = nlohmann::json::parse(*layout, nullptr, false);
    if (!j.is_object() || j.value("imageLayoutVersion", "") != "1.0.0")
      return tl::unexpected(Error{ErrorKind::kImage,
                                  fmt::format("{}/oci-layout: imageLayoutVersion is not 1.0.0",
                                              ref_.path)});
    auto index = sys::read_file(fs::path(ref_.path) / "index.json");
    if (!index) return tl::unexpected(index.error().with_context("OCI layout"));
    FetchedManifest m;
    m.body = std::move(*index);
    m.content_type = std::string(media::kOciIndex);
    m.digest = digest_of(m.body).str();
    return m;
  }
  Expected<std::string> small(const Descriptor& d) override {
    if (d.size > kMaxManifestBytes)
      return tl::unexpected(Error{ErrorKind::kImage, fmt::format("{}: too large", d.digest)});
    auto fd = open_blob(d);
    if (!fd) return tl::unexpected(fd.error());
    auto text = sys::read_all(fd->get());
    if (!text) return tl::unexpected(text.error());
    if (auto r = check(d, *text); !r) return tl::unexpected(r.error());
    return text;
  }
  // Copied into `out` (the store's private temp file) as it is hashed: what is unpacked is
  // the copy that was verified, never the layout's file again, which its owner could change
  // between the check and the unpacking.
  Expected<void> layer(const Descriptor& d, int out, const BlobProgress& progress) override {
    auto fd = open_blob(d);
    if (!fd) return tl::unexpected(fd.error());
    auto digest = parse_digest(d.digest);
    Hasher h(digest->algorithm);
    std::uint64_t got = 0;
    std::vector<char> buf(1 << 16);
    while (true) {
      const ssize_t n = ::read(fd->get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return tl::unexpected(sys::errno_error("read layer blob", errno));
      if (n == 0) break;
      if (deadline_.passed()) return tl::unexpected(deadline_.error());
      const auto len = static_cast<std::size_t>(n);
      got += len;
      if (got > d.size) break;
      h.update(buf.data(), len);
      if (auto w = sys::write_all(out, std::string_view(buf.data(), len)); !w)
        return tl::unexpected(w.error().with_context("copy layer blob"));
      if (progress) progress(got, d.size);
    }
    if (got != d.size || !(h.finish() == *digest))
      return tl::unexpected(Error{ErrorKind::kImage, fmt::format("blob {}: size or digest does "
                                                                 "not match its descriptor: refused",
                                                                 d.digest)});
    return {};
  }
  [[nodiscard]] std::string name() const override { return ref_.canonical(); }

 private:
  Expected<sys::UniqueFd> open_blob(const Descriptor& d) const {
    auto digest = parse_digest(d.digest);
    if (!digest) return tl::unexpected(digest.error());
    const fs::path p = fs::path(ref_.path) / "blobs" / digest->algorithm / digest->hex;
    auto fd = sys::open_fd(p.string(), O_RDONLY | O_NOFOLLOW);
    if (!fd)
      return tl::unexpected(Error{ErrorKind::kImage, fmt::format("OCI layout {}: blob {} is "
                                                                 "missing",
                                                                 ref_.path, d.digest)});
    return fd;
  }
  static Expected<void> check(const Descriptor& d, std::string_view data) {
    auto digest = parse_digest(d.digest);
    if (data.size() != d.size || digest_of(data, digest->algorithm).str() != d.digest)
      return tl::unexpected(Error{ErrorKind::kImage, fmt::format("blob {}: size or digest does "
                                                                 "not match its descriptor: refused",
                                                                 d.digest)});
    return {};
  }
  LayoutReference ref_;
  PullDeadline deadline_;
};

struct Resolved {
  std::string manifest_digest;
  std::string manifest_body;
  Manifest manifest;
};

// From the top document down to one image manifest: an index selects by ref name (a
// layout) or platform, and may nest.
Expected<Resolved> resolve(BlobSource& source, const Reference& ref, const Platform& platform) {
  auto top = source.top();
  if (!top) return tl::unexpected(top.error());
  std::string body = std::move(top->body);
  std::string content_type = std::move(top->content_type);
  std::string digest = std::move(top->digest);
  bool first = true;
  for (int depth = 0; depth < 4; ++depth) {
    auto kind = document_kind(body, content_type);
    if (!kind) return tl::unexpected(kind.error().with_context(source.name()));
    if (*kind == DocumentKind::kManifest) {
      auto m = parse_manifest(body);
      if (!m) return tl::unexpected(m.error().with_context(source.name()));
      return Resolved{digest, std::move(body), std::move(*m)};
    }
    auto index = parse_index(body);
    if (!index) return tl::unexpected(index.error().with_context(source.name()));
    Descriptor next;
    if (first && ref.layout) {
      // The layout's index.json: by ref name, or its only entry.
      std::vector<const Descriptor*> hits;
      std::string names;
      for (const auto& d : index->manifests) {
        if (!d.ref_name.empty()) names += (names.empty() ? "" : ", ") + d.ref_name;
        if (ref.layout->ref.empty() || d.ref_name == ref.layout->ref) hits.push_back(&d);
      }
      if (hits.size() != 1)
        return tl::unexpected(Error{
            ErrorKind::kImageNotFound,
            ref.layout->ref.empty()
                ? fmt::format("{}: the layout holds {} images; name one as oci:PATH:REF ({})",
                              source.name(), hits.size(), names)
                : fmt::format("{}: no image named {:?} in the layout (it has: {})",
                              source.name(), ref.layout->ref, names.empty() ? "none" : names)});
      next = *hits.front();
    } else {
      auto pick = select_platform(*index, platform, source.name());
      if (!pick) return tl::unexpected(pick.error());
      next = *pick;
    }
    first = false;
    auto child = source.small(next);
    if (!child) return tl::unexpected(child.error());
    body = std::move(*child);
    content_type = next.media_type;
    digest = next.digest;
  }
  return tl::unexpected(Error{ErrorKind::kImage, fmt::format("{}: indexes nested too deep", source.name())});
}

// Fetches one layer blob (verified) and unpacks it into `dir`, checking the uncompressed
// stream against the config's diff_id.
Expected<void> apply_layer(const Store& store, BlobSource& source, const Descriptor& blob,
                           const Digest& diff_id, const fs::path& dir, UnpackMode mode,
                           UnpackLimits& budget, const PullSettings& settings,
                           std::uint64_t& fetched) {
  auto compression = layer_compression(blob.media_type);
  if (!compression) return tl::unexpected(compression.error());
  auto fd = temp_file(store);
  if (!fd) return tl::unexpected(fd.error());
  BlobProgress progress;
  if (settings.progress)
    progress = [&](std::uint64_t done, std::uint64_t total) {
      settings.progress({PullEvent::Kind::kLayerBytes, blob.digest, done, total});
    };
  if (auto r = source.layer(blob, fd->get(), progress); !r) return tl::unexpected(r.error());
  fetched += blob.size;
  if (auto r = sys::rewind(*fd); !r) return tl::unexpected(r.error());
  auto stats = unpack_layer(fd->get(), *compression, dir, budget, diff_id.algorithm, mode);
  if (!stats && settings.registry.deadline.passed())
    return tl::unexpected(settings.registry.deadline.error());
  if (!stats) return tl::unexpected(stats.error().with_context(fmt::format("layer {}", blob.digest)));
  if (!(stats->diff_id == diff_id))
    return tl::unexpected(Error{ErrorKind::kImage,
                                fmt::format("layer {}: its uncompressed content has digest {}, "
                                            "but the image config says {}: refused",
                                            blob.digest, stats->diff_id.str(), diff_id.str())});
  if (settings.progress)
    settings.progress({PullEvent::Kind::kLayerUnpacked, blob.digest, blob.size, blob.size});
  return {};
}

// Builds a store directory once: under the lock of `key`, unless `present()` already; `fill`
// writes it in a fresh tmp dir, which `commit` then moves into place. The lock keeps a second
// puller from building it at the same time (it waits, then finds it). True when built here.
//
// One that is present needs no lock: store directories are renamed into place whole, and the
// pull's shared gc lock keeps prune from removing it until the pull has recorded its image.
// Taking the exclusive lock anyway would wait for every job that holds the layer shared (a
// warm pool holds its containers' layers for as long as they wait).
Expected<bool> build_once(const Store& store, const Digest& key,
                          const std::function<bool()>& present,
                          const std::function<Expected<void>(const fs::path&)>& fill,
                          const std::function<Expected<void>(const fs::path&)>& commit) {
  if (present()) return false;
  auto lock = store.lock_layer(key, sys::FileLock::Mode::kExclusive);
  if (!lock) return tl::unexpected(lock.error());
  if (present()) return false;
  const fs::path dir = store.tmp_path(key.hex);
  if (auto r = sys::make_dir(dir, 0755, false); !r) return tl::unexpected(r.error());
  sys::ScopeExit cleanup([&dir] { (void)sys::remove_tree(dir); });
  if (auto r = fill(dir); !r) return tl::unexpected(r.error());
  if (auto r = commit(dir); !r) return tl::unexpected(r.error());
  cleanup.dismiss();
  return true;
}

// One layer into the store (layers/), unless it is there already.
Expected<bool> ensure_layer(const Store& store, BlobSource& source, const Descriptor& blob,
                            const Digest& diff_id, UnpackLimits& budget,
                            const PullSettings& settings, std::uint64_t& fetched) {
  return build_once(
      store, diff_id, [&] { return store.has_layer(diff_id); },
      [&](const fs::path& dir) {
        return apply_layer(store, source, blob, diff_id, dir, UnpackMode::kOverlayLayer, budget,
                           settings, fetched);
      },
      [&](const fs::path& dir) { return store.commit_layer(diff_id, dir); });
}

// Rootless: every layer applied in order into one directory (flat/), named by the config
// digest.
Expected<bool> ensure_flat(const Store& store, BlobSource& source, const Manifest& m,
                           const ImageConfig& config, const Digest& config_digest,
                           UnpackLimits& budget, const PullSettings& settings,
                           std::uint64_t& fetched) {
  return build_once(
      store, config_digest, [&] { return store.has_flat(config_digest); },
      [&](const fs::path& dir) -> Expected<void> {
        for (std::size_t i = 0; i < m.layers.size(); ++i) {
          auto diff_id = parse_digest(config.diff_ids[i]);
          if (auto r = apply_layer(store, source, m.layers[i], *diff_id, dir, UnpackMode::kFlatten,
                                   budget, settings, fetched);
              !r)
            return r;
        }
        return {};
      },
      [&](const fs::path& dir) { return store.commit_flat(config_digest, dir); });
}

}  // namespace

Expected<PullReport> pull(const Store& store, const Reference& ref, const PullSettings& settings) {
  auto gc = store.lock_for_pull();
  if (!gc) return tl::unexpected(gc.error());
  std::unique_ptr<BlobSource> source;
  if (ref.registry) {
    auto client = RegistryClient::create(*ref.registry, settings.registry);
    if (!client) return tl::unexpected(client.error());
    source = std::make_unique<RegistrySource>(store, *ref.registry, std::move(*client));
  } else {
    source = std::make_unique<LayoutSource>(*ref.layout, settings.registry.deadline);
  }
  const Platform platform = settings.platform.value_or(host_platform());
  auto resolved = resolve(*source, ref, platform);
  if (!resolved) return tl::unexpected(resolved.error());
  const Manifest& m = resolved->manifest;
  if (settings.progress)
    settings.progress({PullEvent::Kind::kManifest, resolved->manifest_digest, 0, m.layers.size()});

  auto config_digest = parse_digest(m.config.digest);
  if (!config_digest) return tl::unexpected(config_digest.error());
  std::string config_text;
  if (store.has_blob(*config_digest)) {
    auto text = store.read_blob(*config_digest);
    if (!text) return tl::unexpected(text.error());
    config_text = std::move(*text);
  } else {
    auto text = source->small(m.config);
    if (!text) return tl::unexpected(text.error().with_context("image config"));
    config_text = std::move(*text);
  }
  auto config = parse_config(config_text);
  if (!config) return tl::unexpected(config.error().with_context(source->name()));
  if (config->diff_ids.size() != m.layers.size())
    return tl::unexpected(Error{ErrorKind::kImage,
                                fmt::format("{}: the manifest lists {} layers, the config {} "
                                            "diff_ids",
                                            source->name(), m.layers.size(), config->diff_ids.size())});
  if (!config->platform.os.empty() &&
      (config->platform.os != platform.os || config->platform.architecture != platform.architecture))
    return tl::unexpected(Error{ErrorKind::kImageNotFound,
                                fmt::format("{}: the image is for {}, not {}; choose another with "
                                            "--platform",
                                            source->name(), config->platform.str(), platform.str())});

  PullReport report;
  UnpackLimits budget = settings.limits;
  if (settings.flatten) {
    auto made = ensure_flat(store, *source, m, *config, *config_digest, budget, settings,
                            report.bytes_fetched);
    if (!made) return tl::unexpected(made.error().with_context(source->name()));
    (*made ? report.layers_fetched : report.layers_cached) = m.layers.size();
  }
  for (std::size_t i = 0; i < m.layers.size() && !settings.flatten; ++i) {
    if (settings.registry.deadline.passed())
      return tl::unexpected(settings.registry.deadline.error().with_context(source->name()));
    auto diff_id = parse_digest(config->diff_ids[i]);
    auto fetched = ensure_layer(store, *source, m.layers[i], *diff_id, budget, settings,
                                report.bytes_fetched);
    if (!fetched) return tl::unexpected(fetched.error().with_context(source->name()));
    if (*fetched) {
      ++report.layers_fetched;
    } else {
      ++report.layers_cached;
      if (settings.progress)
        settings.progress({PullEvent::Kind::kLayerCached, m.layers[i].digest, m.layers[i].size,
                           m.layers[i].size});
    }
  }
  if (!store.has_blob(*config_digest))
    if (auto r = store.write_blob(*config_digest, config_text); !r) return tl::unexpected(r.error());
  auto manifest_digest = parse_digest(resolved->manifest_digest);
  if (!manifest_digest) return tl::unexpected(manifest_digest.error());
  if (!store.has_blob(*manifest_digest))
    if (auto r = store.write_blob(*manifest_digest, resolved->manifest_body); !r)
      return tl::unexpected(r.error());

  ImageRecord& rec = report.record;
  rec.name = ref.canonical();
  rec.manifest_digest = resolved->manifest_digest;
  rec.config_digest = m.config.digest;
  rec.diff_ids = config->diff_ids;
  if (settings.flatten)
    rec.size = tree_size(store.flat_dir(*config_digest));
  else
    for (const auto& id : rec.diff_ids) rec.size += tree_size(store.layer_dir(*parse_digest(id)));
  rec.pulled_at = static_cast<std::int64_t>(::time(nullptr));
  if (auto r = store.put(rec); !r) return tl::unexpected(r.error());
  if (settings.progress)
    settings.progress({PullEvent::Kind::kDone, rec.manifest_digest, m.layers.size(), m.layers.size()});
  return report;
}

}  // namespace ociexec::image
