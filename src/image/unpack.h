// Unpacks one image layer (a tar stream, plain, gzip or zstd) into an empty directory, as an
// overlay lower dir (or, rootless, onto the layers below it: UnpackMode::kFlatten): whiteouts become overlay whiteouts (0/0 character devices) and opaque
// directories the trusted.overlay.opaque xattr. libarchive reads the tar; every file is
// written by us relative to the layer's own root (sys/confined.h), so no entry, however it
// is named or linked, lands outside it. The uncompressed stream is hashed on the way: the
// result's diff_id is what the image config must list.
//
// Deliberate choices: device nodes and sockets are skipped; setuid/setgid bits are kept
// (jobs run with no_new_privs, so they grant nothing); of extended attributes only user.*
// are kept (trusted.* could forge overlay metadata, security.* file capabilities).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>

#include "image/digest.h"
#include "image/manifest.h"
#include "ociexec/error.h"

namespace ociexec::image {

struct UnpackLimits {
  std::uint64_t max_bytes = 32ULL << 30;  // uncompressed tar bytes of one image
  // The files' apparent sizes in one image: a sparse entry can claim terabytes in a few tar
  // blocks, which the stream's bytes would never count.
  std::uint64_t max_apparent_bytes = 32ULL << 30;
  std::uint64_t max_entries = 1'000'000;  // entries of one image
  std::size_t max_path = 4096;            // bytes of one entry's name or link target
  // The pull's deadline: unpacking stops past it.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

struct UnpackStats {
  Digest diff_id;
  std::uint64_t tar_bytes = 0;  // uncompressed
  std::uint64_t entries = 0;
  std::uint64_t skipped = 0;  // device nodes, sockets, dropped xattrs
};

enum class UnpackMode {
  kOverlayLayer,  // into an empty dir of its own: whiteouts kept as overlay whiteouts
  // Onto the layers below, in one dir (rootless, where no overlay can be mounted): a whiteout
  // removes what it names, an opaque marker what its dir held before this layer, and
  // directories stay writable by their owner (mode | 0700) so later layers can write.
  kFlatten,
};

// `fd` is read from its current offset to the end. `budget` is what is left of the image's
// limits, and is reduced by this layer. `digest_algorithm` is the diff_id's algorithm.
Expected<UnpackStats> unpack_layer(int fd, Compression compression,
                                   const std::filesystem::path& dest, UnpackLimits& budget,
                                   const std::string& digest_algorithm = "sha256",
                                   UnpackMode mode = UnpackMode::kOverlayLayer);

}  // namespace ociexec::image
