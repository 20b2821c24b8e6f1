// Losses and dropout: cross_entropy (fused, stable), nll_loss, mse_loss, the binary and robust
// regression losses (binary_cross_entropy[_with_logits], l1, smooth_l1, huber), dropout.
#pragma once

#include "tapegrad/autograd/options.hpp"
#include "tapegrad/autograd/random.hpp"
#include "tapegrad/autograd/tensor.hpp"

namespace tg {

enum class Reduction { Mean, Sum, None };

// CrossEntropyOptions().ignore_index(0).label_smoothing(0.1), as F.cross_entropy's arguments.
class CrossEntropyOptions {
  TG_ARG(Reduction, reduction) = Reduction::Mean;
  // Targets equal to it contribute nothing (and do not count in the mean).
  TG_ARG(long, ignore_index) = -100;
  // Optional per-class weights [C]; the mean divides by the summed weights.
  TG_ARG(Tensor, weight);
  // In [0, 1]; cross_entropy only (PyTorch's definition).
  TG_ARG(double, label_smoothing) = 0.0;
};

// logits [N, C] with N class indices, [N, C, d1, ...] with targets [N, d1, ...] (the class
// axis second, as PyTorch), or one sample [C] with a scalar target (shape []). log_softmax +
// nll in one node: the backward is (softmax - one_hot) * w_y / denominator, from the saved
// log-probabilities; stable at any logit magnitude. [N, C] is used as it is; the other shapes
// are first viewed as [M, C] rows. Targets outside [0, C) (other than ignore_index) throw,
// naming the target and C. With reduction Mean the loss is sum(w_y l) / sum(w_y) over the
// elements not ignored (NaN if all are, as PyTorch); None gives the targets' shape. With
// label_smoothing e the loss is (1 - e) nll + e/C * (-sum_c weight[c] log p_c), PyTorch 1.13's
// formula (the mean divides both terms by the summed weights of the elements not ignored).
// The class weights get no gradient.
Tensor cross_entropy(const Tensor& logits, const Indices& targets,
                     const CrossEntropyOptions& options = {});
// log_probs (already log-softmaxed) of any shape cross_entropy takes, same options except
// label_smoothing (which must be 0, as nll_loss has none in PyTorch).
Tensor nll_loss(const Tensor& log_probs, const Indices& targets,
                const CrossEntropyOptions& options = {});
// Mean (or summed, or element-wise) squared difference; target broadcasts against prediction.
Tensor mse_loss(const Tensor& prediction, const Tensor& target, Reduction reduction = Reduction::Mean);

// -weight * (target log(input) + (1 - target) log(1 - input)), each log clamped to >= -100 as
// PyTorch does. input holds probabilities in [0, 1] (others throw), target has input's shape,
// weight (optional) broadcasts to it and gets no gradient. The target gets a gradient
// (-weight * logit(input)), as in PyTorch.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target,
                            const Tensor& weight = Tensor(), Reduction reduction = Reduction::Mean);
// binary_cross_entropy of sigmoid(input), computed stably from the logits:
// weight * ((1 - t) x + (1 + (pos_weight - 1) t) * (max(-x, 0) + log1p(exp(-|x|)))).
// target has input's shape; weight and pos_weight (optional, e.g. pos_weight [C] for input
// [N, C]) broadcast to it and get no gradient.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const Tensor& weight = Tensor(),
                                        const Tensor& pos_weight = Tensor(),
                                        Reduction reduction = Reduction::Mean);
// |input - target|; target broadcasts against input (as mse_loss).
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (d = input - target); beta >= 0,
// and beta = 0 is l1_loss.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target,
                      Reduction reduction = Reduction::Mean, double beta = 1.0);
// 0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere; delta > 0.
Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                  double delta = 1.0);

// Inverted dropout: in training, zeroes each element with probability p and scales the rest by
// 1/(1-p); outside training (or p == 0) returns x itself. p must be in [0, 1). The mask takes
// one 64-bit draw from gen (it keys a SplitMix64 stream), so reseeding gen repeats the mask.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen = default_generator());

}  // namespace tg
