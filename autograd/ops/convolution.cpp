// conv1d as im2col + one BLAS product per group, and the unfold1d / fold1d pair its backward
// formula is written with (each op's formula is the other, so every order of derivative works).
#include "tapegrad/autograd/ops/convolution.hpp"

#include <memory>

#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/ops/linalg.hpp"
#include "tapegrad/autograd/ops/reduction.hpp"
#include "tapegrad/autograd/ops/shape.hpp"
#include "autograd/op_registry.hpp"
#include "autograd/ops/window1d.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp).
const OpName op_conv1d{"conv1d"};
const OpName op_unfold1d{"unfold1d"};
const OpName op_fold1d{"fold1d"};

namespace {

using detail::Window1d;

int as_int(std::size_t n) { return static_cast<int>(n); }
long as_long(std::size_t n) { return static_cast<long>(n); }

// An uninitialised buffer of n values (im2col overwrites every one).
template <class T>
std::unique_ptr<T[]> buffer(std::size_t n) {
  return std::unique_ptr<T[]>(new T[n]);
}

void check_window_args(const char* op, std::size_t kernel, std::size_t stride,
                       std::size_t dilation) {
  if (kernel == 0 || stride == 0 || dilation == 0)
    throw Error(fmt::format("{}: kernel_size, stride and dilation must be positive, got {}, {}, {}",
                            op, kernel, stride, dilation));
}

// The window of a convolution over `length`, throwing (naming the op and the input) when the
// dilated kernel is longer than the padded input.
Window1d conv_window(const char* op, const Shape& input_shape, std::size_t length,
                     std::size_t kernel, std::size_t stride, std::size_t pad_left,
                     std::size_t pad_right, std::size_t dilation) {
  check_window_args(op, kernel, stride, dilation);
  const std::size_t span = dilation * (kernel - 1) + 1;
  const std::size_t padded = length + pad_left + pad_right;
  if (span > padded)
    throw Error(fmt::format("{}: kernel size {} (dilated {}) is larger than the padded input "
                            "length {} (input {}, padding {}+{})",
                            op, kernel, span, padded, shape_str(input_shape), pad_left, pad_right));
  return Window1d{kernel, stride, pad_left, dilation, length, (padded - span) / stride + 1};
}

// Runs f on x viewed as [1, C, L] when it is an unbatched [C, L], and drops that axis again.
template <class F>
Tensor batched(const Tensor& x, F&& f) {
  if (x.dim() != 2) return f(x);
  const Shape s = x.shape();
  const Tensor y = f(reshape(x, {1L, as_long(s[0]), as_long(s[1])}));
  const Shape sy = y.shape();
  return reshape(y, {as_long(sy[1]), as_long(sy[2])});
}

}  // namespace

long conv_output_length(std::size_t length, std::size_t kernel_size, std::size_t stride,
                        std::size_t padding, std::size_t dilation) {
  const long span = as_long(dilation * (kernel_size - 1) + 1);
  const long padded = as_long(length + 2 * padding);
  if (stride == 0 || span > padded) return -1;
  return (padded - span) / as_long(stride) + 1;
}

namespace detail {

Tensor unfold_window(const Tensor& x, const Window1d& w) {
  const Shape sx = x.shape();
  const std::size_t n = sx[0], c = sx[1];
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> cols = xt::xarray<T>::from_shape({n, c * w.kernel, w.out_length});
    im2col<T>(x.value<T>().data(), n, c, w, cols.data(), c * w.kernel * w.out_length,
              w.out_length);
    Tensor y(std::move(cols));
    if (any_requires_grad(x)) {
      Formula formula = [w](const Tensor& g, const Inputs&, const Tensor&) -> Grads {
        return {fold_window(g, w)};
      };
      record<T>(op_unfold1d, y, {x}, saves_nothing, std::move(formula),
                [x, w, n, c](const xt::xarray<T>& g) {
                  col2im_add<T>(g.data(), n, c, w, grad_buffer_for_add<T>(x),
                                c * w.kernel * w.out_length, w.out_length);
                });
    }
    return y;
  });
}

Tensor fold_window(const Tensor& columns, const Window1d& w) {
  const Shape sc = columns.shape();
  const std::size_t n = sc[0], c = sc[1] / w.kernel;
  return dispatch(columns.dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> x = xt::zeros<T>({n, c, w.length});
    col2im_add<T>(columns.value<T>().data(), n, c, w, x.data(), c * w.kernel * w.out_length,
                  w.out_length);
    Tensor y(std::move(x));
    if (any_requires_grad(columns)) {
      Formula formula = [w](const Tensor& g, const Inputs&, const Tensor&) -> Grads {
        return {unfold_window(g, w)};
      };
      record<T>(op_fold1d, y, {columns}, saves_nothing, std::move(formula),
                [columns, w, n, c](const xt::xarray<T>& g) {
                  T beta;
                  T* d = grad_for_accumulation<T>(columns, beta);
                  const std::size_t size = n * c * w.kernel * w.out_length;
                  if (beta == T(0)) {
                    im2col<T>(g.data(), n, c, w, d, c * w.kernel * w.out_length, w.out_length);
                  } else {
                    auto cols = buffer<T>(size);
                    im2col<T>(g.data(), n, c, w, cols.get(), c * w.kernel * w.out_length,
                              w.out_length);
                    for (std::size_t i = 0; i < size; ++i) d[i] += cols[i];
                  }
                });
    }
    return y;
  });
}

}  // namespace detail

Tensor unfold1d(const Tensor& x, std::size_t kernel_size, std::size_t stride, std::size_t padding,
                std::size_t dilation) {
  if (x.dim() != 3)
    throw Error(fmt::format("unfold1d: expected input [N, C, L], got {}", shape_str(x.shape())));
  const Shape sx = x.shape();
  return detail::unfold_window(
      x, conv_window(op_unfold1d, sx, sx[2], kernel_size, stride, padding, padding, dilation));
}

Tensor fold1d(const Tensor& columns, std::size_t length, std::size_t kernel_size,
              std::size_t stride, std::size_t padding, std::size_t dilation) {
  const Shape sc = columns.shape();
  check_window_args(op_fold1d, kernel_size, stride, dilation);
  const long out_length = conv_output_length(length, kernel_size, stride, padding, dilation);
  if (sc.size() != 3 || sc[1] % kernel_size != 0 || as_long(sc[2]) != out_length)
    throw Error(fmt::format("fold1d: columns {} do not fit length {}, kernel {}, stride {}, "
                            "padding {}, dilation {} (expected [N, C * {}, {}])",
                            shape_str(sc), length, kernel_size, stride, padding, dilation,
                            kernel_size, out_length));
  const Window1d w{kernel_size, stride, padding, dilation, length, sc[2]};
  return detail::fold_window(columns, w);
}

namespace {

struct ConvGeometry {
  std::size_t batch, in_channels, out_channels, groups;
  Window1d window;
  std::size_t in_per_group() const { return in_channels / groups; }
  std::size_t out_per_group() const { return out_channels / groups; }
  std::size_t rows_per_group() const { return in_per_group() * window.kernel; }  // C_in/g * K
  std::size_t columns() const { return batch * window.out_length; }              // N * L_out
};

// cols [C_in * K, N * L_out]: all samples side by side, so each group is one product.
template <class T>
std::unique_ptr<T[]> conv_columns(const T* x, const ConvGeometry& geo) {
  auto cols = buffer<T>(geo.in_channels * geo.window.kernel * geo.columns());
  detail::im2col<T>(x, geo.batch, geo.in_channels, geo.window, cols.get(), geo.window.out_length,
                    geo.columns());
  return cols;
}

// The formula: the gradients as unfold1d, matmul and fold1d, so they can be differentiated again.
Grads conv1d_formula(const Tensor& g, const Inputs& in, const ConvGeometry& geo) {
  const Tensor& x = in[0];
  const Tensor& w = in[1];
  const long n = as_long(geo.batch), groups = as_long(geo.groups);
  const long rows = as_long(geo.rows_per_group()), out_g = as_long(geo.out_per_group());
  const long lout = as_long(geo.window.out_length);
  const Tensor gg = reshape(g, {n, groups, out_g, lout});
  const Tensor wg = reshape(w, {groups, out_g, rows});
  Grads grads(in.size());
  if (x.requires_grad()) {
    const Tensor dcols = matmul(transpose(wg, {0, 2, 1}), gg);  // [N, G, C_in/G * K, L_out]
    grads[0] = detail::fold_window(reshape(dcols, {n, groups * rows, lout}), geo.window);
  }
  if (w.requires_grad()) {
    const Tensor cols = reshape(detail::unfold_window(x, geo.window), {n, groups, rows, lout});
    grads[1] = reshape(sum(matmul(gg, transpose(cols, {0, 1, 3, 2})), {0}), w.shape());
  }
  if (in.size() > 2 && in[2].requires_grad()) grads[2] = sum(g, {0, 2});
  return grads;
}

// `shown` is the input's shape as the caller gave it (unbatched [C, L] included), for messages.
Tensor conv1d_batched(const Tensor& x, const Shape& shown, const Tensor& weight,
                      const Tensor& bias, std::size_t stride, ConvPadding padding,
                      std::size_t dilation, std::size_t groups) {
  const Shape sx = x.shape(), sw = weight.shape();
  const std::size_t in_channels = sx[1], out_channels = sw[0], kernel = sw[2];
  if (groups == 0 || in_channels % groups != 0 || out_channels % groups != 0)
    throw Error(fmt::format("conv1d: groups {} must divide input channels {} (input {}) and "
                            "output channels {} (weight {})",
                            groups, in_channels, shape_str(shown), out_channels, shape_str(sw)));
  if (sw[1] * groups != in_channels)
    throw Error(fmt::format("conv1d: weight {} needs input channels {}, got {}", shape_str(sw),
                            sw[1] * groups, shape_str(shown)));
  if (bias.defined() && bias.shape() != Shape{out_channels})
    throw Error(fmt::format("conv1d: bias {} does not match weight {} (expected [{}])",
                            shape_str(bias.shape()), shape_str(sw), out_channels));
  std::size_t pad_left = padding.zeros(), pad_right = padding.zeros();
  if (padding.is_mode() && padding.mode() == PaddingMode::Same) {
    if (stride != 1)
      throw Error(fmt::format("conv1d: padding 'same' needs stride 1, got stride {}", stride));
    const std::size_t total = dilation * (kernel == 0 ? 0 : kernel - 1);
    pad_left = total / 2;  // PyTorch puts an odd one out on the right
    pad_right = total - pad_left;
  } else if (padding.is_mode()) {
    pad_left = pad_right = 0;
  }
  const ConvGeometry geo{sx[0], in_channels, out_channels, groups,
                         conv_window(op_conv1d, shown, sx[2], kernel, stride, pad_left, pad_right,
                                     dilation)};
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const std::size_t cols_n = geo.columns(), rows = geo.rows_per_group();
    const std::size_t out_g = geo.out_per_group(), lout = geo.window.out_length;
    const blas::How how{matmul_precision()};  // backward's products too (autocast.hpp)
    const auto cols = conv_columns<T>(x.value<T>().data(), geo);
    auto product = buffer<T>(out_channels * cols_n);  // [C_out, N * L_out]
    const T* pw = weight.value<T>().data();
    for (std::size_t g = 0; g < groups && cols_n > 0; ++g)
      blas::gemm<T>(false, false, as_int(out_g), as_int(cols_n), as_int(rows), T(1),
                    pw + g * out_g * rows, as_int(rows), cols.get() + g * rows * cols_n,
                    as_int(cols_n), T(0), product.get() + g * out_g * cols_n, as_int(cols_n), how);
    xt::xarray<T> out = xt::xarray<T>::from_shape({geo.batch, out_channels, lout});
    const T* pb = bias.defined() ? bias.value<T>().data() : nullptr;
    for (std::size_t n = 0; n < geo.batch; ++n)
      for (std::size_t o = 0; o < out_channels; ++o) {
        const T* src = product.get() + o * cols_n + n * lout;
        T* dst = out.data() + (n * out_channels + o) * lout;
        const T b = pb ? pb[o] : T(0);
        for (std::size_t l = 0; l < lout; ++l) dst[l] = src[l] + b;
      }
    Tensor result(std::move(out));
    const bool needs = bias.defined() ? any_requires_grad(x, weight, bias)
                                      : any_requires_grad(x, weight);
    if (!needs) return result;
    const std::vector<Tensor> inputs =
        bias.defined() ? std::vector<Tensor>{x, weight, bias} : std::vector<Tensor>{x, weight};
    Formula formula = [geo](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
      return conv1d_formula(g, in, geo);
    };
    record<T>(op_conv1d, result, inputs, saves_input(0) | saves_input(1), std::move(formula),
              [x, weight, bias, geo, how](const xt::xarray<T>& grad) {
      const std::size_t cols_n = geo.columns(), rows = geo.rows_per_group();
      const std::size_t out_g = geo.out_per_group(), lout = geo.window.out_length;
      const std::size_t out_channels = geo.out_channels, groups = geo.groups;
      // The gradient as [C_out, N * L_out], the layout of the forward's product.
      auto g2 = buffer<T>(out_channels * cols_n);
      for (std::size_t n = 0; n < geo.batch; ++n)
        for (std::size_t o = 0; o < out_channels; ++o)
          std::copy_n(grad.data() + (n * out_channels + o) * lout, lout,
                      g2.get() + o * cols_n + n * lout);
      if (cols_n == 0) {  // an empty batch: zero gradients, and no products (BLAS wants ld >= 1)
        for (const Tensor& t : {x, weight, bias})
          if (t.requires_grad()) grad_buffer_for_add<T>(t);
        return;
      }
      if (weight.requires_grad()) {  // dW_g = G_g cols_g^T
        const auto cols = conv_columns<T>(x.value<T>().data(), geo);
        T beta;
        T* dw = grad_for_accumulation<T>(weight, beta);
        for (std::size_t g = 0; g < groups; ++g)
          blas::gemm<T>(false, true, as_int(out_g), as_int(rows), as_int(cols_n), T(1),
                        g2.get() + g * out_g * cols_n, as_int(cols_n),
                        cols.get() + g * rows * cols_n, as_int(cols_n), beta,
                        dw + g * out_g * rows, as_int(rows), how);
      }
      if (x.requires_grad()) {  // dcols_g = W_g^T G_g, then summed back into place (col2im)
        auto dcols = buffer<T>(groups * rows * cols_n);
        const T* pw = weight.value<T>().data();
        for (std::size_t g = 0; g < groups; ++g)
          blas::gemm<T>(true, false, as_int(rows), as_int(cols_n), as_int(out_g), T(1),
                        pw + g * out_g * rows, as_int(rows), g2.get() + g * out_g * cols_n,
                        as_int(cols_n), T(0), dcols.get() + g * rows * cols_n, as_int(cols_n),
                        how);
        detail::col2im_add<T>(dcols.get(), geo.batch, geo.in_channels, geo.window,
                              grad_buffer_for_add<T>(x), lout, cols_n);
      }
      if (bias.defined() && bias.requires_grad()) {
        T* db = grad_buffer_for_add<T>(bias);
        for (std::size_t o = 0; o < out_channels; ++o) {
          T total = T(0);
          for (std::size_t i = 0; i < cols_n; ++i) total += g2[o * cols_n + i];
          db[o] += total;
        }
      }
    });
    return result;
  });
}

}  // namespace

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, std::size_t stride,
              ConvPadding padding, std::size_t dilation, std::size_t groups) {
  check_same_dtype(op_conv1d, bias.defined() ? std::vector<Tensor>{input, weight, bias}
                                             : std::vector<Tensor>{input, weight});
  if (input.dim() != 3 && input.dim() != 2)
    throw Error(fmt::format("conv1d: expected input [N, C_in, L] or [C_in, L], got {}",
                            shape_str(input.shape())));
  if (weight.dim() != 3)
    throw Error(fmt::format("conv1d: expected weight [C_out, C_in / groups, K], got {}",
                            shape_str(weight.shape())));
  return batched(input, [&](const Tensor& x) {
    return conv1d_batched(x, input.shape(), weight, bias, stride, padding, dilation, groups);
  });
}

}  // namespace tg
