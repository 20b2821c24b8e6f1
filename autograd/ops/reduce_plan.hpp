// Internal to the op families: how reductions and along-an-axis ops walk their inputs.
//
// Raw loops over .data(): a lazy xtensor reducer costs ~1.2 ns per element and keep_dims
// reducers cannot be broadcast safely (STACK_NOTES); these cost ~0.1 ns and give the backward
// the exact mapping from input to output elements.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include <xtensor/xarray.hpp>

#include "tapegrad/autograd/function.hpp"
#include "autograd/ops/fold.hpp"

namespace tg::detail {

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

inline ReducePlan make_plan(const char* op, const Shape& shape, const std::vector<int>& axes,
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

inline void check_not_empty(const char* op, const ReducePlan& p, const Shape& shape) {
  if (p.in_size == 0 && p.out_size > 0)
    throw Error(fmt::format("{}: cannot reduce over an empty axis of shape {}", op,
                            shape_str(shape)));
}

// Describes softmax's axis as lanes: `outer` blocks of n elements spaced `inner` apart.
struct Lanes {
  std::size_t outer = 1, n = 1, inner = 1;
};

inline Lanes make_lanes(const char* op, const Shape& shape, int axis) {
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

}  // namespace tg::detail
