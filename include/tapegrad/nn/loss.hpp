// Loss modules: CrossEntropyLoss, NLLLoss and MSELoss over the tg:: loss ops.
#pragma once

#include "tapegrad/autograd/ops/loss.hpp"
#include "tapegrad/nn/module.hpp"

namespace tg::nn {

// Losses have no parameters; they are modules (as in PyTorch) so a model can hold one. Each
// keeps Module's one-input forward visible beside its own (that one throws: a loss takes two
// inputs), so no compiler warns that it is hidden.
class CrossEntropyLoss : public Module {
 public:
  using Module::forward;
  explicit CrossEntropyLoss(CrossEntropyOptions options = {}) : options_(std::move(options)) {}
  std::string type_name() const override { return "CrossEntropyLoss"; }
  // logits [N, C], targets N class indices.
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
  // log_probs [N, C] (log-softmaxed), targets N class indices.
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

}  // namespace tg::nn
