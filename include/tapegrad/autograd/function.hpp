// The toolkit for writing an op: dtype dispatch, argument checks, recording, gradient accumulation.
//
// An op is one function: check its arguments, compute the value, and if any input requires grad
// record its derivative as a formula over tensors, which receives (the output's gradient, the
// inputs, the output) and returns the inputs' gradients:
//
//   Tensor tanh(const Tensor& x) {
//     return dispatch(x.dtype(), [&](auto s) {
//       using T = decltype(s);
//       Tensor y(xt::xarray<T>(xt::tanh(x.value<T>())));
//       if (any_requires_grad(x))
//         record(op_tanh, y, {x}, saves_output,
//                [](const Tensor& g, const Inputs&, const Tensor& y) -> Grads {
//                  return {g * (1.0 - y * y)};
//                });
//       return y;
//     });
//   }
//
// Written with ops, the formula is recorded under create_graph, so gradients of gradients come
// for free; without create_graph it runs unrecorded. `saves_output` says what the formula reads
// (for the in-place check). An op may add a raw kernel that backward runs instead of the formula
// when no graph is wanted, where a measurement shows it matters (the last argument of record);
// a kernel captures only its own inputs and plain data, never the output, which owns the node.
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

// A formula's arguments and result (see Formula in tape.hpp).
using Inputs = std::vector<Tensor>;
using Grads = std::vector<Tensor>;

// What an op's backward reads, checked against in-place writes before backward runs: the inputs
// by position (bit i for input i) and the output.
struct Saves {
  std::uint32_t inputs = 0;
  bool output = false;
};
inline constexpr Saves saves_nothing{};
inline constexpr Saves saves_output{0, true};
inline constexpr Saves saves_inputs{~0u, false};
inline constexpr Saves saves_all{~0u, true};
constexpr Saves saves_input(std::size_t i, bool output = false) { return {1u << i, output}; }
constexpr Saves operator|(Saves a, Saves b) { return {a.inputs | b.inputs, a.output || b.output}; }

namespace detail {
// Wraps a raw kernel `f(grad)` or `f(grad, output)` for Node::backward.
template <class T, class Kernel>
std::function<void(TensorImpl&)> raw_kernel(Kernel&& kernel) {
  using F = std::decay_t<Kernel>;
  return [f = F(std::forward<Kernel>(kernel))](TensorImpl& output) mutable {
    if constexpr (std::is_invocable_v<F&, const xt::xarray<T>&, const Tensor&>)
      f(output.get<T>().grad, Tensor(output.shared_from_this()));
    else
      f(output.get<T>().grad);
  };
}
}  // namespace detail

// Records a node for `out`, produced by `op` from `inputs`, whose derivative is `formula`.
void record(const char* op, const Tensor& out, const std::vector<Tensor>& inputs, Saves saves,
            Formula formula);

// The same, with a raw kernel that backward runs instead of the formula when no graph of the
// backward is wanted. The kernel is called with the output's gradient (an xt::xarray<T> of out's
// shape) and, if it takes a second argument, the output tensor; it adds into its inputs'
// gradients (accumulate_grad and friends below) and must not capture `out`.
template <class T, class Kernel>
void record(const char* op, const Tensor& out, const std::vector<Tensor>& inputs, Saves saves,
            Formula formula, Kernel&& kernel) {
  auto node = std::make_shared<Node>();
  node->op = op;
  node->formula = std::move(formula);
  node->backward = detail::raw_kernel<T>(std::forward<Kernel>(kernel));
  detail::attach_node(node, out.impl(), inputs, saves.inputs, saves.output);
}

// A node with a raw kernel only: no formula, so no double backward (create_graph through it is
// refused, naming the op). For fused kernels whose derivative cannot be written with ops, such
// as the recurrent layers' whole sequences.
template <class T, class Kernel>
void record_fused(const char* op, const Tensor& out, const std::vector<Tensor>& inputs,
                  Kernel&& kernel) {
  auto node = std::make_shared<Node>();
  node->op = op;
  node->backward = detail::raw_kernel<T>(std::forward<Kernel>(kernel));
  detail::attach_node(node, out.impl(), inputs);
}

// A constant tensor (no gradient) computed from the values of `tensors` by f(value arrays...),
// evaluated at once: the masks, signs and counts of formulas (relu's x > 0, max's ties).
template <class F, class... Ts>
Tensor constant_from(F&& f, const Tensor& first, const Ts&... rest) {
  return dispatch(first.dtype(), [&](auto s) {
    using T = decltype(s);
    return Tensor(xt::xarray<T>(f(first.template value<T>(), rest.template value<T>()...)));
  });
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
    // The storage is checked too: a moved-from 0-d array keeps its (empty) shape, not its element.
    if (arrays.grad.shape() != arrays.value.shape() ||
        arrays.grad.storage().size() != arrays.value.size())
      arrays.grad.resize(arrays.value.shape(), true);
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
