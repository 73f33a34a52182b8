// What a job cannot do: reach the network, write the rootfs, create user namespaces.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "harness.h"

using namespace ociexec::test;

TEST_CASE("the network is unreachable, even the host's loopback") {
  LeakCheck leaks;
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(s, 1) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
  auto r = run_ok(fmt::format("/bin/payload connect 127.0.0.1 {}\n", ntohs(addr.sin_port)), job());
  ::close(s);
  // 127.0.0.1 is the job's own loopback in its own network namespace: nothing listens there.
  CHECK(r.exit_code == 1);
  CHECK(r.stdout_data == "connect: Connection refused\n");
  // And it has no other interface to reach anything through.
  auto dev = run_ok("cat /proc/net/dev\n", job());
  CHECK(dev.stdout_data.find("lo:") != std::string::npos);
  CHECK(std::count(dev.stdout_data.begin(), dev.stdout_data.end(), ':') == 1);  // lo alone
  leaks.check();
}

TEST_CASE("the rootfs is read-only; /tmp and the work dir are writable") {
  LeakCheck leaks;
  auto r = run_ok(
      "/bin/payload write /bin/x 1; /bin/payload write /tmp/x 1; /bin/payload write /work/x 1\n",
      job());
  CHECK(r.stdout_data == "open: Read-only file system\nwrote 1\nwrote 1\n");
  auto script = run_ok("/bin/payload write /.ociexec/script 1\n", job());
  CHECK(script.stdout_data.find("wrote") == std::string::npos);
  leaks.check();
}

TEST_CASE("seccomp and no capabilities stop user namespaces") {
  LeakCheck leaks;
  auto r = run_ok("/bin/payload unshare-user\n", job());
  CHECK(r.exit_code == 1);
  CHECK(r.stdout_data == "unshare: Operation not permitted\n");
  leaks.check();
}
