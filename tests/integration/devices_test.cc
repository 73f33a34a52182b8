// --device and CDI (JobOptions::devices, gpus): a host node reaches the job and only it, its
// device cgroup allows what was asked and nothing more, a CDI device brings its nodes, mounts,
// environment and hooks (run by the runtime at create, start and delete), cold and pooled,
// as root and rootless; bad requests are refused before anything is made. The host's
// /dev/null and /dev/zero stand in for a device any user may open; a CDI node given by its
// numbers alone (c 60:N, a number for local use that no driver has) is one the runtime makes
// as root, whose open reaches the kernel's driver lookup (ENXIO) only where the device cgroup
// let it through (EPERM where not).
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "harness.h"

using namespace std::chrono_literals;
using ociexec::Device;
using ociexec::ErrorKind;
using namespace ociexec::test;
namespace fs = std::filesystem;

namespace {

bool devices_rootless() {
  return ::geteuid() != 0;
}

struct CdiDir;
std::string example_spec(const CdiDir& d);

// A CDI spec dir of the test's own (the caller's, 0755: a spec others may write is refused)
// with the fake vendor's spec in it, and a host dir for a CDI mount and the hooks' marks,
// removed at the end.
struct CdiDir {
  fs::path root;
  explicit CdiDir(const std::string& name) {
    root = fs::temp_directory_path() / fmt::format("ociexec-cdi-{}-{}", name, ::getpid());
    fs::remove_all(root);
    fs::create_directories(root / "specs");
    fs::create_directories(root / "share");
    std::ofstream(root / "share/info.txt") << "vendor data\n";
    for (const auto* d : {"", "/specs", "/share"}) ::chmod((root.string() + d).c_str(), 0755);
    ::chmod((root / "share/info.txt").c_str(), 0644);
    spec("example.yaml", example_spec(*this));
  }
  ~CdiDir() { fs::remove_all(root); }
  void spec(const std::string& file, const std::string& text) const {
    std::ofstream(root / "specs" / file) << text;
    ::chmod((root / "specs" / file).c_str(), 0644);
  }
  [[nodiscard]] ociexec::Executor executor() const {
    return executor_with(
        [this](ociexec::ExecutorOptions& o) { o.cdi_spec_dirs = {root / "specs"}; });
  }
  [[nodiscard]] std::string marks() const {
    std::ifstream in(root / "marks");
    return {std::istreambuf_iterator<char>(in), {}};
  }
};

// The fake vendor's spec: "null" (the host's /dev/null as /dev/example-null, a mount, env),
// "zero" (/dev/zero), and as root "fake" (c 60:0, read only) and "hooked" (marks each stage).
std::string example_spec(const CdiDir& d) {
  std::string s = fmt::format(R"(cdiVersion: 0.6.0
kind: example.test/dev
containerEdits:
  env: [EXAMPLE_SPEC=1]
devices:
- name: "null"
  containerEdits:
    env: [EXAMPLE_DEV=null]
    deviceNodes:
    - path: /dev/example-null
      hostPath: /dev/null
    mounts:
    - hostPath: {0}/share
      containerPath: /mnt
      options: [ro, nosuid, nodev, bind]
- name: zero
  containerEdits:
    deviceNodes:
    - path: /dev/example-zero
      hostPath: /dev/zero
- name: hooked
  containerEdits:
    # Each hook reads the state the runtime writes to its stdin first, as real hooks do: crun
    # 1.8.1 fails the create ("writing to pipe: Broken pipe") when a hook has exited before
    # it wrote (seen once, in the VM suite).
    hooks:
    - hookName: createRuntime
      path: /bin/sh
      args: [sh, -c, "cat >/dev/null; echo createRuntime >> {0}/marks"]
    - hookName: poststart
      path: /bin/sh
      args: [sh, -c, "cat >/dev/null; echo poststart >> {0}/marks"]
    - hookName: poststop
      path: /bin/sh
      args: [sh, -c, "cat >/dev/null; echo poststop >> {0}/marks"]
)",
                              d.root.string());
  if (!devices_rootless())
    s += R"(- name: fake
  containerEdits:
    deviceNodes:
    - path: /dev/example-fake
      type: c
      major: 60
      minor: 0
      permissions: r
)";
  return s;
}

Device dev(const std::string& source, const std::string& target = "",
           const std::string& permissions = "rwm") {
  return Device{source, target, permissions};
}

}  // namespace

TEST_CASE("devices: a host node reaches the job, its user's, and a job without it has none") {
  LeakCheck leaks;
  auto j = job();
  j.devices = {dev("/dev/null", "/dev/mynull", "rw")};
  const std::string script =
      "ls -ln /dev/mynull | awk '{print $1, $3}'\n"
      "echo data > /dev/mynull && echo wrote\n"
      "wc -c < /dev/mynull\n";
  for (int i = 0; i < 2; ++i) {  // the second, with the warm pool on, in a container made for it
    CAPTURE(i);
    auto r = run_ok(script, j);
    INFO(r.stderr_data);
    CHECK(r.exit_code == 0);
    // As root the node is made for the job's user (65534); rootless it is the host's own,
    // bound, whose owner (root) is unmapped in the job's user namespace: the overflow id.
    CHECK(r.stdout_data == "crw-rw-rw- 65534\nwrote\n0\n");
  }
  auto none = run_ok("ls /dev/mynull 2>&1; ls /dev | wc -l", job());
  CHECK(none.stdout_data.find("No such file or directory") != std::string::npos);
  leaks.check();
}

TEST_CASE("devices: the device cgroup allows what was asked and no more") {
  if (devices_rootless()) {
    // No device cgroup rootless: narrowing is refused rather than not enforced.
    LeakCheck leaks;
    auto j = job();
    j.devices = {dev("/dev/null", "/dev/mynull", "r")};
    auto r = executor().run("true", j);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::kInvalidArgument);
    CHECK(r.error().message.find("rootless, access cannot be narrowed to \"r\"") !=
          std::string::npos);
    leaks.check();
    return;
  }
  LeakCheck leaks;
  CdiDir d("cgroup");
  {
    auto e = d.executor();
    auto j = job();
    j.devices = {dev("example.test/dev=fake")};
    // Read is allowed (the open reaches the driver lookup: ENXIO), write is not (EPERM).
    const std::string script =
        "cat /dev/example-fake 2>&1; echo x 2>&1 > /dev/example-fake; "
        "echo x > /dev/null && echo null-ok";
    for (int i = 0; i < 2; ++i) {
      CAPTURE(i);
      auto r = e.run(script, j);
      REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
      CHECK(r->stdout_data.find("No such device or address") != std::string::npos);
      CHECK(r->stdout_data.find("Operation not permitted") != std::string::npos);
      CHECK(r->stdout_data.find("null-ok") != std::string::npos);
    }
    // A host node given rw: both opens reach the driver.
    auto rw = job();
    rw.devices = {dev("/dev/null", "/dev/mynull", "rw")};
    auto r = run_ok("cat /dev/mynull && echo x > /dev/mynull && echo both", rw);
    CHECK(r.stdout_data == "both\n");
  }
  leaks.check();
}

TEST_CASE("devices: a CDI device brings its nodes, mount and env, and only to its job") {
  LeakCheck leaks;
  CdiDir d("edits");
  {
    auto e = d.executor();
    auto j = job();
    j.devices = {dev("example.test/dev=null")};
    j.env = {"EXAMPLE_DEV=mine"};  // the job's own env wins over a spec's
    const std::string script =
        "env | grep ^EXAMPLE | sort\n"
        "echo x > /dev/example-null && echo null-ok\n"
        "ls /dev/example-zero 2>/dev/null || echo no-zero\n"
        "cat /mnt/info.txt\n";
    for (int i = 0; i < 2; ++i) {
      CAPTURE(i);
      auto r = e.run(script, j);
      REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
      INFO(r->stderr_data);
      CHECK(r->exit_code == 0);
      CHECK(r->stdout_data == "EXAMPLE_DEV=mine\nEXAMPLE_SPEC=1\nnull-ok\nno-zero\nvendor data\n");
    }
    auto both = job();
    both.devices = {dev("example.test/dev=zero"), dev("example.test/dev=null")};
    auto r = e.run("head -c 4 /dev/example-zero | wc -c; ls /dev/example-null", both);
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->stdout_data == "4\n/dev/example-null\n");
    auto plain = e.run("ls /dev/example-null /mnt/info.txt 2>&1; env | grep -c EXAMPLE", job());
    REQUIRE(plain);
    CHECK(plain->stdout_data.find("/dev/example-null: No such file or directory") !=
          std::string::npos);
    CHECK(plain->stdout_data.find("/mnt/info.txt: No such file or directory") != std::string::npos);
    CHECK(plain->stdout_data.find("\n0\n") != std::string::npos);
  }
  leaks.check();
}

TEST_CASE("devices: a CDI device's hooks run at create, start and delete") {
  LeakCheck leaks;
  CdiDir d("hooks");
  {
    auto e = d.executor();
    auto j = job();
    j.devices = {dev("example.test/dev=hooked")};
    auto r = e.run("echo ran", j);
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->stdout_data == "ran\n");
  }
  // With the pool on, the pooled containers made for the profile ran their create hooks and,
  // removed with their executor, their poststop ones; the job's own come in this order.
  const auto marks = d.marks();
  INFO(marks);
  const auto create = marks.find("createRuntime");
  const auto start = marks.find("poststart");
  const auto stop = marks.rfind("poststop");
  REQUIRE(create != std::string::npos);
  REQUIRE(start != std::string::npos);
  REQUIRE(stop != std::string::npos);
  CHECK((create < start && start < stop));
  leaks.check();
}

TEST_CASE("devices: --gpus N is the first N numbered nvidia.com/gpu devices") {
  LeakCheck leaks;
  CdiDir d("gpus");
  d.spec("nvidia.yaml", R"(cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
- name: "1"
  containerEdits:
    deviceNodes: [{path: /dev/nvidia1, hostPath: /dev/zero}]
- name: "0"
  containerEdits:
    deviceNodes: [{path: /dev/nvidia0, hostPath: /dev/null}]
- name: all
  containerEdits:
    deviceNodes:
    - {path: /dev/nvidia0, hostPath: /dev/null}
    - {path: /dev/nvidia1, hostPath: /dev/zero}
)");
  {
    auto e = d.executor();
    auto one = job();
    one.gpus = 1;
    auto r = e.run("ls /dev | grep nvidia", one);
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->stdout_data == "nvidia0\n");
    auto all = job();
    all.devices = {dev("nvidia.com/gpu=all")};
    r = e.run("ls /dev | grep nvidia", all);
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->stdout_data == "nvidia0\nnvidia1\n");
    auto three = job();
    three.gpus = 3;
    auto refused = e.run("true", three);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("gpus 3: the CDI specs name 2 numbered nvidia.com/gpu "
                                       "devices (0, 1)") != std::string::npos);
  }
  leaks.check();
}

TEST_CASE("devices: bad requests are refused with the reason, nothing made") {
  LeakCheck leaks;
  CdiDir d("bad");
  d.spec("broken.yaml",
         "cdiVersion: 0.6.0\nkind: broken.test/dev\ndevices:\n- name: x\n"
         "  containerEdits:\n    colour: blue\n");
  {
    auto e = d.executor();
    auto refused = [&e](std::vector<Device> devices) {
      auto j = job();
      j.devices = std::move(devices);
      auto r = e.run("echo ran", j);
      REQUIRE_FALSE(r);
      CHECK(r.error().kind == ErrorKind::kInvalidArgument);
      return r.error().message;
    };
    CHECK(refused({dev("/tmp")}).find("a directory, not a character or block device") !=
          std::string::npos);
    CHECK(refused({dev("/dev/null")}).find("/dev/null is one of the runtime's own") !=
          std::string::npos);
    CHECK(refused({dev("example.test/dev=nope")}).find("not found; example.test/dev has") !=
          std::string::npos);
    const auto broken = refused({dev("broken.test/dev=x")});
    CHECK(broken.find("broken.yaml:6: containerEdits: unknown field \"colour\"") !=
          std::string::npos);
    CHECK(refused({dev("/dev/null", "/dev/a"), dev("/dev/zero", "/dev/a")}).find("given twice") !=
          std::string::npos);
  }
  leaks.check();
}

TEST_CASE("devices: the CLI's --device and --gpus; a refusal is one line, exit 125") {
  LeakCheck leaks;
  CdiDir d("cli");
  const auto config = d.root / "cli.yaml";
  {
    std::ifstream base(write_cli_config("devices-cli.yaml"));
    std::ofstream(config) << base.rdbuf() << "cdi_spec_dirs: " << (d.root / "specs").string()
                          << "\n";
  }
  auto cli = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{Env::get().cli.string(), "--config", config.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = ociexec::sys::run_command(argv, 60s);
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    return std::pair{r->status.shell_code(), r->output};
  };
  const auto rootfs = Env::get().rootfs.string();
  auto [code, out] = cli({"run", "--rootfs", rootfs, "--device", "example.test/dev=null",
                          "--device", "/dev/zero:/dev/myzero:rw", "-c",
                          "cat /mnt/info.txt; ls /dev/example-null /dev/myzero"});
  CHECK(code == 0);
  CHECK(out == "vendor data\n/dev/example-null\n/dev/myzero\n");
  std::tie(code, out) = cli({"run", "--rootfs", rootfs, "--device", "/tmp", "-c", "echo ran"});
  CHECK(code == 125);
  CHECK(out ==
        "ociexec: error: device /tmp: a directory, not a character or block device; give a "
        "device node such as /dev/fuse\n");
  std::tie(code, out) = cli({"run", "--rootfs", rootfs, "--gpus", "some", "-c", "echo ran"});
  CHECK(code == 125);
  CHECK(out.find("ociexec: error: --gpus: gpus \"some\": expected all, or a number") == 0);
  std::tie(code, out) = cli({"run", "--rootfs", rootfs, "--gpus", "all", "-c", "echo ran"});
  CHECK(code == 125);
  CHECK(out.find("no CDI spec in " + (d.root / "specs").string() +
                 " defines kind nvidia.com/gpu") != std::string::npos);
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);
  leaks.check();
}
