// The runtimes an executor runs jobs with, each resolved once by the name asked for (the
// executor's default as it is created, another a job names on first use): found and probed
// (runtime/runtime.h), given its private root under the state dir, its mount namespace (crun
// on a hybrid host) and, where it pays, a sealed copy of its binary.
#include "core/executor_impl.h"
#include "runtime/runtime.h"
#include "sys/fs.h"
#include "sys/mount_ns.h"
#include "sys/sealed_exe.h"

namespace ociexec {

namespace fs = std::filesystem;

Expected<RuntimeClientPtr> Executor::Impl::client_for(const std::optional<std::string>& wanted) const {
  refresh_crun_mount_ns();
  if (default_runtime &&
      (!wanted || *wanted == options.runtime || *wanted == default_runtime->info().name ||
       *wanted == default_runtime->info().path))
    return default_runtime;
  const std::string& name = wanted ? *wanted : options.runtime;
  std::lock_guard lock(runtimes_mutex);
  if (auto it = runtimes.find(name); it != runtimes.end()) return it->second;
  auto info = runtime::resolve(name, host.layout, options.runtime_timeout, options.cache_dir);
  if (!info) return tl::unexpected(info.error());
  if (auto r = sys::make_dir(runtimes_dir / info->name, 0700, true); !r)
    return tl::unexpected(r.error());
  auto client = make_client(std::move(*info));
  if (!client) return tl::unexpected(client.error());
  runtimes.emplace(name, *client);
  return *client;
}

Expected<RuntimeClientPtr> Executor::Impl::make_client(RuntimeInfo info) const {
  fs::path root = runtimes_dir / info.name;
  std::shared_ptr<const runtime::MountNsSlot> ns;
  if (info.private_mount_ns) {
    auto made = crun_mount_ns();
    if (!made) return tl::unexpected(made.error());
    ns = std::move(*made);
  }
  // crun (half a megabyte) is copied once per executor instead of copying itself per call.
  // Rootless runc copies its 9 MB into a memfd for every container (`runc init`), which one
  // copy per executor saves. As root, runc protects itself with a read-only bind mount, not
  // a copy: a sealed runc was measured no faster there, and would cost a CLI 4 ms a run.
  std::shared_ptr<const sys::UniqueFd> exe;
  if (info.name == "crun" || (info.name == "runc" && host.rootless))
    if (auto copy = sys::sealed_executable_copy(info.path))
      exe = std::make_shared<const sys::UniqueFd>(std::move(*copy));
  info.sealed_copy = exe != nullptr;
  // crun's seccomp programs, kept in the cache dir for the next executor (a CLI runs one job).
  const fs::path seccomp_dir = info.name == "crun" ? options.cache_dir / "seccomp" : fs::path();
  return std::make_shared<const runtime::RuntimeClient>(std::move(info), std::move(root),
                                                        options.runtime_timeout, std::move(ns),
                                                        std::move(exe), seccomp_dir);
}

Expected<std::shared_ptr<runtime::MountNsSlot>> Executor::Impl::crun_mount_ns() const {
  std::lock_guard lock(mount_ns_mutex);
  if (mount_ns) return mount_ns;
  const auto* v2 = host.layout.find_v2();
  if (!v2)
    return tl::unexpected(Error{ErrorKind::kSystem, "crun's mount namespace: no cgroup2 mount"});
  // The table is taken first: a change while the namespace is made shows as one.
  auto watch = sys::MountTableWatch::open({options.state_dir.string(), options.cache_dir.string()});
  if (!watch) return tl::unexpected(watch.error().with_context("crun's mount namespace"));
  auto fd = sys::mount_namespace_without(v2->mount_point);
  if (!fd)
    return tl::unexpected(fd.error().with_context(
        "crun needs a mount namespace without the cgroup2 mount on this hybrid host"));
  host_mounts = std::move(*watch);
  mount_ns =
      std::make_shared<runtime::MountNsSlot>(std::make_shared<const sys::UniqueFd>(std::move(*fd)));
  return mount_ns;
}

void Executor::Impl::refresh_crun_mount_ns() const {
  std::lock_guard lock(mount_ns_mutex);
  const auto* v2 = host.layout.find_v2();
  if (!mount_ns || !v2 || !host_mounts || !host_mounts->changed()) return;
  auto fd = sys::mount_namespace_without(v2->mount_point);
  if (!fd) return;  // the old one stays: what it shows is all crun had until now
  mount_ns->set(std::make_shared<const sys::UniqueFd>(std::move(*fd)));
}

}  // namespace ociexec
