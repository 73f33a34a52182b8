// A registry client over libcurl (OCI distribution spec, Docker registry v2): manifests by
// tag or digest with the full Accept list, blobs streamed to a file and verified by size
// and digest as they arrive. Authentication as registries ask for it on a 401: Basic, or
// the Bearer token flow (anonymous token first, the credentials when that is refused),
// tokens reused per scope. Redirects are followed by us: credentials only ever go to the
// registry's own host. TLS is verified (system CAs, plus a CA file if given); plain HTTP only
// for registries marked insecure. 429, 5xx and dropped connections are retried with backoff.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "image/auth.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "ociexec/error.h"

namespace ociexec::image {

// A pull's time limit, as one absolute deadline shared by every request, read and unpacking.
struct PullDeadline {
  std::chrono::steady_clock::time_point at = std::chrono::steady_clock::time_point::max();
  std::chrono::milliseconds limit{0};  // what was asked for, for the message

  static PullDeadline after(std::chrono::milliseconds limit) {
    return {std::chrono::steady_clock::now() + limit, limit};
  }
  [[nodiscard]] bool passed() const { return std::chrono::steady_clock::now() >= at; }
  [[nodiscard]] std::chrono::milliseconds left() const;
  [[nodiscard]] Error error() const;  // "pull: over its time limit (...)"
};

struct RegistryOptions {
  // false: every registry as if listed in insecure_registries (podman's --tls-verify=false).
  bool tls_verify = true;
  // "host[:port]" reached without TLS verification, over plain HTTP when it has no TLS.
  std::vector<std::string> insecure_registries;
  std::string ca_file;        // PEM bundle trusted besides the system's
  Credentials credentials;    // from flags; else the auth file's
  std::string auth_file;      // empty: default_auth_files()
  int attempts = 4;           // per request, for 429, 5xx and dropped connections
  std::chrono::milliseconds backoff{250};  // doubled after each failed attempt
  // A transfer slower than low_speed_bytes a second for low_speed_time is dropped (and
  // retried as a dropped connection): a registry that trickles cannot hold a pull forever.
  long low_speed_bytes = 1024;
  std::chrono::seconds low_speed_time{30};
  PullDeadline deadline;  // no request runs, or is retried, past it
};

struct FetchedManifest {
  std::string body;
  std::string content_type;
  std::string digest;  // of the body, checked against the one asked for or announced
};

// Bytes of the current blob so far (for a progress display).
using BlobProgress = std::function<void(std::uint64_t done, std::uint64_t total)>;

class RegistryClient {
 public:
  static Expected<std::unique_ptr<RegistryClient>> create(const RegistryReference& ref,
                                                          const RegistryOptions& options);
  ~RegistryClient();
  RegistryClient(const RegistryClient&) = delete;
  RegistryClient& operator=(const RegistryClient&) = delete;

  // `reference`: a tag or "sha256:...". The body's digest must equal a digest asked for.
  Expected<FetchedManifest> manifest(const std::string& reference);
  // Streams the blob into `fd` (from offset 0, truncated first), verifying size and digest.
  Expected<void> blob(const Descriptor& d, int fd, const BlobProgress& progress = {});
  // Requests made (each attempt and redirect hop counts): tests check a cached pull makes few.
  [[nodiscard]] std::uint64_t blob_requests() const noexcept;

 private:
  struct State;
  explicit RegistryClient(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace ociexec::image
