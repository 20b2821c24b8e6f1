// tg::optim::Optimizer: parameter groups, per-parameter state by name, state dicts to resume.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tapegrad/nn/module.hpp"

namespace tg::optim {

// The parameters an optimizer is given: named (model.named_parameters(); the names key the
// state in checkpoints) or a plain list (model.parameters(), or tensors of one's own), which is
// named by position "0", "1", ... as PyTorch's optimizer state_dict numbers them.
class ParamList {
 public:
  ParamList(nn::NamedTensors named) : named_(std::move(named)) {}
  ParamList(const std::vector<Tensor>& tensors);
  ParamList(std::initializer_list<Tensor> tensors) : ParamList(std::vector<Tensor>(tensors)) {}
  nn::NamedTensors& named() { return named_; }

 private:
  nn::NamedTensors named_;
};

// A parameter group as asked for: its parameters, and a learning rate / weight decay that
// override the optimizer's options when given (PyTorch's param_groups dicts).
struct ParamGroupSpec {
  nn::NamedTensors params;
  std::optional<double> lr;
  std::optional<double> weight_decay;
};

// A parameter group as the optimizer runs it. Each group has its own lr and weight_decay; the
// optimizer's other options (momentum, betas, eps, ...) are shared by all groups.
struct ParamGroup {
  nn::NamedTensors params;
  double lr = 0;
  double weight_decay = 0;
  // The lr the first scheduler attached to the optimizer saw (PyTorch's group["initial_lr"]);
  // NaN until a scheduler sets it. Schedulers use it as their base lr.
  double initial_lr = std::numeric_limits<double>::quiet_NaN();
};

// One parameter's state: how many updates it has had (PyTorch's state["step"]; a parameter
// skipped for lack of a gradient does not count) and the optimizer's buffers for it, in the
// order of Optimizer::buffer_names(), allocated at its first update with its dtype and shape.
struct ParamState {
  std::int64_t step = 0;
  std::vector<Tensor> buffers;
};

// Base of SGD, Adam, AdamW, RMSprop and Adagrad. step() updates, under NoGradGuard and in place,
// every parameter that has a gradient; parameters without one (never reached by backward, or
// zeroed since: Tensor::zero_grad() forgets the gradient, as PyTorch's set_to_none) are skipped
// and keep their state untouched, as PyTorch skips grad None.
//
// State dict (state_dict() / load_state_dict()), keys under a prefix ("optim." by default):
//   <prefix>step                      number of step() calls (float64 scalar)
//   <prefix>groups                    number of parameter groups
//   <prefix>group<i>.params           number of parameters in group i
//   <prefix>group<i>.lr               group i's current learning rate
//   <prefix>group<i>.weight_decay     group i's weight decay
//   <prefix>group<i>.initial_lr       group i's initial_lr (absent until a scheduler sets it)
//   <prefix>state.<param>.step        the parameter's update count (only parameters updated at
//   <prefix>state.<param>.<buffer>    least once), and each of its buffers (e.g. "exp_avg"),
//                                     with the parameter's shape and dtype
// Counts and scalars are 0-d float64 tensors; buffers are copies, not aliases. load_state_dict
// ignores keys outside the prefix (so one map can hold a model, optimizer and schedulers), and
// refuses unknown or missing keys, unknown parameter names and shape mismatches, naming the key,
// before changing anything. A buffer of another dtype is converted to the parameter's (as
// PyTorch does), so exact resumption needs the same dtypes.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // "SGD", "Adam", ...: the first word of every error message.
  const std::string& type_name() const { return type_name_; }

  // Forgets the gradient of every parameter (see the class comment).
  void zero_grad();
  // One update of every parameter that has a gradient.
  void step();
  std::int64_t step_count() const { return step_count_; }

  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  double lr(std::size_t group = 0) const;
  void set_lr(std::size_t group, double lr);
  void set_lr(double lr);  // every group
  void set_weight_decay(std::size_t group, double weight_decay);
  void set_initial_lr(std::size_t group, double initial_lr);

  // Names of the per-parameter buffers ("momentum_buffer", "exp_avg", ...), fixed by the options.
  const std::vector<std::string>& buffer_names() const { return buffer_names_; }
  // A parameter's state; a default ParamState (step 0, no buffers) before its first update.
  const ParamState& state(const std::string& param) const;

  std::map<std::string, Tensor> state_dict(const std::string& prefix = "optim.") const;
  void load_state_dict(const std::map<std::string, Tensor>& state,
                       const std::string& prefix = "optim.");

 protected:
  // Checks the groups (at least one parameter, names and tensors unique, lr and weight decay
  // non-negative) and fills the unset lr / weight_decay from the optimizer's options.
  Optimizer(std::string type_name, std::vector<ParamGroupSpec> groups, double lr,
            double weight_decay, std::vector<std::string> buffer_names);

  // Value of a buffer at a parameter's first update; zeros unless overridden (Adagrad).
  virtual double initial_buffer_value(std::size_t /*buffer*/) const { return 0.0; }
  // Updates one parameter in place. The state's step is already incremented and its buffers
  // allocated; the gradient exists and has the parameter's shape.
  virtual void update(const ParamGroup& group, const Tensor& param, ParamState& state) = 0;

  // Throws tg::Error "<type>: <what>"; for the derived classes' option checks.
  [[noreturn]] void fail(const std::string& what) const;

 private:
  // Fails "<op>: no group <group> (<n> groups)" unless the group exists.
  void check_group(const char* op, std::size_t group) const;

  std::string type_name_;
  std::vector<ParamGroup> groups_;
  std::vector<std::vector<ParamState>> states_;  // [group][parameter], aligned with groups_
  std::vector<std::string> buffer_names_;
  std::int64_t step_count_ = 0;
};

// Wraps a flat list of named parameters as the one group most optimizers are given.
std::vector<ParamGroupSpec> single_group(ParamList params);

}  // namespace tg::optim
