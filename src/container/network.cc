#include "container/network.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "sys/fs.h"

namespace ociexec::container {

namespace fs = std::filesystem;

namespace {

constexpr const char* kNsFile = "netns";
constexpr const char* kPidFile = "pasta.pid";

// `target`: "--netns FILE" (root: --runas 0, or pasta drops to nobody, who cannot join), or
// the holder's pid (rootless: pasta joins its user namespace, then its network namespace).
std::vector<std::string> pasta_argv(const NetworkRequest& r, const fs::path& bundle_dir,
                                    std::vector<std::string> target) {
  std::vector<std::string> argv{r.pasta, "--config-net", "--quiet",
                                // The job's side; nothing forwarded in, nor to the host's
                                // loopback ports but through the gateway's address.
                                "--address", kJobAddress, "--netmask", "24", "--gateway", kGateway,
                                "--dns-forward", kDnsAddress, "--tcp-ports", "none", "--udp-ports",
                                "none", "--tcp-ns", "none", "--udp-ns", "none", "--pid",
                                (bundle_dir / kPidFile).string()};
  if (!r.host_loopback) argv.emplace_back("--no-map-gw");
  argv.insert(argv.end(), target.begin(), target.end());
  return argv;
}

}  // namespace

std::optional<TunProblem> tun_problem() {
  constexpr const char* kTun = "/dev/net/tun";
  if (::access(kTun, R_OK | W_OK) == 0) return std::nullopt;
  const int err = errno;
  if (err == ENOENT) return TunProblem{fmt::format("{} does not exist", kTun), "modprobe tun"};
  return TunProblem{fmt::format("{} cannot be opened by this user ({})", kTun, std::strerror(err)),
                    fmt::format("chmod 0666 {} (the kernel's and udev's default mode)", kTun)};
}

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

Expected<PrivateNetwork> PrivateNetwork::start(const NetworkRequest& request, pid_t owner,
                                               bool held, const fs::path& bundle_dir) {
  PrivateNetwork net;
  std::vector<std::string> target{std::to_string(owner)};
  if (!held) {
    const fs::path ns = bundle_dir / kNsFile;
    if (auto r = sys::write_new_file(ns, "", 0600); !r) return tl::unexpected(r.error());
    if (auto r = sys::bind_mount(fmt::format("/proc/{}/ns/net", owner), ns); !r)
      return tl::unexpected(r.error().with_context("network private"));
    net.ns_file_ = ns;
    target = {"--runas", "0", "--netns", ns.string()};
  }
  // pasta sets the namespace up, then forks its daemon and exits: once it has, the
  // namespace is ready, and the daemon (orphaned) is our child, since we are a subreaper.
  auto run = sys::run_command(pasta_argv(request, bundle_dir, std::move(target)), request.timeout);
  if (!run) return tl::unexpected(run.error().with_context("network private: pasta"));
  if (run->status.shell_code() != 0)
    return tl::unexpected(
        Error{ErrorKind::kSystem,
              fmt::format("network private: pasta failed (exit {}): {}", run->status.shell_code(),
                          run->output.empty() ? "no message" : run->output.substr(0, 400))});
  auto daemon = sys::ChildProcess::adopt_orphan(bundle_dir / kPidFile);
  if (!daemon) {
    stop_leftover_network(bundle_dir);  // found by its command line, where a pid may lie
    return tl::unexpected(daemon.error().with_context("network private: pasta's daemon"));
  }
  net.pasta_ = std::move(*daemon);
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
  // Found by the pid file it was given, not by what the file holds: a caller killed during
  // pasta's set-up may leave a daemon that never wrote it.
  const std::string mine = "--pid" + std::string(1, '\0') + (bundle_dir / kPidFile).string() + '\0';
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
