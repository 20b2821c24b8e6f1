// Reductions and the softmax family: each forward and its backward side by side.
//
// The kernels are raw loops over .data(): a lazy xtensor reducer costs ~1.2 ns per element and
// keep_dims reducers cannot be broadcast safely (STACK_NOTES). Loops over contiguous runs with
// SIMD-pack folds (fold.hpp) cost ~0.1 ns per element and give the backward the exact mapping
// from input to output elements.
#include "tapegrad/autograd/ops/reduction.hpp"

#include <cmath>
#include <limits>
#include <type_traits>

#include <xtensor/xnoalias.hpp>

#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/ops/elementwise.hpp"
#include "tapegrad/autograd/ops/shape.hpp"
#include "autograd/op_registry.hpp"
#include "autograd/ops/fold.hpp"
#include "autograd/ops/reduce_plan.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp).
const OpName op_sum{"sum"};
const OpName op_mean{"mean"};
const OpName op_max{"max"};
const OpName op_min{"min"};
const OpName op_logsumexp{"logsumexp"};
const OpName op_softmax{"softmax"};
const OpName op_log_softmax{"log_softmax"};

namespace {

using detail::fold_values;
using detail::NanMax;
using detail::NanMin;
using detail::Plus;
using detail::ShiftMax;
using detail::ReducePlan;
using detail::Lanes;
using detail::make_plan;
using detail::make_lanes;
using detail::walk_runs;
using detail::walk_elements;
using detail::reduce_into;
using detail::array_of_shape;
using detail::check_not_empty;
using detail::for_each_lane;
using detail::lane_max;
using detail::lane_sum;

// x's shape with the reduced axes kept as 1: where a reduction's gradient is broadcast from.
Shape kept_shape(const char* op, const Shape& shape, const std::vector<int>& axes) {
  return make_plan(op, shape, axes, true).out_shape;
}

// For max and min: 1/count at each input element equal to its lane's extremum (count = the
// number of ties), 0 elsewhere. Ties share the gradient equally, as torch.amax.
template <class T>
xt::xarray<T> tie_share(const ReducePlan& plan, const xt::xarray<T>& x, const xt::xarray<T>& y) {
  const T* px = x.data();
  const T* py = y.data();
  std::vector<T> count(plan.out_size, T(0));
  walk_elements(plan, [&](std::size_t i, std::size_t o) {
    if (px[i] == py[o]) count[o] += T(1);
  });
  xt::xarray<T> share = array_of_shape<T>(Shape(x.shape().begin(), x.shape().end()));
  T* ps = share.data();
  walk_elements(plan, [&](std::size_t i, std::size_t o) {
    ps[i] = px[i] == py[o] ? T(1) / count[o] : T(0);
  });
  return share;
}

// sum and mean: the same loops, mean scaled by 1/count both ways.
Tensor sum_or_mean(const char* op, const Tensor& x, const std::vector<int>& axes, bool keepdims,
                   bool is_mean) {
  check_same_dtype(op, {x});
  ReducePlan plan = make_plan(op, x.shape(), axes, keepdims);
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const T scale = is_mean ? T(1) / T(plan.count) : T(1);
    const T* px = x.value<T>().data();
    xt::xarray<T> out = array_of_shape<T>(plan.out_shape);
    T* po = out.data();
    reduce_into<T>(plan, po, T(0), [px](std::size_t i, std::size_t) { return px[i]; },
                   Plus());
    if (is_mean)
      for (std::size_t o = 0; o < plan.out_size; ++o) po[o] *= scale;
    Tensor y(std::move(out));
    if (any_requires_grad(x)) {
      Formula formula = [kept = kept_shape(op, x.shape(), axes), scale](
                            const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
        const Tensor spread = broadcast_to(reshape(g, kept), in[0].shape());
        return {scale == T(1) ? spread : spread * double(scale)};
      };
      record<T>(op, y, {x}, saves_nothing, std::move(formula),
                [x, plan = std::move(plan), scale](const xt::xarray<T>& g) {
        xt::xarray<T> gx = array_of_shape<T>(x.shape());
        T* pg = gx.data();
        const T* pgo = g.data();
        walk_elements(plan, [&](std::size_t i, std::size_t o) { pg[i] = scale * pgo[o]; });
        accumulate_grad<T>(x, std::move(gx));
      });
    }
    return y;
  });
}

// out = exp(x - lane max), the shared first step of softmax and log_softmax. The exponentials
// run as one vectorised pass over the whole array; `shifts` receives each lane's maximum.
template <class T>
xt::xarray<T> shifted_exp(const xt::xarray<T>& x, const Lanes& l, std::vector<T>* shifts) {
  xt::xarray<T> out = array_of_shape<T>(Shape(x.shape().begin(), x.shape().end()));
  const T* px = x.data();
  T* po = out.data();
  if (shifts) shifts->resize(l.outer * l.inner);
  for_each_lane(l, [&](std::size_t lane, std::size_t b, auto st) {
    const T m = lane_max(px + b, l.n, st);
    if (shifts) (*shifts)[lane] = m;
    for (std::size_t k = 0; k < l.n; ++k) po[b + k * st] = px[b + k * st] - m;
  });
  xt::noalias(out) = xt::exp(out);
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  return sum_or_mean(op_sum, x, axes, keepdims, false);
}

Tensor mean(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  return sum_or_mean(op_mean, x, axes, keepdims, true);
}

namespace {

// max and min: the same loops with the fold and the starting value flipped.
template <class Fold>
Tensor extremum(const char* op, const Tensor& x, const std::vector<int>& axes, bool keepdims,
                double init) {
  check_same_dtype(op, {x});
  const Shape sx = x.shape();
  ReducePlan plan = make_plan(op, sx, axes, keepdims);
  check_not_empty(op, plan, sx);
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* px = x.value<T>().data();
    xt::xarray<T> out = array_of_shape<T>(plan.out_shape);
    reduce_into<T>(plan, out.data(), T(init),
                   [px](std::size_t i, std::size_t) { return px[i]; },
                   Fold());
    Tensor y(std::move(out));
    if (any_requires_grad(x)) {
      // The share of the gradient each element gets is a constant (which elements tie).
      Formula formula = [plan, kept = kept_shape(op, sx, axes)](
                            const Tensor& g, const Inputs& in, const Tensor& y) -> Grads {
        const Tensor share = constant_from(
            [&](const auto& xv, const auto& yv) { return tie_share(plan, xv, yv); }, in[0], y);
        return {broadcast_to(reshape(g, kept), in[0].shape()) * share};
      };
      record<T>(op, y, {x}, saves_all, std::move(formula),
                [x, plan = std::move(plan)](const xt::xarray<T>& g, const Tensor& out) {
        xt::xarray<T> gx = tie_share(plan, x.value<T>(), out.value<T>());
        T* pg = gx.data();
        const T* pgo = g.data();
        walk_elements(plan, [&](std::size_t i, std::size_t o) { pg[i] *= pgo[o]; });
        accumulate_grad<T>(x, std::move(gx));
      });
    }
    return y;
  });
}

}  // namespace

Tensor max(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  return extremum<NanMax>(op_max, x, axes, keepdims, -std::numeric_limits<double>::infinity());
}

Tensor min(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  return extremum<NanMin>(op_min, x, axes, keepdims, std::numeric_limits<double>::infinity());
}

Tensor sum_to_size(const Tensor& x, const Shape& shape) {
  const Shape sx = x.shape();
  if (sx == shape) return x;
  if (shape.size() > sx.size() || broadcast_shapes("sum_to_size", shape, sx) != sx)
    throw Error(fmt::format("sum_to_size: shape {} does not broadcast to the input's {}",
                            shape_str(shape), shape_str(sx)));
  const std::size_t lead = sx.size() - shape.size();
  std::vector<int> axes;
  for (std::size_t a = 0; a < sx.size(); ++a)
    if (a < lead || (shape[a - lead] == 1 && sx[a] != 1)) axes.push_back(static_cast<int>(a));
  return reshape(axes.empty() ? x : sum(x, axes), shape);
}

Tensor logsumexp(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  check_same_dtype(op_logsumexp, {x});
  const Shape sx = x.shape();
  ReducePlan plan = make_plan(op_logsumexp, sx, axes, keepdims);
  check_not_empty(op_logsumexp, plan, sx);
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* px = x.value<T>().data();
    // Shift by the maximum so that exp never overflows; an infinite maximum (all -inf, or +inf
    // present) is not subtracted, which gives -inf and +inf as the exact answers.
    std::vector<T> shift(plan.out_size);
    reduce_into<T>(plan, shift.data(), -std::numeric_limits<T>::infinity(),
                   [px](std::size_t i, std::size_t) { return px[i]; },
                   ShiftMax());
    for (T& m : shift)
      if (!std::isfinite(m)) m = T(0);
    xt::xarray<T> out = array_of_shape<T>(plan.out_shape);
    T* po = out.data();
    reduce_into<T>(plan, po, T(0),
                   [px, &shift](std::size_t i, std::size_t o) { return std::exp(px[i] - shift[o]); },
                   Plus());
    for (std::size_t o = 0; o < plan.out_size; ++o) po[o] = shift[o] + std::log(po[o]);
    Tensor y(std::move(out));
    if (any_requires_grad(x)) {
      // d lse / d x = exp(x - lse): the softmax over the reduced axes, from the saved output.
      Formula formula = [kept = kept_shape(op_logsumexp, sx, axes)](
                            const Tensor& g, const Inputs& in, const Tensor& y) -> Grads {
        const Shape shape = in[0].shape();
        return {broadcast_to(reshape(g, kept), shape) *
                exp(in[0] - broadcast_to(reshape(y, kept), shape))};
      };
      record<T>(op_logsumexp, y, {x}, saves_all, std::move(formula),
                [x, plan = std::move(plan)](const xt::xarray<T>& g, const Tensor& out) {
        const T* pxv = x.value<T>().data();
        const T* py = out.value<T>().data();
        const T* pgo = g.data();
        xt::xarray<T> gx = array_of_shape<T>(x.shape());
        T* pg = gx.data();
        walk_elements(plan, [&](std::size_t i, std::size_t o) {
          pg[i] = pgo[o] * std::exp(pxv[i] - py[o]);
        });
        accumulate_grad<T>(x, std::move(gx));
      });
    }
    return y;
  });
}

Tensor softmax(const Tensor& x, int axis) {
  check_same_dtype(op_softmax, {x});
  const Lanes l = make_lanes(op_softmax, x.shape(), axis);
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> out = shifted_exp<T>(x.value<T>(), l, nullptr);
    T* po = out.data();
    for_each_lane(l, [&](std::size_t, std::size_t b, auto st) {
      const T inv = T(1) / lane_sum(po + b, l.n, st);
      for (std::size_t k = 0; k < l.n; ++k) po[b + k * st] *= inv;
    });
    Tensor y(std::move(out));
    if (any_requires_grad(x)) {
      // dx = y * (g - sum(g * y)) along the axis.
      Formula formula = [axis](const Tensor& g, const Inputs&, const Tensor& y) -> Grads {
        return {y * (g - sum(g * y, {axis}, true))};
      };
      record<T>(op_softmax, y, {x}, saves_output, std::move(formula),
                [x, l](const xt::xarray<T>& g, const Tensor& out) {
        const T* py = out.value<T>().data();
        const T* pgo = g.data();
        xt::xarray<T> gx = array_of_shape<T>(x.shape());
        T* pg = gx.data();
        for_each_lane(l, [&](std::size_t, std::size_t b, auto st) {
          const T dot = fold_values(
              l.n, T(0), [&](std::size_t k) { return pgo[b + k * st] * py[b + k * st]; }, Plus());
          for (std::size_t k = 0; k < l.n; ++k)
            pg[b + k * st] = py[b + k * st] * (pgo[b + k * st] - dot);
        });
        accumulate_grad<T>(x, std::move(gx));
      });
    }
    return y;
  });
}

Tensor log_softmax(const Tensor& x, int axis) {
  check_same_dtype(op_log_softmax, {x});
  const Lanes l = make_lanes(op_log_softmax, x.shape(), axis);
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const auto& xv = x.value<T>();
    std::vector<T> shifts;
    xt::xarray<T> out = shifted_exp<T>(xv, l, &shifts);
    const T* px = xv.data();
    T* po = out.data();
    // (x - m) - log(sum): subtracting the maximum first keeps the digits of x - m at large logits.
    for_each_lane(l, [&](std::size_t lane, std::size_t b, auto st) {
      const T m = shifts[lane];
      const T log_sum = std::log(lane_sum(po + b, l.n, st));
      for (std::size_t k = 0; k < l.n; ++k) po[b + k * st] = (px[b + k * st] - m) - log_sum;
    });
    Tensor y(std::move(out));
    if (any_requires_grad(x)) {
      // dx = g - exp(y) * sum(g) along the axis.
      Formula formula = [axis](const Tensor& g, const Inputs&, const Tensor& y) -> Grads {
        return {g - exp(y) * sum(g, {axis}, true)};
      };
      record<T>(op_log_softmax, y, {x}, saves_output, std::move(formula),
                [x, l](const xt::xarray<T>& g, const Tensor& out) {
        const T* pgo = g.data();
        xt::xarray<T> gx = xt::exp(out.value<T>());
        T* pg = gx.data();
        for_each_lane(l, [&](std::size_t, std::size_t b, auto st) {
          const T total = lane_sum(pgo + b, l.n, st);
          for (std::size_t k = 0; k < l.n; ++k)
            pg[b + k * st] = pgo[b + k * st] - pg[b + k * st] * total;
        });
        accumulate_grad<T>(x, std::move(gx));
      });
    }
    return y;
  });
}

}  // namespace tg
