// Learning-rate schedules as torch.optim.lr_scheduler 1.13: StepLR, ExponentialLR,
// CosineAnnealingLR, LinearLR (warm-up) and ReduceLROnPlateau.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tapegrad/optim/optimizer.hpp"

namespace tg::optim {

// Base of the epoch-driven schedules. Like PyTorch's _LRScheduler: construction records each
// group's initial_lr (if no scheduler did yet) as the base lr and performs the initial step
// (last_epoch 0); every step() advances last_epoch and writes the new lr into the optimizer's
// groups. The rules are PyTorch's chainable (recursive) forms, so two schedules stepped together
// on one optimizer compose as ChainedScheduler does (e.g. LinearLR warm-up with cosine decay),
// and the values agree with PyTorch's to the last bit. Call optimizer.step() before step().
//
// A scheduler holds a reference to its optimizer, which must outlive it.
//
// State dict, keys under a prefix ("sched." by default; give chained schedulers distinct ones):
//   <prefix>last_epoch, <prefix>base_lrs [groups], <prefix>last_lr [groups]   (float64)
// The hyper-parameters come from the constructor. The learning rates themselves live in the
// optimizer's state dict, so restore both.
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  void step();
  // The lr of every group after the last step (or the construction).
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  std::int64_t last_epoch() const { return last_epoch_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }

  std::map<std::string, Tensor> state_dict(const std::string& prefix = "sched.") const;
  void load_state_dict(const std::map<std::string, Tensor>& state,
                       const std::string& prefix = "sched.");

 protected:
  LRScheduler(const char* type_name, Optimizer& optimizer);
  // The derived constructor's last statement: PyTorch's _initial_step (needs get_lr()).
  void initial_step() { step(); }
  // Each group's new lr at last_epoch_, from the groups' current lrs (PyTorch's get_lr()).
  virtual std::vector<double> get_lr() const = 0;
  [[noreturn]] void fail(const std::string& what) const;

  const char* type_name_;
  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  std::int64_t last_epoch_ = -1;
  std::vector<double> last_lr_;
};

// lr * gamma every step_size steps.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() const override;

 private:
  std::int64_t step_size_;
  double gamma_;
};

// lr * gamma every step.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  std::vector<double> get_lr() const override;

 private:
  double gamma_;
};

// eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 (SGDR without restarts);
// past T_max it rises again with period 2 T_max, as PyTorch's recursive form does.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, std::int64_t t_max, double eta_min = 0);

 protected:
  std::vector<double> get_lr() const override;

 private:
  std::int64_t t_max_;
  double eta_min_;
};

// Linear warm-up: the lr factor goes from start_factor to end_factor over total_iters steps,
// then stays. start_factor must be in (0, 1] (PyTorch 1.13 accepts 0, then divides by zero at
// the first step) and end_factor in [0, 1].
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0,
           std::int64_t total_iters = 5);

 protected:
  std::vector<double> get_lr() const override;

 private:
  double start_factor_;
  double end_factor_;
  std::int64_t total_iters_;
};

struct ReduceLROnPlateauOptions {
  enum class Mode { Min, Max };
  enum class ThresholdMode { Rel, Abs };
  Mode mode = Mode::Min;
  double factor = 0.1;  // must be < 1
  std::int64_t patience = 10;
  double threshold = 1e-4;
  ThresholdMode threshold_mode = ThresholdMode::Rel;
  std::int64_t cooldown = 0;
  std::vector<double> min_lr{0.0};  // one value for every group, or one per group
  double eps = 1e-8;                // reductions smaller than this are skipped
};

// Multiplies every group's lr by factor (not below min_lr) once the metric has not improved for
// more than `patience` steps; then waits `cooldown` steps. Improvement in "min" mode with "rel"
// threshold means metric < best * (1 - threshold); "abs": metric < best - threshold ("max" mode
// mirrors them). NaN never improves.
//
// State dict keys under the prefix: last_epoch, best, num_bad_epochs, cooldown_counter, last_lr.
class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options = {});

  void step(double metric);
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  std::int64_t last_epoch() const { return last_epoch_; }
  double best() const { return best_; }
  std::int64_t num_bad_epochs() const { return num_bad_epochs_; }
  std::int64_t cooldown_counter() const { return cooldown_counter_; }

  std::map<std::string, Tensor> state_dict(const std::string& prefix = "sched.") const;
  void load_state_dict(const std::map<std::string, Tensor>& state,
                       const std::string& prefix = "sched.");

 private:
  bool is_better(double a, double best) const;

  Optimizer& optimizer_;
  ReduceLROnPlateauOptions options_;
  std::vector<double> min_lrs_;
  std::int64_t last_epoch_ = 0;
  double best_;
  std::int64_t num_bad_epochs_ = 0;
  std::int64_t cooldown_counter_ = 0;
  std::vector<double> last_lr_;
};

}  // namespace tg::optim
