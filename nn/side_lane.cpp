// The side lane: one persistent worker thread fed through a condition variable.
#include "nn/side_lane.hpp"

#include <exception>
#include <utility>

namespace tg::nn::detail {

SideLane& SideLane::instance() {
  static SideLane lane;
  return lane;
}

SideLane::SideLane() : thread_([this] { loop(); }) {}

SideLane::~SideLane() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

std::future<void> SideLane::run(std::function<void()> task) {
  std::packaged_task<void()> packaged(std::move(task));
  std::future<void> done = packaged.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = std::move(packaged);
    has_task_ = true;
  }
  wake_.notify_one();
  return done;
}

void SideLane::loop() {
  for (;;) {
    std::packaged_task<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return has_task_ || stopping_; });
      if (!has_task_) return;  // stopping, nothing left to run
      task = std::move(task_);
      has_task_ = false;
    }
    task();  // stores an exception in the future rather than letting it out
  }
}

void run_side_by_side(const std::function<void()>& here, std::function<void()> side) {
  SideLane& lane = SideLane::instance();
  std::unique_lock<std::mutex> mine(lane.in_use(), std::try_to_lock);
  if (!mine) {
    here();
    side();
    return;
  }
  std::future<void> side_done = lane.run(std::move(side));
  std::exception_ptr here_failed;
  try {
    here();
  } catch (...) {
    here_failed = std::current_exception();
  }
  side_done.wait();
  if (here_failed) std::rethrow_exception(here_failed);
  side_done.get();
}

}  // namespace tg::nn::detail
