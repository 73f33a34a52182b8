#include "leftovers.h"

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "cgroup/cgroup.h"
#include "sys/fs.h"
#include "sys/proc.h"

namespace ociexec::test {

namespace fs = std::filesystem;

namespace {

std::string printable(std::string s) {
  std::replace(s.begin(), s.end(), '\0', ' ');
  return s.substr(0, 120);
}

void find_processes(const fs::path& state, const std::string& parent,
                    std::vector<std::string>& found) {
  const std::string in_parent = "/" + parent + "/";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const auto name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (std::stoi(name) == ::getpid()) continue;
    auto cgroups = sys::read_file(e.path() / "cgroup");
    auto cmdline = sys::read_file(e.path() / "cmdline");
    if (!cgroups || !cmdline) continue;  // gone meanwhile
    if (cgroups->find(in_parent) != std::string::npos)
      found.push_back(fmt::format("process {} in a job cgroup: {}", name, printable(*cmdline)));
    else if (cmdline->find(state.string()) != std::string::npos)
      found.push_back(fmt::format("process {} on the state dir: {}", name, printable(*cmdline)));
  }
}

}  // namespace

std::vector<std::string> leftovers(const fs::path& state, const std::string& parent) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(state / "bundles", ec))
    found.push_back("bundle " + e.path().filename().string());
  for (const auto& rt : fs::directory_iterator(state / "runtime", ec))
    if (rt.is_directory())
      for (const auto& e : fs::directory_iterator(rt.path(), ec))
        found.push_back("runtime state " + e.path().string());
  if (auto layout = cgroup::detect_layout())
    for (const auto& h : layout->hierarchies)
      if (fs::exists(fs::path(h.mount_point) / parent))
        found.push_back("cgroup " + (fs::path(h.mount_point) / parent).string());
  if (auto mi = sys::read_file("/proc/self/mountinfo"))
    for (const auto& m : sys::mount_points_below(sys::parse_mountinfo(*mi), state.string()))
      found.push_back("mount " + m);
  find_processes(state, parent, found);
  return found;
}

}  // namespace ociexec::test
