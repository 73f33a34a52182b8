// crun compiles the spec's seccomp section with libseccomp at every create (about 0.5 ms of
// its 7-8 ms), then leaves the program it loaded in its state dir as seccomp.bpf. An executor
// keeps that program per seccomp section and hands it to later creates through crun's
// `run.oci.seccomp_bpf_data` annotation, which crun loads in place of compiling (podman keeps
// such a cache too). The program is crun's own output, so the filter is the same one, bit for
// bit. Kept in memory only: it lives as long as the executor, like the binary crun runs from.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace ociexec::runtime {

inline constexpr const char* kSeccompBpfAnnotation = "run.oci.seccomp_bpf_data";

class SeccompCache {
 public:
  // When the program for `spec`'s seccomp section is known, moves it into the annotation
  // (dropping the section: crun then neither parses nor compiles it) and returns nullopt.
  // Otherwise returns the section as text, for learn() once the container is created.
  std::optional<std::string> apply(nlohmann::json& spec) const;
  // Keeps the program crun wrote to `bpf_file` for `section`. A file that is missing, empty or
  // not whole BPF instructions is ignored (the next create compiles again).
  void learn(const std::string& section, const std::filesystem::path& bpf_file) const;

 private:
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::string> programs_;  // section -> base64 program
};

// Standard base64 (RFC 4648, with padding), as crun decodes the annotation.
std::string base64(std::string_view data);

}  // namespace ociexec::runtime
