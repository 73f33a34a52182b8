// A job's bundle directory "<state>/bundles/<id>": config.json, the script (read-only, mounted
// at /.ociexec inside), the runtime's pid file and log. The directory is removed when the
// Bundle is destroyed, on every path.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ociexec/error.h"
#include "sys/unique_fd.h"

namespace ociexec::bundle {

inline constexpr std::string_view kScriptDirInContainer = "/.ociexec";
inline constexpr std::string_view kScriptPathInContainer = "/.ociexec/script";
// ociexec-init, hard-linked into the job dir (a pooled container, a job with an init), and the
// job file it reads there (pool/job_file.h: kJobFileInContainer is this file).
inline constexpr std::string_view kInitFile = "init";
inline constexpr std::string_view kInitPathInContainer = "/.ociexec/init";
inline constexpr std::string_view kJobFile = "job";
// A warm interpreter's loader (pool/warm.h), written into the job dir; its command runs it.
inline constexpr std::string_view kWarmFile = "warm.py";
inline constexpr std::string_view kWarmPathInContainer = "/.ociexec/warm.py";

class Bundle {
 public:
  static Expected<Bundle> create(const std::filesystem::path& bundles_dir, const std::string& id);
  Bundle(Bundle&& other) noexcept
      : dir_(std::exchange(other.dir_, {})),
        mounted_(std::exchange(other.mounted_, false)),
        mount_ns_(std::move(other.mount_ns_)) {}
  Bundle& operator=(Bundle&&) = delete;
  Bundle(const Bundle&) = delete;
  ~Bundle();

  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }
  [[nodiscard]] std::filesystem::path config_path() const { return dir_ / "config.json"; }
  [[nodiscard]] std::filesystem::path pid_file() const { return dir_ / "init.pid"; }
  [[nodiscard]] std::filesystem::path log_file() const { return dir_ / "runtime.log"; }
  [[nodiscard]] std::filesystem::path script_dir() const { return dir_ / "job"; }
  // An image job's root: the overlay on rootfs/, its upper dir on a tmpfs at rw/.
  [[nodiscard]] std::filesystem::path rootfs_dir() const { return dir_ / "rootfs"; }

  // Mounts the image's layers (top first) as a writable root with `tmpfs_bytes` of room, in
  // the runtime's mount namespace (null: ours).
  Expected<void> mount_image_root(const std::vector<std::string>& layers, std::uint64_t tmpfs_bytes,
                                  std::shared_ptr<const sys::UniqueFd> mount_ns);

  Expected<void> write_config(std::string_view json) const;
  Expected<void> write_script(std::string_view script) const;

  // Removes the directory now; safe to repeat.
  Expected<void> remove();

 private:
  explicit Bundle(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
  bool mounted_ = false;
  std::shared_ptr<const sys::UniqueFd> mount_ns_;
};

// Removes a bundle directory left by a dead owner, unmounting anything below it first.
Expected<void> remove_bundle_dir(const std::filesystem::path& dir);

}  // namespace ociexec::bundle
