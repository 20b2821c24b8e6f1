// Arithmetic with broadcasting (add, sub, mul, div, neg, pow) and the operators on tensors and
// scalars. (The element-wise functions are in elementwise.cpp: split in two so that a change to
// one op recompiles half as many xtensor instantiations.)
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

namespace {

using detail::binary;
using detail::unary;
using detail::value_t;

Tensor constant_like(const Tensor& t, double value) { return Tensor::scalar(value, t.dtype()); }

}  // namespace

// Each op: forward, then its gradient twice over the same formula: as an expression over the
// arrays (the raw kernel, fused into one pass) and over tensors (recorded under create_graph).

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
