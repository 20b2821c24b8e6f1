// Sampling from categorical distributions: multinomial (torch.multinomial).
#pragma once

#include "tapegrad/autograd/random.hpp"
#include "tapegrad/autograd/tensor.hpp"

namespace tg {

// num_samples category indices per row of probs ([C] -> [num_samples], [N, C] ->
// [N, num_samples]), drawn with probability proportional to the weights (non-negative and
// finite, each row with a positive sum; they need not sum to 1). Without replacement each row's
// draws are distinct, and num_samples may not exceed the row's number of non-zero weights;
// a zero weight is never drawn. Not differentiable (integers). Draws only from gen.
Indices multinomial(const Tensor& probs, std::size_t num_samples, bool replacement = false,
                    Generator& gen = default_generator());

}  // namespace tg
