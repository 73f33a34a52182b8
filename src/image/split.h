// Splits text on a separator, keeping empty fields ("a//b" on '/' is {"a", "", "b"}): the
// image module's repository paths, platforms and /etc/passwd lines.
#pragma once

#include <string_view>
#include <vector>

namespace ociexec::image {

inline std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> fields;
  while (true) {
    const auto at = text.find(sep);
    fields.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return fields;
    text.remove_prefix(at + 1);
  }
}

}  // namespace ociexec::image
