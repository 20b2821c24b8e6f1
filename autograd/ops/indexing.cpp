// Positional ops: each forward and its backward side by side.
//
// gather, scatter_add and index_add all reduce to one map from the positions of an index array
// to offsets into x (axis_offsets): the forward and both backwards are loops over that map.
#include "tapegrad/autograd/ops/indexing.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tapegrad/autograd/ops/shape.hpp"
#include "autograd/op_registry.hpp"
#include "autograd/ops/reduce_plan.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp).
const OpName op_topk{"topk"};
const OpName op_gather{"gather"};
const OpName op_scatter_add{"scatter_add"};
const OpName op_index_add{"index_add"};

namespace {

using detail::array_of_shape;
using detail::for_each_lane;
using detail::Lanes;
using detail::make_lanes;

// For every element of `index` (row-major), the offset in x of the element it addresses: the
// element's own position on every axis but `axis`, where the index value is used instead.
std::vector<std::size_t> axis_offsets(const char* op, const Shape& sx, std::size_t axis,
                                      const Indices& index) {
  const Shape& si = index.shape;
  if (si.size() != sx.size())
    throw Error(fmt::format("{}: index of shape {} must have the rank of input {}", op,
                            shape_str(si), shape_str(sx)));
  for (std::size_t d = 0; d < sx.size(); ++d)
    if (d != axis && si[d] > sx[d])
      throw Error(fmt::format("{}: index {} exceeds input {} on axis {}", op, shape_str(si),
                              shape_str(sx), d));
  std::vector<std::size_t> strides(sx.size(), 1);
  for (std::size_t d = sx.size(); d-- > 1;) strides[d - 1] = strides[d] * sx[d];
  std::vector<std::size_t> offsets(index.size());
  std::vector<std::size_t> pos(si.size(), 0);
  for (std::size_t p = 0; p < index.size(); ++p) {
    const std::int64_t v = index[p];
    if (v < 0 || static_cast<std::size_t>(v) >= sx[axis])
      throw Error(fmt::format("{}: index {} (position {}) out of range for axis {} of {}", op, v,
                              p, axis, shape_str(sx)));
    std::size_t off = 0;
    for (std::size_t d = 0; d < si.size(); ++d)
      off += (d == axis ? static_cast<std::size_t>(v) : pos[d]) * strides[d];
    offsets[p] = off;
    for (std::size_t d = si.size(); d-- > 0;) {  // odometer over index's shape
      if (++pos[d] < si[d]) break;
      pos[d] = 0;
    }
  }
  return offsets;
}

template <class Better>
Indices arg_extreme(const char* op, const Tensor& x, int axis, bool keepdims, Better better) {
  const Shape sx = x.shape();
  const std::size_t a = normalize_axis(op, axis, sx);
  if (sx[a] == 0) throw Error(fmt::format("{}: empty axis {} of {}", op, axis, shape_str(sx)));
  const Lanes l = make_lanes(op, sx, axis);
  Shape so = sx;
  if (keepdims) so[a] = 1; else so.erase(so.begin() + static_cast<long>(a));
  std::vector<std::int64_t> out(l.outer * l.inner);
  dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* px = x.value<T>().data();
    for_each_lane(l, [&](std::size_t lane, std::size_t b, auto st) {
      std::size_t best = 0;
      for (std::size_t k = 1; k < l.n && !std::isnan(px[b + best * st]); ++k)
        if (std::isnan(px[b + k * st]) || better(px[b + k * st], px[b + best * st])) best = k;
      out[lane] = static_cast<std::int64_t>(best);
    });
  });
  return Indices(std::move(out), so);
}

// scatter_add and index_add: out = x, out[offsets[p]] += src[p].
Tensor scatter_add_at(const char* op, const Tensor& x, const Tensor& src,
                      std::vector<std::size_t> offsets, Formula formula) {
  check_same_dtype(op, {x, src});
  if (src.size() != offsets.size())
    throw Error(fmt::format("{}: src {} does not match the index ({} positions)", op,
                            shape_str(src.shape()), offsets.size()));
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> out = x.value<T>();
    const T* ps = src.value<T>().data();
    for (std::size_t p = 0; p < offsets.size(); ++p) out.data()[offsets[p]] += ps[p];
    Tensor y(std::move(out));
    if (any_requires_grad(x, src)) {
      record<T>(op, y, {x, src}, saves_nothing, std::move(formula),
                [x, src, offsets = std::move(offsets)](const xt::xarray<T>& g) {
        if (x.requires_grad()) accumulate_grad<T>(x, g);
        if (src.requires_grad()) {
          T* gs = grad_buffer_for_add<T>(src);
          for (std::size_t p = 0; p < offsets.size(); ++p) gs[p] += g.data()[offsets[p]];
        }
      });
    }
    return y;
  });
}

}  // namespace

Indices argmax(const Tensor& x, int axis, bool keepdims) {
  return arg_extreme("argmax", x, axis, keepdims, [](auto a, auto b) { return a > b; });
}

Indices argmin(const Tensor& x, int axis, bool keepdims) {
  return arg_extreme("argmin", x, axis, keepdims, [](auto a, auto b) { return a < b; });
}

TopK topk(const Tensor& x, std::size_t k, int axis, bool largest) {
  const Shape sx = x.shape();
  const std::size_t a = normalize_axis(op_topk, axis, sx);
  if (k > sx[a])
    throw Error(fmt::format("topk: k = {} exceeds axis {} of {}", k, axis, shape_str(sx)));
  const Lanes l = make_lanes(op_topk, sx, axis);
  Shape so = sx;
  so[a] = k;
  const Lanes lo{l.outer, k, l.inner};
  std::vector<std::int64_t> picked(l.outer * k * l.inner);
  std::vector<std::size_t> offsets(picked.size());  // offset in x of each output element
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* px = x.value<T>().data();
    std::vector<std::size_t> order(l.n);
    std::vector<std::size_t> out_starts;
    for_each_lane(lo, [&](std::size_t, std::size_t b, auto) { out_starts.push_back(b); });
    std::size_t lane_no = 0;
    for_each_lane(l, [&](std::size_t, std::size_t b, auto st) {
      std::iota(order.begin(), order.end(), std::size_t(0));
      auto before = [&](std::size_t i, std::size_t j) {
        return largest ? px[b + i * st] > px[b + j * st] : px[b + i * st] < px[b + j * st];
      };
      std::stable_sort(order.begin(), order.end(), before);
      const std::size_t ob = out_starts[lane_no++];
      for (std::size_t r = 0; r < k; ++r) {
        picked[ob + r * l.inner] = static_cast<std::int64_t>(order[r]);
        offsets[ob + r * l.inner] = b + order[r] * st;
      }
    });
    xt::xarray<T> out = array_of_shape<T>(so);
    for (std::size_t p = 0; p < offsets.size(); ++p) out.data()[p] = px[offsets[p]];
    Tensor values(std::move(out));
    if (any_requires_grad(x)) {
      Formula formula = [axis, index = Indices(picked, so)](const Tensor& g, const Inputs& in,
                                                          const Tensor&) -> Grads {
        return {scatter_add(Tensor::zeros(in[0].shape(), g.dtype()), axis, index, g)};
      };
      record<T>(op_topk, values, {x}, saves_nothing, std::move(formula),
                [x, offsets = offsets](const xt::xarray<T>& g) {
        T* gx = grad_buffer_for_add<T>(x);
        for (std::size_t p = 0; p < offsets.size(); ++p) gx[offsets[p]] += g.data()[p];
      });
    }
    return TopK{values, Indices(std::move(picked), so)};
  });
}

Tensor gather(const Tensor& x, int axis, const Indices& index) {
  check_same_dtype(op_gather, {x});
  const Shape sx = x.shape();
  std::vector<std::size_t> offsets =
      axis_offsets(op_gather, sx, normalize_axis(op_gather, axis, sx), index);
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* px = x.value<T>().data();
    xt::xarray<T> out = array_of_shape<T>(index.shape);
    for (std::size_t p = 0; p < offsets.size(); ++p) out.data()[p] = px[offsets[p]];
    Tensor y(std::move(out));
    if (any_requires_grad(x)) {
      Formula formula = [axis, index](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
        return {scatter_add(Tensor::zeros(in[0].shape(), g.dtype()), axis, index, g)};
      };
      record<T>(op_gather, y, {x}, saves_nothing, std::move(formula),
                [x, offsets = std::move(offsets)](const xt::xarray<T>& g) {
        T* gx = grad_buffer_for_add<T>(x);
        for (std::size_t p = 0; p < offsets.size(); ++p) gx[offsets[p]] += g.data()[p];
      });
    }
    return y;
  });
}

Tensor scatter_add(const Tensor& x, int axis, const Indices& index, const Tensor& src) {
  const Shape sx = x.shape();
  if (src.defined() && src.shape() != index.shape)
    throw Error(fmt::format("scatter_add: src {} must have the index's shape {}",
                            shape_str(src.shape()), shape_str(index.shape)));
  Formula formula = [axis, index](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
    return {g, in[1].requires_grad() ? gather(g, axis, index) : Tensor()};
  };
  return scatter_add_at(op_scatter_add, x, src,
                        axis_offsets(op_scatter_add, sx, normalize_axis(op_scatter_add, axis, sx), index),
                        std::move(formula));
}

Tensor index_add(const Tensor& x, int axis, const Indices& index, const Tensor& src) {
  const Shape sx = x.shape();
  const std::size_t a = normalize_axis(op_index_add, axis, sx);
  if (index.shape.size() != 1)
    throw Error(fmt::format("index_add: index must be 1-D, got {}", shape_str(index.shape)));
  Shape expected = sx;
  expected[a] = index.size();
  if (src.shape() != expected)
    throw Error(fmt::format("index_add: src {} must be {} (input {} with {} on axis {})",
                            shape_str(src.shape()), shape_str(expected), shape_str(sx),
                            index.size(), axis));
  // As scatter_add with the index repeated over src's other axes.
  const Lanes l = make_lanes(op_index_add, expected, static_cast<int>(a));
  std::vector<std::int64_t> expanded(src.size());
  for (std::size_t o = 0; o < l.outer; ++o)
    for (std::size_t k = 0; k < l.n; ++k)
      std::fill_n(expanded.begin() + static_cast<long>((o * l.n + k) * l.inner), l.inner, index[k]);
  Formula formula = [axis, index](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
    return {g, in[1].requires_grad() ? index_select(g, axis, index) : Tensor()};
  };
  return scatter_add_at(op_index_add, x, src,
                        axis_offsets(op_index_add, sx, a, Indices(std::move(expanded), expected)),
                        std::move(formula));
}

Tensor one_hot(const Indices& index, std::size_t num_classes, DType dtype) {
  Shape so = index.shape;
  so.push_back(num_classes);
  std::vector<double> values(index.size() * num_classes, 0.0);
  for (std::size_t p = 0; p < index.size(); ++p) {
    const std::int64_t c = index[p];
    if (c < 0 || static_cast<std::size_t>(c) >= num_classes)
      throw Error(fmt::format("one_hot: index {} (position {}) out of range for {} classes", c, p,
                              num_classes));
    values[p * num_classes + static_cast<std::size_t>(c)] = 1.0;
  }
  return Tensor::from_vector(values, so, dtype);
}

}  // namespace tg
