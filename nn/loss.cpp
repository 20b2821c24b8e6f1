// Loss modules: thin bindings of their options to the tg:: loss ops.
#include "tapegrad/nn/loss.hpp"

namespace tg::nn {

Tensor CrossEntropyLoss::forward(const Tensor& logits, const Indices& targets) const {
  return cross_entropy(logits, targets, options_);
}

Tensor NLLLoss::forward(const Tensor& log_probs, const Indices& targets) const {
  return nll_loss(log_probs, targets, options_);
}

Tensor MSELoss::forward(const Tensor& prediction, const Tensor& target) const {
  return mse_loss(prediction, target, reduction_);
}

}  // namespace tg::nn
