// Files in and out (JobOptions::files, copy_in, copy_out): they reach the job owned by its
// user and counted against its tmpfs, come back after it ended, and a hostile job's links,
// fifos and floods give errors or truncation, never host data and never a hang. Cold and
// pooled (OCIEXEC_TEST_POOL), root and rootless (run-rootless.sh).
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "harness.h"

using namespace std::chrono_literals;
using ociexec::ErrorKind;
using namespace ociexec::test;
namespace fs = std::filesystem;

namespace {

// A host tree the test user can read, removed at the end.
struct HostTree {
  fs::path path;
  explicit HostTree(const std::string& name) {
    path = fs::temp_directory_path() / fmt::format("ociexec-files-{}-{}", name, ::getpid());
    fs::remove_all(path);
    fs::create_directories(path / "sub");
    std::ofstream(path / "input.txt") << "from the host\n";
    std::ofstream(path / "sub" / "tool.sh") << "echo tool ran\n";
    ::chmod((path / "sub" / "tool.sh").c_str(), 0755);
    fs::create_symlink("input.txt", path / "alias");
    for (const auto& p : {path, path / "sub"}) ::chmod(p.c_str(), 0755);
    ::chmod((path / "input.txt").c_str(), 0644);
  }
  ~HostTree() { fs::remove_all(path); }
};

bool caller_rootless() {
  return ::geteuid() != 0;
}

}  // namespace

TEST_CASE("files: copied in owned by the job's user, read back by pattern after it ended") {
  LeakCheck leaks;
  HostTree host("in");
  auto j = job();
  j.files = {{"data.csv", "a,b\n1,2\n"},
             {"cfg/deep/settings.ini", std::string("k=\0v", 4)},
             {"/tmp/scratch.txt", "tmp"}};
  j.copy_in = {{host.path, "tree"}, {host.path / "input.txt", ""}};
  j.copy_out = {"out/*.txt", "report", "/tmp/trace.log", "data.csv"};
  const std::string script =
      "stat -c '%u %a %n' data.csv cfg cfg/deep/settings.ini tree tree/sub/tool.sh input.txt "
      "/tmp/scratch.txt\n"
      "readlink tree/alias; cat tree/alias; sh tree/sub/tool.sh\n"
      "mkdir -p out report/sub && echo one > out/1.txt && echo two > out/2.txt && "
      "echo skip > out/3.log && echo r > report/sub/r.txt && echo t > /tmp/trace.log\n"
      "echo changed >> data.csv\n";
  // Twice: with the warm pool on, the second runs in a container made ahead.
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    auto r = run_ok(script, j);
    CHECK(r.exit_code == 0);
    CAPTURE(r.stderr_data);
    const std::string uid = std::to_string(job_uid());
    for (const char* line :
         {" 644 data.csv\n", " 755 cfg\n", " 644 cfg/deep/settings.ini\n", " 755 tree\n",
          " 755 tree/sub/tool.sh\n", " 644 input.txt\n", " 644 /tmp/scratch.txt\n"})
      CHECK(r.stdout_data.find(uid + line) != std::string::npos);
    CHECK(r.stdout_data.find("input.txt\nfrom the host\ntool ran\n") != std::string::npos);
    REQUIRE(r.files.size() == 5);
    CHECK(r.files["out/1.txt"].data == "one\n");
    CHECK(r.files["out/2.txt"].data == "two\n");
    CHECK(r.files["report/sub/r.txt"].data == "r\n");
    CHECK(r.files["/tmp/trace.log"].data == "t\n");
    CHECK(r.files["data.csv"].data == "a,b\n1,2\nchanged\n");
    CHECK(r.files["data.csv"].mode == 0644);
    for (const auto& [path, f] : r.files) {
      CAPTURE(path);
      CHECK(f.error.empty());
      CHECK_FALSE(f.truncated);
    }
  }
  leaks.check();
}

TEST_CASE("files: a hostile job's links, fifos and floods give errors or truncation, no hang") {
  LeakCheck leaks;
  auto j = job();
  j.copy_out = {"*", "dir/*", "/tmp/*"};
  j.copy_out_file_cap = 1024;
  j.copy_out_cap = 3000;
  j.limits.tmpfs_bytes = 8 * ociexec::kMiB;
  const std::string script =
      "ln -s /etc/passwd passwd; ln -s / rootlink; mkdir dir; ln -s /proc/1/root dir/escape\n"
      "ln -s ../../../../etc/hostname up; mkfifo fifo; mkfifo /tmp/fifo\n"
      "/bin/payload write big 4194304 >/dev/null; /bin/payload write /tmp/big2 4096 >/dev/null\n"
      "echo small > small\n";
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    auto r = run_ok(script, j);
    CHECK(r.exit_code == 0);
    CAPTURE(r.stderr_data);
    for (const char* link : {"passwd", "rootlink", "dir/escape", "up"}) {
      CAPTURE(link);
      REQUIRE(r.files.count(link));
      CHECK(r.files[link].data.empty());
      CHECK(r.files[link].error.find("symlink") != std::string::npos);
    }
    for (const char* fifo : {"fifo", "/tmp/fifo"}) {
      CAPTURE(fifo);
      REQUIRE(r.files.count(fifo));
      CHECK(r.files[fifo].error.find("a fifo") != std::string::npos);
    }
    // 1 KiB of each file at most, 3000 bytes in all, in path order: big, small, then /tmp.
    CHECK(r.files["big"].data.size() == 1024);
    CHECK(r.files["big"].truncated);
    CHECK(r.files["small"].data == "small\n");
    CHECK_FALSE(r.files["small"].truncated);
    CHECK(r.files["/tmp/big2"].data.size() == 1024);
    CHECK(r.files["/tmp/big2"].truncated);
    std::size_t total = 0;
    for (const auto& [path, f] : r.files) total += f.data.size();
    CHECK(total <= 3000);
  }
  leaks.check();
}

TEST_CASE("files: bad copies are refused before anything is made") {
  LeakCheck leaks;
  HostTree host("bad");
  struct Case {
    ociexec::JobOptions job;
    std::string names;
  };
  std::vector<Case> cases;
  auto add = [&](const std::string& names, auto change) {
    auto j = job();
    change(j);
    cases.push_back({j, names});
  };
  add("\"..\" is refused", [](auto& j) { j.files = {{"../x", "x"}}; });
  add("under the work dir (/work) or /tmp", [](auto& j) { j.files = {{"/etc/x", "x"}}; });
  add("more than the job's work dir holds", [](auto& j) {
    j.files = {{"big", std::string(2 * ociexec::kMiB, 'x')}};
    j.limits.tmpfs_bytes = ociexec::kMiB;
  });
  add("No such file or directory; create it", [&](auto& j) {
    j.copy_in = {{host.path / "missing", ""}};
  });
  add("\"..\" is refused", [](auto& j) { j.copy_out = {"../../etc/passwd"}; });
  // pid 1's environment: root's and 0400 on every host (the VM has no /etc/shadow).
  if (caller_rootless())
    add("Permission denied", [](auto& j) { j.copy_in = {{"/proc/1/environ", ""}}; });
  for (const auto& c : cases) {
    CAPTURE(c.names);
    auto r = executor().run("true\n", c.job);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind ==
          (c.names == "Permission denied" ? ErrorKind::kSystem : ErrorKind::kInvalidArgument));
    CHECK(r.error().message.find(c.names) != std::string::npos);
  }
  leaks.check();
}

TEST_CASE("files: a copy-in that the tmpfs cannot take fails cleanly, naming the fix") {
  LeakCheck leaks;
  // The plan counts the pages of file data; a symlink with a long target takes a page of
  // its own, which only the write finds out: 400 of them do not fit a 1 MiB work dir.
  HostTree host("links");
  for (int i = 0; i < 400; ++i)
    fs::create_symlink(std::string(2000, 'x'), host.path / "sub" / fmt::format("l{}", i));
  auto j = job();
  j.limits.tmpfs_bytes = ociexec::kMiB;
  j.copy_in = {{host.path / "sub", "links"}};
  auto r = executor().run("true\n", j);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::kInvalidArgument);
  CHECK(r.error().message.find("No space left on device") != std::string::npos);
  CHECK(r.error().message.find("raise --tmpfs-size") != std::string::npos);
  leaks.check();
}

TEST_CASE("files: a host directory bound into the job is neither read nor written through") {
  LeakCheck leaks;
  HostTree host("bound");
  ociexec::Mount bind;
  bind.source = host.path.string();
  bind.target = "/work/data";
  bind.readonly = true;
  auto j = job();
  j.mounts = {bind};
  j.copy_out = {"data/input.txt", "data"};
  auto r = run_ok("cat data/input.txt\n", j);
  CHECK(r.stdout_data == "from the host\n");  // the job itself reads it
  // Read after the job's mounts are gone: the bind's mount point is an empty directory of
  // the work dir's tmpfs then, and nothing of the host's is there.
  REQUIRE(r.files.count("data/input.txt"));
  CHECK(r.files["data/input.txt"].data.empty());
  CHECK(r.files["data/input.txt"].error == "no such file or directory");
  CHECK(r.files.size() == 1);

  auto in = job();
  in.mounts = {bind};
  in.mounts[0].readonly = false;
  in.files = {{"data/planted.txt", "x"}};
  auto refused = executor().run("true\n", in);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("copy-in \"/work/data\"") != std::string::npos);
  CHECK_FALSE(fs::exists(host.path / "planted.txt"));

  // The work dir itself bound from the host: no tmpfs of the job's to copy into.
  auto over = job();
  over.mounts = {bind};
  over.mounts[0].target = "/work";
  over.files = {{"planted.txt", "x"}};
  auto covered = executor().run("true\n", over);
  REQUIRE_FALSE(covered);
  CHECK(covered.error().kind == ErrorKind::kInvalidArgument);
  CHECK(covered.error().message.find("the mount at /work covers /work") != std::string::npos);
  CHECK_FALSE(fs::exists(host.path / "planted.txt"));
  leaks.check();
}
