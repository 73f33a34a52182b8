// A CDI spec file (a vendor's, read from /etc/cdi when a job asks for a device) and the
// device texts people type (--device, --gpus).
#include "cdi/spec_file.h"
#include "config/mount_specs.h"
#include "fuzz.h"

OCIEXEC_FUZZ_TARGET(const std::uint8_t* data, std::size_t size) {
  using namespace ociexec;
  const auto text = fuzz::text(data, size);
  auto spec = cdi::parse_spec(text, "fuzz.yaml");
  if (!spec) {
    fuzz::require_one_line(spec.error().message);
  } else {
    fuzz::require(!spec->devices.empty(), "a spec without devices was accepted");
    for (const auto& d : spec->devices) {
      // Every device a spec defines can be asked for by its qualified name.
      auto q = cdi::parse_qualified_name(spec->kind + "=" + d.name);
      fuzz::require(q.has_value(), "a device's qualified name does not parse");
      fuzz::require(!d.edits.empty(), "a device without edits was accepted");
      for (const auto& n : d.edits.device_nodes)
        fuzz::require(!n.path.empty() && n.path.front() == '/', "a relative device path");
    }
  }
  if (auto q = cdi::parse_qualified_name(text); !q) fuzz::require_one_line(q.error().message);
  if (auto d = config::parse_device(text); !d) fuzz::require_one_line(d.error().message);
  std::vector<Device> devices;
  unsigned gpus = 0;
  if (auto g = config::parse_gpus(text, devices, gpus); !g)
    fuzz::require_one_line(g.error().message);
  return 0;
}
