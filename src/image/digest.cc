#include "image/digest.h"

#include <algorithm>

#include <fmt/format.h>

namespace ociexec::image {

Expected<Digest> parse_digest(std::string_view text, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return tl::unexpected(Error{ErrorKind::kImage, fmt::format("{} {:?}: {}", what, text, why)});
  };
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return bad("expected ALGORITHM:HEX, e.g. sha256:<64 hex>");
  Digest d{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
  std::size_t want = 0;
  if (d.algorithm == "sha256")
    want = 64;
  else if (d.algorithm == "sha512")
    want = 128;
  else
    return bad("unsupported algorithm (sha256 and sha512 are)");
  const bool hex = std::all_of(d.hex.begin(), d.hex.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  if (d.hex.size() != want || !hex)
    return bad(fmt::format("expected {} lower-case hex digits", want));
  return d;
}

}  // namespace ociexec::image
