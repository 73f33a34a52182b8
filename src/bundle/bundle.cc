#include "bundle/bundle.h"

#include "sys/fs.h"
#include "sys/overlay.h"

namespace ociexec::bundle {

namespace fs = std::filesystem;

Expected<Bundle> Bundle::create(const fs::path& bundles_dir, const std::string& id) {
  fs::path dir = bundles_dir / id;
  if (auto r = sys::make_dir(dir, 0700, false); !r)
    return tl::unexpected(r.error().with_context("create bundle"));
  Bundle bundle(dir);
  if (auto r = sys::make_dir(bundle.script_dir(), 0755, false); !r)
    return tl::unexpected(r.error().with_context("create bundle"));
  return bundle;
}

Bundle::~Bundle() {
  (void)remove();
}

Expected<void> Bundle::write_config(std::string_view json) const {
  auto r = sys::write_new_file(config_path(), json, 0600);
  if (!r) return tl::unexpected(r.error().with_context("write bundle"));
  return {};
}

Expected<void> Bundle::write_script(std::string_view script) const {
  // World-readable: the job runs as an unprivileged uid inside.
  auto r = sys::write_new_file(script_dir() / "script", script, 0444);
  if (!r) return tl::unexpected(r.error().with_context("write bundle"));
  return {};
}

Expected<void> Bundle::mount_image_root(const std::vector<std::string>& layers,
                                        std::uint64_t tmpfs_bytes,
                                        std::shared_ptr<const sys::UniqueFd> mount_ns) {
  const fs::path rw = dir_ / "rw";
  for (const auto& d : {rw, rootfs_dir()})
    if (auto r = sys::make_dir(d, 0700, false); !r)
      return tl::unexpected(r.error().with_context("image root"));
  const int ns = mount_ns ? mount_ns->get() : -1;
  if (auto r = sys::mount_overlay_root(rw, rootfs_dir(), layers, tmpfs_bytes, ns); !r)
    return tl::unexpected(r.error().with_context("image root"));
  mounted_ = true;
  mount_ns_ = std::move(mount_ns);
  return {};
}

Expected<void> Bundle::remove() {
  if (dir_.empty()) return {};
  if (mounted_) {
    if (auto r = sys::unmount_overlay_root(dir_ / "rw", rootfs_dir(),
                                           mount_ns_ ? mount_ns_->get() : -1);
        !r)
      return r;
    mounted_ = false;
  }
  auto known = sys::remove_known_tree(
      dir_, {"config.json", "init.pid", "runtime.log", "job/script", "job/job", "job/init", "job/",
             "rootfs/", "rw/", "netns", "pasta.pid", "net/hosts", "net/resolv.conf", "net/"});
  auto r = known && *known ? Expected<void>{} : sys::remove_tree(dir_);
  if (r) dir_.clear();
  return r;
}

Expected<void> remove_bundle_dir(const fs::path& dir) {
  if (auto r = sys::unmount_below(dir); !r) return r;
  return sys::remove_tree(dir);
}

}  // namespace ociexec::bundle
