// The store side of the public image API (list, remove, prune): no network, no archives.
#include "image/image_options.h"

namespace ociexec {

Expected<std::vector<ImageInfo>> list_images(const ImageOptions& options) {
  auto store = image::open_store(options);
  if (!store) return tl::unexpected(store.error());
  auto records = store->list();
  if (!records) return tl::unexpected(records.error());
  std::vector<ImageInfo> out;
  for (const auto& r : *records) out.push_back(image::to_info(r));
  return out;
}

Expected<std::vector<ImageInfo>> remove_image(std::string_view reference,
                                              const ImageOptions& options) {
  auto store = image::open_store(options);
  if (!store) return tl::unexpected(store.error());
  auto removed = store->remove(reference, nullptr);
  if (!removed) return tl::unexpected(removed.error());
  std::vector<ImageInfo> out;
  for (const auto& r : *removed) out.push_back(image::to_info(r));
  return out;
}

Expected<PruneSummary> prune_images(const ImageOptions& options) {
  auto store = image::open_store(options);
  if (!store) return tl::unexpected(store.error());
  auto r = store->prune();
  if (!r) return tl::unexpected(r.error());
  return PruneSummary{r->layers_removed, r->blobs_removed, r->in_use, r->bytes_freed};
}

}  // namespace ociexec
