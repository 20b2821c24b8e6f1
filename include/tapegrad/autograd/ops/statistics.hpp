// Statistics over axes and the normalisations built on them: var, std, layer_norm, masked_softmax.
#pragma once

#include <vector>

#include "tapegrad/autograd/tensor.hpp"

namespace tg {

// Variance over axes (empty = all) with Bessel's correction by default: the sum of squared
// deviations divided by count - correction, as torch.var(correction=). A non-positive divisor
// gives inf/NaN, as PyTorch.
Tensor var(const Tensor& x, const std::vector<int>& axes = {}, long correction = 1,
           bool keepdims = false);
// torch.std: sqrt(var(...)). Not named std, which would make std:: ambiguous in code that says
// `using namespace tg`. Its gradient is infinite where the deviation is 0 everywhere (constant input).
Tensor stddev(const Tensor& x, const std::vector<int>& axes = {}, long correction = 1,
           bool keepdims = false);

// Normalises over the trailing `normalized_shape` axes of x (biased variance, as PyTorch), then
// scales by weight and shifts by bias (each of normalized_shape, or undefined for none). One fused
// node: backward computes the three gradients from the saved per-row mean and 1/std.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

// Softmax along `axis` over the positions where mask == 0. The mask convention is
// masked_fill's and that of PyTorch's bool masks: a non-zero mask element masks its position out
// (nn::MultiheadAttention builds this mask from its BoolMask and -inf entries).
// The mask broadcasts to x's shape and gets no gradient. Masked positions get probability 0;
// a lane masked entirely gives all zeros (PyTorch would give NaN), so fully padded rows
// contribute nothing instead of poisoning a loss.
Tensor masked_softmax(const Tensor& x, const Tensor& mask, int axis = -1);

}  // namespace tg
