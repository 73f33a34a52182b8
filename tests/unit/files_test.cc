// A job's files in and out without a container: the plan (core/files.h) checks paths and
// reads host trees; the tree writer and reader (sys/job_tree.h) run on a directory of a tmpfs
// (/dev/shm) as they run on a job's, with the hostile cases a job could leave behind.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "core/files.h"
#include "sys/confined.h"
#include "sys/fs.h"
#include "sys/job_tree.h"
#include "util/text.h"

using namespace ociexec;
namespace fs = std::filesystem;

namespace {

// A fresh directory on a tmpfs, removed at the end.
struct ShmDir {
  fs::path path;
  explicit ShmDir(const std::string& name)
      : path(fs::path("/dev/shm") / fmt::format("ociexec-files-{}-{}", name, ::getpid())) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~ShmDir() { fs::remove_all(path); }
};

void write_text(const fs::path& p, const std::string& data) {
  std::ofstream(p) << data;
}

const sys::TreeEntry* entry(const container::JobFiles& f, const std::string& path) {
  for (const auto& e : f.copy_in)
    if (e.path == path) return &e;
  return nullptr;
}

}  // namespace

TEST_CASE("files plan: paths below the work dir or /tmp, parents made, '..' refused") {
  JobOptions job;
  job.files = {
      {"data.csv", "a,b\n"}, {"in/deep/x.txt", "x"}, {"/work/abs.txt", "y"}, {"/tmp/t.txt", "z"}};
  job.copy_out = {"out/*.txt", "/tmp/log", "."};
  auto plan = core::plan_files(job, 64 * kMiB);
  REQUIRE(plan);
  CHECK(plan->roots == std::vector<std::string>{"/work", "/tmp"});
  REQUIRE(entry(*plan, "in"));
  CHECK(entry(*plan, "in")->kind == sys::TreeEntry::Kind::kDir);
  REQUIRE(entry(*plan, "in/deep/x.txt"));
  CHECK(entry(*plan, "in/deep/x.txt")->mode == 0644);
  REQUIRE(entry(*plan, "abs.txt"));
  CHECK(entry(*plan, "abs.txt")->root == 0);
  REQUIRE(entry(*plan, "t.txt"));
  CHECK(entry(*plan, "t.txt")->root == 1);
  // Parents before their children.
  std::size_t in = 0, leaf = 0;
  for (std::size_t i = 0; i < plan->copy_in.size(); ++i) {
    if (plan->copy_in[i].path == "in") in = i;
    if (plan->copy_in[i].path == "in/deep/x.txt") leaf = i;
  }
  CHECK(in < leaf);
  REQUIRE(plan->copy_out.size() == 3);
  CHECK(plan->copy_out[0].components == std::vector<std::string>{"out", "*.txt"});
  CHECK(plan->copy_out[1].root == 1);
  CHECK(plan->copy_out[2].components.empty());

  struct Bad {
    JobOptions job;
    std::string names;
  };
  auto with_file = [](const std::string& path) {
    JobOptions j;
    j.files = {{path, "x"}};
    return j;
  };
  auto with_out = [](const std::string& pattern) {
    JobOptions j;
    j.copy_out = {pattern};
    return j;
  };
  JobOptions twice;
  twice.files = {{"a", "x"}, {"a/b", "y"}};
  JobOptions too_big;
  too_big.files = {{"big", std::string(2 * kMiB, 'x')}};
  too_big.limits.tmpfs_bytes = kMiB;
  JobOptions relative_source;
  relative_source.copy_in = {{"data", ""}};
  JobOptions missing_source;
  missing_source.copy_in = {{"/nonexistent/ociexec-source", ""}};
  JobOptions zero_cap = with_out("x");
  zero_cap.copy_out_cap = 0;
  JobOptions covered = with_out("/tmp/x");
  covered.mounts = {Mount{Mount::Type::kTmpfs, "", "/tmp", false, kMiB, 01777}};
  const Bad cases[] = {
      {with_file("../escape"), "\"..\" is refused"},
      {with_file("a/../../b"), "\"..\" is refused"},
      {with_file("/etc/passwd"), "under the work dir (/work) or /tmp"},
      {with_file("/work/../etc/x"), "normalized path"},
      {with_file(""), "empty"},
      {with_file("."), "names the work dir or /tmp itself"},
      {with_out("/proc/self/environ"), "under the work dir (/work) or /tmp"},
      {with_out("../*"), "\"..\" is refused"},
      {twice, "is given twice"},
      {too_big, "more than the job's work dir holds (1m"},
      {relative_source, "must be an absolute host path"},
      {missing_source, "No such file or directory; create it or fix the path"},
      {zero_cap, "must be above 0"},
      {covered, "the mount at /tmp covers /tmp"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.names);
    auto r = core::plan_files(c.job, c.job.limits.tmpfs_bytes);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::kInvalidArgument);
    CHECK(r.error().message.find(c.names) != std::string::npos);
  }
  // No files in or out: nothing to open.
  auto none = core::plan_files(JobOptions{}, 64 * kMiB);
  REQUIRE(none);
  CHECK(none->roots.empty());
}

TEST_CASE("files plan: a host directory comes whole, symlinks as links, modes without setuid") {
  ShmDir src("src");
  fs::create_directories(src.path / "sub");
  write_text(src.path / "a.txt", "alpha");
  write_text(src.path / "sub" / "run.sh", "#!/bin/sh\n");
  ::chmod((src.path / "sub" / "run.sh").c_str(), 04755);
  fs::create_symlink("/etc/passwd", src.path / "link");
  JobOptions job;
  job.copy_in = {{src.path, "in"}, {src.path / "a.txt", ""}};
  auto plan = core::plan_files(job, 64 * kMiB);
  REQUIRE(plan);
  REQUIRE(entry(*plan, "in"));
  CHECK(entry(*plan, "in")->kind == sys::TreeEntry::Kind::kDir);
  REQUIRE(entry(*plan, "in/a.txt"));
  CHECK(entry(*plan, "in/a.txt")->data == "alpha");
  REQUIRE(entry(*plan, "in/sub/run.sh"));
  CHECK(entry(*plan, "in/sub/run.sh")->mode == 0755);
  REQUIRE(entry(*plan, "in/link"));
  CHECK(entry(*plan, "in/link")->kind == sys::TreeEntry::Kind::kSymlink);
  CHECK(entry(*plan, "in/link")->data == "/etc/passwd");
  REQUIRE(entry(*plan, "a.txt"));  // no target: its own name in the work dir
  CHECK(entry(*plan, "a.txt")->data == "alpha");

  ::mkfifo((src.path / "fifo").c_str(), 0644);
  auto refused = core::plan_files(job, 64 * kMiB);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("is not a regular file, directory or symlink") !=
        std::string::npos);
}

TEST_CASE("tree writer: entries land owned and moded, never over a file or through a symlink") {
  ShmDir root("write");
  ShmDir tmp("write-tmp");
  JobOptions job;
  job.workdir = root.path.string();
  job.files = {{"in/data.csv", "1,2\n"}, {tmp.path.string() + "/x", "tmp"}};
  // The tmp root is /tmp in a job; here any second tmpfs dir stands in for it.
  job.files.erase(tmp.path.string() + "/x");
  auto plan = core::plan_files(job, 64 * kMiB);
  REQUIRE(plan);
  sys::TreeWriteRequest req;
  req.roots = plan->roots;
  req.entries = plan->copy_in;
  req.uid = ::geteuid();
  req.gid = ::getegid();
  auto fds = sys::write_tree(req);
  REQUIRE(fds);
  REQUIRE(fds->size() == 1);
  auto data = sys::read_file(root.path / "in" / "data.csv");
  REQUIRE(data);
  CHECK(*data == "1,2\n");
  struct stat st {};
  REQUIRE(::stat((root.path / "in" / "data.csv").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
  REQUIRE(::stat((root.path / "in").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);

  // A second write over the same file is refused (O_EXCL), and says where.
  auto again = sys::write_tree(req);
  REQUIRE_FALSE(again);
  CHECK(again.error().err == EEXIST);
  CHECK(again.error().where == root.path.string() + "/in/data.csv");

  // A directory that is a symlink (as a job could leave one) is not followed.
  fs::remove_all(root.path / "in");
  fs::create_symlink(tmp.path, root.path / "in");
  auto through = sys::write_tree(req);
  REQUIRE_FALSE(through);
  CHECK((through.error().err == ELOOP || through.error().err == ENOTDIR));
  CHECK(fs::is_empty(tmp.path));

  // A root that is not a tmpfs is refused when a tmpfs is required.
  sys::TreeWriteRequest disk;
  disk.roots = {fs::temp_directory_path().string()};
  if (sys::on_tmpfs(fs::temp_directory_path()) == false) {
    auto refused = sys::write_tree(disk);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().step == "not a tmpfs");
    CHECK(refused.error().at_root);
  }
}

TEST_CASE(
    "tree reader: globs, directories, caps; symlinks, fifos and '..' give errors, never data") {
  ShmDir root("read");
  fs::create_directories(root.path / "out" / "nested");
  write_text(root.path / "out" / "a.txt", "aaaa");
  write_text(root.path / "out" / "b.txt", "bbbbbbbb");
  write_text(root.path / "out" / ".hidden.txt", "h");
  write_text(root.path / "out" / "nested" / "c.log", "c");
  fs::create_symlink("/etc/passwd", root.path / "out" / "passwd.txt");
  fs::create_symlink("/etc", root.path / "etc");
  ::mkfifo((root.path / "fifo").c_str(), 0644);
  auto fd = sys::open_dir(root.path.string());
  REQUIRE(fd);

  auto read = [&](std::vector<std::string> pattern, std::uint64_t file_cap = kMiB,
                  std::uint64_t total = kMiB) {
    std::vector<sys::TreeFile> out;
    sys::read_tree(fd->get(), pattern, file_cap, total, out);
    std::map<std::string, sys::TreeFile> by_path;
    for (auto& f : out) by_path[f.path] = f;
    return by_path;
  };
  auto txt = read({"out", "*.txt"});
  REQUIRE(txt.size() == 3);  // a, b, and the symlink as an error; .hidden only explicitly
  CHECK(txt["out/a.txt"].data == "aaaa");
  CHECK(txt["out/a.txt"].mode == 0644);
  CHECK(txt["out/b.txt"].error.empty());
  CHECK(txt["out/passwd.txt"].data.empty());
  CHECK(txt["out/passwd.txt"].error.find("symlink") != std::string::npos);

  auto whole = read({"out"});
  CHECK(whole.count("out/nested/c.log") == 1);
  CHECK(whole.count("out/.hidden.txt") == 1);

  auto through = read({"etc", "passwd"});
  REQUIRE(through.size() == 1);
  CHECK(through.begin()->second.data.empty());
  CHECK(through.begin()->second.error.find("symlink") != std::string::npos);

  auto fifo = read({"fifo"});  // would block a reader that opened it plainly
  CHECK(fifo["fifo"].error.find("a fifo") != std::string::npos);

  auto missing = read({"nope.txt"});
  CHECK(missing["nope.txt"].error == "no such file or directory");
  CHECK(read({"*.nope"}).empty());  // a glob that matches nothing names nothing

  // Caps: 3 bytes a file, 5 in all; b.txt (read second) gets the 2 left.
  auto capped = read({"out", "?.txt"}, 3, 5);
  CHECK(capped["out/a.txt"].data == "aaa");
  CHECK(capped["out/a.txt"].truncated);
  CHECK(capped["out/b.txt"].data == "bb");
  CHECK(capped["out/b.txt"].truncated);
}

TEST_CASE("base64: RFC 4648 vectors, both ways, and bad input refused") {
  for (auto [plain, coded] : {std::pair{"", ""},
                              {"f", "Zg=="},
                              {"fo", "Zm8="},
                              {"foo", "Zm9v"},
                              {"foob", "Zm9vYg=="},
                              {"fooba", "Zm9vYmE="},
                              {"foobar", "Zm9vYmFy"}}) {
    CHECK(text::base64_encode(plain) == coded);
    auto back = text::base64_decode(coded);
    REQUIRE(back);
    CHECK(*back == plain);
  }
  CHECK(text::base64_decode("Zm9v\n") == std::optional<std::string>("foo"));
  for (const char* bad : {"Zm9", "Zm=v", "Z===", "Zm9v!A==", "=Zm9"}) {
    CAPTURE(bad);
    CHECK_FALSE(text::base64_decode(bad));
  }
  const std::string bytes("\0\xff\x10z", 4);
  CHECK(text::base64_decode(text::base64_encode(bytes)) == std::optional<std::string>(bytes));
}
