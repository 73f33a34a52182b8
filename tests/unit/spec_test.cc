#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "fixture.h"
#include "spec/shebang.h"
#include "spec/spec_builder.h"
#include "sys/process.h"

using namespace ociexec;
using nlohmann::json;

namespace {

spec::SpecInput sample_input() {
  spec::SpecInput in;
  in.args = {"/bin/sh", "/.ociexec/script"};
  in.env = {"GREETING=hi", "PATH=/bin"};
  in.cwd = "/work";
  in.rootfs_path = "/run/ociexec/hostview-1/rootfs";
  in.readonly_binds = {{"/usr", "/usr"}, {"/run/ociexec/bundles/x/job", "/.ociexec"}};
  in.tmpfs_bytes = 64ULL << 20;
  in.memory_bytes = 256ULL << 20;
  in.cpus = 0.5;
  in.pids = 128;
  in.cgroups_path = "/ociexec/x";
  in.nofile_hard_limit = 512;
  in.machine = "x86_64";
  in.annotations = {{"org.ociexec.container-id", "x"}};
  return in;
}

// sample_input() as a rootless executor gives it: a user namespace mapping the caller (uid
// 1001, gid 1002) to root, the job as that root, no cgroup and so no limits in the spec.
spec::SpecInput rootless_input() {
  auto in = sample_input();
  in.user_namespace = spec::UserNamespace{1001, 1002};
  in.uid = in.gid = 0;
  in.cgroups_path.clear();
  in.memory_bytes.reset();
  in.cpus.reset();
  in.pids.reset();
  return in;
}

}  // namespace

TEST_CASE("the spec matches the golden file") {
  auto spec = spec::build_spec(sample_input());
  REQUIRE(spec);
  const std::string golden_path = std::string(OCIEXEC_FIXTURES) + "/spec/golden.json";
  if (std::getenv("OCIEXEC_UPDATE_GOLDEN")) std::ofstream(golden_path) << spec->dump(2) << "\n";
  auto golden = json::parse(fixture("spec/golden.json"));
  CHECK(*spec == golden);
}

namespace {

// Checks `spec` against the OCI runtime-spec JSON schema (tests/tools/validate_spec.py).
void check_schema(const json& spec) {
  std::string path = "/tmp/ociexec-spec-test-" + std::to_string(::getpid()) + ".json";
  std::ofstream(path) << spec.dump();
  auto out = sys::run_command(
      {"/usr/bin/python3", std::string(OCIEXEC_SOURCE_DIR) + "/tests/tools/validate_spec.py", path},
      std::chrono::seconds(60));
  std::remove(path.c_str());
  REQUIRE(out);
  INFO(out->output);
  CHECK(out->status.code == 0);
}

}  // namespace

TEST_CASE("the spec validates against the OCI runtime-spec JSON schema") {
  for (bool with_limits : {true, false}) {
    auto in = sample_input();
    if (!with_limits) {
      in.memory_bytes.reset();
      in.cpus.reset();
      in.pids.reset();
    }
    auto spec = spec::build_spec(in);
    REQUIRE(spec);
    check_schema(*spec);
  }
}

TEST_CASE("the spec carries the isolation the executor promises") {
  auto spec = *spec::build_spec(sample_input());
  std::vector<std::string> ns;
  for (const auto& n : spec["linux"]["namespaces"]) ns.push_back(n["type"]);
  for (const char* want : {"pid", "mount", "ipc", "uts", "network", "cgroup"})
    CHECK(std::find(ns.begin(), ns.end(), want) != ns.end());
  CHECK(spec["root"]["readonly"] == true);
  CHECK(spec["process"]["noNewPrivileges"] == true);
  CHECK(spec["process"]["user"]["uid"] == 65534);
  CHECK(spec["process"]["capabilities"]["bounding"].empty());
  CHECK(spec["linux"]["seccomp"]["architectures"].size() == 3);
  CHECK_FALSE(spec["linux"]["maskedPaths"].empty());
  // Limits: swap equal to memory (no hidden swap), CPUs as quota/period.
  CHECK(spec["linux"]["resources"]["memory"]["limit"] == 256LL << 20);
  CHECK(spec["linux"]["resources"]["memory"]["swap"] == 256LL << 20);
  CHECK(spec["linux"]["resources"]["cpu"]["quota"] == 50000);
  CHECK(spec["linux"]["resources"]["cpu"]["period"] == 100000);
  CHECK(spec["linux"]["resources"]["pids"]["limit"] == 128);
  // rlimits never above the host's hard limit.
  for (const auto& rl : spec["process"]["rlimits"])
    if (rl["type"] == "RLIMIT_NOFILE") CHECK(rl["hard"] == 512);
  // The job's env replaces the base entry with the same key.
  auto env = spec["process"]["env"].get<std::vector<std::string>>();
  CHECK(std::count(env.begin(), env.end(), "PATH=/bin") == 1);
  CHECK(std::find(env.begin(), env.end(), "GREETING=hi") != env.end());
}

TEST_CASE("without swap accounting the spec sets no swap limit") {
  auto in = sample_input();
  in.swap_limit_supported = false;
  auto spec = *spec::build_spec(in);
  CHECK_FALSE(spec["linux"]["resources"]["memory"].contains("swap"));
}

TEST_CASE("the #! line picks the interpreter with at most one argument") {
  CHECK(spec::interpreter_for("echo hi\n") == std::vector<std::string>{"/bin/sh"});
  CHECK(spec::interpreter_for("#!/usr/bin/python3\nprint(1)") ==
        std::vector<std::string>{"/usr/bin/python3"});
  CHECK(spec::interpreter_for("#! /usr/bin/env  python3 -u \r\nx") ==
        std::vector<std::string>{"/usr/bin/env", "python3 -u"});
  CHECK(spec::interpreter_for("#!\n") == std::vector<std::string>{"/bin/sh"});
  CHECK(spec::interpreter_for("") == std::vector<std::string>{"/bin/sh"});
}

TEST_CASE("rootless: a user namespace maps the caller to root; no cgroup, no uid= options") {
  auto in = rootless_input();
  auto spec = spec::build_spec(in);
  REQUIRE(spec);
  const auto& linux = (*spec)["linux"];
  CHECK(std::count(linux["namespaces"].begin(), linux["namespaces"].end(),
                   json{{"type", "user"}}) == 1);
  CHECK(linux["uidMappings"] == json::parse(R"([{"containerID":0,"hostID":1001,"size":1}])"));
  CHECK(linux["gidMappings"] == json::parse(R"([{"containerID":0,"hostID":1002,"size":1}])"));
  CHECK_FALSE(linux.contains("cgroupsPath"));
  CHECK_FALSE(linux.contains("resources"));
  CHECK((*spec)["process"]["user"] == json::parse(R"({"uid":0,"gid":0})"));  // no setgroups
  for (const auto& m : (*spec)["mounts"])
    for (const auto& o : m.value("options", json::array()))
      CHECK_MESSAGE(o.get<std::string>().rfind("uid=", 0) != 0, m["destination"]);
  // As root, none of it.
  auto root = spec::build_spec(sample_input());
  REQUIRE(root);
  CHECK_FALSE((*root)["linux"].contains("uidMappings"));
  CHECK((*root)["linux"]["cgroupsPath"] == "/ociexec/x");
}

TEST_CASE("ulimits replace the base profile's rlimit of the same type and add the others") {
  auto in = sample_input();
  in.ulimit = {{"fsize", 4096, 8192}, {"nofile", 100, 200}};
  auto spec = spec::build_spec(in);
  REQUIRE(spec);
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> got;
  for (const auto& rl : (*spec)["process"]["rlimits"])
    got[rl["type"].get<std::string>()] = {rl["soft"].get<std::uint64_t>(), rl["hard"].get<std::uint64_t>()};
  CHECK(got.size() == 3);  // NOFILE replaced, CORE kept, FSIZE added
  CHECK(got["RLIMIT_NOFILE"] == std::pair<std::uint64_t, std::uint64_t>{100, 200});
  CHECK(got["RLIMIT_FSIZE"] == std::pair<std::uint64_t, std::uint64_t>{4096, 8192});
  CHECK(got["RLIMIT_CORE"] == std::pair<std::uint64_t, std::uint64_t>{0, 0});
}

TEST_CASE("a cpuset goes to linux.resources.cpu.cpus, beside the quota") {
  auto in = sample_input();
  in.cpus = 0.5;
  in.cpuset_cpus = "0-1,3";
  auto spec = spec::build_spec(in);
  REQUIRE(spec);
  const auto& cpu = (*spec)["linux"]["resources"]["cpu"];
  CHECK(cpu["cpus"] == "0-1,3");
  CHECK(cpu["quota"] == 50000);
  in.cpus.reset();
  auto only = spec::build_spec(in);
  REQUIRE(only);
  CHECK((*only)["linux"]["resources"]["cpu"] == nlohmann::json{{"cpus", "0-1,3"}});
}

TEST_CASE("the job's mounts come last: binds nosuid and nodev, tmpfs with its size and mode") {
  auto in = sample_input();
  in.mounts = {{Mount::Type::kBind, "/srv/data", "/data", true, std::nullopt, 01777},
               {Mount::Type::kBind, "/srv/out", "/out", false, std::nullopt, 01777},
               {Mount::Type::kTmpfs, "", "/cache", false, 2 * kMiB, 0700}};
  auto spec = spec::build_spec(in);
  REQUIRE(spec);
  const auto& mounts = (*spec)["mounts"];
  REQUIRE(mounts.size() >= 3);
  const auto& ro = mounts[mounts.size() - 3];
  CHECK(ro["destination"] == "/data");
  CHECK(ro["source"] == "/srv/data");
  CHECK(ro["options"] == nlohmann::json{"rbind", "ro", "nosuid", "nodev"});
  CHECK(mounts[mounts.size() - 2]["options"] == nlohmann::json{"rbind", "rw", "nosuid", "nodev"});
  const auto& t = mounts.back();
  CHECK(t["type"] == "tmpfs");
  CHECK(t["destination"] == "/cache");
  CHECK(t["options"] == nlohmann::json{"nosuid", "nodev", "mode=700", "size=2097152"});
}

TEST_CASE("network host: no network namespace, and the host's resolv.conf bound read-only") {
  auto in = sample_input();
  auto plain = spec::build_spec(in);
  REQUIRE(plain);
  auto has_netns = [](const nlohmann::json& spec) {
    for (const auto& ns : spec["linux"]["namespaces"])
      if (ns["type"] == "network") return true;
    return false;
  };
  CHECK(has_netns(*plain));
  in.host_network = true;
  in.host_resolv_conf = "/run/systemd/resolve/stub-resolv.conf";
  auto host = spec::build_spec(in);
  REQUIRE(host);
  CHECK_FALSE(has_netns(*host));
  CHECK((*host)["linux"]["namespaces"].size() == (*plain)["linux"]["namespaces"].size() - 1);
  bool bound = false;
  for (const auto& m : (*host)["mounts"])
    if (m["destination"] == "/etc/resolv.conf") {
      bound = true;
      CHECK(m["source"] == "/run/systemd/resolve/stub-resolv.conf");
      CHECK(m["options"] == nlohmann::json{"rbind", "ro", "nosuid", "nodev"});
    }
  CHECK(bound);
}

namespace {

spec::DeviceEdits sample_devices() {
  spec::DeviceEdits d;
  d.nodes = {{"/dev/fake0", "/srv/dev/fake0", "c", 60, 0, 0660, 65534, 65534, "r"},
             {"/dev/fifo", "/srv/dev/fifo", "p", 0, 0, 0600, 0, 0, ""}};
  d.mounts = {{"/opt/vendor", "/opt/vendor", "bind", {"ro", "rbind"}}};
  d.hooks = {{"createContainer", "/usr/bin/vendor-hook", {"vendor-hook", "ldconfig"}, {}, 5},
             {"poststop", "/usr/bin/vendor-hook", {}, {"A=1"}, std::nullopt}};
  d.additional_gids = {44, 65534};
  return d;
}

}  // namespace

TEST_CASE("devices: nodes for the runtime to make, allowed after a deny-all cgroup rule") {
  auto in = sample_input();
  in.devices = sample_devices();
  auto spec = spec::build_spec(in);
  REQUIRE(spec);
  const auto& linux = (*spec)["linux"];
  CHECK(linux["devices"] == json::parse(R"([
    {"path":"/dev/fake0","type":"c","major":60,"minor":0,"fileMode":432,"uid":65534,"gid":65534},
    {"path":"/dev/fifo","type":"p","fileMode":384,"uid":0,"gid":0}])"));
  // Deny first (crun applies the rules as given), then the node's own access; a FIFO has none.
  CHECK(linux["resources"]["devices"] == json::parse(R"([
    {"allow":false,"access":"rwm"},
    {"allow":true,"type":"c","major":60,"minor":0,"access":"r"}])"));
  CHECK((*spec)["mounts"].back() ==
        json::parse(R"({"destination":"/opt/vendor","type":"bind","source":"/opt/vendor",
                        "options":["ro","rbind"]})"));
  CHECK((*spec)["hooks"] == json::parse(R"({
    "createContainer":[{"path":"/usr/bin/vendor-hook","args":["vendor-hook","ldconfig"],
                        "timeout":5}],
    "poststop":[{"path":"/usr/bin/vendor-hook","env":["A=1"]}]})"));
  // The job's own group is not given twice.
  CHECK((*spec)["process"]["user"]["additionalGids"] == json::parse("[65534, 44]"));
  check_schema(*spec);
}

TEST_CASE("devices without any asked for: every device denied but the runtime's defaults") {
  auto spec = *spec::build_spec(sample_input());
  CHECK(spec["linux"]["resources"]["devices"] ==
        json::parse(R"([{"allow":false,"access":"rwm"}])"));
  CHECK_FALSE(spec["linux"].contains("devices"));
  CHECK_FALSE(spec.contains("hooks"));
}

TEST_CASE("rootless devices are the host's nodes bound (no mknod, no device cgroup)") {
  auto in = rootless_input();
  in.devices.nodes = sample_devices().nodes;
  auto spec = spec::build_spec(in);
  REQUIRE(spec);
  CHECK_FALSE((*spec)["linux"].contains("devices"));
  CHECK_FALSE((*spec)["linux"].contains("resources"));
  const auto& mounts = (*spec)["mounts"];
  auto bound = std::find_if(mounts.begin(), mounts.end(),
                            [](const json& m) { return m["destination"] == "/dev/fake0"; });
  REQUIRE(bound != mounts.end());
  CHECK((*bound)["source"] == "/srv/dev/fake0");
  CHECK((*bound)["options"] == json::parse(R"(["rbind","nosuid","noexec","rw"])"));
}
