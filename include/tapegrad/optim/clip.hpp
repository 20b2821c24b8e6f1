// Gradient clipping: clip_grad_norm (total p-norm, as torch.nn.utils.clip_grad_norm_) and
// clip_grad_value.
#pragma once

#include <limits>
#include <vector>

#include "tapegrad/nn/module.hpp"

namespace tg::optim {

// norm_type for the max-abs norm.
inline constexpr double inf_norm = std::numeric_limits<double>::infinity();

// Scales the gradients of `params` in place so that their total norm (all gradients seen as one
// vector) is at most max_norm: each is multiplied by max_norm / (total + 1e-6) when that is below
// 1. Parameters without a gradient are ignored. Returns the total norm before clipping (0 if no
// parameter has a gradient). norm_type is any p > 0 or inf_norm; the norm is accumulated in
// double. A NaN or infinite total throws tg::Error "clip_grad_norm: total norm is nan/inf ..."
// unless error_if_nonfinite is false, in which case the gradients are scaled as PyTorch does
// (by a NaN or zero factor). PyTorch's default for error_if_nonfinite is false; ours is true.
double clip_grad_norm(const nn::NamedTensors& params, double max_norm, double norm_type = 2.0,
                      bool error_if_nonfinite = true);
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                      bool error_if_nonfinite = true);

// Clamps every gradient element into [-clip, clip] (NaN stays NaN, as torch.clamp_).
void clip_grad_value(const nn::NamedTensors& params, double clip);
void clip_grad_value(const std::vector<Tensor>& params, double clip);

}  // namespace tg::optim
