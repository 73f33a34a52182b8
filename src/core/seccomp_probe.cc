#include "core/seccomp_probe.h"

#include <cerrno>
#include <cstring>

namespace ociexec::core {

runtime::AnnotationSupport probe_seccomp_annotation(const container::Request& like) {
  using runtime::AnnotationSupport;
  container::JobPlan plan;
  plan.limits.timeout = std::chrono::seconds(10);
  plan.limits.output_cap = 64 * 1024;
  plan.kill_wait = std::chrono::seconds(1);
  container::Request& request = plan.container;
  request = like;
  // A command every container has, so that crun's own lookup of it succeeds; it is never run
  // under the probe's filter. Without the filter it runs (the runtime's binary, showing its
  // usage), and the output has no EDOM.
  request.spec.args = {"/proc/self/exe"};
  request.init_binary.reset();
  request.network.reset();  // what it runs needs none: no pasta for a probe
  request.spec.devices = {};  // nor the job's devices, whose hooks are the job's to run
  request.seccomp_program = runtime::seccomp_probe_program();
  auto probe = container::Container::create(request);
  if (!probe) return AnnotationSupport::kIgnored;
  auto started = (*probe)->start();
  if (!started) return AnnotationSupport::kIgnored;
  auto out = (*probe)->supervise(plan, *started, nullptr);
  if (!out || out->abandoned) {
    (*probe)->abandon();
    return AnnotationSupport::kIgnored;
  }
  (void)(*probe)->remove();
  const std::string text = out->err.data + out->out.data;
  return text.find(std::strerror(EDOM)) != std::string::npos ? AnnotationSupport::kHonoured
                                                             : AnnotationSupport::kIgnored;
}

}  // namespace ociexec::core
