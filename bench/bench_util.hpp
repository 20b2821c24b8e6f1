// Timing helpers for the benchmarks: medians of repeated runs.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace tg::bench {

inline double now_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

// Median of `repeats` timings of f() (seconds per call of f).
template <class F>
double median_seconds(int repeats, F&& f) {
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    const double start = now_seconds();
    f();
    times.push_back(now_seconds() - start);
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

}  // namespace tg::bench
