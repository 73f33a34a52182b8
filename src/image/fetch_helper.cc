// Pulling through the ociexec-fetch helper: the static `ociexec` command's way. The command
// links no libcurl, libarchive or OpenSSL (static copies of them and their dependencies are
// not shipped by Debian); the helper is linked with the library, which has them. The
// helper's stderr is ours, so it draws its progress on our terminal.
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "image/image_options.h"
#include "sys/process.h"

namespace ociexec::image {

namespace fs = std::filesystem;

namespace {

fs::path helper_path() {
  std::error_code ec;
  const auto dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  if (!ec)
    for (const auto& candidate :
         {dir / "ociexec-fetch", dir.parent_path() / "libexec/ociexec/ociexec-fetch"})
      if (sys::find_executable(candidate.string())) return candidate;
  return OCIEXEC_FETCH_INSTALL_PATH;
}

}  // namespace

Expected<PullSummary> fetch_image(std::string_view reference, const ImageOptions& options,
                                  const std::function<void(const PullProgress&)>& /*progress*/,
                                  bool quiet) {
  const fs::path helper = helper_path();
  auto out = sys::make_pipe(false);
  if (!out) return tl::unexpected(out.error().with_context("pull"));
  // The options (credentials among them) go on its stdin, never on a command line that
  // other users can read in /proc.
  auto in = sys::make_memfd("ociexec-fetch-options", options_to_json(options).dump());
  if (!in) return tl::unexpected(in.error().with_context("pull"));
  sys::SpawnOptions spawn;
  spawn.stdin_fd = *in;
  spawn.stdout_fd = out->write;
  spawn.stderr_fd = sys::FdRef(STDERR_FILENO);
  auto child = sys::ChildProcess::spawn({helper.string(), std::string(reference),
                                         !quiet && ::isatty(STDERR_FILENO) ? "progress" : "quiet"},
                                        spawn);
  if (!child)
    return tl::unexpected(Error{ErrorKind::kSystem,
                                fmt::format("pull: cannot run {} ({}); install ociexec completely",
                                            helper.string(), child.error().message)});
  out->write.reset();
  // The helper keeps the pull's own time limit; this bounds a helper that is stuck anyway.
  const auto limit = options.pull_timeout + std::chrono::seconds(30);
  auto text = sys::read_all(out->read.get(), std::chrono::steady_clock::now() + limit);
  if (!text && text.error().kind == ErrorKind::kRuntimeTimeout) {
    child->kill_tree_and_reap();
    return tl::unexpected(Error{ErrorKind::kImage,
                                fmt::format("pull: {} did not finish within {} s and was killed",
                                            helper.string(),
                                            std::chrono::duration_cast<std::chrono::seconds>(limit).count())});
  }
  auto status = child->wait_for(std::chrono::seconds(30));
  if (!status) return tl::unexpected(status.error().with_context("pull"));
  auto j = nlohmann::json::parse(text ? *text : std::string(), nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const auto& e = j["error"];
    Error err{ErrorKind::kImage, e.value("message", "pull failed")};
    const std::string kind = e.value("kind", "");
    for (auto k : {ErrorKind::kInvalidArgument, ErrorKind::kConfig, ErrorKind::kSystem,
                   ErrorKind::kImageNotFound, ErrorKind::kImage, ErrorKind::kAuth})
      if (to_string(k) == kind) err.kind = k;
    return tl::unexpected(err);
  }
  if (status->shell_code() != 0 || !j.is_object())
    return tl::unexpected(Error{ErrorKind::kSystem,
                                fmt::format("pull: {} ended with status {} and no result",
                                            helper.string(), status->shell_code())});
  return summary_from_json(j);
}

}  // namespace ociexec::image
