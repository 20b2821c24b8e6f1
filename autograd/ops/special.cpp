// Element-wise abs, erf, log1p, and element-wise minimum and maximum with broadcasting. Each
// forward and its backward side by side (declared in tapegrad/autograd/ops/activations.hpp).
#include "tapegrad/autograd/ops/activations.hpp"

#include <cmath>

#include "autograd/op_registry.hpp"
#include "tapegrad/autograd/ops/elementwise.hpp"
#include "autograd/ops/elementwise_kernels.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp).
const OpName op_abs{"abs"};
const OpName op_erf{"erf"};
const OpName op_log1p{"log1p"};
const OpName op_minimum{"minimum"};
const OpName op_maximum{"maximum"};

namespace {

using detail::binary;
using detail::unary;
using detail::value_t;

constexpr double k2OverSqrtPi = 1.12837916709551257390;  // 2 / sqrt(pi), erf's slope at 0

// The share of the gradient that goes to `a` of min/max(a, b): 1 where a wins, 1/2 on ties.
template <class Wins, class A, class B>
auto winner_share(Wins wins, const A& a, const B& b) {
  using T = value_t<A>;
  return xt::cast<T>(wins(a, b)) + T(0.5) * xt::cast<T>(xt::equal(a, b));
}

// The same share as a constant tensor, for the formulas of minimum and maximum.
template <class Wins>
Tensor winner_share_constant(Wins wins, const Tensor& a, const Tensor& b) {
  return constant_from([wins](const auto& x, const auto& y) { return winner_share(wins, x, y); },
                       a, b);
}

}  // namespace

// Each op: forward, then its gradient as an expression over the arrays (the raw kernel) and as
// a formula over tensors (recorded under create_graph).

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
