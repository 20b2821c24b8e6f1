// More element-wise ops: each forward and its backward side by side, then their gradcheck cases.
#include "tapegrad/autograd/ops/activations.hpp"

#include <cmath>

#include "autograd/op_registry.hpp"
#include "tapegrad/autograd/ops/elementwise.hpp"
#include "autograd/ops/elementwise_kernels.hpp"
#include "autograd/ops/families.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp).
const OpName op_abs{"abs"};
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
constexpr double kGeluCubic = 0.044715;

// The share of the gradient that goes to `a` of min/max(a, b): 1 where a wins, 1/2 on ties.
template <class Wins, class A, class B>
auto winner_share(Wins wins, const A& a, const B& b) {
  using T = value_t<A>;
  return xt::cast<T>(wins(a, b)) + T(0.5) * xt::cast<T>(xt::equal(a, b));
}

}  // namespace

Tensor abs(const Tensor& x) {
  return unary(
      op_abs, x, [](const auto& v) { return xt::abs(v); },
      [](const auto& g, const auto& v, const auto&) { return g * xt::sign(v); });
}

Tensor log1p(const Tensor& x) {
  return unary(
      op_log1p, x, [](const auto& v) { return xt::log1p(v); },
      [](const auto& g, const auto& v, const auto&) {
        using T = value_t<decltype(v)>;
        return g / (T(1) + v);
      });
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  if (!(beta > 0.0)) throw Error(fmt::format("softplus: beta must be positive, got {}", beta));
  return unary(
      op_softplus, x,
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
      });
}

Tensor gelu(const Tensor& x, GeluApproximation approximate) {
  if (approximate == GeluApproximation::Tanh) {
    return unary(
        op_gelu_tanh, x,
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
        });
  }
  return unary(
      op_gelu, x,
      [](const auto& v) {
        using T = value_t<decltype(v)>;
        return T(0.5) * v * (T(1) + xt::erf(v * T(kInvSqrt2)));
      },
      [](const auto& g, const auto& v, const auto&) {
        using T = value_t<decltype(v)>;
        // d/dx x Phi(x) = Phi(x) + x phi(x)
        return g * (T(0.5) * (T(1) + xt::erf(v * T(kInvSqrt2))) +
                    v * T(kInvSqrt2Pi) * xt::exp(T(-0.5) * v * v));
      });
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  auto less = [](const auto& x, const auto& y) { return x < y; };
  return binary(
      op_minimum, a, b, [](const auto& x, const auto& y) { return xt::minimum(x, y); },
      [less](const auto& g, const auto& x, const auto& y) { return g * winner_share(less, x, y); },
      [less](const auto& g, const auto& x, const auto& y) { return g * winner_share(less, y, x); });
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  auto greater = [](const auto& x, const auto& y) { return x > y; };
  return binary(
      op_maximum, a, b, [](const auto& x, const auto& y) { return xt::maximum(x, y); },
      [greater](const auto& g, const auto& x, const auto& y) {
        return g * winner_share(greater, x, y);
      },
      [greater](const auto& g, const auto& x, const auto& y) {
        return g * winner_share(greater, y, x);
      });
}

void add_activation_cases(std::vector<GradcheckCase>& cases) {
  using D = GradcheckCase::Domain;
  using In = const std::vector<Tensor>&;
  cases.push_back({"abs", "away from the kink", {{3, 4}}, [](In in) { return abs(in[0]); }, D::AwayFromZero});
  cases.push_back({"abs", "scalar", {{}}, [](In in) { return abs(in[0]); }, D::AwayFromZero});
  cases.push_back({"log1p", "matrix", {{3, 4}}, [](In in) { return log1p(in[0]); }, D::Positive});
  cases.push_back({"log1p", "near -1 and 0", {{5}}, [](In in) { return log1p(in[0] * 0.9 - 0.9); }, D::Positive});
  cases.push_back({"softplus", "matrix", {{3, 4}}, [](In in) { return softplus(in[0]); }});
  cases.push_back({"softplus", "beta 2, both sides of the threshold", {{2, 5}},
                   [](In in) { return softplus(in[0] * 15.0, 2.0, 20.0); }, D::AwayFromZero});
  cases.push_back({"softplus", "large negative", {{4}}, [](In in) { return softplus(in[0] * 50.0); }, D::AwayFromZero});
  cases.push_back({"gelu", "matrix", {{3, 4}}, [](In in) { return gelu(in[0]); }});
  cases.push_back({"gelu", "wide range, size-1 axes", {{1, 6, 1}}, [](In in) { return gelu(in[0] * 4.0); }});
  cases.push_back({"gelu_tanh", "matrix", {{3, 4}}, [](In in) { return gelu(in[0], GeluApproximation::Tanh); }});
  cases.push_back({"gelu_tanh", "wide range", {{7}}, [](In in) { return gelu(in[0] * 4.0, GeluApproximation::Tanh); }});
  for (auto [name, op] : {std::pair{"minimum", &minimum}, {"maximum", &maximum}}) {
    auto f = [op = op](In in) { return op(in[0], in[1]); };
    cases.push_back({name, "same shape", {{3, 4}, {3, 4}}, f});
    cases.push_back({name, "broadcast row", {{3, 4}, {4}}, f});
    cases.push_back({name, "broadcast both ways", {{3, 1}, {1, 4}}, f});
    cases.push_back({name, "scalar operand", {{2, 3}, {}}, f});
    // Ties get half the gradient each, which keeps the finite difference's two-sided average.
    cases.push_back({name, "tied with itself", {{2, 3}}, [op = op](In in) { return op(in[0], in[0]); }});
  }
}

}  // namespace tg
