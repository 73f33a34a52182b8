// podman's mount flags as text, each into a Mount (ociexec/options.h), and its device flags:
//   -v, --volume SRC:DST[:OPTS]        OPTS: ro or rw (default rw)
//   --mount type=bind,source=SRC,target=DST[,readonly[=true|false]]
//   --mount type=tmpfs,target=DST[,tmpfs-size=SIZE][,tmpfs-mode=OCTAL]
//   --tmpfs DST[:size=SIZE[,mode=OCTAL]]
//   --device HOSTPATH[:JOBPATH][:PERMS] | VENDOR/CLASS=NAME    PERMS: of r, w, m (rwm)
//   --gpus all | N                     docker's: nvidia.com/gpu=all, or the first N GPUs
// Syntax only; whether the paths exist is checked when a job runs (core/mounts.h). Options
// podman has and ociexec does not (SELinux labels z/Z, U, O overlays, propagation, named
// volumes) are refused, each by name.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ociexec/error.h"
#include "ociexec/options.h"

namespace ociexec::config {

Expected<Mount> parse_volume(std::string_view text);
Expected<Mount> parse_mount(std::string_view text);
Expected<Mount> parse_tmpfs(std::string_view text);

// Each of `texts` through `parse`, appended to `out` in order; an error names the text.
Expected<void> parse_mounts(const std::vector<std::string>& texts,
                            Expected<Mount> (*parse)(std::string_view), std::vector<Mount>& out);

Expected<Device> parse_device(std::string_view text);
// Each of `texts` as --device, appended to `out`.
Expected<void> parse_devices(const std::vector<std::string>& texts, std::vector<Device>& out);
// --gpus: "all" adds the device nvidia.com/gpu=all; N (at least 1) sets `gpus`.
Expected<void> parse_gpus(std::string_view text, std::vector<Device>& devices, unsigned& gpus);

}  // namespace ociexec::config
