// More element-wise ops: abs, erf, log1p, softplus, gelu, silu, leaky_relu, elu, and element-wise
// minimum / maximum.
#pragma once

#include "tapegrad/autograd/tensor.hpp"

namespace tg {

// |x|; the gradient at 0 is 0 (sign(x)), as PyTorch.
Tensor abs(const Tensor& x);
// The error function, 2/sqrt(pi) times the integral of exp(-t^2) from 0 to x (torch.erf).
Tensor erf(const Tensor& x);
// log(1 + x), accurate for small x.
Tensor log1p(const Tensor& x);
// (1/beta) log(1 + exp(beta x)), and x itself where beta x > threshold (PyTorch's rule).
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
// Gaussian error linear unit: x Phi(x) exactly, or PyTorch's approximate="tanh" form.
enum class GeluApproximation { None, Tanh };
Tensor gelu(const Tensor& x, GeluApproximation approximate = GeluApproximation::None);
// x sigmoid(x) (torch.nn.functional.silu, "swish").
Tensor silu(const Tensor& x);
// x where x > 0, negative_slope x elsewhere (F.leaky_relu; the gradient at 0 is negative_slope).
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
// x where x > 0, alpha (exp(x) - 1) elsewhere (F.elu).
Tensor elu(const Tensor& x, double alpha = 1.0);
// Element-wise with broadcasting; where a == b the gradient is split in halves (PyTorch).
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);

}  // namespace tg
