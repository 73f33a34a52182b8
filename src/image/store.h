// The content-addressed image store, shared by every executor and pull of a user:
//   blobs/sha256/<hex>    manifests and configs, by digest
//   layers/sha256/<hex>/  unpacked layers, by diff_id (the uncompressed tar's digest)
//   flat/sha256/<hex>/    rootless: an image's layers applied in one dir, by config digest
//   images.json           name -> manifest, config, layers
//   locks/<hex>.lock      one per layer: exclusive while it is unpacked, shared while jobs
//                         use it; gc.lock: shared by pulls, exclusive for prune
//   tmp/                  work in progress, renamed into place when complete
// Nothing half-written is ever visible under blobs/ or layers/. Root: /var/lib/ociexec;
// rootless: $XDG_DATA_HOME/ociexec (~/.local/share/ociexec).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "image/digest.h"
#include "ociexec/error.h"
#include "sys/file_lock.h"

namespace ociexec::image {

struct ImageRecord {
  std::string name;  // canonical reference ("docker.io/library/python:3.12", "oci:/p:ref")
  std::string manifest_digest;
  std::string config_digest;
  std::vector<std::string> diff_ids;  // bottom layer first
  std::uint64_t size = 0;             // unpacked bytes, all layers
  std::int64_t pulled_at = 0;         // Unix seconds
};

struct PruneReport {
  std::size_t layers_removed = 0;
  std::size_t blobs_removed = 0;
  std::size_t in_use = 0;  // unreferenced but held by a running job or pull: kept
  std::uint64_t bytes_freed = 0;
};

std::filesystem::path default_store_dir();

class Store {
 public:
  // Creates the directories (0700) when missing.
  static Expected<Store> open(const std::filesystem::path& root);

  [[nodiscard]] const std::filesystem::path& root() const noexcept { return root_; }
  [[nodiscard]] std::filesystem::path blob_path(const Digest& d) const;
  [[nodiscard]] std::filesystem::path layer_dir(const Digest& d) const;
  // Rootless: the image whose config is `config`, its layers applied in one directory.
  [[nodiscard]] std::filesystem::path flat_dir(const Digest& config) const;
  [[nodiscard]] std::filesystem::path tmp_dir() const { return root_ / "tmp"; }
  // A fresh name under tmp/ that prune knows to belong to this process.
  [[nodiscard]] std::filesystem::path tmp_path(std::string_view hint) const;

  // The lock of a layer (by diff_id) or of a flattened image (by config digest).
  Expected<sys::FileLock> lock_layer(const Digest& diff_id, sys::FileLock::Mode mode) const;
  // Held (shared) by a pull from start to end, so prune never takes what it is assembling.
  Expected<sys::FileLock> lock_for_pull() const;

  [[nodiscard]] bool has_blob(const Digest& d) const;
  [[nodiscard]] bool has_layer(const Digest& d) const;
  [[nodiscard]] bool has_flat(const Digest& config) const;
  Expected<std::string> read_blob(const Digest& d) const;
  // Writes through a temp file and renames it into place (the content is the caller's to
  // have verified).
  Expected<void> write_blob(const Digest& d, std::string_view data) const;
  // Moves a completely unpacked layer into place; another process that got there first wins.
  Expected<void> commit_layer(const Digest& diff_id, const std::filesystem::path& unpacked) const;
  Expected<void> commit_flat(const Digest& config, const std::filesystem::path& unpacked) const;

  Expected<std::vector<ImageRecord>> list() const;
  // By canonical name (as parse_reference normalizes it) or manifest digest (prefix of at
  // least 12 hex digits, as `images` shows it).
  Expected<std::optional<ImageRecord>> find(std::string_view name) const;
  // Adds or replaces the record of the same name.
  Expected<void> put(const ImageRecord& record) const;
  // Removes the named records (all names of an image when given its digest), then prunes.
  Expected<std::vector<ImageRecord>> remove(std::string_view name, PruneReport* pruned) const;
  // Removes layers and blobs no record references (unless in use), and tmp/ entries of
  // processes that died.
  Expected<PruneReport> prune() const;

 private:
  explicit Store(std::filesystem::path root) : root_(std::move(root)) {}
  Expected<void> write_records(const std::vector<ImageRecord>& records) const;
  Expected<void> commit_dir(const std::filesystem::path& dest, const Digest& d,
                            const std::filesystem::path& unpacked) const;
  std::filesystem::path root_;
};

// Whole-layer size (bytes of regular files) of an unpacked tree.
std::uint64_t tree_size(const std::filesystem::path& dir);

}  // namespace ociexec::image
