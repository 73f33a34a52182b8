// Content digests ("sha256:<64 hex>"), validated before they ever become part of a file
// name: only sha256 and sha512 with lower-case hex of the exact length are accepted.
#pragma once

#include <string>
#include <string_view>

#include "ociexec/error.h"

namespace ociexec::image {

struct Digest {
  std::string algorithm;  // "sha256" or "sha512"
  std::string hex;        // lower-case, 64 or 128 characters

  [[nodiscard]] std::string str() const { return algorithm + ":" + hex; }
  bool operator==(const Digest&) const = default;
};

// `what` names the digest in the error ("layer digest").
Expected<Digest> parse_digest(std::string_view text, std::string_view what = "digest");

}  // namespace ociexec::image
