// BudgetSchedule: warm-up, then a decay of the learning rate that ends when the training budget does.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "tapegrad/autograd/options.hpp"
#include "tapegrad/train/callbacks.hpp"

namespace tg::train {

enum class Decay { Cosine, Linear };

class BudgetScheduleOptions {
 public:
  // Linear warm-up from lr / warmup_steps to lr; a run of fewer than 4 x warmup_steps steps
  // warms up over its first quarter instead, from the step at which its length is known (the
  // first step's end, or the end of the speed measurement with a time budget).
  TG_ARG(std::size_t, warmup_steps) = 0;
  TG_ARG(Decay, decay) = Decay::Cosine;
  TG_ARG(double, floor) = 0.1;  // the last step's lr, as a fraction of the base lr
  // With a time budget (TrainerOptions::max_time), the steps it holds are estimated from the
  // speed of the steps after the first `skip_steps` (slower: caches and allocations warm up)
  // over the next `measure_steps`, then fixed.
  TG_ARG(std::size_t, skip_steps) = 10;
  TG_ARG(std::size_t, measure_steps) = 40;
};

// The learning rate as speed-run recipes set it for a budget (a one-cycle / cosine schedule):
// each step, every parameter group's lr is its base lr times a factor that rises linearly over
// the warm-up, then falls by a half cosine (or a line) to `floor`, which it reaches at the run's
// last step and keeps. The last step is max_epochs times the first epoch's batches; with a time
// budget, the step at which the budget will be spent if it is earlier, from the measured speed
// (the slowest rank's under mpirun, so that every rank has the same rates). The count, once
// known, is saved with the run: a resumed run follows the same curve. Steps every batch: give
// the Trainer no other scheduler for the same optimizer.
class BudgetSchedule : public Callback {
 public:
  explicit BudgetSchedule(BudgetScheduleOptions options = {});

  void on_fit_start(Trainer& trainer) override;
  void on_batch_end(Trainer& trainer, const Batch& batch, double loss) override;
  void save(const Trainer& trainer, ResumeState& state, const std::string& prefix) const override;
  void load(Trainer& trainer, const ResumeState& state, const std::string& prefix) override;

  // The factor of the base lr at `step` (0-based) of a run of `total_steps`.
  double factor(std::size_t step, std::size_t total_steps) const;
  // The steps the schedule spans (0 until known: before the first batch, or while measuring).
  std::size_t total_steps() const { return total_steps_; }

 private:
  void apply(Trainer& trainer, std::size_t step) const;

  BudgetScheduleOptions options_;
  std::vector<double> base_lrs_;
  std::size_t epoch_steps_ = 0;  // max_epochs x the first epoch's batches
  std::size_t total_steps_ = 0;
  double measure_start_seconds_ = 0;
};

}  // namespace tg::train
