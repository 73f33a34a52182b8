#include "pool/warm.h"

#include <algorithm>
#include <cctype>

#include "bundle/bundle.h"

namespace ociexec::pool {

std::optional<std::string> warm_interpreter(const std::vector<std::string>& args) {
  if (args.size() < 2 || args[1] != bundle::kScriptPathInContainer || !args[0].starts_with('/'))
    return std::nullopt;
  const std::string_view name = std::string_view(args[0]).substr(args[0].rfind('/') + 1);
  if (!name.starts_with("python3")) return std::nullopt;
  std::string_view version = name.substr(7);
  if (!version.empty()) {
    if (version.front() != '.' || version.size() < 2) return std::nullopt;
    version.remove_prefix(1);
    if (!std::all_of(version.begin(), version.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }))
      return std::nullopt;
  }
  return args[0];
}

}  // namespace ociexec::pool
