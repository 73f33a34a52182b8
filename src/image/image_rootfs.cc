#include "image/image_rootfs.h"

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "image/image_options.h"
#include "image/manifest.h"
#include "sys/file_lock.h"

namespace ociexec::image {

namespace {

Expected<std::optional<ImageRecord>> find_or_fetch(const Store& store, const std::string& reference,
                                                   PullPolicy policy, const ImageOptions& options) {
  if (policy != PullPolicy::kAlways) {
    auto found = store.find(reference);
    if (!found || *found || policy == PullPolicy::kNever) return found;
  }
  auto pulled = fetch_image(reference, options, {});
  if (!pulled) return tl::unexpected(pulled.error());
  return store.find(pulled->image.name);
}

}  // namespace

Expected<RootfsPlan> image_rootfs(const std::string& reference, PullPolicy policy,
                                  const ImageOptions& options) {
  auto store = open_store(options);
  if (!store) return tl::unexpected(store.error());
  auto record = find_or_fetch(*store, reference, policy, options);
  if (!record) return tl::unexpected(record.error());
  if (!*record)
    return tl::unexpected(Error{ErrorKind::kImageNotFound,
                                fmt::format("image {:?}: not in the store {} and the pull policy "
                                            "is never; pull it first (ociexec pull)",
                                            reference, store->root().string())});
  auto config_digest = parse_digest((*record)->config_digest);
  if (!config_digest) return tl::unexpected(config_digest.error());
  auto config_text = store->read_blob(*config_digest);
  if (!config_text) return tl::unexpected(config_text.error().with_context("image config"));
  auto config = parse_config(*config_text);
  if (!config) return tl::unexpected(config.error());

  // Shared locks on every layer (prune takes them exclusively), then the check that each
  // is still there: a prune that ran between the lookup and the locks is caught here.
  auto locks = std::make_shared<std::vector<sys::FileLock>>();
  auto hold = [&](const Digest& d, bool (Store::*present)(const Digest&) const,
                  std::string_view what) -> Expected<void> {
    auto lock = store->lock_layer(d, sys::FileLock::Mode::kShared);
    if (!lock) return tl::unexpected(lock.error());
    locks->push_back(std::move(*lock));
    if (!((*store).*present)(d))
      return tl::unexpected(Error{ErrorKind::kImageNotFound,
                                  fmt::format("image {}: {} is missing from the store (pruned?); "
                                              "pull the image again",
                                              (*record)->name, what)});
    return {};
  };
  RootfsPlan plan;
  plan.image = true;
  plan.env = config->env;
  plan.working_dir = config->working_dir;
  plan.user = config->user;
  if (::geteuid() != 0) {  // rootless: the flattened image, read-only
    if (auto r = hold(*config_digest, &Store::has_flat, "its flattened root"); !r)
      return tl::unexpected(r.error());
    plan.root_path = store->flat_dir(*config_digest).string();
    plan.identity = fmt::format("image {} flat", config_digest->str());
    plan.hold = std::move(locks);
    return plan;
  }
  const auto& ids = (*record)->diff_ids;
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
    auto d = parse_digest(*it);
    if (!d) return tl::unexpected(d.error());
    if (auto r = hold(*d, &Store::has_layer, fmt::format("layer {}", d->str())); !r)
      return tl::unexpected(r.error());
    plan.layers.push_back(store->layer_dir(*d).string());
  }
  if (plan.layers.empty())
    return tl::unexpected(Error{ErrorKind::kImage, fmt::format("image {}: it has no layers",
                                                               (*record)->name)});
  plan.root_path = plan.layers.front();
  // The config digest names the image (its layers' diff_ids are in it), and the layers are
  // listed as well: two images that end in the same layer are two roots.
  plan.identity = fmt::format("image {} layers {}", config_digest->str(), fmt::join(ids, ","));
  plan.hold = std::move(locks);
  return plan;
}

}  // namespace ociexec::image
