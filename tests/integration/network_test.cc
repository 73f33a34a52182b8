// --network (JobOptions::network): none (the default, loopback only: escape_test.cc) and host,
// which gives the job the host's network stack and says so in the result; root only.
#include <unistd.h>

#include "harness.h"

using ociexec::ErrorKind;
using ociexec::Network;
using namespace ociexec::test;

TEST_CASE("network host: the job reaches the host's loopback, and the result warns") {
  LoopbackListener listener;  // before the leak check: its fd is the test's
  LeakCheck leaks;
  auto j = job();
  j.network = Network::kHost;
  const std::string script = fmt::format("/bin/payload connect 127.0.0.1 {}\n", listener.port());
  if (::geteuid() != 0) {
    auto refused = executor().run(script, j);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().kind == ErrorKind::kInvalidArgument);
    CHECK(refused.error().message.find("network host: root only") == 0);
    leaks.check();
    return;
  }
  for (int i = 0; i < 2; ++i) {  // with the warm pool, the second is a pooled container
    auto r = run_ok(script, j);
    CHECK(r.exit_code == 0);
    CHECK(r.stdout_data.find("connected") != std::string::npos);
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].find("no network isolation") != std::string::npos);
  }
  // The same script without: refused by the job's own empty loopback.
  auto none = run_ok(script, job());
  CHECK(none.exit_code == 1);
  CHECK(none.warnings.empty());
  leaks.check();
}
