// `ociexec submit --redis URL [--wait] [FILE | -]`: the producer side of `ociexec worker`.
// Each line is one job in the `batch` format, checked here as a worker would check it (a bad
// line is reported, and nothing is sent for it), then added to the stream (XADD STREAM * job
// LINE). Without --wait, one line per job: {"job": ENTRY_ID, "id": ...}. With --wait, one
// result line per job, in input order, as `batch` prints them (plus the worker's name and the
// attempt), once each is written (BLPOP on its done key); a single job's exit status is then
// the one `run` gives (the script's code, 124 timed out, 125 an error).
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/job_flags.h"
#include "cli/redis_flags.h"
#include "config/units.h"

namespace ociexec::cli {

namespace {

struct SubmitFlags {
  RedisFlags redis;
  std::string input = "-";
  bool wait = false;
  std::string wait_timeout;  // empty: no limit
};

// What `run` would exit with for this result line.
int exit_code_for_json(const nlohmann::json& j) {
  if (!j.is_object() || j.contains("error")) return kExitExecutorError;
  const std::string outcome = j.value("outcome", "");
  if (outcome == "timed_out") return kExitTimeout;
  if (outcome == "cpu_time_exceeded") return kExitCpuTime;
  return j.value("exit_code", kExitExecutorError);
}

int submit(const Globals& globals, const SubmitFlags& flags) {
  auto cfg = effective_config(globals);
  if (!cfg) return report_error(cfg.error());
  auto options = redis_options(flags.redis);
  if (!options) return report_error(options.error());
  std::optional<std::chrono::milliseconds> wait_limit;
  if (!flags.wait_timeout.empty()) {
    auto d = config::parse_duration(flags.wait_timeout);
    if (!d) return report_error(d.error().with_context("--wait-timeout"));
    wait_limit = *d;
  }
  std::ifstream file;
  if (flags.input != "-") {
    file.open(flags.input);
    if (!file)
      return report_error(
          Error{ErrorKind::kInvalidArgument,
                fmt::format("cannot read {}: give a file of JSON lines, or -", flags.input)});
  }
  std::istream& in = flags.input == "-" ? std::cin : file;
  auto redis = worker::Redis::connect(*options);
  if (!redis) return report_error(redis.error());
  bool failed = false;
  std::vector<std::string> ids;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto raw = nlohmann::json::parse(line, nullptr, false);
    const nlohmann::json id =
        raw.is_object() && raw.contains("id") ? raw["id"] : nlohmann::json(number);
    if (auto parsed = parse_batch_line(line, cfg->job); !parsed) {
      failed = true;
      auto e = error_json(parsed.error().with_context(fmt::format("line {}", number)));
      e["id"] = id;
      print_json(e);
      continue;
    }
    auto added = redis->call({"XADD", flags.redis.stream, "*", "job", line});
    if (!added) return report_error(added.error());
    if (added->type != worker::Reply::Type::kString)
      return report_error(Error{ErrorKind::kSystem, fmt::format("XADD: {}", added->str)});
    ids.push_back(added->str);
    if (!flags.wait) print_json({{"job", added->str}, {"id", id}});
  }
  if (!flags.wait) return failed ? kExitExecutorError : 0;
  int last = 0;
  const auto deadline = wait_limit ? std::chrono::steady_clock::now() + *wait_limit
                                   : std::chrono::steady_clock::time_point::max();
  for (const auto& job : ids) {
    // One second at a time, so that --wait-timeout holds across jobs.
    while (true) {
      if (std::chrono::steady_clock::now() >= deadline)
        return report_error(Error{ErrorKind::kSystem,
                                  fmt::format("--wait-timeout {}: job {} has no result yet (it "
                                              "stays queued; its result will be at {}result:{})",
                                              flags.wait_timeout, job, flags.redis.prefix, job)});
      auto popped = redis->call({"BLPOP", flags.redis.prefix + "done:" + job, "1"},
                                std::chrono::milliseconds(1000) + options->timeout);
      if (!popped) return report_error(popped.error());
      if (!popped->nil()) break;
    }
    auto result = redis->call({"GET", flags.redis.prefix + "result:" + job});
    if (!result) return report_error(result.error());
    auto j = nlohmann::json::parse(result->str, nullptr, false);
    if (j.is_discarded()) {
      failed = true;
      j = error_json(Error{ErrorKind::kSystem, fmt::format("job {}: no readable result", job)});
    }
    last = exit_code_for_json(j);
    if (j.contains("error")) failed = true;
    print_json(j);
  }
  if (ids.size() == 1 && number == 1) return last;
  return failed ? kExitExecutorError : 0;
}

}  // namespace

void register_submit(CLI::App& app, Globals& globals, Action& action) {
  auto flags = std::make_shared<SubmitFlags>();
  auto* cmd = app.add_subcommand(
      "submit", "send jobs (batch lines) to the workers of a Redis stream; --wait for results");
  add_redis_flags(*cmd, flags->redis);
  cmd->add_option("input", flags->input, "file of JSON lines, or - for standard input (default)");
  cmd->add_flag("--wait", flags->wait, "print each job's result once a worker wrote it");
  cmd->add_option("--wait-timeout", flags->wait_timeout,
                  "with --wait: give up after this long (the jobs stay queued)");
  cmd->callback([&globals, &action, flags] {
    action = [&globals, flags] { return submit(globals, *flags); };
  });
}

}  // namespace ociexec::cli
