// Matrix ops through BLAS: matmul (2-D and batched N-D with broadcasting), linear, transpose.
#pragma once

#include <vector>

#include "tapegrad/autograd/tensor.hpp"

namespace tg {

// [..., M, K] x [..., K, N] -> [..., M, N]: the leading (batch) axes broadcast as NumPy's
// (torch.matmul); [..., M, K] x [K, N] is one BLAS product. A 1-D operand follows torch.matmul:
// [K] x [K] -> [] (dot product), [K] x [..., K, N] -> [..., N], [..., M, K] x [K] -> [..., M].
Tensor matmul(const Tensor& a, const Tensor& b);

// x W^T + b for x [..., in], weight [out, in], bias [out] (bias may be undefined): one BLAS call
// forward and one per input backward, as torch.nn.functional.linear.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// Permutes axes; an empty permutation reverses them (NumPy's default).
Tensor transpose(const Tensor& x, const std::vector<std::size_t>& perm = {});

}  // namespace tg
