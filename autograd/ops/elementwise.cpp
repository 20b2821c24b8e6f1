// Element-wise ops: each forward and its backward side by side, then their gradcheck cases.
#include "tapegrad/autograd/ops/elementwise.hpp"

#include <xtensor/xoperation.hpp>

#include "tapegrad/autograd/function.hpp"
#include "autograd/op_registry.hpp"
#include "autograd/ops/elementwise_kernels.hpp"
#include "autograd/ops/families.hpp"

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

Tensor add(const Tensor& a, const Tensor& b) {
  return binary(
      op_add, a, b, [](const auto& x, const auto& y) { return x + y; },
      [](const auto& g, const auto&, const auto&) -> const auto& { return g; },
      [](const auto& g, const auto&, const auto&) -> const auto& { return g; });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return binary(
      op_sub, a, b, [](const auto& x, const auto& y) { return x - y; },
      [](const auto& g, const auto&, const auto&) -> const auto& { return g; },
      [](const auto& g, const auto&, const auto&) { return -g; });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return binary(
      op_mul, a, b, [](const auto& x, const auto& y) { return x * y; },
      [](const auto& g, const auto&, const auto& y) { return g * y; },
      [](const auto& g, const auto& x, const auto&) { return g * x; });
}

Tensor div(const Tensor& a, const Tensor& b) {
  return binary(
      op_div, a, b, [](const auto& x, const auto& y) { return x / y; },
      [](const auto& g, const auto&, const auto& y) { return g / y; },
      [](const auto& g, const auto& x, const auto& y) { return -g * x / (y * y); });
}

Tensor pow(const Tensor& base, const Tensor& exponent) {
  return binary(
      op_pow, base, exponent, [](const auto& x, const auto& p) { return xt::pow(x, p); },
      [](const auto& g, const auto& x, const auto& p) {
        using T = value_t<decltype(x)>;
        return g * p * xt::pow(x, p - T(1));
      },
      [](const auto& g, const auto& x, const auto& p) { return g * xt::pow(x, p) * xt::log(x); });
}

Tensor neg(const Tensor& x) {
  return unary(
      op_neg, x, [](const auto& v) { return -v; },
      [](const auto& g, const auto&, const auto&) { return -g; });
}

Tensor pow(const Tensor& x, double exponent) {
  return unary(
      op_pow_scalar, x,
      [exponent](const auto& v) { return xt::pow(v, static_cast<value_t<decltype(v)>>(exponent)); },
      [exponent](const auto& g, const auto& v, const auto&) {
        using T = value_t<decltype(v)>;
        return g * T(exponent) * xt::pow(v, T(exponent - 1.0));
      });
}

Tensor sqrt(const Tensor& x) {
  return unary(
      op_sqrt, x, [](const auto& v) { return xt::sqrt(v); },
      [](const auto& g, const auto&, const auto& y) {
        using T = value_t<decltype(y)>;
        return g / (T(2) * y);
      });
}

Tensor exp(const Tensor& x) {
  return unary(
      op_exp, x, [](const auto& v) { return xt::exp(v); },
      [](const auto& g, const auto&, const auto& y) { return g * y; });
}

Tensor log(const Tensor& x) {
  return unary(
      op_log, x, [](const auto& v) { return xt::log(v); },
      [](const auto& g, const auto& v, const auto&) { return g / v; });
}

Tensor tanh(const Tensor& x) {
  return unary(
      op_tanh, x, [](const auto& v) { return xt::tanh(v); },
      [](const auto& g, const auto&, const auto& y) {
        using T = value_t<decltype(y)>;
        return g * (T(1) - y * y);
      });
}

Tensor sigmoid(const Tensor& x) {
  return unary(
      op_sigmoid, x,
      [](const auto& v) {
        using T = value_t<decltype(v)>;
        return T(1) / (T(1) + xt::exp(-v));
      },
      [](const auto& g, const auto&, const auto& y) {
        using T = value_t<decltype(y)>;
        return g * y * (T(1) - y);
      });
}

Tensor relu(const Tensor& x) {
  return unary(
      op_relu, x,
      [](const auto& v) {
        using T = value_t<decltype(v)>;
        return xt::maximum(v, T(0));
      },
      [](const auto& g, const auto& v, const auto&) {
        using T = value_t<decltype(v)>;
        return g * xt::cast<T>(v > T(0));
      });
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  if (!(lo <= hi)) throw Error(fmt::format("clamp: lower bound {} above upper bound {}", lo, hi));
  return unary(
      op_clamp, x,
      [lo, hi](const auto& v) {
        using T = value_t<decltype(v)>;
        return xt::clip(v, T(lo), T(hi));
      },
      [lo, hi](const auto& g, const auto& v, const auto&) {
        using T = value_t<decltype(v)>;
        return g * xt::cast<T>(v >= T(lo) && v <= T(hi));
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

void add_elementwise_cases(std::vector<GradcheckCase>& cases) {
  using D = GradcheckCase::Domain;
  auto f2 = [](Tensor (*op)(const Tensor&, const Tensor&)) {
    return [op](const std::vector<Tensor>& in) { return op(in[0], in[1]); };
  };
  auto f1 = [](Tensor (*op)(const Tensor&)) {
    return [op](const std::vector<Tensor>& in) { return op(in[0]); };
  };
  for (auto [name, op] : {std::pair{"add", &add}, {"sub", &sub}, {"mul", &mul}}) {
    cases.push_back({name, "same shape", {{3, 4}, {3, 4}}, f2(op)});
    cases.push_back({name, "broadcast row", {{3, 4}, {4}}, f2(op)});
    cases.push_back({name, "broadcast both ways", {{3, 1}, {1, 4}}, f2(op)});
    cases.push_back({name, "scalar operand", {{2, 3}, {}}, f2(op)});
  }
  cases.push_back({"div", "same shape", {{3, 4}, {3, 4}}, f2(&div), D::AwayFromZero});
  cases.push_back({"div", "broadcast column", {{3, 4}, {3, 1}}, f2(&div), D::AwayFromZero});
  cases.push_back({"pow", "tensor exponent", {{3, 4}, {3, 4}}, f2(static_cast<Tensor (*)(const Tensor&, const Tensor&)>(&pow)), D::Positive});
  cases.push_back({"pow", "broadcast exponent", {{2, 3}, {3}}, f2(static_cast<Tensor (*)(const Tensor&, const Tensor&)>(&pow)), D::Positive});
  cases.push_back({"pow_scalar", "cube", {{3, 4}}, [](const std::vector<Tensor>& in) { return pow(in[0], 3.0); }});
  cases.push_back({"pow_scalar", "fractional", {{5}}, [](const std::vector<Tensor>& in) { return pow(in[0], -1.5); }, D::Positive});
  cases.push_back({"neg", "matrix", {{2, 3}}, f1(&neg)});
  cases.push_back({"sqrt", "positive", {{2, 3}}, f1(&sqrt), D::Positive});
  cases.push_back({"exp", "matrix", {{2, 3}}, f1(&exp)});
  cases.push_back({"exp", "size-1 axes", {{1, 3, 1}}, f1(&exp)});
  cases.push_back({"log", "positive", {{2, 3}}, f1(&log), D::Positive});
  cases.push_back({"tanh", "matrix", {{4, 5}}, f1(&tanh)});
  cases.push_back({"sigmoid", "matrix", {{4, 5}}, f1(&sigmoid)});
  cases.push_back({"relu", "away from the kink", {{4, 5}}, f1(&relu), D::AwayFromZero});
  cases.push_back({"clamp", "both bounds active", {{4, 5}},
                   [](const std::vector<Tensor>& in) { return clamp(in[0], -0.5, 0.6); }});
  cases.push_back({"add", "scalar operator, chained", {{3}},
                   [](const std::vector<Tensor>& in) { return 2.0 * in[0] * in[0] - 1.0 + in[0] / 3.0; }});
}

}  // namespace tg
