// Early stopping for training loops: the best weights kept, patience counted.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "tapegrad/nn/module.hpp"

namespace tg::train {

// What Keras' EarlyStopping(patience, restore_best_weights=True) keeps, for a loop of one's own
// (tg::train::EarlyStopping is the Trainer's callback): keeps a copy of the best weights,
// and says when `patience` updates in a row have not improved on the best. A tie is no
// improvement. A loss is minimized, an accuracy maximized (an accuracy is finite, so the first
// epoch is always the first best; the examples baby_lm and name_language monitor one each).
class EarlyStopTracker {
 public:
  enum class Goal { Minimize, Maximize };

  explicit EarlyStopTracker(std::size_t patience, Goal goal = Goal::Minimize);
  // Returns true when `value` is a new best (the model's weights are copied).
  bool update(double value, std::size_t epoch, const nn::Module& model);
  // patience 0 never stops.
  bool should_stop() const { return patience_ > 0 && waited_ >= patience_; }
  // Loads the best weights back (nothing when there were none).
  void restore(nn::Module& model) const;
  double best() const { return best_; }
  std::size_t best_epoch() const { return best_epoch_; }
  // Updates without improvement since the best.
  std::size_t waited() const { return waited_; }
  const std::map<std::string, Tensor>& best_state() const { return best_state_; }
  // Continues a resumed run from what these accessors returned.
  void resume(double best, std::size_t best_epoch, std::size_t waited,
              std::map<std::string, Tensor> best_state);

 private:
  std::size_t patience_;
  Goal goal_;
  std::size_t waited_ = 0;
  double best_;  // starts beyond any value the goal can see, so the first finite one improves
  std::size_t best_epoch_ = 0;
  std::map<std::string, Tensor> best_state_;
};

}  // namespace tg::train
