// What ociexec may never leave behind, looked for independently of its own bookkeeping, for
// the soak and chaos suites.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ociexec::test {

// Bundle dirs and runtime state under `state`, the cgroup `parent` in any hierarchy, mounts
// below `state`, and host processes that belong to either: in a cgroup below `parent`, or a
// runtime whose command line names `state`. One line per thing found.
std::vector<std::string> leftovers(const std::filesystem::path& state, const std::string& parent);

}  // namespace ociexec::test
