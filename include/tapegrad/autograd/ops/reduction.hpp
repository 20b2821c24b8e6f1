// Reductions over axes: sum, mean, max, logsumexp, and the softmax family.
#pragma once

#include <vector>

#include "tapegrad/autograd/tensor.hpp"

namespace tg {

// `axes` empty = all axes; negative axes count from the end.
Tensor sum(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
Tensor mean(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
// Maximum (NaN if any element is); the gradient is shared equally among tied maxima (as
// torch.amax). Reducing over an empty axis throws.
Tensor max(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
// Minimum, likewise (NaN-propagating, ties share the gradient, as torch.amin).
Tensor min(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
// log(sum(exp(x))) over axes, computed stably (shifted by the maximum); all -inf gives -inf.
Tensor logsumexp(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
// x summed over the axes along which `shape` would broadcast to x's shape (leading axes, and
// axes where shape has 1), so that the result has `shape` (torch's sum_to_size): how a
// broadcast's gradient is reduced. x itself if it has the shape already.
Tensor sum_to_size(const Tensor& x, const Shape& shape);
// Along one axis, stable at any magnitude; backward from the saved output.
Tensor softmax(const Tensor& x, int axis = -1);
Tensor log_softmax(const Tensor& x, int axis = -1);

}  // namespace tg
