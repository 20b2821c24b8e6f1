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

Tensor L1Loss::forward(const Tensor& input, const Tensor& target) const {
  return l1_loss(input, target, reduction_);
}

Tensor BCELoss::forward(const Tensor& input, const Tensor& target) const {
  return binary_cross_entropy(input, target, options_.weight(), options_.reduction());
}

Tensor BCEWithLogitsLoss::forward(const Tensor& input, const Tensor& target) const {
  return binary_cross_entropy_with_logits(input, target, options_.weight(), options_.pos_weight(),
                                          options_.reduction());
}

Tensor SmoothL1Loss::forward(const Tensor& input, const Tensor& target) const {
  return smooth_l1_loss(input, target, options_.reduction(), options_.beta());
}

Tensor HuberLoss::forward(const Tensor& input, const Tensor& target) const {
  return huber_loss(input, target, options_.reduction(), options_.delta());
}

}  // namespace tg::nn
