// What executors share: the cgroup parent and the state dir. Each is kept while an executor
// lives (jobs do not re-create it), removed by the last executor out, and by gc after an
// executor was killed.
#include <sys/stat.h>
#include <unistd.h>

#include <optional>

#include "cgroup/cgroup.h"
#include "harness.h"
#include "sys/fs.h"

using namespace ociexec::test;
namespace fs = std::filesystem;

namespace {

// How many hierarchies have the parent's directory.
std::size_t parent_dirs(const std::string& parent) {
  auto layout = ociexec::cgroup::detect_layout();
  REQUIRE(layout);
  std::size_t n = 0;
  for (const auto& h : layout->hierarchies) n += fs::is_directory(fs::path(h.mount_point) / parent);
  return n;
}

// Where the memory controller is (v1's memory hierarchy, or the v2 tree): runc and crun both
// make job cgroups there, while other hierarchies differ (crun skips the cgroup2 mount of a
// hybrid host).
bool kept(const std::string& parent) {
  auto layout = ociexec::cgroup::detect_layout();
  REQUIRE(layout);
  const auto* h = layout->find_v1("memory");
  if (!h) h = layout->find_v2();
  REQUIRE(h);
  return fs::is_directory(fs::path(h->mount_point) / parent);
}

ociexec::Executor executor_with_parent(const std::string& parent) {
  return executor_with([&](ociexec::ExecutorOptions& o) { o.cgroup_parent = parent; });
}

}  // namespace

TEST_CASE("the cgroup parent lives as long as its executors; the last one out removes it") {
  LeakCheck leaks;
  const std::string parent = fmt::format("ociexec-test-{}-shared", ::getpid());
  std::optional<ociexec::Executor> a(executor_with_parent(parent));
  std::optional<ociexec::Executor> b(executor_with_parent(parent));
  CHECK(parent_dirs(parent) == 0);  // no job yet: nothing created

  for (int i = 0; i < 2; ++i) {
    auto r = a->run("true\n", job());
    REQUIRE(r);
    CHECK(r->exit_code == 0);
    CHECK(kept(parent));  // between jobs
  }
  auto r = b->run("true\n", job());
  REQUIRE(r);
  a.reset();
  CHECK_MESSAGE(kept(parent), "removed while b still holds it");
  b.reset();
  CHECK_MESSAGE(parent_dirs(parent) == 0, "the last executor out left the parent behind");
  leaks.check();
}

TEST_CASE("gc removes the parent a killed executor left, and never one in use") {
  LeakCheck leaks;
  const std::string parent = fmt::format("ociexec-test-{}-killed", ::getpid());
  auto layout = ociexec::cgroup::detect_layout();
  REQUIRE(layout);
  // What a killed executor leaves: the parent's directories, with no job in them.
  for (const auto& h : layout->hierarchies)
    REQUIRE(::mkdir((fs::path(h.mount_point) / parent).c_str(), 0755) == 0);

  {
    auto live = executor_with_parent(parent);  // gc on start: nobody holds it
    CHECK(parent_dirs(parent) == 0);
    REQUIRE(live.run("true\n", job()));
    CHECK(kept(parent));
    auto gc = executor_with_parent(parent).collect_garbage();  // another executor's gc
    CHECK(gc.errors.empty());
    CHECK_MESSAGE(kept(parent), "gc removed a parent in use");
  }
  CHECK(parent_dirs(parent) == 0);
  leaks.check();
}

namespace {

ociexec::Executor executor_on(const fs::path& state, const fs::path& cache, bool gc = true) {
  return executor_with([&](ociexec::ExecutorOptions& o) {
    o.state_dir = state;
    o.cache_dir = cache;
    o.pool_size = 0;
    o.collect_garbage_on_start = gc;
  });
}

}  // namespace

TEST_CASE("the state dir lives as long as its executors; the last one out removes it") {
  LeakCheck leaks;
  const fs::path state = Env::get().state_dir / fmt::format("state-{}", ::getpid());
  const fs::path cache = Env::get().state_dir / fmt::format("cache-{}", ::getpid());
  {
    std::optional<ociexec::Executor> a(executor_on(state, cache));
    std::optional<ociexec::Executor> b(executor_on(state, cache));
    auto host_view_job = job();
    host_view_job.rootfs.reset();
    auto r = a->run("true\n", host_view_job);
    REQUIRE(r);
    CHECK(r->exit_code == 0);
    CHECK(fs::is_directory(state / "bundles"));
    a.reset();
    CHECK_MESSAGE(fs::is_directory(state / "bundles"), "removed while b still holds it");
    REQUIRE(b->run("true\n", job()));
  }
  CHECK_MESSAGE(!fs::exists(state), "the last executor out left the state dir behind");
  // The caches stay for the next executor: the built-in rootfs skeleton and the runtime's
  // version, in the cache dir.
  CHECK(fs::is_directory(cache / "hostview-4" / "rootfs"));
  CHECK(fs::exists(cache / (Env::get().runtime + ".version")));
  fs::remove_all(cache);
  leaks.check();
}

TEST_CASE("a killed executor's leftovers keep the state dir until gc removes them") {
  LeakCheck leaks;
  const fs::path state = Env::get().state_dir / fmt::format("state-killed-{}", ::getpid());
  const fs::path cache = Env::get().state_dir / fmt::format("cache-killed-{}", ::getpid());
  // What a killed executor leaves (pid 999999: no such process), and what versions up to
  // 0.1.0 cached in the state dir.
  const fs::path leftover = state / "bundles" / "ociexec-999999-1-0";
  REQUIRE(ociexec::sys::make_dirs(leftover, 0700));
  REQUIRE(ociexec::sys::make_dirs(state / "hostview-2" / "rootfs", 0700));
  REQUIRE(ociexec::sys::make_dirs(state / "runtime", 0700));
  REQUIRE(ociexec::sys::write_new_file(state / "runtime" / "runc.version", "x\n1.1\n", 0600));
  { auto no_gc = executor_on(state, cache, false); }
  CHECK_MESSAGE(fs::is_directory(leftover), "a leftover was removed without gc");
  { auto with_gc = executor_on(state, cache); }
  CHECK_MESSAGE(!fs::exists(state), "gc's executor left the state dir behind");
  fs::remove_all(cache);
  leaks.check();
}
