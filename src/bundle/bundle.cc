#include "bundle/bundle.h"

#include "sys/fs.h"

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

Expected<void> Bundle::remove() {
  if (dir_.empty()) return {};
  auto known = sys::remove_known_tree(
      dir_, {"config.json", "init.pid", "runtime.log", "job/script", "job/job", "job/init", "job/"});
  auto r = known && *known ? Expected<void>{} : sys::remove_tree(dir_);
  if (r) dir_.clear();
  return r;
}

Expected<void> remove_bundle_dir(const fs::path& dir) {
  if (auto r = sys::unmount_below(dir); !r) return r;
  return sys::remove_tree(dir);
}

}  // namespace ociexec::bundle
