// ociexec worker's Redis URLs (src/worker/redis.h): what is accepted, and the one-line
// refusals, a password in the URL above all.
#include <doctest/doctest.h>

#include "worker/redis.h"

using ociexec::worker::parse_redis_url;

TEST_CASE("redis URLs: host, port, database, ACL user and Unix sockets") {
  auto u = parse_redis_url("redis://jobs@redis.internal:6380/2");
  REQUIRE(u);
  CHECK(u->host == "redis.internal");
  CHECK(u->port == 6380);
  CHECK(u->db == 2);
  CHECK(u->user == "jobs");
  CHECK(u->unix_path.empty());
  auto plain = parse_redis_url("redis://10.0.0.5");
  REQUIRE(plain);
  CHECK(plain->host == "10.0.0.5");
  CHECK(plain->port == 6379);
  CHECK(plain->db == 0);
  auto defaults = parse_redis_url("redis://");
  REQUIRE(defaults);
  CHECK(defaults->host == "127.0.0.1");
  auto sock = parse_redis_url("unix:///run/redis/redis.sock?db=3");
  REQUIRE(sock);
  CHECK(sock->unix_path == "/run/redis/redis.sock");
  CHECK(sock->db == 3);
}

TEST_CASE("redis URLs: a password, TLS and malformed ones are refused in one line") {
  for (auto [url, names] : {
           std::pair{"redis://user:secret@host", "OCIEXEC_REDIS_PASSWORD"},
           {"redis://:secret@host", "OCIEXEC_REDIS_PASSWORD"},
           {"rediss://host:6380", "TLS is not supported"},
           {"http://host", "expected redis:// or unix://"},
           {"redis://host:0", "port"},
           {"redis://host:99999", "port"},
           {"redis://host:abc", "port"},
           {"redis://host/x", "database"},
           {"unix://relative.sock", "absolute path"},
       }) {
    CAPTURE(url);
    auto r = parse_redis_url(url);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ociexec::ErrorKind::kInvalidArgument);
    CHECK(r.error().message.find(names) != std::string::npos);
    CHECK(r.error().message.find('\n') == std::string::npos);
    CHECK(r.error().message.find("secret") == std::string::npos);  // never echoed back
  }
}
