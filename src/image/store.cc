#include "image/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <set>

#include <fmt/format.h>
#include <fmt/std.h>
#include <nlohmann/json.hpp>

#include "image/reference.h"
#include "sys/fs.h"
#include "sys/proc.h"

namespace ociexec::image {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kRecordsFile = "images.json";

json to_json(const ImageRecord& r) {
  return {{"name", r.name},     {"manifest", r.manifest_digest}, {"config", r.config_digest},
          {"layers", r.diff_ids}, {"size", r.size},             {"pulled_at", r.pulled_at}};
}

Expected<ImageRecord> from_json(const json& j) {
  ImageRecord r;
  try {
    r.name = j.at("name").get<std::string>();
    r.manifest_digest = j.at("manifest").get<std::string>();
    r.config_digest = j.at("config").get<std::string>();
    r.diff_ids = j.at("layers").get<std::vector<std::string>>();
    r.size = j.at("size").get<std::uint64_t>();
    r.pulled_at = j.at("pulled_at").get<std::int64_t>();
  } catch (const json::exception& e) {
    return tl::unexpected(Error{ErrorKind::kImage, e.what()});
  }
  // Every digest is validated before it names a file.
  for (const auto* d : {&r.manifest_digest, &r.config_digest})
    if (auto v = parse_digest(*d); !v) return tl::unexpected(v.error());
  for (const auto& d : r.diff_ids)
    if (auto v = parse_digest(d); !v) return tl::unexpected(v.error());
  return r;
}

bool digest_matches(const ImageRecord& r, std::string_view text) {
  std::string_view hex = text;
  if (hex.rfind("sha256:", 0) == 0) hex.remove_prefix(7);
  if (hex.size() < 12 || hex.size() > 64) return false;
  std::string_view mine = r.manifest_digest;
  mine.remove_prefix(mine.find(':') + 1);
  return mine.substr(0, hex.size()) == hex;
}

// "tmp/<pid>.<seq>.<hint>": its writer's pid, or 0.
pid_t tmp_owner(const std::string& name) {
  return static_cast<pid_t>(std::strtol(name.c_str(), nullptr, 10));
}

}  // namespace

fs::path default_store_dir() {
  if (::geteuid() == 0) return "/var/lib/ociexec";
  if (auto data = sys::xdg_dir("XDG_DATA_HOME", ".local/share")) return *data / "ociexec";
  return fs::path(fmt::format("/tmp/ociexec-store-{}", ::geteuid()));
}

Expected<Store> Store::open(const fs::path& root) {
  for (const char* sub : {"blobs/sha256", "blobs/sha512", "layers/sha256", "layers/sha512",
                          "flat/sha256", "flat/sha512", "locks", "tmp"})
    if (auto r = sys::make_dirs(root / sub, 0700); !r)
      return tl::unexpected(r.error().with_context(
          "image store (choose a writable one with --image-store or image_store)"));
  return Store(root);
}

fs::path Store::blob_path(const Digest& d) const {
  return root_ / "blobs" / d.algorithm / d.hex;
}
fs::path Store::layer_dir(const Digest& d) const {
  return root_ / "layers" / d.algorithm / d.hex;
}
fs::path Store::flat_dir(const Digest& d) const {
  return root_ / "flat" / d.algorithm / d.hex;
}
fs::path Store::tmp_path(std::string_view hint) const {
  static std::atomic<unsigned> seq{0};
  return tmp_dir() / fmt::format("{}.{}.{}", ::getpid(), seq++, hint);
}

Expected<sys::FileLock> Store::lock_layer(const Digest& d, sys::FileLock::Mode mode) const {
  return sys::FileLock::acquire(root_ / "locks" / (d.hex + ".lock"), mode);
}
Expected<sys::FileLock> Store::lock_for_pull() const {
  return sys::FileLock::acquire(root_ / "gc.lock", sys::FileLock::Mode::kShared);
}

bool Store::has_blob(const Digest& d) const {
  std::error_code ec;
  return fs::is_regular_file(blob_path(d), ec);
}
bool Store::has_layer(const Digest& d) const {
  std::error_code ec;
  return fs::is_directory(layer_dir(d), ec);
}

bool Store::has_flat(const Digest& d) const {
  std::error_code ec;
  return fs::is_directory(flat_dir(d), ec);
}

Expected<std::string> Store::read_blob(const Digest& d) const {
  return sys::read_file(blob_path(d));
}

Expected<void> Store::write_blob(const Digest& d, std::string_view data) const {
  if (auto r = sys::replace_file(blob_path(d), data, 0600, tmp_path(d.hex)); !r)
    return tl::unexpected(r.error().with_context(fmt::format("store blob {}", d.str())));
  return {};
}

Expected<void> Store::commit_flat(const Digest& d, const fs::path& unpacked) const {
  return commit_dir(flat_dir(d), d, unpacked);
}

Expected<void> Store::commit_layer(const Digest& d, const fs::path& unpacked) const {
  return commit_dir(layer_dir(d), d, unpacked);
}

Expected<void> Store::commit_dir(const fs::path& dest, const Digest& d,
                                 const fs::path& unpacked) const {
  if (::rename(unpacked.c_str(), dest.c_str()) == 0) return {};
  const int err = errno;
  if (err == EEXIST || err == ENOTEMPTY) return sys::remove_tree(unpacked);
  (void)sys::remove_tree(unpacked);
  return tl::unexpected(sys::errno_error(fmt::format("store layer {}", d.str()), err));
}

Expected<std::vector<ImageRecord>> Store::list() const {
  std::vector<ImageRecord> out;
  auto text = sys::read_file(root_ / kRecordsFile);
  if (!text) {
    if (text.error().message.find("No such file") != std::string::npos) return out;
    return tl::unexpected(text.error());
  }
  json j = json::parse(*text, nullptr, false);
  auto corrupt = [&](std::string_view why) {
    return tl::unexpected(Error{
        ErrorKind::kImage,
        fmt::format("image store {}: {}: {}; remove it and pull the images again",
                    (root_ / kRecordsFile).string(), why, "unreadable")});
  };
  if (j.is_discarded() || !j.is_object() || !j.contains("images") || !j["images"].is_array())
    return corrupt("not the expected JSON");
  for (const auto& e : j["images"]) {
    auto r = from_json(e);
    if (!r) return corrupt(r.error().message);
    out.push_back(std::move(*r));
  }
  return out;
}

Expected<void> Store::write_records(const std::vector<ImageRecord>& records) const {
  json arr = json::array();
  for (const auto& r : records) arr.push_back(to_json(r));
  if (auto r = sys::replace_file(root_ / kRecordsFile, json{{"images", arr}}.dump(1), 0600,
                                 tmp_path("images.json"));
      !r)
    return tl::unexpected(r.error().with_context("update the image store's images.json"));
  return {};
}

Expected<std::optional<ImageRecord>> Store::find(std::string_view name) const {
  auto records = list();
  if (!records) return tl::unexpected(records.error());
  std::string canonical(name);
  if (auto ref = parse_reference(name)) canonical = ref->canonical();
  for (const auto& r : *records)
    if (r.name == canonical) return r;
  for (const auto& r : *records)
    if (digest_matches(r, name)) return r;
  return std::optional<ImageRecord>{};
}

Expected<void> Store::put(const ImageRecord& record) const {
  auto lock = sys::FileLock::acquire(root_ / "images.lock", sys::FileLock::Mode::kExclusive);
  if (!lock) return tl::unexpected(lock.error());
  auto records = list();
  if (!records) return tl::unexpected(records.error());
  std::erase_if(*records, [&](const ImageRecord& r) { return r.name == record.name; });
  records->push_back(record);
  return write_records(*records);
}

Expected<std::vector<ImageRecord>> Store::remove(std::string_view name,
                                                 PruneReport* pruned) const {
  std::vector<ImageRecord> removed;
  {
    auto lock = sys::FileLock::acquire(root_ / "images.lock", sys::FileLock::Mode::kExclusive);
    if (!lock) return tl::unexpected(lock.error());
    auto found = find(name);
    if (!found) return tl::unexpected(found.error());
    if (!*found)
      return tl::unexpected(Error{ErrorKind::kImageNotFound,
                                  fmt::format("image {:?}: not in the store {} (see 'ociexec "
                                              "images')",
                                              name, root_.string())});
    auto records = list();
    if (!records) return tl::unexpected(records.error());
    // Given a digest, every name of that image goes; given a name, only that name.
    const bool by_digest = (*found)->name != name && digest_matches(**found, name);
    for (const auto& r : *records)
      if (by_digest ? r.manifest_digest == (*found)->manifest_digest : r.name == (*found)->name)
        removed.push_back(r);
    std::erase_if(*records, [&](const ImageRecord& r) {
      return std::any_of(removed.begin(), removed.end(),
                         [&](const ImageRecord& x) { return x.name == r.name; });
    });
    if (auto w = write_records(*records); !w) return tl::unexpected(w.error());
  }
  auto report = prune();
  if (!report) return tl::unexpected(report.error());
  if (pruned) *pruned = *report;
  return removed;
}

Expected<PruneReport> Store::prune() const {
  auto gc = sys::FileLock::acquire(root_ / "gc.lock", sys::FileLock::Mode::kExclusive);
  if (!gc) return tl::unexpected(gc.error());
  auto records = list();
  if (!records) return tl::unexpected(records.error());
  std::set<std::string> layers, blobs, flats;
  for (const auto& r : *records) {
    blobs.insert(r.manifest_digest);
    blobs.insert(r.config_digest);
    flats.insert(r.config_digest);
    layers.insert(r.diff_ids.begin(), r.diff_ids.end());
  }
  PruneReport report;
  std::error_code ec;
  // Unpacked layers, and rootless flattened images, that no record names.
  for (const auto& [kind, keep] : {std::pair{"layers", &layers}, std::pair{"flat", &flats}}) {
    for (const char* algo : {"sha256", "sha512"}) {
      for (const auto& e : fs::directory_iterator(root_ / kind / algo, ec)) {
        auto d = parse_digest(fmt::format("{}:{}", algo, e.path().filename().string()));
        if (!d || keep->count(d->str())) continue;
        auto lock = sys::FileLock::try_acquire(root_ / "locks" / (d->hex + ".lock"),
                                               sys::FileLock::Mode::kExclusive);
        if (!lock || !lock->held()) {
          ++report.in_use;
          continue;
        }
        // Renamed first, so no reader ever sees a half-removed layer.
        const fs::path doomed = tmp_path("removed-layer");
        if (::rename(e.path().c_str(), doomed.c_str()) != 0) continue;
        report.bytes_freed += tree_size(doomed);
        if (sys::remove_tree(doomed)) ++report.layers_removed;
      }
    }
  }
  for (const char* algo : {"sha256", "sha512"}) {
    for (const auto& e : fs::directory_iterator(root_ / "blobs" / algo, ec)) {
      auto d = parse_digest(fmt::format("{}:{}", algo, e.path().filename().string()));
      if (d && blobs.count(d->str())) continue;
      report.bytes_freed += e.file_size(ec);
      if (::unlink(e.path().c_str()) == 0) ++report.blobs_removed;
    }
  }
  for (const auto& e : fs::directory_iterator(tmp_dir(), ec)) {
    const pid_t owner = tmp_owner(e.path().filename().string());
    if (owner > 0 && owner != ::getpid() && sys::process_start_time(owner)) continue;
    if (owner == ::getpid() && e.path().filename().string().find("removed-layer") == std::string::npos)
      continue;
    (void)sys::remove_tree(e.path());
  }
  return report;
}

std::uint64_t tree_size(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::none, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
  }
  return total;
}

}  // namespace ociexec::image
