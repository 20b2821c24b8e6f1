// Internal to the op families: the element-wise op builders (a forward expression and its
// gradient expressions, broadcasting undone centrally), shared by every element-wise family.
#pragma once

#include <type_traits>

#include <xtensor/xoperation.hpp>

#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/ops/reduction.hpp"

namespace tg::detail {

template <class X>
using value_t = typename std::decay_t<X>::value_type;

// A binary op with broadcasting: forward(a, b) is an xtensor expression; grad_a(g, a, b) and
// grad_b(g, a, b) give the gradients at the broadcast shape as expressions over the arrays (the
// raw kernel), formula_a and formula_b the same over tensors (the formula, recorded under
// create_graph). Both are reduced here to each input's shape.
template <class Forward, class GradA, class GradB, class FormulaA, class FormulaB>
Tensor binary(const char* op, const Tensor& a, const Tensor& b, Saves saves, Forward forward,
              GradA grad_a, GradB grad_b, FormulaA formula_a, FormulaB formula_b) {
  check_same_dtype(op, {a, b});
  const Shape sa = a.shape(), sb = b.shape();
  if (sa != sb) broadcast_shapes(op, sa, sb);
  return dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    Tensor out(xt::xarray<T>(forward(a.value<T>(), b.value<T>())));
    if (any_requires_grad(a, b)) {
      Formula formula = [formula_a, formula_b](const Tensor& g, const Inputs& in,
                                               const Tensor&) -> Grads {
        const Tensor &x = in[0], &y = in[1];
        return {x.requires_grad() ? sum_to_size(formula_a(g, x, y), x.shape()) : Tensor(),
                y.requires_grad() ? sum_to_size(formula_b(g, x, y), y.shape()) : Tensor()};
      };
      record<T>(op, out, {a, b}, saves, std::move(formula),
                [a, b, grad_a, grad_b](const xt::xarray<T>& g) {
        const auto& av = a.value<T>();
        const auto& bv = b.value<T>();
        // Same-shape inputs (the common case) take the gradient expression straight into their
        // gradient buffer; broadcast ones evaluate it first and reduce it.
        if (a.requires_grad()) accumulate_grad_reduced<T>(a, grad_a(g, av, bv));
        if (b.requires_grad()) accumulate_grad_reduced<T>(b, grad_b(g, av, bv));
      });
    }
    return out;
  });
}

// A unary op: forward(x) is an expression; grad(g, x, y) the input gradient given output y, as
// an expression over the arrays (the raw kernel); formula(g, x, y) the same over tensors.
template <class Forward, class Grad, class UnaryFormula>
Tensor unary(const char* op, const Tensor& x, Saves saves, Forward forward, Grad grad,
             UnaryFormula unary_formula) {
  check_same_dtype(op, {x});
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    Tensor y(xt::xarray<T>(forward(x.value<T>())));
    if (any_requires_grad(x)) {
      Formula formula = [unary_formula](const Tensor& g, const Inputs& in,
                                        const Tensor& out) -> Grads {
        return {unary_formula(g, in[0], out)};
      };
      record<T>(op, y, {x}, saves, std::move(formula),
                [x, grad](const xt::xarray<T>& g, const Tensor& out) {
        accumulate_grad<T>(x, grad(g, x.value<T>(), out.value<T>()));
      });
    }
    return y;
  });
}

}  // namespace tg::detail
