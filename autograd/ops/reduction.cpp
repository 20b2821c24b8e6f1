// Reductions and the softmax family: each forward and its backward side by side, then their cases.
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
#include "autograd/op_registry.hpp"
#include "autograd/ops/families.hpp"
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
      record<T>(op, y, {x}, [x, plan = std::move(plan), scale](const xt::xarray<T>& g) {
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
      // Tied extrema share the gradient equally (torch.amax): count them, then spread g / count.
      record<T>(op, y, {x}, [x, plan = std::move(plan)](const xt::xarray<T>& g, const Tensor& out) {
        const T* pxv = x.value<T>().data();
        const T* py = out.value<T>().data();
        std::vector<T> share(plan.out_size, T(0));
        walk_elements(plan, [&](std::size_t i, std::size_t o) {
          if (pxv[i] == py[o]) share[o] += T(1);
        });
        for (std::size_t o = 0; o < plan.out_size; ++o) share[o] = g.data()[o] / share[o];
        xt::xarray<T> gx = array_of_shape<T>(x.shape());
        T* pg = gx.data();
        walk_elements(plan, [&](std::size_t i, std::size_t o) {
          pg[i] = pxv[i] == py[o] ? share[o] : T(0);
        });
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
      record<T>(op_logsumexp, y, {x}, [x, plan = std::move(plan)](const xt::xarray<T>& g, const Tensor& out) {
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
      record<T>(op_softmax, y, {x}, [x, l](const xt::xarray<T>& g, const Tensor& out) {
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
      record<T>(op_log_softmax, y, {x}, [x, l](const xt::xarray<T>& g, const Tensor& out) {
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

void add_reduction_cases(std::vector<GradcheckCase>& cases) {
  using Axes = std::vector<int>;
  using Reducer = Tensor (*)(const Tensor&, const std::vector<int>&, bool);
  auto reduce = [](Reducer op, Axes axes, bool keepdims) {
    return [op, axes, keepdims](const std::vector<Tensor>& in) { return op(in[0], axes, keepdims); };
  };
  for (auto [name, op] : {std::pair<const char*, Reducer>{"sum", &sum}, {"mean", &mean},
                          {"max", &max}, {"min", &min}, {"logsumexp", &logsumexp}}) {
    cases.push_back({name, "all axes", {{3, 4}}, reduce(op, {}, false)});
    cases.push_back({name, "all axes, keepdims", {{2, 3}}, reduce(op, {}, true)});
    cases.push_back({name, "last axis", {{3, 5}}, reduce(op, {1}, false)});
    cases.push_back({name, "first axis, keepdims", {{4, 3}}, reduce(op, {0}, true)});
    cases.push_back({name, "negative axis, keepdims", {{2, 3, 4}}, reduce(op, {-1}, true)});
    cases.push_back({name, "middle axis", {{2, 3, 4}}, reduce(op, {-2}, false)});
    cases.push_back({name, "non-adjacent axes", {{2, 3, 4}}, reduce(op, {0, 2}, false)});
    cases.push_back({name, "two axes, keepdims", {{2, 3, 4}}, reduce(op, {2, 1}, true)});
    cases.push_back({name, "size-1 axes", {{3, 1, 4, 1}}, reduce(op, {1, 2}, false)});
    cases.push_back({name, "only a size-1 axis", {{3, 1}}, reduce(op, {1}, false)});
    cases.push_back({name, "scalar input", {{}}, reduce(op, {}, false)});
  }
  cases.push_back({"sum", "chained after itself", {{2, 3, 4}}, [](const std::vector<Tensor>& in) {
                     return sum(sum(in[0], {1}, true), {0});
                   }});
  using Softmax = Tensor (*)(const Tensor&, int);
  for (auto [name, op] : {std::pair<const char*, Softmax>{"softmax", &softmax},
                          {"log_softmax", &log_softmax}}) {
    auto along = [op = op](int axis) {
      return [op, axis](const std::vector<Tensor>& in) { return op(in[0], axis); };
    };
    cases.push_back({name, "last axis", {{3, 5}}, along(-1)});
    cases.push_back({name, "first axis", {{4, 3}}, along(0)});
    cases.push_back({name, "middle axis", {{2, 3, 4}}, along(1)});
    cases.push_back({name, "1-D", {{6}}, along(0)});
    cases.push_back({name, "size-1 axis", {{3, 1}}, along(1)});
    cases.push_back({name, "large values", {{2, 4}}, [op = op](const std::vector<Tensor>& in) {
                       return op(in[0] * 30.0, -1);
                     }});
  }
}

}  // namespace tg
