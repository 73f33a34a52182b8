// `ociexec submit --redis URL`: the producer side of `ociexec worker` (docs/scale-out.md).
//   submit [--wait] [--json] [--output-dir DIR] [run flags] (FILE | - | -c SCRIPT) [ARG...]
//       one job, from the same flags as `run`. Without --wait it prints the job's id (the
//       stream entry's); with it, the job's output once a worker wrote its result, and exits
//       as `run` would (the script's code, 124 timed out, 125 an error); --json prints the
//       result object instead, --output-dir writes its copied-out files.
//   submit [--wait] --jobs FILE|-
//       one job per line in the `batch` format: {"job": ID, "id": ...} per line, or with
//       --wait each result line, in input order.
// Every job is checked here as a worker would check it: a bad one is reported (exit 125) and
// not sent. Jobs are added with XADD STREAM * job LINE; results are waited for with BLPOP on
// their done key, then read with GET.
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/job_flags.h"
#include "cli/redis_flags.h"
#include "config/units.h"
#include "util/text.h"

namespace ociexec::cli {

namespace {

struct SubmitFlags {
  RedisFlags redis;
  RunFlags job;
  std::string jobs;  // a file of batch lines, or -
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

// A result's "files" (base64) as the library's, for write_output_dir.
std::map<std::string, CopiedFile> copied_files(const nlohmann::json& files) {
  std::map<std::string, CopiedFile> out;
  for (const auto& [path, f] : files.items()) {
    CopiedFile c;
    c.error = f.value("error", "");
    if (auto data = text::base64_decode(f.value("base64", "")); data) c.data = std::move(*data);
    c.truncated = f.value("truncated", false);
    c.mode = static_cast<unsigned>(std::stoul(f.value("mode", "0644"), nullptr, 8));
    out.emplace(path, std::move(c));
  }
  return out;
}

class Submitter {
 public:
  Submitter(worker::Redis redis, const SubmitFlags& flags)
      : redis_(std::move(redis)), flags_(flags) {}

  Expected<std::string> add(const std::string& line) {
    auto added = redis_.call({"XADD", flags_.redis.stream, "*", "job", line});
    if (!added) return tl::unexpected(added.error());
    if (added->type != worker::Reply::Type::kString)
      return tl::unexpected(Error{ErrorKind::kSystem, fmt::format("XADD: {}", added->str)});
    return added->str;
  }

  // The job's result once written; a wait past --wait-timeout is an error.
  Expected<nlohmann::json> result(const std::string& job,
                                  std::chrono::steady_clock::time_point deadline) {
    const std::chrono::milliseconds step(1000);  // so that the deadline holds across jobs
    while (true) {
      if (std::chrono::steady_clock::now() >= deadline)
        return tl::unexpected(
            Error{ErrorKind::kSystem,
                  fmt::format("--wait-timeout {}: job {} has no result yet (it stays queued; its "
                              "result will be at {}result:{})",
                              flags_.wait_timeout, job, flags_.redis.prefix, job)});
      auto popped = redis_.call({"BLPOP", flags_.redis.prefix + "done:" + job, "1"},
                                step + std::chrono::milliseconds(5000));
      if (!popped) return tl::unexpected(popped.error());
      if (!popped->nil()) break;
    }
    auto got = redis_.call({"GET", flags_.redis.prefix + "result:" + job});
    if (!got) return tl::unexpected(got.error());
    auto j = nlohmann::json::parse(got->str, nullptr, false);
    if (j.is_discarded())
      return tl::unexpected(
          Error{ErrorKind::kSystem, fmt::format("job {}: its result is not readable", job)});
    return j;
  }

 private:
  worker::Redis redis_;
  const SubmitFlags& flags_;
};

// --jobs: batch lines in, a line out per job.
int submit_lines(Submitter& s, const SubmitFlags& flags, const JobOptions& defaults,
                 std::chrono::steady_clock::time_point deadline) {
  std::ifstream file;
  if (flags.jobs != "-") {
    file.open(flags.jobs);
    if (!file)
      return report_error(Error{ErrorKind::kInvalidArgument,
                                fmt::format("--jobs: cannot read {}: give a file of JSON lines, "
                                            "or -",
                                            flags.jobs)});
  }
  std::istream& in = flags.jobs == "-" ? std::cin : file;
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
    if (auto parsed = parse_batch_line(line, defaults); !parsed) {
      failed = true;
      auto e = error_json(parsed.error().with_context(fmt::format("line {}", number)));
      e["id"] = id;
      print_json(e);
      continue;
    }
    auto job = s.add(line);
    if (!job) return report_error(job.error());
    ids.push_back(*job);
    if (!flags.wait) print_json({{"job", *job}, {"id", id}});
  }
  for (const auto& job : flags.wait ? ids : std::vector<std::string>{}) {
    auto j = s.result(job, deadline);
    if (!j) return report_error(j.error());
    failed = failed || j->contains("error");
    print_json(*j);
  }
  return failed ? kExitExecutorError : 0;
}

// One job from run's flags.
int submit_one(Submitter& s, const SubmitFlags& flags, const JobOptions& defaults,
               std::chrono::steady_clock::time_point deadline) {
  const bool json = flags.job.json;
  auto fail = [json](const Error& e) {
    if (json) print_json(error_json(e));
    return json ? exit_code_for(e) : report_error(e);
  };
  auto script = read_script(flags.job);
  if (!script) return fail(script.error());
  auto line = batch_line_from_flags(flags.job, *script);
  if (!line) return fail(line.error());
  const std::string text = line->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (auto parsed = parse_batch_line(text, defaults); !parsed) return fail(parsed.error());
  auto job = s.add(text);
  if (!job) return fail(job.error());
  if (!flags.wait) {
    if (json)
      print_json({{"job", *job}});
    else
      fmt::print("{}\n", *job);
    return 0;
  }
  auto r = s.result(*job, deadline);
  if (!r) return fail(r.error());
  if (r->contains("error")) {
    if (json)
      print_json(*r);
    else
      fmt::print(stderr, "ociexec: error: {}\n", (*r)["error"].value("message", "the job failed"));
    return kExitExecutorError;
  }
  if (!flags.job.output_dir.empty() && r->contains("files"))
    if (auto w = write_output_dir(flags.job.output_dir, copied_files((*r)["files"])); !w)
      report_error(w.error());
  if (json) {
    print_json(*r);
  } else {
    write_all(1, r->value("stdout", ""));
    write_all(2, r->value("stderr", ""));
  }
  return exit_code_for_json(*r);
}

int submit(const Globals& globals, const SubmitFlags& flags) {
  auto cfg = effective_config(globals);
  if (!cfg) return report_error(cfg.error());
  auto options = redis_options(flags.redis);
  if (!options) return report_error(options.error());
  auto deadline = std::chrono::steady_clock::time_point::max();
  if (!flags.wait_timeout.empty()) {
    auto d = config::parse_duration(flags.wait_timeout);
    if (!d) return report_error(d.error().with_context("--wait-timeout"));
    deadline = std::chrono::steady_clock::now() + *d;
  }
  const bool one = flags.jobs.empty();
  if (!one && (flags.job.command_given || !flags.job.script_file.empty()))
    return report_error(Error{ErrorKind::kInvalidArgument,
                              "--jobs: a file of job lines, or one script with run's flags, "
                              "not both"});
  if (!flags.job.copy_out.empty() && flags.job.output_dir.empty() && !flags.job.json && one)
    return report_error(Error{ErrorKind::kInvalidArgument,
                              "--copy-out: the files need somewhere to go; add --output-dir "
                              "DIR (or --json, which carries them as base64)"});
  auto redis = worker::Redis::connect(*options);
  if (!redis) return report_error(redis.error());
  Submitter s(std::move(*redis), flags);
  return one ? submit_one(s, flags, cfg->job, deadline)
             : submit_lines(s, flags, cfg->job, deadline);
}

}  // namespace

void register_submit(CLI::App& app, Globals& globals, Action& action) {
  auto flags = std::make_shared<SubmitFlags>();
  auto* cmd =
      app.add_subcommand("submit",
                         "send a job (run's flags) or job lines (--jobs) to the workers of a Redis "
                         "stream; --wait for the result");
  add_redis_flags(*cmd, flags->redis);
  auto* command = add_job_flags(*cmd, flags->job);
  cmd->add_option("--jobs", flags->jobs,
                  "a file of job lines in the batch format, or - for standard input");
  cmd->add_flag("--wait", flags->wait, "wait for the result, and exit as run would");
  cmd->add_option("--wait-timeout", flags->wait_timeout,
                  "with --wait: give up after this long (the job stays queued)");
  cmd->add_flag("--json", flags->job.json, "print {\"job\"} or, with --wait, the result object");
  cmd->add_option("--output-dir", flags->job.output_dir,
                  "with --wait: where --copy-out's files are written, by their paths");
  cmd->callback([&globals, &action, flags, command] {
    settle_job_flags(flags->job, *command);
    action = [&globals, flags] { return submit(globals, *flags); };
  });
}

}  // namespace ociexec::cli
