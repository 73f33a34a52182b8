// The pooled container's job file, which ociexec-init decodes: decoding never reads past the
// input, and what decodes encodes back to the same job.
#include "fuzz.h"
#include "pool/job_file.h"

OCIEXEC_FUZZ_TARGET(const std::uint8_t* data, std::size_t size) {
  auto job = ociexec::pool::decode_job(ociexec::fuzz::text(data, size));
  if (!job) return 0;
  auto again = ociexec::pool::encode_job(*job);
  ociexec::fuzz::require(again.has_value(), "a decoded job does not encode");
  auto round = ociexec::pool::decode_job(*again);
  ociexec::fuzz::require(round && round->argv == job->argv && round->env == job->env &&
                             round->cwd == job->cwd && round->init == job->init,
                         "encode(decode(x)) does not decode to the same job");
  return 0;
}
