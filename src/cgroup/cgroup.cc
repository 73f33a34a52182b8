#include "cgroup/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "util/text.h"
#include "sys/file_lock.h"
#include "sys/fs.h"
#include "sys/process.h"

namespace ociexec::cgroup {

namespace fs = std::filesystem;

Expected<Layout> detect_layout() {
  auto mountinfo = sys::read_file("/proc/self/mountinfo");
  if (!mountinfo) return tl::unexpected(mountinfo.error().with_context("detect cgroups"));
  auto mounts = sys::parse_mountinfo(*mountinfo);
  std::string controllers;
  for (const auto& m : mounts) {
    if (m.fs_type != "cgroup2") continue;
    if (auto text = sys::read_file(fs::path(m.mount_point) / "cgroup.controllers"))
      controllers = *text;
    break;
  }
  auto layout = layout_from_mounts(mounts, controllers);
  if (layout.hierarchies.empty())
    return tl::unexpected(Error{ErrorKind::kSystem,
                                "detect cgroups: no cgroup file system is mounted; mount cgroup2 "
                                "at /sys/fs/cgroup"});
  return layout;
}

fs::path JobCgroup::dir_in(const Hierarchy& h) const {
  return fs::path(h.mount_point) / parent_ / id_;
}

std::vector<fs::path> JobCgroup::directories() const {
  std::vector<fs::path> dirs;
  for (const auto& h : layout_->hierarchies) dirs.push_back(dir_in(h));
  return dirs;
}

bool JobCgroup::exists() const {
  for (const auto& d : directories())
    if (std::error_code ec; fs::exists(d, ec)) return true;
  return false;
}

namespace {

std::optional<std::string> read_text(const fs::path& p) {
  auto t = sys::read_file(p);
  if (!t) return std::nullopt;
  return std::move(*t);
}

}  // namespace

std::optional<std::chrono::nanoseconds> JobCgroup::cpu_time() const {
  if (layout_->mode == Mode::kV2) {
    const Hierarchy* h = layout_->find_v2();
    if (!h) return std::nullopt;
    if (auto t = read_text(dir_in(*h) / "cpu.stat"))
      if (auto us = parse_keyed_value(*t, "usage_usec")) return std::chrono::microseconds(*us);
    return std::nullopt;
  }
  if (const Hierarchy* acct = layout_->find_v1("cpuacct"))
    if (auto t = read_text(dir_in(*acct) / "cpuacct.usage"))
      if (auto ns = parse_single_value(*t)) return std::chrono::nanoseconds(*ns);
  return std::nullopt;
}

Stats JobCgroup::read_stats() const {
  Stats stats;
  stats.cpu_time = cpu_time();
  if (layout_->mode == Mode::kV2) {
    const Hierarchy* h = layout_->find_v2();
    if (!h) return stats;
    auto dir = dir_in(*h);
    if (auto t = read_text(dir / "memory.peak")) stats.peak_memory_bytes = parse_single_value(*t);
    if (auto t = read_text(dir / "memory.events"))
      stats.oom_kills = parse_keyed_value(*t, "oom_kill").value_or(0);
    return stats;
  }
  if (const Hierarchy* mem = layout_->find_v1("memory")) {
    auto dir = dir_in(*mem);
    if (auto t = read_text(dir / "memory.max_usage_in_bytes"))
      stats.peak_memory_bytes = parse_single_value(*t);
    if (auto t = read_text(dir / "memory.oom_control"))
      stats.oom_kills = parse_keyed_value(*t, "oom_kill").value_or(0);
  }
  return stats;
}

std::size_t JobCgroup::signal_all(int sig) const {
  std::set<int> pids;
  for (const auto& h : layout_->hierarchies) {
    auto dir = dir_in(h);
    if (sig == SIGKILL && h.v2 && layout_->mode == Mode::kV2) {
      // cgroup.kill (Linux 5.14) kills atomically, including processes forking right now.
      if (sys::write_file(dir / "cgroup.kill", "1")) continue;
    }
    if (auto t = read_text(dir / "cgroup.procs"))
      for (int pid : parse_pid_list(*t)) pids.insert(pid);
  }
  for (int pid : pids) {
    // Through a pidfd, and only while the pid is still listed in the cgroup: a pid read from
    // cgroup.procs may have exited and been recycled by the time we signal it.
    auto pidfd = sys::Pidfd::open(pid);
    if (!pidfd) continue;
    auto cg = read_text(fs::path("/proc") / std::to_string(pid) / "cgroup");
    if (!cg || cg->find(fmt::format("/{}/{}", parent_, id_)) == std::string::npos) continue;
    (void)pidfd->send_signal(sig);
  }
  return pids.size();
}

bool JobCgroup::kills_atomically() const {
  const Hierarchy* v2 = layout_->mode == Mode::kV2 ? layout_->find_v2() : nullptr;
  return v2 && ::access((dir_in(*v2) / "cgroup.kill").c_str(), W_OK) == 0;
}

Expected<void> JobCgroup::remove() const {
  using namespace std::chrono_literals;
  Expected<void> last;
  // Usually empty by now (the init is reaped, its pid namespace gone), so rmdir comes first.
  // A busy cgroup gets its members killed; they leave asynchronously, so rmdir says EBUSY
  // until they have.
  for (int attempt = 0; attempt < 200; ++attempt) {
    if (attempt > 0) signal_all(SIGKILL);
    last = {};
    bool busy = false;
    for (const auto& dir : directories()) {
      if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) continue;
      if (errno == EBUSY) busy = true;
      last = tl::unexpected(sys::errno_error(fmt::format("rmdir {}", dir.string()), errno));
    }
    if (!busy) return last;
    if (attempt > 0) std::this_thread::sleep_for(attempt < 20 ? 1ms : 10ms);
  }
  return last;
}

namespace {

fs::path parent_in(const Hierarchy& h, const std::string& parent) {
  return fs::path(h.mount_point) / parent;
}

}  // namespace

Expected<ParentHold> ParentHold::acquire(const Layout& layout, const std::string& parent) {
  if (layout.hierarchies.empty()) return ParentHold{};
  // Only the directory we lock on must exist; the runtime makes the others (mkdir -p), under
  // our shared lock.
  const fs::path lock_dir = parent_in(layout.hierarchies.front(), parent);
  auto held = sys::DirHold::acquire(lock_dir, 0755);
  if (!held) return tl::unexpected(held.error().with_context("cgroup parent"));
  ParentHold hold;
  hold.dir_ = std::move(*held);
  return hold;
}

void remove_parent_if_unused(const Layout& layout, const std::string& parent) noexcept {
  if (layout.hierarchies.empty()) return;
  const fs::path lock_dir = parent_in(layout.hierarchies.front(), parent);
  const sys::UniqueFd lock = sys::DirHold::lock_if_unused(lock_dir);
  if (!lock) return;  // gone, or a job is starting
  // Every job cgroup has a directory in every hierarchy, so a busy parent fails on the first
  // rmdir. The locked hierarchy goes last, so the lock stays on a live directory until then.
  for (auto it = layout.hierarchies.rbegin(); it != layout.hierarchies.rend(); ++it) {
    if (::rmdir(parent_in(*it, parent).c_str()) != 0 && errno != ENOENT) return;
  }
}

std::vector<std::string> list_job_cgroups(const Layout& layout, const std::string& parent) {
  std::set<std::string> ids;
  for (const auto& h : layout.hierarchies) {
    DIR* dir = ::opendir((fs::path(h.mount_point) / parent).c_str());
    if (!dir) continue;
    while (auto* e = ::readdir(dir))
      if (e->d_type == DT_DIR && e->d_name[0] != '.') ids.insert(e->d_name);
    ::closedir(dir);
  }
  return {ids.begin(), ids.end()};
}

Layout delegated_layout(const Layout& host, const std::string& parent) {
  Layout out;
  out.mode = host.mode;
  auto writable = [&parent](const Hierarchy& h) {
    const fs::path dir = parent_in(h, parent);
    return ::access(dir.c_str(), W_OK | X_OK) == 0 &&
           ::access((dir / "cgroup.procs").c_str(), W_OK) == 0;
  };
  if (const Hierarchy* v2 = host.find_v2(); v2 && host.mode == Mode::kV2) {
    if (writable(*v2)) {
      out.hierarchies.push_back(*v2);
      if (auto t = sys::read_file(parent_in(*v2, parent) / "cgroup.subtree_control"))
        out.unified_controllers = text::words(*t);
    }
    return out;
  }
  for (const auto& h : host.hierarchies) {
    if (h.v2) continue;
    const bool useful = std::any_of(h.controllers.begin(), h.controllers.end(), [](auto& c) {
      return c == "memory" || c == "cpu" || c == "pids";
    });
    if (useful && writable(h)) out.hierarchies.push_back(h);
  }
  out.mode = Mode::kV1;
  return out;
}

bool has_controller(const Layout& layout, std::string_view controller) {
  if (layout.mode == Mode::kV2)
    return !layout.hierarchies.empty() &&
           std::find(layout.unified_controllers.begin(), layout.unified_controllers.end(),
                     controller) != layout.unified_controllers.end();
  return layout.find_v1(controller) != nullptr;
}

bool accounts_cpu_time(const Layout& layout) {
  if (layout.mode == Mode::kV2) return layout.find_v2() != nullptr;
  return layout.find_v1("cpuacct") != nullptr;
}

bool swap_limit_supported(const Layout& layout) {
  if (layout.mode == Mode::kV2) return true;  // runc and crun skip swap.max when it is absent
  const Hierarchy* mem = layout.find_v1("memory");
  std::error_code ec;
  return mem && fs::exists(fs::path(mem->mount_point) / "memory.memsw.limit_in_bytes", ec);
}

}  // namespace ociexec::cgroup
