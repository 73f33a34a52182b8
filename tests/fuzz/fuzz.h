// Shared by the fuzz harnesses. Each harness defines OCIEXEC_FUZZ_TARGET; built with clang's
// -fsanitize=fuzzer it is a libFuzzer target (scripts/fuzz.sh), built with replay_main.cc it
// runs the kept inputs (corpus/<name>/) as a regression test in the ordinary suite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#define OCIEXEC_FUZZ_TARGET extern "C" int LLVMFuzzerTestOneInput

namespace ociexec::fuzz {

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A property that must hold for every input: abort (a crash libFuzzer keeps) when it does not.
inline void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", what);
  std::abort();
}

// Errors reach users as one line: no newline inside, and never empty.
inline void require_one_line(const std::string& message) {
  require(!message.empty(), "empty error message");
  require(message.find('\n') == std::string::npos, "multi-line error message");
}

}  // namespace ociexec::fuzz
