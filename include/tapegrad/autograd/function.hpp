// The toolkit for writing an op: dtype dispatch, argument checks, recording, gradient accumulation.
//
// An op is one function: check its arguments, compute the value, and if any input requires grad
// record a closure that reads the output gradient and accumulates into the inputs:
//
//   Tensor tanh(const Tensor& x) {
//     return dispatch(x.dtype(), [&](auto s) {
//       using T = decltype(s);
//       Tensor y(xt::xarray<T>(xt::tanh(x.value<T>())));
//       if (any_requires_grad(x))
//         record<T>("tanh", y, {x}, [x](const xt::xarray<T>& g, const Tensor& y) {
//           const auto& yv = y.value<T>();
//           accumulate_grad<T>(x, g * (T(1) - yv * yv));
//         });
//       return y;
//     });
//   }
//
// Closures capture only what backward needs (tanh keeps its result, not its input), and never
// the output: the output owns its node, so capturing it would keep both alive forever. A closure
// that needs the output takes it as a second parameter, as tanh's does.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>
#include <type_traits>
#include <utility>

#include <xtensor/xarray.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>

#include "tapegrad/autograd/error.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/autograd/tensor.hpp"

namespace tg {

// Calls f(float{}) or f(double{}) by the dtype, so one generic lambda serves both.
template <class F>
decltype(auto) dispatch(DType dtype, F&& f) {
  if (dtype == DType::Float64) return f(double{});
  return f(float{});
}

template <class... Ts>
bool any_requires_grad(const Ts&... tensors) {
  return grad_enabled() && (tensors.requires_grad() || ...);
}

bool any_requires_grad_in(const std::vector<Tensor>& tensors);

// Records a node for `out`, produced by `op` from `inputs`. When backward() reaches the node,
// `backward` is called with the output's gradient (an xt::xarray<T> of out's shape), and, if it
// takes a second argument, with the output tensor itself (for ops whose derivative is written
// with their result, like tanh). The closure must not capture `out`: the output owns the node,
// so that would be a cycle that never frees (see tapegrad/autograd/tape.hpp).
template <class T, class Backward>
void record(const char* op, const Tensor& out, const std::vector<Tensor>& inputs,
            Backward&& backward) {
  using F = std::decay_t<Backward>;
  auto node = std::make_shared<Node>();
  node->op = op;
  node->backward = [f = F(std::forward<Backward>(backward))](TensorImpl& output) mutable {
    if constexpr (std::is_invocable_v<F&, const xt::xarray<T>&, const Tensor&>)
      f(output.get<T>().grad, Tensor(output.shared_from_this()));
    else
      f(output.get<T>().grad);
  };
  detail::attach_node(node, out.impl(), inputs);
}

// grad(t) += g, allocating on first use. g must have t's shape exactly; gradients of broadcast
// inputs go through accumulate_grad_reduced.
template <class T, class E>
void accumulate_grad(const Tensor& t, E&& g) {
  if (!t.requires_grad()) return;
  TensorImpl& impl = t.impl();
  auto& arrays = impl.get<T>();
  const auto& gshape = g.shape();
  const auto& vshape = arrays.value.shape();
  if (gshape.size() != vshape.size() || !std::equal(gshape.begin(), gshape.end(), vshape.begin()))
    throw Error(fmt::format("backward: gradient of shape {} for a tensor of shape {}",
                            shape_str(gshape), shape_str(vshape)));
  if (impl.has_grad) {
    arrays.grad += std::forward<E>(g);
  } else {
    arrays.grad = std::forward<E>(g);
    impl.has_grad = true;
  }
}

// For backward code that writes a gradient with BLAS (C = A*B + beta*C): the gradient buffer of
// t, sized like its value, and in `beta` 1 to accumulate or 0 on first use (buffer not yet valid).
template <class T>
T* grad_for_accumulation(const Tensor& t, T& beta) {
  TensorImpl& impl = t.impl();
  auto& arrays = impl.get<T>();
  if (impl.has_grad) {
    beta = T(1);
  } else {
    if (arrays.grad.shape() != arrays.value.shape()) arrays.grad.resize(arrays.value.shape());
    impl.has_grad = true;
    beta = T(0);
  }
  return arrays.grad.data();
}

// For backward code that adds into only part of a gradient, or adds several contributions
// (slices, gathers, column sums): t's gradient buffer ready for `+=`, zero-filled on first use.
template <class T>
T* grad_buffer_for_add(const Tensor& t) {
  T beta;
  T* p = grad_for_accumulation<T>(t, beta);
  if (beta == T(0)) std::fill(p, p + t.size(), T(0));
  return p;
}

// Sums a gradient over the axes along which `shape` was broadcast (NumPy rules), so that it
// matches `shape`. The one place where broadcasting is undone.
template <class T>
xt::xarray<T> sum_to_shape(const xt::xarray<T>& g, const Shape& shape) {
  const std::size_t gd = g.dimension();
  const std::size_t lead = gd - shape.size();
  std::vector<std::size_t> axes;
  for (std::size_t a = 0; a < gd; ++a) {
    if (a < lead || (shape[a - lead] == 1 && g.shape()[a] != 1)) axes.push_back(a);
  }
  if (axes.empty()) return g;
  xt::xarray<T> reduced = xt::sum(g, axes, xt::evaluation_strategy::immediate);
  reduced.reshape(shape);
  return reduced;
}

// grad(t) += g for g of t's shape or broadcast from it (then reduced with sum_to_shape). g may be
// an xtensor expression: one of t's shape goes straight into the gradient buffer, a broadcast
// one is evaluated first.
template <class T, class E>
void accumulate_grad_reduced(const Tensor& t, E&& g) {
  if (!t.requires_grad()) return;
  const auto& vshape = t.value<T>().shape();
  const auto& gshape = g.shape();
  if (vshape.size() == gshape.size() && std::equal(vshape.begin(), vshape.end(), gshape.begin()))
    accumulate_grad<T>(t, std::forward<E>(g));
  else
    accumulate_grad<T>(t, sum_to_shape<T>(std::forward<E>(g), Shape(vshape.begin(), vshape.end())));
}

// NumPy's broadcast of two shapes; throws "<op>: shapes [..] and [..] cannot be broadcast".
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

// Throws unless all tensors are defined and share one dtype.
void check_same_dtype(const char* op, const std::vector<Tensor>& tensors);

// Maps a possibly negative axis into [0, ndim); throws naming the op and the shape.
std::size_t normalize_axis(const char* op, int axis, const Shape& shape);

}  // namespace tg
