// -v, --mount and --tmpfs (JobOptions::mounts): a host directory or file reaches the job,
// read-only or writable, a tmpfs is capped at its size, cold and pooled; bad mounts are
// refused before anything is made; and nothing is ever created on the host or in the shared
// root for a mount point.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "harness.h"
#include "sys/fs.h"

using namespace std::chrono_literals;
using ociexec::ErrorKind;
using ociexec::Mount;
using ociexec::Outcome;
using namespace ociexec::test;
namespace fs = std::filesystem;

namespace {

// A host directory the job's user can read and write: the state dir is ours, so it goes
// under /tmp, world-traversable, and is removed at the end.
struct HostDir {
  fs::path path;
  explicit HostDir(const std::string& name) {
    path = fs::temp_directory_path() / fmt::format("ociexec-mounts-{}-{}", name, ::getpid());
    fs::remove_all(path);
    fs::create_directories(path / "sub");
    std::ofstream(path / "input.txt") << "from the host\n";
    ::chmod(path.c_str(), 0777);
    ::chmod((path / "sub").c_str(), 0777);
  }
  ~HostDir() { fs::remove_all(path); }
  [[nodiscard]] std::string str() const { return path.string(); }
};

Mount bind_mount(const std::string& source, const std::string& target, bool readonly) {
  Mount m;
  m.source = source;
  m.target = target;
  m.readonly = readonly;
  return m;
}

Mount tmpfs_mount(const std::string& target, std::uint64_t bytes) {
  Mount m;
  m.type = Mount::Type::kTmpfs;
  m.target = target;
  m.tmpfs_bytes = bytes;
  return m;
}

}  // namespace

TEST_CASE("mounts: a read-only bind is read, a writable one written, a tmpfs capped") {
  LeakCheck leaks;
  HostDir in("in");
  HostDir out("out");
  auto j = job();
  j.mounts = {bind_mount(in.str(), "/mnt", true), bind_mount(out.str(), "/work/out", false),
              bind_mount(in.str() + "/input.txt", "/tmp/copy.txt", true),
              tmpfs_mount("/tmp/scratch", 2 * ociexec::kMiB)};
  const std::string script =
      "cat /mnt/input.txt /tmp/copy.txt\n"
      "echo x > /mnt/new 2>/dev/null && echo wrote-ro || echo refused-ro\n"
      "echo result > /work/out/result.txt && echo wrote-rw\n"
      "/bin/payload write /tmp/scratch/big 4194304 | tail -1\n"
      "grep -E ' /(mnt|work/out|tmp/scratch) ' /proc/self/mountinfo | grep -c nosuid\n";
  // Twice: with the warm pool on, the second runs in a container made for these mounts.
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    fs::remove(out.path / "result.txt");
    auto r = run_ok(script, j);
    CHECK(r.exit_code == 0);
    CHECK(r.stdout_data.find("from the host\nfrom the host\n") == 0);
    CHECK(r.stdout_data.find("refused-ro\n") != std::string::npos);
    CHECK(r.stdout_data.find("wrote-rw\n") != std::string::npos);
    CHECK(r.stdout_data.find("No space left on device") != std::string::npos);
    CHECK(r.stdout_data.find("\n3\n") != std::string::npos);  // each of the three nosuid
    auto written = ociexec::sys::read_file(out.path / "result.txt");
    REQUIRE(written);
    CHECK(*written == "result\n");
  }
  CHECK_FALSE(fs::exists(in.path / "new"));
  leaks.check();
}

TEST_CASE("mounts: bad mounts are refused before anything is made, and nothing is created") {
  LeakCheck leaks;
  HostDir in("bad");
  struct Case {
    Mount mount;
    std::string names;
  };
  const Case cases[] = {
      {bind_mount("relative", "/mnt", true), "absolute host path"},
      {bind_mount(in.str() + "/missing", "/mnt", true), "No such file or directory; create it"},
      {bind_mount(in.str(), "mnt", true), "normalized absolute path"},
      {bind_mount(in.str(), "/proc/x", true), "/proc is the executor's"},
      {bind_mount(in.str(), "/.ociexec", true), "/.ociexec is the executor's"},
      {bind_mount(in.str(), "/", true), "cannot cover the job's root"},
      // The test rootfs has no /data, and is shared by every job: no mount point is made.
      {bind_mount(in.str(), "/data", true), "does not exist in the job's read-only root"},
      {bind_mount(in.str(), "/mnt/sub/deeper", false), "the host directory mounted at /mnt"},
      {tmpfs_mount("/tmp/t", 1024), "size 1k: the range is 1m"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.names);
    auto j = job();
    j.mounts = {c.mount};
    if (c.mount.target == "/mnt/sub/deeper") j.mounts.insert(j.mounts.begin(), bind_mount(in.str(), "/mnt", false));
    auto r = executor().run("true\n", j);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::kInvalidArgument);
    CHECK(r.error().message.find(c.names) != std::string::npos);
  }
  CHECK_FALSE(fs::exists(Env::get().rootfs / "data"));
  CHECK_FALSE(fs::exists(in.path / "sub" / "deeper"));
  leaks.check();
}

TEST_CASE("mounts: rootless, a source the caller cannot read is refused" *
          doctest::skip(::geteuid() == 0)) {
  LeakCheck leaks;
  auto j = job();
  j.mounts = {bind_mount("/root", "/mnt", true)};
  auto r = executor().run("ls /mnt\n", j);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::kInvalidArgument);
  CHECK(r.error().message.find(fmt::format("not readable by uid {}", ::getuid())) !=
        std::string::npos);
  leaks.check();
}

// crun on a hybrid host runs in a mount namespace the executor copied from the host's once;
// where the host's mounts are private, a file system the host mounts later would not be in
// it, and a volume from it would give the job the directory under the mount. The executor
// makes that namespace again when the host's mount table changes.
TEST_CASE("host mounts: a file system the host mounts after an executor's first job is seen") {
  REQUIRE_MESSAGE(::geteuid() == 0, "mounts a tmpfs on the host: run as root");
  LeakCheck leaks;
  HostDir src("later");
  {
    // Its own executor without a pool: a container made ahead binds what was there then.
    auto exec = executor_with([](ociexec::ExecutorOptions& o) { o.pool_size = 0; });
    auto j = job();
    j.mounts = {bind_mount(src.str(), "/mnt", true)};
    auto list = [&] {
      auto r = exec.run("ls /mnt\n", j);
      REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
      CHECK(r->exit_code == 0);
      return r->stdout_data;
    };
    CHECK(list() == "input.txt\nsub\n");
    REQUIRE(::mount("tmpfs", src.path.c_str(), "tmpfs", 0, "size=1m,mode=0777") == 0);
    ociexec::sys::ScopeExit unmount([&] { ::umount2(src.path.c_str(), MNT_DETACH); });
    std::ofstream(src.path / "mounted.txt") << "on the tmpfs\n";
    CHECK(list() == "mounted.txt\n");
    CHECK(list() == "mounted.txt\n");  // no change since: the same namespace
    REQUIRE(::umount2(src.path.c_str(), 0) == 0);
    CHECK(list() == "input.txt\nsub\n");
  }
  leaks.check();
}
