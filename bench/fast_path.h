// The fast path's figures (issue 7): the warm pool's latency (submit to the script's first
// instruction, and `true` end to end), sustained async throughput with the pool refilling in
// the background, and the kill overrun past the deadline.
#pragma once

#include <filesystem>

#include "ociexec/ociexec.h"
#include "stats.h"

namespace ociexec::bench {

struct PoolLatency {
  Stats first_instruction;  // submit -> the script's first instruction (payload `now`)
  Stats end_to_end;         // `true`: submit -> result, the container removed
  Stats python;             // a Python "hello" script, its interpreter started ahead
};

// Sequential jobs on `exec` (a pool executor); before each, an untimed wait until the pool
// is full again, so each job measures a warm container.
PoolLatency pool_latency(const Executor& exec, const std::filesystem::path& rootfs, int n);

// Jobs per second for `jobs` jobs submitted at once to `exec` (its max_concurrent_jobs at a
// time), the pool refilling as they go; with `prefill`, the pool is filled before the clock
// starts.
double sustained_rate(const Executor& exec, const std::filesystem::path& rootfs, int jobs,
                      bool prefill);

// `workers` threads, each running `/bin/true` jobs one after another on `exec` until `jobs`
// have run: jobs per second, and each job's latency (run() -> result).
struct Load {
  double rate = 0;
  Stats latency;
};
Load closed_loop(const Executor& exec, const std::filesystem::path& rootfs, int workers, int jobs);

// Deadline -> result for jobs of 100 processes that ignore SIGTERM.
Stats kill_latency(const Executor& exec, const std::filesystem::path& rootfs, int n);

}  // namespace ociexec::bench
