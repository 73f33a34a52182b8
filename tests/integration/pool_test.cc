// The warm pool and the async API, on executors of their own: a pooled container takes the
// job's command, env, stdin and limits; aged containers are replaced; shutdown drains the
// pool; submit() bounds concurrency and cancels what never started.
#include <algorithm>
#include <atomic>

#include "harness.h"
#include "sys/fs.h"

using namespace std::chrono_literals;
using namespace ociexec::test;
using ociexec::ErrorKind;
using ociexec::Outcome;
namespace fs = std::filesystem;

namespace {

// A state dir of their own: the shared executor may keep a pool in the harness's.
fs::path own_state_dir() {
  return Env::get().state_dir / "pool-test";
}

ociexec::Executor pool_executor(std::size_t size, std::chrono::milliseconds max_age = 60s,
                                std::size_t concurrent = 8) {
  auto o = Env::get().executor_options();
  o.state_dir = own_state_dir();
  o.pool_size = size;
  o.pool_max_age = max_age;
  o.init_path = OCIEXEC_TEST_INIT;
  o.max_concurrent_jobs = concurrent;
  auto e = ociexec::Executor::create(o);
  REQUIRE_MESSAGE(e, (e ? "" : e.error().message));
  return std::move(*e);
}

std::vector<std::string> bundle_ids() {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(own_state_dir() / "bundles", ec))
    ids.push_back(e.path().filename());
  std::sort(ids.begin(), ids.end());
  return ids;
}

// After its executor is gone, the pool's state dir is too: its last executor removes it once
// it is empty, i.e. with no bundle, no runtime state and no copy of the pool's init left.
void check_drained() {
  std::string left;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(own_state_dir(), ec))
    left += " " + e.path().string();
  CHECK_MESSAGE(!fs::exists(own_state_dir()), "state dir left, holding:" << left);
}

}  // namespace

TEST_CASE("pool: a pooled container runs the job as a cold one would") {
  LeakCheck leaks;
  {
    auto exec = pool_executor(2);
    auto ready = exec.prewarm(job());
    REQUIRE_MESSAGE(ready, (ready ? "" : ready.error().message));
    CHECK(*ready == 2);
    auto j = job();
    j.env = {"GREETING=hi"};
    j.stdin_data = "from stdin";
    auto r = exec.run("read line; echo \"$GREETING $line $(pwd) $(id -u)\"; exit 7\n", j);
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->pooled);
    CHECK(r->exit_code == 7);
    CHECK(r->stdout_data == "hi from stdin /work 65534\n");
    CHECK(r->peak_memory_bytes.has_value());

    // Lower limits than the pool's (1 GiB): written to the cgroup before the job starts.
    auto hog = job();
    hog.limits.memory_bytes = 64 * ociexec::kMiB;
    hog.limits.pids = 16;
    REQUIRE(exec.prewarm(job()));
    auto oom = exec.run("/bin/payload memhog 512\n", hog);
    REQUIRE(oom);
    CHECK(oom->pooled);
    CHECK(oom->outcome == Outcome::kOomKilled);
    REQUIRE(exec.prewarm(job()));
    auto forks = exec.run("/bin/payload forkbomb 30\n", hog);
    REQUIRE(forks);
    CHECK(forks->pooled);
    CHECK(forks->stdout_data.find("fork failed") != std::string::npos);

    // The interpreter is missing: the same error kind as a cold create gives.
    REQUIRE(exec.prewarm(job()));
    auto missing_job = job();
    missing_job.interpreter = {"/nonexistent"};
    auto missing = exec.run("true\n", missing_job);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().kind == ErrorKind::kCommandNotFound);
    CHECK(missing.error().message.find("/nonexistent") != std::string::npos);

    // The timeout holds from the start, as in the cold path.
    REQUIRE(exec.prewarm(job()));
    auto slow = job(1s);
    auto t = exec.run("echo started; sleep 30\n", slow);
    REQUIRE(t);
    CHECK(t->pooled);
    CHECK(t->exit_code == -1);
    CHECK(t->outcome == Outcome::kTimedOut);
    CHECK(t->stderr_data.rfind("Execution timeout (1s)", 0) == 0);
    CHECK(t->wall_time < 1500ms);
  }
  check_drained();  // the executor is gone: its pool was drained
  leaks.check();
}

TEST_CASE("pool: aged containers are replaced, and each container serves one job only") {
  LeakCheck leaks;
  {
    // The age counts from the start of a create, which takes about 0.4 s under the VM's
    // emulation (more on a loaded host): an age near that would age every container out
    // before it is ready.
    auto exec = pool_executor(1, 1500ms);
    REQUIRE(exec.prewarm(job()));
    const auto first = bundle_ids();
    REQUIRE(first.size() == 1);
    std::this_thread::sleep_for(2500ms);
    REQUIRE(exec.prewarm(job()));  // the replacement is ready, not still being created
    auto now = bundle_ids();
    REQUIRE(now.size() == 1);
    CHECK(now != first);  // replaced, not kept

    auto a = exec.run("true\n", job());
    REQUIRE(a);
    REQUIRE(exec.prewarm(job()));
    auto b = exec.run("true\n", job());
    REQUIRE(b);
    CHECK(a->pooled);
    CHECK(b->pooled);
    CHECK(a->container_id != b->container_id);
  }
  check_drained();
  leaks.check();
}

TEST_CASE("async: submit runs at most max_concurrent_jobs at once and returns every result") {
  LeakCheck leaks;
  {
    auto exec = pool_executor(0, 60s, 3);
    std::vector<std::future<ociexec::Expected<ociexec::Result>>> futures;
    for (int i = 0; i < 8; ++i)
      futures.push_back(exec.submit(fmt::format("sleep 0.3; echo {}\n", i), job()));
    for (int i = 0; i < 8; ++i) {
      auto r = futures[static_cast<std::size_t>(i)].get();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
      CHECK(r->stdout_data == fmt::format("{}\n", i));
    }
    // Three at a time: 8 jobs of 0.3 s take at least three rounds.
    std::mutex m;
    std::vector<ociexec::Result> results;
    std::atomic<int> done{0};
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 6; ++i)
      exec.submit("sleep 0.3\n", job(), [&](ociexec::Expected<ociexec::Result> r) {
        std::lock_guard lock(m);
        if (r) results.push_back(std::move(*r));
        ++done;
      });
    while (done < 6) std::this_thread::sleep_for(10ms);
    auto elapsed = std::chrono::steady_clock::now() - t0;
    CHECK(results.size() == 6);
    CHECK(elapsed >= 600ms);  // two rounds of three at least
    for (const auto& r : results) CHECK(r.exit_code == 0);
  }
  leaks.check();
}

TEST_CASE("async: destroying the executor waits for running jobs and cancels waiting ones") {
  LeakCheck leaks;
  std::vector<std::future<ociexec::Expected<ociexec::Result>>> futures;
  {
    auto exec = pool_executor(0, 60s, 1);
    for (int i = 0; i < 3; ++i) futures.push_back(exec.submit("sleep 0.5; echo done\n", job()));
    std::this_thread::sleep_for(200ms);  // the first is running
  }
  auto first = futures[0].get();
  REQUIRE(first);
  CHECK(first->stdout_data == "done\n");
  for (std::size_t i = 1; i < futures.size(); ++i) {
    auto r = futures[i].get();
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::kCancelled);
  }
  leaks.check();
}

TEST_CASE("pool: gc removes the init copy a killed executor left, never a live one's") {
  LeakCheck leaks;
  {
    auto exec = pool_executor(1);
    REQUIRE(exec.prewarm(job()));
    std::vector<fs::path> live;
    for (const auto& e : fs::directory_iterator(own_state_dir()))
      if (e.path().string().ends_with(".init")) live.push_back(e.path());
    REQUIRE(live.size() == 1);
    // What an executor killed before its destructor leaves (pid 999999: no such process).
    const fs::path dead = own_state_dir() / "ociexec-999999-1-0.init";
    REQUIRE(ociexec::sys::write_new_file(dead, "x", 0755));
    auto report = exec.collect_garbage();
    CHECK(report.errors.empty());
    CHECK_FALSE(fs::exists(dead));
    CHECK(fs::exists(live[0]));
  }
  check_drained();
  leaks.check();
}

namespace {

// A Python job on the built-in host view, whose python3 the warm pool starts ahead.
ociexec::JobOptions python_job() {
  ociexec::JobOptions j;
  j.timeout = 20s;
  return j;
}

ociexec::JobOptions python_profile() {
  auto j = python_job();
  j.interpreter = {"/usr/bin/python3"};  // a "#!/usr/bin/python3" script's profile
  return j;
}

// Fills `exec`'s pool for Python jobs; how many warm interpreters are ready.
std::size_t prewarm_python(const ociexec::Executor& exec) {
  auto ready = exec.prewarm(python_profile());
  REQUIRE_MESSAGE(ready, (ready ? "" : ready.error().message));
  return *ready;
}

struct PythonCase {
  std::string name;
  std::string script;
  std::vector<std::string> env;
};

// What a job can see of how it was started, and how it ends: each runs cold and warm.
std::vector<PythonCase> python_cases() {
  const std::string py = "#!/usr/bin/python3\n";
  const std::string probe =
      py +
      "import os, sys, __main__\n"
      "print(sys.argv, sys.orig_argv, sys.executable, sys.path)\n"
      "print(list(os.environ.items()), os.getcwd(), sorted(os.listdir('/proc/self/fd')))\n"
      "print([(k, type(v).__name__) for k, v in vars(__main__).items()])\n"
      "print(__name__, __file__, __doc__, __package__, __spec__, __cached__, __annotations__)\n"
      "print(__loader__.name, __loader__.path, __builtins__.__name__, sys.flags)\n"
      "print(repr(sys.stdin.read()), sys.stdin.encoding, sys.stdout.encoding,\n"
      "      sys.stdout.line_buffering, sys.getfilesystemencoding(), os.getpid())\n"
      "import subprocess\n"
      "print(subprocess.run(['env'], capture_output=True, text=True).stdout)\n";
  return {
      {"probe", probe, {}},
      {"probe, env of its own", probe, {"GREETING=hi there", "EMPTY=", "UTF=\xc3\xa9"}},
      // Environments that change the interpreter's start: a cold start in the same container.
      {"probe, PYTHONHASHSEED", probe, {"PYTHONHASHSEED=0"}},
      {"probe, LANG", probe, {"LANG=C"}},
      {"probe, HOME", probe, {"HOME=/tmp"}},
      {"probe, TZ", probe + "import time; print(time.tzname)\n", {"TZ=UTC"}},
      {"uncaught exception",
       py + "def f():\n    raise ValueError('boom')\nprint('before')\nf()\n",
       {}},
      {"chained exception",
       py + "try:\n    1/0\nexcept ZeroDivisionError as e:\n    raise RuntimeError('w') from e\n",
       {}},
      {"syntax error", py + "print('x'\n", {}},
      {"NUL byte", py + std::string("print(1)\nx = '\0'\n", 17), {}},
      {"sys.exit(3)", py + "import sys\nprint('out')\nsys.exit(3)\n", {}},
      {"SystemExit with a message", py + "raise SystemExit('bye now')\n", {}},
      {"KeyboardInterrupt", py + "print('k')\nraise KeyboardInterrupt\n", {}},
      {"own excepthook",
       py + "import sys\nsys.excepthook = lambda t, v, tb: print('HOOK', t.__name__, v,\n"
            "    tb.tb_frame.f_code.co_filename, tb.tb_next, file=sys.stderr)\n"
            "raise OSError(5, 'io')\n",
       {}},
      {"coding cookie", py + "# -*- coding: latin-1 -*-\nprint('caf\xe9')\n", {}},
      {"future import",
       py + "from __future__ import annotations\nx: int = 3\nprint(__annotations__)\n",
       {}},
      {"atexit",
       py + "import atexit, __main__\n"
            "atexit.register(lambda: print('atexit', hasattr(__main__, '__file__')))\n",
       {}},
      {"warnings", py + "import warnings\nwarnings.warn('careful')\n", {}},
  };
}

}  // namespace

TEST_CASE("pool: a warm Python interpreter runs the job as a cold start does, byte for byte") {
  LeakCheck leaks;
  {
    auto warm = pool_executor(1);
    auto cold = pool_executor(0);
    for (const auto& c : python_cases()) {
      CAPTURE(c.name);
      auto j = python_job();
      j.env = c.env;
      j.stdin_data = "from stdin \xc3\xa9\n";
      j.args = {"an arg", ""};
      REQUIRE(prewarm_python(warm) == 1);
      auto w = warm.run(c.script, j);
      auto k = cold.run(c.script, j);
      REQUIRE_MESSAGE(w, (w ? "" : w.error().message));
      REQUIRE_MESSAGE(k, (k ? "" : k.error().message));
      CHECK(w->pooled);
      CHECK(w->stdout_data == k->stdout_data);
      CHECK(w->stderr_data == k->stderr_data);
      CHECK(w->exit_code == k->exit_code);
      CHECK(w->outcome == k->outcome);
      CHECK(w->signal == k->signal);
    }
  }
  check_drained();
  leaks.check();
}

TEST_CASE("pool: a warm Python job is started ahead only where nothing tells it apart") {
  LeakCheck leaks;
  {
    auto warm = pool_executor(1);
    // Imported ahead: json is in sys.modules before the script imports it. A job whose
    // environment changes the start is started cold in its container; so is a job with an
    // init, or with options on its "#!" line.
    const std::string script = "#!/usr/bin/python3\nimport sys\nprint('json' in sys.modules)\n";
    auto ran_warm = [&](const std::string& text, const ociexec::JobOptions& j) {
      prewarm_python(warm);
      auto r = warm.run(text, j);
      REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
      CHECK(r->exit_code == 0);
      return r->stdout_data == "True\n";
    };
    CHECK(ran_warm(script, python_job()));
    auto seeded = python_job();
    seeded.env = {"PYTHONHASHSEED=1"};
    CHECK_FALSE(ran_warm(script, seeded));
    auto under_init = python_job();
    under_init.init = true;
    CHECK_FALSE(ran_warm(script, under_init));
    CHECK_FALSE(ran_warm("#!/usr/bin/python3 -u\nimport sys\nprint('json' in sys.modules)\n",
                         python_job()));

    auto o = Env::get().executor_options();
    o.state_dir = own_state_dir();
    o.pool_size = 1;
    o.init_path = OCIEXEC_TEST_INIT;
    o.warm_interpreters = false;
    auto off = ociexec::Executor::create(o);
    REQUIRE(off);
    REQUIRE(off->prewarm(python_profile()));
    auto r = off->run(script, python_job());
    REQUIRE(r);
    CHECK(r->pooled);
    CHECK(r->stdout_data == "False\n");
  }
  check_drained();
  leaks.check();
}

TEST_CASE("pool: a warm Python job keeps the limits, accounting and timeout of any job") {
  LeakCheck leaks;
  {
    auto warm = pool_executor(1);
    auto cold = pool_executor(0);
    auto prewarm = [&warm] { prewarm_python(warm); };
    // The interpreter's start is not the job's CPU time: far less than a cold start's.
    const std::string hello = "#!/usr/bin/python3\nprint('hello')\n";
    prewarm();
    auto w = warm.run(hello, python_job());
    auto k = cold.run(hello, python_job());
    REQUIRE(w);
    REQUIRE(k);
    CHECK(w->pooled);
    REQUIRE(w->cpu_time);
    REQUIRE(k->cpu_time);
    CHECK_MESSAGE(*w->cpu_time * 2 < *k->cpu_time,
                  "warm " << w->cpu_time->count() << " ns, cold " << k->cpu_time->count());

    // The timeout counts from the hand-over, and kills the job as any other.
    prewarm();
    auto slow = python_job();
    slow.timeout = 1s;
    auto t = warm.run("#!/usr/bin/python3\nprint('started', flush=True)\nwhile True: pass\n", slow);
    REQUIRE(t);
    CHECK(t->pooled);
    CHECK(t->exit_code == -1);
    CHECK(t->outcome == Outcome::kTimedOut);
    CHECK(t->stdout_data == "started\n");
    CHECK(t->stderr_data.rfind("Execution timeout (1s)", 0) == 0);
    CHECK(t->wall_time < 1500ms);

    // A CPU-time limit counts the job's time only, not the interpreter's start.
    prewarm();
    auto capped = python_job();
    capped.limits.cpu_time = 200ms;
    auto quick = warm.run(hello, capped);
    REQUIRE(quick);
    CHECK(quick->outcome == Outcome::kExited);

    // A lower memory limit than the pool's is written before the job starts.
    prewarm();
    auto hog = python_job();
    hog.limits.memory_bytes = 64 * ociexec::kMiB;
    auto oom = warm.run("#!/usr/bin/python3\nx = bytearray(512 << 20)\nprint('survived')\n", hog);
    REQUIRE(oom);
    CHECK(oom->pooled);
    CHECK(oom->outcome == Outcome::kOomKilled);
    CHECK(oom->stdout_data.empty());

    // Output as much as any job's.
    prewarm();
    auto big = warm.run("#!/usr/bin/python3\nimport sys\nsys.stdout.write('x' * (3 << 20))\n",
                        python_job());
    REQUIRE(big);
    CHECK(big->stdout_data.size() == (3u << 20));
  }
  check_drained();
  leaks.check();
}

TEST_CASE("pool: a warm interpreter killed while it waits is passed over, never given a job") {
  LeakCheck leaks;
  {
    auto warm = pool_executor(1);
    REQUIRE(prewarm_python(warm) == 1);
    const auto ids = bundle_ids();
    REQUIRE(ids.size() == 1);
    auto pid = ociexec::sys::read_file(own_state_dir() / "bundles" / ids[0] / "init.pid");
    REQUIRE(pid);
    const pid_t interpreter = std::stoi(*pid);
    REQUIRE(::kill(interpreter, SIGKILL) == 0);
    // Dead (a zombie until the pool reaps it) before the job comes.
    for (int i = 0; i < 500; ++i) {
      auto stat = ociexec::sys::read_file(fmt::format("/proc/{}/stat", interpreter));
      if (!stat || stat->find(") Z ") != std::string::npos) break;
      std::this_thread::sleep_for(10ms);
    }
    auto r = warm.run("#!/usr/bin/python3\nprint('hello')\n", python_job());
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->exit_code == 0);
    CHECK(r->stdout_data == "hello\n");
    CHECK_FALSE(r->pooled);  // the only ready one was dead: a container of its own
  }
  check_drained();
  leaks.check();
}
