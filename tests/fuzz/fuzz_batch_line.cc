// A line of `ociexec batch` input: JSON with the run flags as keys.
#include "cli/job_flags.h"
#include "fuzz.h"

OCIEXEC_FUZZ_TARGET(const std::uint8_t* data, std::size_t size) {
  const std::string line(ociexec::fuzz::text(data, size));
  auto parsed = ociexec::cli::parse_batch_line(line, ociexec::JobOptions{});
  if (!parsed) ociexec::fuzz::require_one_line(parsed.error().message);
  return 0;
}
