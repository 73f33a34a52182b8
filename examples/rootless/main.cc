// An unprivileged process running untrusted scripts with ociexec: no root, no setuid helper,
// no daemon. Run it as any user who can create user namespaces, with runc installed:
//   rootless_example [ROOTFS]
// Without a delegated cgroup the memory limit below cannot be enforced; the job opts in to
// running anyway, and the result says which limits were not enforced.
#include <cstdio>
#include <string>

#include <ociexec/ociexec.h>

int main(int argc, char** argv) {
  // Defaults: state in $XDG_RUNTIME_DIR/ociexec (else /tmp/ociexec-<uid>), runtime "auto".
  auto executor = ociexec::Executor::create();
  if (!executor) {
    std::fprintf(stderr, "cannot create the executor: %s\n", executor.error().message.c_str());
    return 125;
  }
  ociexec::JobOptions job;
  job.timeout = std::chrono::seconds(10);
  job.limits.memory_bytes = 256 * ociexec::kMiB;
  job.allow_unenforced_limits = true;  // else: ErrorKind::kLimitNotEnforced
  if (argc > 1) job.rootfs = argv[1];
  auto result = executor->run("echo hello from uid $(id -u) in a user namespace\n", job);
  if (!result) {
    std::fprintf(stderr, "job failed to run: %s\n", result.error().message.c_str());
    return 125;
  }
  std::string unenforced;
  for (const auto& name : result->limits.unenforced) unenforced += " " + name;
  std::printf("exit %d, stdout: %sunenforced limits:%s\n", result->exit_code,
              result->stdout_data.c_str(), unenforced.empty() ? " none" : unenforced.c_str());
  return result->exit_code;
}
