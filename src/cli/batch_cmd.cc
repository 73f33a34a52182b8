// `ociexec batch [--concurrency N] [--pool N] [FILE | -]`: many jobs from one process, through
// the async API and (with --pool) the warm pool. Input: one JSON object per line,
//   {"id": any, "script": "...", "timeout": "5s", "memory": "256m", "cpus": 0.5, "pids_limit": 64,
//    "env": ["K=V"], "stdin": "...", "interpreter": "python3", "workdir": "/work",
//    "rootfs": "/srv/rootfs", "runtime": "crun", "tmpfs_size": "64m", "output_cap": "1m",
//    "grace": "1s", "cpuset_cpus": "0-1", "cpu_time": "10s"}
// where every key but "script" is optional and takes what the `run` flag of the same name
// takes (numbers too: seconds, bytes). Output: one JSON line per job as it finishes, the
// `run --json` object plus "id" (the input's, else the line number), or {"id", "error"}.
// With --stream, each job's output also comes as it is written, in lines
//   {"id": ..., "stream": "stdout"|"stderr", "data": "..."}
// before that job's result line (a piece never splits a UTF-8 character; bytes that are not
// UTF-8 become U+FFFD, as in results).
// Exit status: 0 when every job produced a result (whatever its own exit code), 125 when a
// line was invalid or a job failed to run. SIGINT/SIGTERM: no more lines are read, waiting
// jobs are cancelled, running jobs get the signal (a second one: SIGKILL).
#include <poll.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/job_flags.h"
#include "sys/signals.h"
#include "sys/unique_fd.h"
#include "util/text.h"

namespace ociexec::cli {

namespace {

struct BatchFlags {
  std::string input = "-";
  std::optional<std::size_t> concurrency;  // else the config's max_concurrent_jobs (8)
  std::optional<std::size_t> pool;         // else the config's pool_size (0)
  bool stream = false;                     // output events as the jobs write
};

// One job's --stream events. The relay calls on_output for one job one piece at a time, so
// the carried bytes of a character split between two pieces need no lock of their own.
class OutputEvents {
 public:
  using Emit = std::function<void(nlohmann::json, const nlohmann::json&)>;
  OutputEvents(Emit emit, nlohmann::json id) : emit_(std::move(emit)), id_(std::move(id)) {}
  void on_output(OutputStream stream, std::string_view bytes) {
    std::string& carry = carry_[stream == OutputStream::kStdout ? 0 : 1];
    carry.append(bytes);
    const std::size_t whole = text::whole_utf8_prefix(carry);
    if (whole == 0) return;
    send(stream, carry.substr(0, whole));
    carry.erase(0, whole);
  }
  // What is left of a split character at the end (it never got its rest).
  void flush() {
    for (auto stream : {OutputStream::kStdout, OutputStream::kStderr}) {
      std::string& carry = carry_[stream == OutputStream::kStdout ? 0 : 1];
      if (!carry.empty()) send(stream, std::exchange(carry, {}));
    }
  }

 private:
  void send(OutputStream stream, std::string data) {
    emit_({{"stream", to_string(stream)}, {"data", std::move(data)}}, id_);
  }
  Emit emit_;
  nlohmann::json id_;
  std::array<std::string, 2> carry_;
};

// Each running job's signal pipe, so that a signal to us reaches every running job.
class SignalFanout {
 public:
  Expected<int> open(int job) {
    auto p = sys::make_pipe(true);
    if (!p) return tl::unexpected(p.error());
    std::lock_guard lock(mutex_);
    const int fd = p->read.get();
    pipes_.emplace(job, std::move(*p));
    return fd;
  }
  void close(int job) {
    std::lock_guard lock(mutex_);
    pipes_.erase(job);
  }
  void send(char sig) {
    std::lock_guard lock(mutex_);
    for (auto& [job, p] : pipes_) (void)!::write(p.write.get(), &sig, 1);
  }

 private:
  std::mutex mutex_;
  std::map<int, sys::Pipe> pipes_;
};

int batch(const Globals& globals, const BatchFlags& flags) {
  auto cfg = effective_config(globals);
  if (!cfg) return report_error(cfg.error());
  if (flags.concurrency && *flags.concurrency == 0)
    return report_error(Error{ErrorKind::kInvalidArgument, "--concurrency: must be at least 1"});
  std::ifstream file;
  if (flags.input != "-") {
    file.open(flags.input);
    if (!file)
      return report_error(Error{ErrorKind::kInvalidArgument,
                                fmt::format("cannot read {}: give a file of JSON lines, or -",
                                            flags.input)});
  }
  std::istream& in = flags.input == "-" ? std::cin : file;
  ExecutorOptions options = cfg->executor;
  if (flags.concurrency) options.max_concurrent_jobs = *flags.concurrency;
  if (flags.pool) options.pool_size = *flags.pool;
  auto forwarder = sys::SignalForwarder::install({SIGINT, SIGTERM, SIGHUP, SIGQUIT});
  if (!forwarder) return report_error(forwarder.error());
  // A reader that went away costs the results, never a kill of us with jobs still running.
  if (auto r = sys::catch_sigpipe(); !r) return report_error(r.error());

  std::atomic<bool> failed{false};
  std::mutex out;
  SignalFanout fanout;
  std::mutex pending_mutex;
  std::condition_variable finished;
  int pending = 0;
  auto emit = [&out](nlohmann::json j, const nlohmann::json& id) {
    j["id"] = id;
    std::lock_guard lock(out);
    print_json(j);
  };
  {
    // Everything the jobs' callbacks use is declared above: destroying the executor at the
    // end of this block may still call them (for the jobs it cancels).
    auto exec = Executor::create(options);
    if (!exec) return report_error(exec.error());
    std::string line;
    int number = 0;
    while (!sys::SignalForwarder::first_signal() && std::getline(in, line)) {
      ++number;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto parsed = parse_batch_line(line, cfg->job);
      auto raw = nlohmann::json::parse(line, nullptr, false);
      const nlohmann::json id =
          raw.is_object() && raw.contains("id") ? raw["id"] : nlohmann::json(number);
      if (!parsed) {
        failed = true;
        emit(error_json(parsed.error().with_context(fmt::format("line {}", number))), id);
        continue;
      }
      auto& [script, job] = *parsed;
      auto signal_fd = fanout.open(number);
      if (!signal_fd) {
        failed = true;
        emit(error_json(signal_fd.error()), id);
        continue;
      }
      job.signal_fd = *signal_fd;
      std::shared_ptr<OutputEvents> events;
      if (flags.stream) {
        events = std::make_shared<OutputEvents>(emit, id);
        job.on_output = [events](OutputStream stream, std::string_view bytes) {
          events->on_output(stream, bytes);
        };
      }
      {
        std::lock_guard lock(pending_mutex);
        ++pending;
      }
      exec->submit(std::move(script), std::move(job), [&, id, number, events](Expected<Result> r) {
        fanout.close(number);
        if (events) events->flush();  // every piece was delivered before the job's result
        if (!r) failed = true;
        emit(r ? result_json(*r) : error_json(r.error()), id);
        std::lock_guard lock(pending_mutex);
        --pending;
        finished.notify_all();
      });
      // Signals that arrived meanwhile go to the running jobs.
      char sig;
      while (::read(forwarder->fd(), &sig, 1) == 1) fanout.send(sig);
    }
    // Until every job has finished, passing signals on. After a signal, destroying the
    // executor cancels the jobs still waiting (the running ones end on the signal).
    std::unique_lock lock(pending_mutex);
    while (pending > 0 && !sys::SignalForwarder::first_signal())
      finished.wait_for(lock, std::chrono::milliseconds(50));
    lock.unlock();
    char sig;
    while (::read(forwarder->fd(), &sig, 1) == 1) fanout.send(sig);
  }
  return failed ? kExitExecutorError : 0;
}

}  // namespace

void register_batch(CLI::App& app, Globals& globals, Action& action) {
  auto flags = std::make_shared<BatchFlags>();
  auto* cmd = app.add_subcommand(
      "batch", "run many jobs: JSON lines in, one JSON result line out per job as it finishes");
  cmd->add_option("input", flags->input, "file of JSON lines, or - for standard input (default)");
  cmd->add_option("-j,--concurrency", flags->concurrency,
                  "jobs running at once (default: max_concurrent_jobs, 8)");
  cmd->add_option("--pool", flags->pool,
                  "containers created ahead per profile (default: pool_size, 0: off)");
  cmd->add_flag("--stream", flags->stream,
                "also print each job's output as it is written: {\"id\", \"stream\", \"data\"} lines");
  cmd->callback([&globals, &action, flags] {
    action = [&globals, flags] { return batch(globals, *flags); };
  });
}

}  // namespace ociexec::cli
