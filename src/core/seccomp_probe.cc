#include "core/seccomp_probe.h"

#include <cerrno>
#include <cstring>

namespace ociexec::core {

runtime::AnnotationSupport probe_seccomp_annotation(const ContainerRequest& like) {
  using runtime::AnnotationSupport;
  ContainerRequest request = like;
  // A command every container has, so that crun's own lookup of it succeeds; it is never run
  // under the probe's filter. Without the filter it runs (the runtime's binary, showing its
  // usage), and the output has no EDOM.
  request.spec.args = {"/proc/self/exe"};
  request.script = {};
  request.stdin_data = {};
  request.init_binary.reset();
  request.seccomp_program = runtime::seccomp_probe_program();
  auto container = Container::create(request);
  if (!container) return AnnotationSupport::kIgnored;
  auto started = (*container)->start();
  if (!started) return AnnotationSupport::kIgnored;
  JobOptions job;
  job.timeout = std::chrono::seconds(10);
  job.output_cap = 64 * 1024;
  auto out = (*container)->supervise(job, *started, std::chrono::seconds(1));
  if (!out || out->abandoned) {
    (*container)->abandon();
    return AnnotationSupport::kIgnored;
  }
  (void)(*container)->remove();
  const std::string text = out->err.data + out->out.data;
  return text.find(std::strerror(EDOM)) != std::string::npos ? AnnotationSupport::kHonoured
                                                             : AnnotationSupport::kIgnored;
}

}  // namespace ociexec::core
