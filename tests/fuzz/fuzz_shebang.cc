// The script's "#!" line, which picks the interpreter.
#include "fuzz.h"
#include "spec/shebang.h"

OCIEXEC_FUZZ_TARGET(const std::uint8_t* data, std::size_t size) {
  const auto argv = ociexec::spec::interpreter_for(ociexec::fuzz::text(data, size));
  for (const auto& a : argv) ociexec::fuzz::require(a.find('\0') == std::string::npos, "NUL in argv");
  return 0;
}
