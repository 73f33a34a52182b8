// `ociexec worker --redis URL ...`: runs jobs from a Redis stream (src/worker/worker.h) until
// SIGTERM or SIGINT (a second one kills the running jobs). `ociexec submit` is its producer.
// The password never comes from the command line: OCIEXEC_REDIS_PASSWORD, or
// --redis-password-file (its first line).
#include <signal.h>

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/job_flags.h"
#include "cli/redis_flags.h"
#include "config/units.h"
#include "sys/fs.h"
#include "sys/signals.h"
#include "worker/worker.h"

namespace ociexec::cli {

namespace {

struct WorkerFlags {
  RedisFlags redis;
  std::string group = "ociexec";
  std::string consumer;
  std::size_t concurrency = 8;
  std::optional<std::size_t> pool;
  std::string claim_idle = "30s";
  unsigned max_attempts = 3;
  std::string result_ttl = "24h";
};

int worker(const Globals& globals, const WorkerFlags& flags) {
  auto cfg = effective_config(globals);
  if (!cfg) return report_error(cfg.error());
  worker::WorkerOptions o;
  auto redis = redis_options(flags.redis);
  if (!redis) return report_error(redis.error());
  o.redis = std::move(*redis);
  o.stream = flags.redis.stream;
  o.prefix = flags.redis.prefix;
  o.group = flags.group;
  o.consumer = flags.consumer;
  o.concurrency = flags.concurrency;
  o.max_attempts = flags.max_attempts;
  auto idle = config::parse_duration(flags.claim_idle);
  if (!idle) return report_error(idle.error().with_context("--claim-idle"));
  o.claim_idle = *idle;
  auto ttl = config::parse_duration(flags.result_ttl);
  if (!ttl) return report_error(ttl.error().with_context("--result-ttl"));
  o.result_ttl = std::chrono::duration_cast<std::chrono::seconds>(*ttl);
  o.log = [](const std::string& line) {
    std::fprintf(stderr, "ociexec worker: %s\n", line.c_str());
    std::fflush(stderr);
  };
  ExecutorOptions options = cfg->executor;
  options.max_concurrent_jobs = flags.concurrency;
  if (flags.pool) options.pool_size = *flags.pool;
  const JobOptions defaults = cfg->job;
  const worker::JobCodec codec{
      [&defaults](const std::string& line) { return parse_batch_line(line, defaults); },
      [](const Expected<Result>& r) { return r ? result_json(*r) : error_json(r.error()); }};
  auto forwarder = sys::SignalForwarder::install({SIGINT, SIGTERM});
  if (!forwarder) return report_error(forwarder.error());
  if (auto r = sys::catch_sigpipe(); !r) return report_error(r.error());
  auto ran = worker::run_worker(o, options, codec, forwarder->fd());
  if (!ran) return report_error(ran.error());
  return 0;
}

}  // namespace

void register_worker(CLI::App& app, Globals& globals, Action& action) {
  auto flags = std::make_shared<WorkerFlags>();
  auto* cmd = app.add_subcommand(
      "worker", "run jobs from a Redis stream (at least once; see docs/scale-out.md)");
  add_redis_flags(*cmd, flags->redis);
  cmd->add_option("--group", flags->group, "the consumer group (default ociexec)");
  cmd->add_option("--consumer", flags->consumer,
                  "this worker's name in the group (default HOSTNAME-PID)");
  cmd->add_option("-j,--concurrency", flags->concurrency, "jobs running at once (default 8)");
  cmd->add_option("--pool", flags->pool,
                  "containers created ahead per profile (default: pool_size, 0: off)");
  cmd->add_option("--claim-idle", flags->claim_idle,
                  "take over another worker's job once its entry is idle this long (default "
                  "30s; a live worker keeps its running jobs' entries from going idle)");
  cmd->add_option("--max-attempts", flags->max_attempts,
                  "deliveries of one job before it goes to the dead-letter stream (default 3)");
  cmd->add_option("--result-ttl", flags->result_ttl,
                  "how long results are kept in Redis (default 24h)");
  cmd->callback([&globals, &action, flags] {
    action = [&globals, flags] { return worker(globals, *flags); };
  });
}

}  // namespace ociexec::cli
