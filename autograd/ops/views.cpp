// View-like ops (squeeze, unsqueeze, expand, repeat, flip, split, chunk): forward and backward
// side by side. Each copies its values; the backward formulas are other ops, so they can be
// differentiated again.
#include "tapegrad/autograd/ops/views.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <numeric>

#include <xtensor/xmanipulation.hpp>

#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/ops/reduction.hpp"
#include "tapegrad/autograd/ops/shape.hpp"
#include "autograd/op_registry.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp). expand records
// broadcast_to and split / chunk record slice: they are those ops with PyTorch's arguments.
const OpName op_squeeze{"squeeze"};
const OpName op_unsqueeze{"unsqueeze"};
const OpName op_repeat{"repeat"};
const OpName op_flip{"flip"};

namespace {

std::string list_str(const std::vector<long>& v) { return fmt::format("[{}]", fmt::join(v, ",")); }

// x's values under another shape of as many elements, recorded as `op`; the gradient is g
// reshaped back.
Tensor with_shape(const char* op, const Tensor& x, const Shape& shape) {
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> value = xt::xarray<T>::from_shape(shape);
    if (x.size() > 0) std::memcpy(value.data(), x.value<T>().data(), x.size() * sizeof(T));
    Tensor y(std::move(value));
    if (any_requires_grad(x))
      record(op, y, {x}, saves_nothing, [](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
        return {reshape(g, in[0].shape())};
      });
    return y;
  });
}

// A 0-d tensor accepts axis 0 and -1 (PyTorch's rule for squeeze and cumsum).
std::size_t axis_or_scalar(const char* op, int axis, const Shape& shape) {
  if (shape.empty() && (axis == 0 || axis == -1)) return 0;
  return normalize_axis(op, axis, shape);
}

}  // namespace

Tensor squeeze(const Tensor& x) {
  check_same_dtype(op_squeeze, {x});
  Shape out;
  for (std::size_t e : x.shape())
    if (e != 1) out.push_back(e);
  return with_shape(op_squeeze, x, out);
}

Tensor squeeze(const Tensor& x, int axis) {
  check_same_dtype(op_squeeze, {x});
  Shape out = x.shape();
  const std::size_t a = axis_or_scalar(op_squeeze, axis, out);
  if (!out.empty() && out[a] == 1) out.erase(out.begin() + static_cast<long>(a));
  return with_shape(op_squeeze, x, out);
}

Tensor unsqueeze(const Tensor& x, int axis) {
  check_same_dtype(op_unsqueeze, {x});
  Shape out = x.shape();
  const int rank = static_cast<int>(out.size()) + 1;  // the new axis counts in the result
  const int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw Error(fmt::format("unsqueeze: axis {} out of range [{}, {}] for shape {}", axis, -rank,
                            rank - 1, shape_str(out)));
  out.insert(out.begin() + a, 1);
  return with_shape(op_unsqueeze, x, out);
}

Tensor expand(const Tensor& x, const std::vector<long>& shape) {
  const Shape sx = x.shape();
  if (shape.size() < sx.size())
    throw Error(fmt::format("expand: shape {} has fewer axes than the input {}", list_str(shape),
                            shape_str(sx)));
  const std::size_t lead = shape.size() - sx.size();
  Shape out(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const long want = shape[i];
    if (want == -1 && i < lead)
      throw Error(fmt::format("expand: -1 at new leading axis {} of {} (input {})", i,
                              list_str(shape), shape_str(sx)));
    if (want < -1)
      throw Error(fmt::format("expand: negative extent {} in {} (input {})", want,
                              list_str(shape), shape_str(sx)));
    if (i < lead) {
      out[i] = static_cast<std::size_t>(want);
      continue;
    }
    const std::size_t have = sx[i - lead];
    out[i] = want == -1 ? have : static_cast<std::size_t>(want);
    if (have != 1 && out[i] != have)
      throw Error(fmt::format("expand: axis {} of extent {} cannot become {} (input {}, shape {})",
                              i - lead, have, out[i], shape_str(sx), list_str(shape)));
  }
  return broadcast_to(x, out);
}

Tensor repeat(const Tensor& x, const std::vector<long>& repeats) {
  check_same_dtype(op_repeat, {x});
  const Shape sx = x.shape();
  if (repeats.size() < sx.size())
    throw Error(fmt::format("repeat: {} repeats for the {} axes of {} (need at least one per axis)",
                            repeats.size(), sx.size(), shape_str(sx)));
  for (long r : repeats)
    if (r < 0)
      throw Error(fmt::format("repeat: negative repeat count in {} (input {})", list_str(repeats),
                              shape_str(sx)));
  // As [r0, s0, r1, s1, ...]: x (padded with leading 1s) broadcast along the repeat axes, whose
  // gradient is g summed over them.
  const std::size_t lead = repeats.size() - sx.size();
  std::vector<long> interleaved, tiled, padded;
  std::vector<int> repeat_axes;
  for (std::size_t i = 0; i < repeats.size(); ++i) {
    const long e = i < lead ? 1 : static_cast<long>(sx[i - lead]);
    repeat_axes.push_back(static_cast<int>(interleaved.size()));
    interleaved.push_back(repeats[i]);
    interleaved.push_back(e);
    tiled.push_back(repeats[i] * e);
    padded.push_back(e);
  }
  Tensor y;
  {
    NoGradGuard no_grad;
    std::vector<long> ones_between;
    for (long e : padded) ones_between.insert(ones_between.end(), {1, e});
    const Tensor spread = reshape(x, ones_between);
    y = reshape(expand(spread, interleaved), tiled);
  }
  if (any_requires_grad(x))
    record(op_repeat, y, {x}, saves_nothing,
           [interleaved, repeat_axes](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
             return {reshape(sum(reshape(g, interleaved), repeat_axes), in[0].shape())};
           });
  return y;
}

Tensor flip(const Tensor& x, const std::vector<int>& axes) {
  check_same_dtype(op_flip, {x});
  const Shape sx = x.shape();
  std::vector<std::size_t> normalized;
  for (int axis : axes) {
    const std::size_t a = normalize_axis(op_flip, axis, sx);
    if (std::find(normalized.begin(), normalized.end(), a) != normalized.end())
      throw Error(fmt::format("flip: axis {} appears twice in [{}] (shape {})", axis,
                              fmt::join(axes, ","), shape_str(sx)));
    normalized.push_back(a);
  }
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> value = x.value<T>();
    for (std::size_t a : normalized) {
      xt::xarray<T> flipped = xt::flip(value, a);  // evaluated apart: no aliasing
      value = std::move(flipped);
    }
    Tensor y(std::move(value));
    if (any_requires_grad(x))
      record(op_flip, y, {x}, saves_nothing, [axes](const Tensor& g, const Inputs&, const Tensor&) -> Grads {
        return {flip(g, axes)};
      });
    return y;
  });
}

std::vector<Tensor> split(const Tensor& x, const std::vector<long>& sizes, int axis) {
  const Shape sx = x.shape();
  if (sx.empty()) throw Error("split: a 0-d tensor cannot be split");
  const std::size_t a = normalize_axis("split", axis, sx);
  long total = 0;
  for (long n : sizes) {
    if (n < 0)
      throw Error(fmt::format("split: negative size in {} (input {})", list_str(sizes),
                              shape_str(sx)));
    total += n;
  }
  if (total != static_cast<long>(sx[a]))
    throw Error(fmt::format("split: sizes {} add up to {}, but axis {} of {} has {}",
                            list_str(sizes), total, axis, shape_str(sx), sx[a]));
  std::vector<Tensor> pieces;
  long start = 0;
  for (long n : sizes) {
    pieces.push_back(slice(x, static_cast<int>(a), start, start + n));
    start += n;
  }
  return pieces;
}

std::vector<Tensor> split(const Tensor& x, long split_size, int axis) {
  const Shape sx = x.shape();
  if (sx.empty()) throw Error("split: a 0-d tensor cannot be split");
  const long n = static_cast<long>(sx[normalize_axis("split", axis, sx)]);
  if (split_size < 0 || (split_size == 0 && n > 0))
    throw Error(fmt::format("split: split_size {} for axis {} of extent {} (input {}); it must be "
                            "positive (0 only for an empty axis)",
                            split_size, axis, n, shape_str(sx)));
  // PyTorch gives at least one piece, even for an empty axis or split_size past the extent.
  const long count = split_size == 0 ? 1 : std::max((n + split_size - 1) / split_size, 1L);
  std::vector<long> sizes;
  for (long k = 0; k < count; ++k) sizes.push_back(std::min(split_size, n - k * split_size));
  return split(x, sizes, axis);
}

std::vector<Tensor> chunk(const Tensor& x, long chunks, int axis) {
  const Shape sx = x.shape();
  if (sx.empty()) throw Error("chunk: a 0-d tensor cannot be chunked");
  if (chunks <= 0)
    throw Error(fmt::format("chunk: chunks must be positive, got {} (input {})", chunks,
                            shape_str(sx)));
  const long n = static_cast<long>(sx[normalize_axis("chunk", axis, sx)]);
  const long size = (n + chunks - 1) / chunks;
  // An empty axis keeps the number of chunks (torch.chunk), all empty.
  if (n == 0) return split(x, std::vector<long>(static_cast<std::size_t>(chunks), 0L), axis);
  return split(x, size, axis);
}

}  // namespace tg
