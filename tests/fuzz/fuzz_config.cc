// The YAML config file (ociexec.yaml): any text gives a Config or a one-line error.
#include <string_view>

#include "config/config.h"
#include "fuzz.h"

OCIEXEC_FUZZ_TARGET(const std::uint8_t* data, std::size_t size) {
  auto cfg = ociexec::config::parse_config(ociexec::fuzz::text(data, size), "fuzz.yaml");
  if (!cfg) ociexec::fuzz::require_one_line(cfg.error().message);
  return 0;
}
