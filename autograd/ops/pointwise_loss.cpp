// Element-wise losses: binary_cross_entropy (on probabilities and on logits), l1, smooth_l1 and
// huber. Each forward computes the element losses and reduces them; each backward is a formula
// over tensors only (these losses are not on the examples' hot path), so it is differentiable
// again.
#include <cmath>
#include <limits>

#include <xtensor/xoperation.hpp>

#include "autograd/op_registry.hpp"
#include "autograd/ops/fold.hpp"
#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/ops/activations.hpp"
#include "tapegrad/autograd/ops/elementwise.hpp"
#include "tapegrad/autograd/ops/loss.hpp"
#include "tapegrad/autograd/ops/reduction.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp).
const OpName op_binary_cross_entropy{"binary_cross_entropy"};
const OpName op_binary_cross_entropy_with_logits{"binary_cross_entropy_with_logits"};
const OpName op_l1_loss{"l1_loss"};
const OpName op_smooth_l1_loss{"smooth_l1_loss"};
const OpName op_huber_loss{"huber_loss"};

namespace {

// The element losses reduced as asked: themselves, their sum, or their mean.
template <class T>
Tensor reduce_elements(xt::xarray<T>&& losses, Reduction reduction) {
  if (reduction == Reduction::None) return Tensor(std::move(losses));
  const T* p = losses.data();
  T total = detail::fold_values(losses.size(), T(0), [p](std::size_t i) { return p[i]; },
                                detail::Plus());
  if (reduction == Reduction::Mean) total /= T(losses.size());
  xt::xarray<T> out = xt::xarray<T>::from_shape(Shape{});
  *out.data() = total;
  return Tensor(std::move(out));
}

// The output gradient as a factor of each element's derivative: g itself (element-wise or the
// sum's scalar), or g / n for a mean over n elements.
Tensor element_grad(const Tensor& g, Reduction reduction, std::size_t n) {
  return reduction == Reduction::Mean ? g * (1.0 / double(n)) : g;
}

// Throws unless `extra` (weight, pos_weight) is undefined or broadcasts to the input's shape.
void check_broadcasts_to(const char* op, const char* what, const Tensor& extra, const Tensor& input) {
  if (!extra.defined()) return;
  check_same_dtype(op, {input, extra});
  const Shape s = input.shape();
  const Shape b = broadcast_shapes(op, s, extra.shape());
  if (b != s)
    throw Error(fmt::format("{}: {} of shape {} does not broadcast to the input's shape {}", op,
                            what, shape_str(extra.shape()), shape_str(s)));
}

void check_same_shape(const char* op, const Tensor& input, const Tensor& target) {
  check_same_dtype(op, {input, target});
  if (input.shape() != target.shape())
    throw Error(fmt::format("{}: target of shape {} for input {} (they must be equal)", op,
                            shape_str(target.shape()), shape_str(input.shape())));
}

// A value array of `t`, or ones broadcastable to anything when t is undefined.
template <class T>
xt::xarray<T> value_or_one(const Tensor& t) {
  if (t.defined()) return t.value<T>();
  xt::xarray<T> one = xt::xarray<T>::from_shape(Shape{});
  *one.data() = T(1);
  return one;
}

// The robust regression losses share one shape: with d = input - target, 0.5 c d^2 where
// |d| < r and k (|d| - 0.5 r) elsewhere; the derivative is c d inside, k sign(d) outside.
// l1: r = 0, k = 1; smooth_l1: r = beta, c = 1/beta, k = 1; huber: r = delta, c = 1, k = delta.
struct Piecewise {
  double r = 0.0, c = 0.0, k = 1.0;
};

Tensor piecewise_loss(const char* op, const Tensor& input, const Tensor& target,
                      Reduction reduction, Piecewise pw) {
  check_same_dtype(op, {input, target});
  const Shape si = input.shape(), st = target.shape();
  if (si != st) broadcast_shapes(op, si, st);
  return dispatch(input.dtype(), [&](auto s) {
    using T = decltype(s);
    const xt::xarray<T> d = input.value<T>() - target.value<T>();
    const T r(pw.r), c(pw.c), k(pw.k);
    xt::xarray<T> losses = xt::where(xt::abs(d) < r, T(0.5) * c * d * d, k * (xt::abs(d) - T(0.5) * r));
    const std::size_t n = losses.size();
    Tensor loss = reduce_elements<T>(std::move(losses), reduction);
    if (any_requires_grad(input, target)) {
      Formula formula = [reduction, n, pw](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
        const Tensor diff = in[0] - in[1];
        // Outside |d| < r the slope is the constant k sign(d); inside it is c d, masked by a
        // constant (the derivative of a step is 0).
        const Tensor outside_slope = constant_from(
            [r = pw.r, k = pw.k](const auto& a) {
              using V = typename std::decay_t<decltype(a)>::value_type;
              return xt::where(xt::abs(a) < V(r), V(0), V(k) * xt::sign(a));
            },
            diff);
        Tensor slope = outside_slope;
        if (pw.r > 0.0) {
          const Tensor inside = constant_from(
              [r = pw.r](const auto& a) {
                using V = typename std::decay_t<decltype(a)>::value_type;
                return xt::cast<V>(xt::abs(a) < V(r));
              },
              diff);
          slope = inside * (diff * pw.c) + outside_slope;
        }
        const Tensor d = slope * element_grad(g, reduction, n);
        return {in[0].requires_grad() ? sum_to_size(d, in[0].shape()) : Tensor(),
                in[1].requires_grad() ? sum_to_size(-d, in[1].shape()) : Tensor()};
      };
      record(op, loss, {input, target}, saves_inputs, std::move(formula));
    }
    return loss;
  });
}

}  // namespace

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight,
                            Reduction reduction) {
  const char* op = op_binary_cross_entropy;
  check_same_shape(op, input, target);
  check_broadcasts_to(op, "weight", weight, input);
  return dispatch(input.dtype(), [&](auto s) {
    using T = decltype(s);
    const auto& x = input.value<T>();
    for (std::size_t i = 0; i < x.size(); ++i)
      if (!(x.data()[i] >= T(0) && x.data()[i] <= T(1)))
        throw Error(fmt::format("{}: input values must be probabilities in [0, 1], got {} "
                                "(element {} of input {})",
                                op, x.data()[i], i, shape_str(input.shape())));
    const auto& t = target.value<T>();
    const T floor(-100);
    xt::xarray<T> losses = (t - T(1)) * xt::maximum(xt::log1p(-x), floor) -
                           t * xt::maximum(xt::log(x), floor);
    if (weight.defined()) losses *= weight.value<T>();
    const std::size_t n = losses.size();
    Tensor loss = reduce_elements<T>(std::move(losses), reduction);
    if (any_requires_grad(input, target)) {
      // d/dx = w (x - t) / max(x (1 - x), 1e-12) and d/dt = w (log(1 - x) - log(x)), PyTorch's.
      Formula formula = [reduction, n, weight](const Tensor& g, const Inputs& in,
                                               const Tensor&) -> Grads {
        Tensor scale = element_grad(g, reduction, n);
        if (weight.defined()) scale = scale * weight;
        const Tensor& x = in[0];
        Grads grads(2);
        if (x.requires_grad())
          grads[0] = (x - in[1]) / clamp(x * (1.0 - x), 1e-12, std::numeric_limits<double>::infinity()) * scale;
        if (in[1].requires_grad()) grads[1] = (log(1.0 - x) - log(x)) * scale;
        return grads;
      };
      record(op, loss, {input, target}, saves_inputs, std::move(formula));
    }
    return loss;
  });
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const Tensor& weight, const Tensor& pos_weight,
                                        Reduction reduction) {
  const char* op = op_binary_cross_entropy_with_logits;
  check_same_shape(op, input, target);
  check_broadcasts_to(op, "weight", weight, input);
  check_broadcasts_to(op, "pos_weight", pos_weight, input);
  return dispatch(input.dtype(), [&](auto s) {
    using T = decltype(s);
    const auto& x = input.value<T>();
    const auto& t = target.value<T>();
    // softplus(-x) = log(1 + exp(-x)), written so that it never overflows.
    const xt::xarray<T> softplus_neg = xt::maximum(-x, T(0)) + xt::log1p(xt::exp(-xt::abs(x)));
    xt::xarray<T> losses = pos_weight.defined()
        ? xt::xarray<T>((T(1) - t) * x + (T(1) + (pos_weight.value<T>() - T(1)) * t) * softplus_neg)
        : xt::xarray<T>((T(1) - t) * x + softplus_neg);
    if (weight.defined()) losses *= weight.value<T>();
    const std::size_t n = losses.size();
    Tensor loss = reduce_elements<T>(std::move(losses), reduction);
    if (any_requires_grad(input, target)) {
      // d/dx = (1 + (pw - 1) t) sigmoid(x) - pw t, d/dt = -x + (pw - 1) softplus(-x), times w.
      Formula formula = [reduction, n, weight, pos_weight](const Tensor& g, const Inputs& in,
                                                           const Tensor&) -> Grads {
        Tensor scale = element_grad(g, reduction, n);
        if (weight.defined()) scale = scale * weight;
        const Tensor &x = in[0], &t = in[1];
        Grads grads(2);
        if (pos_weight.defined()) {
          const Tensor pw_t = pos_weight * t;
          if (x.requires_grad()) grads[0] = ((1.0 - t + pw_t) * sigmoid(x) - pw_t) * scale;
          if (t.requires_grad())
            grads[1] = ((pos_weight - 1.0) * softplus(-x, 1.0, std::numeric_limits<double>::infinity()) - x) * scale;
        } else {
          if (x.requires_grad()) grads[0] = (sigmoid(x) - t) * scale;
          if (t.requires_grad()) grads[1] = -x * scale;
        }
        return grads;
      };
      record(op, loss, {input, target}, saves_inputs, std::move(formula));
    }
    return loss;
  });
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return piecewise_loss(op_l1_loss, input, target, reduction, {0.0, 0.0, 1.0});
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta) {
  if (!(beta >= 0.0))
    throw Error(fmt::format("smooth_l1_loss: beta must be >= 0, got {} (input {})", beta,
                            shape_str(input.shape())));
  if (beta == 0.0) return l1_loss(input, target, reduction);  // as PyTorch
  return piecewise_loss(op_smooth_l1_loss, input, target, reduction, {beta, 1.0 / beta, 1.0});
}

Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction, double delta) {
  if (!(delta > 0.0))
    throw Error(fmt::format("huber_loss: delta must be > 0, got {} (input {})", delta,
                            shape_str(input.shape())));
  return piecewise_loss(op_huber_loss, input, target, reduction, {delta, 1.0, delta});
}

}  // namespace tg
