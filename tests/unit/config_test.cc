#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "config/units.h"
#include "util/text.h"

using namespace ociexec;
using namespace std::chrono_literals;

TEST_CASE("sizes use docker's 1024-based units") {
  CHECK(config::parse_size("256m") == 256ULL << 20);
  CHECK(config::parse_size("1g") == 1ULL << 30);
  CHECK(config::parse_size("1.5k") == 1536);
  CHECK(config::parse_size("100") == 100);
  CHECK(config::parse_size(" 64MiB ") == 64ULL << 20);
  CHECK_FALSE(config::parse_size("12q"));
  CHECK_FALSE(config::parse_size("-5m"));
  CHECK_FALSE(config::parse_size(""));
  CHECK(config::parse_size("12q").error().message.find("e.g. 256m") != std::string::npos);
}

TEST_CASE("durations default to seconds") {
  CHECK(config::parse_duration("30") == 30s);
  CHECK(config::parse_duration("1.5s") == 1500ms);
  CHECK(config::parse_duration("500ms") == 500ms);
  CHECK(config::parse_duration("5m") == 300s);
  CHECK(config::parse_duration("1h") == 3600s);
  CHECK_FALSE(config::parse_duration("5 minutes"));
  CHECK_FALSE(config::parse_duration("-1"));
}

TEST_CASE("cpus and counts") {
  CHECK(config::parse_cpus("0.5") == 0.5);
  CHECK_FALSE(config::parse_cpus("half"));
  CHECK(config::parse_count("1024") == 1024);
  CHECK_FALSE(config::parse_count("10x"));
  CHECK(config::is_unlimited("unlimited"));
  CHECK_FALSE(config::is_unlimited("0"));
}

TEST_CASE("a YAML config sets every option") {
  auto cfg = config::parse_config(R"(runtime: crun
state_dir: /var/run/x
cache_dir: /var/cache/x
cgroup_parent: jobs
runtime_timeout: 10s
pool_size: 4
pool_max_age: 2m
max_concurrent_jobs: 3
init_path: /opt/ociexec/ociexec-init
timeout: 60
grace: 2s
memory: 512m
cpus: 1.5
pids_limit: unlimited
tmpfs_size: 16m
output_cap: 1m
rootfs: /srv/rootfs
interpreter: /usr/bin/python3 -u
)",
                                  "test.yaml");
  REQUIRE(cfg);
  CHECK(cfg->executor.runtime == "crun");
  CHECK(cfg->executor.state_dir == "/var/run/x");
  CHECK(cfg->executor.cache_dir == "/var/cache/x");
  CHECK(cfg->executor.cgroup_parent == "jobs");
  CHECK(cfg->executor.runtime_timeout == 10s);
  CHECK(cfg->executor.pool_size == 4);
  CHECK(cfg->executor.pool_max_age == 120s);
  CHECK(cfg->executor.max_concurrent_jobs == 3);
  CHECK(cfg->executor.init_path == "/opt/ociexec/ociexec-init");
  CHECK(cfg->job.timeout == 60s);
  CHECK(cfg->job.grace == 2s);
  CHECK(cfg->job.limits.memory_bytes == 512ULL << 20);
  CHECK(cfg->job.limits.cpus == 1.5);
  CHECK_FALSE(cfg->job.limits.pids);
  CHECK(cfg->job.limits.tmpfs_bytes == 16ULL << 20);
  CHECK(cfg->job.output_cap == 1ULL << 20);
  CHECK(cfg->job.rootfs == std::filesystem::path("/srv/rootfs"));
  CHECK(cfg->job.interpreter == std::vector<std::string>{"/usr/bin/python3", "-u"});
}

TEST_CASE("an empty config keeps the defaults") {
  auto cfg = config::parse_config("", "empty.yaml");
  REQUIRE(cfg);
  CHECK(cfg->job.timeout == 300s);
  CHECK(cfg->executor.state_dir.empty());  // the executor picks default_state_dir()
  CHECK(cfg->executor.cache_dir.empty());  // and default_cache_dir()
}

TEST_CASE("unknown keys and bad values are rejected with file:line:column") {
  auto unknown = config::parse_config("timeout: 5\nmemroy: 1g\n", "/etc/ociexec/config.yaml");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().kind == ErrorKind::kConfig);
  CHECK(unknown.error().message.rfind("/etc/ociexec/config.yaml:2:1: unknown key \"memroy\"", 0) ==
        0);
  auto bad = config::parse_config("timeout: 5\nmemory:   12q\n", "c.yaml");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.rfind("c.yaml:2:11: memory: invalid size \"12q\"", 0) == 0);
  auto syntax = config::parse_config("timeout: [1,\n", "s.yaml");
  REQUIRE_FALSE(syntax);
  CHECK(syntax.error().message.rfind("s.yaml:", 0) == 0);
  auto none = config::parse_config("max_concurrent_jobs: 0\n", "j.yaml");
  REQUIRE_FALSE(none);
  CHECK(none.error().message.rfind("j.yaml:1:22: max_concurrent_jobs: expected 1 or more", 0) == 0);
  auto nested = config::parse_config("memory:\n  a: 1\n", "n.yaml");
  REQUIRE_FALSE(nested);
  CHECK(nested.error().message.find("expected a single value") != std::string::npos);
}

TEST_CASE("env files: podman's format, KEY=VALUE per line, a bare KEY from the host") {
  auto host = [](const std::string& key) -> std::optional<std::string> {
    if (key == "HOME") return "/root";
    return std::nullopt;
  };
  auto env = config::parse_env_file(
      "# a comment\n\nA=1\n  B= two words \nC=\"quoted\"\r\nHOME\nMISSING\nD=x=y\n  # indented\nE=", host);
  REQUIRE(env);
  CHECK(*env == std::vector<std::string>{"A=1", "B= two words ", "C=\"quoted\"", "HOME=/root",
                                         "D=x=y", "E="});
  auto bad = config::parse_env_file("A=1\nB =1\n", host);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("line 2") != std::string::npos);
  auto empty_key = config::parse_env_file("=value\n", host);
  REQUIRE_FALSE(empty_key);
  auto nul = config::parse_env_file(std::string("A=a\0b\n", 6), host);
  REQUIRE_FALSE(nul);
  CHECK(nul.error().message.find("NUL") != std::string::npos);
  auto missing = config::read_env_file("/nonexistent/env.list");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind == ErrorKind::kInvalidArgument);
  CHECK(missing.error().message.find("/nonexistent/env.list") != std::string::npos);
}

TEST_CASE("text: a piece of output is cut only after a whole UTF-8 character") {
  using ociexec::text::whole_utf8_prefix;
  CHECK(whole_utf8_prefix("") == 0);
  CHECK(whole_utf8_prefix("abc") == 3);
  CHECK(whole_utf8_prefix("a\xc3\xa9") == 3);          // é, whole
  CHECK(whole_utf8_prefix("a\xc3") == 1);              // é's first byte waits for the next piece
  CHECK(whole_utf8_prefix("a\xe2\x82") == 1);          // two of €'s three bytes
  CHECK(whole_utf8_prefix("a\xe2\x82\xac") == 4);      // €, whole
  CHECK(whole_utf8_prefix("\xf0\x9f\x98") == 0);       // three of 😀's four bytes
  CHECK(whole_utf8_prefix("\xf0\x9f\x98\x80") == 4);
  CHECK(whole_utf8_prefix("a\x80\x80\x80\x80") == 5);  // stray continuation bytes: as they are
  CHECK(whole_utf8_prefix("a\xff") == 2);              // not UTF-8 at all: as it is
}

TEST_CASE("ulimits: NAME=SOFT[:HARD] as podman takes them, with one-line errors") {
  using ociexec::config::parse_ulimit;
  auto both = parse_ulimit("nofile=1024:2048");
  REQUIRE(both);
  CHECK(*both == ociexec::Ulimit{"nofile", 1024, 2048});
  auto soft_only = parse_ulimit("fsize=1048576");
  REQUIRE(soft_only);
  CHECK(soft_only->hard == 1048576);
  auto unlimited = parse_ulimit("core=-1:unlimited");
  REQUIRE(unlimited);
  CHECK(unlimited->soft == ociexec::kUnlimitedRlimit);
  CHECK(unlimited->hard == ociexec::kUnlimitedRlimit);
  for (const char* bad : {"nofile", "nofile=", "bogus=1", "nofile=ten", "nofile=10:5", "nofile=1:2:3",
                          "=1", "nofile=-2"}) {
    CAPTURE(bad);
    auto r = parse_ulimit(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ociexec::ErrorKind::kInvalidArgument);
    CHECK(r.error().message.find('\n') == std::string::npos);
  }
  CHECK(parse_ulimit("bogus=1").error().message.find("nofile") != std::string::npos);  // names them
}

TEST_CASE("a YAML config takes ulimit as blank-separated NAME=SOFT[:HARD] words") {
  auto c = ociexec::config::parse_config("ulimit: nofile=64:128 nproc=100\n", "t.yaml");
  REQUIRE(c);
  REQUIRE(c->job.ulimit.size() == 2);
  CHECK(c->job.ulimit[1] == ociexec::Ulimit{"nproc", 100, 100});
  auto bad = ociexec::config::parse_config("ulimit: nofile=x\n", "t.yaml");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("t.yaml:1:9: ulimit:") == 0);
}

TEST_CASE("a YAML config takes cpuset_cpus and cpu_time; unlimited clears the CPU time") {
  auto c = ociexec::config::parse_config("cpuset_cpus: 0-1\ncpu_time: 2.5s\n", "t.yaml");
  REQUIRE(c);
  CHECK(c->job.limits.cpuset_cpus == "0-1");
  CHECK(c->job.limits.cpu_time == std::chrono::milliseconds(2500));
  auto off = ociexec::config::parse_config("cpu_time: unlimited\n", "t.yaml");
  REQUIRE(off);
  CHECK_FALSE(off->job.limits.cpu_time);
  auto bad = ociexec::config::parse_config("cpu_time: lots\n", "t.yaml");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("t.yaml:1:11: cpu_time:") == 0);
}

TEST_CASE("network: none, private or host, as podman names them") {
  CHECK(ociexec::config::parse_network("none") == ociexec::Network::kNone);
  CHECK(ociexec::config::parse_network(" host ") == ociexec::Network::kHost);
  CHECK(ociexec::config::parse_network("private") == ociexec::Network::kPrivate);
  CHECK(ociexec::config::parse_network("private:no-host-loopback") ==
        ociexec::Network::kPrivateNoHostLoopback);
  CHECK_FALSE(ociexec::config::parse_network("private:no-loopback"));
  for (auto n : {ociexec::Network::kNone, ociexec::Network::kHost, ociexec::Network::kPrivate,
                 ociexec::Network::kPrivateNoHostLoopback})
    CHECK(ociexec::config::parse_network(ociexec::to_string(n)) == n);  // round trip
  auto bad = ociexec::config::parse_network("bridge");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("\"bridge\": expected none") == 0);
  auto c = ociexec::config::parse_config("network: host\n", "t.yaml");
  REQUIRE(c);
  CHECK(c->job.network == ociexec::Network::kHost);
}

TEST_CASE("image keys: one name per setting, the first spellings still read") {
  auto cfg = config::parse_config(
      "image_store: /srv/images\ncert_file: /etc/ca.pem\nauthfile: /etc/auth.json\n", "new.yaml");
  REQUIRE_MESSAGE(cfg, (cfg ? "" : cfg.error().message));
  CHECK(cfg->executor.images.store == "/srv/images");
  CHECK(cfg->executor.images.ca_file == "/etc/ca.pem");
  CHECK(cfg->executor.images.auth_file == "/etc/auth.json");
  auto old = config::parse_config("registry_ca_file: /etc/ca.pem\nauth_file: /etc/auth.json\n",
                                  "old.yaml");
  REQUIRE_MESSAGE(old, (old ? "" : old.error().message));
  CHECK(old->executor.images.ca_file == "/etc/ca.pem");
  CHECK(old->executor.images.auth_file == "/etc/auth.json");
  // Layered, an old spelling in one file and the new in a later one are one key.
  const auto dir = std::filesystem::temp_directory_path() /
                   ("ociexec-config-aliases-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "system.yaml") << "registry_ca_file: /etc/old.pem\n";
  std::ofstream(dir / "user.yaml") << "cert_file: /etc/new.pem\n";
  auto layered = config::load_configs({dir / "system.yaml", dir / "user.yaml"});
  REQUIRE_MESSAGE(layered, (layered ? "" : layered.error().message));
  CHECK(layered->executor.images.ca_file == "/etc/new.pem");
  std::filesystem::remove_all(dir);
  // The list of known keys in an error names the new spellings.
  auto bad = config::parse_config("cafile: x\n", "bad.yaml");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("cert_file") != std::string::npos);
  CHECK(bad.error().message.find("authfile") != std::string::npos);
}

TEST_CASE("config files layered: a later file's key replaces an earlier one's, lists whole") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("ociexec-config-layers-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "system.yaml") << "timeout: 10s\nmemory: 256m\nvolume: /srv:/srv /opt:/opt\n";
  std::ofstream(dir / "user.yaml") << "memory: 512m\nvolume: /home:/data:ro\n";
  auto cfg = config::load_configs({dir / "system.yaml", dir / "user.yaml"});
  REQUIRE_MESSAGE(cfg, (cfg ? "" : cfg.error().message));
  CHECK(cfg->job.timeout == std::chrono::seconds(10));  // the system file's, kept
  CHECK(cfg->job.limits.memory_bytes == 512 * kMiB);    // the user's, over it
  REQUIRE(cfg->job.mounts.size() == 1);                 // the user's list, whole
  CHECK(cfg->job.mounts[0].target == "/data");
  // An error names the file it is in.
  std::ofstream(dir / "user.yaml") << "memory: lots\n";
  auto bad = config::load_configs({dir / "system.yaml", dir / "user.yaml"});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find((dir / "user.yaml").string() + ":1:9: memory:") == 0);
  CHECK(config::config_files("/x.yaml") == std::vector<std::filesystem::path>{"/x.yaml"});
  std::filesystem::remove_all(dir);
}
