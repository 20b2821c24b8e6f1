// Loss modules over the tg:: loss ops: CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, BCELoss,
// BCEWithLogitsLoss, SmoothL1Loss, HuberLoss (PyTorch's names, options and defaults).
#pragma once

#include "tapegrad/autograd/ops/loss.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/options.hpp"

namespace tg::nn {

// Losses have no parameters; they are modules (as in PyTorch) so a model can hold one. Each
// keeps Module's one-input forward visible beside its own (that one throws: a loss takes two
// inputs), so no compiler warns that it is hidden.
class CrossEntropyLoss : public Module {
 public:
  using Module::forward;
  explicit CrossEntropyLoss(CrossEntropyOptions options = {}) : options_(std::move(options)) {}
  std::string type_name() const override { return "CrossEntropyLoss"; }
  // logits [N, C] with N class indices, [N, C, d1, ...] with targets [N, d1, ...], or [C] with
  // a scalar target (as tg::cross_entropy).
  Tensor forward(const Tensor& logits, const Indices& targets) const;
  Tensor operator()(const Tensor& logits, const Indices& targets) const {
    return forward(logits, targets);
  }
  const CrossEntropyOptions& options() const { return options_; }

 private:
  CrossEntropyOptions options_;
};

class NLLLoss : public Module {
 public:
  using Module::forward;
  explicit NLLLoss(CrossEntropyOptions options = {}) : options_(std::move(options)) {}
  std::string type_name() const override { return "NLLLoss"; }
  // log_probs (log-softmaxed), shaped as CrossEntropyLoss's logits.
  Tensor forward(const Tensor& log_probs, const Indices& targets) const;
  Tensor operator()(const Tensor& log_probs, const Indices& targets) const {
    return forward(log_probs, targets);
  }
  const CrossEntropyOptions& options() const { return options_; }

 private:
  CrossEntropyOptions options_;
};

class MSELoss : public Module {
 public:
  using Module::forward;
  explicit MSELoss(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  std::string type_name() const override { return "MSELoss"; }
  Tensor forward(const Tensor& prediction, const Tensor& target) const;
  Tensor operator()(const Tensor& prediction, const Tensor& target) const {
    return forward(prediction, target);
  }
  Reduction reduction() const { return reduction_; }

 private:
  Reduction reduction_;
};

// The options of the losses that have more than a reduction (chained setters, TG_ARG):
//   nn::BCEWithLogitsLoss loss(nn::BCEWithLogitsLossOptions().pos_weight(p).reduction(Reduction::Sum));
class BCELossOptions {
  TG_ARG(Tensor, weight);  // optional, broadcast to the input's shape
  TG_ARG(Reduction, reduction) = Reduction::Mean;
};

class BCEWithLogitsLossOptions {
  TG_ARG(Tensor, weight);      // optional, broadcast to the input's shape
  TG_ARG(Tensor, pos_weight);  // optional, e.g. [C] for input [N, C]
  TG_ARG(Reduction, reduction) = Reduction::Mean;
};

class SmoothL1LossOptions {
 public:
  SmoothL1LossOptions() = default;
  explicit SmoothL1LossOptions(double beta) : beta_(beta) {}
  TG_ARG(Reduction, reduction) = Reduction::Mean;
  TG_ARG(double, beta) = 1.0;
};

class HuberLossOptions {
 public:
  HuberLossOptions() = default;
  explicit HuberLossOptions(double delta) : delta_(delta) {}
  TG_ARG(Reduction, reduction) = Reduction::Mean;
  TG_ARG(double, delta) = 1.0;
};

class L1Loss : public Module {
 public:
  using Module::forward;
  explicit L1Loss(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  std::string type_name() const override { return "L1Loss"; }
  Tensor forward(const Tensor& input, const Tensor& target) const;
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }
  Reduction reduction() const { return reduction_; }

 private:
  Reduction reduction_;
};

// input: probabilities in [0, 1]; target of the same shape.
class BCELoss : public Module {
 public:
  using Module::forward;
  explicit BCELoss(BCELossOptions options = {}) : options_(std::move(options)) {}
  std::string type_name() const override { return "BCELoss"; }
  Tensor forward(const Tensor& input, const Tensor& target) const;
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }
  const BCELossOptions& options() const { return options_; }

 private:
  BCELossOptions options_;
};

// input: logits; target of the same shape.
class BCEWithLogitsLoss : public Module {
 public:
  using Module::forward;
  explicit BCEWithLogitsLoss(BCEWithLogitsLossOptions options = {}) : options_(std::move(options)) {}
  std::string type_name() const override { return "BCEWithLogitsLoss"; }
  Tensor forward(const Tensor& input, const Tensor& target) const;
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }
  const BCEWithLogitsLossOptions& options() const { return options_; }

 private:
  BCEWithLogitsLossOptions options_;
};

class SmoothL1Loss : public Module {
 public:
  using Module::forward;
  explicit SmoothL1Loss(SmoothL1LossOptions options = {}) : options_(options) {}
  std::string type_name() const override { return "SmoothL1Loss"; }
  Tensor forward(const Tensor& input, const Tensor& target) const;
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }
  const SmoothL1LossOptions& options() const { return options_; }

 private:
  SmoothL1LossOptions options_;
};

class HuberLoss : public Module {
 public:
  using Module::forward;
  explicit HuberLoss(HuberLossOptions options = {}) : options_(options) {}
  std::string type_name() const override { return "HuberLoss"; }
  Tensor forward(const Tensor& input, const Tensor& target) const;
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }
  const HuberLossOptions& options() const { return options_; }

 private:
  HuberLossOptions options_;
};

}  // namespace tg::nn
