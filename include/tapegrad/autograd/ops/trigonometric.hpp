// Element-wise trigonometric functions (torch.sin, torch.cos).
#pragma once

#include "tapegrad/autograd/tensor.hpp"

namespace tg {

Tensor sin(const Tensor& x);  // torch.sin; d/dx = cos(x)
Tensor cos(const Tensor& x);  // torch.cos; d/dx = -sin(x)

}  // namespace tg
