// Element-wise ops: each forward and its backward side by side.
#include "tapegrad/autograd/ops/elementwise.hpp"

#include <xtensor/xoperation.hpp>

#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/ops/reduction.hpp"
#include "autograd/op_registry.hpp"
#include "autograd/ops/elementwise_kernels.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp).
const OpName op_add{"add"};
const OpName op_sub{"sub"};
const OpName op_mul{"mul"};
const OpName op_div{"div"};
const OpName op_neg{"neg"};
const OpName op_pow{"pow"};
const OpName op_pow_scalar{"pow_scalar"};
const OpName op_sqrt{"sqrt"};
const OpName op_exp{"exp"};
const OpName op_log{"log"};
const OpName op_tanh{"tanh"};
const OpName op_sigmoid{"sigmoid"};
const OpName op_relu{"relu"};
const OpName op_clamp{"clamp"};

namespace {

using detail::binary;
using detail::unary;
using detail::value_t;

Tensor constant_like(const Tensor& t, double value) { return Tensor::scalar(value, t.dtype()); }

}  // namespace

// Each op: forward, then its gradient twice over the same formula: as an expression over the
// arrays (the raw kernel, fused into one pass) and over tensors (recorded under create_graph).
// Constant tensors (masks) carry no gradient, as the derivative of a step function is 0.

Tensor add(const Tensor& a, const Tensor& b) {
  return binary(
      op_add, a, b, saves_nothing, [](const auto& x, const auto& y) { return x + y; },
      [](const auto& g, const auto&, const auto&) -> const auto& { return g; },
      [](const auto& g, const auto&, const auto&) -> const auto& { return g; },
      [](const Tensor& g, const Tensor&, const Tensor&) { return g; },
      [](const Tensor& g, const Tensor&, const Tensor&) { return g; });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return binary(
      op_sub, a, b, saves_nothing, [](const auto& x, const auto& y) { return x - y; },
      [](const auto& g, const auto&, const auto&) -> const auto& { return g; },
      [](const auto& g, const auto&, const auto&) { return -g; },
      [](const Tensor& g, const Tensor&, const Tensor&) { return g; },
      [](const Tensor& g, const Tensor&, const Tensor&) { return -g; });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return binary(
      op_mul, a, b, saves_inputs, [](const auto& x, const auto& y) { return x * y; },
      [](const auto& g, const auto&, const auto& y) { return g * y; },
      [](const auto& g, const auto& x, const auto&) { return g * x; },
      [](const Tensor& g, const Tensor&, const Tensor& y) { return g * y; },
      [](const Tensor& g, const Tensor& x, const Tensor&) { return g * x; });
}

Tensor div(const Tensor& a, const Tensor& b) {
  return binary(
      op_div, a, b, saves_inputs, [](const auto& x, const auto& y) { return x / y; },
      [](const auto& g, const auto&, const auto& y) { return g / y; },
      [](const auto& g, const auto& x, const auto& y) { return -g * x / (y * y); },
      [](const Tensor& g, const Tensor&, const Tensor& y) { return g / y; },
      [](const Tensor& g, const Tensor& x, const Tensor& y) { return -g * x / (y * y); });
}

Tensor pow(const Tensor& base, const Tensor& exponent) {
  return binary(
      op_pow, base, exponent, saves_inputs,
      [](const auto& x, const auto& p) { return xt::pow(x, p); },
      [](const auto& g, const auto& x, const auto& p) {
        using T = value_t<decltype(x)>;
        return g * p * xt::pow(x, p - T(1));
      },
      [](const auto& g, const auto& x, const auto& p) { return g * xt::pow(x, p) * xt::log(x); },
      [](const Tensor& g, const Tensor& x, const Tensor& p) { return g * p * pow(x, p - 1.0); },
      [](const Tensor& g, const Tensor& x, const Tensor& p) { return g * pow(x, p) * log(x); });
}

Tensor neg(const Tensor& x) {
  return unary(
      op_neg, x, saves_nothing, [](const auto& v) { return -v; },
      [](const auto& g, const auto&, const auto&) { return -g; },
      [](const Tensor& g, const Tensor&, const Tensor&) { return -g; });
}

Tensor pow(const Tensor& x, double exponent) {
  return unary(
      op_pow_scalar, x, saves_inputs,
      [exponent](const auto& v) { return xt::pow(v, static_cast<value_t<decltype(v)>>(exponent)); },
      [exponent](const auto& g, const auto& v, const auto&) {
        using T = value_t<decltype(v)>;
        return g * T(exponent) * xt::pow(v, T(exponent - 1.0));
      },
      [exponent](const Tensor& g, const Tensor& v, const Tensor&) {
        return exponent == 1.0 ? g : g * exponent * pow(v, exponent - 1.0);
      });
}

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

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, double b) { return add(a, constant_like(a, b)); }
Tensor operator+(double a, const Tensor& b) { return add(constant_like(b, a), b); }
Tensor operator-(const Tensor& a, double b) { return sub(a, constant_like(a, b)); }
Tensor operator-(double a, const Tensor& b) { return sub(constant_like(b, a), b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, constant_like(a, b)); }
Tensor operator*(double a, const Tensor& b) { return mul(constant_like(b, a), b); }
Tensor operator/(const Tensor& a, double b) { return div(a, constant_like(a, b)); }
Tensor operator/(double a, const Tensor& b) { return div(constant_like(b, a), b); }

}  // namespace tg
