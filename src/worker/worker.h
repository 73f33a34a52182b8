// `ociexec worker`: runs jobs from a Redis stream with a consumer group, at least once.
//
// Each stream entry is one job: a field `job` holding one `batch` line (the same keys and
// validation). The reader thread takes entries with XREADGROUP (as many as there are free
// slots) and runs them through the executor's async API; a writer thread, on a connection of
// its own, writes each result before acknowledging its entry:
//   SET <prefix>result:<entry id> <json> NX EX <ttl>   (never over an earlier result: a second
//                                                        run is reported on the results stream
//                                                        as a duplicate instead)
//   XADD <prefix>results * job <entry id> result <json>
//   LPUSH <prefix>done:<entry id> <attempt>, EXPIRE    (a producer waits with BLPOP)
//   XACK <stream> <group> <entry id>
// The result is the `run --json` object (or {"error", "kind"}) plus "job" (the entry id),
// "id" (the line's own, if any), "worker" and "attempt".
//
// A worker that dies leaves its entries pending; live workers take those idle past
// claim_idle with XAUTOCLAIM, which counts the delivery. The writer keeps the entries of the
// jobs it is running from going idle (XCLAIM JUSTID on its own pending entries every third of
// claim_idle, and at once after a reconnection), so a job running for hours is not taken
// while its worker lives. An entry delivered more than max_attempts times gets an error
// result, goes to <prefix>dead, and is acknowledged.
//
// Redis going away: every call reconnects with backoff and goes on; running jobs run on and
// their results wait. A first stop signal: no more reads, running jobs finish and are
// acknowledged, then run_worker returns; a second one: running jobs are killed (and still
// get results).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "ociexec/executor.h"
#include "worker/redis.h"

namespace ociexec::worker {

struct WorkerOptions {
  Redis::Options redis;
  std::string stream = "ociexec:jobs";
  std::string group = "ociexec";
  std::string consumer;             // empty: <hostname>-<pid>
  std::string prefix = "ociexec:";  // of the result, done, results and dead keys
  std::size_t concurrency = 8;
  std::chrono::milliseconds claim_idle{30000};
  unsigned max_attempts = 3;
  std::chrono::seconds result_ttl{86400};       // 24h
  std::function<void(const std::string&)> log;  // one line per event worth a log
};

// How a line becomes a job and a run its JSON: the CLI's, shared with `batch`.
struct JobCodec {
  std::function<Expected<std::pair<std::string, JobOptions>>(const std::string& line)> parse;
  std::function<nlohmann::json(const Expected<Result>&)> format;
};

// Runs until a signal arrives on `signal_fd` (one byte per signal, as sys::SignalForwarder
// writes) and the running jobs are done. Errors: bad options, a first connection that fails.
Expected<void> run_worker(const WorkerOptions& options, const ExecutorOptions& executor,
                          const JobCodec& codec, int signal_fd);

}  // namespace ociexec::worker
