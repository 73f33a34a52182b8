// The contenders of the benchmark, each able to run the same two jobs: /bin/true on the
// busybox rootfs, and `python3 -c "print('hello')"` on the built-in host-view rootfs. Every
// contender gets the same root file system and the same command line.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "image/rootfs.h"
#include "ociexec/ociexec.h"

namespace ociexec::bench {

// /bin/true on the busybox rootfs as a directory; the same rootfs as an image (ociexec's
// store, podman's image); Python "hello" on the built-in host view.
enum class Job { kTrue, kPython, kImage };

// Parent of the bare runtimes' cgroups: runc and crun leave it behind, so the benchmark
// removes it when done. Apart from the executors' parent, whose lock they do not take.
inline constexpr const char* kBareCgroupParent = "ociexec-bench-bare";

struct Contender {
  std::string name;
  // Runs one job; `worker` (0..7) picks a per-thread bundle for concurrent runs. Throws
  // std::runtime_error if the job did not succeed.
  std::function<void(Job job, int worker)> run;
  // Untimed, after each job: waits until work the contender left in the background is done,
  // so that it does not land on the next contender's time (podman's conmon and cleanup).
  std::function<void()> settle = nullptr;
};

struct Setup {
  std::filesystem::path work;    // scratch dir, removed at the end
  std::filesystem::path rootfs;  // busybox + payload
  std::filesystem::path cli;     // the ociexec binary
  std::string podman_image;      // the busybox rootfs imported into podman
  std::string image;             // the same rootfs as an OCI layout ("oci:PATH:REF")
  image::RootfsPlan host_view;   // the built-in rootfs, shared by every contender
};

// A bare `runc run` / `crun run` of bundles made by the executor's own spec builder. With
// `cached_seccomp` (crun): the bundles carry the program crun compiled for their seccomp
// section through its annotation, as ociexec's do after its first crun job.
Contender bare_runtime(const Setup& s, const std::string& runtime, bool cached_seccomp = false);
Contender library(const Executor& exec, const Setup& s);
Contender cli(const Setup& s, const std::string& runtime);
Contender podman(const Setup& s);
Contender bwrap(const Setup& s);

// The job's command line, the same for every contender.
std::vector<std::string> command_of(Job job);

}  // namespace ociexec::bench
