// BudgetSchedule.
#include "tapegrad/train/budget_schedule.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "tapegrad/autograd/error.hpp"
#include "tapegrad/optim/optimizer.hpp"
#include "tapegrad/train/parallel.hpp"
#include "tapegrad/train/resume.hpp"

namespace tg::train {

BudgetSchedule::BudgetSchedule(BudgetScheduleOptions options) : options_(options) {
  if (!(options_.floor() >= 0 && options_.floor() <= 1))
    throw Error(fmt::format("BudgetSchedule: floor must be in [0, 1], got {}", options_.floor()));
  if (options_.measure_steps() == 0)
    throw Error("BudgetSchedule: measure_steps must be at least 1");
}

double BudgetSchedule::factor(std::size_t step, std::size_t total_steps) const {
  // A run too short for the warm-up asked for warms up over its first quarter.
  const std::size_t warmup =
      total_steps == 0 ? options_.warmup_steps() : std::min(options_.warmup_steps(), total_steps / 4);
  if (step < warmup) return static_cast<double>(step + 1) / static_cast<double>(warmup);
  // Unknown length (still measuring): the base rate.
  if (total_steps == 0) return 1.0;
  const std::size_t decay_steps = total_steps > warmup + 1 ? total_steps - warmup - 1 : 0;
  const double t = decay_steps == 0 ? 1.0
                                    : std::min(1.0, static_cast<double>(step - warmup) /
                                                        static_cast<double>(decay_steps));
  const double shape = options_.decay() == Decay::Cosine ? 0.5 * (1.0 + std::cos(M_PI * t))
                                                         : 1.0 - t;
  return options_.floor() + (1.0 - options_.floor()) * shape;
}

void BudgetSchedule::apply(Trainer& trainer, std::size_t step) const {
  optim::Optimizer& optimizer = trainer.optimizer();
  const double f = factor(step, total_steps_);
  for (std::size_t g = 0; g < base_lrs_.size(); ++g) optimizer.set_lr(g, base_lrs_[g] * f);
}

void BudgetSchedule::on_fit_start(Trainer& trainer) {
  if (base_lrs_.empty()) {  // a new run (a resumed one has them from load)
    for (std::size_t g = 0; g < trainer.optimizer().param_groups().size(); ++g)
      base_lrs_.push_back(trainer.optimizer().lr(g));
  }
  apply(trainer, trainer.global_step());
}

void BudgetSchedule::on_batch_end(Trainer& trainer, const Batch& batch, double) {
  const std::size_t done = trainer.global_step();  // steps taken, this one included
  if (epoch_steps_ == 0) epoch_steps_ = trainer.options().max_epochs() * batch.count;
  const double budget = trainer.options().max_time();
  if (total_steps_ == 0) {
    if (budget <= 0) {
      total_steps_ = epoch_steps_;
    } else if (done == options_.skip_steps()) {
      measure_start_seconds_ = trainer.train_seconds();
    } else if (done == options_.skip_steps() + options_.measure_steps()) {
      // The slowest rank's time per step: every rank then computes the same count.
      const double per_step = parallel().max(trainer.train_seconds() - measure_start_seconds_) /
                              static_cast<double>(options_.measure_steps());
      const double left = std::max(0.0, budget - trainer.train_seconds());
      const double in_budget =
          static_cast<double>(done) + (per_step > 0 ? left / per_step : 1e18);
      total_steps_ = std::max<std::size_t>(
          done + 1, std::min<double>(static_cast<double>(epoch_steps_), std::floor(in_budget)));
    }
  }
  apply(trainer, done);
}

void BudgetSchedule::save(const Trainer&, ResumeState& state, const std::string& prefix) const {
  state.put_size(prefix + "groups", base_lrs_.size());
  for (std::size_t g = 0; g < base_lrs_.size(); ++g)
    state.put_number(prefix + fmt::format("base_lr{}", g), base_lrs_[g]);
  state.put_size(prefix + "epoch_steps", epoch_steps_);
  state.put_size(prefix + "total_steps", total_steps_);
  state.put_number(prefix + "measure_start_seconds", measure_start_seconds_);
}

void BudgetSchedule::load(Trainer&, const ResumeState& state, const std::string& prefix) {
  base_lrs_.assign(state.size(prefix + "groups"), 0.0);
  for (std::size_t g = 0; g < base_lrs_.size(); ++g)
    base_lrs_[g] = state.number(prefix + fmt::format("base_lr{}", g));
  epoch_steps_ = state.size(prefix + "epoch_steps");
  total_steps_ = state.size(prefix + "total_steps");
  measure_start_seconds_ = state.number(prefix + "measure_start_seconds");
}

}  // namespace tg::train
