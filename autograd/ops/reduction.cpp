// Reductions and the softmax family: each forward and its backward side by side, then their cases.
//
// The kernels are raw loops over .data(): a lazy xtensor reducer costs ~1.2 ns per element and
// keep_dims reducers cannot be broadcast safely (STACK_NOTES). Loops over contiguous runs with
// SIMD-pack folds (fold.hpp) cost ~0.1 ns per element and give the backward the exact mapping
// from input to output elements.
#include "autograd/ops/reduction.hpp"

#include <cmath>
#include <limits>
#include <type_traits>

#include <xtensor/xnoalias.hpp>

#include "autograd/function.hpp"
#include "autograd/ops/elementwise.hpp"
#include "autograd/ops/families.hpp"
#include "autograd/ops/fold.hpp"

namespace tg {

namespace {

using detail::fold_values;
using detail::NanMax;
using detail::Plus;
using detail::ShiftMax;

// How a reduction walks its input. Size-1 axes are dropped and neighbouring axes of the same kind
// (reduced or kept) merged, so that any axis set becomes alternating groups [K0, R1, K2, ...]:
// the input is a sequence of contiguous runs (the last group), and each run's output offset
// follows an odometer over the outer groups. [N,C] over axis 1 is N runs of C reduced elements;
// over axis 0 it is N runs of C kept elements added onto the same output row.
struct ReducePlan {
  Shape out_shape;
  std::size_t in_size = 1;
  std::size_t out_size = 1;
  std::size_t count = 1;                 // input elements per output element
  std::vector<std::size_t> extents;      // merged groups, outermost first; the last is the run
  std::vector<std::size_t> out_strides;  // output stride of each group, 0 for reduced groups
  bool run_reduced = true;
  std::size_t run() const { return extents.back(); }
};

ReducePlan make_plan(const char* op, const Shape& shape, const std::vector<int>& axes,
                     bool keepdims) {
  const std::size_t nd = shape.size();
  std::vector<char> reduced(nd, axes.empty() ? 1 : 0);
  for (int axis : axes) {
    const std::size_t a = normalize_axis(op, axis, shape);
    if (reduced[a])
      throw Error(fmt::format("{}: axis {} given twice in [{}] for shape {}", op, axis,
                              fmt::join(axes, ","), shape_str(shape)));
    reduced[a] = 1;
  }
  ReducePlan p;
  std::vector<char> kinds;
  for (std::size_t d = 0; d < nd; ++d) {
    p.in_size *= shape[d];
    if (reduced[d]) {
      p.count *= shape[d];
      if (keepdims) p.out_shape.push_back(1);
    } else {
      p.out_size *= shape[d];
      p.out_shape.push_back(shape[d]);
    }
    if (shape[d] == 1) continue;
    if (!kinds.empty() && kinds.back() == reduced[d]) {
      p.extents.back() *= shape[d];
    } else {
      p.extents.push_back(shape[d]);
      kinds.push_back(reduced[d]);
    }
  }
  if (p.extents.empty()) {  // a scalar or all size-1 axes: one run of one element
    p.extents.push_back(1);
    kinds.push_back(1);
  }
  p.out_strides.resize(p.extents.size());
  std::size_t stride = 1;
  for (std::size_t d = p.extents.size(); d-- > 0;) {
    p.out_strides[d] = kinds[d] ? 0 : stride;
    if (!kinds[d]) stride *= p.extents[d];
  }
  p.run_reduced = kinds.back() != 0;
  return p;
}

// Calls f(input offset, output offset) for each contiguous run, in input order.
template <class F>
void walk_runs(const ReducePlan& p, F&& f) {
  if (p.in_size == 0) return;
  const std::size_t run = p.run(), outer = p.extents.size() - 1;
  std::vector<std::size_t> index(outer, 0);
  std::size_t o = 0;
  for (std::size_t i = 0; i < p.in_size; i += run) {
    f(i, o);
    for (std::size_t d = outer; d-- > 0;) {
      o += p.out_strides[d];
      if (++index[d] < p.extents[d]) break;
      o -= p.out_strides[d] * p.extents[d];
      index[d] = 0;
    }
  }
}

// Calls f(input index, output index) for every input element.
template <class F>
void walk_elements(const ReducePlan& p, F&& f) {
  const std::size_t run = p.run();
  if (p.run_reduced) {
    walk_runs(p, [&](std::size_t i, std::size_t o) {
      for (std::size_t j = 0; j < run; ++j) f(i + j, o);
    });
  } else {
    walk_runs(p, [&](std::size_t i, std::size_t o) {
      for (std::size_t j = 0; j < run; ++j) f(i + j, o + j);
    });
  }
}

// out[o] = fold of value(i, o) over the inputs i of o, from init.
template <class T, class Value, class Fold>
void reduce_into(const ReducePlan& p, T* out, T init, Value value, Fold fold) {
  std::fill(out, out + p.out_size, init);
  const std::size_t run = p.run();
  if (p.run_reduced) {
    walk_runs(p, [&](std::size_t i, std::size_t o) {
      out[o] = fold(out[o], fold_values(run, init, [&](std::size_t j) { return value(i + j, o); }, fold));
    });
  } else {
    walk_runs(p, [&](std::size_t i, std::size_t o) {
      for (std::size_t j = 0; j < run; ++j) out[o + j] = fold(out[o + j], value(i + j, o + j));
    });
  }
}

template <class T>
xt::xarray<T> array_of_shape(const Shape& shape) {
  return xt::xarray<T>::from_shape(shape);
}

void check_not_empty(const char* op, const ReducePlan& p, const Shape& shape) {
  if (p.in_size == 0 && p.out_size > 0)
    throw Error(fmt::format("{}: cannot reduce over an empty axis of shape {}", op,
                            shape_str(shape)));
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

// Describes softmax's axis as lanes: `outer` blocks of n elements spaced `inner` apart.
struct Lanes {
  std::size_t outer = 1, n = 1, inner = 1;
};

Lanes make_lanes(const char* op, const Shape& shape, int axis) {
  const std::size_t a = normalize_axis(op, axis, shape);
  Lanes l;
  for (std::size_t d = 0; d < a; ++d) l.outer *= shape[d];
  l.n = shape[a];
  for (std::size_t d = a + 1; d < shape.size(); ++d) l.inner *= shape[d];
  return l;
}

// Calls f(lane number, offset of its first element, stride). The last axis, by far the most
// common, passes a compile-time stride of 1 so that the lane loops vectorise.
template <class F>
void for_each_lane(const Lanes& l, F&& f) {
  if (l.inner == 1) {
    for (std::size_t o = 0; o < l.outer; ++o)
      f(o, o * l.n, std::integral_constant<std::size_t, 1>{});
  } else {
    for (std::size_t o = 0; o < l.outer; ++o)
      for (std::size_t j = 0; j < l.inner; ++j) f(o * l.inner + j, o * l.n * l.inner + j, l.inner);
  }
}

template <class T, class Stride>
T lane_max(const T* p, std::size_t n, Stride stride) {
  return fold_values(n, -std::numeric_limits<T>::infinity(),
                     [&](std::size_t k) { return p[k * stride]; }, ShiftMax());
}

template <class T, class Stride>
T lane_sum(const T* p, std::size_t n, Stride stride) {
  return fold_values(n, T(0), [&](std::size_t k) { return p[k * stride]; }, Plus());
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
  return sum_or_mean("sum", x, axes, keepdims, false);
}

Tensor mean(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  return sum_or_mean("mean", x, axes, keepdims, true);
}

Tensor max(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  check_same_dtype("max", {x});
  const Shape sx = x.shape();
  ReducePlan plan = make_plan("max", sx, axes, keepdims);
  check_not_empty("max", plan, sx);
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* px = x.value<T>().data();
    xt::xarray<T> out = array_of_shape<T>(plan.out_shape);
    reduce_into<T>(plan, out.data(), -std::numeric_limits<T>::infinity(),
                   [px](std::size_t i, std::size_t) { return px[i]; },
                   NanMax());
    Tensor y(std::move(out));
    if (any_requires_grad(x)) {
      // Tied maxima share the gradient equally (torch.amax): count them, then spread g / count.
      record<T>("max", y, {x}, [x, plan = std::move(plan)](const xt::xarray<T>& g, const Tensor& out) {
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

Tensor logsumexp(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  check_same_dtype("logsumexp", {x});
  const Shape sx = x.shape();
  ReducePlan plan = make_plan("logsumexp", sx, axes, keepdims);
  check_not_empty("logsumexp", plan, sx);
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
      record<T>("logsumexp", y, {x}, [x, plan = std::move(plan)](const xt::xarray<T>& g, const Tensor& out) {
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
  check_same_dtype("softmax", {x});
  const Lanes l = make_lanes("softmax", x.shape(), axis);
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
      record<T>("softmax", y, {x}, [x, l](const xt::xarray<T>& g, const Tensor& out) {
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
  check_same_dtype("log_softmax", {x});
  const Lanes l = make_lanes("log_softmax", x.shape(), axis);
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
      record<T>("log_softmax", y, {x}, [x, l](const xt::xarray<T>& g, const Tensor& out) {
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
                          {"max", &max}, {"logsumexp", &logsumexp}}) {
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
