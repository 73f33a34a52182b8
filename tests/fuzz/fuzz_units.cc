// Sizes, durations, CPU counts and counts, as given on the command line, in the config and in
// batch lines. Each parser either fails with a one-line error or returns a value in range.
#include <cmath>

#include "config/units.h"
#include "fuzz.h"

OCIEXEC_FUZZ_TARGET(const std::uint8_t* data, std::size_t size) {
  const auto text = ociexec::fuzz::text(data, size);
  if (auto r = ociexec::config::parse_size(text); !r) ociexec::fuzz::require_one_line(r.error().message);
  if (auto r = ociexec::config::parse_duration(text); r)
    ociexec::fuzz::require(r->count() >= 0, "negative duration");
  else
    ociexec::fuzz::require_one_line(r.error().message);
  if (auto r = ociexec::config::parse_cpus(text); r)
    ociexec::fuzz::require(std::isfinite(*r) && *r >= 0, "cpus not a finite number >= 0");
  else
    ociexec::fuzz::require_one_line(r.error().message);
  if (auto r = ociexec::config::parse_count(text); !r) ociexec::fuzz::require_one_line(r.error().message);
  return 0;
}
