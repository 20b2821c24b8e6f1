// Activation functions: softplus and gelu (exact and tanh forms), each forward and its backward
// side by side; silu, leaky_relu and elu composed of other ops (abs, erf, log1p, minimum and
// maximum are in special.cpp).
#include "tapegrad/autograd/ops/activations.hpp"

#include <cmath>

#include "autograd/op_registry.hpp"
#include "tapegrad/autograd/ops/elementwise.hpp"
#include "tapegrad/autograd/ops/shape.hpp"
#include "autograd/ops/elementwise_kernels.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp).
const OpName op_softplus{"softplus"};
const OpName op_gelu{"gelu"};
const OpName op_gelu_tanh{"gelu_tanh"};

namespace {

using detail::unary;
using detail::value_t;

constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;   // 1 / sqrt(2 pi)
constexpr double kGeluCubic = 0.044715;

}  // namespace

// Each op: forward, then its gradient as an expression over the arrays (the raw kernel) and as
// a formula over tensors (recorded under create_graph).

Tensor softplus(const Tensor& x, double beta, double threshold) {
  if (!(beta > 0.0)) throw Error(fmt::format("softplus: beta must be positive, got {}", beta));
  return unary(
      op_softplus, x, saves_inputs,
      [beta, threshold](const auto& v) {
        using T = value_t<decltype(v)>;
        // max(z,0) + log1p(exp(-|z|)) never overflows, whatever the sign of z = beta x.
        // Evaluated here: a lazy expression returned from the lambda would still refer to the
        // local z (AddressSanitizer: stack-use-after-scope).
        const auto z = T(beta) * v;
        return xt::xarray<T>(xt::where(
            z > T(threshold), v, (xt::maximum(z, T(0)) + xt::log1p(xt::exp(-xt::abs(z)))) / T(beta)));
      },
      [beta, threshold](const auto& g, const auto& v, const auto&) {
        using T = value_t<decltype(v)>;
        const auto z = T(beta) * v;
        return xt::xarray<T>(g * xt::where(z > T(threshold), T(1), T(1) / (T(1) + xt::exp(-z))));
      },
      // sigmoid(beta x) below the threshold, 1 above it (where the op is x itself).
      [beta, threshold](const Tensor& g, const Tensor& v, const Tensor&) {
        const Tensor linear = constant_from(
            [beta, threshold](const auto& a) {
              using T = value_t<decltype(a)>;
              return xt::cast<T>(T(beta) * a > T(threshold));
            },
            v);
        return g * where(linear, Tensor::scalar(1.0, g.dtype()), sigmoid(v * beta));
      });
}

Tensor gelu(const Tensor& x, GeluApproximation approximate) {
  if (approximate == GeluApproximation::Tanh) {
    return unary(
        op_gelu_tanh, x, saves_inputs,
        [](const auto& v) {
          using T = value_t<decltype(v)>;
          return T(0.5) * v * (T(1) + xt::tanh(T(kSqrt2OverPi) * (v + T(kGeluCubic) * v * v * v)));
        },
        [](const auto& g, const auto& v, const auto&) {
          using T = value_t<decltype(v)>;
          const xt::xarray<T> t = xt::tanh(T(kSqrt2OverPi) * (v + T(kGeluCubic) * v * v * v));
          return xt::xarray<T>(
              g * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * T(kSqrt2OverPi) *
                                             (T(1) + T(3 * kGeluCubic) * v * v)));
        },
        [](const Tensor& g, const Tensor& v, const Tensor&) {
          const Tensor t = tanh(kSqrt2OverPi * (v + kGeluCubic * v * v * v));
          return g * (0.5 * (1.0 + t) +
                      0.5 * v * (1.0 - t * t) * kSqrt2OverPi * (1.0 + 3 * kGeluCubic * v * v));
        });
  }
  return unary(
      op_gelu, x, saves_inputs,
      [](const auto& v) {
        using T = value_t<decltype(v)>;
        return T(0.5) * v * (T(1) + xt::erf(v * T(kInvSqrt2)));
      },
      [](const auto& g, const auto& v, const auto&) {
        using T = value_t<decltype(v)>;
        // d/dx x Phi(x) = Phi(x) + x phi(x)
        return g * (T(0.5) * (T(1) + xt::erf(v * T(kInvSqrt2))) +
                    v * T(kInvSqrt2Pi) * xt::exp(T(-0.5) * v * v));
      },
      [](const Tensor& g, const Tensor& v, const Tensor&) {
        return g * (0.5 * (1.0 + erf(v * kInvSqrt2)) + v * kInvSqrt2Pi * exp(-0.5 * v * v));
      });
}

// Composed of ops that have formulas, so every derivative order comes with them.
Tensor silu(const Tensor& x) { return x * sigmoid(x); }

namespace {

// 1 where x > 0, else 0, as a constant of x's dtype.
Tensor positive(const Tensor& x) {
  return constant_from(
      [](const auto& v) {
        using T = value_t<decltype(v)>;
        return xt::cast<T>(v > T(0));
      },
      x);
}

}  // namespace

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return where(positive(x), x, x * negative_slope);
}

Tensor elu(const Tensor& x, double alpha) {
  // exp(min(x, 0)): the branch not taken must not overflow for large x (its gradient is
  // multiplied by zero, but inf * 0 would be NaN).
  const Tensor negative_part = minimum(x, Tensor::scalar(0.0, x.dtype()));
  return where(positive(x), x, alpha * (exp(negative_part) - 1.0));
}

}  // namespace tg
