#include <doctest/doctest.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

#include <filesystem>

#include <fstream>
#include "util/text.h"

#include <nlohmann/json.hpp>

#include "cgroup/parsers.h"
#include "fixture.h"
#include "runtime/runtime.h"
#include "runtime/seccomp_cache.h"

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

TEST_CASE("base64 of the seccomp program: RFC 4648 vectors") {
  CHECK(text::base64_encode("").empty());
  CHECK(text::base64_encode("f") == "Zg==");
  CHECK(text::base64_encode("fo") == "Zm8=");
  CHECK(text::base64_encode("foo") == "Zm9v");
  CHECK(text::base64_encode("foob") == "Zm9vYg==");
  CHECK(text::base64_encode("fooba") == "Zm9vYmE=");
  CHECK(text::base64_encode("foobar") == "Zm9vYmFy");
  CHECK(text::base64_encode(std::string("\xff\x00\xfe", 3)) == "/wD+");
}

TEST_CASE("seccomp cache: crun's program replaces the section it was compiled from") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("ociexec-seccomp-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto spec_with = [](const char* errno_ret) {
    return nlohmann::json::parse(std::string(R"({"annotations":{"a":"b"},"linux":{"seccomp":)"
                                             R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":)"
                                             R"([{"names":["bpf"],"action":"SCMP_ACT_ERRNO",)"
                                             R"("errnoRet":)") +
                                 errno_ret + "}]}}}");
  };
  runtime::SeccompCache cache;
  auto first = spec_with("1");
  const auto section = cache.apply(first);
  REQUIRE(section);  // nothing known yet: the spec is unchanged, its section is to be learned
  CHECK(first["linux"].contains("seccomp"));
  CHECK(*section == first["linux"]["seccomp"].dump());

  // What crun leaves is ignored unless it is whole 8-byte BPF instructions.
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir / name, std::ios::binary) << bytes;
    return dir / name;
  };
  cache.learn(*section, dir / "missing.bpf");
  cache.learn(*section, write("odd.bpf", std::string(12, 'x')));
  cache.learn(*section, write("empty.bpf", ""));
  auto still = spec_with("1");
  CHECK(cache.apply(still));

  const std::string program("\x20\x00\x00\x00\x04\x00\x00\x00\x06\x00\x00\x00\x00\x00\xff\x7f", 16);
  CHECK_FALSE(cache.probe_due());
  cache.learn(*section, write("seccomp.bpf", program));
  // Known, but not used until a probe showed that this crun loads the annotation.
  CHECK(cache.probe_due());
  auto unproven = spec_with("1");
  CHECK(cache.apply(unproven));
  CHECK(unproven["linux"].contains("seccomp"));
  cache.set_support(runtime::AnnotationSupport::kIgnored);
  CHECK_FALSE(cache.probe_due());
  CHECK(cache.apply(unproven));
  cache.set_support(runtime::AnnotationSupport::kHonoured);
  auto second = spec_with("1");
  CHECK_FALSE(cache.apply(second));
  CHECK_FALSE(second["linux"].contains("seccomp"));
  CHECK(second["annotations"]["a"] == "b");
  CHECK(second["annotations"][runtime::kSeccompBpfAnnotation] == text::base64_encode(program));

  // Another section (another errno) is not the same filter.
  auto other = spec_with("38");
  CHECK(cache.apply(other));
  CHECK(other["linux"].contains("seccomp"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("seccomp cache: kept on disk per crun binary for the next executor") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("ociexec-seccomp-disk-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto spec_with = [](const char* errno_ret) {
    return nlohmann::json::parse(std::string(R"({"linux":{"seccomp":{"defaultAction":)"
                                             R"("SCMP_ACT_ERRNO","errnoRet":)") +
                                 errno_ret + "}}}");
  };
  const std::string program("\x06\x00\x00\x00\x00\x00\xff\x7f", 8);
  {
    runtime::SeccompCache first(dir, "/usr/bin/crun 1 2 3.4");
    auto spec = spec_with("1");
    const auto section = first.apply(spec);
    REQUIRE(section);
    std::filesystem::create_directories(dir / "crun-state");
    std::ofstream(dir / "crun-state" / "seccomp.bpf", std::ios::binary) << program;
    first.learn(*section, dir / "crun-state" / "seccomp.bpf");
  }
  {
    // Learned by an executor that is gone: a new one probes before it uses it.
    runtime::SeccompCache second(dir, "/usr/bin/crun 1 2 3.4");
    CHECK(second.probe_due());
    auto spec = spec_with("1");
    CHECK(second.apply(spec));
    second.set_support(runtime::AnnotationSupport::kHonoured);
  }
  {
    // Learned and probed: the next executor's first job uses it, with no probe.
    runtime::SeccompCache third(dir, "/usr/bin/crun 1 2 3.4");
    CHECK_FALSE(third.probe_due());
    CHECK(third.support() == runtime::AnnotationSupport::kHonoured);
    auto spec = spec_with("1");
    CHECK_FALSE(third.apply(spec));
    CHECK(spec["annotations"][runtime::kSeccompBpfAnnotation] == text::base64_encode(program));
    auto other = spec_with("38");  // another section: compiled by crun
    CHECK(third.apply(other));
  }
  {
    // Another binary (crun upgraded): nothing of the old one is used.
    runtime::SeccompCache upgraded(dir, "/usr/bin/crun 1 2 9.9");
    CHECK(upgraded.support() == runtime::AnnotationSupport::kUnknown);
    CHECK_FALSE(upgraded.probe_due());
    upgraded.set_support(runtime::AnnotationSupport::kHonoured);
    auto spec = spec_with("1");
    CHECK(spec["linux"].contains("seccomp"));
    CHECK(upgraded.apply(spec));
  }
  // A program file whose section is not the one asked for (damaged, or a name collision) is
  // never used.
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.path().extension() == ".bpf" && e.path().parent_path().filename() != "crun-state")
      std::ofstream(e.path(), std::ios::binary)
          << "/usr/bin/crun 1 2 3.4\n{\"defaultAction\":\"SCMP_ACT_ALLOW\"}" << '\0' << program;
  runtime::SeccompCache damaged(dir, "/usr/bin/crun 1 2 3.4");
  auto spec = spec_with("1");
  CHECK(damaged.apply(spec));
  std::filesystem::remove_all(dir);
}

TEST_CASE("seccomp probe program: execve and execveat fail with EDOM, the rest is allowed") {
  const std::string program = runtime::seccomp_probe_program();
  REQUIRE(program.size() % sizeof(sock_filter) == 0);
  std::vector<sock_filter> insns(program.size() / sizeof(sock_filter));
  std::memcpy(insns.data(), program.data(), program.size());
  // Interpreted here, for the syscall numbers that matter.
  auto verdict = [&](std::uint32_t nr) {
    std::uint32_t acc = 0;
    for (std::size_t pc = 0; pc < insns.size();) {
      const auto& i = insns[pc];
      if (i.code == (BPF_LD | BPF_W | BPF_ABS)) {
        REQUIRE(i.k == offsetof(seccomp_data, nr));
        acc = nr;
        ++pc;
      } else if (i.code == (BPF_JMP | BPF_JEQ | BPF_K)) {
        pc += 1 + (acc == i.k ? i.jt : i.jf);
      } else {
        REQUIRE(i.code == (BPF_RET | BPF_K));
        return i.k;
      }
    }
    FAIL("the program fell off its end");
    return 0U;
  };
  CHECK(verdict(SYS_execve) == (SECCOMP_RET_ERRNO | EDOM));
  CHECK(verdict(SYS_execveat) == (SECCOMP_RET_ERRNO | EDOM));
  CHECK(verdict(SYS_write) == SECCOMP_RET_ALLOW);
  CHECK(verdict(SYS_exit_group) == SECCOMP_RET_ALLOW);
}
