// More element-wise ops: each forward and its backward side by side.
#include "tapegrad/autograd/ops/activations.hpp"

#include <cmath>

#include "autograd/op_registry.hpp"
#include "tapegrad/autograd/ops/elementwise.hpp"
#include "tapegrad/autograd/ops/shape.hpp"
#include "autograd/ops/elementwise_kernels.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp).
const OpName op_abs{"abs"};
const OpName op_erf{"erf"};
const OpName op_log1p{"log1p"};
const OpName op_softplus{"softplus"};
const OpName op_gelu{"gelu"};
const OpName op_gelu_tanh{"gelu_tanh"};
const OpName op_minimum{"minimum"};
const OpName op_maximum{"maximum"};

namespace {

using detail::binary;
using detail::unary;
using detail::value_t;

constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;   // 1 / sqrt(2 pi)
constexpr double k2OverSqrtPi = 1.12837916709551257390;  // 2 / sqrt(pi), erf's slope at 0
constexpr double kGeluCubic = 0.044715;

// The share of the gradient that goes to `a` of min/max(a, b): 1 where a wins, 1/2 on ties.
template <class Wins, class A, class B>
auto winner_share(Wins wins, const A& a, const B& b) {
  using T = value_t<A>;
  return xt::cast<T>(wins(a, b)) + T(0.5) * xt::cast<T>(xt::equal(a, b));
}

}  // namespace

// Each op: forward, then its gradient as an expression over the arrays (the raw kernel) and as
// a formula over tensors (recorded under create_graph).

namespace {

// The share of the gradient as a constant tensor, for the formulas of minimum and maximum.
template <class Wins>
Tensor winner_share_constant(Wins wins, const Tensor& a, const Tensor& b) {
  return constant_from([wins](const auto& x, const auto& y) { return winner_share(wins, x, y); },
                       a, b);
}

}  // namespace

Tensor abs(const Tensor& x) {
  return unary(
      op_abs, x, saves_inputs, [](const auto& v) { return xt::abs(v); },
      [](const auto& g, const auto& v, const auto&) { return g * xt::sign(v); },
      [](const Tensor& g, const Tensor& v, const Tensor&) {
        return g * constant_from([](const auto& a) { return xt::sign(a); }, v);
      });
}

Tensor log1p(const Tensor& x) {
  return unary(
      op_log1p, x, saves_inputs, [](const auto& v) { return xt::log1p(v); },
      [](const auto& g, const auto& v, const auto&) {
        using T = value_t<decltype(v)>;
        return g / (T(1) + v);
      },
      [](const Tensor& g, const Tensor& v, const Tensor&) { return g / (1.0 + v); });
}

Tensor erf(const Tensor& x) {
  return unary(
      op_erf, x, saves_inputs, [](const auto& v) { return xt::erf(v); },
      [](const auto& g, const auto& v, const auto&) {
        using T = value_t<decltype(v)>;
        return g * T(k2OverSqrtPi) * xt::exp(-v * v);
      },
      [](const Tensor& g, const Tensor& v, const Tensor&) {
        return g * (k2OverSqrtPi * exp(-v * v));
      });
}

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

Tensor minimum(const Tensor& a, const Tensor& b) {
  auto less = [](const auto& x, const auto& y) { return x < y; };
  return binary(
      op_minimum, a, b, saves_inputs, [](const auto& x, const auto& y) { return xt::minimum(x, y); },
      [less](const auto& g, const auto& x, const auto& y) { return g * winner_share(less, x, y); },
      [less](const auto& g, const auto& x, const auto& y) { return g * winner_share(less, y, x); },
      [less](const Tensor& g, const Tensor& x, const Tensor& y) {
        return g * winner_share_constant(less, x, y);
      },
      [less](const Tensor& g, const Tensor& x, const Tensor& y) {
        return g * winner_share_constant(less, y, x);
      });
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  auto greater = [](const auto& x, const auto& y) { return x > y; };
  return binary(
      op_maximum, a, b, saves_inputs, [](const auto& x, const auto& y) { return xt::maximum(x, y); },
      [greater](const auto& g, const auto& x, const auto& y) {
        return g * winner_share(greater, x, y);
      },
      [greater](const auto& g, const auto& x, const auto& y) {
        return g * winner_share(greater, y, x);
      },
      [greater](const Tensor& g, const Tensor& x, const Tensor& y) {
        return g * winner_share_constant(greater, x, y);
      },
      [greater](const Tensor& g, const Tensor& x, const Tensor& y) {
        return g * winner_share_constant(greater, y, x);
      });
}

}  // namespace tg
