// What runtimes print: their JSON log lines (--log-format json), their version text, and the
// error text we classify.
#include "fuzz.h"
#include "runtime/runtime.h"

OCIEXEC_FUZZ_TARGET(const std::uint8_t* data, std::size_t size) {
  const auto text = ociexec::fuzz::text(data, size);
  const auto half = text.substr(0, text.size() / 2);
  const std::string err = ociexec::runtime::error_text(text, half);
  ociexec::fuzz::require(err.find('\n') == std::string::npos, "a runtime error of several lines");
  (void)ociexec::runtime::classify_create_failure(err);
  (void)ociexec::runtime::parse_version(text);
  return 0;
}
