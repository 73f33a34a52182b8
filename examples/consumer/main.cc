// The drop-in contract from C++: run a script, get (exit_code, stdout, stderr).
#include <cstdio>

#include <ociexec/ociexec.h>

int main() {
  auto result = ociexec::execute_script("echo hello from a container\n", /*timeout_seconds=*/30);
  if (!result) {
    std::fprintf(stderr, "executor error: %s\n", result.error().message.c_str());
    return 125;
  }
  auto [code, out, err] = *result;
  std::printf("exit %d, stdout: %s", code, out.c_str());
  return code;
}
