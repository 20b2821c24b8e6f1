// max_pool1d and avg_pool1d: loops over windows forward; backward formulas through scatter_add
// (max: the gradient goes to the chosen element) and fold1d (avg: spread over the window).
#include <cmath>
#include <limits>

#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/ops/convolution.hpp"
#include "tapegrad/autograd/ops/elementwise.hpp"
#include "tapegrad/autograd/ops/indexing.hpp"
#include "tapegrad/autograd/ops/shape.hpp"
#include "autograd/op_registry.hpp"
#include "autograd/ops/window1d.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp).
const OpName op_max_pool1d{"max_pool1d"};
const OpName op_avg_pool1d{"avg_pool1d"};

namespace {

using detail::Window1d;

long as_long(std::size_t n) { return static_cast<long>(n); }

// Floor division (PyTorch's div_rtn), for a numerator that may be negative.
long floor_div(long a, long b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// PyTorch's pooling checks and output length; throws naming the op and the input.
Window1d pool_window(const char* op, const Shape& sx, std::size_t kernel, std::size_t stride,
                     std::size_t padding, std::size_t dilation, bool ceil_mode) {
  if (kernel == 0 || stride == 0 || dilation == 0)
    throw Error(fmt::format("{}: kernel_size, stride and dilation must be positive, got {}, {}, {}",
                            op, kernel, stride, dilation));
  if (padding > kernel / 2)
    throw Error(fmt::format("{}: padding {} must be at most half the kernel size {}", op, padding,
                            kernel));
  const long out = pool_output_length(sx[2], kernel, stride, padding, dilation, ceil_mode);
  if (out < 1)
    throw Error(fmt::format("{}: input {} is too short for kernel size {} (dilation {}, padding "
                            "{}): output length {}",
                            op, shape_str(sx), kernel, dilation, padding, out));
  return Window1d{kernel, stride, padding, dilation, sx[2], static_cast<std::size_t>(out)};
}

template <class F>
Tensor batched(const char* op, const Tensor& x, F&& f) {
  if (x.dim() == 3) return f(x);
  if (x.dim() != 2)
    throw Error(fmt::format("{}: expected input [N, C, L] or [C, L], got {}", op,
                            shape_str(x.shape())));
  const Shape s = x.shape();
  const Tensor y = f(reshape(x, {1L, as_long(s[0]), as_long(s[1])}));
  const Shape sy = y.shape();
  return reshape(y, {as_long(sy[1]), as_long(sy[2])});
}

Tensor max_pool_batched(const Tensor& x, const Window1d& w) {
  const Shape sx = x.shape();
  const std::size_t lanes = sx[0] * sx[1], lout = w.out_length;
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> out = xt::xarray<T>::from_shape({sx[0], sx[1], lout});
    Indices index(std::vector<std::int64_t>(lanes * lout), {sx[0], sx[1], lout});
    const T* px = x.value<T>().data();
    for (std::size_t lane = 0; lane < lanes; ++lane) {
      const T* row = px + lane * w.length;
      for (std::size_t l = 0; l < lout; ++l) {
        // Taps in window order; padding never wins (it is -inf), and pool_window guarantees
        // every window holds at least one element of the input.
        T best = -std::numeric_limits<T>::infinity();
        long where = -1;
        for (std::size_t k = 0; k < w.kernel; ++k) {
          const long p = as_long(l * w.stride + k * w.dilation) - as_long(w.pad_left);
          if (p < 0 || p >= as_long(w.length)) continue;
          const T v = row[p];
          // PyTorch's CPU rule: a strictly larger value or a NaN takes the window.
          if (where < 0 || v > best || std::isnan(v)) {
            best = v;
            where = p;
          }
        }
        out.data()[lane * lout + l] = best;
        index.data[lane * lout + l] = where;
      }
    }
    Tensor y(std::move(out));
    if (any_requires_grad(x)) {
      Formula formula = [index](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
        return {scatter_add(Tensor::zeros(in[0].shape(), g.dtype()), 2, index, g)};
      };
      record<T>(op_max_pool1d, y, {x}, saves_nothing, std::move(formula),
                [x, index, lanes, w](const xt::xarray<T>& g) {
                  T* d = grad_buffer_for_add<T>(x);
                  const std::size_t lout = w.out_length;
                  for (std::size_t lane = 0; lane < lanes; ++lane)
                    for (std::size_t l = 0; l < lout; ++l)
                      d[lane * w.length + index.data[lane * lout + l]] += g.data()[lane * lout + l];
                });
    }
    return y;
  });
}

// 1 / divisor per output position (the same for every lane), PyTorch's avg_pool rule.
std::vector<double> inverse_divisors(const Window1d& w, bool count_include_pad) {
  std::vector<double> inv(w.out_length);
  const long len = as_long(w.length), pad = as_long(w.pad_left);
  for (std::size_t l = 0; l < w.out_length; ++l) {
    long start = as_long(l * w.stride) - pad;
    long end = std::min(start + as_long(w.kernel), len + pad);
    const long pool_size = end - start;
    start = std::max(start, 0L);
    end = std::min(end, len);
    inv[l] = 1.0 / static_cast<double>(count_include_pad ? pool_size : end - start);
  }
  return inv;
}

Tensor avg_pool_batched(const Tensor& x, const Window1d& w, bool count_include_pad) {
  const Shape sx = x.shape();
  const std::size_t lanes = sx[0] * sx[1], lout = w.out_length;
  const std::vector<double> inv = inverse_divisors(w, count_include_pad);
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> out = xt::xarray<T>::from_shape({sx[0], sx[1], lout});
    const T* px = x.value<T>().data();
    for (std::size_t lane = 0; lane < lanes; ++lane) {
      const T* row = px + lane * w.length;
      for (std::size_t l = 0; l < lout; ++l) {
        T total = T(0);
        for (std::size_t k = 0; k < w.kernel; ++k) {
          const long p = as_long(l * w.stride + k) - as_long(w.pad_left);
          if (p >= 0 && p < as_long(w.length)) total += row[p];
        }
        out.data()[lane * lout + l] = total * T(inv[l]);
      }
    }
    Tensor y(std::move(out));
    if (any_requires_grad(x)) {
      // Every tap of window l receives g[l] / divisor[l]: the scaled gradient repeated over the
      // K taps, then folded back onto the input (fold1d drops the taps in the padding).
      Formula formula = [w, inv](const Tensor& g, const Inputs&, const Tensor&) -> Grads {
        const Shape sg = g.shape();
        const long n = as_long(sg[0]), c = as_long(sg[1]), lo = as_long(sg[2]);
        const long k = as_long(w.kernel);
        const Tensor scaled = g * Tensor::from_vector(inv, {w.out_length}, g.dtype());
        const Tensor taps = broadcast_to(reshape(scaled, {n, c, 1L, lo}),
                                         {sg[0], sg[1], w.kernel, w.out_length});
        return {detail::fold_window(reshape(taps, {n, c * k, lo}), w)};
      };
      record<T>(op_avg_pool1d, y, {x}, saves_nothing, std::move(formula),
                [x, w, inv, lanes](const xt::xarray<T>& g) {
                  T* d = grad_buffer_for_add<T>(x);
                  const std::size_t lout = w.out_length;
                  for (std::size_t lane = 0; lane < lanes; ++lane)
                    for (std::size_t l = 0; l < lout; ++l) {
                      const T share = g.data()[lane * lout + l] * T(inv[l]);
                      for (std::size_t k = 0; k < w.kernel; ++k) {
                        const long p = as_long(l * w.stride + k) - as_long(w.pad_left);
                        if (p >= 0 && p < as_long(w.length)) d[lane * w.length + p] += share;
                      }
                    }
                });
    }
    return y;
  });
}

}  // namespace

long pool_output_length(std::size_t length, std::size_t kernel_size, std::size_t stride,
                        std::size_t padding, std::size_t dilation, bool ceil_mode) {
  if (stride == 0 || kernel_size == 0) return -1;
  const long s = as_long(stride);
  const long numerator = as_long(length + 2 * padding) - as_long(dilation * (kernel_size - 1)) -
                         1 + (ceil_mode ? s - 1 : 0);
  long out = floor_div(numerator, s) + 1;
  // With ceil_mode the last window must start inside the input or its left padding.
  if (ceil_mode && (out - 1) * s >= as_long(length + padding)) --out;
  return out;
}

Tensor max_pool1d(const Tensor& x, std::size_t kernel_size, std::optional<std::size_t> stride,
                  std::size_t padding, std::size_t dilation, bool ceil_mode) {
  return batched(op_max_pool1d, x, [&](const Tensor& x3) {
    return max_pool_batched(x3, pool_window(op_max_pool1d, x3.shape(), kernel_size,
                                            stride.value_or(kernel_size), padding, dilation,
                                            ceil_mode));
  });
}

Tensor avg_pool1d(const Tensor& x, std::size_t kernel_size, std::optional<std::size_t> stride,
                  std::size_t padding, bool ceil_mode, bool count_include_pad) {
  return batched(op_avg_pool1d, x, [&](const Tensor& x3) {
    return avg_pool_batched(x3, pool_window(op_avg_pool1d, x3.shape(), kernel_size,
                                            stride.value_or(kernel_size), padding, 1, ceil_mode),
                            count_include_pad);
  });
}

}  // namespace tg
