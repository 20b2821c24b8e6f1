// Early stopping for training loops: the best weights kept, patience counted.
#include "tapegrad/train/early_stopping.hpp"

namespace tg::train {

EarlyStopTracker::EarlyStopTracker(std::size_t patience, Goal goal)
    : patience_(patience), goal_(goal), best_(goal == Goal::Minimize ? 1e300 : -1e300) {}

bool EarlyStopTracker::update(double value, std::size_t epoch, const nn::Module& model) {
  // Strict comparisons: a tie, and NaN, are no improvement.
  if (goal_ == Goal::Minimize ? value < best_ : value > best_) {
    best_ = value;
    best_epoch_ = epoch;
    best_state_ = model.state_dict();  // copies
    waited_ = 0;
    return true;
  }
  ++waited_;
  return false;
}

void EarlyStopTracker::resume(double best, std::size_t best_epoch, std::size_t waited,
                           std::map<std::string, Tensor> best_state) {
  best_ = best;
  best_epoch_ = best_epoch;
  waited_ = waited;
  best_state_ = std::move(best_state);
}

void EarlyStopTracker::restore(nn::Module& model) const {
  if (!best_state_.empty()) model.load_state_dict(best_state_);
}

}  // namespace tg::train
