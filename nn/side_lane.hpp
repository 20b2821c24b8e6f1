// A second thread that runs one task beside the calling thread: the reverse direction of a
// bidirectional layer while the caller runs the forward one.
#pragma once

#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace tg::nn::detail {

// One thread for the whole process, started on first use and kept: its thread_local caches
// (oneDNN's plans, the bf16 copies of weights) stay warm from one call to the next, and waking
// it costs microseconds where starting a thread per call would cost more. One task at a time.
class SideLane {
 public:
  static SideLane& instance();
  // Starts `task` on the lane; the future returns when it is done (and rethrows what it threw).
  std::future<void> run(std::function<void()> task);
  // Held by whoever is using the lane (run_side_by_side), so that one task runs at a time.
  std::mutex& in_use() { return in_use_; }
  ~SideLane();

 private:
  SideLane();
  void loop();

  std::mutex mutex_, in_use_;
  std::condition_variable wake_;
  std::packaged_task<void()> task_;
  bool has_task_ = false, stopping_ = false;
  std::thread thread_;
};

// Runs `side` on the side lane and `here` on this thread, and returns when both are done (when
// another thread has the lane, both run here, one after the other). If
// either throws, the other still finishes first; then the exception of `here` (or else of
// `side`) is rethrown.
void run_side_by_side(const std::function<void()>& here, std::function<void()> side);

}  // namespace tg::nn::detail
