// Mounts: podman's texts parsed (config/mount_specs.h), and a job's mounts checked against
// each other, the host and its root (core/mounts.h), on temporary directories.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "config/mount_specs.h"
#include "core/mounts.h"

using namespace ociexec;
namespace fs = std::filesystem;

TEST_CASE("mount texts: -v, --mount and --tmpfs as podman writes them") {
  auto v = config::parse_volume("/srv/data:/data:ro");
  REQUIRE(v);
  CHECK(v->type == Mount::Type::kBind);
  CHECK(v->source == "/srv/data");
  CHECK(v->target == "/data");
  CHECK(v->readonly);
  auto rw = config::parse_volume("/srv:/srv");
  REQUIRE(rw);
  CHECK_FALSE(rw->readonly);
  auto m = config::parse_mount("type=bind,src=/a,dst=/b,readonly");
  REQUIRE(m);
  CHECK((m->source == "/a" && m->target == "/b" && m->readonly));
  auto off = config::parse_mount("type=bind,source=/a,target=/b,readonly=false");
  REQUIRE(off);
  CHECK_FALSE(off->readonly);
  auto t = config::parse_mount("type=tmpfs,target=/scratch,tmpfs-size=8m,tmpfs-mode=700");
  REQUIRE(t);
  CHECK(t->type == Mount::Type::kTmpfs);
  CHECK(t->tmpfs_bytes == 8 * kMiB);
  CHECK(t->tmpfs_mode == 0700);
  auto f = config::parse_tmpfs("/cache:size=2m,mode=1770");
  REQUIRE(f);
  CHECK((f->target == "/cache" && f->tmpfs_bytes == 2 * kMiB && f->tmpfs_mode == 01770));
  auto plain = config::parse_tmpfs("/cache");
  REQUIRE(plain);
  CHECK_FALSE(plain->tmpfs_bytes);
  CHECK(plain->tmpfs_mode == 01777);

  const std::pair<Expected<Mount> (*)(std::string_view), const char*> bad[] = {
      {config::parse_volume, "data:/data"},          // a named volume
      {config::parse_volume, "/a"},                  // no target
      {config::parse_volume, "/a:/b:z"},             // SELinux relabel
      {config::parse_mount, "source=/a,target=/b"},  // no type
      {config::parse_mount, "type=volume,target=/b"},
      {config::parse_mount, "type=bind,target=/b"},
      {config::parse_mount, "type=bind,source=/a"},
      {config::parse_mount, "type=bind,source=/a,target=/b,bind-propagation=shared"},
      {config::parse_mount, "type=bind,source=/a,target=/b,readonly=maybe"},
      {config::parse_mount, "type=tmpfs,source=/a,target=/b"},
      {config::parse_mount, "type=bind,source=/a,target=/b,tmpfs-size=1m"},
      {config::parse_mount, "type=tmpfs,target=/b,tmpfs-mode=999"},
      {config::parse_tmpfs, "/t:size=lots"},
      {config::parse_tmpfs, "/t:noexec"},
      {config::parse_tmpfs, ":size=1m"},
  };
  for (auto [parse, text] : bad) {
    CAPTURE(text);
    auto r = parse(text);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::kInvalidArgument);
    CHECK(r.error().message.find('\n') == std::string::npos);
  }
  CHECK(config::parse_volume("/a:/b:z").error().message.find("option \"z\" is not supported") !=
        std::string::npos);
  CHECK(config::parse_volume("data:/data").error().message.find("no named volumes") !=
        std::string::npos);
}

TEST_CASE("a YAML config takes volume, mount and tmpfs as blank-separated texts") {
  auto c = config::parse_config(
      "volume: /a:/x:ro /b:/y\nmount: type=tmpfs,target=/z\ntmpfs: /w:size=2m\n", "t.yaml");
  REQUIRE(c);
  REQUIRE(c->job.mounts.size() == 4);
  CHECK(c->job.mounts[0].target == "/x");
  CHECK(c->job.mounts[1].source == "/b");
  CHECK(c->job.mounts[2].type == Mount::Type::kTmpfs);
  CHECK(c->job.mounts[3].tmpfs_bytes == 2 * kMiB);
  auto bad = config::parse_config("volume: rel:/x\n", "t.yaml");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("t.yaml:1:9: volume:") == 0);
}

namespace {

// A root of `root_dirs` and a read-only bind of a host directory holding `bound_dirs` at /usr.
struct Tree {
  fs::path dir;
  image::RootfsPlan root;
  explicit Tree(std::initializer_list<const char*> root_dirs = {"mnt"},
                std::initializer_list<const char*> bound_dirs = {"share"}) {
    dir = fs::temp_directory_path() / ("ociexec-mounts-test-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    for (auto d : root_dirs) fs::create_directories(dir / "rootfs" / d);
    for (auto d : bound_dirs) fs::create_directories(dir / "usr" / d);
    fs::create_directories(dir / "data" / "sub");
    std::ofstream(dir / "data" / "file") << "x";
    root.root_path = (dir / "rootfs").string();
    root.readonly_binds = {{(dir / "usr").string(), "/usr"}};
  }
  ~Tree() { fs::remove_all(dir); }
  [[nodiscard]] std::string data() const { return (dir / "data").string(); }
};

core::HostFacts mounts_host() {
  core::HostFacts h;
  h.memory_bytes = 24ULL << 30;
  return h;
}

Mount bind_mount(std::string source, std::string target, bool ro = false) {
  return {Mount::Type::kBind, std::move(source), std::move(target), ro, std::nullopt, 01777};
}

Mount tmpfs_mount(std::string target, std::optional<std::uint64_t> bytes = std::nullopt) {
  return {Mount::Type::kTmpfs, "", std::move(target), false, bytes, 01777};
}

std::string mount_error(const JobOptions& job, const Tree& t, bool root_writable = false) {
  auto r = core::checked_mounts(job, mounts_host(), t.root, root_writable);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::kInvalidArgument);
  return r.error().message;
}

}  // namespace

TEST_CASE("mounts: targets that exist, or under the job's tmpfs, pass; a tmpfs gets its size") {
  Tree t;
  JobOptions job;
  job.mounts = {bind_mount(t.data(), "/mnt", true), bind_mount(t.data() + "/file", "/work/in.txt"),
                tmpfs_mount("/tmp/scratch"), bind_mount(t.data(), "/usr/share"), bind_mount(t.data(), "/mnt/sub"),
                tmpfs_mount("/mnt/sub/deeper/cache", 2 * kMiB)};
  // /mnt/sub exists in the bound host dir (data/sub), /mnt/sub/deeper/cache does not and is
  // not under a tmpfs: refused. Without that last one, every mount passes.
  CHECK(mount_error(job, t).find("the host directory mounted at /mnt/sub") != std::string::npos);
  job.mounts.pop_back();
  auto ok = core::checked_mounts(job, mounts_host(), t.root, false);
  REQUIRE(ok);
  REQUIRE(ok->size() == 5);
  CHECK((*ok)[2].tmpfs_bytes == job.limits.tmpfs_bytes);
  // Under a tmpfs of the job's, any depth is fine.
  job.mounts = {tmpfs_mount("/mnt"), tmpfs_mount("/mnt/a/b/c")};
  CHECK(core::checked_mounts(job, mounts_host(), t.root, false));
}

TEST_CASE("mounts: bad targets and sources are refused with what to do instead") {
  Tree t;
  JobOptions job;
  auto refused = [&](Mount m, bool root_writable = false) {
    job.mounts = {std::move(m)};
    return mount_error(job, t, root_writable);
  };
  CHECK(refused(bind_mount(t.data(), "data")).find("normalized absolute path") != std::string::npos);
  CHECK(refused(bind_mount(t.data(), "/mnt/../etc")).find("normalized absolute") != std::string::npos);
  CHECK(refused(bind_mount(t.data(), "/")).find("cannot cover the job's root") != std::string::npos);
  for (const char* reserved : {"/proc", "/sys/fs", "/dev", "/.ociexec/script"})
    CHECK(refused(bind_mount(t.data(), reserved)).find("is the executor's") != std::string::npos);
  CHECK(refused(bind_mount("relative", "/mnt")).find("absolute host path") != std::string::npos);
  CHECK(refused(bind_mount(t.data() + "/missing", "/mnt")).find("No such file or directory; create it") !=
        std::string::npos);
  CHECK(refused(bind_mount("/dev/null", "/mnt")).find("neither a directory nor a regular file") !=
        std::string::npos);
  CHECK(refused(tmpfs_mount("/mnt", 1024)).find("size 1k: the range is 1m") != std::string::npos);
  // The root is read-only and shared: no mount point may be made in it, nor in /usr's host
  // directory; an image's own overlay may get one.
  CHECK(refused(bind_mount(t.data(), "/srv")).find("does not exist in the job's read-only root") !=
        std::string::npos);
  CHECK(refused(bind_mount(t.data(), "/usr/local")).find("the host directory mounted at /usr") !=
        std::string::npos);
  job.mounts = {bind_mount(t.data(), "/srv")};
  CHECK(core::checked_mounts(job, mounts_host(), t.root, true));
  job.mounts = {bind_mount(t.data(), "/mnt"), tmpfs_mount("/mnt")};
  CHECK(mount_error(job, t).find("/mnt is mounted twice") != std::string::npos);
}
