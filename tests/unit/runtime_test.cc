#include <doctest/doctest.h>

#include "cgroup/parsers.h"
#include "fixture.h"
#include "runtime/runtime.h"

using namespace ociexec;

TEST_CASE("runtime argv: private root, JSON log, then the command") {
  runtime::Invocation inv{"/usr/sbin/runc", "/run/ociexec/runtime/runc", "/b/runtime.log"};
  CHECK(runtime::create_argv(inv, "/b", "/b/init.pid", "id1") ==
        std::vector<std::string>{"/usr/sbin/runc", "--root", "/run/ociexec/runtime/runc", "--log",
                                 "/b/runtime.log", "--log-format", "json", "create", "--bundle",
                                 "/b", "--pid-file", "/b/init.pid", "id1"});
  auto del = runtime::delete_argv(inv, "id1");
  CHECK(std::vector<std::string>(del.end() - 3, del.end()) ==
        std::vector<std::string>{"delete", "--force", "id1"});
  auto start = runtime::start_argv(inv, "id1");
  CHECK(start.back() == "id1");
}

TEST_CASE("versions of runc and crun parse") {
  CHECK(runtime::parse_version("runc version 1.1.5+ds1\ncommit: x\nspec: 1.0.2-dev\n") ==
        "1.1.5+ds1");
  CHECK(runtime::parse_version("crun version 1.8.1\ncommit: f8a0\n+SYSTEMD +SELINUX\n") == "1.8.1");
  CHECK(runtime::parse_version("nonsense").empty());
}

TEST_CASE("the runtime's own error text comes from its JSON log") {
  auto text = runtime::error_text(fixture("runtime/runc-create-failed.log"), "ignored");
  CHECK(text.find("stat /nonexistent: no such file or directory") != std::string::npos);
  CHECK(runtime::error_text("", "line one\ncgroups in hybrid mode not supported\n") ==
        "cgroups in hybrid mode not supported");
}

TEST_CASE("create failures are classified as not found, not executable or runtime errors") {
  CHECK(runtime::classify_create_failure(runtime::error_text(
            fixture("runtime/runc-create-failed.log"), "")) == ErrorKind::kCommandNotFound);
  CHECK(runtime::classify_create_failure(
            "executable file `/x` not found in $PATH: No such file or directory") ==
        ErrorKind::kCommandNotFound);
  CHECK(runtime::classify_create_failure("exec: \"/etc/passwd\": permission denied") ==
        ErrorKind::kCommandNotExecutable);
  CHECK(runtime::classify_create_failure("unable to apply cgroup configuration") ==
        ErrorKind::kRuntimeFailed);
}

TEST_CASE("crun is refused on a hybrid host with controllers on the cgroup2 mount only") {
  auto hybrid =
      cgroup::layout_from_mounts(sys::parse_mountinfo(fixture("mountinfo/hybrid")), "hugetlb");
  auto why = runtime::crun_refusal(hybrid);
  REQUIRE(why);
  CHECK(why->find("hugetlb") != std::string::npos);
  CHECK(why->find("/sys/fs/cgroup/unified") != std::string::npos);
  auto empty = cgroup::layout_from_mounts(sys::parse_mountinfo(fixture("mountinfo/hybrid")), "");
  CHECK_FALSE(runtime::crun_refusal(empty));
  auto v2 =
      cgroup::layout_from_mounts(sys::parse_mountinfo(fixture("mountinfo/v2")), "memory pids");
  CHECK_FALSE(runtime::crun_refusal(v2));
}
