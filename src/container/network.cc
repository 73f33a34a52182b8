#include "container/network.h"

#include <signal.h>
#include <unistd.h>

#include <charconv>

#include <fmt/format.h>

#include "sys/fs.h"
#include "sys/proc.h"

namespace ociexec::container {

namespace fs = std::filesystem;

namespace {

constexpr const char* kNsFile = "netns";
constexpr const char* kPidFile = "pasta.pid";

std::optional<pid_t> read_pid(const fs::path& file) {
  auto text = sys::read_file(file);
  if (!text) return std::nullopt;
  pid_t pid = 0;
  auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), pid);
  if (ec != std::errc{} || pid <= 0) return std::nullopt;
  return pid;
}

std::vector<std::string> pasta_argv(const NetworkRequest& r, const fs::path& bundle_dir) {
  std::vector<std::string> argv{r.pasta, "--config-net", "--quiet", "--runas", "0",
                                // The job's side; nothing forwarded in, nor to the host's
                                // loopback ports but through the gateway's address.
                                "--address", kJobAddress, "--netmask", "24", "--gateway", kGateway,
                                "--dns-forward", kDnsAddress, "--tcp-ports", "none", "--udp-ports",
                                "none", "--tcp-ns", "none", "--udp-ns", "none", "--pid",
                                (bundle_dir / kPidFile).string()};
  if (!r.host_loopback) argv.emplace_back("--no-map-gw");
  argv.insert(argv.end(), {"--netns", (bundle_dir / kNsFile).string()});
  return argv;
}

}  // namespace

Expected<std::vector<spec::BindMount>> write_network_files(const fs::path& bundle_dir,
                                                           const NetworkRequest& request) {
  const fs::path dir = bundle_dir / "net";
  if (auto r = sys::make_dir(dir, 0755, false); !r) return tl::unexpected(r.error());
  std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost\n";
  if (request.host_loopback) hosts += fmt::format("{}\t{}\n", kGateway, kHostName);
  std::vector<spec::BindMount> binds;
  for (auto [name, text, wanted] :
       {std::tuple{"hosts", hosts, request.bind_hosts},
        std::tuple{"resolv.conf", fmt::format("nameserver {}\n", kDnsAddress),
                   request.bind_resolv_conf}}) {
    if (!wanted) continue;
    if (auto r = sys::write_new_file(dir / name, text, 0644); !r) return tl::unexpected(r.error());
    binds.push_back({(dir / name).string(), fmt::format("/etc/{}", name)});
  }
  return binds;
}

Expected<PrivateNetwork> PrivateNetwork::start(const NetworkRequest& request, pid_t init,
                                               const fs::path& bundle_dir) {
  PrivateNetwork net;
  const fs::path ns = bundle_dir / kNsFile;
  if (auto r = sys::write_new_file(ns, "", 0600); !r) return tl::unexpected(r.error());
  if (auto r = sys::bind_mount(fmt::format("/proc/{}/ns/net", init), ns); !r)
    return tl::unexpected(r.error().with_context("network private"));
  net.ns_file_ = ns;
  // pasta sets the namespace up, then forks its daemon and exits: once it has, the
  // namespace is ready, and the daemon (orphaned) is our child, since we are a subreaper.
  auto run = sys::run_command(pasta_argv(request, bundle_dir), request.timeout);
  if (!run) return tl::unexpected(run.error().with_context("network private: pasta"));
  auto daemon = read_pid(bundle_dir / kPidFile);
  if (run->status.shell_code() != 0 || !daemon)
    return tl::unexpected(
        Error{ErrorKind::kSystem,
              fmt::format("network private: pasta failed (exit {}): {}", run->status.shell_code(),
                          run->output.empty() ? "no message" : run->output.substr(0, 400))});
  auto pidfd = sys::Pidfd::open(*daemon);
  if (!pidfd) return tl::unexpected(pidfd.error().with_context("network private: pasta"));
  auto stat = sys::read_file(fmt::format("/proc/{}/stat", *daemon));
  if (!stat || sys::parse_stat_ppid(*stat) != ::getpid()) {
    (void)pidfd->send_signal(SIGKILL);  // ours or not, it claims our bundle's namespace
    return tl::unexpected(
        Error{ErrorKind::kSystem, fmt::format("network private: pasta's daemon (pid {}) is not a "
                                              "child of this process",
                                              *daemon)});
  }
  net.pasta_ = sys::ChildProcess::adopt(std::move(*pidfd));
  return net;
}

Expected<void> PrivateNetwork::stop() noexcept {
  pasta_.kill_and_reap();
  if (ns_file_.empty()) return {};
  if (auto r = sys::detach_mount(ns_file_); !r) return r;
  ns_file_.clear();
  return {};
}

void stop_leftover_network(const fs::path& bundle_dir) {
  // Found by the namespace it was given, not by its pid file: a caller killed during pasta's
  // set-up may leave a daemon that never wrote one.
  const std::string mine =
      "--netns" + std::string(1, '\0') + (bundle_dir / kNsFile).string() + '\0';
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    pid_t pid = 0;
    if (std::from_chars(name.data(), name.data() + name.size(), pid).ec != std::errc{}) continue;
    auto cmdline = sys::read_file(e.path() / "cmdline");
    if (!cmdline || cmdline->find(mine) == std::string::npos) continue;
    auto pidfd = sys::Pidfd::open(pid);
    if (!pidfd) continue;
    // Still the same process once the pidfd pins it (not a pid reused in between).
    auto again = sys::read_file(e.path() / "cmdline");
    if (again && again->find(mine) != std::string::npos) (void)pidfd->send_signal(SIGKILL);
  }
}

}  // namespace ociexec::container
