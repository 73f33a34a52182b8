#include "runtime/runtime_client.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "runtime/runtime.h"
#include "sys/fs.h"

namespace ociexec::runtime {

namespace fs = std::filesystem;

namespace {

// What is already in a non-blocking pipe, without waiting for more.
std::string drain_available(sys::FdRef fd) {
  std::string out;
  if (!fd) return out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > 65536) break;
  }
  return out;
}

std::string read_log(const fs::path& log) {
  return sys::read_file(log).value_or(std::string());
}

}  // namespace

std::optional<std::string> RuntimeClient::prepare_spec(nlohmann::json& spec) const {
  // The annotation is crun's own; runc compiles the profile itself, in its init.
  if (info_.name != "crun") return std::nullopt;
  return seccomp_.apply(spec);
}

Expected<void> RuntimeClient::create(const std::string& id, const fs::path& bundle,
                                     const fs::path& pid_file, const fs::path& log,
                                     const StdioFds& stdio, sys::FdRef stdout_read,
                                     sys::FdRef stderr_read, const MountNs& mount_ns,
                                     const std::optional<std::string>& seccomp_to_learn) const {
  Invocation inv{info_.path, root_, log};
  auto child = sys::ChildProcess::spawn(
      create_argv(inv, bundle, pid_file, id, stdio.fd3.valid()),
      {stdio.in, stdio.out, stdio.err, mount_ns ? sys::FdRef(*mount_ns) : sys::FdRef(), stdio.fd3,
       exe_fd()});
  if (!child)
    return tl::unexpected(child.error().with_context(fmt::format("{} create", info_.name)));
  auto status = child->wait_for(timeout_);
  if (!status) {
    Error e = status.error().with_context(fmt::format("{} create {}", info_.name, id));
    if (e.kind == ErrorKind::kRuntimeTimeout)
      e.message += "; it was killed: check the runtime, or raise runtime_timeout";
    return tl::unexpected(std::move(e));
  }
  if (!status->signaled && status->code == 0) {
    if (seccomp_to_learn) seccomp_.learn(*seccomp_to_learn, root_ / id / "seccomp.bpf");
    return {};
  }
  // runc and crun print fatal errors on their stderr, which is the container's stderr pipe.
  std::string printed = drain_available(stderr_read) + drain_available(stdout_read);
  std::string text = error_text(read_log(log), printed);
  if (text.empty())
    text = status->signaled ? fmt::format("killed by signal {} ({})", status->signal,
                                          ::strsignal(status->signal))
                            : fmt::format("exited with status {}", status->code);
  return tl::unexpected(
      Error{classify_create_failure(text), fmt::format("{} create: {}", info_.name, text)});
}

Expected<void> RuntimeClient::start(const std::string& id, const fs::path& log,
                                    const sys::Pidfd& init, bool hooks) const {
  if (hooks) return call(start_argv({info_.path, root_, log}, id), log, "start");
  const fs::path fifo = root_ / id / "exec.fifo";
  if (info_.name == "crun") {
    // crun's init reads the fifo; its `start` opens it for writing, unlinks it, writes a byte.
    // O_NONBLOCK: with no reader (the init died) the open fails at once with ENXIO.
    sys::UniqueFd fd(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd)
      return tl::unexpected(Error{
          ErrorKind::kRuntimeFailed,
          fmt::format("crun start {}: open {}: {}", id, fifo.string(), std::strerror(errno))});
    ::unlink(fifo.c_str());
    const char byte = 0;
    if (::write(fd.get(), &byte, 1) != 1)
      return tl::unexpected(
          sys::errno_error(fmt::format("crun start {}: write exec fifo", id), errno));
    return {};
  }
  if (info_.name != "runc") return call(start_argv({info_.path, root_, log}, id), log, "start");

  // runc's init writes the fifo; its `start` opens it for reading and reads a byte.
  // O_NONBLOCK: a blocking open would hang forever if the init died before opening its end.
  sys::UniqueFd fd(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd)
    return tl::unexpected(
        sys::errno_error(fmt::format("runc start {}: open {}", id, fifo.string()), errno));
  pollfd fds[2] = {{fd.get(), POLLIN, 0}, {init.fd(), POLLIN, 0}};
  int rc;
  do {
    rc = ::poll(fds, 2, static_cast<int>(timeout_.count()));
  } while (rc < 0 && errno == EINTR);
  if (rc == 0)
    return tl::unexpected(
        Error{ErrorKind::kRuntimeTimeout,
              fmt::format("runc start {}: the container did not start within {} ms", id,
                          timeout_.count())});
  if (fds[0].revents & POLLIN) {
    char byte;
    if (::read(fd.get(), &byte, 1) == 1) {
      ::unlink(fifo.c_str());  // as runc's own start does: the state now reads "running"
      return {};
    }
  }
  return tl::unexpected(Error{ErrorKind::kRuntimeFailed,
                              fmt::format("runc start {}: the container init exited before it was "
                                          "started: {}",
                                          id, error_text(read_log(log), ""))});
}

Expected<void> RuntimeClient::remove(const std::string& id, const fs::path& log) const {
  if (::access((root_ / id).c_str(), F_OK) != 0) return {};  // already gone
  return call(delete_argv({info_.path, root_, log}, id), log, "delete");
}

Expected<void> RuntimeClient::remove_stopped(const std::string& id, const fs::path& log,
                                             bool hooks) const {
  if (hooks) return remove(id, log);
  // What runc and crun keep for a stopped container started through exec.fifo. The listing
  // comes first: with anything else there, the runtime must still find its state to delete.
  // exec.fifo: a container that was created and never started (a pooled one, discarded).
  static const std::vector<std::string> kRuncFiles = {"state.json", "exec.fifo"};
  static const std::vector<std::string> kCrunFiles = {"config.json", "seccomp.bpf", "status",
                                                      "exec.fifo"};
  const auto* known = info_.name == "runc"   ? &kRuncFiles
                      : info_.name == "crun" ? &kCrunFiles
                                             : nullptr;
  const fs::path dir = root_ / id;
  bool only_known = known != nullptr;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!only_known) break;
    const auto name = e.path().filename().string();
    only_known = std::find(known->begin(), known->end(), name) != known->end();
  }
  if (!ec && only_known && sys::remove_tree(dir)) return {};
  return remove(id, log);
}

Expected<void> RuntimeClient::forget(const std::string& id) const {
  return sys::remove_tree(root_ / id);
}

std::vector<std::string> RuntimeClient::list_ids() const {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root_, ec))
    if (e.is_directory(ec)) ids.push_back(e.path().filename().string());
  return ids;
}

Expected<void> RuntimeClient::call(const std::vector<std::string>& argv, const fs::path& log,
                                   std::string_view what) const {
  const MountNs ns = mount_ns();  // held while the call runs, if another thread replaces it
  auto out = sys::run_command(argv, timeout_, ns ? sys::FdRef(*ns) : sys::FdRef(), exe_fd());
  if (!out) return tl::unexpected(out.error().with_context(fmt::format("{} {}", info_.name, what)));
  if (!out->status.signaled && out->status.code == 0) return {};
  return tl::unexpected(
      Error{ErrorKind::kRuntimeFailed,
            fmt::format("{} {}: {}", info_.name, what, error_text(read_log(log), out->output))});
}

}  // namespace ociexec::runtime
