// SGD, Adam, AdamW, RMSprop and Adagrad with PyTorch 1.13's options, defaults and update rules.
#pragma once

#include <limits>
#include <utility>
#include <vector>

#include "tapegrad/optim/optimizer.hpp"

namespace tg::optim {

// Options are aggregates in PyTorch's argument order: SGDOptions{0.1, 0.9} is
// torch.optim.SGD(params, lr=0.1, momentum=0.9). lr and weight_decay are the defaults of groups
// that do not set their own. Invalid values throw tg::Error at construction, as PyTorch's
// ValueError ("SGD: invalid momentum value: -1").

struct SGDOptions {
  double lr = std::numeric_limits<double>::quiet_NaN();  // required, as in PyTorch
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;  // needs momentum > 0 and dampening == 0
};

// Buffer "momentum_buffer" when momentum != 0 (first update: the gradient itself, undamped).
class SGD : public Optimizer {
 public:
  SGD(ParamList params, const SGDOptions& options);
  SGD(std::vector<ParamGroupSpec> groups, const SGDOptions& options);
  const SGDOptions& options() const { return options_; }

 protected:
  void update(const ParamGroup& group, const Tensor& param, ParamState& state) override;

 private:
  SGDOptions options_;
};

struct AdamOptions {
  double lr = 1e-3;
  std::pair<double, double> betas{0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0;  // L2: added to the gradient
  bool amsgrad = false;
};

// AdamW's defaults differ from Adam's only in weight_decay, which is decoupled: the parameter is
// multiplied by 1 - lr * weight_decay before the Adam step.
struct AdamWOptions {
  double lr = 1e-3;
  std::pair<double, double> betas{0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
};

// Buffers "exp_avg", "exp_avg_sq", and "max_exp_avg_sq" with amsgrad.
class Adam : public Optimizer {
 public:
  Adam(ParamList params, const AdamOptions& options = {});
  Adam(std::vector<ParamGroupSpec> groups, const AdamOptions& options = {});
  const AdamOptions& options() const { return options_; }

 protected:
  Adam(const char* type_name, std::vector<ParamGroupSpec> groups, const AdamOptions& options,
       bool decoupled_weight_decay);
  void update(const ParamGroup& group, const Tensor& param, ParamState& state) override;

 private:
  AdamOptions options_;
  bool decoupled_;
};

class AdamW : public Adam {
 public:
  AdamW(ParamList params, const AdamWOptions& options = {});
  AdamW(std::vector<ParamGroupSpec> groups, const AdamWOptions& options = {});
};

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;
};

// Buffers "square_avg", "momentum_buffer" when momentum > 0, "grad_avg" when centered.
class RMSprop : public Optimizer {
 public:
  RMSprop(ParamList params, const RMSpropOptions& options = {});
  RMSprop(std::vector<ParamGroupSpec> groups, const RMSpropOptions& options = {});
  const RMSpropOptions& options() const { return options_; }

 protected:
  void update(const ParamGroup& group, const Tensor& param, ParamState& state) override;

 private:
  RMSpropOptions options_;
};

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0;
  double weight_decay = 0;
  double initial_accumulator_value = 0;
  double eps = 1e-10;
};

// Buffer "sum", starting at initial_accumulator_value.
class Adagrad : public Optimizer {
 public:
  Adagrad(ParamList params, const AdagradOptions& options = {});
  Adagrad(std::vector<ParamGroupSpec> groups, const AdagradOptions& options = {});
  const AdagradOptions& options() const { return options_; }

 protected:
  double initial_buffer_value(std::size_t buffer) const override;
  void update(const ParamGroup& group, const Tensor& param, ParamState& state) override;

 private:
  AdagradOptions options_;
};

}  // namespace tg::optim
