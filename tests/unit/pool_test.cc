// The warm pool's pure parts: the job file the init reads (and the warm Python loader reads),
// its PATH search, which commands get a warm interpreter, and the cgroup writes that give a
// pooled container a job's limits.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

#include "cgroup/limits.h"
#include "pool/job_file.h"
#include "pool/warm.h"
#include "sys/fs.h"
#include "sys/process.h"

using namespace ociexec;

TEST_CASE("job file: what is encoded decodes the same, bytes included") {
  pool::JobSpec job{{"/bin/sh", "-c", "echo 'a b'\tc", ""}, {"PATH=/bin", "X=\xff\x01", "EMPTY="},
                    "/work"};
  auto text = pool::encode_job(job);
  REQUIRE(text);
  auto back = pool::decode_job(*text);
  REQUIRE(back);
  CHECK(back->argv == job.argv);
  CHECK(back->env == job.env);
  CHECK(back->cwd == "/work");
  CHECK_FALSE(back->init);
  job.init = true;
  auto with_init = pool::decode_job(*pool::encode_job(job));
  REQUIRE(with_init);
  CHECK(with_init->init);
  CHECK(with_init->argv == job.argv);
}

TEST_CASE("job file: NUL bytes, an empty argv and damaged files are refused") {
  CHECK_FALSE(pool::encode_job({{std::string("a\0b", 3)}, {}, "/"}));
  CHECK_FALSE(pool::encode_job({{}, {}, "/"}));
  auto text = *pool::encode_job({{"/bin/true"}, {"A=1"}, "/"});
  CHECK_FALSE(pool::decode_job(""));
  CHECK_FALSE(pool::decode_job(text.substr(0, text.size() - 1)));  // truncated
  CHECK_FALSE(pool::decode_job(text + "x"));                        // trailing bytes
  std::string other_version = text;
  other_version[12] = '1';
  CHECK_FALSE(pool::decode_job(other_version));
  std::string huge_count = text;
  huge_count.replace(huge_count.find('1'), 1, "99999999");
  CHECK_FALSE(pool::decode_job(huge_count));
}

TEST_CASE("job file: the init searches PATH as execvp does") {
  auto only = [](std::string wanted) { return [wanted](const std::string& p) { return p == wanted; }; };
  CHECK(pool::search_path("python3", "/usr/local/bin:/usr/bin", only("/usr/bin/python3")) ==
        "/usr/bin/python3");
  CHECK(pool::search_path("/abs/x", "/bin", only("")) == "/abs/x");  // a path is used as is
  CHECK(pool::search_path("rel/x", "/bin", only("")) == "rel/x");
  CHECK_FALSE(pool::search_path("nope", "/bin:/usr/bin", only("/sbin/nope")));
  CHECK(pool::search_path("x", ":/bin", only("./x")) == "./x");  // empty entry: the cwd
}

TEST_CASE("warm interpreters: only Python 3 named by its path, followed by the script") {
  const std::string script = "/.ociexec/script";
  CHECK(pool::warm_interpreter({"/usr/bin/python3", script}) == "/usr/bin/python3");
  CHECK(pool::warm_interpreter({"/usr/bin/python3", script, "arg"}) == "/usr/bin/python3");
  CHECK(pool::warm_interpreter({"/opt/py/bin/python3.12", script}) == "/opt/py/bin/python3.12");
  CHECK_FALSE(pool::warm_interpreter({"python3", script}));                 // found on PATH
  CHECK_FALSE(pool::warm_interpreter({"/usr/bin/python3", "-u", script}));  // an option
  CHECK_FALSE(pool::warm_interpreter({"/usr/bin/env", "python3", script}));
  CHECK_FALSE(pool::warm_interpreter({"/usr/bin/python3-config", script}));
  CHECK_FALSE(pool::warm_interpreter({"/usr/bin/python3.", script}));
  CHECK_FALSE(pool::warm_interpreter({"/usr/bin/python2", script}));
  CHECK_FALSE(pool::warm_interpreter({"/bin/sh", script}));
  CHECK_FALSE(pool::warm_interpreter({"/usr/bin/python3"}));
}

TEST_CASE("warm interpreters: the loader reads the job file as the init does, bytes included") {
  auto python = sys::find_executable("python3");
  REQUIRE_MESSAGE(python, "python3 not found: run scripts/install-deps.sh");
  namespace fs = std::filesystem;
  std::string dir_template = (fs::temp_directory_path() / "ociexec-warm-XXXXXX").string();
  REQUIRE(::mkdtemp(dir_template.data()));
  const fs::path dir = dir_template;
  pool::JobSpec job{{"/usr/bin/python3", "/.ociexec/script", "a b", "", "\xc3\xa9"},
                    {"PATH=/bin", "X=\xff\x01=2", "EMPTY="},
                    "/work dir"};
  REQUIRE(sys::write_new_file(dir / "job", *pool::encode_job(job)));
  REQUIRE(sys::write_new_file(dir / "warm.py", pool::warm_python_loader()));
  REQUIRE(sys::write_new_file(dir / "check.py",
                              "import sys\n"
                              "sys.path.insert(0, sys.argv[1])\n"
                              "import warm\n"
                              "argv, env, cwd, init = warm._read_job(sys.argv[1] + '/job')\n"
                              "print(argv, warm._env_pairs(env), cwd, init)\n"));
  auto out = sys::run_command({*python, "-B", (dir / "check.py").string(), dir.string()},
                              std::chrono::seconds(30));
  (void)sys::remove_tree(dir);
  REQUIRE(out);
  CHECK(out->output ==
        "[b'/usr/bin/python3', b'/.ociexec/script', b'a b', b'', b'\\xc3\\xa9'] "
        "[(b'PATH', b'/bin'), (b'X', b'\\xff\\x01=2'), (b'EMPTY', b'')] b'/work dir' False\n");
}

TEST_CASE("limits: the cgroup files written for a pooled job, v1 and v2") {
  cgroup::ResourceLimits l{256 * 1024 * 1024, true, 0.5, 64};
  auto v1 = cgroup::limit_writes(false, l);
  REQUIRE(v1.size() == 5);
  CHECK(v1[0].controller == "memory");
  CHECK(v1[0].file == "memory.limit_in_bytes");
  CHECK(v1[0].value == "268435456");
  CHECK(v1[1].file == "memory.memsw.limit_in_bytes");
  CHECK(v1[1].value == "268435456");
  CHECK(v1[3].file == "cpu.cfs_quota_us");
  CHECK(v1[3].value == "50000");
  CHECK(v1[4].value == "64");

  auto v2 = cgroup::limit_writes(true, l);
  REQUIRE(v2.size() == 4);
  CHECK(v2[0].file == "memory.max");
  CHECK(v2[1].file == "memory.swap.max");
  CHECK(v2[1].value == "0");
  CHECK(v2[2].value == "50000 100000");
  CHECK(v2[3].value == "64");

  cgroup::ResourceLimits none{std::nullopt, false, std::nullopt, std::nullopt};
  auto u1 = cgroup::limit_writes(false, none);
  REQUIRE(u1.size() == 4);  // no memsw write without swap accounting
  CHECK(u1[0].value == "-1");
  CHECK(u1[2].value == "-1");
  CHECK(u1[3].value == "max");
  auto u2 = cgroup::limit_writes(true, none);
  CHECK(u2[0].value == "max");
  CHECK(u2[1].value == "max 100000");
  CHECK(u2[2].value == "max");
  CHECK(u2.size() == 3);  // no cpuset: the cgroup keeps what it was made with

  none.cpuset_cpus = "0-1,3";
  auto c1 = cgroup::limit_writes(false, none);
  CHECK(c1.back().controller == "cpuset");
  CHECK(c1.back().file == "cpuset.cpus");
  CHECK(c1.back().value == "0-1,3");
  auto c2 = cgroup::limit_writes(true, none);
  CHECK(c2.back().controller.empty());
  CHECK(c2.back().file == "cpuset.cpus");
  CHECK(c2.back().value == "0-1,3");
}
