// Ops that move values without arithmetic: reshape, concat, stack, slice, gathers and selection.
#pragma once

#include <type_traits>
#include <vector>

#include "tapegrad/autograd/tensor.hpp"

namespace tg {

// One axis of the new shape may be -1 (inferred).
Tensor reshape(const Tensor& x, const std::vector<long>& shape);
// The same with a Shape (e.g. another tensor's). A template so that a braced list such as
// {4, -1} still picks the overload above instead of being ambiguous.
template <class S, std::enable_if_t<std::is_same_v<S, Shape>, int> = 0>
Tensor reshape(const Tensor& x, const S& shape) {
  return reshape(x, std::vector<long>(shape.begin(), shape.end()));
}
Tensor concat(const std::vector<Tensor>& tensors, int axis = 0);
Tensor stack(const std::vector<Tensor>& tensors, int axis = 0);
// Elements start, start + step, ... < end along `axis` (x[start:end:step] in PyTorch): negative
// start/end count from the end and bounds past the ends are clamped, as Python's slices; step
// must be positive.
Tensor slice(const Tensor& x, int axis, long start, long end, long step = 1);
// Rows (or slices along `axis`) picked by a 1-D index list; repeated indices accumulate in backward.
Tensor index_select(const Tensor& x, int axis, const Indices& index);
// Rows of a [V, D] table for each index: result shape = indices.shape + [D]. Backward
// scatter-adds (repeated indices accumulate); rows equal to padding_idx get no gradient (a
// negative padding_idx means none). Indices outside [0, V) throw, naming the index and V.
Tensor embedding(const Tensor& weight, const Indices& indices, long padding_idx = -1);
// condition != 0 ? a : b, with broadcasting of all three; condition gets no gradient.
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
// x with `value` wherever mask != 0 (mask broadcast to x's shape).
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
// x repeated along new leading axes and its size-1 axes to `shape` (NumPy's broadcast_to,
// torch's expand); the gradient is summed back (sum_to_size). x itself if the shape is x's.
Tensor broadcast_to(const Tensor& x, const Shape& shape);

}  // namespace tg
