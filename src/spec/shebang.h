// Chooses the argv prefix that runs a script: the "#!" line with Linux semantics (the
// interpreter plus at most one argument: the rest of the line, trimmed), else /bin/sh.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ociexec::spec {

inline constexpr std::string_view kDefaultShell = "/bin/sh";

std::vector<std::string> interpreter_for(std::string_view script);

}  // namespace ociexec::spec
