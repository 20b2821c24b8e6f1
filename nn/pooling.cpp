// nn::MaxPool1d and nn::AvgPool1d: the ops tg::max_pool1d / tg::avg_pool1d, and their shapes;
// the pooling over a padded batch's steps, as masked_fill before max / sum.
#include "tapegrad/nn/pooling.hpp"

#include <fmt/format.h>

#include <limits>

#include "tapegrad/autograd/ops/convolution.hpp"
#include "tapegrad/autograd/ops/elementwise.hpp"
#include "tapegrad/autograd/ops/reduction.hpp"
#include "tapegrad/autograd/ops/shape.hpp"

namespace tg::nn {

namespace {

Shape pooled_shape(const char* layer, const Shape& input_shape, std::size_t kernel,
                   std::size_t stride, std::size_t padding, std::size_t dilation, bool ceil_mode) {
  if (input_shape.size() != 3 && input_shape.size() != 2)
    throw Error(fmt::format("{}: input shape {} is not [N, C, L] or [C, L]", layer,
                            shape_str(input_shape)));
  const long out =
      pool_output_length(input_shape.back(), kernel, stride, padding, dilation, ceil_mode);
  if (out < 1)
    throw Error(fmt::format("{}: input shape {} is too short for kernel size {}", layer,
                            shape_str(input_shape), kernel));
  Shape shape = input_shape;
  shape.back() = static_cast<std::size_t>(out);
  return shape;
}

void check_kernel(const char* layer, std::size_t kernel, std::size_t padding) {
  if (kernel == 0)
    throw Error(fmt::format("{}: kernel_size must be positive", layer));
  if (padding > kernel / 2)
    throw Error(fmt::format("{}: padding {} must be at most half the kernel size {}", layer,
                            padding, kernel));
}

// 1 at the steps past each sequence's length, [T, B, 1] ([B, T, 1] with batch_first); undefined
// when every sequence has all T steps.
Tensor padding_mask(const char* name, const Tensor& x, const std::vector<std::size_t>& lengths,
                    bool batch_first) {
  if (x.dim() != 3)
    throw Error(fmt::format("{}: x must be [{}, F], got {}", name, batch_first ? "B, T" : "T, B",
                            shape_str(x.shape())));
  const std::size_t T = x.shape()[batch_first ? 1 : 0], B = x.shape()[batch_first ? 0 : 1];
  if (lengths.empty()) return {};
  if (lengths.size() != B)
    throw Error(fmt::format("{}: {} lengths for a batch of {}", name, lengths.size(), B));
  bool padded = false;
  for (std::size_t b = 0; b < B; ++b) {
    if (lengths[b] == 0 || lengths[b] > T)
      throw Error(fmt::format("{}: sequence {} has length {} (expected 1 to {})", name, b,
                              lengths[b], T));
    padded = padded || lengths[b] < T;
  }
  if (!padded) return {};
  std::vector<double> mask(T * B, 0.0);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t t = lengths[b]; t < T; ++t) mask[batch_first ? b * T + t : t * B + b] = 1.0;
  return Tensor::from_vector(mask, batch_first ? Shape{B, T, 1} : Shape{T, B, 1}, x.dtype());
}

}  // namespace

Tensor max_over_steps(const Tensor& x, const std::vector<std::size_t>& lengths, bool batch_first) {
  const Tensor mask = padding_mask("max_over_steps", x, lengths, batch_first);
  const int steps = batch_first ? 1 : 0;
  if (!mask.defined()) return max(x, {steps});
  return max(masked_fill(x, mask, -std::numeric_limits<double>::infinity()), {steps});
}

Tensor mean_over_steps(const Tensor& x, const std::vector<std::size_t>& lengths, bool batch_first) {
  const Tensor mask = padding_mask("mean_over_steps", x, lengths, batch_first);
  const int steps = batch_first ? 1 : 0;
  if (!mask.defined()) return mean(x, {steps});
  std::vector<double> inverse;
  for (std::size_t n : lengths) inverse.push_back(1.0 / double(n));
  return mul(sum(masked_fill(x, mask, 0.0), {steps}),
             Tensor::from_vector(inverse, {lengths.size(), 1}, x.dtype()));
}

MaxPool1d::MaxPool1d(const MaxPool1dOptions& options) : options_(options) {
  check_kernel("MaxPool1d", options.kernel_size(), options.padding());
}

Tensor MaxPool1d::forward(const Tensor& input) {
  const MaxPool1dOptions& o = options_;
  return max_pool1d(input, o.kernel_size(), o.stride(), o.padding(), o.dilation(), o.ceil_mode());
}

Shape MaxPool1d::output_shape(const Shape& input_shape) const {
  const MaxPool1dOptions& o = options_;
  return pooled_shape("MaxPool1d", input_shape, o.kernel_size(),
                      o.stride().value_or(o.kernel_size()), o.padding(), o.dilation(),
                      o.ceil_mode());
}

AvgPool1d::AvgPool1d(const AvgPool1dOptions& options) : options_(options) {
  check_kernel("AvgPool1d", options.kernel_size(), options.padding());
}

Tensor AvgPool1d::forward(const Tensor& input) {
  const AvgPool1dOptions& o = options_;
  return avg_pool1d(input, o.kernel_size(), o.stride(), o.padding(), o.ceil_mode(),
                    o.count_include_pad());
}

Shape AvgPool1d::output_shape(const Shape& input_shape) const {
  const AvgPool1dOptions& o = options_;
  return pooled_shape("AvgPool1d", input_shape, o.kernel_size(),
                      o.stride().value_or(o.kernel_size()), o.padding(), 1, o.ceil_mode());
}

}  // namespace tg::nn
