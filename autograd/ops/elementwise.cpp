// Element-wise functions: sqrt, exp, log, tanh, sigmoid, relu, clamp. Each forward and its
// backward side by side (arithmetic is in arithmetic.cpp).
#include "tapegrad/autograd/ops/elementwise.hpp"

#include <xtensor/xoperation.hpp>

#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/ops/reduction.hpp"
#include "autograd/op_registry.hpp"
#include "autograd/ops/elementwise_kernels.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp).
const OpName op_sqrt{"sqrt"};
const OpName op_exp{"exp"};
const OpName op_log{"log"};
const OpName op_tanh{"tanh"};
const OpName op_sigmoid{"sigmoid"};
const OpName op_relu{"relu"};
const OpName op_clamp{"clamp"};

namespace {

using detail::unary;
using detail::value_t;

}  // namespace

// Each op: forward, then its gradient twice over the same formula: as an expression over the
// arrays (the raw kernel, fused into one pass) and over tensors (recorded under create_graph).
// Constant tensors (masks) carry no gradient, as the derivative of a step function is 0.

Tensor sqrt(const Tensor& x) {
  return unary(
      op_sqrt, x, saves_output, [](const auto& v) { return xt::sqrt(v); },
      [](const auto& g, const auto&, const auto& y) {
        using T = value_t<decltype(y)>;
        return g / (T(2) * y);
      },
      [](const Tensor& g, const Tensor&, const Tensor& y) { return g / (2.0 * y); });
}

Tensor exp(const Tensor& x) {
  return unary(
      op_exp, x, saves_output, [](const auto& v) { return xt::exp(v); },
      [](const auto& g, const auto&, const auto& y) { return g * y; },
      [](const Tensor& g, const Tensor&, const Tensor& y) { return g * y; });
}

Tensor log(const Tensor& x) {
  return unary(
      op_log, x, saves_inputs, [](const auto& v) { return xt::log(v); },
      [](const auto& g, const auto& v, const auto&) { return g / v; },
      [](const Tensor& g, const Tensor& v, const Tensor&) { return g / v; });
}

Tensor tanh(const Tensor& x) {
  return unary(
      op_tanh, x, saves_output, [](const auto& v) { return xt::tanh(v); },
      [](const auto& g, const auto&, const auto& y) {
        using T = value_t<decltype(y)>;
        return g * (T(1) - y * y);
      },
      [](const Tensor& g, const Tensor&, const Tensor& y) { return g * (1.0 - y * y); });
}

Tensor sigmoid(const Tensor& x) {
  return unary(
      op_sigmoid, x, saves_output,
      [](const auto& v) {
        using T = value_t<decltype(v)>;
        return T(1) / (T(1) + xt::exp(-v));
      },
      [](const auto& g, const auto&, const auto& y) {
        using T = value_t<decltype(y)>;
        return g * y * (T(1) - y);
      },
      [](const Tensor& g, const Tensor&, const Tensor& y) { return g * y * (1.0 - y); });
}

Tensor relu(const Tensor& x) {
  return unary(
      op_relu, x, saves_inputs,
      [](const auto& v) {
        using T = value_t<decltype(v)>;
        return xt::maximum(v, T(0));
      },
      [](const auto& g, const auto& v, const auto&) {
        using T = value_t<decltype(v)>;
        return g * xt::cast<T>(v > T(0));
      },
      [](const Tensor& g, const Tensor& v, const Tensor&) {
        return g * constant_from([](const auto& a) { return xt::cast<value_t<decltype(a)>>(a > 0); }, v);
      });
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  if (!(lo <= hi)) throw Error(fmt::format("clamp: lower bound {} above upper bound {}", lo, hi));
  return unary(
      op_clamp, x, saves_inputs,
      [lo, hi](const auto& v) {
        using T = value_t<decltype(v)>;
        return xt::clip(v, T(lo), T(hi));
      },
      [lo, hi](const auto& g, const auto& v, const auto&) {
        using T = value_t<decltype(v)>;
        return g * xt::cast<T>(v >= T(lo) && v <= T(hi));
      },
      [lo, hi](const Tensor& g, const Tensor& v, const Tensor&) {
        return g * constant_from(
                       [lo, hi](const auto& a) {
                         using T = value_t<decltype(a)>;
                         return xt::cast<T>(a >= T(lo) && a <= T(hi));
                       },
                       v);
      });
}

}  // namespace tg
