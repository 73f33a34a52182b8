#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "bundle/owner.h"
#include "fixture.h"
#include "sys/fork.h"
#include "sys/fs.h"
#include "sys/proc.h"
#include "sys/process.h"
#include "sys/sealed_exe.h"
#include "sys/unique_fd.h"

using namespace ociexec;

TEST_CASE("stat parsing survives a command name with spaces and parentheses") {
  std::string stat =
      "4242 (evil) name (x) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
      "987654 1000 100 18446744073709551615\n";
  CHECK(sys::parse_stat_ppid(stat) == 17);
  CHECK(sys::parse_stat_start_time(stat) == 987654);
  CHECK(sys::parse_stat_start_time("garbage") == std::nullopt);
}

TEST_CASE("this process is alive under its own start time, not another") {
  auto st = sys::process_start_time(::getpid());
  REQUIRE(st);
  CHECK(sys::process_alive(::getpid(), *st));
  CHECK_FALSE(sys::process_alive(::getpid(), *st + 1));
}

TEST_CASE("mountinfo unescapes mount points and finds mounts below a path") {
  auto mounts = sys::parse_mountinfo(fixture("mountinfo/hybrid"));
  REQUIRE(mounts.size() == 8);
  CHECK(mounts.back().mount_point == "/run/my dir");
  CHECK(mounts[2].fs_type == "cgroup2");
  auto below = sys::mount_points_below(mounts, "/sys/fs/cgroup/");
  CHECK(below.size() == 6);
  CHECK(sys::mount_points_below(mounts, "/sys/fs/cg").empty());
}

TEST_CASE("a memfd holds stdin bytes from offset 0") {
  auto fd = sys::make_memfd("test", "hello\n");
  REQUIRE(fd);
  CHECK(sys::read_all(fd->get()) == std::string("hello\n"));
}

TEST_CASE("container ids name their owner, and foreign ids are ignored") {
  auto id = bundle::new_container_id();
  auto owner = bundle::owner_of(id);
  REQUIRE(owner);
  CHECK(*owner == bundle::Owner::self());
  CHECK(owner->alive());
  CHECK(bundle::new_container_id() != id);
  CHECK_FALSE(bundle::owner_of("mycontainer"));
  CHECK_FALSE(bundle::owner_of("ociexec-12-x-3"));
  CHECK_FALSE(bundle::owner_of("ociexec-12-34"));
  auto dead = bundle::owner_of("ociexec-999999999-1-0");
  REQUIRE(dead);
  CHECK_FALSE(dead->alive());
}

TEST_CASE("remove_known_tree removes exactly what it was told, and reports anything else") {
  char tmpl[] = "/tmp/ociexec-known-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl);
  std::filesystem::create_directory(dir / "sub");
  std::ofstream(dir / "a") << "x";
  std::ofstream(dir / "sub" / "b") << "y";
  auto all = sys::remove_known_tree(dir, {"a", "sub/b", "sub/"});
  REQUIRE(all);
  CHECK(*all);
  CHECK_FALSE(std::filesystem::exists(dir));

  std::filesystem::create_directory(dir);
  std::ofstream(dir / "a") << "x";
  std::ofstream(dir / "stranger") << "z";
  auto partial = sys::remove_known_tree(dir, {"a"});
  REQUIRE(partial);
  CHECK_FALSE(*partial);
  CHECK(std::filesystem::exists(dir / "stranger"));  // left for the caller's fallback
  std::filesystem::remove_all(dir);
}

TEST_CASE("remove_tree removes a tree of any depth with a few fds, and follows no symlink") {
  char tmpl[] = "/tmp/ociexec-deep-XXXXXX";
  const std::filesystem::path root = ::mkdtemp(tmpl);
  char outside_tmpl[] = "/tmp/ociexec-outside-XXXXXX";
  const std::filesystem::path outside = ::mkdtemp(outside_tmpl);
  std::ofstream(outside / "keep") << "k";
  // 3000 levels (far past PATH_MAX as one path), a file and a symlink out at each level.
  constexpr int kDepth = 3000;
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  for (int i = 0; i < kDepth; ++i) {
    REQUIRE(::mkdirat(fd, "d", 0755) == 0);
    int file = ::openat(fd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    REQUIRE(file >= 0);
    ::close(file);
    REQUIRE(::symlinkat(outside.c_str(), fd, "out") == 0);
    int sub = ::openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(sub >= 0);
    ::close(fd);
    fd = sub;
  }
  ::close(fd);
  // A low fd limit: one fd per level would run out long before the bottom.
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
  rlimit low = old;
  low.rlim_cur = 64;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  auto removed = sys::remove_tree(root);
  ::setrlimit(RLIMIT_NOFILE, &old);
  REQUIRE_MESSAGE(removed, (removed ? "" : removed.error().message));
  CHECK_FALSE(std::filesystem::exists(root));
  CHECK(std::filesystem::exists(outside / "keep"));  // the symlinks were removed, not followed
  std::filesystem::remove_all(outside);
  // A plain file and a missing path.
  std::ofstream(root.string() + ".file") << "x";
  CHECK(sys::remove_tree(root.string() + ".file"));
  CHECK_FALSE(std::filesystem::exists(root.string() + ".file"));
  CHECK(sys::remove_tree(root));
}

TEST_CASE("a sealed copy of an executable runs, and cannot be changed") {
  auto exe = sys::sealed_executable_copy("/bin/echo");
  REQUIRE(exe);
  // The seals runc and crun check before they skip copying themselves.
  CHECK(::fcntl(exe->get(), F_GET_SEALS) ==
        (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE));
  CHECK(::write(exe->get(), "x", 1) == -1);
  CHECK((::fcntl(exe->get(), F_GETFD) & FD_CLOEXEC) != 0);
  // Spawned through the fd: argv[0] is only a name, and fds 0-2 are set up as usual.
  auto out =
      sys::run_command({"not-a-path", "sealed", "copy"}, std::chrono::seconds(10), {}, *exe);
  REQUIRE(out);
  CHECK(out->status.code == 0);
  CHECK(out->output == "sealed copy\n");
}

TEST_CASE("a script or a missing file gets no sealed copy") {
  const auto script = std::filesystem::temp_directory_path() /
                      ("ociexec-sealed-test-" + std::to_string(::getpid()));
  std::ofstream(script) << "#!/bin/sh\necho hi\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  auto copy = sys::sealed_executable_copy(script.string());
  REQUIRE_FALSE(copy);
  CHECK(copy.error().message.find("not an ELF executable") != std::string::npos);
  std::filesystem::remove(script);
  auto missing = sys::sealed_executable_copy("/nonexistent/crun");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("/nonexistent/crun") != std::string::npos);
}

TEST_CASE("after fork(), the child has its own owner identity, ids, and no abandoned ids") {
  const auto parent = bundle::Owner::self();
  bundle::mark_abandoned(bundle::new_container_id());
  int report[2];
  REQUIRE(::pipe(report) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const auto& me = bundle::Owner::self();
    const std::string id = bundle::new_container_id();
    const bool ok = me.pid == ::getpid() && !(me == parent) &&
                    id.rfind(fmt::format("ociexec-{}-", ::getpid()), 0) == 0 &&
                    bundle::owner_of(id) == me && !bundle::orphaned(id) &&
                    sys::fork_generation() > 0;
    (void)!::write(report[1], ok ? "y" : "n", 1);
    ::_exit(0);
  }
  ::close(report[1]);
  char said = 0;
  CHECK(::read(report[0], &said, 1) == 1);
  ::close(report[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(said == 'y');
  CHECK(bundle::Owner::self() == parent);  // the parent is unchanged
}

TEST_CASE("abandoned ids of this process are gc's to remove; others' only once their owner died") {
  const std::string id = bundle::new_container_id();
  CHECK_FALSE(bundle::orphaned(id));
  bundle::mark_abandoned(id);
  CHECK(bundle::orphaned(id));
  bundle::forget_abandoned(id);
  CHECK_FALSE(bundle::orphaned(id));
  CHECK(bundle::orphaned("ociexec-999999999-1-0"));
  CHECK_FALSE(bundle::orphaned("someone-elses"));
}
