// Ops that address elements by integer position: argmax/argmin, topk, gather, scatter_add,
// index_add, one_hot.
#pragma once

#include <vector>

#include "tapegrad/autograd/tensor.hpp"

namespace tg {

// Position of the largest (smallest) element along `axis`; the first one on ties, a NaN counts
// as the extreme (as torch.argmax). Result shape: x's without the axis (kept as 1 with keepdims).
// Integer results carry no gradient.
Indices argmax(const Tensor& x, int axis = -1, bool keepdims = false);
Indices argmin(const Tensor& x, int axis = -1, bool keepdims = false);

// The k largest (or smallest) elements along `axis`, sorted, and their positions; equal values
// keep their order of position. values' gradient goes back to the positions it came from.
struct TopK {
  Tensor values;
  Indices indices;
};
TopK topk(const Tensor& x, std::size_t k, int axis = -1, bool largest = true);

// out[..., j, ...] = x[..., index[..., j, ...], ...] along `axis` (torch.gather): index has x's
// rank, and at most x's extent on every other axis; the result has index's shape. Backward
// scatter-adds (repeated positions accumulate).
Tensor gather(const Tensor& x, int axis, const Indices& index);
// x with src added at the positions index names along `axis` (torch.scatter_add); src has
// index's shape. Gradients: x gets g, src gets g gathered at those positions.
Tensor scatter_add(const Tensor& x, int axis, const Indices& index, const Tensor& src);
// x with slice k of src added to slice index[k] of x along `axis` (torch.index_add): index is
// 1-D, src is x's shape with index.size() on the axis. Repeated indices accumulate.
Tensor index_add(const Tensor& x, int axis, const Indices& index, const Tensor& src);

// [..., num_classes] with a 1 at each index's class (no gradient); indices must be in range.
Tensor one_hot(const Indices& index, std::size_t num_classes, DType dtype = DType::Float32);

}  // namespace tg
