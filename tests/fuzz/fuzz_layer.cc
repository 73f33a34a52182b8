// An image layer's tar, unpacked into a fresh directory inside a sentinel directory: whatever
// the entries are named or linked to, nothing may appear beside the layer directory, and a
// failure is a one-line error.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "fuzz.h"
#include "image/unpack.h"
#include "sys/fs.h"
#include "sys/unique_fd.h"

namespace {

std::size_t entries(const std::filesystem::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) ++n;
  return n;
}

}  // namespace

OCIEXEC_FUZZ_TARGET(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path sentinel =
      std::filesystem::temp_directory_path() / fmt::format("ociexec-fuzz-layer-{}", ::getpid());
  static std::atomic<unsigned> seq{0};
  static const bool cleanup_registered = [] {
    return std::atexit([] { (void)ociexec::sys::remove_tree(sentinel); }) == 0;
  }();
  (void)cleanup_registered;
  (void)ociexec::sys::make_dirs(sentinel, 0700);
  const auto dir = sentinel / fmt::format("layer-{}", seq++);
  (void)ociexec::sys::make_dir(dir, 0755, false);
  auto fd = ociexec::sys::make_memfd("layer", ociexec::fuzz::text(data, size));
  ociexec::fuzz::require(fd.has_value(), "memfd");
  ociexec::image::UnpackLimits budget;
  budget.max_bytes = 64 << 20;
  budget.max_entries = 10000;
  auto r = ociexec::image::unpack_layer(fd->get(), ociexec::image::Compression::kNone, dir, budget);
  if (!r) ociexec::fuzz::require_one_line(r.error().message);
  ociexec::fuzz::require(entries(sentinel) == 1, "an entry escaped the layer directory");
  (void)ociexec::sys::remove_tree(dir);
  return 0;
}
