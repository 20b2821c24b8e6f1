// WeightAverage: an exponential moving average of a model's parameters, validated in their place.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/train/callbacks.hpp"

namespace tg::train {

// Keeps an exponential moving average of the model's parameters over the optimizer steps
// (Polyak averaging; Keras' use_ema, torch.optim.swa_utils.AveragedModel) and swaps it in for
// each validation: it smooths the step-to-step noise of an optimizer's late steps, which on a
// small noisy validation set is often worth more than the last step's weights.
//
// After n updates the average moves towards the weights by 1 - min(decay, 1 - 1/(n + 1)): a
// warm-up, so that early on it is not dominated by the initial weights. Float32 parameters only.
//
// The average is in the model from on_validation_start until this callback's on_validation_end:
// register it AFTER the callbacks that should see it there (EarlyStopping keeps it as the best
// weights, ModelCheckpoint saves it), as their on_validation_end run in the order given. The
// model holds its live weights at every other point (training, resume points, the end of fit,
// unless EarlyStopping restores the best).
class WeightAverage : public Callback {
 public:
  explicit WeightAverage(double decay);  // per step, in (0, 1): 0.99, 0.999...

  void on_fit_start(Trainer& trainer) override;  // a new run averages from the current weights
  void on_batch_end(Trainer& trainer, const Batch& batch, double loss) override;
  void on_validation_start(Trainer& trainer) override;
  void on_validation_end(Trainer& trainer, const Logs& logs) override;
  void save(const Trainer& trainer, ResumeState& state, const std::string& prefix) const override;
  void load(Trainer& trainer, const ResumeState& state, const std::string& prefix) override;

  double decay() const { return decay_; }
  std::size_t updates() const { return updates_; }
  // The averaged parameters by name (the live ones while they are swapped in).
  const std::vector<std::pair<std::string, Tensor>>& average() const { return average_; }

 private:
  void take(Trainer& trainer);  // the parameters, and a copy of them as the average
  void swap();

  double decay_;
  std::size_t updates_ = 0;
  bool resumed_ = false;  // load() ran for the coming fit
  bool swapped_ = false;  // the average is in the model
  std::vector<Tensor> params_;
  std::vector<std::pair<std::string, Tensor>> average_;
};

}  // namespace tg::train
