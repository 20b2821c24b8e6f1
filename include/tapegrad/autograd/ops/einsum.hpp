// Einstein summation (torch.einsum), built from permutes, reshapes, sums and (batched) matmul.
#pragma once

#include <string>
#include <vector>

#include "tapegrad/autograd/tensor.hpp"

namespace tg {

// torch.einsum(equation, operands): subscripts are letters, one per axis, operands separated by
// ',' and an optional "->" before the output's subscripts. Without "->" the output is the
// letters that appear exactly once, in alphabetical order (uppercase first), as NumPy and
// PyTorch do. A letter shared by operands must have one extent (or 1, which broadcasts); letters
// absent from the output are summed. Operands are contracted pairwise, left to right, each pair
// as one matmul, so gradients (and gradients of gradients) come from those ops. An equation
// that changes nothing ("ij->ij") returns the operand itself, as broadcast_to does.
// Not supported, refused with a message: a letter repeated within one operand (a diagonal, as
// "ii->i") and "..." (ellipsis).
Tensor einsum(const std::string& equation, const std::vector<Tensor>& operands);

}  // namespace tg
