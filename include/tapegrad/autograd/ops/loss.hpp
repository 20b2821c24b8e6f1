// Losses and dropout: cross_entropy (fused, stable), nll_loss, mse_loss, dropout.
#pragma once

#include "tapegrad/autograd/random.hpp"
#include "tapegrad/autograd/tensor.hpp"

namespace tg {

enum class Reduction { Mean, Sum, None };

struct CrossEntropyOptions {
  Reduction reduction = Reduction::Mean;
  long ignore_index = -100;  // targets equal to it contribute nothing (and do not count in the mean)
  Tensor weight;             // optional per-class weights [C]; the mean divides by the summed weights
};

// logits [N, C], targets N class indices. log_softmax + nll in one node: the backward is
// (softmax - one_hot) * w_y / denominator, from the saved log-probabilities; stable at any
// logit magnitude. Targets outside [0, C) (other than ignore_index) throw, naming the target
// and C. With reduction Mean the loss is sum(w_y l) / sum(w_y) over the rows not ignored (NaN if
// all are, as PyTorch); the class weights get no gradient.
Tensor cross_entropy(const Tensor& logits, const Indices& targets,
                     const CrossEntropyOptions& options = {});
// log_probs [N, C] (already log-softmaxed), same options as cross_entropy.
Tensor nll_loss(const Tensor& log_probs, const Indices& targets,
                const CrossEntropyOptions& options = {});
// Mean (or summed, or element-wise) squared difference; target broadcasts against prediction.
Tensor mse_loss(const Tensor& prediction, const Tensor& target, Reduction reduction = Reduction::Mean);

// Inverted dropout: in training, zeroes each element with probability p and scales the rest by
// 1/(1-p); outside training (or p == 0) returns x itself. p must be in [0, 1). The mask takes
// one 64-bit draw from gen (it keys a SplitMix64 stream), so reseeding gen repeats the mask.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen = default_generator());

}  // namespace tg
