// Internal to the op families: the element-wise op builders (a forward expression and its
// gradient expressions, broadcasting undone centrally), shared by every element-wise family.
#pragma once

#include <type_traits>

#include <xtensor/xoperation.hpp>

#include "tapegrad/autograd/function.hpp"

namespace tg::detail {

template <class X>
using value_t = typename std::decay_t<X>::value_type;

// A binary op with broadcasting: forward(a, b) is an xtensor expression; grad_a(g, a, b) and
// grad_b(g, a, b) give the gradients at the broadcast shape, reduced here to each input's shape.
template <class Forward, class GradA, class GradB>
Tensor binary(const char* op, const Tensor& a, const Tensor& b, Forward forward, GradA grad_a,
              GradB grad_b) {
  check_same_dtype(op, {a, b});
  const Shape sa = a.shape(), sb = b.shape();
  if (sa != sb) broadcast_shapes(op, sa, sb);
  return dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    Tensor out(xt::xarray<T>(forward(a.value<T>(), b.value<T>())));
    if (any_requires_grad(a, b)) {
      record<T>(op, out, {a, b}, [a, b, grad_a, grad_b](const xt::xarray<T>& g) {
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

// A unary op: forward(x) is an expression; grad(g, x, y) the input gradient given output y.
template <class Forward, class Grad>
Tensor unary(const char* op, const Tensor& x, Forward forward, Grad grad) {
  check_same_dtype(op, {x});
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    Tensor y(xt::xarray<T>(forward(x.value<T>())));
    if (any_requires_grad(x)) {
      record<T>(op, y, {x}, [x, grad](const xt::xarray<T>& g, const Tensor& out) {
        accumulate_grad<T>(x, grad(g, x.value<T>(), out.value<T>()));
      });
    }
    return y;
  });
}

}  // namespace tg::detail
