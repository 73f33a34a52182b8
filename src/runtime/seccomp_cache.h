// crun compiles the spec's seccomp section with libseccomp at every create (about 0.5 ms of
// its 7-8 ms), then leaves the program it loaded in its state dir as seccomp.bpf. An executor
// keeps that program per seccomp section and hands it to later creates through crun's
// `run.oci.seccomp_bpf_data` annotation, which crun loads in place of compiling (podman keeps
// such a cache too). The program is crun's own output, so the filter is the same one, bit for
// bit. Kept in memory, and with a cache dir also on disk, per crun binary (its identity: path,
// inode, size, mtime), with the probe's verdict: a short-lived executor (each `ociexec run`)
// then starts with what earlier ones learned, instead of having crun compile at every run.
// The cache dir is the user's own (0700, checked as the executor starts); each file names the
// binary and the whole section it holds, and is used only when both match.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace ociexec::runtime {

inline constexpr const char* kSeccompBpfAnnotation = "run.oci.seccomp_bpf_data";

// Whether the crun in use loads a program given through the annotation. A crun that ignored
// it would run the job with no filter at all (the section is dropped), so the cache is used
// only once a probe container has shown that it does (core/seccomp_probe.h).
enum class AnnotationSupport { kUnknown, kHonoured, kIgnored };

class SeccompCache {
 public:
  // In memory only.
  SeccompCache() = default;
  // Also in `dir`, for the binary of `identity` (runtime/runtime.h: binary_identity): what
  // earlier executors learned there is used, and what this one learns is kept there.
  SeccompCache(std::filesystem::path dir, std::string identity);

  // When the program for `spec`'s seccomp section is known and the annotation is honoured,
  // moves the program into the annotation (dropping the section: crun then neither parses nor
  // compiles it) and returns nullopt. Otherwise returns the section as text, for learn() once
  // the container is created.
  std::optional<std::string> apply(nlohmann::json& spec) const;
  // Keeps the program crun wrote to `bpf_file` for `section`. A file that is missing, empty or
  // not whole BPF instructions is ignored (the next create compiles again).
  void learn(const std::string& section, const std::filesystem::path& bpf_file) const;
  // A program was learned, and whether the annotation works is not known yet: probe now.
  [[nodiscard]] bool probe_due() const;
  void set_support(AnnotationSupport support) const;
  [[nodiscard]] AnnotationSupport support() const;

 private:
  // Under the lock: the program of `section` from the disk, into programs_.
  void load(const std::string& section) const;
  const std::filesystem::path dir_;  // empty: memory only
  const std::string identity_;
  bool on_disk_ = false;  // a program was on the disk as the executor started
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::string> programs_;  // section -> base64 program
  mutable AnnotationSupport support_ = AnnotationSupport::kUnknown;
};

// The probe's program: every execve and execveat fails with EDOM, everything else is allowed.
// A crun that loads it fails to exec the container's command with "Numerical argument out of
// domain"; one that ignores the annotation runs the command.
std::string seccomp_probe_program();

}  // namespace ociexec::runtime
