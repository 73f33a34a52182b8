// /proc/self/mountinfo (mount points with octal escapes) and the cgroup layout built from it.
#include "cgroup/parsers.h"
#include "fuzz.h"
#include "sys/proc.h"

OCIEXEC_FUZZ_TARGET(const std::uint8_t* data, std::size_t size) {
  const auto text = ociexec::fuzz::text(data, size);
  const auto mounts = ociexec::sys::parse_mountinfo(text);
  (void)ociexec::sys::mount_points_below(mounts, "/run/ociexec");
  const auto layout = ociexec::cgroup::layout_from_mounts(mounts, text.substr(0, 64));
  (void)layout.find_v1("memory");
  (void)layout.find_v2();
  return 0;
}
