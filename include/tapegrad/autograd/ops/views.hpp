// Ops that rearrange values as PyTorch's views do: squeeze, unsqueeze, expand, repeat, flip,
// split and chunk (tapegrad copies where PyTorch would alias; the values and gradients match).
#pragma once

#include <vector>

#include "tapegrad/autograd/tensor.hpp"

namespace tg {

// x without its size-1 axes (torch.squeeze(x)).
Tensor squeeze(const Tensor& x);
// x without `axis` if that axis has size 1, else x unchanged (torch.squeeze(x, dim)); a
// negative axis counts from the end.
Tensor squeeze(const Tensor& x, int axis);
// x with a new size-1 axis at `axis` of the result, in [-(dim+1), dim] (torch.unsqueeze).
Tensor unsqueeze(const Tensor& x, int axis);

// x broadcast to `shape`, where -1 keeps x's extent (torch.Tensor.expand): new axes lead, and
// only size-1 axes grow. The gradient sums back (recorded as broadcast_to).
Tensor expand(const Tensor& x, const std::vector<long>& shape);
// x tiled repeats[i] times along axis i (torch.Tensor.repeat); more repeats than axes add
// leading axes.
Tensor repeat(const Tensor& x, const std::vector<long>& repeats);
// x reversed along each of `axes` (torch.flip).
Tensor flip(const Tensor& x, const std::vector<int>& axes);

// Pieces of `split_size` along `axis`, the last one smaller if the extent does not divide
// (torch.split with an int).
std::vector<Tensor> split(const Tensor& x, long split_size, int axis = 0);
// Pieces of the given sizes along `axis`, which must add up to its extent (torch.split with a
// list, torch.split_with_sizes).
std::vector<Tensor> split(const Tensor& x, const std::vector<long>& sizes, int axis = 0);
// `chunks` pieces of ceil(extent / chunks) along `axis`, the last smaller, so possibly fewer
// than `chunks` of them (torch.chunk).
std::vector<Tensor> chunk(const Tensor& x, long chunks, int axis = 0);

}  // namespace tg
