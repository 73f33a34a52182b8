// A job's private network (--network private): the job's network namespace, joined by pasta
// (user-mode networking, as podman's rootless default: the job's connections leave from the
// host's sockets, nothing comes in), and the job's own /etc/hosts and /etc/resolv.conf for
// it. As root the namespace is the one the runtime made, which pasta joins through a bind
// mount of it in the bundle dir; rootless it is the one held for the job (sys/user_ns.h),
// which pasta joins through its holder with its user namespace. Stopping it kills pasta and
// removes the mount; gc does the same for a dead executor's.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ociexec/error.h"
#include "spec/spec_builder.h"
#include "sys/process.h"

namespace ociexec::container {

// The job's side of the link. 169.254.1.0/24 is link-local: it never hides a real network.
inline constexpr const char* kJobAddress = "169.254.1.2";
inline constexpr const char* kGateway = "169.254.1.1";     // host.ociexec.internal
inline constexpr const char* kDnsAddress = "169.254.1.3";  // forwarded to the host's resolver
inline constexpr const char* kHostName = "host.ociexec.internal";

struct NetworkRequest {
  std::string pasta;  // its path
  // pasta maps the gateway's address to the host's loopback (host.ociexec.internal).
  bool host_loopback = true;
  // Whether the root has each file to bind over (a shared root without one gets none).
  bool bind_hosts = true;
  bool bind_resolv_conf = true;
  std::chrono::milliseconds timeout{10000};  // pasta's set-up
};

// Why pasta, run as this process' user, could not open /dev/net/tun, and the fix; nullopt
// when it can. Rootless it needs the device readable and writable by all, the kernel's and
// udev's default, which some hosts and containers tighten to 0600.
struct TunProblem {
  std::string what;
  std::string fix;
};
std::optional<TunProblem> tun_problem();

// Writes <bundle>/net/hosts and resolv.conf; returns their read-only binds over /etc.
Expected<std::vector<spec::BindMount>> write_network_files(const std::filesystem::path& bundle_dir,
                                                           const NetworkRequest& request);

class PrivateNetwork {
 public:
  PrivateNetwork() = default;
  // pasta on the network namespace of `owner`, which no job runs in yet: a created
  // container's init, or (`held`) the holder of a rootless job's namespaces, whose user
  // namespace pasta joins first. The namespace is configured when this returns.
  static Expected<PrivateNetwork> start(const NetworkRequest& request, pid_t owner, bool held,
                                        const std::filesystem::path& bundle_dir);
  // A moved-from one holds nothing: its stop() must not unmount what the other now owns.
  PrivateNetwork(PrivateNetwork&& other) noexcept
      : pasta_(std::move(other.pasta_)), ns_file_(std::exchange(other.ns_file_, {})) {}
  PrivateNetwork& operator=(PrivateNetwork&& other) noexcept {
    if (this != &other) {
      (void)stop();
      pasta_ = std::move(other.pasta_);
      ns_file_ = std::exchange(other.ns_file_, {});
    }
    return *this;
  }
  ~PrivateNetwork() { (void)stop(); }
  // Kills pasta and removes the namespace's mount; safe to repeat.
  Expected<void> stop() noexcept;

 private:
  sys::ChildProcess pasta_;
  std::filesystem::path ns_file_;
};

// gc, for a bundle dir whose owner is gone: kills every pasta started for this bundle. The
// mount goes with the dir.
void stop_leftover_network(const std::filesystem::path& bundle_dir);

}  // namespace ociexec::container
