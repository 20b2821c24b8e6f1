// Shape ops: forward and backward side by side.
//
// Values move by memcpy over contiguous blocks and gradients are added back block by block:
// xt::concatenate is ~160x slower than a memcpy per row and an xt::keep gather ~70x (STACK_NOTES).
#include "tapegrad/autograd/ops/shape.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <numeric>

#include <xtensor/xoperation.hpp>

#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/ops/elementwise.hpp"
#include "tapegrad/autograd/ops/indexing.hpp"
#include "tapegrad/autograd/ops/reduction.hpp"
#include "autograd/op_registry.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp).
const OpName op_reshape{"reshape"};
const OpName op_concat{"concat"};
const OpName op_stack{"stack"};
const OpName op_slice{"slice"};
const OpName op_index_select{"index_select"};
const OpName op_embedding{"embedding"};
const OpName op_where{"where"};
const OpName op_masked_fill{"masked_fill"};
const OpName op_broadcast_to{"broadcast_to"};

namespace {

std::size_t product(Shape::const_iterator first, Shape::const_iterator last) {
  return std::accumulate(first, last, std::size_t{1}, std::multiplies<>());
}

template <class T>
void copy_block(T* dst, const T* src, std::size_t n) {
  if (n > 0) std::memcpy(dst, src, n * sizeof(T));
}

// dst = src on the gradient's first accumulation, dst += src afterwards.
template <class T>
void copy_or_add(T* dst, const T* src, std::size_t n, bool add) {
  if (add) {
    for (std::size_t i = 0; i < n; ++i) dst[i] += src[i];
  } else {
    copy_block(dst, src, n);
  }
}

// Throws unless every index is in [0, limit); `what` says what the indices address.
void check_indices(const char* op, const Indices& index, std::size_t limit,
                   const std::string& what) {
  for (std::size_t k = 0; k < index.size(); ++k) {
    const std::int64_t i = index[k];
    if (i < 0 || static_cast<std::size_t>(i) >= limit)
      throw Error(fmt::format("{}: index {} (position {}) out of range for {}", op, i, k, what));
  }
}

// out row k = table row idx[k], rows of `row` elements.
template <class T>
void gather_rows(const T* table, const Indices& idx, std::size_t row, T* out) {
  for (std::size_t k = 0; k < idx.size(); ++k)
    copy_block(out + k * row, table + static_cast<std::size_t>(idx[k]) * row, row);
}

// table row idx[k] += src row k, skipping rows equal to `skip`: repeated indices accumulate.
template <class T>
void scatter_add_rows(const T* src, const Indices& idx, std::size_t row, T* table,
                      std::int64_t skip = -1) {
  for (std::size_t k = 0; k < idx.size(); ++k) {
    if (idx[k] == skip) continue;
    T* d = table + static_cast<std::size_t>(idx[k]) * row;
    const T* s = src + k * row;
    for (std::size_t j = 0; j < row; ++j) d[j] += s[j];
  }
}

// concat and stack: the output is `outer` repetitions of [block of input 0 | block of input 1 |
// ...]; backward hands each input its blocks back.
Tensor join(const char* op, const std::vector<Tensor>& inputs, const Shape& out_shape,
            std::size_t outer, const std::vector<std::size_t>& blocks, Formula formula) {
  const std::size_t width = std::accumulate(blocks.begin(), blocks.end(), std::size_t{0});
  return dispatch(inputs.front().dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> out = xt::xarray<T>::from_shape(out_shape);
    std::vector<const T*> sources;
    sources.reserve(inputs.size());
    for (const Tensor& t : inputs) sources.push_back(t.value<T>().data());
    T* po = out.data();
    for (std::size_t o = 0; o < outer; ++o)
      for (std::size_t k = 0; k < inputs.size(); ++k) {
        copy_block(po, sources[k] + o * blocks[k], blocks[k]);
        po += blocks[k];
      }
    Tensor y(std::move(out));
    if (any_requires_grad_in(inputs)) {
      record<T>(op, y, inputs, saves_nothing, std::move(formula),
                [inputs, blocks, outer, width](const xt::xarray<T>& g) {
        std::size_t offset = 0;
        for (std::size_t k = 0; k < inputs.size(); ++k) {
          if (inputs[k].requires_grad()) {  // an input listed twice simply accumulates twice
            T beta;
            T* d = grad_for_accumulation<T>(inputs[k], beta);
            for (std::size_t o = 0; o < outer; ++o)
              copy_or_add(d + o * blocks[k], g.data() + o * width + offset, blocks[k],
                          beta != T(0));
          }
          offset += blocks[k];
        }
      });
    }
    return y;
  });
}

// A condition or mask may come in another dtype than the values it selects.
Tensor as_dtype(const Tensor& t, DType dtype) { return t.dtype() == dtype ? t : t.to(dtype); }

bool same_shapes(const std::vector<Shape>& shapes) {
  for (const Shape& s : shapes)
    if (s != shapes.front()) return false;
  return true;
}

}  // namespace

Tensor reshape(const Tensor& x, const std::vector<long>& shape) {
  check_same_dtype(op_reshape, {x});
  const Shape sx = x.shape();
  const std::size_t total = x.size();
  auto target = [&] { return fmt::format("[{}]", fmt::join(shape, ",")); };
  Shape out(shape.size());
  std::size_t known = 1;
  int inferred = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (inferred >= 0)
        throw Error(fmt::format("reshape: more than one -1 in {} (input {})", target(),
                                shape_str(sx)));
      inferred = static_cast<int>(i);
    } else if (shape[i] < 0) {
      throw Error(fmt::format("reshape: negative extent {} in {} (input {})", shape[i], target(),
                              shape_str(sx)));
    } else {
      out[i] = static_cast<std::size_t>(shape[i]);
      known *= out[i];
    }
  }
  if (inferred >= 0 && known != 0) out[static_cast<std::size_t>(inferred)] = total / known;
  if ((inferred >= 0 && known == 0) || product(out.begin(), out.end()) != total)
    throw Error(fmt::format("reshape: cannot reshape {} ({} elements) into {}", shape_str(sx),
                            total, target()));
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> value = xt::xarray<T>::from_shape(out);
    copy_block(value.data(), x.value<T>().data(), total);
    Tensor y(std::move(value));
    if (any_requires_grad(x)) {
      Formula formula = [](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
        return {reshape(g, in[0].shape())};
      };
      record<T>(op_reshape, y, {x}, saves_nothing, std::move(formula),
                [x, total](const xt::xarray<T>& g) {
        T beta;
        T* d = grad_for_accumulation<T>(x, beta);
        copy_or_add(d, g.data(), total, beta != T(0));
      });
    }
    return y;
  });
}

Tensor concat(const std::vector<Tensor>& tensors, int axis) {
  if (tensors.empty()) throw Error("concat: no tensors given");
  check_same_dtype(op_concat, tensors);
  const Shape first = tensors.front().shape();
  const std::size_t a = normalize_axis(op_concat, axis, first);
  Shape out_shape = first;
  out_shape[a] = 0;
  std::vector<std::size_t> blocks;
  const std::size_t outer = product(first.begin(), first.begin() + a);
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const Shape sk = tensors[k].shape();
    bool fits = sk.size() == first.size();
    for (std::size_t d = 0; fits && d < sk.size(); ++d) fits = d == a || sk[d] == first[d];
    if (!fits)
      throw Error(fmt::format("concat: tensor {} has shape {}, tensor 0 has {}: all axes but {} "
                              "must match",
                              k, shape_str(sk), shape_str(first), axis));
    out_shape[a] += sk[a];
    blocks.push_back(product(sk.begin() + a, sk.end()));
  }
  // Each input's gradient is its slice of g along the axis.
  Formula formula = [a](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
    Grads grads;
    long offset = 0;
    for (const Tensor& t : in) {
      const long extent = static_cast<long>(t.shape()[a]);
      grads.push_back(t.requires_grad() ? slice(g, static_cast<int>(a), offset, offset + extent)
                                        : Tensor());
      offset += extent;
    }
    return grads;
  };
  return join(op_concat, tensors, out_shape, outer, blocks, std::move(formula));
}

Tensor stack(const std::vector<Tensor>& tensors, int axis) {
  if (tensors.empty()) throw Error("stack: no tensors given");
  check_same_dtype(op_stack, tensors);
  const Shape first = tensors.front().shape();
  const int rank = static_cast<int>(first.size()) + 1;  // the new axis counts from the result
  const int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw Error(fmt::format("stack: axis {} out of range for stacking tensors of shape {}", axis,
                            shape_str(first)));
  for (std::size_t k = 1; k < tensors.size(); ++k)
    if (tensors[k].shape() != first)
      throw Error(fmt::format("stack: tensor {} has shape {}, tensor 0 has {}: all must match", k,
                              shape_str(tensors[k].shape()), shape_str(first)));
  Shape out_shape = first;
  out_shape.insert(out_shape.begin() + a, tensors.size());
  const std::size_t outer = product(first.begin(), first.begin() + a);
  const std::size_t block = product(first.begin() + a, first.end());
  Formula formula = [a](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
    Grads grads;
    for (std::size_t k = 0; k < in.size(); ++k)
      grads.push_back(in[k].requires_grad()
                          ? reshape(slice(g, a, static_cast<long>(k), static_cast<long>(k) + 1),
                                    in[k].shape())
                          : Tensor());
    return grads;
  };
  return join(op_stack, tensors, out_shape, outer, std::vector<std::size_t>(tensors.size(), block),
              std::move(formula));
}

Tensor slice(const Tensor& x, int axis, long start, long end, long step) {
  check_same_dtype(op_slice, {x});
  const Shape sx = x.shape();
  const std::size_t a = normalize_axis(op_slice, axis, sx);
  if (step <= 0)
    throw Error(fmt::format("slice: step must be positive, got {} (shape {})", step, shape_str(sx)));
  const long n = static_cast<long>(sx[a]);
  auto clamp_bound = [n](long v) { return std::clamp(v < 0 ? v + n : v, 0L, n); };
  const long first = clamp_bound(start);
  const long len = (std::max(clamp_bound(end), first) - first + step - 1) / step;
  const std::size_t outer = product(sx.begin(), sx.begin() + a);
  const std::size_t inner = product(sx.begin() + a + 1, sx.end());
  const std::size_t from = static_cast<std::size_t>(first) * inner;  // offset in each block
  const std::size_t block = static_cast<std::size_t>(n) * inner;
  const std::size_t piece = static_cast<std::size_t>(len) * inner;
  // With a step, each block is `len` runs of `inner` elements, `stride` apart.
  const std::size_t run = step == 1 ? piece : inner;
  const std::size_t runs = step == 1 ? 1 : static_cast<std::size_t>(len);
  const std::size_t stride = static_cast<std::size_t>(step) * inner;
  Shape out_shape = sx;
  out_shape[a] = static_cast<std::size_t>(len);
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> out = xt::xarray<T>::from_shape(out_shape);
    const T* px = x.value<T>().data();
    for (std::size_t o = 0; o < outer; ++o)
      for (std::size_t r = 0; r < runs; ++r)
        copy_block(out.data() + o * piece + r * run, px + o * block + from + r * stride, run);
    Tensor y(std::move(out));
    if (any_requires_grad(x)) {
      // g back in its place between zeros.
      Formula formula = [a, first, len, step](const Tensor& g, const Inputs& in,
                                              const Tensor&) -> Grads {
        const Shape shape = in[0].shape();
        if (step > 1) {
          std::vector<std::int64_t> taken;
          for (long k = 0; k < len; ++k) taken.push_back(first + k * step);
          return {index_add(Tensor::zeros(shape, g.dtype()), static_cast<int>(a), Indices(taken), g)};
        }
        std::vector<Tensor> parts;
        auto zeros = [&](std::size_t extent) {
          Shape part = shape;
          part[a] = extent;
          parts.push_back(Tensor::zeros(part, g.dtype()));
        };
        if (first > 0) zeros(static_cast<std::size_t>(first));
        parts.push_back(g);
        const std::size_t after = shape[a] - static_cast<std::size_t>(first + len);
        if (after > 0) zeros(after);
        return {parts.size() == 1 ? g : concat(parts, static_cast<int>(a))};
      };
      record<T>(op_slice, y, {x}, saves_nothing, std::move(formula),
                [x, outer, from, block, piece, run, runs, stride](const xt::xarray<T>& g) {
        T* d = grad_buffer_for_add<T>(x);
        for (std::size_t o = 0; o < outer; ++o)
          for (std::size_t r = 0; r < runs; ++r)
            copy_or_add(d + o * block + from + r * stride, g.data() + o * piece + r * run, run, true);
      });
    }
    return y;
  });
}

Tensor index_select(const Tensor& x, int axis, const Indices& index) {
  check_same_dtype(op_index_select, {x});
  const Shape sx = x.shape();
  const std::size_t a = normalize_axis(op_index_select, axis, sx);
  if (index.shape.size() != 1)
    throw Error(fmt::format("index_select: index must be 1-D, got shape {}",
                            shape_str(index.shape)));
  check_indices(op_index_select, index, sx[a],
                fmt::format("axis {} of shape {}", axis, shape_str(sx)));
  const std::size_t outer = product(sx.begin(), sx.begin() + a);
  const std::size_t inner = product(sx.begin() + a + 1, sx.end());
  const std::size_t in_block = sx[a] * inner, out_block = index.size() * inner;
  Shape out_shape = sx;
  out_shape[a] = index.size();
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> out = xt::xarray<T>::from_shape(out_shape);
    const T* px = x.value<T>().data();
    for (std::size_t o = 0; o < outer; ++o)
      gather_rows(px + o * in_block, index, inner, out.data() + o * out_block);
    Tensor y(std::move(out));
    if (any_requires_grad(x)) {
      Formula formula = [a, index](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
        return {index_add(Tensor::zeros(in[0].shape(), g.dtype()), static_cast<int>(a), index, g)};
      };
      record<T>(op_index_select, y, {x}, saves_nothing, std::move(formula),
                [x, index, outer, inner, in_block, out_block](const xt::xarray<T>& g) {
                  T* d = grad_buffer_for_add<T>(x);
                  for (std::size_t o = 0; o < outer; ++o)
                    scatter_add_rows(g.data() + o * out_block, index, inner, d + o * in_block);
                });
    }
    return y;
  });
}

Tensor embedding(const Tensor& weight, const Indices& indices, long padding_idx) {
  check_same_dtype(op_embedding, {weight});
  const Shape sw = weight.shape();
  if (sw.size() != 2)
    throw Error(fmt::format("embedding: weight must be 2-D [V, D], got {}", shape_str(sw)));
  const std::size_t rows = sw[0], dim = sw[1];
  if (padding_idx >= static_cast<long>(rows))
    throw Error(fmt::format("embedding: padding_idx {} out of range for {} rows (weight {})",
                            padding_idx, rows, shape_str(sw)));
  check_indices(op_embedding, indices, rows,
                fmt::format("{} rows (weight {})", rows, shape_str(sw)));
  Shape out_shape = indices.shape;
  out_shape.push_back(dim);
  return dispatch(weight.dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> out = xt::xarray<T>::from_shape(out_shape);
    gather_rows(weight.value<T>().data(), indices, dim, out.data());
    Tensor y(std::move(out));
    if (any_requires_grad(weight)) {
      // A negative padding_idx means no padding row; -1 never matches a checked index.
      const std::int64_t skip = padding_idx < 0 ? -1 : padding_idx;
      // The rows of g added into the rows they came from, the padding row's left out.
      Formula formula = [indices, skip](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
        const Shape sw = in[0].shape();
        const Indices flat(indices.data);
        Tensor rows = reshape(g, {static_cast<long>(flat.size()), static_cast<long>(sw[1])});
        if (skip >= 0) {
          std::vector<double> is_padding;
          for (std::int64_t i : flat.data) is_padding.push_back(i == skip ? 1.0 : 0.0);
          rows = masked_fill(rows, Tensor::from_vector(is_padding, {flat.size(), 1}, g.dtype()), 0.0);
        }
        return {index_add(Tensor::zeros(sw, g.dtype()), 0, flat, rows)};
      };
      record<T>(op_embedding, y, {weight}, saves_nothing, std::move(formula),
                [weight, indices, dim, skip](const xt::xarray<T>& g) {
        scatter_add_rows(g.data(), indices, dim, grad_buffer_for_add<T>(weight), skip);
      });
    }
    return y;
  });
}

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  check_same_dtype(op_where, {a, b});
  if (!condition.defined()) throw Error("where: undefined condition");
  const Shape sc = condition.shape(), sa = a.shape(), sb = b.shape();
  const bool same = same_shapes({sc, sa, sb});
  if (!same) broadcast_shapes(op_where, sc, broadcast_shapes(op_where, sa, sb));
  const Tensor cond = as_dtype(condition, a.dtype());
  return dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    const auto& cv = cond.value<T>();
    const auto& av = a.value<T>();
    const auto& bv = b.value<T>();
    xt::xarray<T> out;
    if (same) {
      out = xt::xarray<T>::from_shape(sa);
      const T *pc = cv.data(), *pa = av.data(), *pb = bv.data();
      T* po = out.data();
      for (std::size_t i = 0; i < out.size(); ++i) po[i] = pc[i] != T(0) ? pa[i] : pb[i];
    } else {
      out = xt::where(xt::not_equal(cv, T(0)), av, bv);
    }
    Tensor y(std::move(out));
    if (any_requires_grad(a, b)) {
      // The condition gets no gradient, so it is not an input of the node.
      Formula formula = [cond](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
        const Tensor zero = Tensor::scalar(0.0, g.dtype());
        return {in[0].requires_grad() ? sum_to_size(where(cond, g, zero), in[0].shape()) : Tensor(),
                in[1].requires_grad() ? sum_to_size(where(cond, zero, g), in[1].shape()) : Tensor()};
      };
      record<T>(op_where, y, {a, b}, saves_nothing, std::move(formula),
                [cond, a, b](const xt::xarray<T>& g) {
        const auto taken = xt::not_equal(cond.value<T>(), T(0));
        if (a.requires_grad())
          accumulate_grad_reduced<T>(a, xt::xarray<T>(xt::where(taken, g, T(0))));
        if (b.requires_grad())
          accumulate_grad_reduced<T>(b, xt::xarray<T>(xt::where(taken, T(0), g)));
      });
    }
    return y;
  });
}

namespace {

// When the mask is x's shape with its trailing axes 1 (a padding mask [T, B, 1] of x [T, B, F];
// the same shape counts too), each of its values covers `block` consecutive values of x: the
// block's size. 0 for any other broadcast.
std::size_t mask_block(const Shape& sx, const Shape& sm) {
  if (sm.size() != sx.size()) return 0;
  std::size_t k = 0;
  while (k < sx.size() && sm[k] == sx[k]) ++k;
  std::size_t block = 1;
  for (std::size_t i = k; i < sx.size(); ++i) {
    if (sm[i] != 1) return 0;
    block *= sx[i];
  }
  return block;
}

// src with every block whose mask value is not 0 set to `fill` (see mask_block).
template <class T>
xt::xarray<T> fill_masked_blocks(const xt::xarray<T>& src, const T* mask, std::size_t block,
                                 T fill) {
  xt::xarray<T> out = xt::xarray<T>::from_shape(src.shape());
  const T* ps = src.data();
  T* po = out.data();
  for (std::size_t i = 0, n = src.size() / block; i < n; ++i, ps += block, po += block) {
    if (mask[i] != T(0))
      std::fill_n(po, block, fill);
    else
      std::copy_n(ps, block, po);
  }
  return out;
}

}  // namespace

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  check_same_dtype(op_masked_fill, {x});
  if (!mask.defined()) throw Error("masked_fill: undefined mask");
  const Shape sx = x.shape(), sm = mask.shape();
  if (sm != sx && broadcast_shapes(op_masked_fill, sx, sm) != sx)
    throw Error(fmt::format("masked_fill: mask {} does not broadcast to the input's shape {}",
                            shape_str(sm), shape_str(sx)));
  const Tensor m = as_dtype(mask, x.dtype());
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const T fill = static_cast<T>(value);
    const auto& mv = m.value<T>();
    const auto& xv = x.value<T>();
    // A mask of blocks (the padding masks) is read block by block, not broadcast value by value.
    const std::size_t block = x.size() > 0 ? mask_block(sx, sm) : 0;
    xt::xarray<T> out = block > 0 ? fill_masked_blocks<T>(xv, mv.data(), block, fill)
                                  : xt::xarray<T>(xt::where(xt::not_equal(mv, T(0)), fill, xv));
    Tensor y(std::move(out));
    if (any_requires_grad(x)) {
      Formula formula = [m](const Tensor& g, const Inputs&, const Tensor&) -> Grads {
        return {masked_fill(g, m, 0.0)};
      };
      record<T>(op_masked_fill, y, {x}, saves_nothing, std::move(formula),
                [x, m, block](const xt::xarray<T>& g) {
        const xt::xarray<T>& mask_values = m.value<T>();
        if (block > 0)
          accumulate_grad<T>(x, fill_masked_blocks<T>(g, mask_values.data(), block, T(0)));
        else
          accumulate_grad<T>(x, xt::where(xt::not_equal(mask_values, T(0)), T(0), g));
      });
    }
    return y;
  });
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  check_same_dtype(op_broadcast_to, {x});
  const Shape sx = x.shape();
  if (sx == shape) return x;
  if (sx.size() > shape.size() || broadcast_shapes(op_broadcast_to, sx, shape) != shape)
    throw Error(fmt::format("broadcast_to: shape {} cannot be broadcast to {}", shape_str(sx),
                            shape_str(shape)));
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    Tensor y(xt::xarray<T>(xt::broadcast(x.value<T>(), shape)));
    if (any_requires_grad(x)) {
      Formula formula = [](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
        return {sum_to_size(g, in[0].shape())};
      };
      record<T>(op_broadcast_to, y, {x}, saves_nothing, std::move(formula),
                [x](const xt::xarray<T>& g) { accumulate_grad_reduced<T>(x, g); });
    }
    return y;
  });
}

}  // namespace tg
