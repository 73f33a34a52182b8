#include "image/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <dirent.h>

#include <array>
#include <set>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "image/hasher.h"
#include "sys/confined.h"

namespace ociexec::image {

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

// libarchive's message, which may be missing.
const char* message_of(archive* a) {
  const char* m = archive_error_string(a);
  return m ? m : "unreadable data";
}

tl::unexpected<Error> layer_error(std::string_view what) {
  return tl::unexpected(Error{ErrorKind::kImage, std::string(what)});
}

// The decompressed stream: libarchive's "raw" format over the compressed file; every byte
// the tar reader takes passes the hasher and the size budget first.
struct Stream {
  archive* raw = nullptr;
  Hasher hasher;
  UnpackLimits* budget = nullptr;
  std::uint64_t bytes = 0;
  bool over_budget = false;
  bool timed_out = false;
  std::array<char, 1 << 16> buf{};

  la_ssize_t read(const void** out) {
    if (std::chrono::steady_clock::now() >= budget->deadline) {
      timed_out = true;
      return -1;
    }
    const la_ssize_t n = archive_read_data(raw, buf.data(), buf.size());
    if (n > 0) {
      hasher.update(buf.data(), static_cast<std::size_t>(n));
      bytes += static_cast<std::uint64_t>(n);
      if (bytes > budget->max_bytes) {
        over_budget = true;
        return -1;
      }
    }
    *out = buf.data();
    return n;
  }
};

la_ssize_t read_callback(archive* /*tar*/, void* data, const void** out) {
  return static_cast<Stream*>(data)->read(out);
}

class Writer {
 public:
  Writer(int root, UnpackStats& stats, UnpackMode mode)
      : root_(root), stats_(stats), as_root_(::geteuid() == 0), flatten_(mode == UnpackMode::kFlatten) {}

  Expected<void> entry(archive* tar, archive_entry* e) {
    const char* raw_name = archive_entry_pathname(e);
    if (!raw_name) return layer_error("layer entry without a name");
    const std::string_view name = raw_name;
    auto path = sys::confined_components(name);
    if (path.empty()) return {};  // the layer's root itself
    std::string base = path.back();
    const std::size_t depth = path.size() - 1;
    auto parent = sys::make_dirs_in_root(root_, path, depth);
    if (!parent) return tl::unexpected(parent.error());
    const int dir = parent->get();

    std::string parent_key;
    for (std::size_t i = 0; i < depth; ++i) parent_key += path[i] + "/";
    if (base == kOpaqueMarker) return set_opaque(dir, parent_key);
    if (base.rfind(kWhiteoutPrefix, 0) == 0) {
      if (base.rfind(".wh..wh.", 0) == 0) return {};  // aufs metadata
      return whiteout(dir, base.substr(kWhiteoutPrefix.size()));
    }
    if (flatten_) created_.insert(parent_key + base);
    if (const char* target = archive_entry_hardlink(e)) return hardlink(dir, base, target);

    const auto type = archive_entry_filetype(e);
    const auto mode = static_cast<mode_t>(archive_entry_perm(e)) & 07777;
    if (type == AE_IFDIR) return directory(dir, base, e, mode);
    if (auto r = clear(dir, base); !r) return r;
    switch (type) {
      case AE_IFREG: return regular(tar, dir, base, e, mode);
      case AE_IFLNK: return symlink(dir, base, e);
      case AE_IFIFO:
        if (::mkfifoat(dir, base.c_str(), mode) != 0) return fail("mkfifo", base);
        return owner_and_times(dir, base, e, mode, false);
      default:  // character and block devices, sockets: never created
        ++stats_.skipped;
        return {};
    }
  }

 private:
  Expected<void> fail(std::string_view op, std::string_view name) const {
    return tl::unexpected(
        sys::errno_error(fmt::format("layer entry {:?}: {}", std::string(name), op), errno));
  }

  // Whatever the same name held before (an earlier entry of this layer) makes way; a
  // directory stays when a directory replaces it.
  Expected<void> clear(int dir, const std::string& base) const {
    struct stat st {};
    if (::fstatat(dir, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return {};
    if (auto r = sys::remove_at(dir, base); !r)
      return tl::unexpected(r.error().with_context(fmt::format("layer entry {:?}", base)));
    return {};
  }

  // Flattening: what the dir held before this layer goes; overlay: the dir is marked.
  Expected<void> set_opaque(int dir, const std::string& dir_key) const {
    if (flatten_) {
      sys::UniqueFd copy(::fcntl(dir, F_DUPFD_CLOEXEC, 0));
      DIR* d = copy ? ::fdopendir(copy.get()) : nullptr;
      if (!d) return fail("list", dir_key);
      (void)copy.release();
      std::vector<std::string> older;
      while (const dirent* e = ::readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != ".." && !created_.count(dir_key + n)) older.push_back(n);
      }
      ::closedir(d);
      for (const auto& n : older)
        if (auto r = sys::remove_at(dir, n); !r) return r;
      return {};
    }
    const char* attr = as_root_ ? "trusted.overlay.opaque" : "user.overlay.opaque";
    if (::fsetxattr(dir, attr, "y", 1, 0) != 0) return fail("mark opaque", kOpaqueMarker);
    return {};
  }

  Expected<void> whiteout(int dir, const std::string& name) const {
    if (name.empty() || name == "." || name == "..") return layer_error("layer: bad whiteout name");
    if (auto r = clear(dir, name); !r) return r;
    if (flatten_) return {};
    if (::mknodat(dir, name.c_str(), S_IFCHR | 0, ::makedev(0, 0)) != 0)
      return fail("whiteout", name);
    return {};
  }

  Expected<void> hardlink(int dir, const std::string& base, std::string_view target) const {
    auto tpath = sys::confined_components(target);
    if (tpath.empty()) return layer_error(fmt::format("layer entry {:?}: hard link to the root", base));
    auto tparent = sys::open_in_root(root_, tpath, tpath.size() - 1, O_DIRECTORY | O_RDONLY);
    if (!tparent)
      return tl::unexpected(Error{ErrorKind::kImage,
                                  fmt::format("layer entry {:?}: hard link target {:?} is not in "
                                              "this layer",
                                              base, std::string(target))});
    struct stat st {};
    if (::fstatat(tparent->get(), tpath.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        S_ISDIR(st.st_mode))
      return tl::unexpected(Error{ErrorKind::kImage,
                                  fmt::format("layer entry {:?}: hard link target {:?} is not a "
                                              "file of this layer",
                                              base, std::string(target))});
    if (auto r = clear(dir, base); !r) return r;
    if (::linkat(tparent->get(), tpath.back().c_str(), dir, base.c_str(), 0) != 0)
      return fail("hard link", base);
    return {};
  }

  Expected<void> directory(int dir, const std::string& base, archive_entry* e, mode_t mode) {
    struct stat st {};
    if (::fstatat(dir, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
      if (auto r = clear(dir, base); !r) return r;
    if (::mkdirat(dir, base.c_str(), 0700) != 0 && errno != EEXIST) return fail("mkdir", base);
    sys::UniqueFd fd(::openat(dir, base.c_str(), O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return fail("open", base);
    if (auto r = xattrs(fd.get(), e); !r) return r;
    // Not root, a directory the owner cannot write would stop the next entries (and layers).
    return owner_and_times(dir, base, e, as_root_ ? mode : mode | 0700, false);
  }

  Expected<void> regular(archive* tar, int dir, const std::string& base, archive_entry* e,
                         mode_t mode) {
    sys::UniqueFd fd(::openat(dir, base.c_str(),
                              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return fail("create", base);
    const void* block = nullptr;
    std::size_t size = 0;
    la_int64_t offset = 0;
    while (true) {
      const int r = archive_read_data_block(tar, &block, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) return layer_error(fmt::format("layer entry {:?}: {}", base, message_of(tar)));
      const char* p = static_cast<const char*>(block);
      while (size > 0) {
        const ssize_t n = ::pwrite(fd.get(), p, size, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail("write", base);
        p += n;
        offset += n;
        size -= static_cast<std::size_t>(n);
      }
    }
    // Sparse files: the holes at the end.
    if (::ftruncate(fd.get(), static_cast<off_t>(archive_entry_size(e))) != 0)
      return fail("truncate", base);
    if (auto r = xattrs(fd.get(), e); !r) return r;
    return owner_and_times(dir, base, e, mode, false);
  }

  Expected<void> symlink(int dir, const std::string& base, archive_entry* e) const {
    const char* target = archive_entry_symlink(e);
    if (!target || !*target) return layer_error(fmt::format("layer entry {:?}: empty symlink", base));
    // The target is only text here; it resolves inside the container's root at run time.
    if (::symlinkat(target, dir, base.c_str()) != 0) return fail("symlink", base);
    return owner_and_times(dir, base, e, 0, true);
  }

  Expected<void> xattrs(int fd, archive_entry* e) {
    if (archive_entry_xattr_reset(e) == 0) return {};
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      if (std::strncmp(name, "user.", 5) != 0 || std::strncmp(name, "user.overlay.", 13) == 0) {
        ++stats_.skipped;
        continue;
      }
      if (::fsetxattr(fd, name, value, size, 0) != 0 && errno != ENOTSUP) return fail("xattr", name);
    }
    return {};
  }

  Expected<void> owner_and_times(int dir, const std::string& base, archive_entry* e, mode_t mode,
                                 bool is_link) const {
    if (as_root_ &&
        ::fchownat(dir, base.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                   static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW) != 0)
      return fail("chown", base);
    // After chown, which clears setuid and setgid.
    if (!is_link && ::fchmodat(dir, base.c_str(), mode, 0) != 0) return fail("chmod", base);
    if (archive_entry_mtime_is_set(e)) {
      const timespec times[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                                 {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
      (void)::utimensat(dir, base.c_str(), times, AT_SYMLINK_NOFOLLOW);
    }
    return {};
  }

  int root_;
  UnpackStats& stats_;
  bool as_root_;
  bool flatten_;
  std::set<std::string> created_;  // flattening: paths this layer made, for opaque markers
};

}  // namespace

Expected<UnpackStats> unpack_layer(int fd, Compression compression,
                                   const std::filesystem::path& dest, UnpackLimits& budget,
                                   const std::string& digest_algorithm, UnpackMode mode) {
  sys::UniqueFd root(::open(dest.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!root) return tl::unexpected(sys::errno_error(fmt::format("open layer dir {}", dest.string()), errno));
  ArchivePtr raw(archive_read_new());
  if (compression == Compression::kGzip) archive_read_support_filter_gzip(raw.get());
  if (compression == Compression::kZstd) archive_read_support_filter_zstd(raw.get());
  archive_read_support_format_raw(raw.get());
  archive_entry* e = nullptr;
  if (archive_read_open_fd(raw.get(), fd, 1 << 16) != ARCHIVE_OK ||
      archive_read_next_header(raw.get(), &e) != ARCHIVE_OK)
    return layer_error(fmt::format("layer: {}", message_of(raw.get())));

  Stream stream{raw.get(), Hasher(digest_algorithm), &budget};
  ArchivePtr tar(archive_read_new());
  archive_read_support_format_tar(tar.get());
  if (archive_read_open(tar.get(), &stream, nullptr, read_callback, nullptr) != ARCHIVE_OK)
    return layer_error(fmt::format("layer: not a tar archive: {}", message_of(tar.get())));

  UnpackStats stats;
  std::uint64_t apparent = 0;  // the regular files' sizes, holes included
  Writer writer(root.get(), stats, mode);
  auto limit_error = [&] {
    if (stream.timed_out)
      return layer_error("layer: the pull's time limit passed while it was being unpacked");
    return layer_error(fmt::format(
        "layer: over the unpack limits ({} bytes, {} bytes of file sizes, {} entries left of "
        "the image's budget): refused as a tar bomb",
        budget.max_bytes, budget.max_apparent_bytes, budget.max_entries));
  };
  while (true) {
    const int r = archive_read_next_header(tar.get(), &e);
    if (stream.over_budget || stream.timed_out) return limit_error();
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      return layer_error(fmt::format("layer: bad tar: {}", message_of(tar.get())));
    if (++stats.entries > budget.max_entries) return limit_error();
    if (archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e)) {
      const auto size = static_cast<std::uint64_t>(std::max<la_int64_t>(archive_entry_size(e), 0));
      if (size > budget.max_apparent_bytes - apparent) return limit_error();
      apparent += size;
    }
    const char* name = archive_entry_pathname(e);
    const char* link = archive_entry_hardlink(e) ? archive_entry_hardlink(e) : archive_entry_symlink(e);
    if ((name && std::strlen(name) > budget.max_path) || (link && std::strlen(link) > budget.max_path))
      return layer_error(fmt::format("layer: an entry name is longer than {} bytes", budget.max_path));
    auto w = writer.entry(tar.get(), e);
    if (stream.over_budget || stream.timed_out) return limit_error();
    if (!w) return tl::unexpected(w.error());
    if (stream.over_budget || stream.timed_out) return limit_error();
  }
  // The tar reader stops at the end-of-archive blocks; the diff_id covers the whole stream.
  const void* rest = nullptr;
  la_ssize_t n = 0;
  while ((n = stream.read(&rest)) > 0) {
  }
  if (stream.over_budget || stream.timed_out) return limit_error();
  if (n < 0) return layer_error(fmt::format("layer: {}", message_of(raw.get())));
  budget.max_bytes -= stream.bytes;
  budget.max_apparent_bytes -= apparent;
  budget.max_entries -= stats.entries;
  stats.tar_bytes = stream.bytes;
  stats.diff_id = stream.hasher.finish();
  return stats;
}

}  // namespace ociexec::image
