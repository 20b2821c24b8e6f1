// Learning-rate schedules: PyTorch 1.13's recursive get_lr() rules, and their state dicts.
#include "tapegrad/optim/lr_scheduler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "optim/state_io.hpp"

namespace tg::optim {

namespace {

const double kPi = std::acos(-1.0);  // Python's math.pi

Tensor vector64(const std::vector<double>& values) {
  return Tensor::from_vector(values, {values.size()}, DType::Float64);
}

std::vector<double> group_lrs(const Optimizer& optimizer) {
  std::vector<double> lrs;
  for (const ParamGroup& g : optimizer.param_groups()) lrs.push_back(g.lr);
  return lrs;
}

// The groups' current lrs times `factor`, as `lr * factor` (the order PyTorch multiplies in).
std::vector<double> scaled(const Optimizer& optimizer, double factor) {
  std::vector<double> lrs = group_lrs(optimizer);
  for (double& lr : lrs) lr = lr * factor;
  return lrs;
}

// Reads the keys `names` under `prefix` from a state dict, refusing unknown or missing ones and
// checking each has `sizes[i]` elements.
std::vector<std::vector<double>> read_state(const std::string& who,
                                            const std::map<std::string, Tensor>& state,
                                            const std::string& prefix,
                                            const std::vector<std::string>& names,
                                            const std::vector<std::size_t>& sizes) {
  const std::set<std::string> known(names.begin(), names.end());
  for (const auto& entry : state)
    if (detail::starts_with(entry.first, prefix) && !known.count(entry.first.substr(prefix.size())))
      throw detail::load_error(who, entry.first, "unknown key");
  std::vector<std::vector<double>> out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string key = prefix + names[i];
    const auto it = state.find(key);
    if (it == state.end()) throw detail::load_error(who, key, "missing");
    if (!it->second.defined() || it->second.size() != sizes[i])
      throw detail::load_error(
          who, key,
          fmt::format("expected {} values, got shape {}", sizes[i],
                      it->second.defined() ? shape_str(it->second.shape()) : "undefined"));
    out.push_back(it->second.to_vector());
  }
  return out;
}

std::int64_t as_count(const std::string& who, const std::string& key, double v) {
  if (!detail::is_exact_integer(v))
    throw detail::load_error(who, key, fmt::format("expected an integer, got {}", v));
  return static_cast<std::int64_t>(v);
}

}  // namespace

// ---- LRScheduler --------------------------------------------------------------------------

LRScheduler::LRScheduler(const char* type_name, Optimizer& optimizer)
    : type_name_(type_name), optimizer_(optimizer) {
  const auto& groups = optimizer.param_groups();
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (std::isnan(groups[g].initial_lr)) optimizer.set_initial_lr(g, groups[g].lr);
    base_lrs_.push_back(optimizer.param_groups()[g].initial_lr);
  }
}

void LRScheduler::fail(const std::string& what) const {
  throw Error(fmt::format("{}: {}", type_name_, what));
}

void LRScheduler::step() {
  ++last_epoch_;
  const std::vector<double> lrs = get_lr();
  for (std::size_t g = 0; g < lrs.size(); ++g) optimizer_.set_lr(g, lrs[g]);
  last_lr_ = group_lrs(optimizer_);
}

std::map<std::string, Tensor> LRScheduler::state_dict(const std::string& prefix) const {
  return {{prefix + "last_epoch", detail::scalar64(static_cast<double>(last_epoch_))},
          {prefix + "base_lrs", vector64(base_lrs_)},
          {prefix + "last_lr", vector64(last_lr_)}};
}

void LRScheduler::load_state_dict(const std::map<std::string, Tensor>& state,
                                  const std::string& prefix) {
  const std::size_t n = base_lrs_.size();
  const auto v = read_state(type_name_, state, prefix, {"last_epoch", "base_lrs", "last_lr"},
                            {1, n, n});
  last_epoch_ = as_count(type_name_, prefix + "last_epoch", v[0][0]);
  base_lrs_ = v[1];
  last_lr_ = v[2];
}

// ---- StepLR -------------------------------------------------------------------------------

StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : LRScheduler("StepLR", optimizer), step_size_(step_size), gamma_(gamma) {
  if (step_size < 1) fail(fmt::format("step_size must be >= 1, got {}", step_size));
  initial_step();
}

std::vector<double> StepLR::get_lr() const {
  if (last_epoch_ == 0 || last_epoch_ % step_size_ != 0) return group_lrs(optimizer_);
  return scaled(optimizer_, gamma_);
}

// ---- ExponentialLR ------------------------------------------------------------------------

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma)
    : LRScheduler("ExponentialLR", optimizer), gamma_(gamma) {
  initial_step();
}

std::vector<double> ExponentialLR::get_lr() const {
  if (last_epoch_ == 0) return group_lrs(optimizer_);
  return scaled(optimizer_, gamma_);
}

// ---- CosineAnnealingLR --------------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, std::int64_t t_max, double eta_min)
    : LRScheduler("CosineAnnealingLR", optimizer), t_max_(t_max), eta_min_(eta_min) {
  if (t_max < 1) fail(fmt::format("T_max must be >= 1, got {}", t_max));
  initial_step();
}

std::vector<double> CosineAnnealingLR::get_lr() const {
  std::vector<double> lrs = group_lrs(optimizer_);
  if (last_epoch_ == 0) return lrs;
  const double t_max = static_cast<double>(t_max_);
  const double e = static_cast<double>(last_epoch_);
  const std::int64_t period = 2 * t_max_;
  const std::int64_t phase = ((last_epoch_ - 1 - t_max_) % period + period) % period;  // Python %
  for (std::size_t g = 0; g < lrs.size(); ++g) {
    if (phase == 0)  // the minimum was the previous step: the recursive form would divide by 0
      lrs[g] = lrs[g] + (base_lrs_[g] - eta_min_) * (1 - std::cos(kPi / t_max)) / 2;
    else
      lrs[g] = (1 + std::cos(kPi * e / t_max)) / (1 + std::cos(kPi * (e - 1) / t_max)) *
                   (lrs[g] - eta_min_) +
               eta_min_;
  }
  return lrs;
}

// ---- LinearLR -----------------------------------------------------------------------------

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor,
                   std::int64_t total_iters)
    : LRScheduler("LinearLR", optimizer),
      start_factor_(start_factor),
      end_factor_(end_factor),
      total_iters_(total_iters) {
  if (!(start_factor > 0 && start_factor <= 1))
    fail(fmt::format("start_factor must be in (0, 1], got {}", start_factor));
  if (!(end_factor >= 0 && end_factor <= 1))
    fail(fmt::format("end_factor must be in [0, 1], got {}", end_factor));
  if (total_iters < 0) fail(fmt::format("total_iters must be >= 0, got {}", total_iters));
  initial_step();
}

std::vector<double> LinearLR::get_lr() const {
  if (last_epoch_ == 0) return scaled(optimizer_, start_factor_);
  if (last_epoch_ > total_iters_) return group_lrs(optimizer_);
  const double span = end_factor_ - start_factor_;
  const double factor =
      1. + span / (static_cast<double>(total_iters_) * start_factor_ +
                   static_cast<double>(last_epoch_ - 1) * span);
  return scaled(optimizer_, factor);
}

// ---- ReduceLROnPlateau --------------------------------------------------------------------

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options)
    : optimizer_(optimizer), options_(std::move(options)) {
  const std::size_t groups = optimizer.param_groups().size();
  if (!(options_.factor < 1.0))
    throw Error(fmt::format("ReduceLROnPlateau: factor should be < 1.0, got {}", options_.factor));
  if (options_.min_lr.size() == 1)
    min_lrs_.assign(groups, options_.min_lr[0]);
  else if (options_.min_lr.size() == groups)
    min_lrs_ = options_.min_lr;
  else
    throw Error(fmt::format("ReduceLROnPlateau: expected {} min_lrs, got {}", groups,
                            options_.min_lr.size()));
  best_ = options_.mode == ReduceLROnPlateauOptions::Mode::Min
              ? std::numeric_limits<double>::infinity()
              : -std::numeric_limits<double>::infinity();
  last_lr_ = group_lrs(optimizer_);
}

bool ReduceLROnPlateau::is_better(double a, double best) const {
  using M = ReduceLROnPlateauOptions::Mode;
  using TM = ReduceLROnPlateauOptions::ThresholdMode;
  const double th = options_.threshold;
  if (options_.mode == M::Min)
    return options_.threshold_mode == TM::Rel ? a < best * (1. - th) : a < best - th;
  return options_.threshold_mode == TM::Rel ? a > best * (th + 1.) : a > best + th;
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (is_better(metric, best_)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs in cooldown do not count
  }
  if (num_bad_epochs_ > options_.patience) {
    for (std::size_t g = 0; g < min_lrs_.size(); ++g) {
      const double old_lr = optimizer_.lr(g);
      const double new_lr = std::max(old_lr * options_.factor, min_lrs_[g]);
      if (old_lr - new_lr > options_.eps) optimizer_.set_lr(g, new_lr);
    }
    cooldown_counter_ = options_.cooldown;
    num_bad_epochs_ = 0;
  }
  last_lr_ = group_lrs(optimizer_);
}

std::map<std::string, Tensor> ReduceLROnPlateau::state_dict(const std::string& prefix) const {
  return {{prefix + "last_epoch", detail::scalar64(static_cast<double>(last_epoch_))},
          {prefix + "best", detail::scalar64(best_)},
          {prefix + "num_bad_epochs", detail::scalar64(static_cast<double>(num_bad_epochs_))},
          {prefix + "cooldown_counter", detail::scalar64(static_cast<double>(cooldown_counter_))},
          {prefix + "last_lr", vector64(last_lr_)}};
}

void ReduceLROnPlateau::load_state_dict(const std::map<std::string, Tensor>& state,
                                        const std::string& prefix) {
  const char* who = "ReduceLROnPlateau";
  const auto v = read_state(who, state, prefix,
                            {"last_epoch", "best", "num_bad_epochs", "cooldown_counter", "last_lr"},
                            {1, 1, 1, 1, min_lrs_.size()});
  last_epoch_ = as_count(who, prefix + "last_epoch", v[0][0]);
  best_ = v[1][0];
  num_bad_epochs_ = as_count(who, prefix + "num_bad_epochs", v[2][0]);
  cooldown_counter_ = as_count(who, prefix + "cooldown_counter", v[3][0]);
  last_lr_ = v[4];
}

}  // namespace tg::optim
