// CDI specs read (cdi/spec_file.h) and found (cdi/registry.h) on fixture text and temporary
// spec dirs; a job's devices planned (core/devices.h) against this host's /dev/null.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cdi/registry.h"
#include "cdi/spec_file.h"
#include "config/mount_specs.h"
#include "core/devices.h"
#include "fixture.h"

using namespace ociexec;
namespace fs = std::filesystem;

namespace {

// The error's text, or "" when `r` holds a value.
template <typename T>
std::string message_of(const Expected<T>& r) {
  return r ? std::string() : r.error().message;
}

std::string parse_error(const std::string& yaml) {
  return message_of(cdi::parse_spec(yaml, "t.yaml"));
}

// A spec dir of this test's own, removed after.
struct SpecDirs {
  fs::path root = fs::temp_directory_path() / ("ociexec-cdi-test-" + std::to_string(::getpid()));
  SpecDirs() {
    fs::remove_all(root);
    fs::create_directories(root / "etc");
    fs::create_directories(root / "run");
    fs::permissions(root / "etc", fs::perms(0755));
    fs::permissions(root / "run", fs::perms(0755));
  }
  ~SpecDirs() { fs::remove_all(root); }
  void write(const std::string& rel, const std::string& text) const {
    std::ofstream(root / rel) << text;
    fs::permissions(root / rel, fs::perms(0644));
  }
  [[nodiscard]] std::vector<fs::path> dirs() const { return {root / "etc", root / "run"}; }
};

std::string device_spec(const std::string& kind, const std::string& name, const std::string& env) {
  return "cdiVersion: 0.6.0\nkind: " + kind + "\ndevices:\n- name: " + name +
         "\n  containerEdits:\n    env: [" + env + "]\n";
}

}  // namespace

TEST_CASE("cdi: a spec as nvidia-ctk writes it is read whole") {
  auto spec = cdi::parse_spec(fixture("cdi/gpu.yaml"), "gpu.yaml");
  REQUIRE_MESSAGE(spec, message_of(spec));
  CHECK(spec->kind == "nvidia.com/gpu");
  CHECK(spec->version == "0.5.0");
  REQUIRE(spec->devices.size() == 4);
  CHECK(spec->devices[0].name == "0");
  const auto& node = spec->devices[1].edits.device_nodes.at(0);
  CHECK((node.path == "/dev/nvidia1" && node.type == "c" && node.major == 195 && node.minor == 1));
  const auto& edits = spec->edits;
  CHECK(edits.env == std::vector<std::string>{"NVIDIA_VISIBLE_DEVICES=void"});
  CHECK(edits.device_nodes.at(0).permissions == "rw");
  REQUIRE(edits.hooks.size() == 1);
  CHECK(edits.hooks[0].hook_name == "createContainer");
  CHECK(edits.hooks[0].args.at(1) == "update-ldcache");
  REQUIRE(edits.mounts.size() == 1);
  CHECK(edits.mounts[0].options == std::vector<std::string>{"ro", "nosuid", "nodev", "bind"});
}

TEST_CASE("cdi: JSON, tab-indented, reads as the YAML it also is") {
  auto spec = cdi::parse_spec(fixture("cdi/example.json"), "example.json");
  REQUIRE_MESSAGE(spec, message_of(spec));
  CHECK(spec->kind == "example.test/dev");
  CHECK(spec->devices.at(0).edits.device_nodes.at(0).host_path == "/dev/null");
}

TEST_CASE("cdi: every malformed spec is refused with its file and line") {
  const std::string head = "cdiVersion: 0.6.0\nkind: example.test/dev\n";
  const std::string dev = "devices:\n- name: a\n  containerEdits:\n    env: [A=1]\n";
  CHECK(parse_error(head + dev + "colour: blue\n") ==
        "CDI spec t.yaml:7: CDI spec: unknown field \"colour\"");
  CHECK(parse_error(head + "devices:\n- name: a\n  containerEdits:\n    envv: [A=1]\n") ==
        "CDI spec t.yaml:6: containerEdits: unknown field \"envv\"");
  CHECK(parse_error("kind: example.test/dev\n" + dev) == "CDI spec t.yaml:1: cdiVersion: required");
  CHECK(parse_error("cdiVersion: 9.0.0\nkind: example.test/dev\n" + dev)
            .find("t.yaml:1: cdiVersion \"9.0.0\": not a released version") != std::string::npos);
  CHECK(parse_error("cdiVersion: 0.6.0\nkind: example\n" + dev)
            .find("t.yaml:2: kind \"example\": expected VENDOR/CLASS") != std::string::npos);
  CHECK(parse_error("cdiVersion: 0.6.0\nkind: example.test/-dev\n" + dev)
            .find("t.yaml:2: class \"-dev\" must start with a letter") != std::string::npos);
  CHECK(parse_error(head + "devices: []\n") ==
        "CDI spec t.yaml:3: devices: at least one is required");
  CHECK(parse_error(head + dev + "- name: a\n  containerEdits:\n    env: [B=1]\n") ==
        "CDI spec t.yaml:7: device \"a\": defined twice");
  CHECK(parse_error(head + "devices:\n- name: a\n  containerEdits: {}\n") ==
        "CDI spec t.yaml:4: device \"a\": containerEdits: none given");
  CHECK(parse_error(head + "devices:\n- name: a\n  containerEdits:\n    env: [NOEQUALS]\n") ==
        "CDI spec t.yaml:6: env: \"NOEQUALS\" is not NAME=VALUE");
  CHECK(parse_error(head + "devices:\n- name: a\n  containerEdits:\n    deviceNodes:\n"
                           "    - {path: /dev/x, permissions: rwx}\n")
            .find("t.yaml:7: device node /dev/x: permissions \"rwx\"") != std::string::npos);
  CHECK(parse_error(head + "devices:\n- name: a\n  containerEdits:\n    hooks:\n"
                           "    - {hookName: onTuesday, path: /bin/true}\n")
            .find("t.yaml:7: hook \"onTuesday\": expected one of") != std::string::npos);
  CHECK(parse_error(head + "devices:\n- name: a\n  containerEdits:\n    netDevices: []\n")
            .find("t.yaml:6: netDevices: this edit is not supported") != std::string::npos);
  CHECK(parse_error(head + dev +
                    "containerEdits:\n  deviceNodes:\n  - {path: /dev/x, major: "
                    "banana}\n")
            .find("t.yaml:9: major: expected a number") != std::string::npos);
  // Not YAML at all: the parser's own message, still with the line.
  CHECK(parse_error(head + "devices: [\n").find("CDI spec t.yaml:4:") == 0);
}

TEST_CASE("cdi: a field newer than the spec's declared version is refused, as the reference") {
  const std::string dev =
      "kind: example.test/dev\ndevices:\n- name: a\n  containerEdits:\n    deviceNodes:\n"
      "    - {path: /dev/x, hostPath: /dev/null}\n";
  CHECK(parse_error("cdiVersion: 0.4.0\n" + dev) ==
        "CDI spec t.yaml:7: hostPath needs cdiVersion 0.5.0 or later, and the spec declares 0.4.0");
  CHECK(message_of(cdi::parse_spec("cdiVersion: 0.5.0\n" + dev, "t.yaml")).empty());
  CHECK(parse_error("cdiVersion: 0.5.0\nkind: example.test/dev\nannotations: {a: b}\ndevices:\n"
                    "- name: a\n  containerEdits: {env: [A=1]}\n") ==
        "CDI spec t.yaml:3: annotations needs cdiVersion 0.6.0 or later, and the spec declares "
        "0.5.0");
  CHECK(parse_error("cdiVersion: 0.4.0\nkind: example.test/dev\ndevices:\n- name: \"0\"\n"
                    "  containerEdits: {env: [A=1]}\n")
            .find("a device name starting with a digit needs cdiVersion 0.5.0") !=
        std::string::npos);
}

TEST_CASE("cdi: qualified names as the reference parses them") {
  auto q = cdi::parse_qualified_name("nvidia.com/gpu=0");
  REQUIRE(q);
  CHECK((q->vendor == "nvidia.com" && q->device_class == "gpu" && q->name == "0"));
  CHECK(q->kind() == "nvidia.com/gpu");
  CHECK(cdi::parse_qualified_name("vendor.com/class=GPU-1:mig-2").has_value());
  for (const char* bad : {"nvidia.com=0", "nvidia.com/gpu=", "/dev/x=1", "a/b/c=1", "v/c=-x"})
    CHECK_MESSAGE(!cdi::parse_qualified_name(bad), bad);
  CHECK(message_of(cdi::parse_qualified_name("nvidia.com=0")).find("expected VENDOR/CLASS=NAME") !=
        std::string::npos);
  CHECK(cdi::looks_qualified("nvidia.com/gpu=all"));
  CHECK_FALSE(cdi::looks_qualified("/dev/x=y"));
  CHECK_FALSE(cdi::looks_qualified("/dev/fuse"));
}

TEST_CASE("cdi registry: a later dir wins, one dir's duplicate is a conflict, bad specs told") {
  SpecDirs d;
  d.write("etc/a.yaml", device_spec("example.test/dev", "one", "FROM=etc"));
  d.write("run/a.yaml", device_spec("example.test/dev", "one", "FROM=run"));
  d.write("etc/b.yaml", device_spec("example.test/dev", "two", "FROM=b"));
  d.write("etc/c.json", device_spec("example.test/dev", "two", "FROM=c"));
  d.write("etc/broken.yaml", "cdiVersion: 0.6.0\nkind: example.test/dev\ndevices: [\n");
  d.write("etc/ignored.txt", "not a spec");
  const auto registry = cdi::Registry::scan(d.dirs());
  auto one = registry.resolve({"example.test/dev=one"});
  REQUIRE_MESSAGE(one, message_of(one));
  CHECK(one->env == std::vector<std::string>{"FROM=run"});
  const auto two = message_of(registry.resolve({"example.test/dev=two"}));
  CHECK(two.find("CDI device example.test/dev=two: conflicting definitions (defined in both") == 0);
  CHECK(two.find("broken.yaml:4:") != std::string::npos);  // every unreadable spec is named
  CHECK(registry.device_names() == std::vector<std::string>{"example.test/dev=one"});
  CHECK(registry.names_of_kind("example.test/dev") == std::vector<std::string>{"one", "two"});
  const auto problems = registry.problems();
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].find("broken.yaml:4:") != std::string::npos);
  const auto unknown = message_of(registry.resolve({"other.test/dev=x"}));
  CHECK(unknown.find("no CDI spec in " + (d.root / "etc").string() + ", " +
                     (d.root / "run").string() + " defines kind other.test/dev") !=
        std::string::npos);
  CHECK(message_of(registry.resolve({"example.test/dev=three"}))
            .find("not found; example.test/dev has one, two") != std::string::npos);
}

TEST_CASE("cdi registry: a spec's own edits once, before its first device's; a name once") {
  SpecDirs d;
  d.write("etc/gpu.yaml", fixture("cdi/gpu.yaml"));
  const auto registry = cdi::Registry::scan(d.dirs());
  auto edits = registry.resolve({"nvidia.com/gpu=1", "nvidia.com/gpu=0", "nvidia.com/gpu=1"});
  REQUIRE_MESSAGE(edits, message_of(edits));
  REQUIRE(edits->device_nodes.size() == 3);
  CHECK(edits->device_nodes[0].path == "/dev/nvidiactl");
  CHECK(edits->device_nodes[1].path == "/dev/nvidia1");
  CHECK(edits->device_nodes[2].path == "/dev/nvidia0");
  CHECK(edits->hooks.size() == 1);
}

TEST_CASE("cdi registry: a spec others may write is refused (its hooks run as the runtime)") {
  SpecDirs d;
  d.write("etc/a.yaml", device_spec("example.test/dev", "one", "A=1"));
  fs::permissions(d.root / "etc/a.yaml", fs::perms(0666));
  const auto registry = cdi::Registry::scan(d.dirs());
  const auto error = message_of(registry.resolve({"example.test/dev=one"}));
  CHECK(error.find("may be written by others (mode 0666)") != std::string::npos);
  CHECK(error.find("chmod go-w") != std::string::npos);
  fs::permissions(d.root / "etc", fs::perms(0777));
  CHECK(cdi::Registry::scan(d.dirs()).problems().at(0).find("the directory may be written by "
                                                            "others") != std::string::npos);
}

TEST_CASE("device texts: podman's --device and docker's --gpus") {
  auto plain = config::parse_device("/dev/fuse");
  REQUIRE(plain);
  CHECK((plain->source == "/dev/fuse" && plain->target.empty() && plain->permissions == "rwm"));
  auto moved = config::parse_device("/dev/sdc:/dev/xvdc:r");
  REQUIRE(moved);
  CHECK((moved->target == "/dev/xvdc" && moved->permissions == "r"));
  auto perms = config::parse_device("/dev/fuse:rw");
  REQUIRE(perms);
  CHECK((perms->target.empty() && perms->permissions == "rw"));
  auto named = config::parse_device("nvidia.com/gpu=all");
  REQUIRE(named);
  CHECK(named->source == "nvidia.com/gpu=all");
  for (const char* bad : {"", "dev/fuse", "/dev/fuse:dev/x", "/dev/a:/dev/b:rwx", "/a:/b:r:w"})
    CHECK_MESSAGE(!config::parse_device(bad), bad);
  std::vector<Device> devices;
  unsigned gpus = 0;
  REQUIRE(config::parse_gpus("all", devices, gpus));
  CHECK((devices.size() == 1 && devices[0].source == "nvidia.com/gpu=all" && gpus == 0));
  REQUIRE(config::parse_gpus("2", devices, gpus));
  CHECK(gpus == 2);
  CHECK_FALSE(config::parse_gpus("0", devices, gpus));
  CHECK(message_of(config::parse_gpus("many", devices, gpus)).find("expected all, or a number") !=
        std::string::npos);
}

namespace {

struct PlanFixture {
  core::HostFacts host;
  image::RootfsPlan root;
  JobOptions job;
  std::vector<fs::path> dirs;
  PlanFixture() {
    root.root_path = "/";
    root.readonly_binds = {{"/usr", "/usr"}};
  }
  [[nodiscard]] Expected<core::PlannedDevices> plan() const {
    return core::plan_devices(job, host, dirs, 1000, 1000, job.mounts, root, false);
  }
};

}  // namespace

TEST_CASE("devices: a host node with its numbers and mode, owned by the job's user") {
  PlanFixture f;
  f.job.devices = {{"/dev/null", "/dev/mynull", "rw"}};
  auto plan = f.plan();
  REQUIRE_MESSAGE(plan, message_of(plan));
  REQUIRE(plan->edits.nodes.size() == 1);
  const auto& n = plan->edits.nodes[0];
  CHECK((n.path == "/dev/mynull" && n.host_path == "/dev/null" && n.type == "c"));
  CHECK((n.major == 1 && n.minor == 3 && n.file_mode == 0666 && n.uid == 1000 && n.access == "rw"));
}

TEST_CASE("devices: what is not a device, or not for /dev, is refused with the fix") {
  PlanFixture f;
  auto refused = [&f](Device d) {
    f.job.devices = {std::move(d)};
    return message_of(f.plan());
  };
  CHECK(refused({"/tmp", "", "rwm"}).find("a directory, not a character or block device") !=
        std::string::npos);
  CHECK(refused({"/dev/nonexistent-ociexec", "", "rwm"}).find("No such file or directory") !=
        std::string::npos);
  CHECK(refused({"/dev/null", "/mnt/null", "rwm"}).find("must be a normalized path under /dev") !=
        std::string::npos);
  CHECK(refused({"/dev/null", "/dev/pts/9", "rwm"}).find("/dev/pts is one of the runtime's own") !=
        std::string::npos);
  CHECK(refused({"/dev/null", "/dev/x", "rwx"}).find("permissions \"rwx\"") != std::string::npos);
  CHECK(refused({"example.test/dev=a", "/dev/a", "rwm"}).find("a CDI device takes no job path") !=
        std::string::npos);
  f.job.devices = {{"/dev/null", "/dev/a", "rwm"}, {"/dev/zero", "/dev/a", "rwm"}};
  CHECK(message_of(f.plan()).find("device node /dev/a: given twice, as c 1:3 and as c 1:5") !=
        std::string::npos);
}

TEST_CASE("devices: CDI nodes filled in from the host, mounts checked against the root") {
  SpecDirs d;
  d.write("etc/ex.yaml",
          "cdiVersion: 0.6.0\nkind: example.test/dev\n"
          "containerEdits:\n  env: [EX=1]\n"
          "devices:\n- name: a\n  containerEdits:\n    deviceNodes:\n"
          "    - {path: /dev/ex-null, hostPath: /dev/null}\n"
          "    - {path: /dev/ex-fake, type: c, major: 60, minor: 1, permissions: none}\n"
          "    mounts:\n    - {hostPath: /usr/bin, containerPath: /usr/bin}\n"
          "- name: nowhere\n  containerEdits:\n    mounts:\n"
          "    - {hostPath: /usr/bin, containerPath: /no/such/dir}\n");
  PlanFixture f;
  f.dirs = d.dirs();
  f.job.devices = {{"example.test/dev=a", "", "rwm"}};
  auto plan = f.plan();
  REQUIRE_MESSAGE(plan, message_of(plan));
  CHECK(plan->env == std::vector<std::string>{"EX=1"});
  REQUIRE(plan->edits.nodes.size() == 2);
  CHECK((plan->edits.nodes[0].major == 1 && plan->edits.nodes[0].minor == 3 &&
         plan->edits.nodes[0].access == "rwm"));
  CHECK((plan->edits.nodes[1].major == 60 && plan->edits.nodes[1].access.empty()));
  REQUIRE(plan->edits.mounts.size() == 1);
  CHECK(plan->edits.mounts[0].options == std::vector<std::string>{"rbind"});
  // A mount point the shared root lacks would be made in it: refused.
  f.job.devices = {{"example.test/dev=nowhere", "", "rwm"}};
  CHECK(message_of(f.plan()).find("the target does not exist in the job's root") !=
        std::string::npos);
  // The job's own mount at the same place: a conflict.
  Mount own;
  own.source = "/etc";
  own.target = "/usr/bin";
  f.job.mounts = {own};
  f.job.devices = {{"example.test/dev=a", "", "rwm"}};
  CHECK(message_of(f.plan()).find("/usr/bin is mounted by the job or another CDI edit already") !=
        std::string::npos);
}

TEST_CASE("devices rootless: bound as they are, so never narrowed, and only what the job opens") {
  PlanFixture f;
  f.host.rootless = true;
  f.job.devices = {{"/dev/null", "/dev/n", "rw"}};
  CHECK_MESSAGE(message_of(f.plan()).empty(), message_of(f.plan()));
  f.job.devices = {{"/dev/null", "/dev/n", "r"}};
  CHECK(message_of(f.plan()).find("rootless, access cannot be narrowed to \"r\"") !=
        std::string::npos);
  f.host.user_ns.sub_uids = spec::IdRange{100000, 65536};
  f.host.user_ns.sub_gids = spec::IdRange{100000, 65536};
  f.job.devices = {{"/dev/null", "/dev/n", "rwm"}};
  CHECK(f.plan().has_value());  // 0666: a subordinate id may open it too
}
