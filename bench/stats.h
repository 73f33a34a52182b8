// Timing helpers for the benchmark: samples in milliseconds and their percentiles.
#pragma once

#include <algorithm>
#include <chrono>
#include <numeric>
#include <vector>

namespace ociexec::bench {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::duration<double, std::milli>;

struct Stats {
  double mean = 0, p50 = 0, p95 = 0, p99 = 0;
};

inline Stats stats_of(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
  };
  return {std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()), at(0.5),
          at(0.95), at(0.99)};
}

template <typename F>
double time_ms(F&& f) {
  auto t0 = Clock::now();
  f();
  return Ms(Clock::now() - t0).count();
}

}  // namespace ociexec::bench
