// Garbage collection: removes whatever a dead executor left behind. An id names its owner
// (bundle/owner.h), so leftovers are found from three independent places (bundle dirs, the
// runtimes' state roots, the cgroup parent) and each is removed even if the others are gone.
// Containers of live owners are never touched.
#include <set>

#include <fmt/format.h>
#include <fmt/std.h>

#include "bundle/bundle.h"
#include "bundle/owner.h"
#include "container/network.h"
#include "core/executor_impl.h"
#include "runtime/runtime.h"
#include "sys/fs.h"
#include "sys/process.h"
#include "sys/reaper.h"

namespace ociexec {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> subdirs(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec)) names.push_back(e.path().filename().string());
  return names;
}

}  // namespace

GcReport Executor::Impl::collect_garbage() const {
  GcReport report;
  std::set<std::string> ids;
  for (const auto& id : subdirs(bundles_dir)) ids.insert(id);
  for (const auto& id : cgroup::list_job_cgroups(host.job_layout, options.cgroup_parent)) ids.insert(id);
  // One state root per runtime name; each is cleaned with that runtime's binary.
  std::vector<std::shared_ptr<const runtime::RuntimeClient>> clients;
  std::error_code ec;
  for (const auto& name : subdirs(runtimes_dir)) {
    // Nothing to collect there: no need to find its binary (a PATH search per runtime).
    if (fs::is_empty(runtimes_dir / name, ec)) continue;
    std::shared_ptr<const runtime::RuntimeClient> client;
    if (name == default_runtime->info().name) {
      client = default_runtime;
    } else if (auto path = sys::find_executable(name)) {
      auto made =
          make_client(RuntimeInfo{name, *path, {}, runtime::needs_private_mount_ns(name, host.layout)});
      if (!made) {
        report.errors.push_back(fmt::format("runtime {}: {}", name, made.error().message));
        continue;
      }
      client = std::move(*made);
    } else {
      continue;
    }
    for (const auto& id : client->list_ids()) ids.insert(id);
    clients.push_back(client);
  }

  for (const auto& id : ids) {
    if (!bundle::orphaned(id)) continue;
    std::vector<std::string> problems;
    const fs::path bundle_dir = bundles_dir / id;
    // The cgroup first: once it is gone, no process of the job is left to run.
    const bool cgroup_gone = [&] {
      auto r = cgroup::JobCgroup(host.job_layout, options.cgroup_parent, id).remove();
      if (!r) problems.push_back(r.error().message);
      return r.has_value();
    }();
    for (const auto& client : clients) {
      auto ids_here = client->list_ids();
      if (std::find(ids_here.begin(), ids_here.end(), id) == ids_here.end()) continue;
      // The log must live outside the bundle: the bundle may already be gone.
      const fs::path log = client->root() / fmt::format("{}.gc.log", id);
      auto deleted = client->remove(id, log);
      (void)sys::remove_tree(log);
      if (deleted) continue;
      // A runtime that cannot run here any more (crun on a hybrid host, outside the mount
      // namespace it ran in) cannot delete; with the cgroup gone, its state is only files.
      if (cgroup_gone && client->forget(id)) continue;
      problems.push_back(deleted.error().message);
    }
    container::stop_leftover_network(bundle_dir);  // its pasta; the mount goes with the dir
    if (auto r = bundle::remove_bundle_dir(bundle_dir); !r) problems.push_back(r.error().message);
    if (problems.empty()) {
      bundle::forget_abandoned(id);
      report.removed.push_back(id);
    } else {
      for (const auto& p : problems) report.errors.push_back(fmt::format("{}: {}", id, p));
    }
  }
  // An executor that was killed leaves the shared parent (one that is alive holds it), and
  // its pool's init copy.
  cgroup::remove_parent_if_unused(host.job_layout, options.cgroup_parent);
  pool::remove_orphaned_inits(options.state_dir);
  // The inits of abandoned containers, now that their cgroups are gone.
  sys::Reaper::instance().settle(std::chrono::milliseconds(200));
  return report;
}

}  // namespace ociexec
